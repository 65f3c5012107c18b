package app

import (
	"bytes"
	"context"
	"image"
	"image/draw"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/storage"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"

	"github.com/liverseg/liverseg/dicomio"
	"github.com/liverseg/liverseg/internal/testsupport/testct"
	"github.com/liverseg/liverseg/phantom"
	"github.com/liverseg/liverseg/viewer"
	"github.com/liverseg/liverseg/viewer/sliceview"
	"github.com/liverseg/liverseg/volume"
)

// synthetic is a 60×50×24 CT-like volume (0.75×0.75×2.5 mm) whose values vary
// along every axis, so every slice of every plane looks different.
func synthetic() *volume.Volume {
	v := volume.New(volume.Identity([3]int{60, 50, 24}, [3]float64{0.75, 0.75, 2.5}))
	for k := 0; k < 24; k++ {
		for j := 0; j < 50; j++ {
			for i := 0; i < 60; i++ {
				v.Voxels[v.Offset(i, j, k)] = int16(-300 + 4*i + 3*j + 20*k)
			}
		}
	}
	v.Info = volume.Info{Source: "synthetic", PatientName: "Phantom^Test", SeriesDescription: "synthetic CT", Modality: "CT"}
	return v
}

func newUI(t *testing.T) *UI {
	t.Helper()
	a := test.NewTempApp(t)
	u := New(a)
	t.Cleanup(func() { endUI(u) })
	t.Cleanup(u.win.Close)
	u.win.Resize(fyne.NewSize(1200, 800))
	return u
}

// viewPixels captures what the canvas shows inside a view.
func viewPixels(u *UI, v *sliceview.SliceView) []byte {
	img := u.win.Canvas().Capture()
	pos := fyne.CurrentApp().Driver().AbsolutePositionForObject(v)
	s := u.win.Canvas().Scale()
	r := image.Rect(int(pos.X*s), int(pos.Y*s), int((pos.X+v.Size().Width)*s), int((pos.Y+v.Size().Height)*s))
	out := image.NewRGBA(image.Rect(0, 0, r.Dx(), r.Dy()))
	draw.Draw(out, out.Rect, img, r.Min, draw.Src)
	return out.Pix
}

func abs(v *sliceview.SliceView, p fyne.Position) fyne.Position {
	return fyne.CurrentApp().Driver().AbsolutePositionForObject(v).Add(p)
}

func TestEmptyWindowOffersOpen(t *testing.T) {
	u := newUI(t)
	if u.viewerArea.Visible() || !u.empty.Visible() {
		t.Fatal("empty window should show the open prompt, not the views")
	}
	var texts []string
	for _, o := range test.LaidOutObjects(u.win.Content()) {
		if b, ok := o.(*widget.Button); ok && b.Visible() {
			texts = append(texts, b.Text)
		}
	}
	if !strings.Contains(strings.Join(texts, "|"), "Open folder") || !strings.Contains(strings.Join(texts, "|"), "Open file") {
		t.Errorf("buttons %q lack Open folder / Open file", texts)
	}
}

func TestSyntheticStudy(t *testing.T) {
	u := newUI(t)
	if err := u.ShowVolume(synthetic()); err != nil {
		t.Fatal(err)
	}
	if !u.viewerArea.Visible() || u.empty.Visible() {
		t.Fatal("views not shown")
	}
	ax, cor, sag := u.views[0], u.views[1], u.views[2]
	c := u.win.Canvas()

	// Scrolling changes the slice shown: pixels and label.
	before, label, status := viewPixels(u, ax), ax.Label(), u.cursorInfo.Text
	test.Scroll(c, abs(ax, fyne.NewPos(ax.Size().Width/2, ax.Size().Height/2)), 0, 10)
	if ax.Slice() != 13 {
		t.Errorf("axial slice after one notch = %d, want 13", ax.Slice())
	}
	if ax.Label() == label || !strings.Contains(ax.Label(), "14/24") {
		t.Errorf("label %q → %q, want 14/24", label, ax.Label())
	}
	if bytes.Equal(before, viewPixels(u, ax)) {
		t.Error("scrolling did not change the displayed pixels")
	}
	if u.cursorInfo.Text == status || !strings.Contains(u.cursorInfo.Text, "Axi 14/24") {
		t.Errorf("status line %q does not show the new slice", u.cursorInfo.Text)
	}

	// A click in the axial view moves the other views to that point.
	corBefore := viewPixels(u, cor)
	test.TapAt(ax, ax.ScreenPosition([3]int{7, 41, 13}))
	if cor.Slice() != 41 || sag.Slice() != 7 {
		t.Errorf("after click: coronal %d (want 41), sagittal %d (want 7)", cor.Slice(), sag.Slice())
	}
	if bytes.Equal(corBefore, viewPixels(u, cor)) {
		t.Error("coronal pixels unchanged after the click")
	}

	// A preset changes the rendered pixels and the W/L label.
	before, wl := viewPixels(u, ax), u.wlLabel.Text
	u.presets.SetSelected(windowOption(t, u, "Lung"))
	if got := u.scene.Window(); got != (viewer.WindowLevel{Width: 1500, Level: -600}) {
		t.Errorf("window after lung preset = %v", got)
	}
	if u.wlLabel.Text == wl || u.wlLabel.Text != "W 1500 L -600" {
		t.Errorf("W/L label %q → %q", wl, u.wlLabel.Text)
	}
	if bytes.Equal(before, viewPixels(u, ax)) {
		t.Error("preset did not change the displayed pixels")
	}
	// Dragging the window leaves the presets ("Custom").
	u.wlDrag.SetChecked(true)
	test.Drag(c, abs(ax, fyne.NewPos(100, 100)), 40, 0)
	if u.presets.Selected != "" || strings.Contains(u.wlLabel.Text, "1500") {
		t.Errorf("after a W/L drag: preset %q, label %q", u.presets.Selected, u.wlLabel.Text)
	}

	// Hover shows HU and LPS position in the status line.
	test.MoveMouse(c, abs(sag, sag.ScreenPosition([3]int{7, 10, 5})))
	want := "HU " + strconv.Itoa(-300+4*7+3*10+20*5)
	if !strings.Contains(u.status.Text, want) || !strings.Contains(u.status.Text, "LPS (5.2, 7.5, 12.5) mm") || !strings.Contains(u.status.Text, "voxel (7, 10, 5)") {
		t.Errorf("hover status %q, want %s, LPS (5.2, 7.5, 12.5) mm and voxel (7, 10, 5)", u.status.Text, want)
	}

	// Keys typed on the canvas go to the last used view (sagittal was not clicked: axial).
	s := u.active.Slice()
	u.win.Canvas().(test.WindowlessCanvas).OnTypedKey()(&fyne.KeyEvent{Name: fyne.KeyPageDown})
	if u.active.Slice() != s-1 {
		t.Errorf("Page Down on canvas: slice %d, want %d", u.active.Slice(), s-1)
	}
	test.TypeOnCanvas(c, "+")
	if u.active.Zoom() <= 1 {
		t.Error("+ did not zoom")
	}
	u.ResetView()
	if u.active.Zoom() != 1 {
		t.Error("reset view did not reset zoom")
	}
}

func TestWarningsVisible(t *testing.T) {
	u := newUI(t)
	v := synthetic()
	v.Info.Warnings = []string{"uneven slice spacing: 2.5 to 5.0 mm"}
	if err := u.ShowVolume(v); err != nil {
		t.Fatal(err)
	}
	if !u.banner.Visible() || !strings.Contains(u.bannerText.Text, "uneven slice spacing") {
		t.Errorf("banner visible=%v text %q", u.banner.Visible(), u.bannerText.Text)
	}
	if !strings.Contains(u.warnText.Text, "uneven slice spacing") {
		t.Errorf("study panel warnings %q", u.warnText.Text)
	}
	// An oblique volume gets the nearest-axes note.
	ob := synthetic()
	ob.Direction = [3][3]float64{{1, 0, 0}, {0, 0.94, -0.342}, {0, 0.342, 0.94}}
	if err := u.ShowVolume(ob); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(u.bannerText.Text, "Oblique") {
		t.Errorf("oblique volume banner %q", u.bannerText.Text)
	}
	if err := u.ShowVolume(synthetic()); err != nil {
		t.Fatal(err)
	}
	if u.banner.Visible() {
		t.Error("banner still visible for a volume without warnings")
	}
}

// openAndWait opens paths and waits for the load to finish (or the picker).
func openAndWait(t *testing.T, u *UI, paths ...string) error {
	t.Helper()
	done := make(chan error, 1)
	u.load.onDone = func(err error) { done <- err }
	u.load.onPicker = func() { done <- errPicker }
	u.Open(paths...)
	return waitFor(t, done, 2*time.Minute, "load of "+strings.Join(paths, ", "))
}

var errPicker = context.DeadlineExceeded // a sentinel: the picker is showing

// TestOpenRealDICOM opens the DICOM series of an abdominal CT (chaos_ct01,
// or the phantom where ../shared/data is absent) in the window.
func TestOpenRealDICOM(t *testing.T) {
	study := testct.Abdomen(t)
	dir := study.DICOM
	u := newUI(t)
	if err := openAndWait(t, u, dir); err != nil {
		t.Fatalf("open %s: %v", dir, err)
	}
	if u.scene == nil {
		t.Fatal("no volume shown")
	}
	n := study.Size
	if files, err := os.ReadDir(dir); err != nil || len(files) != n[2] {
		t.Fatalf("%s: %d files (%v), the study has %d slices", dir, len(files), err, n[2])
	}
	if got := u.scene.Slicer().Size(); got != n {
		t.Errorf("size %v, want %v", got, n)
	}
	if b := u.views[0].Image().Bounds(); b.Dx() != n[0] || b.Dy() != n[1] {
		t.Errorf("axial image %v, want %d×%d", b, n[0], n[1])
	}
	// Coronal aspect is physical: columns × column spacing wide, slices ×
	// slice spacing tall.
	cor := u.views[1]
	sz := cor.ScreenPosition([3]int{n[0] - 1, 0, 0}).Subtract(cor.ScreenPosition([3]int{0, 0, n[2] - 1}))
	sp := u.vol.Spacing
	if want := float32(float64(n[0]-1)*sp[0]) / float32(float64(n[2]-1)*sp[2]); abs32(sz.X/sz.Y-want) > 0.02*want {
		t.Errorf("coronal aspect %v, want %v", sz.X/sz.Y, want)
	}
	patient := "CHAOS"
	if !study.Real {
		patient = strings.ReplaceAll(phantom.PatientName, "^", " ") // DICOM name parts, shown with spaces
	}
	if !strings.Contains(u.win.Title(), patient) {
		t.Errorf("title %q lacks the patient name %q", u.win.Title(), patient)
	}
	// Air outside the body is dark and the liver window changes the pixels.
	before := viewPixels(u, u.views[0])
	u.presets.SetSelected(windowOption(t, u, "Liver, unenhanced"))
	if bytes.Equal(before, viewPixels(u, u.views[0])) {
		t.Error("liver preset did not change the pixels")
	}
	if r := u.scene.ReadAt([3]float64{3, 3, float64(n[2] / 2)}); !r.Inside || r.HU > -500 {
		t.Errorf("corner voxel %+v: want air (< −500 HU)", r)
	}
}

func abs32(f float32) float32 {
	if f < 0 {
		return -f
	}
	return f
}

// writeSeries writes a small synthetic series with dicomio's writer, so the
// picker test runs real DICOM files through the real scanner.
func writeSeries(t *testing.T, dir, desc string, n int, seriesNo int) {
	t.Helper()
	v := volume.New(volume.Identity([3]int{16, 12, n}, [3]float64{1, 1, 2}))
	for i := range v.Voxels {
		v.Voxels[i] = int16(i % 300)
	}
	err := dicomio.WriteSeries(dir, v, dicomio.SeriesOptions{
		PatientName: "Picker^Test", PatientID: "P1", StudyDate: "20240102",
		SeriesDescription: desc, SeriesNumber: seriesNo, UIDSeed: "picker-test",
		StudyInstanceUID: dicomio.HashUID("picker-study"), SeriesInstanceUID: dicomio.HashUID("picker", desc)})
	if err != nil {
		t.Fatal(err)
	}
}

func TestSeriesPicker(t *testing.T) {
	root := t.TempDir()
	writeSeries(t, filepath.Join(root, "a"), "thin venous", 6, 2)
	writeSeries(t, filepath.Join(root, "b"), "thick arterial", 4, 3)
	u := newUI(t)
	if err := openAndWait(t, u, root); err != errPicker {
		t.Fatalf("open folder with two series: %v, want the series picker", err)
	}
	if u.load.picker == nil {
		t.Fatal("no picker dialog")
	}
	// The picker lists both series with their columns.
	u.win.Canvas().Capture() // lay out the table's visible cells
	var cells []string
	for _, o := range test.LaidOutObjects(u.win.Canvas().Overlays().Top()) {
		if l, ok := o.(*widget.Label); ok {
			cells = append(cells, l.Text)
		}
	}
	all := strings.Join(cells, "|")
	for _, want := range []string{"thin venous", "thick arterial", "Picker Test", "2024-01-02", "Slices", "Thickness"} {
		if !strings.Contains(all, want) {
			t.Errorf("picker lacks %q: %s", want, all)
		}
	}
	// Each row gets its series' thumbnail, made in the background: the
	// 16×12 slices of 1 mm pixels keep their aspect (128×96 at twice the
	// picker's 64 px, for HiDPI screens).
	waitIdle(t, &u.load.thumbs, "picker thumbnails")
	u.win.Canvas().Capture()
	made := map[image.Image]bool{}
	for _, img := range u.load.thumbImg {
		if sz := img.Bounds().Size(); sz != (image.Point{128, 96}) {
			t.Errorf("thumbnail %v, want 128×96", sz)
		}
		made[img] = true
	}
	shown := map[*canvas.Image]bool{}
	for _, o := range test.LaidOutObjects(u.win.Canvas().Overlays().Top()) {
		if img, ok := o.(*canvas.Image); ok && made[img.Image] {
			shown[img] = true
		}
	}
	if len(made) != 2 || len(shown) != 2 {
		t.Errorf("%d thumbnails made, %d rows show one, want 2 and 2", len(made), len(shown))
	}
	// Choose the second row and press Open.
	var open *widget.Button
	for _, o := range test.LaidOutObjects(u.win.Canvas().Overlays().Top()) {
		if b, ok := o.(*widget.Button); ok && b.Text == "Open" {
			open = b
		}
	}
	if open == nil || u.load.pickList == nil {
		t.Fatal("picker has no list or Open button")
	}
	u.load.pickList.Select(1)
	done := make(chan error, 1)
	u.load.onDone = func(err error) { done <- err }
	test.Tap(open)
	if err := waitFor(t, done, time.Minute, "series load"); err != nil {
		t.Fatal(err)
	}
	if u.scene == nil {
		t.Fatal("no volume after picking")
	}
	n := u.scene.Slicer().Size()[2]
	if n != 4 && n != 6 {
		t.Errorf("loaded %d slices, want one of the two series", n)
	}
}

func TestOpenErrorsNameTheFile(t *testing.T) {
	dir := t.TempDir()
	junk := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(junk, []byte("not a DICOM file"), 0o644); err != nil {
		t.Fatal(err)
	}
	badNii := filepath.Join(dir, "broken.nii.gz")
	if err := os.WriteFile(badNii, []byte("garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{dir, junk, badNii, filepath.Join(dir, "missing")} {
		u := newUI(t)
		err := openAndWait(t, u, p)
		if err == nil {
			t.Errorf("%s: opened without error", p)
			continue
		}
		if u.load.lastErr == nil || !strings.Contains(u.load.lastErr.Error(), filepath.Base(p)) {
			t.Errorf("%s: error dialog %v does not name the file", p, u.load.lastErr)
		}
		if u.win.Canvas().Overlays().Top() == nil {
			t.Errorf("%s: no error dialog shown", p)
		}
		if u.scene != nil {
			t.Errorf("%s: a volume is shown after an error", p)
		}
	}
}

func TestCancelLoad(t *testing.T) {
	dir := testct.Abdomen(t).DICOM
	u := newUI(t)
	done := make(chan error, 1)
	u.load.onDone = func(err error) { done <- err }
	u.Open(dir)
	if u.load.dlg == nil {
		t.Fatal("no progress dialog while loading")
	}
	u.CancelLoad()
	if err := waitFor(t, done, time.Minute, "cancelled load"); err != context.Canceled {
		t.Fatalf("cancel: %v", err)
	}
	// Let the abandoned goroutine finish; its late result must be dropped.
	sleepPumping(500 * time.Millisecond)
	if u.scene != nil || u.load.dlg != nil || !strings.Contains(u.status.Text, "cancelled") {
		t.Errorf("after cancel: scene %v, dialog %v, status %q", u.scene != nil, u.load.dlg != nil, u.status.Text)
	}
}

func TestMainRejectsBadArgs(t *testing.T) {
	if got := Main([]string{"a", "b"}); got != 2 {
		t.Errorf("two paths: exit %d, want 2", got)
	}
	if got := Main([]string{"--bogus"}); got != 2 {
		t.Errorf("unknown flag: exit %d, want 2", got)
	}
	if got := Main([]string{filepath.Join(t.TempDir(), "nope")}); got != 2 {
		t.Errorf("missing path: exit %d, want 2", got)
	}
	// No display: a one-line reason and exit 2, not a GLFW panic.
	t.Setenv("DISPLAY", "")
	t.Setenv("WAYLAND_DISPLAY", "")
	if got := Main(nil); got != 2 {
		t.Errorf("no display: exit %d, want 2", got)
	}
}

// TestDropNIfTIMatchesDICOM drops a NIfTI conversion of the abdominal CT on
// the window (dcm2niix's of chaos_ct01, or the phantom's series written
// with its rows and slices reversed) and checks that all three views show
// exactly what the DICOM series shows: the same anatomy in the same place,
// whatever each file's voxel order.
func TestDropNIfTIMatchesDICOM(t *testing.T) {
	study := testct.Abdomen(t)
	u := newUI(t)
	if err := openAndWait(t, u, study.DICOM); err != nil {
		t.Fatal(err)
	}
	nii := abdomenNIfTI(t, study, u.vol)
	grid := u.vol.CanonicalGeometry()
	cursor := [3]int{300, 200, 30}
	u.scene.SetCursor(cursor)
	var fromDICOM [3][]byte
	for n, v := range u.views {
		fromDICOM[n] = append([]byte(nil), v.Image().Pix...)
	}
	done := make(chan error, 1)
	u.load.onDone = func(err error) { done <- err }
	u.dropped(fyne.Position{}, []fyne.URI{storage.NewFileURI(nii)})
	if err := waitFor(t, done, 2*time.Minute, "load of the dropped "+nii); err != nil {
		t.Fatalf("drop %s: %v", nii, err)
	}
	if !strings.HasSuffix(u.vol.Info.Source, "ct.nii.gz") {
		t.Errorf("source %q, want the dropped NIfTI", u.vol.Info.Source)
	}
	// The same place in space: the canonical grids agree.
	if got := u.vol.CanonicalGeometry(); got.Size != grid.Size || dist(got.Origin, grid.Origin) > 0.01 {
		t.Errorf("NIfTI canonical grid %v at %v, DICOM's %v at %v", got.Size, got.Origin, grid.Size, grid.Origin)
	}
	u.scene.SetCursor(cursor)
	for n, v := range u.views {
		if !bytes.Equal(fromDICOM[n], v.Image().Pix) {
			t.Errorf("%v: NIfTI and DICOM renderings differ", v.Plane())
		}
	}
}

// dist is the distance between two points in mm.
func dist(a, b [3]float64) float64 {
	return math.Sqrt((a[0]-b[0])*(a[0]-b[0]) + (a[1]-b[1])*(a[1]-b[1]) + (a[2]-b[2])*(a[2]-b[2]))
}

// TestProgressBar checks that worker progress reaches the bar, out-of-order
// reports never move it back, and Cancel closes the dialog.
func TestProgressBar(t *testing.T) {
	u := newUI(t)
	u.startLoad("Opening test")
	if u.load.dlg == nil || u.win.Canvas().Overlays().Top() == nil {
		t.Fatal("no progress dialog")
	}
	u.progress(30, 100)
	u.progress(10, 100) // a slower worker reporting late
	// The ticker moves the bar through the main-thread queue.
	waitUntil(t, time.Minute, "the bar", func() bool { return u.load.bar.Value >= 0.29 })
	if v := u.load.bar.Value; v < 0.29 || v > 0.31 || !u.load.bar.Visible() {
		t.Errorf("bar value %v visible %v, want 0.3 and visible", v, u.load.bar.Visible())
	}
	var cancel *widget.Button
	for _, o := range test.LaidOutObjects(u.win.Canvas().Overlays().Top()) {
		if b, ok := o.(*widget.Button); ok && b.Text == "Cancel" {
			cancel = b
		}
	}
	if cancel == nil {
		t.Fatal("progress dialog has no Cancel button")
	}
	test.Tap(cancel)
	if u.load.dlg != nil || !strings.Contains(u.status.Text, "cancelled") {
		t.Errorf("after Cancel: dialog %v, status %q", u.load.dlg != nil, u.status.Text)
	}
}
