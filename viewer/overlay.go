package viewer

import (
	"fmt"
	"image"
	"image/color"
	"math"

	"github.com/liverseg/liverseg/volume"
)

// Overlay draws something on top of the grey image of one slice: a
// segmentation, a probability map, a region box. The widget keeps overlays
// in a separate transparent layer, so changing an overlay (its opacity, its
// threshold, a new mask after inference) re-draws that layer only and never
// re-renders the CT, and changing the window never touches overlays.
type Overlay interface {
	// Draw blends the overlay for slice of plane p into dst (premultiplied
	// RGBA), whose pixels cover the plane's image as vp says. The overlay
	// layer is drawn at the display's resolution, not the voxels', so that
	// contours are smooth curves and keep their width when zoomed.
	Draw(dst *image.RGBA, p Plane, slice int, vp Viewport)
}

// MaskOverlay shows a label mask (any non-zero voxel) on the displayed
// volume's grid. Its boundary is drawn as the 0.5 contour of the bilinearly
// interpolated mask, so at display resolution it follows the voxel edges
// with the corners of the staircase cut, like a marching-squares outline.
type MaskOverlay struct {
	Style
	mask *volume.Mask // canonical, same grid as the volume
	// label, when not 0, makes only voxels of that value count (one label
	// of a label map, e.g. a disagreement map's "only A").
	label uint8
	// The field of the slice last drawn in each plane, kept because the
	// mask never changes: a redraw for another overlay's sake (a
	// threshold step) then costs only the painting.
	cache [3]maskField
}

type maskField struct {
	slice int
	valid bool
	any   bool // the slice holds mask voxels
	f     field
}

// NewMaskOverlay checks that m lies on the same grid as the volume shown by s
// (volume.SameGridTolerance at every corner, in any voxel order) and prepares it for
// display.
func NewMaskOverlay(s *Slicer, m *volume.Mask, st Style) (*MaskOverlay, error) {
	if m == nil {
		return nil, fmt.Errorf("viewer: no mask")
	}
	if len(m.Voxels) != m.NumVoxels() {
		return nil, fmt.Errorf("viewer: mask has %d voxels, its geometry %v needs %d", len(m.Voxels), m.Size, m.NumVoxels())
	}
	cm := m.Canonical()
	if !cm.SameGrid(s.vol.Geometry) {
		return nil, fmt.Errorf("viewer: mask grid %v does not match the volume grid %v", m.Size, s.vol.Size)
	}
	return &MaskOverlay{mask: cm, Style: st}, nil
}

// NewLabelOverlay is NewMaskOverlay for the voxels of m equal to label
// (1..255) only: one class of a label map, without a mask per class.
func NewLabelOverlay(s *Slicer, m *volume.Mask, label uint8, st Style) (*MaskOverlay, error) {
	if label == 0 {
		return nil, fmt.Errorf("viewer: label 0 is the background")
	}
	o, err := NewMaskOverlay(s, m, st)
	if err != nil {
		return nil, err
	}
	o.label = label
	return o, nil
}

// Mask is the mask shown, in canonical voxel order.
func (o *MaskOverlay) Mask() *volume.Mask { return o.mask }

// Changed tells the overlay that its mask's voxels changed (a mask being
// edited), so that the slices it cached are read again.
func (o *MaskOverlay) Changed() {
	for p := range o.cache {
		o.cache[p].valid = false
	}
}

// ChangedIn is Changed for a mask whose voxels changed only inside the
// canonical box [lo, hi): a cached slice outside it stays.
func (o *MaskOverlay) ChangedIn(lo, hi [3]int) {
	for p := range o.cache {
		n := Plane(p).NormalAxis()
		if c := &o.cache[p]; c.slice >= lo[n] && c.slice < hi[n] {
			c.valid = false
		}
	}
}

// Draw implements Overlay.
func (o *MaskOverlay) Draw(dst *image.RGBA, p Plane, slice int, vp Viewport) {
	size := o.mask.Size
	if slice < 0 || slice >= size[p.NormalAxis()] || p < 0 || int(p) >= len(o.cache) {
		return
	}
	c := &o.cache[p]
	if !c.valid || c.slice != slice {
		c.any = o.sliceField(&c.f, p, slice)
		c.slice, c.valid = slice, true
	}
	if c.any {
		rasterize(dst, vp, &c.f, 0.5, o.Style)
	}
}

// sliceField fills f with slice of plane p as 0/1 samples with a border of
// zeros, so that a mask touching the edge of the volume is closed by its
// outline. It reports whether the slice holds any mask voxel.
func (o *MaskOverlay) sliceField(f *field, p Plane, slice int) bool {
	size := o.mask.Size
	ax, ay, _ := p.axes()
	w, h := size[ax], size[ay]
	fw, fh := w+2, h+2
	if cap(f.data) < fw*fh {
		f.data = make([]float32, fw*fh)
	}
	data := f.data[:fw*fh]
	clear(data)
	base, sx, sy := Strides(size, p, slice)
	vox := o.mask.Voxels
	any := false
	for y := 0; y < h; y++ {
		row := data[(y+1)*fw+1:]
		src := base + y*sy
		for x := 0; x < w; x++ {
			if v := vox[src]; v != 0 && (o.label == 0 || v == o.label) {
				row[x] = 1
				any = true
			}
			src += sx
		}
	}
	// Sample (x+1, y+1) is voxel pixel (x, y), whose centre is at plane
	// point (x+0.5, y+0.5).
	f.data, f.w, f.h = data, fw, fh
	f.ax, f.bx, f.ay, f.by = 1, 0.5, 1, 0.5
	f.invalidate()
	return any
}

// ProbOverlay shows a segmentation as the contour of a low-resolution
// probability map at a threshold, sampled trilinearly at every display
// pixel: the threshold can change without re-running the network, and the
// boundary is as smooth as the map is, at any zoom. Only the visible slice
// of the map is read for each view, so a threshold change costs a few
// milliseconds for all three views.
//
// Clean-up that the mask gets (largest component, hole filling) is applied
// on the map's own grid: SetThreshold takes the cleaned low-resolution
// mask, and voxels it drops are drawn as background, holes it fills as
// liver.
type ProbOverlay struct {
	Style
	geom volume.Geometry // the map's grid
	data []float32       // probability, x fastest
	keep []uint8         // cleaned low-res mask at thr, or nil
	thr  float64

	disp [3]int     // displayed (canonical) grid size
	vox  float64    // displayed voxel volume, mm³
	a, b [3]float64 // map index = a·display index + b, per axis
	buf  []float32  // field scratch
	cls  []float32  // cleaned plane scratch for VolumeML
	row  []float32  // row scratch for VolumeML
}

// NewProbOverlay prepares a probability map on grid g (data x fastest,
// values 0..1) for display over the volume shown by s. The map's index axes
// must be parallel to the displayed (canonical) volume's, as a network's
// output resampled from the canonical volume is; they may have any spacing
// and origin (a region of interest covers part of the volume).
func NewProbOverlay(s *Slicer, g volume.Geometry, data []float32, threshold float64, st Style) (*ProbOverlay, error) {
	if err := g.Validate(); err != nil {
		return nil, fmt.Errorf("viewer: probability map: %w", err)
	}
	if len(data) != g.NumVoxels() {
		return nil, fmt.Errorf("viewer: probability map has %d values, its grid %v needs %d", len(data), g.Size, g.NumVoxels())
	}
	for a := 0; a < 3; a++ {
		if g.Size[a] < 2 {
			return nil, fmt.Errorf("viewer: probability map %v is too thin to contour", g.Size)
		}
	}
	v := s.vol
	o := &ProbOverlay{Style: st, geom: g, data: data, thr: threshold, disp: v.Size,
		vox: v.Spacing[0] * v.Spacing[1] * v.Spacing[2]}
	im, err := volume.NewIndexMap(v.Geometry, g) // display index → map index
	if err != nil {
		return nil, fmt.Errorf("viewer: probability map: %w", err)
	}
	for col := 0; col < 3; col++ {
		for row := 0; row < 3; row++ {
			d := im.Step[col][row]
			if row != col && math.Abs(d) > parallelTolerance {
				return nil, fmt.Errorf("viewer: probability map axes are not parallel to the volume's (display axis %d moves map axis %d by %.3g)", col, row, d)
			}
			if row == col {
				if !(d > 0) {
					return nil, fmt.Errorf("viewer: probability map axis %d runs against the volume's", col)
				}
				o.a[col] = d
			}
		}
	}
	o.b = im.Origin
	return o, nil
}

// parallelTolerance is how far (map voxels per display voxel) a display
// axis may move the map's other axes for the two grids to count as
// parallel: over 512 voxels the drift stays under a twentieth of a voxel.
const parallelTolerance = 1e-4

// Threshold is the probability above which a voxel is drawn as inside.
func (o *ProbOverlay) Threshold() float64 { return o.thr }

// Keep is the clean-up mask given with the threshold, or nil.
func (o *ProbOverlay) Keep() []uint8 { return o.keep }

// SetThreshold changes the threshold. keep, when not nil, is the cleaned
// mask on the map's own grid at that threshold (0/1, x fastest): it decides
// which above-threshold voxels stay and which below-threshold ones are
// holes to fill. The caller then calls Scene.OverlaysChanged.
func (o *ProbOverlay) SetThreshold(t float64, keep []uint8) error {
	if !(t > 0 && t < 1) {
		return fmt.Errorf("viewer: threshold %v is not in (0,1)", t)
	}
	if keep != nil && len(keep) != len(o.data) {
		return fmt.Errorf("viewer: clean-up mask has %d voxels, the map %d", len(keep), len(o.data))
	}
	o.thr, o.keep = t, keep
	return nil
}

// value is the cleaned probability of map voxel n.
func (o *ProbOverlay) value(n int) float32 {
	p := o.data[n]
	if o.keep == nil {
		return p
	}
	in := float64(p) > o.thr
	switch {
	case o.keep[n] != 0 && !in:
		return 1 // a filled hole
	case o.keep[n] == 0 && in:
		return 0 // a dropped component
	}
	return p
}

// plane returns the cleaned map interpolated along the normal of plane p
// at display slice: nu×nv values along map axes u (screen x) and v (screen
// y), u fastest, with a zero border of one sample when border is set. ok is
// false when the slice lies outside the map.
func (o *ProbOverlay) plane(dst []float32, p Plane, slice int, border bool) (out []float32, nu, nv int, ok bool) {
	ax, ay, _ := p.axes()
	n := p.NormalAxis()
	c := o.a[n]*float64(slice) + o.b[n]
	size := o.geom.Size
	hi := float64(size[n] - 1)
	if c < -1e-6 || c > hi+1e-6 {
		return dst, 0, 0, false
	}
	c = min(max(c, 0), hi)
	k0 := int(c)
	if k0 >= size[n]-1 {
		k0 = size[n] - 2
	}
	w := float32(c - float64(k0))
	stride := [3]int{1, size[0], size[0] * size[1]}
	bd := 0
	if border {
		bd = 1
	}
	nu, nv = size[ax]+2*bd, size[ay]+2*bd
	if cap(dst) < nu*nv {
		dst = make([]float32, nu*nv)
	}
	out = dst[:nu*nv]
	if border {
		clear(out)
	}
	b0, b1 := k0*stride[n], (k0+1)*stride[n]
	for y := 0; y < size[ay]; y++ {
		row := out[(y+bd)*nu+bd:]
		off := y * stride[ay]
		su := stride[ax]
		for x := 0; x < size[ax]; x++ {
			m := off + x*su
			v0, v1 := o.value(b0+m), o.value(b1+m)
			row[x] = v0 + (v1-v0)*w
		}
	}
	return out, nu, nv, true
}

// Draw implements Overlay.
func (o *ProbOverlay) Draw(dst *image.RGBA, p Plane, slice int, vp Viewport) {
	f, fw, fh, ok := o.plane(o.buf, p, slice, true)
	o.buf = f
	if !ok {
		return
	}
	ax, ay, flip := p.axes()
	// Plane x → display index px−0.5 → map index a·(px−0.5)+b → field +1.
	fl := field{data: f, w: fw, h: fh, ax: o.a[ax], bx: o.b[ax] - 0.5*o.a[ax] + 1}
	if flip {
		// Display index along ay is size−py−0.5 (superior up).
		fl.ay = -o.a[ay]
		fl.by = o.a[ay]*(float64(o.disp[ay])-0.5) + o.b[ay] + 1
	} else {
		fl.ay = o.a[ay]
		fl.by = o.b[ay] - 0.5*o.a[ay] + 1
	}
	rasterize(dst, vp, &fl, o.thr, o.Style)
}

// VolumeML is the volume in millilitres of the displayed voxels whose
// trilinearly sampled (cleaned) probability is above the threshold: the
// volume of what the overlay shows, counted on the full-resolution grid.
// Along x the interpolant is linear inside each map cell, so the voxels of
// a row above the threshold in one cell are counted in closed form; the
// cost is one map row per display row (a few ms for a 512×512×100 CT), not
// one sample per voxel.
func (o *ProbOverlay) VolumeML() float64 { return o.VolumeAt(o.thr, o.keep) }

// VolumeAt is VolumeML for threshold t and clean-up mask keep (nil for
// none) without changing the overlay. It reads only the map, so it may run
// on another goroutine while the overlay is drawn (a slider's volume is
// computed in the background, latest value winning).
func (o *ProbOverlay) VolumeAt(t float64, keep []uint8) float64 {
	if keep != nil && len(keep) != len(o.data) {
		return math.NaN()
	}
	// A private overlay sharing only the fields that never change, so
	// that nothing the UI goroutine writes (style, threshold, scratch) is
	// read here.
	c := ProbOverlay{geom: o.geom, data: o.data, disp: o.disp, vox: o.vox, a: o.a, b: o.b, thr: t, keep: keep}
	return c.volume()
}

func (o *ProbOverlay) volume() float64 {
	size := o.geom.Size
	nx := size[0]
	// Display columns of each map cell along x: [start[m], start[m+1]).
	start := make([]int, nx)
	for m := 0; m < nx; m++ {
		start[m] = min(max(int(math.Ceil((float64(m)-o.b[0])/o.a[0]-1e-9)), 0), o.disp[0])
	}
	// Display columns beyond the map's last sample (within rounding) count
	// with the last cell.
	end := min(max(int(math.Floor((float64(nx-1)-o.b[0])/o.a[0]+1e-9))+1, 0), o.disp[0])
	t := o.thr
	count := 0
	for k := 0; k < o.disp[2]; k++ {
		pl, nu, _, ok := o.plane(o.cls, Axial, k, false)
		o.cls = pl
		if !ok {
			continue
		}
		if cap(o.row) < nu {
			o.row = make([]float32, nu)
		}
		row := o.row[:nu]
		for j := 0; j < o.disp[1]; j++ {
			cy := o.a[1]*float64(j) + o.b[1]
			hi := float64(size[1] - 1)
			if cy < -1e-6 || cy > hi+1e-6 {
				continue
			}
			cy = min(max(cy, 0), hi)
			j0 := min(int(cy), size[1]-2)
			wy := float32(cy - float64(j0))
			r0, r1 := pl[j0*nu:], pl[(j0+1)*nu:]
			for x := 0; x < nu; x++ {
				row[x] = r0[x] + (r1[x]-r0[x])*wy
			}
			for m := 0; m < nx-1; m++ {
				i0, i1 := start[m], start[m+1]
				if m == nx-2 {
					i1 = end
				}
				if i1 <= i0 {
					continue
				}
				v0, v1 := float64(row[m]), float64(row[m+1])
				switch {
				case v0 > t && v1 > t:
					count += i1 - i0
				case v0 <= t && v1 <= t:
				default:
					// value(i) = v0 + (v1−v0)·(a·i + b − m) crosses t at is.
					is := ((t-v0)/(v1-v0) + float64(m) - o.b[0]) / o.a[0]
					if v1 > v0 {
						lo := max(i0, int(math.Floor(is))+1)
						count += max(i1-lo, 0)
					} else {
						hi := min(i1, int(math.Ceil(is)))
						count += max(hi-i0, 0)
					}
				}
			}
		}
	}
	return float64(count) * o.vox / 1000
}

// BoxOverlay draws a region of interest: the outline of a canonical voxel
// box [Min, Max) on every slice that cuts it.
type BoxOverlay struct {
	Min, Max [3]int
	Color    color.NRGBA
	size     [3]int
}

// NewBoxOverlay shows the box [min, max) of the volume shown by s.
func NewBoxOverlay(s *Slicer, min, max [3]int, c color.NRGBA) *BoxOverlay {
	return &BoxOverlay{Min: min, Max: max, Color: c, size: s.Size()}
}

// Draw implements Overlay.
func (o *BoxOverlay) Draw(dst *image.RGBA, p Plane, slice int, vp Viewport) {
	ax, ay, flip := p.axes()
	n := p.NormalAxis()
	if slice < o.Min[n] || slice >= o.Max[n] {
		return
	}
	x0, x1 := float64(o.Min[ax]), float64(o.Max[ax])
	y0, y1 := float64(o.Min[ay]), float64(o.Max[ay])
	if flip {
		y0, y1 = float64(o.size[ay]-o.Max[ay]), float64(o.size[ay]-o.Min[ay])
	}
	// Overlay pixel edges of the box.
	X0 := int(math.Round((x0 - vp.X0) / vp.DX))
	X1 := int(math.Round((x1 - vp.X0) / vp.DX))
	Y0 := int(math.Round((y0 - vp.Y0) / vp.DY))
	Y1 := int(math.Round((y1 - vp.Y0) / vp.DY))
	const w = 2
	r := dst.Rect
	fill := func(a, b, c, d int) {
		rr := image.Rect(a, b, c, d).Intersect(r)
		for y := rr.Min.Y; y < rr.Max.Y; y++ {
			for x := rr.Min.X; x < rr.Max.X; x++ {
				i := dst.PixOffset(x, y)
				blend(dst.Pix[i:i+4:i+4], o.Color, 230)
			}
		}
	}
	fill(X0, Y0, X1, Y0+w)
	fill(X0, Y1-w, X1, Y1)
	fill(X0, Y0+w, X0+w, Y1-w)
	fill(X1-w, Y0+w, X1, Y1-w)
}

// blend puts colour c at alpha a (0..255) over the premultiplied pixel px.
func blend(px []uint8, c color.NRGBA, a uint32) {
	inv := 255 - a
	px[0] = uint8((uint32(c.R)*a + uint32(px[0])*inv) / 255)
	px[1] = uint8((uint32(c.G)*a + uint32(px[1])*inv) / 255)
	px[2] = uint8((uint32(c.B)*a + uint32(px[2])*inv) / 255)
	px[3] = uint8(a + uint32(px[3])*inv/255)
}

func clamp01(f float64) float64 {
	switch {
	case f > 1:
		return 1
	case f > 0:
		return f
	}
	return 0
}
