package segedit

import (
	"errors"
	"fmt"
	"math"
)

// Brush is a round paint/erase brush.
type Brush struct {
	// RadiusMM is the radius in millimetres: a voxel is taken when its
	// centre lies within RadiusMM of the brush centre (the voxel under the
	// centre always is, so a brush smaller than a voxel still paints).
	RadiusMM float64
	// Sphere paints a ball in 3D; otherwise a disc on one slice of the
	// plane perpendicular to canonical axis Axis (2 = axial, 1 = coronal,
	// 0 = sagittal: viewer.Plane.NormalAxis).
	Sphere bool
	Axis   int
	// HU, when set, limits the brush to voxels whose CT value lies in
	// [HU.Lo, HU.Hi] — for erasing as well as painting — like Slicer's
	// editable intensity range.
	HU *HURange
}

// HURange is an inclusive range of CT values.
type HURange struct{ Lo, Hi int16 }

// Validate checks the brush's values.
func (b Brush) Validate() error {
	if !(b.RadiusMM > 0) || math.IsInf(b.RadiusMM, 0) {
		return fmt.Errorf("segedit: brush radius %v mm is not positive", b.RadiusMM)
	}
	if !b.Sphere && (b.Axis < 0 || b.Axis > 2) {
		return fmt.Errorf("segedit: brush axis %d is not 0, 1 or 2", b.Axis)
	}
	if b.HU != nil && b.HU.Lo > b.HU.Hi {
		return fmt.Errorf("segedit: HU range %d…%d is empty", b.HU.Lo, b.HU.Hi)
	}
	return nil
}

// Stroke is a brush stroke in progress: dabs are applied (and visible) as
// they come; End records the whole stroke as one history step.
type Stroke struct {
	e     *Editor
	t     tx
	b     Brush
	erase bool
	last  [3]float64
	has   bool
	dirty Box // voxels changed since the last Dirty call
}

// ErrStrokeOpen is returned when an operation is asked for while a stroke
// is in progress.
var ErrStrokeOpen = errors.New("segedit: a brush stroke is in progress")

// BeginStroke starts painting (erase false) or erasing with b.
func (e *Editor) BeginStroke(b Brush, erase bool) (*Stroke, error) {
	if err := b.Validate(); err != nil {
		return nil, err
	}
	if e.stroke != nil {
		return nil, ErrStrokeOpen
	}
	s := &Stroke{e: e, t: tx{e: e}, b: b, erase: erase}
	e.stroke = s
	return s, nil
}

// To moves the brush to p (a continuous canonical index) and applies dabs
// along the way from the previous point, close enough that a fast drag
// leaves no gaps.
func (s *Stroke) To(p [3]float64) {
	if s.e.stroke != s {
		return
	}
	if !s.b.Sphere {
		p[s.b.Axis] = math.Round(p[s.b.Axis])
		if s.has {
			// A 2D stroke stays on the slice it started on.
			p[s.b.Axis] = s.last[s.b.Axis]
		}
	}
	if !s.has {
		s.dab(p)
		s.last, s.has = p, true
		return
	}
	d := [3]float64{p[0] - s.last[0], p[1] - s.last[1], p[2] - s.last[2]}
	mm := math.Sqrt(s.e.quad(d))
	step := max(s.b.RadiusMM/2, s.e.minSpacing()/2)
	n := int(math.Ceil(mm / step))
	for i := 1; i <= n; i++ {
		f := float64(i) / float64(n)
		s.dab([3]float64{s.last[0] + d[0]*f, s.last[1] + d[1]*f, s.last[2] + d[2]*f})
	}
	if n == 0 {
		s.dab(p)
	}
	s.last = p
}

// Dirty returns the box of voxels changed since the previous call (for a
// redraw) and resets it.
func (s *Stroke) Dirty() Box {
	b := s.dirty
	s.dirty = Box{}
	return b
}

// End records the stroke as one step (nothing when it changed no voxel).
func (s *Stroke) End() Change {
	if s.e.stroke != s {
		return Change{}
	}
	s.e.stroke = nil
	name := "Paint"
	if s.erase {
		name = "Erase"
	}
	if s.b.Sphere {
		name += fmt.Sprintf(" 3D %.3g mm", s.b.RadiusMM)
	} else {
		name += fmt.Sprintf(" %.3g mm, %s %d", s.b.RadiusMM, planeName(s.b.Axis), int(s.last[s.b.Axis])+1)
	}
	if s.b.HU != nil {
		name += fmt.Sprintf(" (HU %d…%d)", s.b.HU.Lo, s.b.HU.Hi)
	}
	var axial []int
	if !s.b.Sphere && s.b.Axis == 2 && len(s.t.changed) > 0 {
		axial = []int{int(s.last[2])}
	}
	return s.e.commit(name, &s.t, axial)
}

// Cancel reverts the stroke's voxels and records nothing.
func (s *Stroke) Cancel() {
	if s.e.stroke != s {
		return
	}
	for _, o := range s.t.changed {
		s.e.flip(int(o))
	}
	s.e.stroke = nil
}

func planeName(axis int) string {
	return [3]string{"sagittal", "coronal", "axial"}[axis]
}

// Stroke paints (or erases) along the points as one step: BeginStroke, To
// for each point, End.
func (e *Editor) Stroke(points [][3]float64, b Brush, erase bool) (Change, error) {
	s, err := e.BeginStroke(b, erase)
	if err != nil {
		return Change{}, err
	}
	for _, p := range points {
		s.To(p)
	}
	return s.End(), nil
}

// quad is the squared length in mm² of an index displacement.
func (e *Editor) quad(d [3]float64) float64 {
	g := &e.gram
	return g[0][0]*d[0]*d[0] + g[1][1]*d[1]*d[1] + g[2][2]*d[2]*d[2] +
		2*(g[0][1]*d[0]*d[1]+g[0][2]*d[0]*d[2]+g[1][2]*d[1]*d[2])
}

func (e *Editor) minSpacing() float64 {
	return min(e.geom.Spacing[0], e.geom.Spacing[1], e.geom.Spacing[2])
}

// dab applies the brush once at c: every voxel whose centre is within the
// radius (measured with the grid's index→patient metric), row by row, the
// extent of each row solved from the quadratic form rather than tested
// voxel by voxel.
func (s *Stroke) dab(c [3]float64) {
	e, b := s.e, s.b
	n := e.geom.Size
	r2 := b.RadiusMM * b.RadiusMM
	var lo, hi [3]int
	for a := 0; a < 3; a++ {
		ext := b.RadiusMM * math.Sqrt(e.ginv[a][a])
		lo[a] = max(int(math.Ceil(c[a]-ext)), 0)
		hi[a] = min(int(math.Floor(c[a]+ext)), n[a]-1)
	}
	if !b.Sphere {
		k := int(c[b.Axis])
		if k < 0 || k >= n[b.Axis] {
			return
		}
		lo[b.Axis], hi[b.Axis] = k, k
	}
	var v uint8 = 1
	if s.erase {
		v = 0
	}
	g := &e.gram
	nx, nxy := n[0], n[0]*n[1]
	before := len(s.t.changed)
	for k := lo[2]; k <= hi[2]; k++ {
		dk := float64(k) - c[2]
		for j := lo[1]; j <= hi[1]; j++ {
			dj := float64(j) - c[1]
			// g00·x² + 2·x·bq + cq ≤ r² for x = i − c[0].
			bq := g[0][1]*dj + g[0][2]*dk
			cq := g[1][1]*dj*dj + 2*g[1][2]*dj*dk + g[2][2]*dk*dk - r2
			disc := bq*bq - g[0][0]*cq
			if disc < 0 {
				continue
			}
			sq := math.Sqrt(disc)
			i0 := max(int(math.Ceil(c[0]+(-bq-sq)/g[0][0]-1e-9)), lo[0], 0)
			i1 := min(int(math.Floor(c[0]+(-bq+sq)/g[0][0]+1e-9)), hi[0], n[0]-1)
			base := k*nxy + j*nx
			for i := i0; i <= i1; i++ {
				s.put(base+i, v)
			}
		}
	}
	// The voxel under the centre, whatever the radius.
	ci := [3]int{int(math.Round(c[0])), int(math.Round(c[1])), int(math.Round(c[2]))}
	if e.geom.Contains(ci[0], ci[1], ci[2]) {
		s.put(e.geom.Offset(ci[0], ci[1], ci[2]), v)
	}
	if len(s.t.changed) > before {
		s.grow(lo, hi)
	}
}

func (s *Stroke) put(o int, v uint8) {
	if h := s.b.HU; h != nil {
		if x := s.e.ct[o]; x < h.Lo || x > h.Hi {
			return
		}
	}
	s.t.set(o, v)
}

func (s *Stroke) grow(lo, hi [3]int) {
	if s.dirty.Empty() {
		s.dirty = Box{Min: lo, Max: [3]int{hi[0] + 1, hi[1] + 1, hi[2] + 1}}
		return
	}
	for a := 0; a < 3; a++ {
		s.dirty.Min[a] = min(s.dirty.Min[a], lo[a])
		s.dirty.Max[a] = max(s.dirty.Max[a], hi[a]+1)
	}
}
