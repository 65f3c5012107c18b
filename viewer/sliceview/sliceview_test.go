package sliceview

import (
	"bytes"
	"image"
	"image/color"
	"image/draw"
	"math"
	"testing"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/driver/desktop"
	"fyne.io/fyne/v2/test"

	"github.com/liverseg/liverseg/viewer"
	"github.com/liverseg/liverseg/volume"
)

// synthetic builds a 64×48×20 volume (0.8×0.8×2.5 mm) whose values vary
// along all three axes, so that every slice of every plane differs.
func synthetic(t testing.TB) *viewer.Scene {
	t.Helper()
	v := volume.New(volume.Identity([3]int{64, 48, 20}, [3]float64{0.8, 0.8, 2.5}))
	for k := 0; k < 20; k++ {
		for j := 0; j < 48; j++ {
			for i := 0; i < 64; i++ {
				v.Voxels[v.Offset(i, j, k)] = int16(-200 + 3*i + 2*j + 15*k)
			}
		}
	}
	s, err := viewer.NewSlicer(v)
	if err != nil {
		t.Fatal(err)
	}
	return viewer.NewScene(s)
}

type rig struct {
	win   fyne.Window
	views [3]*SliceView
	scene *viewer.Scene
}

func newRig(t *testing.T) *rig {
	t.Helper()
	test.NewTempApp(t)
	r := &rig{scene: synthetic(t)}
	objs := make([]fyne.CanvasObject, 3)
	for n, p := range viewer.Planes {
		r.views[n] = New(p)
		r.views[n].SetScene(r.scene)
		objs[n] = r.views[n]
	}
	r.win = test.NewTempWindow(t, container.NewGridWithColumns(3, objs...))
	r.win.Resize(fyne.NewSize(900, 320))
	return r
}

// absPos is the canvas position of a point given in view coordinates.
func (r *rig) absPos(v *SliceView, p fyne.Position) fyne.Position {
	return fyne.CurrentApp().Driver().AbsolutePositionForObject(v).Add(p)
}

func capture(c fyne.Canvas, v *SliceView) []byte {
	img := c.Capture()
	pos := fyne.CurrentApp().Driver().AbsolutePositionForObject(v)
	sc := c.Scale()
	rect := image.Rect(int(pos.X*sc), int(pos.Y*sc), int((pos.X+v.Size().Width)*sc), int((pos.Y+v.Size().Height)*sc))
	out := image.NewRGBA(image.Rect(0, 0, rect.Dx(), rect.Dy()))
	draw.Draw(out, out.Rect, img, rect.Min, draw.Src)
	return out.Pix
}

func TestScrollChangesSliceAndPixels(t *testing.T) {
	r := newRig(t)
	ax := r.views[0]
	before, label := capture(r.win.Canvas(), ax), ax.Label()
	slice := ax.Slice()
	test.Scroll(r.win.Canvas(), r.absPos(ax, fyne.NewPos(150, 150)), 0, 10)
	if ax.Slice() != slice+1 {
		t.Fatalf("slice after wheel up = %d, want %d", ax.Slice(), slice+1)
	}
	if ax.Label() == label {
		t.Errorf("label did not change: %q", label)
	}
	if bytes.Equal(before, capture(r.win.Canvas(), ax)) {
		t.Error("displayed pixels did not change after scrolling")
	}
	// A tiny trackpad delta does nothing until deltas add up.
	test.Scroll(r.win.Canvas(), r.absPos(ax, fyne.NewPos(150, 150)), 0, -2)
	if ax.Slice() != slice+1 {
		t.Errorf("small delta moved a slice")
	}
	test.Scroll(r.win.Canvas(), r.absPos(ax, fyne.NewPos(150, 150)), 0, -25)
	if ax.Slice() != slice {
		t.Errorf("wheel down: slice %d, want %d", ax.Slice(), slice)
	}
	// Keys.
	ax.TypedKey(&fyne.KeyEvent{Name: fyne.KeyPageDown})
	ax.TypedKey(&fyne.KeyEvent{Name: fyne.KeyDown})
	if ax.Slice() != slice-2 {
		t.Errorf("after 2 × down: slice %d, want %d", ax.Slice(), slice-2)
	}
	ax.TypedKey(&fyne.KeyEvent{Name: fyne.KeyEnd})
	if ax.Slice() != 19 {
		t.Errorf("End: slice %d, want 19", ax.Slice())
	}
}

func TestClickMovesLinkedViews(t *testing.T) {
	r := newRig(t)
	ax, cor, sag := r.views[0], r.views[1], r.views[2]
	target := [3]int{10, 40, r.scene.Slice(viewer.Axial)}
	p := ax.ScreenPosition(target)
	corBefore := capture(r.win.Canvas(), cor)
	test.TapAt(ax, p)
	if got := r.scene.Cursor(); got != target {
		t.Fatalf("cursor after click = %v, want %v", got, target)
	}
	if cor.Slice() != 40 || sag.Slice() != 10 {
		t.Errorf("coronal slice %d (want 40), sagittal slice %d (want 10)", cor.Slice(), sag.Slice())
	}
	if bytes.Equal(corBefore, capture(r.win.Canvas(), cor)) {
		t.Error("coronal view pixels did not change")
	}
	// Crosshair lines in the sagittal view pass through the new point.
	sp := sag.ScreenPosition(target)
	if got := sag.r.vLine.Position1.X; math.Abs(float64(got-sp.X)) > 0.01 {
		t.Errorf("sagittal vertical line at x=%v, want %v", got, sp.X)
	}
	// Clicking in the coronal view at the superior edge moves axial to the top slice.
	top := cor.ScreenPosition([3]int{5, 40, 19})
	test.TapAt(cor, top)
	if ax.Slice() != 19 || sag.Slice() != 5 {
		t.Errorf("after coronal click: axial %d (want 19), sagittal %d (want 5)", ax.Slice(), sag.Slice())
	}
}

func TestWindowDragAndPreset(t *testing.T) {
	r := newRig(t)
	ax := r.views[0]
	before := capture(r.win.Canvas(), ax)
	r.scene.SetWindow(viewer.Presets[2].WL) // bone
	if bytes.Equal(before, capture(r.win.Canvas(), ax)) {
		t.Error("preset did not change the displayed pixels")
	}
	wl := r.scene.Window()
	ax.WindowDrag = true
	test.Drag(r.win.Canvas(), r.absPos(ax, fyne.NewPos(100, 100)), 60, -30)
	got := r.scene.Window()
	if !(got.Width > wl.Width) || !(got.Level < wl.Level) {
		t.Errorf("drag right/up: %v → %v, want wider and lower level", wl, got)
	}
	// Right-button drag arrives as mouse moves with the button held.
	ax.WindowDrag = false
	wl = got
	ax.MouseDown(&desktop.MouseEvent{Button: desktop.MouseButtonSecondary, PointEvent: fyne.PointEvent{Position: fyne.NewPos(100, 100)}})
	ax.MouseMoved(&desktop.MouseEvent{Button: desktop.MouseButtonSecondary, PointEvent: fyne.PointEvent{Position: fyne.NewPos(80, 130)}})
	ax.MouseUp(&desktop.MouseEvent{Button: desktop.MouseButtonSecondary})
	got = r.scene.Window()
	if !(got.Width < wl.Width) || !(got.Level > wl.Level) {
		t.Errorf("right drag left/down: %v → %v, want narrower and higher level", wl, got)
	}
}

func TestZoomPanAndAspect(t *testing.T) {
	r := newRig(t)
	cor := r.views[1]
	pos, size, ok := cor.imageRect()
	if !ok {
		t.Fatal("no image rect")
	}
	// 64×0.8 mm wide, 20×2.5 mm tall: the aspect follows millimetres, not voxels.
	if want := float32(64*0.8) / float32(20*2.5); math.Abs(float64(size.Width/size.Height-want)) > 0.01 {
		t.Errorf("coronal aspect %v, want %v", size.Width/size.Height, want)
	}
	cor.TypedRune('+')
	_, zs, _ := cor.imageRect()
	if math.Abs(float64(zs.Width/size.Width-1.25)) > 0.001 {
		t.Errorf("zoom in: width %v → %v, want ×1.25", size.Width, zs.Width)
	}
	cor.MouseDown(&desktop.MouseEvent{Button: desktop.MouseButtonTertiary})
	cursor := r.scene.Cursor()
	test.Drag(r.win.Canvas(), r.absPos(cor, fyne.NewPos(100, 100)), 20, 10)
	cor.MouseUp(&desktop.MouseEvent{})
	pp, _, _ := cor.imageRect()
	pos2 := fyne.NewPos(pos.X-(zs.Width-size.Width)/2+20, pos.Y-(zs.Height-size.Height)/2+10)
	if math.Abs(float64(pp.X-pos2.X)) > 0.01 || math.Abs(float64(pp.Y-pos2.Y)) > 0.01 {
		t.Errorf("after pan image at %v, want %v", pp, pos2)
	}
	if r.scene.Cursor() != cursor {
		t.Error("panning moved the crosshair")
	}
	cor.TypedRune('0')
	if p3, s3, _ := cor.imageRect(); p3 != pos || s3 != size {
		t.Errorf("reset: %v %v, want %v %v", p3, s3, pos, size)
	}
}

func TestHoverReadsVoxel(t *testing.T) {
	r := newRig(t)
	sag := r.views[2]
	var got viewer.Readout
	var inside bool
	sag.OnHover = func(_ *SliceView, rd viewer.Readout, in bool) { got, inside = rd, in }
	idx := [3]int{r.scene.Slice(viewer.Sagittal), 7, 3}
	test.MoveMouse(r.win.Canvas(), r.absPos(sag, sag.ScreenPosition(idx)))
	if !inside || got.Index != idx {
		t.Fatalf("hover readout %+v inside=%v, want index %v", got, inside, idx)
	}
	if want := int16(-200 + 3*idx[0] + 2*idx[1] + 15*idx[2]); got.HU != want {
		t.Errorf("HU %d, want %d", got.HU, want)
	}
	if want := [3]float64{float64(idx[0]) * 0.8, 7 * 0.8, 3 * 2.5}; math.Abs(got.Patient[0]-want[0]) > 1e-9 || math.Abs(got.Patient[1]-want[1]) > 1e-9 || math.Abs(got.Patient[2]-want[2]) > 1e-9 {
		t.Errorf("patient %v, want %v", got.Patient, want)
	}
	test.MoveMouse(r.win.Canvas(), r.absPos(sag, fyne.NewPos(2, 2)))
	if inside {
		t.Error("corner outside the image read as inside")
	}
}

func TestLettersAndEmptyView(t *testing.T) {
	test.NewTempApp(t)
	v := New(viewer.Sagittal)
	w := test.NewTempWindow(t, v)
	w.Resize(fyne.NewSize(300, 300))
	var txt []string
	for _, l := range v.r.letters {
		txt = append(txt, l.Text)
	}
	if got := txt[0] + txt[1] + txt[2] + txt[3]; got != "APSI" {
		t.Errorf("sagittal letters %q, want APSI", got)
	}
	if v.r.letters[0].Visible() || v.Slice() != -1 {
		t.Error("empty view shows letters or a slice")
	}
	// Events on an empty view do nothing (no panic).
	test.Scroll(w.Canvas(), fyne.NewPos(100, 100), 0, 10)
	test.TapAt(v, fyne.NewPos(100, 100))
	v.TypedKey(&fyne.KeyEvent{Name: fyne.KeyPageUp})
	v.SetScene(synthetic(t))
	if !v.r.letters[0].Visible() || v.Slice() < 0 {
		t.Error("view with a scene hides letters")
	}
}

func TestOverlayLayerOnly(t *testing.T) {
	r := newRig(t)
	ax := r.views[0]
	m := volume.NewMask(r.scene.Slicer().Volume().Geometry)
	for n := range m.Voxels {
		m.Voxels[n] = 1
	}
	o, err := viewer.NewMaskOverlay(r.scene.Slicer(), m, viewer.Style{Color: colorRed, Fill: 0.5, Outline: 1})
	if err != nil {
		t.Fatal(err)
	}
	grey := ax.Image()
	greyPix := append([]byte(nil), grey.Pix...)
	r.scene.SetOverlays(o)
	if !ax.r.overlay.Visible() || ax.ovl == nil {
		t.Fatal("overlay layer not shown")
	}
	// The layer is drawn at device resolution over the visible image, not
	// at the 64×48 voxel grid.
	w, h, _ := r.scene.Slicer().Dims(viewer.Axial)
	if b := ax.ovl.Bounds(); b.Dx() <= w || b.Dy() <= h {
		t.Errorf("overlay layer %v is not finer than the %d×%d voxels", b, w, h)
	}
	if ax.r.overlay.Size().Width <= 0 || ax.r.overlay.Position().X < 0 {
		t.Errorf("overlay placed at %v size %v", ax.r.overlay.Position(), ax.r.overlay.Size())
	}
	// Zooming redraws the layer for the new viewport.
	k := ax.ovlKey
	ax.ZoomBy(2, ax.centre())
	if ax.ovlKey == k {
		t.Error("zoom did not redraw the overlay layer")
	}
	if !bytes.Equal(greyPix, ax.Image().Pix) {
		t.Error("overlay change re-rendered the grey image")
	}
	r.scene.SetOverlays()
	if ax.r.overlay.Visible() {
		t.Error("overlay layer still shown with no overlays")
	}
}

var colorRed = color.NRGBA{R: 255, A: 255}

func TestHoverFollowsSliceChange(t *testing.T) {
	r := newRig(t)
	ax := r.views[0]
	var got viewer.Readout
	ax.OnHover = func(_ *SliceView, rd viewer.Readout, _ bool) { got = rd }
	p := r.absPos(ax, ax.ScreenPosition([3]int{20, 20, r.scene.Slice(viewer.Axial)}))
	test.MoveMouse(r.win.Canvas(), p)
	k := got.Index[2]
	test.Scroll(r.win.Canvas(), p, 0, 10)
	if got.Index[2] != k+1 {
		t.Errorf("readout slice after scrolling under a still pointer = %d, want %d", got.Index[2], k+1)
	}
}

func TestBoxModeDrag(t *testing.T) {
	r := newRig(t)
	ax := r.views[0]
	var got [2][3]int
	calls := 0
	ax.OnBox = func(_ *SliceView, a, b [3]int) { got = [2][3]int{a, b}; calls++ }
	k := ax.Slice()
	from := ax.ScreenPosition([3]int{10, 8, k})
	to := ax.ScreenPosition([3]int{40, 30, k})
	// Without box mode a drag moves the crosshair.
	test.Drag(r.win.Canvas(), r.absPos(ax, from), to.X-from.X, to.Y-from.Y)
	ax.DragEnd()
	if calls != 0 {
		t.Fatal("box reported outside box mode")
	}
	ax.BoxMode = true
	cursor := r.scene.Cursor()
	// As the desktop driver delivers a drag: the pointer's position and
	// the movement since the last event.
	mid := fyne.NewPos((from.X+to.X)/2, (from.Y+to.Y)/2)
	ax.Dragged(&fyne.DragEvent{PointEvent: fyne.PointEvent{Position: mid}, Dragged: fyne.NewDelta(mid.X-from.X, mid.Y-from.Y)})
	ax.Dragged(&fyne.DragEvent{PointEvent: fyne.PointEvent{Position: to}, Dragged: fyne.NewDelta(to.X-mid.X, to.Y-mid.Y)})
	if !ax.r.box.Visible() {
		t.Error("rectangle not shown while dragging")
	}
	ax.DragEnd()
	if calls != 1 || got != [2][3]int{{10, 8, k}, {40, 30, k}} {
		t.Errorf("box %v (%d calls), want {10 8 %d} {40 30 %d}", got, calls, k, k)
	}
	if ax.r.box.Visible() {
		t.Error("rectangle still shown after the drag")
	}
	if r.scene.Cursor() != cursor {
		t.Error("box drag moved the crosshair")
	}
}

func TestDragHook(t *testing.T) {
	r := newRig(t)
	ax := r.views[0]
	k := ax.Slice()
	from := ax.ScreenPosition([3]int{10, 8, k})
	mid := ax.ScreenPosition([3]int{20, 16, k})
	to := ax.ScreenPosition([3]int{30, 24, k})
	drag := func() {
		ax.Dragged(&fyne.DragEvent{PointEvent: fyne.PointEvent{Position: mid}, Dragged: fyne.NewDelta(mid.X-from.X, mid.Y-from.Y)})
		ax.Dragged(&fyne.DragEvent{PointEvent: fyne.PointEvent{Position: to}, Dragged: fyne.NewDelta(to.X-mid.X, to.Y-mid.Y)})
		ax.DragEnd()
	}
	var starts, moves, ends int
	var first, last [3]float64
	take := true
	ax.DragHook = func(_ *SliceView, at [3]float64, start, end bool) bool {
		switch {
		case start:
			starts++
			first = at
			return take
		case end:
			ends++
		default:
			moves++
			last = at
		}
		return true
	}
	cursor := r.scene.Cursor()
	drag()
	if starts != 1 || moves != 2 || ends != 1 {
		t.Fatalf("hook calls: %d starts, %d moves, %d ends; want 1, 2, 1", starts, moves, ends)
	}
	if math.Abs(first[0]-10) > 0.6 || math.Abs(first[1]-8) > 0.6 || math.Abs(last[0]-30) > 0.6 || math.Abs(last[1]-24) > 0.6 || int(math.Round(last[2])) != k {
		t.Errorf("hook saw %v → %v, want about (10, 8) → (30, 24) on slice %d", first, last, k)
	}
	if r.scene.Cursor() != cursor {
		t.Error("a drag the hook took moved the crosshair")
	}
	// A declined drag moves the crosshair as before.
	take, starts, moves = false, 0, 0
	drag()
	if starts != 1 || moves != 0 || r.scene.Cursor() == cursor {
		t.Errorf("declined drag: %d starts, %d moves, crosshair %v (was %v)", starts, moves, r.scene.Cursor(), cursor)
	}
}
