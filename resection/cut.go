// Package resection models a liver resection plan: one or more cutting
// surfaces through the liver, the volumes they leave (total, resected,
// future liver remnant), the margin to a lesion, and the published
// thresholds surgeons compare the remnant with. Everything is in DICOM
// patient coordinates (LPS, millimetres).
//
// Convention: a cut's normal points into the part that is removed. The
// remnant is the side the normal points away from.
package resection

import (
	"errors"
	"fmt"
	"math"
)

// Vec is a point or direction in LPS millimetres.
type Vec = [3]float64

// Grid is the number of control points along each side of a cutting
// surface: a bicubic Bézier patch (4×4), as 3D Slicer's Slicer-Liver uses.
const Grid = 4

// Cut is a cutting surface: a plane through Origin with unit Normal,
// bent by a bicubic Bézier height field over the square of half side
// HalfSize mm centred on Origin. Offsets[i][j] moves control point (i, j)
// along the normal (mm; all zero is the plane). The control points sit at
// u = (2i/3 − 1)·HalfSize along U and v = (2j/3 − 1)·HalfSize along V;
// outside the square the surface continues with its edge's height, so it
// always divides the whole liver in two.
type Cut struct {
	Name     string
	Origin   Vec
	Normal   Vec
	HalfSize float64
	Offsets  [Grid][Grid]float64
}

// DefaultHalfSize spans a whole adult liver (about 20 cm across) from a
// point inside it.
const DefaultHalfSize = 120.0

// NewPlane returns a flat cut through p with normal n (any length).
func NewPlane(p, n Vec) (Cut, error) {
	l := norm(n)
	if !(l > 1e-9) || math.IsInf(l, 0) {
		return Cut{}, fmt.Errorf("the normal (%g, %g, %g) has no direction", n[0], n[1], n[2])
	}
	for _, x := range p {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return Cut{}, fmt.Errorf("the point (%g, %g, %g) is not finite", p[0], p[1], p[2])
		}
	}
	return Cut{Origin: p, Normal: scale(n, 1/l), HalfSize: DefaultHalfSize}, nil
}

// PlaneFromPoints returns the plane through three points, its origin at
// their centroid and its normal (b−a)×(c−a): counter-clockwise points as
// seen from the resected side.
func PlaneFromPoints(a, b, c Vec) (Cut, error) {
	n := cross(sub(b, a), sub(c, a))
	if norm(n) < 1e-6 {
		return Cut{}, errors.New("the three points lie on one line: they do not define a plane")
	}
	return NewPlane(scale(add(add(a, b), c), 1.0/3), n)
}

// Basis returns the in-plane unit axes U and V of the cut (U × V = Normal),
// chosen from the normal alone so that a saved plan reloads identically.
func (c Cut) Basis() (u, v Vec) {
	n := c.Normal
	// Start from the patient axis least aligned with the normal.
	a := Vec{1, 0, 0}
	if math.Abs(n[0]) > math.Abs(n[1]) && math.Abs(n[0]) > math.Abs(n[2]) {
		a = Vec{0, 1, 0}
	} else if math.Abs(n[2]) < math.Abs(n[1]) && math.Abs(n[2]) < math.Abs(n[0]) {
		a = Vec{0, 0, 1}
	}
	u = cross(a, n)
	u = scale(u, 1/norm(u))
	v = cross(n, u)
	return u, v
}

// ControlPoint is the position (LPS mm) of control point (i, j).
func (c Cut) ControlPoint(i, j int) Vec {
	u, v := c.Basis()
	cu, cv := c.gridCoord(i), c.gridCoord(j)
	p := add(c.Origin, add(scale(u, cu), scale(v, cv)))
	return add(p, scale(c.Normal, c.Offsets[i][j]))
}

func (c Cut) gridCoord(i int) float64 { return (2*float64(i)/(Grid-1) - 1) * c.HalfSize }

// Height is the surface's offset along the normal (mm) above the in-plane
// coordinates (u, v) (mm from the origin along U and V).
func (c Cut) Height(u, v float64) float64 {
	s := clamp01((u/c.HalfSize + 1) / 2)
	t := clamp01((v/c.HalfSize + 1) / 2)
	bs, bt := bernstein(s), bernstein(t)
	h := 0.0
	for i := 0; i < Grid; i++ {
		for j := 0; j < Grid; j++ {
			h += bs[i] * bt[j] * c.Offsets[i][j]
		}
	}
	return h
}

// Flat reports whether the cut is a plane (no control point moved).
func (c Cut) Flat() bool { return c.Offsets == [Grid][Grid]float64{} }

// Side is the signed height of p above the surface along the normal (mm):
// positive on the resected side, negative on the remnant side. For a
// plane it is the signed distance.
func (c Cut) Side(p Vec) float64 {
	d := sub(p, c.Origin)
	w := dot(d, c.Normal)
	if c.Flat() {
		return w
	}
	u, v := c.Basis()
	return w - c.Height(dot(d, u), dot(d, v))
}

// At is the surface point above in-plane coordinates (u, v).
func (c Cut) At(u, v float64) Vec {
	bu, bv := c.Basis()
	p := add(c.Origin, add(scale(bu, u), scale(bv, v)))
	return add(p, scale(c.Normal, c.Height(u, v)))
}

// Validate checks that the cut can be evaluated.
func (c Cut) Validate() error {
	if l := norm(c.Normal); math.Abs(l-1) > 1e-6 {
		return fmt.Errorf("cut %q: the normal has length %g, not 1", c.Name, l)
	}
	if !(c.HalfSize > 0) || math.IsInf(c.HalfSize, 0) {
		return fmt.Errorf("cut %q: half size %g mm must be positive", c.Name, c.HalfSize)
	}
	for _, row := range c.Offsets {
		for _, o := range row {
			if math.IsNaN(o) || math.IsInf(o, 0) {
				return fmt.Errorf("cut %q: a control point offset is not finite", c.Name)
			}
		}
	}
	return nil
}

func bernstein(t float64) [Grid]float64 {
	s := 1 - t
	return [Grid]float64{s * s * s, 3 * t * s * s, 3 * t * t * s, t * t * t}
}

func clamp01(x float64) float64 { return math.Min(1, math.Max(0, x)) }

func add(a, b Vec) Vec           { return Vec{a[0] + b[0], a[1] + b[1], a[2] + b[2]} }
func sub(a, b Vec) Vec           { return Vec{a[0] - b[0], a[1] - b[1], a[2] - b[2]} }
func scale(a Vec, s float64) Vec { return Vec{a[0] * s, a[1] * s, a[2] * s} }
func dot(a, b Vec) float64       { return a[0]*b[0] + a[1]*b[1] + a[2]*b[2] }
func norm(a Vec) float64         { return math.Sqrt(dot(a, a)) }
func cross(a, b Vec) Vec {
	return Vec{a[1]*b[2] - a[2]*b[1], a[2]*b[0] - a[0]*b[2], a[0]*b[1] - a[1]*b[0]}
}
