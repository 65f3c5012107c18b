package viewer

import (
	"image"
	"image/color"
)

// Change says what part of a Scene changed, so that each view redoes only
// the work the change needs.
type Change uint8

// Kinds of change, combinable.
const (
	ChangeCursor   Change = 1 << iota // the linked crosshair moved (slices may or may not have)
	ChangeWindow                      // window/level changed: grey images need re-rendering
	ChangeOverlays                    // overlays changed: only overlay layers need compositing
	ChangeVoxels                      // more of a loading volume arrived: grey images need re-rendering
)

// Scene is the state the three linked views share: the volume being shown,
// the crosshair position, the window and the overlays. It is not safe for
// concurrent use; the GUI touches it from its event goroutine only.
type Scene struct {
	slicer    *Slicer
	cursor    [3]int
	wl        WindowLevel
	lut       *LUT
	overlays  []Overlay
	listeners []func(Change)
}

// NewScene shows s with the crosshair at the centre of the volume and the
// default (abdomen) window.
func NewScene(s *Slicer) *Scene {
	size := s.Size()
	sc := &Scene{
		slicer: s,
		cursor: [3]int{size[0] / 2, size[1] / 2, size[2] / 2},
		wl:     DefaultWindow,
	}
	sc.lut = NewLUT(sc.wl)
	return sc
}

// Slicer is the volume being shown.
func (sc *Scene) Slicer() *Slicer { return sc.slicer }

// Listen registers fn to be called after every change.
func (sc *Scene) Listen(fn func(Change)) { sc.listeners = append(sc.listeners, fn) }

func (sc *Scene) notify(c Change) {
	for _, fn := range sc.listeners {
		fn(c)
	}
}

// Cursor is the crosshair position as a canonical voxel index.
func (sc *Scene) Cursor() [3]int { return sc.cursor }

// SetCursor moves the crosshair, clamped into the volume.
func (sc *Scene) SetCursor(idx [3]int) {
	size := sc.slicer.Size()
	for a := 0; a < 3; a++ {
		idx[a] = min(max(idx[a], 0), size[a]-1)
	}
	if idx == sc.cursor {
		return
	}
	sc.cursor = idx
	sc.notify(ChangeCursor)
}

// Slice is the slice of plane p that the crosshair is on.
func (sc *Scene) Slice(p Plane) int { return sc.cursor[p.NormalAxis()] }

// SetSlice moves the crosshair along p's normal to slice (clamped).
func (sc *Scene) SetSlice(p Plane, slice int) {
	c := sc.cursor
	c[p.NormalAxis()] = slice
	sc.SetCursor(c)
}

// Step moves n slices through plane p.
func (sc *Scene) Step(p Plane, n int) { sc.SetSlice(p, sc.Slice(p)+n) }

// Window is the current window/level.
func (sc *Scene) Window() WindowLevel { return sc.wl }

// SetWindow changes the window/level (width at least 1 HU).
func (sc *Scene) SetWindow(wl WindowLevel) {
	if wl.Width < 1 {
		wl.Width = 1
	}
	if wl == sc.wl {
		return
	}
	sc.wl = wl
	sc.lut.Set(wl)
	sc.notify(ChangeWindow)
}

// SetOverlays replaces the overlays (drawn in order).
func (sc *Scene) SetOverlays(o ...Overlay) {
	sc.overlays = append([]Overlay(nil), o...)
	sc.notify(ChangeOverlays)
}

// Overlays returns the current overlays.
func (sc *Scene) Overlays() []Overlay { return sc.overlays }

// VoxelsChanged tells the views that more slices of a volume being loaded
// have arrived (see Slicer.SetAvailability).
func (sc *Scene) VoxelsChanged() { sc.notify(ChangeVoxels) }

// OverlaysChanged tells the views that an overlay's content or style changed.
func (sc *Scene) OverlaysChanged() { sc.notify(ChangeOverlays) }

// Render draws plane p at the crosshair's slice with the current window,
// reusing dst when it fits.
func (sc *Scene) Render(dst *image.RGBA, p Plane) *image.RGBA {
	return sc.slicer.Render(dst, p, sc.Slice(p), sc.lut)
}

// RenderOverlays draws all overlays of plane p at the crosshair's slice at
// voxel resolution into dst (cleared first; reused when it fits). It
// returns nil when there are no overlays, so that the widget can hide the
// layer.
func (sc *Scene) RenderOverlays(dst *image.RGBA, p Plane) *image.RGBA {
	w, h, _ := sc.slicer.Dims(p)
	return sc.RenderOverlaysAt(dst, p, VoxelViewport, w, h)
}

// RenderOverlaysAt draws all overlays of plane p at the crosshair's slice
// into a w×h image covering the plane as vp says (the widget passes the
// visible part of the view at device resolution). dst is cleared first and
// reused when it has that size. It returns nil when there are no overlays
// or the size is empty.
func (sc *Scene) RenderOverlaysAt(dst *image.RGBA, p Plane, vp Viewport, w, h int) *image.RGBA {
	return sc.RenderListAt(sc.overlays, dst, p, vp, w, h)
}

// RenderListAt is RenderOverlaysAt for the given overlays instead of the
// scene's: a view that shows its own overlays (one model per panel of a
// side-by-side comparison) on the shared slice uses it.
func (sc *Scene) RenderListAt(list []Overlay, dst *image.RGBA, p Plane, vp Viewport, w, h int) *image.RGBA {
	if len(list) == 0 || w <= 0 || h <= 0 {
		return nil
	}
	if dst == nil || dst.Rect != image.Rect(0, 0, w, h) {
		dst = image.NewRGBA(image.Rect(0, 0, w, h))
	} else {
		clear(dst.Pix)
	}
	for _, o := range list {
		o.Draw(dst, p, sc.Slice(p), vp)
	}
	return dst
}

// Readout describes the voxel at a continuous index, for the status line.
type Readout struct {
	Index   [3]int     // canonical voxel index
	Inside  bool       // false when the point is outside the volume
	HU      int16      // voxel value
	Patient [3]float64 // LPS mm of the voxel centre
}

// ReadAt samples the voxel nearest to a continuous canonical index.
func (sc *Scene) ReadAt(f [3]float64) Readout {
	idx, ok := sc.slicer.RoundIndex(f)
	if ok {
		_, ok = sc.slicer.Value(idx) // false too for a slice not read yet
	}
	r := Readout{Index: idx, Inside: ok}
	if ok {
		r.HU, _ = sc.slicer.Value(idx)
		r.Patient = sc.slicer.Patient([3]float64{float64(idx[0]), float64(idx[1]), float64(idx[2])})
	}
	return r
}

// SlicePosition is the patient coordinate (mm, LPS) of plane p's current
// slice along its normal axis: z for axial, y for coronal, x for sagittal.
func (sc *Scene) SlicePosition(p Plane) float64 {
	c := sc.cursor
	pos := sc.slicer.Patient([3]float64{float64(c[0]), float64(c[1]), float64(c[2])})
	return pos[p.NormalAxis()]
}

// CrosshairColor is the colour of the linked crosshair lines.
var CrosshairColor = color.NRGBA{R: 0, G: 200, B: 255, A: 170}
