package segedit

import (
	"fmt"
	"math"
)

// ScissorsShape says what a scissors gesture erases.
type ScissorsShape int

// Scissors shapes.
const (
	// CutLine erases a band of WidthMM along the drawn polyline: drawn
	// across the neck that joins a leak to the liver, it detaches the leak,
	// which RemoveIsland then takes away.
	CutLine ScissorsShape = iota
	// EraseInside erases everything inside the closed polygon.
	EraseInside
	// EraseOutside erases everything outside it.
	EraseOutside
)

func (s ScissorsShape) String() string {
	switch s {
	case EraseInside:
		return "inside"
	case EraseOutside:
		return "outside"
	}
	return "line"
}

// Scissors is a cut drawn on one view, extruded along the view's normal.
type Scissors struct {
	// Axis is the canonical axis normal to the view it was drawn on (2
	// axial, 1 coronal, 0 sagittal).
	Axis int
	// Points are the drawn polyline's vertices as continuous canonical
	// indices; their coordinate along Axis is ignored.
	Points [][3]float64
	Shape  ScissorsShape
	// WidthMM is the width of a CutLine (default 2 mm).
	WidthMM float64
	// Slab, when set, limits the cut to slices Slab[0]…Slab[1] (inclusive,
	// canonical indices along Axis); otherwise it goes through all slices.
	Slab *[2]int
}

// inPlane are the two canonical axes of the plane normal to axis.
func inPlane(axis int) (u, v int) {
	switch axis {
	case 0:
		return 1, 2
	case 1:
		return 0, 2
	}
	return 0, 1
}

// Scissors erases what the gesture covers, as one step. In-plane distances
// use the grid's spacing along the view's two axes, i.e. the geometry the
// reader drew on (the views show the nearest-axis planes at their physical
// aspect).
func (e *Editor) Scissors(sc Scissors) (Change, error) {
	if e.stroke != nil {
		return Change{}, ErrStrokeOpen
	}
	if sc.Axis < 0 || sc.Axis > 2 {
		return Change{}, fmt.Errorf("segedit: scissors axis %d is not 0, 1 or 2", sc.Axis)
	}
	need := 2
	if sc.Shape != CutLine {
		need = 3
	}
	if len(sc.Points) < need {
		return Change{}, fmt.Errorf("segedit: scissors %s needs at least %d points, got %d", sc.Shape, need, len(sc.Points))
	}
	if sc.WidthMM <= 0 {
		sc.WidthMM = 2
	}
	n := e.geom.Size
	lo, hi := 0, n[sc.Axis]-1
	if sc.Slab != nil {
		lo, hi = max(min(sc.Slab[0], sc.Slab[1]), 0), min(max(sc.Slab[0], sc.Slab[1]), n[sc.Axis]-1)
		if lo > hi {
			return Change{}, fmt.Errorf("segedit: scissors slab %v is outside the %d slices", *sc.Slab, n[sc.Axis])
		}
	}
	u, v := inPlane(sc.Axis)
	cut := e.scissorsPlane(sc, u, v)
	stride := [3]int{1, n[0], n[0] * n[1]}
	t := &tx{e: e}
	w := n[u]
	for s := lo; s <= hi; s++ {
		base := s * stride[sc.Axis]
		for p, on := range cut {
			if on {
				o := base + (p%w)*stride[u] + (p/w)*stride[v]
				t.set(o, 0)
			}
		}
	}
	name := fmt.Sprintf("Scissors %s, %s", sc.Shape, planeName(sc.Axis))
	if sc.Slab != nil {
		name += fmt.Sprintf(" slices %d–%d", lo+1, hi+1)
	}
	return e.commit(name, t, nil), nil
}

// scissorsPlane rasterises the gesture on the plane spanned by axes u and v:
// cut[x + y·n[u]] for in-plane indices x along u and y along v.
func (e *Editor) scissorsPlane(sc Scissors, u, v int) []bool {
	n := e.geom.Size
	w, h := n[u], n[v]
	su, sv := e.geom.Spacing[u], e.geom.Spacing[v]
	cut := make([]bool, w*h)
	pts := make([][2]float64, len(sc.Points))
	for i, p := range sc.Points {
		pts[i] = [2]float64{p[u] * su, p[v] * sv} // mm
	}
	switch sc.Shape {
	case CutLine:
		half := sc.WidthMM / 2
		// At least the voxels the line passes through, even when the
		// band is narrower than a voxel.
		half = max(half, math.Hypot(su, sv)/2)
		for s := 0; s+1 < len(pts); s++ {
			a, b := pts[s], pts[s+1]
			x0 := max(int(math.Floor((min(a[0], b[0])-half)/su)), 0)
			x1 := min(int(math.Ceil((max(a[0], b[0])+half)/su)), w-1)
			y0 := max(int(math.Floor((min(a[1], b[1])-half)/sv)), 0)
			y1 := min(int(math.Ceil((max(a[1], b[1])+half)/sv)), h-1)
			for y := y0; y <= y1; y++ {
				for x := x0; x <= x1; x++ {
					if segDist([2]float64{float64(x) * su, float64(y) * sv}, a, b) <= half {
						cut[x+y*w] = true
					}
				}
			}
		}
	default:
		inside := sc.Shape == EraseInside
		for y := 0; y < h; y++ {
			py := float64(y) * sv
			for x := 0; x < w; x++ {
				if pointInPolygon([2]float64{float64(x) * su, py}, pts) == inside {
					cut[x+y*w] = true
				}
			}
		}
	}
	return cut
}

// segDist is the distance from p to the segment ab.
func segDist(p, a, b [2]float64) float64 {
	dx, dy := b[0]-a[0], b[1]-a[1]
	l2 := dx*dx + dy*dy
	t := 0.0
	if l2 > 0 {
		t = min(max(((p[0]-a[0])*dx+(p[1]-a[1])*dy)/l2, 0), 1)
	}
	return math.Hypot(p[0]-a[0]-t*dx, p[1]-a[1]-t*dy)
}

// pointInPolygon is the even-odd rule for the polygon closed from its last
// vertex back to its first.
func pointInPolygon(p [2]float64, poly [][2]float64) bool {
	in := false
	for i, j := 0, len(poly)-1; i < len(poly); j, i = i, i+1 {
		a, b := poly[i], poly[j]
		if (a[1] > p[1]) != (b[1] > p[1]) && p[0] < (b[0]-a[0])*(p[1]-a[1])/(b[1]-a[1])+a[0] {
			in = !in
		}
	}
	return in
}
