package app

import (
	"context"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"

	"github.com/liverseg/liverseg/dicomio"
	"github.com/liverseg/liverseg/inference"
	"github.com/liverseg/liverseg/internal/testsupport/testct"
	"github.com/liverseg/liverseg/internal/testsupport/thinct"
	"github.com/liverseg/liverseg/viewer"
	"github.com/liverseg/liverseg/viewer/sliceview"
)

// TestMain removes the thin-slice series written by the tests.
func TestMain(m *testing.M) { thinct.Main(m) }

// gate holds the reader back: slices for which pass returns false wait
// until open is called (or the test ends).
type gate struct {
	once sync.Once
	ch   chan struct{}
	pass func(k int) bool
}

func newGate(t *testing.T, pass func(k int) bool) *gate {
	g := &gate{ch: make(chan struct{}), pass: pass}
	t.Cleanup(g.open)
	return g
}

func (g *gate) open() { g.once.Do(func() { close(g.ch) }) }

func (g *gate) beforeRead(k int) {
	if !g.pass(k) {
		<-g.ch
	}
}

// uniform reports whether every pixel of a view's image is the grey a
// slice that has not arrived is drawn in.
func uniform(v *sliceview.SliceView) bool {
	img := v.Image()
	for i := 0; i < len(img.Pix); i += 4 {
		if img.Pix[i] != viewer.LoadingGrey || img.Pix[i+1] != viewer.LoadingGrey || img.Pix[i+2] != viewer.LoadingGrey {
			return false
		}
	}
	return true
}

// distinctGreys counts the grey levels of a view's image (anatomy has many).
func distinctGreys(v *sliceview.SliceView) int {
	seen := map[uint8]bool{}
	img := v.Image()
	for i := 0; i < len(img.Pix); i += 4 {
		seen[img.Pix[i]] = true
	}
	return len(seen)
}

// TestFirstImageBeforeSeriesLoaded holds the reader back after the
// middle slice: the axial view must show that slice, with the loading
// strip and Cancel, while coronal and sagittal say "loading…" and show no
// pixels; scrolling reaches slices that have not arrived (marked
// loading); once the reader goes on, every view fills in and the volume
// is exactly what dicomio.Load reads.
func TestFirstImageBeforeSeriesLoaded(t *testing.T) {
	study := testct.Abdomen(t)
	mid := study.Size[2] / 2
	g := newGate(t, func(k int) bool { return k == mid })
	u := newUI(t)
	u.shown.beforeRead = g.beforeRead
	shown := make(chan struct{}, 1)
	u.shown.onShown = func() { shown <- struct{}{} }
	done := make(chan error, 1)
	u.load.onDone = func(err error) { done <- err }
	u.Open(study.DICOM)
	waitFor(t, shown, time.Minute, "first image of "+study.Name)

	l := u.shown.l
	if l == nil {
		t.Fatal("the series is shown but no load is in progress")
	}
	if n, total := l.Count(); n != 1 || total != study.Size[2] {
		t.Fatalf("first image after %d of %d slices, want 1 of %d (only the middle one may have been read)", n, total, study.Size[2])
	}
	if u.load.dlg != nil {
		t.Error("the modal progress dialog still covers the views")
	}
	if !u.shown.strip.Visible() || !strings.Contains(u.shown.text.Text, "/") {
		t.Errorf("loading strip visible %v, text %q", u.shown.strip.Visible(), u.shown.text.Text)
	}
	var cancel *widget.Button
	for _, o := range test.LaidOutObjects(u.shown.strip) {
		if b, ok := o.(*widget.Button); ok && b.Text == "Cancel" {
			cancel = b
		}
	}
	if cancel == nil || !cancel.Visible() {
		t.Error("the loading strip has no Cancel button")
	}
	ax, co, sa := u.views[0], u.views[1], u.views[2]
	if ax.Slice() != mid || ax.Loading() || distinctGreys(ax) < 20 {
		t.Errorf("axial view: slice %d (want %d), loading %v, %d grey levels (want the anatomy of the middle slice)", ax.Slice(), mid, ax.Loading(), distinctGreys(ax))
	}
	for _, v := range []*sliceview.SliceView{co, sa} {
		if !v.Loading() || !uniform(v) || !strings.Contains(v.Label(), sliceview.LoadingText) {
			t.Errorf("%s view before the series has arrived: loading %v, uniform %v, label %q; want a loading state and no pixels", v.Plane(), v.Loading(), uniform(v), v.Label())
		}
	}
	// Scrolling works on what has loaded and shows the rest as loading.
	ax.Scrolled(&fyne.ScrollEvent{Scrolled: fyne.Delta{DY: 10}}) // one wheel notch
	if ax.Slice() == mid {
		t.Fatal("scrolling the axial view did not change the slice")
	}
	if !ax.Loading() || !uniform(ax) || !strings.Contains(ax.Label(), sliceview.LoadingText) {
		t.Errorf("axial slice %d has not arrived: loading %v, uniform %v, label %q", ax.Slice(), ax.Loading(), uniform(ax), ax.Label())
	}
	if r := u.scene.ReadAt([3]float64{100, 100, float64(ax.Slice())}); r.Inside {
		t.Errorf("a voxel of a slice not yet read reads %d HU", r.HU)
	}
	ax.Scrolled(&fyne.ScrollEvent{Scrolled: fyne.Delta{DY: -10}})
	if ax.Slice() != mid || ax.Loading() {
		t.Errorf("back on the middle slice: slice %d, loading %v", ax.Slice(), ax.Loading())
	}

	g.open()
	if err := waitFor(t, done, 2*time.Minute, "the rest of the series"); err != nil {
		t.Fatal(err)
	}
	if u.shown.l != nil || u.shown.strip.Visible() {
		t.Error("the loading strip is still there after the last slice")
	}
	for _, v := range u.views {
		if v.Loading() || uniform(v) || strings.Contains(v.Label(), sliceview.LoadingText) {
			t.Errorf("%s view after loading: loading %v, uniform %v, label %q", v.Plane(), v.Loading(), uniform(v), v.Label())
		}
	}
	want, _, err := dicomio.LoadPath(context.Background(), study.DICOM, nil)
	if err != nil {
		t.Fatal(err)
	}
	if u.vol.Size != want.Size || len(u.vol.Voxels) != len(want.Voxels) {
		t.Fatalf("volume %v, dicomio.Load gives %v", u.vol.Size, want.Size)
	}
	for i := range want.Voxels {
		if u.vol.Voxels[i] != want.Voxels[i] {
			t.Fatalf("voxel %d: %d shown, %d loaded", i, u.vol.Voxels[i], want.Voxels[i])
		}
	}
	if len(u.vol.Info.SOPInstanceUIDs) != want.Size[2] || u.vol.Info.SeriesInstanceUID != want.Info.SeriesInstanceUID {
		t.Errorf("Info: %d SOP UIDs, series %q; want %d, %q", len(u.vol.Info.SOPInstanceUIDs), u.vol.Info.SeriesInstanceUID, want.Size[2], want.Info.SeriesInstanceUID)
	}
}

// TestOutlineBeforeSeriesLoaded: with the real models, the student runs
// as soon as the slices it reads have arrived, while the reader is held
// back from every other slice; its probability map is bit for bit the one
// a run on the whole volume gives.
func TestOutlineBeforeSeriesLoaded(t *testing.T) {
	if testing.Short() {
		t.Skip("writes a 310-slice series")
	}
	dir, real := testModels(t)
	if !real {
		t.Skip("needs the shipped student model (models/student.json)")
	}
	series, src, err := thinct.Series(310)
	if err != nil {
		t.Fatal(err)
	}
	cat, err := dicomio.Scan(context.Background(), []string{series}, nil)
	if err != nil {
		t.Fatal(err)
	}
	u, runDone, _ := segUI(t, dir)
	card, _ := u.seg.reg.Card(AutoModel)
	geo := cat.Series[0].Geometry()
	model := inference.SlicesRead(geo, card.Preprocessing)
	if len(model) == 0 || len(model) > geo.Size[2]/3 {
		t.Fatalf("the student reads %d of %d slices; want a few", len(model), geo.Size[2])
	}
	first := map[int]bool{geo.Size[2] / 2: true}
	for _, k := range model {
		first[k] = true
	}
	g := newGate(t, func(k int) bool { return first[k] })
	u.shown.beforeRead = g.beforeRead
	done := make(chan error, 1)
	u.load.onDone = func(err error) { done <- err }
	u.Open(series)
	if err := waitRun(t, runDone); err != nil {
		t.Fatalf("automatic run on %s at 310 slices: %v", src, err)
	}
	if u.shown.l == nil {
		t.Fatal("the overlay came after the series had loaded")
	}
	n, total := u.shown.l.Count()
	if n != len(first) || total != 310 {
		t.Errorf("overlay after %d of %d slices, want the %d the student reads and the middle one", n, total, len(first))
	}
	if u.seg.ovl == nil || u.seg.res == nil {
		t.Fatal("no overlay after the run")
	}
	early := u.seg.res.Prob
	g.open()
	if err := waitFor(t, done, 2*time.Minute, "the rest of the series"); err != nil {
		t.Fatal(err)
	}
	full, err := u.seg.reg.Run(context.Background(), u.vol, AutoModel, card.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	if full.Prob.Size != early.Size {
		t.Fatalf("probability grid %v early, %v on the whole volume", early.Size, full.Prob.Size)
	}
	for i := range full.Prob.Data {
		if full.Prob.Data[i] != early.Data[i] {
			t.Fatalf("probability %d: %g before the series had loaded, %g after", i, early.Data[i], full.Prob.Data[i])
		}
	}
}

// heapInUse is the live Go heap after two collections.
func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// TestCancelShownLoadFreesMemory cancels a 1000-slice series (500 MB of
// voxels) while it is shown and loading: the study closes and its memory
// is released.
func TestCancelShownLoadFreesMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("writes a 1000-slice series")
	}
	series, _, err := thinct.Series(1000)
	if err != nil {
		t.Fatal(err)
	}
	u := newUI(t)
	// Paced so that the load is still running when Cancel is pressed.
	u.shown.beforeRead = func(int) { time.Sleep(3 * time.Millisecond) }
	shown := make(chan struct{}, 1)
	u.shown.onShown = func() { shown <- struct{}{} }
	done := make(chan error, 1)
	u.load.onDone = func(err error) { done <- err }
	base := heapInUse()
	u.Open(series)
	waitFor(t, shown, 2*time.Minute, "first image of the 1000-slice series")
	l := u.shown.l
	volBytes := uint64(len(u.vol.Voxels) * 2)
	during := heapInUse()
	var cancel *widget.Button
	for _, o := range test.LaidOutObjects(u.shown.strip) {
		if b, ok := o.(*widget.Button); ok && b.Text == "Cancel" {
			cancel = b
		}
	}
	if cancel == nil {
		t.Fatal("no Cancel on the loading strip")
	}
	if n, total := l.Count(); n >= total {
		t.Fatalf("the load ended (%d/%d) before Cancel could be pressed", n, total)
	}
	test.Tap(cancel)
	if err := waitFor(t, done, time.Minute, "cancelled load"); err != context.Canceled {
		t.Fatalf("cancel: %v", err)
	}
	waitFor(t, l.Done(), time.Minute, "the reader to stop")
	sleepPumping(200 * time.Millisecond)
	if u.vol != nil || u.scene != nil || u.shown.l != nil || u.shown.strip.Visible() || !u.empty.Visible() {
		t.Errorf("after Cancel: volume %v, scene %v, load %v, strip %v, empty state %v", u.vol != nil, u.scene != nil, u.shown.l != nil, u.shown.strip.Visible(), u.empty.Visible())
	}
	for _, v := range u.views {
		if v.Scene() != nil {
			t.Errorf("%s view still shows the cancelled study", v.Plane())
		}
	}
	if l.Volume() != nil {
		t.Error("the cancelled load still holds its volume")
	}
	after := heapInUse()
	t.Logf("live heap: %d MB before opening, %d MB while shown, %d MB after Cancel (volume %d MB)", base>>20, during>>20, after>>20, volBytes>>20)
	if during < after+volBytes-32<<20 || after > base+64<<20 {
		t.Errorf("the %d MB volume was not released: live heap %d MB before opening, %d MB while shown, %d MB after Cancel", volBytes>>20, base>>20, during>>20, after>>20)
	}
	if !strings.Contains(u.status.Text, "cancelled") {
		t.Errorf("status %q", u.status.Text)
	}
}
