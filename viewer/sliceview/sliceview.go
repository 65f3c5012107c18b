// Package sliceview is the Fyne widget that shows one plane of a
// viewer.Scene: the windowed CT slice at its physical aspect ratio, an
// overlay layer, the linked crosshair, orientation letters and a slice label.
// Three SliceViews sharing one Scene make the linked axial/coronal/sagittal
// display.
//
// Mouse and keys (all planes):
//
//	wheel, Page Up/Down, ↑/↓   next/previous slice (towards S, P, L: index +1)
//	left click or drag         move the crosshair (the other views follow)
//	right drag, ctrl+left drag window/level: → wider, ↓ higher level
//	middle drag, shift+left drag  pan
//	ctrl+wheel, + / −          zoom about the pointer / the centre
//	0 or r                     reset zoom and pan
//	left drag in box mode      draw a region-of-interest rectangle (OnBox)
//
// Overlays are drawn in their own layer at the display's resolution (the
// visible part of the image, one overlay pixel per device pixel), so that
// contours are smooth and keep their width at any zoom, and so that an
// overlay change never re-renders the CT image underneath.
package sliceview

import (
	"fmt"
	"image"
	"image/color"
	"math"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/driver/desktop"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/liverseg/liverseg/viewer"
)

// Colours of the annotations drawn over the image.
var (
	LetterColor = color.NRGBA{R: 255, G: 196, B: 64, A: 255}
	LabelColor  = color.NRGBA{R: 230, G: 230, B: 230, A: 255}
	FocusColor  = color.NRGBA{R: 0, G: 200, B: 255, A: 255}
	BoxColor    = color.NRGBA{R: 255, G: 220, B: 0, A: 255}
	BrushColor  = color.NRGBA{R: 255, G: 255, B: 120, A: 230}
)

// pixelsAbove is the zoom (device pixels per voxel, both axes) from which
// the image is drawn with nearest-neighbour scaling. Below it the GPU's
// bilinear filter is used: at fit size a 512² slice is shown at roughly one
// pixel per voxel and a coronal/sagittal one is stretched ~3× along z, where
// nearest-neighbour would show staircase artefacts that are not anatomy.
// Zoomed in, radiologists want to see the true voxels, so the filter
// switches to pixels.
const pixelsAbove = 4

// SliceView is a widget showing one plane of a Scene. Create it with New;
// set the scene with SetScene. All methods must run on the Fyne goroutine.
type SliceView struct {
	widget.BaseWidget

	plane viewer.Plane
	scene *viewer.Scene

	img, ovl  *image.RGBA
	lastSlice int
	// ovlKey is what the overlay layer was last drawn for; ovlPos and
	// ovlSize are where it lies in the widget.
	ovlKey  ovlKey
	ovlPos  fyne.Position
	ovlSize fyne.Size

	zoom float32       // 1 = whole slice fits the widget
	pan  fyne.Position // offset of the image centre from the widget centre

	// WindowDrag makes a plain left drag adjust window/level (for
	// trackpads without a right button).
	WindowDrag bool
	// OnHover is called with the voxel under the pointer; inside is false
	// when the pointer left the image.
	OnHover func(v *SliceView, r viewer.Readout, inside bool)
	// OnFocus is called when the view is clicked or gains keyboard focus,
	// so that the app can route keys to the last used view.
	OnFocus func(v *SliceView)
	// BoxMode makes a plain left drag draw a rectangle; when the drag ends
	// OnBox gets its two corners as canonical voxel indices (inclusive,
	// clamped into the volume; the normal axis holds the current slice).
	BoxMode bool
	OnBox   func(v *SliceView, a, b [3]int)
	// EditMode makes a plain left click or drag an edit gesture instead of
	// moving the crosshair: OnEdit gets its points as continuous canonical
	// voxel indices on the current slice (EditBegin, EditMove…, EditEnd;
	// a click is EditBegin then EditEnd at the same point).
	EditMode bool
	OnEdit   func(v *SliceView, phase EditPhase, idx [3]float64)
	// EditTrail draws the path of the current edit drag (scissors).
	EditTrail bool
	// BrushRadiusMM > 0 draws a circle of that radius (in mm, at the
	// view's physical scale) around the pointer while it is over the view.
	BrushRadiusMM float64
	// OnRune, when set, sees typed runes first; returning true consumes
	// the rune (edit-mode keys such as [ and ]).
	OnRune func(r rune) bool
	// OnViewChanged is called after the user zoomed, panned or reset the
	// view (not after SetViewState), so that an app can link the zoom and
	// pan of several views of the same plane.
	OnViewChanged func(v *SliceView)
	// DragHook, when set, is offered every plain left drag first: it gets
	// the continuous canonical voxel index under the pointer (start on the
	// first event, end after the last) and returns whether it takes the
	// drag; a drag it declines at the start moves the crosshair as usual.
	// Tools that edit something drawn on the view (a resection plan's
	// control points) use it.
	DragHook func(v *SliceView, at [3]float64, start, end bool) bool
	hooked   int // this drag: 0 not offered yet, 1 taken, -1 declined

	// own, when set, makes the view draw ownList instead of the scene's
	// overlays (SetOverlays): panels that show the same slice with
	// different segmentations share one scene.
	own     bool
	ownList []viewer.Overlay
	// paused views skip rendering on scene changes; stale says one was
	// missed (SetPaused).
	paused, stale bool
	title         string
	titleColor    color.Color
	hideLabel     bool
	legend        []LegendEntry

	button   desktop.MouseButton
	modifier fyne.KeyModifier
	lastDrag fyne.Position
	scrollAc float32
	focused  bool
	hovering bool
	hoverPos fyne.Position
	boxing   bool
	boxFrom  fyne.Position
	boxTo    fyne.Position
	editing  bool
	editLast fyne.Position
	trail    []fyne.Position

	r *renderer
}

// EditPhase is the stage of an edit gesture.
type EditPhase int

// Edit gesture phases.
const (
	EditBegin EditPhase = iota
	EditMove
	EditEnd
)

// planeIndex is the continuous canonical index under a widget position on
// the current slice.
func (v *SliceView) planeIndex(p fyne.Position) ([3]float64, bool) {
	px, py, ok := v.toPlane(p)
	if !ok {
		return [3]float64{}, false
	}
	return v.scene.Slicer().PlaneToIndex(v.plane, v.Slice(), px, py), true
}

func (v *SliceView) emitEdit(phase EditPhase, p fyne.Position) {
	if v.OnEdit == nil {
		return
	}
	if idx, ok := v.planeIndex(p); ok {
		v.OnEdit(v, phase, idx)
	}
}

// MMToScreen is the number of widget units one millimetre covers in the
// view at its current zoom (the views keep a true aspect ratio, so it is
// the same along both screen axes).
func (v *SliceView) MMToScreen() float32 {
	_, size, ok := v.imageRect()
	if !ok {
		return 0
	}
	w, _, _ := v.scene.Slicer().Dims(v.plane)
	sx, _ := v.scene.Slicer().PixelSpacing(v.plane)
	return size.Width / float32(float64(w)*sx)
}

// BrushCircle is where the brush cursor is drawn (centre and radius in
// widget units) and whether it is shown.
func (v *SliceView) BrushCircle() (centre fyne.Position, radius float32, shown bool) {
	if v.r == nil || !v.r.brush.Visible() {
		return centre, 0, false
	}
	b := v.r.brush
	return b.Position1.Add(fyne.NewPos((b.Position2.X-b.Position1.X)/2, (b.Position2.Y-b.Position1.Y)/2)), (b.Position2.X - b.Position1.X) / 2, true
}

// SetBrushRadius changes the cursor circle's radius in mm (0 hides it).
func (v *SliceView) SetBrushRadius(mm float64) {
	v.BrushRadiusMM = mm
	if v.r != nil {
		v.r.layoutBrush()
	}
}

// New creates an empty view of plane p.
func New(p viewer.Plane) *SliceView {
	v := &SliceView{plane: p, zoom: 1, lastSlice: -1, title: p.String(), titleColor: LabelColor}
	v.ExtendBaseWidget(v)
	return v
}

// Plane is the plane this view shows.
func (v *SliceView) Plane() viewer.Plane { return v.plane }

// Scene is the scene shown, or nil.
func (v *SliceView) Scene() *viewer.Scene { return v.scene }

// SetScene shows sc (nil clears the view) and resets zoom and pan. The view
// subscribes to the scene's changes.
func (v *SliceView) SetScene(sc *viewer.Scene) {
	v.scene = sc
	v.zoom, v.pan = 1, fyne.Position{}
	v.img, v.ovl = nil, nil
	v.ovlKey = ovlKey{}
	v.lastSlice = -1
	v.stale = false
	if sc != nil {
		sc.Listen(func(c viewer.Change) {
			if v.scene == sc {
				v.sceneChanged(c)
			}
		})
		if v.paused {
			v.stale = true
		} else {
			v.renderImage()
			v.renderOverlay()
		}
	}
	v.Refresh()
}

// SetOverlays makes the view draw these overlays (in order) instead of the
// scene's, on the scene's slice; only this view's overlay layer is redrawn.
// Call OverlaysChanged after changing one of them.
func (v *SliceView) SetOverlays(list ...viewer.Overlay) {
	v.own, v.ownList = true, append([]viewer.Overlay(nil), list...)
	v.OverlaysChanged()
}

// UseSceneOverlays returns to drawing the scene's overlays.
func (v *SliceView) UseSceneOverlays() {
	v.own, v.ownList = false, nil
	v.OverlaysChanged()
}

// OverlaysChanged redraws the view's overlay layer (and nothing else).
func (v *SliceView) OverlaysChanged() {
	if v.scene == nil {
		return
	}
	if v.paused {
		v.stale = true
		return
	}
	v.renderOverlay()
}

// overlayList is what the overlay layer shows.
func (v *SliceView) overlayList() []viewer.Overlay {
	if v.own {
		return v.ownList
	}
	if v.scene == nil {
		return nil
	}
	return v.scene.Overlays()
}

// SetPaused stops (true) or resumes rendering on scene changes. A view
// that is not on screen (another display mode is shown) is paused so that
// slice and window changes cost nothing for it; on resuming it renders
// once if it missed a change.
func (v *SliceView) SetPaused(p bool) {
	if v.paused == p {
		return
	}
	v.paused = p
	if p || v.scene == nil {
		return
	}
	if v.stale {
		v.stale = false
		v.renderImage()
		v.renderOverlay()
	}
	v.Refresh() // the layout redraws the overlay layer if the size changed meanwhile
}

// Paused reports whether rendering is paused.
func (v *SliceView) Paused() bool { return v.paused }

// SetTitle replaces the title shown at the top left (the plane's name by
// default), in colour c (nil: the label colour).
func (v *SliceView) SetTitle(t string, c color.Color) {
	if c == nil {
		c = LabelColor
	}
	v.title, v.titleColor = t, c
	if v.r != nil {
		v.r.title.Text, v.r.title.Color = t, c
		v.r.title.Refresh()
		v.r.Layout(v.Size())
	}
}

// SetLabelShown shows or hides the slice label at the bottom left (a row
// of narrow panels on the same slice needs it once, not over every
// panel's orientation letter).
func (v *SliceView) SetLabelShown(on bool) {
	v.hideLabel = !on
	if v.r != nil {
		v.r.updateAnnotations()
	}
}

// Title is the title shown at the top left.
func (v *SliceView) Title() string { return v.title }

// TitleColor is the title's colour.
func (v *SliceView) TitleColor() color.Color { return v.titleColor }

// Overlays are the overlays the view draws and whether they are its own
// (SetOverlays) rather than the scene's.
func (v *SliceView) Overlays() (list []viewer.Overlay, own bool) {
	return v.overlayList(), v.own
}

// ViewState is the zoom (1 = fit) and the pan (offset of the image centre
// from the widget centre, in widget units).
func (v *SliceView) ViewState() (zoom float32, pan fyne.Position) { return v.zoom, v.pan }

// SetViewState sets zoom and pan as ViewState returns them, without
// calling OnViewChanged; the overlay layer follows at the next layout.
func (v *SliceView) SetViewState(zoom float32, pan fyne.Position) {
	zoom = min(max(zoom, 0.25), 40)
	if zoom == v.zoom && pan == v.pan {
		return
	}
	v.zoom, v.pan = zoom, pan
	if v.r != nil {
		v.r.Layout(v.Size())
	}
}

func (v *SliceView) viewChanged() {
	if v.OnViewChanged != nil {
		v.OnViewChanged(v)
	}
}

// Image is the grey image currently shown, at voxel resolution.
func (v *SliceView) Image() *image.RGBA { return v.img }

// Slice is the slice index shown (−1 without a scene).
func (v *SliceView) Slice() int {
	if v.scene == nil {
		return -1
	}
	return v.scene.Slice(v.plane)
}

// Label is the slice text shown in the view, e.g. "41/78  z −123.5 mm".
func (v *SliceView) Label() string {
	if v.scene == nil {
		return ""
	}
	_, _, n := v.scene.Slicer().Dims(v.plane)
	axis := [3]string{"x", "y", "z"}[v.plane.NormalAxis()]
	pos := v.scene.SlicePosition(v.plane)
	if math.Abs(pos) < 0.05 {
		pos = 0 // no "-0.0"
	}
	l := fmt.Sprintf("%d/%d  %s %.1f mm", v.Slice()+1, n, axis, pos)
	if !v.scene.Slicer().Ready(v.plane, v.Slice()) {
		l += "  " + LoadingText
	}
	return l
}

// LoadingText marks a view whose slice has not arrived yet, in its slice
// label and, large, in its middle.
const LoadingText = "loading…"

// Loading reports whether the view shows a slice that has not arrived yet.
func (v *SliceView) Loading() bool {
	return v.scene != nil && !v.scene.Slicer().Ready(v.plane, v.Slice())
}

// Zoom is the zoom factor (1 = fit).
func (v *SliceView) Zoom() float32 { return v.zoom }

// ResetView restores fit-to-view zoom and removes panning.
func (v *SliceView) ResetView() {
	v.zoom, v.pan = 1, fyne.Position{}
	v.Refresh()
	v.viewChanged()
}

// MatchView gives v the zoom, pan, title and legend of o, so that a second
// view of the same scene and size (an off-screen copy for a picture)
// frames the same part of the slice and says the same about it.
func (v *SliceView) MatchView(o *SliceView) {
	v.zoom, v.pan = o.zoom, o.pan
	v.SetTitle(o.title, o.titleColor)
	v.hideLabel = o.hideLabel
	v.SetLegend(o.legend...)
	v.Refresh()
}

// ZoomBy multiplies the zoom by f, keeping the image point under the widget
// position at fixed.
func (v *SliceView) ZoomBy(f float32, at fyne.Position) {
	nz := min(max(v.zoom*f, 0.25), 40)
	f = nz / v.zoom
	if f == 1 {
		return
	}
	c := fyne.NewPos(v.Size().Width/2, v.Size().Height/2)
	// The image centre is at c+pan; scale its offset from `at` by f.
	centre := c.Add(v.pan)
	d := centre.Subtract(at)
	centre = at.Add(fyne.NewPos(d.X*f, d.Y*f))
	v.pan = centre.Subtract(c)
	v.zoom = nz
	v.Refresh()
	v.viewChanged()
}

func (v *SliceView) sceneChanged(c viewer.Change) {
	if v.paused {
		v.stale = true
		return
	}
	if v.own {
		// The scene's overlays are not what this view shows.
		c &^= viewer.ChangeOverlays
		if c == 0 {
			return
		}
	}
	if c&(viewer.ChangeWindow|viewer.ChangeVoxels) != 0 {
		v.renderImage()
	}
	if c&viewer.ChangeCursor != 0 && v.Slice() != v.lastSlice {
		// A new slice: re-render both layers. When only the in-plane
		// crosshair moved, the images stay as they are.
		v.renderImage()
		v.renderOverlay()
	} else if c&viewer.ChangeOverlays != 0 {
		v.renderOverlay()
	}
	if v.r != nil {
		v.r.updateAnnotations()
		v.r.layoutCrosshair()
	}
	// The voxel under a still pointer changes when the slice does.
	if v.hovering && v.OnHover != nil && c&(viewer.ChangeCursor|viewer.ChangeWindow) != 0 {
		r, inside := v.readout(v.hoverPos)
		v.OnHover(v, r, inside)
	}
}

func (v *SliceView) renderImage() {
	v.img = v.scene.Render(v.img, v.plane)
	v.lastSlice = v.Slice()
	if v.r != nil {
		v.r.image.Image = v.img
		v.r.image.Refresh()
	}
}

// ovlKey identifies an overlay layer's geometry: its viewport and size.
type ovlKey struct {
	vp   viewer.Viewport
	w, h int
}

// Overlay is the overlay layer as last drawn (device resolution, covering
// the visible part of the image), or nil when there is none.
func (v *SliceView) Overlay() *image.RGBA { return v.ovl }

// overlayGeometry is the visible part of the image in widget coordinates
// and the viewport and pixel size of an overlay layer covering it at device
// resolution.
func (v *SliceView) overlayGeometry() (pos fyne.Position, size fyne.Size, k ovlKey, ok bool) {
	ipos, isz, ok := v.imageRect()
	if !ok || isz.Width <= 0 || isz.Height <= 0 {
		return pos, size, k, false
	}
	ws := v.Size()
	x0, y0 := max(ipos.X, 0), max(ipos.Y, 0)
	x1, y1 := min(ipos.X+isz.Width, ws.Width), min(ipos.Y+isz.Height, ws.Height)
	if x1 <= x0 || y1 <= y0 {
		return pos, size, k, false
	}
	dev := float32(1)
	if c := fyne.CurrentApp().Driver().CanvasForObject(v); c != nil && c.Scale() > 0 {
		dev = c.Scale()
	}
	w, h, _ := v.scene.Slicer().Dims(v.plane)
	k.w = int(math.Ceil(float64((x1 - x0) * dev)))
	k.h = int(math.Ceil(float64((y1 - y0) * dev)))
	// Plane pixels per widget unit, then per overlay pixel.
	ux, uy := float64(w)/float64(isz.Width), float64(h)/float64(isz.Height)
	k.vp = viewer.Viewport{
		X0: float64(x0-ipos.X) * ux, Y0: float64(y0-ipos.Y) * uy,
		DX: float64(x1-x0) * ux / float64(k.w), DY: float64(y1-y0) * uy / float64(k.h),
	}
	return fyne.NewPos(x0, y0), fyne.NewSize(x1-x0, y1-y0), k, true
}

// renderOverlay redraws the overlay layer for the current slice, view
// geometry and overlays.
func (v *SliceView) renderOverlay() {
	pos, size, k, ok := v.overlayGeometry()
	if list := v.overlayList(); !ok || len(list) == 0 {
		v.ovl, v.ovlKey = nil, ovlKey{}
	} else {
		v.ovl = v.scene.RenderListAt(list, v.ovl, v.plane, k.vp, k.w, k.h)
		v.ovlKey, v.ovlPos, v.ovlSize = k, pos, size
	}
	if v.r != nil {
		v.r.setOverlay(v.ovl)
	}
}

// imageRect is where the slice image lies in widget coordinates.
func (v *SliceView) imageRect() (pos fyne.Position, size fyne.Size, ok bool) {
	if v.scene == nil {
		return pos, size, false
	}
	w, h, _ := v.scene.Slicer().Dims(v.plane)
	sx, sy := v.scene.Slicer().PixelSpacing(v.plane)
	mmW, mmH := float64(w)*sx, float64(h)*sy
	ws := v.Size()
	if ws.Width <= 0 || ws.Height <= 0 {
		return pos, size, false
	}
	s := math.Min(float64(ws.Width)/mmW, float64(ws.Height)/mmH) * float64(v.zoom)
	size = fyne.NewSize(float32(mmW*s), float32(mmH*s))
	pos = fyne.NewPos((ws.Width-size.Width)/2+v.pan.X, (ws.Height-size.Height)/2+v.pan.Y)
	return pos, size, true
}

// toPlane converts a widget position to image pixel coordinates.
func (v *SliceView) toPlane(p fyne.Position) (px, py float64, ok bool) {
	pos, size, ok := v.imageRect()
	if !ok {
		return 0, 0, false
	}
	w, h, _ := v.scene.Slicer().Dims(v.plane)
	px = float64(p.X-pos.X) / float64(size.Width) * float64(w)
	py = float64(p.Y-pos.Y) / float64(size.Height) * float64(h)
	return px, py, true
}

// ScreenPosition is where the centre of voxel idx lies in widget
// coordinates (for tests and for placing markers).
func (v *SliceView) ScreenPosition(idx [3]int) fyne.Position {
	pos, size, ok := v.imageRect()
	if !ok {
		return fyne.Position{}
	}
	w, h, _ := v.scene.Slicer().Dims(v.plane)
	px, py, _ := v.scene.Slicer().IndexToPlane(v.plane, idx)
	return fyne.NewPos(pos.X+float32(px/float64(w))*size.Width, pos.Y+float32(py/float64(h))*size.Height)
}

// readout samples the voxel under a widget position on the current slice.
func (v *SliceView) readout(p fyne.Position) (viewer.Readout, bool) {
	px, py, ok := v.toPlane(p)
	if !ok {
		return viewer.Readout{}, false
	}
	r := v.scene.ReadAt(v.scene.Slicer().PlaneToIndex(v.plane, v.Slice(), px, py))
	return r, r.Inside
}

// moveCursorTo puts the crosshair on the voxel under p (clamped into the
// volume, so a click just outside the image still lands on its edge).
func (v *SliceView) moveCursorTo(p fyne.Position) {
	px, py, ok := v.toPlane(p)
	if !ok {
		return
	}
	f := v.scene.Slicer().PlaneToIndex(v.plane, v.Slice(), px, py)
	var idx [3]int
	for a := range idx {
		idx[a] = int(math.Floor(f[a] + 0.5))
	}
	v.scene.SetCursor(idx)
}

func (v *SliceView) adjustWindow(d fyne.Delta) {
	wl := v.scene.Window()
	// Proportional steps: 300 screen units of drag double the width, so
	// narrow liver windows and wide bone windows both feel controllable.
	k := math.Max(wl.Width, 50) / 300
	wl.Width = math.Max(1, wl.Width+float64(d.DX)*k)
	wl.Level += float64(d.DY) * k
	v.scene.SetWindow(wl)
}

func (v *SliceView) requestFocus() {
	if c := fyne.CurrentApp().Driver().CanvasForObject(v); c != nil && c.Focused() != v {
		c.Focus(v)
	}
	if v.OnFocus != nil {
		v.OnFocus(v)
	}
}

// Tapped moves the linked crosshair to the clicked voxel.
func (v *SliceView) Tapped(ev *fyne.PointEvent) {
	v.requestFocus()
	if v.scene != nil && v.EditMode {
		v.emitEdit(EditBegin, ev.Position)
		v.emitEdit(EditEnd, ev.Position)
		return
	}
	if v.scene != nil {
		v.moveCursorTo(ev.Position)
	}
}

// Scrolled steps through slices; with ctrl held it zooms about the pointer.
func (v *SliceView) Scrolled(ev *fyne.ScrollEvent) {
	if v.scene == nil {
		return
	}
	if currentModifiers()&fyne.KeyModifierControl != 0 {
		v.ZoomBy(float32(math.Pow(1.1, float64(ev.Scrolled.DY)/10)), ev.Position)
		return
	}
	// A wheel notch is 10–25 units depending on the platform and moves one
	// slice; trackpads send small deltas that accumulate first.
	v.scrollAc += ev.Scrolled.DY
	if math.Abs(float64(v.scrollAc)) < 5 {
		return
	}
	steps := 1
	if v.scrollAc < 0 {
		steps = -1
	}
	v.scrollAc = 0
	v.scene.Step(v.plane, steps)
}

// MouseDown remembers the button and modifiers that start a drag.
func (v *SliceView) MouseDown(ev *desktop.MouseEvent) {
	v.button, v.modifier, v.lastDrag = ev.Button, ev.Modifier, ev.Position
	if ev.Button == desktop.MouseButtonSecondary {
		v.requestFocus()
	}
}

// MouseUp ends a drag.
func (v *SliceView) MouseUp(*desktop.MouseEvent) { v.button = 0 }

// Dragged pans, windows or moves the crosshair depending on the button and
// modifiers pressed when the drag started.
func (v *SliceView) Dragged(ev *fyne.DragEvent) {
	if v.scene == nil {
		return
	}
	switch {
	case v.button == desktop.MouseButtonTertiary || v.modifier&fyne.KeyModifierShift != 0:
		v.pan = v.pan.Add(ev.Dragged)
		if v.r != nil {
			v.r.Layout(v.Size())
		}
		v.viewChanged()
	case v.WindowDrag || v.modifier&fyne.KeyModifierControl != 0:
		v.adjustWindow(ev.Dragged)
	case v.EditMode:
		if !v.editing {
			v.editing = true
			from := ev.Position.Subtract(ev.Dragged)
			v.trail = append(v.trail[:0], from)
			v.emitEdit(EditBegin, from)
			v.editLast = from
		}
		v.emitEdit(EditMove, ev.Position)
		v.hoverPos, v.editLast = ev.Position, ev.Position
		if v.EditTrail {
			v.trail = append(v.trail, ev.Position)
		}
		if v.r != nil {
			v.r.layoutBrush()
			v.r.layoutTrail()
		}
	case v.BoxMode:
		if !v.boxing {
			v.boxing = true
			v.boxFrom = ev.Position.Subtract(ev.Dragged)
		}
		v.boxTo = ev.Position
		if v.r != nil {
			v.r.layoutBox()
		}
	default:
		if v.hookDrag(ev) {
			return
		}
		v.moveCursorTo(ev.Position)
	}
}

// hookDrag offers a plain drag to DragHook; see there.
func (v *SliceView) hookDrag(ev *fyne.DragEvent) bool {
	if v.DragHook == nil || v.hooked < 0 {
		return false
	}
	start := v.hooked == 0
	p := ev.Position
	if start {
		p = p.Subtract(ev.Dragged)
	}
	px, py, ok := v.toPlane(p)
	if !ok {
		if start {
			v.hooked = -1
		}
		return v.hooked > 0
	}
	at := v.scene.Slicer().PlaneToIndex(v.plane, v.Slice(), px, py)
	if start {
		if !v.DragHook(v, at, true, false) {
			v.hooked = -1
			return false
		}
		v.hooked = 1
		px, py, _ = v.toPlane(ev.Position)
		at = v.scene.Slicer().PlaneToIndex(v.plane, v.Slice(), px, py)
	}
	v.DragHook(v, at, false, false)
	return true
}

// DragEnd finishes a box drawn in box mode.
func (v *SliceView) DragEnd() {
	if v.hooked > 0 && v.DragHook != nil {
		v.DragHook(v, [3]float64{}, false, true)
	}
	v.hooked = 0
	if v.editing {
		v.editing = false
		v.emitEdit(EditEnd, v.editLast)
		v.trail = v.trail[:0]
		if v.r != nil {
			v.r.layoutTrail()
		}
		return
	}
	if !v.boxing {
		return
	}
	v.boxing = false
	if v.r != nil {
		v.r.layoutBox()
	}
	if v.scene == nil || v.OnBox == nil {
		return
	}
	a, okA := v.voxelAt(v.boxFrom)
	b, okB := v.voxelAt(v.boxTo)
	if okA && okB {
		v.OnBox(v, a, b)
	}
}

// voxelAt is the voxel under a widget position on the current slice,
// clamped into the volume.
func (v *SliceView) voxelAt(p fyne.Position) ([3]int, bool) {
	px, py, ok := v.toPlane(p)
	if !ok {
		return [3]int{}, false
	}
	f := v.scene.Slicer().PlaneToIndex(v.plane, v.Slice(), px, py)
	size := v.scene.Slicer().Size()
	var idx [3]int
	for a := range idx {
		idx[a] = min(max(int(math.Floor(f[a]+0.5)), 0), size[a]-1)
	}
	return idx, true
}

// MouseIn implements desktop.Hoverable.
func (v *SliceView) MouseIn(ev *desktop.MouseEvent) { v.MouseMoved(ev) }

// MouseMoved reports the voxel under the pointer and, during a right-button
// drag (which Fyne does not deliver as Dragged), adjusts the window.
func (v *SliceView) MouseMoved(ev *desktop.MouseEvent) {
	if v.scene == nil {
		return
	}
	if ev.Button&desktop.MouseButtonSecondary != 0 && v.button == desktop.MouseButtonSecondary {
		d := ev.Position.Subtract(v.lastDrag)
		v.adjustWindow(fyne.NewDelta(d.X, d.Y))
		v.lastDrag = ev.Position
	}
	v.hovering, v.hoverPos = true, ev.Position
	if v.r != nil && v.BrushRadiusMM > 0 {
		v.r.layoutBrush()
	}
	if v.OnHover != nil {
		r, inside := v.readout(ev.Position)
		v.OnHover(v, r, inside)
	}
}

// MouseOut implements desktop.Hoverable.
func (v *SliceView) MouseOut() {
	v.hovering = false
	if v.r != nil {
		v.r.layoutBrush()
	}
	if v.OnHover != nil {
		v.OnHover(v, viewer.Readout{}, false)
	}
}

// FocusGained implements fyne.Focusable.
func (v *SliceView) FocusGained() {
	v.focused = true
	if v.r != nil {
		v.r.updateFocus()
	}
	if v.OnFocus != nil {
		v.OnFocus(v)
	}
}

// FocusLost implements fyne.Focusable.
func (v *SliceView) FocusLost() {
	v.focused = false
	if v.r != nil {
		v.r.updateFocus()
	}
}

// TypedRune handles + / − zoom and 0 / r reset.
func (v *SliceView) TypedRune(r rune) {
	if v.OnRune != nil && v.OnRune(r) {
		return
	}
	switch r {
	case '+', '=':
		v.ZoomBy(1.25, v.centre())
	case '-', '_':
		v.ZoomBy(0.8, v.centre())
	case '0', 'r', 'R':
		v.ResetView()
	}
}

// TypedKey handles slice stepping keys.
func (v *SliceView) TypedKey(ev *fyne.KeyEvent) {
	if v.scene == nil {
		return
	}
	switch ev.Name {
	case fyne.KeyPageUp, fyne.KeyUp:
		v.scene.Step(v.plane, 1)
	case fyne.KeyPageDown, fyne.KeyDown:
		v.scene.Step(v.plane, -1)
	case fyne.KeyHome:
		v.scene.SetSlice(v.plane, 0)
	case fyne.KeyEnd:
		_, _, n := v.scene.Slicer().Dims(v.plane)
		v.scene.SetSlice(v.plane, n-1)
	}
}

func (v *SliceView) centre() fyne.Position {
	return fyne.NewPos(v.Size().Width/2, v.Size().Height/2)
}

// Cursor shows a crosshair pointer over the image.
func (v *SliceView) Cursor() desktop.Cursor { return desktop.CrosshairCursor }

// MinSize keeps a view usable in small windows.
func (v *SliceView) MinSize() fyne.Size { return fyne.NewSize(160, 160) }

func currentModifiers() fyne.KeyModifier {
	if a := fyne.CurrentApp(); a != nil {
		if d, ok := a.Driver().(desktop.Driver); ok {
			return d.CurrentKeyModifiers()
		}
	}
	return 0
}

// CreateRenderer implements fyne.Widget.
func (v *SliceView) CreateRenderer() fyne.WidgetRenderer {
	r := &renderer{v: v}
	r.bg = canvas.NewRectangle(color.Black)
	r.border = canvas.NewRectangle(color.Transparent)
	r.border.StrokeWidth = 2
	r.image = canvas.NewImageFromImage(nil)
	r.image.FillMode = canvas.ImageFillStretch
	r.overlay = canvas.NewImageFromImage(nil)
	r.overlay.FillMode = canvas.ImageFillStretch
	r.overlay.ScaleMode = canvas.ImageScalePixels
	r.box = canvas.NewRectangle(color.Transparent)
	r.box.StrokeColor = BoxColor
	r.box.StrokeWidth = 1.5
	r.box.Hide()
	r.brush = canvas.NewCircle(color.Transparent)
	r.brush.StrokeColor = BrushColor
	r.brush.StrokeWidth = 1.5
	r.brush.Hide()
	r.trail = canvas.NewRaster(r.drawTrail)
	r.trail.Hide()
	r.hLine = canvas.NewLine(viewer.CrosshairColor)
	r.vLine = canvas.NewLine(viewer.CrosshairColor)
	l, rt, t, b := v.plane.Letters()
	for n, s := range []string{l, rt, t, b} {
		// A dark box keeps the letter legible where a crosshair line or
		// bright anatomy passes under it.
		r.letterBg[n] = canvas.NewRectangle(color.NRGBA{A: 160})
		r.letterBg[n].CornerRadius = 3
		r.letters[n] = canvas.NewText(s, LetterColor)
		r.letters[n].TextStyle.Bold = true
		r.letters[n].TextSize = theme.TextSize() * 1.3
	}
	r.titleBg = canvas.NewRectangle(color.NRGBA{A: 160})
	r.labelBg = canvas.NewRectangle(color.NRGBA{A: 160})
	r.title = canvas.NewText(v.title, v.titleColor)
	r.title.TextStyle.Bold = true
	r.label = canvas.NewText("", LabelColor)
	r.label.TextStyle.Monospace = true
	r.legend.set(v.legend)
	r.loading = canvas.NewText(LoadingText, LabelColor)
	r.loading.TextSize = theme.TextSize() * 1.6
	r.loading.Hide()
	v.r = r
	if v.img != nil {
		r.image.Image = v.img
	}
	r.setOverlay(v.ovl)
	r.updateAnnotations()
	r.updateFocus()
	return r
}

type renderer struct {
	v              *SliceView
	bg, border     *canvas.Rectangle
	image, overlay *canvas.Image
	hLine, vLine   *canvas.Line
	box            *canvas.Rectangle
	brush          *canvas.Circle
	trail          *canvas.Raster
	letters        [4]*canvas.Text
	letterBg       [4]*canvas.Rectangle
	titleBg        *canvas.Rectangle
	labelBg        *canvas.Rectangle
	title, label   *canvas.Text
	legend         legendObjects
	loading        *canvas.Text // shown, centred, while the slice has not arrived
}

func (r *renderer) Objects() []fyne.CanvasObject {
	objs := []fyne.CanvasObject{r.bg, r.image, r.overlay, r.hLine, r.vLine, r.box, r.trail, r.brush,
		r.letterBg[0], r.letterBg[1], r.letterBg[2], r.letterBg[3], r.titleBg, r.labelBg,
		r.letters[0], r.letters[1], r.letters[2], r.letters[3], r.title, r.label}
	objs = append(objs, r.legend.objects()...)
	return append(objs, r.loading, r.border)
}

func (r *renderer) Destroy() {}

func (r *renderer) MinSize() fyne.Size { return r.v.MinSize() }

func (r *renderer) setOverlay(img *image.RGBA) {
	if img == nil {
		r.overlay.Image = nil
		r.overlay.Hide()
		return
	}
	r.overlay.Image = img
	r.overlay.Move(r.v.ovlPos)
	r.overlay.Resize(r.v.ovlSize)
	r.overlay.Show()
	r.overlay.Refresh()
}

// layoutBrush places the brush cursor circle around the pointer.
func (r *renderer) layoutBrush() {
	v := r.v
	if v.BrushRadiusMM <= 0 || !v.hovering && !v.editing || v.scene == nil {
		r.brush.Hide()
		return
	}
	rad := float32(v.BrushRadiusMM) * v.MMToScreen()
	if rad <= 0 {
		r.brush.Hide()
		return
	}
	r.brush.Position1 = v.hoverPos.SubtractXY(rad, rad)
	r.brush.Position2 = v.hoverPos.AddXY(rad, rad)
	r.brush.Show()
	r.brush.Refresh()
}

// layoutTrail shows the path of an edit drag (scissors).
func (r *renderer) layoutTrail() {
	v := r.v
	if !v.editing || !v.EditTrail || len(v.trail) < 2 {
		r.trail.Hide()
		return
	}
	r.trail.Move(fyne.NewPos(0, 0))
	r.trail.Resize(v.Size())
	r.trail.Show()
	r.trail.Refresh()
}

// drawTrail rasterises the edit path as a polyline, one device pixel wide
// steps along each segment.
func (r *renderer) drawTrail(w, h int) image.Image {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	v := r.v
	if len(v.trail) < 2 || v.Size().Width <= 0 {
		return img
	}
	sc := float32(w) / v.Size().Width
	for n := 1; n < len(v.trail); n++ {
		a, b := v.trail[n-1], v.trail[n]
		steps := int(math.Max(math.Abs(float64(b.X-a.X)), math.Abs(float64(b.Y-a.Y)))*float64(sc)) + 1
		for s := 0; s <= steps; s++ {
			f := float32(s) / float32(steps)
			x, y := int((a.X+(b.X-a.X)*f)*sc), int((a.Y+(b.Y-a.Y)*f)*sc)
			for dy := -1; dy <= 1; dy++ {
				for dx := -1; dx <= 1; dx++ {
					img.SetNRGBA(x+dx, y+dy, BrushColor)
				}
			}
		}
	}
	return img
}

// layoutBox shows the rectangle being drawn in box mode.
func (r *renderer) layoutBox() {
	v := r.v
	if !v.boxing {
		r.box.Hide()
		return
	}
	x0, x1 := min(v.boxFrom.X, v.boxTo.X), max(v.boxFrom.X, v.boxTo.X)
	y0, y1 := min(v.boxFrom.Y, v.boxTo.Y), max(v.boxFrom.Y, v.boxTo.Y)
	r.box.Move(fyne.NewPos(x0, y0))
	r.box.Resize(fyne.NewSize(x1-x0, y1-y0))
	r.box.Show()
	r.box.Refresh()
}

func (r *renderer) updateAnnotations() {
	has := r.v.scene != nil
	for _, o := range []fyne.CanvasObject{r.image, r.hLine, r.vLine, r.letters[0], r.letters[1], r.letters[2], r.letters[3],
		r.letterBg[0], r.letterBg[1], r.letterBg[2], r.letterBg[3], r.label, r.labelBg} {
		if has {
			o.Show()
		} else {
			o.Hide()
		}
	}
	if r.v.hideLabel {
		r.label.Hide()
		r.labelBg.Hide()
	}
	if r.v.Loading() != r.loading.Visible() {
		if r.v.Loading() {
			r.loading.Show()
		} else {
			r.loading.Hide()
		}
		r.layoutLoading()
	}
	if txt := r.v.Label(); txt != r.label.Text {
		r.label.Text = txt
		r.label.Refresh()
		r.label.Resize(r.label.MinSize())
		r.labelBg.Resize(r.label.Size().AddWidthHeight(6, 2))
	}
}

func (r *renderer) updateFocus() {
	if r.v.focused {
		r.border.StrokeColor = FocusColor
	} else {
		r.border.StrokeColor = color.NRGBA{R: 60, G: 60, B: 60, A: 255}
	}
	r.border.Refresh()
}

func (r *renderer) Layout(size fyne.Size) {
	r.bg.Resize(size)
	r.border.Resize(size)
	const pad = 4
	pos, isz, ok := r.v.imageRect()
	if ok {
		r.image.Move(pos)
		r.image.Resize(isz)
		// The overlay layer is drawn for the visible part of the image at
		// device resolution: redraw it when that changed (resize, zoom,
		// pan).
		if _, _, k, ok := r.v.overlayGeometry(); ok && k != r.v.ovlKey && len(r.v.overlayList()) > 0 && !r.v.paused {
			r.v.renderOverlay()
		}
		w, h, _ := r.v.scene.Slicer().Dims(r.v.plane)
		scale := fyne.CurrentApp().Driver().CanvasForObject(r.v)
		dev := float32(1)
		if scale != nil {
			dev = scale.Scale()
		}
		mode := canvas.ImageScaleSmooth
		if isz.Width*dev/float32(w) >= pixelsAbove && isz.Height*dev/float32(h) >= pixelsAbove {
			mode = canvas.ImageScalePixels
		}
		if mode != r.image.ScaleMode {
			r.image.ScaleMode = mode
			r.image.Refresh()
		}
	}
	r.layoutCrosshair()
	r.layoutBrush()
	// Orientation letters at the middle of each edge of the view.
	ls := [4]fyne.Size{}
	for n, t := range r.letters {
		ls[n] = t.MinSize()
		t.Resize(ls[n])
	}
	r.letters[0].Move(fyne.NewPos(pad, (size.Height-ls[0].Height)/2))
	r.letters[1].Move(fyne.NewPos(size.Width-ls[1].Width-pad, (size.Height-ls[1].Height)/2))
	r.letters[2].Move(fyne.NewPos((size.Width-ls[2].Width)/2, pad/2))
	r.letters[3].Move(fyne.NewPos((size.Width-ls[3].Width)/2, size.Height-ls[3].Height-pad/2))
	for n, t := range r.letters {
		r.letterBg[n].Move(t.Position().SubtractXY(3, 1))
		r.letterBg[n].Resize(ls[n].AddWidthHeight(6, 2))
	}
	r.title.Resize(r.title.MinSize())
	r.title.Move(fyne.NewPos(pad+2, pad/2))
	// A title too long for the room left of the top orientation letter
	// goes below the letter's row rather than over the letter.
	topBottom := r.letterBg[2].Position().Y + r.letterBg[2].Size().Height
	if r.title.Position().X+r.title.Size().Width+3 > r.letterBg[2].Position().X-2 {
		r.title.Move(fyne.NewPos(pad+2, topBottom+3))
	}
	r.label.Resize(r.label.MinSize())
	r.label.Move(fyne.NewPos(pad+2, size.Height-r.label.MinSize().Height-pad/2))
	// Likewise a slice label too long for the room left of the bottom
	// letter (a narrow view) goes above the letter's row.
	if r.label.Position().X+r.label.Size().Width+3 > r.letterBg[3].Position().X-2 {
		r.label.Move(fyne.NewPos(pad+2, r.letterBg[3].Position().Y-r.label.Size().Height-4))
	}
	r.layoutLoading()
	for _, p := range [][2]fyne.CanvasObject{{r.title, r.titleBg}, {r.label, r.labelBg}} {
		p[1].Move(p[0].Position().SubtractXY(3, 1))
		p[1].Resize(p[0].Size().AddWidthHeight(6, 2))
	}
	r.layoutLegend(size)
}

// layoutLoading centres the loading text in the view.
func (r *renderer) layoutLoading() {
	ms := r.loading.MinSize()
	size := r.v.Size()
	r.loading.Resize(ms)
	r.loading.Move(fyne.NewPos((size.Width-ms.Width)/2, (size.Height-ms.Height)/2))
}

// layoutCrosshair places the two crosshair lines through the cursor voxel's
// centre; moving them is all an in-plane cursor change costs.
func (r *renderer) layoutCrosshair() {
	v := r.v
	if v.scene == nil {
		return
	}
	p := v.ScreenPosition(v.scene.Cursor())
	size := v.Size()
	r.hLine.Position1 = fyne.NewPos(0, p.Y)
	r.hLine.Position2 = fyne.NewPos(size.Width, p.Y)
	r.vLine.Position1 = fyne.NewPos(p.X, 0)
	r.vLine.Position2 = fyne.NewPos(p.X, size.Height)
	r.hLine.Refresh()
	r.vLine.Refresh()
}

func (r *renderer) Refresh() {
	if r.v.img != nil {
		r.image.Image = r.v.img
	}
	r.setOverlay(r.v.ovl)
	r.updateAnnotations()
	r.updateFocus()
	r.Layout(r.v.Size())
	r.image.Refresh()
	for _, t := range r.letters {
		t.Refresh()
	}
	r.title.Refresh()
}
