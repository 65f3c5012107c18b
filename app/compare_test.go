package app

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/driver/desktop"

	"github.com/liverseg/liverseg/comparison"
	"github.com/liverseg/liverseg/inference"
	"github.com/liverseg/liverseg/internal/testsupport/testct"
	"github.com/liverseg/liverseg/viewer"
	"github.com/liverseg/liverseg/viewer/sliceview"
	"github.com/liverseg/liverseg/volume"
)

// cmpHooks are channels fed by the comparison's test hooks.
type cmpHooks struct {
	done   chan error
	export chan error
	runner *countingRunner // the real models, counted
}

// countingRunner runs the real models (the registry it wraps) and counts
// the runs: a cached comparison must not add any.
type countingRunner struct {
	modelRunner
	runs atomic.Int64
}

func (r *countingRunner) Run(ctx context.Context, v *volume.Volume, name string, o inference.Options) (*inference.Result, error) {
	r.runs.Add(1)
	return r.modelRunner.Run(ctx, v, name, o)
}

func hookCompare(u *UI) *cmpHooks {
	h := &cmpHooks{done: make(chan error, 8), export: make(chan error, 8)}
	h.runner = &countingRunner{modelRunner: u.seg.runner}
	u.seg.runner = h.runner
	c := u.cmp
	c.onDone = func(err error) { h.done <- err }
	c.onExport = func(_ []string, err error) { h.export <- err }
	return h
}

func wait[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	return waitFor(t, ch, 3*time.Minute, what)
}

// openCompare opens the abdominal CT (testct.Abdomen) with the shipped
// models, waits for the student's mask, and runs the comparison to the end
// (table included).
func openCompare(t *testing.T) (*UI, *cmpHooks, testct.Study) {
	t.Helper()
	u, _, postDone, real, study := openAbdomen(t)
	if !real {
		t.Skip("the shipped models are not in models/: the comparison needs teacher, assistant and students")
	}
	waitPost(t, postDone) // the panel's own student run is finished
	h := hookCompare(u)
	u.cmp.Compare()
	if err := wait(t, h.done, "comparison"); err != nil {
		t.Fatal(err)
	}
	waitIdle(t, &u.cmp.tableRun, "metrics table")
	return u, h, study
}

// colourPixels counts the pixels of a premultiplied image with alpha at
// least minA whose un-premultiplied colour is within tol of c.
func colourPixels(img *image.RGBA, c color.NRGBA, minA uint8, tol int) int {
	if img == nil {
		return 0
	}
	n := 0
	for i := 0; i+3 < len(img.Pix); i += 4 {
		a := img.Pix[i+3]
		if a < minA || a == 0 {
			continue
		}
		ok := true
		for k, want := range []uint8{c.R, c.G, c.B} {
			got := int(img.Pix[i+k]) * 255 / int(a)
			if d := got - int(want); d < -tol || d > tol {
				ok = false
				break
			}
		}
		if ok {
			n++
		}
	}
	return n
}

// viewImage is what the canvas shows inside a view.
func viewImage(u *UI, v *sliceview.SliceView) *image.RGBA {
	img := u.win.Canvas().Capture()
	pos := fyne.CurrentApp().Driver().AbsolutePositionForObject(v)
	s := u.win.Canvas().Scale()
	r := image.Rect(int(pos.X*s), int(pos.Y*s), int((pos.X+v.Size().Width)*s), int((pos.Y+v.Size().Height)*s))
	out := image.NewRGBA(image.Rect(0, 0, r.Dx(), r.Dy()))
	draw.Draw(out, out.Rect, img, r.Min, draw.Src)
	return out
}

func modelColour(name string) color.NRGBA { return nrgba(comparison.Color(name)) }

// TestCompareModes runs the four shipped models on the abdominal CT and checks
// what each mode shows, the cache, linked navigation, the disagreement
// jump, the export and that a new study clears the cache.
func TestCompareModes(t *testing.T) {
	u, h, study := openCompare(t)
	c := u.cmp
	names := u.cmp.compareNames()
	if len(names) < 4 || names[0] != "teacher" {
		t.Fatalf("models compared %v: want the teacher first and four models", names)
	}

	t.Run("results and table", func(t *testing.T) {
		if got := len(c.set.Entries()); got != len(names) {
			t.Fatalf("%d results, want %d", got, len(names))
		}
		// Every model ran in the comparison, the student too: its time in the
		// table is measured back to back with the others, not taken from the
		// automatic run at open (which overlaps the warm-up).
		if n := h.runner.runs.Load(); n != int64(len(names)) {
			t.Errorf("%d models ran, want %d", n, len(names))
		}
		rows := u.cmp.CompareRows()
		if len(rows) != len(names) || rows[0].Name != "teacher" {
			t.Fatalf("table rows %v", rowNames(rows))
		}
		if len(c.cols) != len(tableCols)-refCols {
			t.Errorf("%d columns without a reference, want %d", len(c.cols), len(tableCols)-refCols)
		}
		for i, r := range rows {
			for col := range c.cols {
				cell := u.cmp.CompareCell(i, col)
				if cell == "" || strings.Contains(cell, "NaN") || strings.Contains(cell, "Inf") {
					t.Errorf("row %s column %q: %q", r.Name, c.cols[col].title, cell)
				}
			}
			if r.Name == "teacher" {
				if got := u.cmp.CompareCell(i, 5); got != undefined {
					t.Errorf("teacher's Dice with itself shown as %q, want %q", got, undefined)
				}
				continue
			}
			d, err := strconv.ParseFloat(u.cmp.CompareCell(i, 5), 64)
			if err != nil || d < 0.5 || d > 1 {
				t.Errorf("%s: Dice against the teacher %q", r.Name, u.cmp.CompareCell(i, 5))
			}
			if ms, err := strconv.ParseFloat(u.cmp.CompareCell(i, 2), 64); err != nil || ms <= 0 {
				t.Errorf("%s: network time %q", r.Name, u.cmp.CompareCell(i, 2))
			}
		}
		if c.chart.Image == nil || c.chart.Image.Bounds().Dx() != chartW {
			t.Error("no chart beside the table")
		}
	})

	t.Run("cache hit runs nothing", func(t *testing.T) {
		if n := h.runner.runs.Load(); n != int64(len(names)) {
			t.Fatalf("the first comparison ran the models %d times, want %d", n, len(names))
		}
		last := c.run.Last()
		u.cmp.SetCompareMode(ModeSideBySide)
		u.cmp.Compare()
		select {
		case err := <-h.done:
			if err != nil {
				t.Fatal(err)
			}
		default:
			t.Fatal("a cached comparison did not finish at once")
		}
		if c.run.Last() != last || c.running || h.runner.runs.Load() != int64(len(names)) {
			t.Errorf("a cached comparison started a run (%d model runs in all)", h.runner.runs.Load())
		}
		for _, m := range compareModes {
			u.cmp.SetCompareMode(m)
		}
		// The disagreement map (computed in the background) is all that
		// the mode switches started; it arrives after the reader has
		// left the mode again, and must not be drawn over the outlines.
		u.cmp.SetCompareMode(ModeOverlay)
		waitIdle(t, &u.cmp.disRun, "disagreement map")
		if list, _ := c.tri[0].Overlays(); len(list) != len(names) {
			t.Errorf("a late disagreement map replaced the outlines: %d overlays in overlay mode", len(list))
		}
		if n := h.runner.runs.Load(); n != int64(len(names)) {
			t.Errorf("%d models ran again", n-int64(len(names)))
		}
	})

	t.Run("overlay", func(t *testing.T) {
		u.cmp.SetCompareMode(ModeOverlay)
		if list, _ := c.tri[0].Overlays(); len(list) != len(names) {
			t.Fatalf("overlay mode draws %d overlays, want one outline per model (%d)", len(list), len(names))
		}
		if !c.triBox.Visible() || c.sbsBox.Visible() || !c.ovlSide.Visible() {
			t.Fatal("overlay mode does not show the three views and the legend")
		}
		if n := len(c.ovlChecks.Objects); n != len(names) {
			t.Errorf("legend has %d entries, want %d", n, len(names))
		}
		ax := c.tri[0]
		for _, n := range names {
			if got := colourPixels(ax.Overlay(), modelColour(n), 250, 3); got < 20 {
				t.Errorf("%s's outline: %d pixels of its colour in the axial overlay", n, got)
			}
		}
		// On screen: the teacher's colour is in the axial view's pixels.
		if got := colourPixels(viewImage(u, ax), modelColour("teacher"), 255, 3); got < 20 {
			t.Errorf("teacher's outline not on screen (%d pixels)", got)
		}
		grey := append([]byte(nil), ax.Image().Pix...)
		u.cmp.SetModelShown("teacher", false)
		if got := colourPixels(ax.Overlay(), modelColour("teacher"), 250, 3); got != 0 {
			t.Errorf("teacher unticked, still %d pixels of its colour", got)
		}
		if got := colourPixels(ax.Overlay(), modelColour("student"), 250, 3); got < 20 {
			t.Errorf("student's outline lost when the teacher was hidden (%d)", got)
		}
		if !bytes.Equal(grey, ax.Image().Pix) {
			t.Error("toggling an outline re-rendered the CT image")
		}
		u.cmp.SetModelShown("teacher", true)
	})

	t.Run("side by side linked", func(t *testing.T) {
		u.cmp.SetCompareMode(ModeSideBySide)
		panels, shown := u.cmp.SideBySide()
		if !slices.Equal(shown, names) || len(panels) != len(names) {
			t.Fatalf("panels %v, want %v", shown, names)
		}
		for i, p := range panels {
			if p.Paused() || p.Plane() != viewer.Axial {
				t.Fatalf("panel %s paused %v plane %v", shown[i], p.Paused(), p.Plane())
			}
			if got := colourPixels(p.Overlay(), modelColour(shown[i]), 250, 3); got < 20 {
				t.Errorf("panel %s: %d pixels of its model's colour", shown[i], got)
			}
			for j, other := range names {
				if j != i && colourPixels(p.Overlay(), modelColour(other), 250, 3) > 0 {
					t.Errorf("panel %s shows %s's colour", shown[i], other)
				}
			}
		}
		if got := colourPixels(viewImage(u, panels[1]), modelColour(shown[1]), 255, 3); got < 20 {
			t.Errorf("panel %s: its contour is not on screen", shown[1])
		}
		same := func(what string) {
			t.Helper()
			for i := 1; i < len(panels); i++ {
				if panels[i].Slice() != panels[0].Slice() || !bytes.Equal(panels[i].Image().Pix, panels[0].Image().Pix) {
					t.Errorf("%s: panel %s shows slice %d, panel %s slice %d (or other pixels)", what, shown[i], panels[i].Slice(), shown[0], panels[0].Slice())
				}
				zi, pi := panels[i].ViewState()
				z0, p0 := panels[0].ViewState()
				if zi != z0 || pi != p0 {
					t.Errorf("%s: panel %s zoom %v pan %v, panel %s zoom %v pan %v", what, shown[i], zi, pi, shown[0], z0, p0)
				}
			}
		}
		// Scroll one panel: all show the next slice.
		before := panels[0].Slice()
		img0 := append([]byte(nil), panels[0].Image().Pix...)
		panels[2].Scrolled(&fyne.ScrollEvent{PointEvent: fyne.PointEvent{Position: fyne.NewPos(panels[2].Size().Width/2, panels[2].Size().Height/2)}, Scrolled: fyne.NewDelta(0, 20)})
		if panels[0].Slice() != before+1 {
			t.Errorf("scrolling panel 3 moved panel 1 from slice %d to %d", before, panels[0].Slice())
		}
		if bytes.Equal(img0, panels[0].Image().Pix) {
			t.Error("panel 1 was not re-rendered for the new slice")
		}
		same("scroll")
		// Zoom one: all zoom.
		panels[1].ZoomBy(2, fyne.NewPos(panels[1].Size().Width/2, panels[1].Size().Height/2))
		if z, _ := panels[3].ViewState(); z != 2 {
			t.Errorf("zooming panel 2 left panel 4 at zoom %v", z)
		}
		same("zoom")
		// Pan one (middle drag): all pan.
		panels[0].MouseDown(&desktop.MouseEvent{Button: desktop.MouseButtonTertiary})
		panels[0].Dragged(&fyne.DragEvent{Dragged: fyne.NewDelta(30, -12)})
		panels[0].MouseUp(&desktop.MouseEvent{})
		if _, p := panels[2].ViewState(); p == (fyne.Position{}) {
			t.Error("panning panel 1 did not pan panel 3")
		}
		same("pan")
		// Window/level (right drag) on one: all re-render with it.
		wl := u.scene.Window()
		img0 = append(img0[:0], panels[0].Image().Pix...)
		p := panels[3]
		p.MouseDown(&desktop.MouseEvent{Button: desktop.MouseButtonSecondary, PointEvent: fyne.PointEvent{Position: fyne.NewPos(50, 50)}})
		p.MouseMoved(&desktop.MouseEvent{Button: desktop.MouseButtonSecondary, PointEvent: fyne.PointEvent{Position: fyne.NewPos(110, 80)}})
		p.MouseUp(&desktop.MouseEvent{})
		if u.scene.Window() == wl {
			t.Fatal("right drag did not change the window")
		}
		if bytes.Equal(img0, panels[0].Image().Pix) {
			t.Error("panel 1 not re-rendered for the new window")
		}
		same("window/level")
		// Crosshair: a click on one panel moves it in all (shared cursor,
		// drawn at the same place in equal panels).
		cur := u.scene.Cursor()
		p.Tapped(&fyne.PointEvent{Position: p.ScreenPosition([3]int{cur[0] + 40, cur[1] + 25, cur[2]})})
		if got := u.scene.Cursor(); got == cur {
			t.Error("click did not move the crosshair")
		}
		for i := range panels {
			if panels[i].ScreenPosition(u.scene.Cursor()) != panels[0].ScreenPosition(u.scene.Cursor()) {
				t.Errorf("panel %s draws the crosshair elsewhere", shown[i])
			}
		}
		u.cmp.SetSideBySideAxis(viewer.Coronal)
		panels, _ = u.cmp.SideBySide()
		if panels[0].Plane() != viewer.Coronal || panels[len(panels)-1].Plane() != viewer.Coronal {
			t.Error("axis picker did not switch the panels to coronal")
		}
		u.cmp.SetSideBySideAxis(viewer.Axial)
		// The three views are paused meanwhile.
		if !c.tri[0].Paused() || !u.views[0].Paused() {
			t.Error("views that are not on screen still render")
		}
	})

	t.Run("disagreement", func(t *testing.T) {
		u.cmp.SetCompareMode(ModeDisagreement) // drawn at once from the map computed above
		if c.pairA.Selected != "student" || c.pairB.Selected != "teacher" {
			t.Errorf("default pair %s vs %s, want student vs teacher", c.pairA.Selected, c.pairB.Selected)
		}
		// Independently: the axial slice where the two canonical masks
		// differ most.
		a, _ := c.set.Entry("student")
		b, _ := c.set.Entry("teacher")
		ca, cb := a.Mask.Canonical(), b.Mask.Canonical()
		n := ca.Size
		best, bestK := -1, -1
		for k := 0; k < n[2]; k++ {
			cnt := 0
			for i := k * n[0] * n[1]; i < (k+1)*n[0]*n[1]; i++ {
				if (ca.Voxels[i] != 0) != (cb.Voxels[i] != 0) {
					cnt++
				}
			}
			if cnt > best {
				best, bestK = cnt, k
			}
		}
		if best <= 0 {
			t.Fatal("student and teacher agree everywhere: nothing to test")
		}
		u.scene.SetSlice(viewer.Axial, (bestK+n[2]/2)%n[2])
		c.jumpBtn.Tapped(&fyne.PointEvent{})
		if got := u.scene.Slice(viewer.Axial); got != bestK {
			t.Errorf("jump went to axial slice %d, the most disagreement is on %d (%d voxels)", got, bestK, best)
		}
		cur := u.scene.Cursor()
		if ca.Voxels[ca.Offset(cur[0], cur[1], cur[2])] == cb.Voxels[cb.Offset(cur[0], cur[1], cur[2])] {
			t.Error("the crosshair is not on a disagreeing voxel")
		}
		// The colours, on the axial slice where each holds the most voxels
		// the other lacks (the most disagreeing slice may be one model's
		// leak alone).
		both, bothK := 0, -1
		for k := 0; k < n[2]; k++ {
			a1, b1 := 0, 0
			for i := k * n[0] * n[1]; i < (k+1)*n[0]*n[1]; i++ {
				switch {
				case ca.Voxels[i] != 0 && cb.Voxels[i] == 0:
					a1++
				case ca.Voxels[i] == 0 && cb.Voxels[i] != 0:
					b1++
				}
			}
			if m := min(a1, b1); m > both {
				both, bothK = m, k
			}
		}
		if both < 50 {
			t.Fatalf("no slice where both models hold voxels the other lacks (best %d): nothing to test", both)
		}
		u.scene.SetSlice(viewer.Axial, bothK)
		ax := c.tri[0]
		if got := colourPixels(ax.Overlay(), modelColour("student"), 128, 8); got < 20 {
			t.Errorf("student-only voxels: %d pixels of the student's colour", got)
		}
		if got := colourPixels(ax.Overlay(), modelColour("teacher"), 128, 8); got < 20 {
			t.Errorf("teacher-only voxels: %d pixels of the teacher's colour", got)
		}
		if got := colourPixels(viewImage(u, ax), modelColour("teacher"), 255, 40); got < 5 {
			t.Errorf("teacher-only voxels not on screen (%d pixels)", got)
		}
		if !strings.Contains(c.disText.Text, "mL") {
			t.Errorf("disagreement text %q", c.disText.Text)
		}
		// Another pair.
		u.cmp.SetDisagreementPair("assistant", "teacher")
		waitIdle(t, &u.cmp.disRun, "second disagreement map")
		if c.disPair != [2]string{"assistant", "teacher"} {
			t.Errorf("pair shown %v", c.disPair)
		}
		if colourPixels(ax.Overlay(), modelColour("student"), 128, 8) != 0 {
			t.Error("the student's colour is still shown for assistant vs teacher")
		}
	})

	t.Run("export", func(t *testing.T) {
		dir := t.TempDir()
		u.cmp.ExportComparison(dir, false)
		if err := wait(t, h.export, "export"); err != nil {
			t.Fatal(err)
		}
		files := compareFiles(c.mode)
		f, err := os.Open(filepath.Join(dir, files[0]))
		if err != nil {
			t.Fatal(err)
		}
		recs, err := csv.NewReader(f).ReadAll()
		f.Close()
		if err != nil || len(recs) != len(names)+1 {
			t.Fatalf("CSV: %d records, %v", len(recs), err)
		}
		if !slices.Equal(recs[0], comparison.CSVHeader) {
			t.Errorf("CSV header %q", recs[0])
		}
		data, err := os.ReadFile(filepath.Join(dir, files[1]))
		if err != nil {
			t.Fatal(err)
		}
		var doc comparison.JSONDoc
		if err := json.Unmarshal(data, &doc); err != nil {
			t.Fatalf("JSON: %v", err)
		}
		if len(doc.Models) != len(names) || doc.Meta.Size != u.vol.Size {
			t.Errorf("JSON: %d models, size %v", len(doc.Models), doc.Meta.Size)
		}
		for _, name := range files[2:] {
			f, err := os.Open(filepath.Join(dir, name))
			if err != nil {
				t.Fatal(err)
			}
			img, err := png.Decode(f)
			f.Close()
			if err != nil || img.Bounds().Dx() < 300 || img.Bounds().Dy() < 150 {
				t.Fatalf("%s: %v, %v", name, err, img.Bounds())
			}
			if name == files[3] {
				// The views picture shows the disagreement (the mode
				// shown): the teacher-only voxels in the teacher's colour.
				rgba := image.NewRGBA(img.Bounds())
				draw.Draw(rgba, rgba.Rect, img, img.Bounds().Min, draw.Src)
				if got := colourPixels(rgba, modelColour("teacher"), 255, 40); got < 20 {
					t.Errorf("%s: %d pixels of the teacher's colour, want its disagreement drawn", name, got)
				}
			}
		}
		// No overwrite without permission; nothing half-written left.
		st, _ := os.Stat(filepath.Join(dir, files[0]))
		u.cmp.ExportComparison(dir, false)
		if err := wait(t, h.export, "second export"); !errors.Is(err, ErrExists) {
			t.Errorf("export over existing files: %v, want ErrExists", err)
		}
		if st2, _ := os.Stat(filepath.Join(dir, files[0])); !st2.ModTime().Equal(st.ModTime()) {
			t.Error("the CSV was replaced without permission")
		}
		u.cmp.ExportComparison(dir, true)
		if err := wait(t, h.export, "export with overwrite"); err != nil {
			t.Error(err)
		}
		left, _ := os.ReadDir(dir)
		if len(left) != len(files) {
			var got []string
			for _, e := range left {
				got = append(got, e.Name())
			}
			t.Errorf("folder holds %v, want only %v", got, files)
		}
	})

	t.Run("new study clears the cache", func(t *testing.T) {
		if err := openAndWait(t, u, study.DICOM); err != nil {
			t.Fatal(err)
		}
		if c.set != nil || u.cmp.CompareShown() || len(c.models) != 0 {
			t.Error("the comparison of the previous study is still there")
		}
		if u.views[0].Paused() {
			t.Error("the three views stay paused")
		}
	})
}

func rowNames(rows []comparison.Row) []string {
	var out []string
	for _, r := range rows {
		out = append(out, r.Name)
	}
	return out
}

// TestCompareCancel cancels the comparison while the teacher's network
// runs: nothing more runs or appears, and a later Compare finishes the job.
func TestCompareCancel(t *testing.T) {
	u, _, postDone, real, _ := openAbdomen(t)
	if !real {
		t.Skip("the shipped models are not in models/")
	}
	waitPost(t, postDone)
	h := hookCompare(u)
	c := u.cmp
	c.onProgress = func(p comparison.Progress) {
		if p.Model == "teacher" && p.Stage == 2 && !p.Done && c.running { // inference.StageInfer
			u.cmp.CancelCompare()
		}
	}
	u.cmp.Compare()
	if err := wait(t, h.done, "cancelled comparison"); !errors.Is(err, context.Canceled) {
		t.Fatalf("Compare ended with %v, want cancelled", err)
	}
	if c.running || c.cancelBtn.Visible() || c.bar.Visible() {
		t.Error("progress still shown after Cancel")
	}
	// The cancelled run returns; a late result would arrive by then.
	waitFor(t, c.run.Last().Done(), 2*time.Minute, "the cancelled run")
	pump()
	if _, ok := c.set.Entry("teacher"); ok {
		t.Error("the cancelled teacher's result was kept")
	}
	if n := h.runner.runs.Load(); n != 1 {
		t.Errorf("%d model runs; want only the cancelled teacher's", n)
	}
	select {
	case err := <-h.done:
		t.Errorf("a second completion after Cancel: %v", err)
	default:
	}
	c.onProgress = nil
	u.cmp.Compare()
	if err := wait(t, h.done, "comparison after cancel"); err != nil {
		t.Fatal(err)
	}
	if got := len(c.set.Entries()); got != len(u.cmp.compareNames()) {
		t.Errorf("%d results after the second Compare", got)
	}
}

// TestCompareWithReference loads the study's reference mask after a first
// comparison: Compare again measures the cached models against it too
// (without running them) and shows it as its own panel and pair choice.
func TestCompareWithReference(t *testing.T) {
	u, h, study := openCompare(t)
	c := u.cmp
	runs := h.runner.runs.Load()
	u.cmp.showCompareArea(false)
	refDone := make(chan error, 2)
	u.seg.onRefDone = func(err error) { refDone <- err }
	u.LoadReference(study.Liver)
	if err := wait(t, refDone, "reference"); err != nil {
		t.Fatal(err)
	}
	u.cmp.Compare()
	if err := wait(t, h.done, "comparison"); err != nil {
		t.Fatal(err)
	}
	waitIdle(t, &u.cmp.tableRun, "table with the reference")
	if n := h.runner.runs.Load(); n != runs {
		t.Errorf("%d models ran again for the reference", n-runs)
	}
	if !slices.Contains(c.pairB.Options, refName) {
		t.Errorf("the reference is not offered for the disagreement pair: %v", c.pairB.Options)
	}
	if len(c.cols) != len(tableCols) {
		t.Fatalf("%d columns with a reference, want %d", len(c.cols), len(tableCols))
	}
	for i, r := range u.cmp.CompareRows() {
		d, err := strconv.ParseFloat(u.cmp.CompareCell(i, len(tableCols)-refCols), 64)
		if err != nil || d < 0.6 || d > 1 {
			t.Errorf("%s: Dice against the reference %q", r.Name, u.cmp.CompareCell(i, len(tableCols)-refCols))
		}
		hd, err := strconv.ParseFloat(u.cmp.CompareCell(i, len(tableCols)-2), 64)
		if err != nil || hd <= 0 || hd > 100 {
			t.Errorf("%s: HD95 against the reference %q", r.Name, u.cmp.CompareCell(i, len(tableCols)-2))
		}
	}
	u.cmp.SetCompareMode(ModeSideBySide)
	_, shown := u.cmp.SideBySide()
	if len(shown) != len(u.cmp.compareNames())+1 || shown[len(shown)-1] != refName {
		t.Errorf("panels %v: want the models and the reference", shown)
	}
}

// panicRunner is a runner with a bug: every run panics (a seam we own;
// the registry itself stays real for the models' cards).
type panicRunner struct{ modelRunner }

func (panicRunner) Run(context.Context, *volume.Volume, string, inference.Options) (*inference.Result, error) {
	panic("runner bug")
}

// TestModelPanicIsReported: a model run that panics is reported as an
// error, for the single run and for the comparison alike (both run
// through internal/task), and the window goes on working.
func TestModelPanicIsReported(t *testing.T) {
	dir, _ := testModels(t)
	u, runDone, _ := segUI(t, dir)
	u.seg.runner = panicRunner{u.seg.runner}
	if err := u.ShowVolume(synthetic()); err != nil { // starts the automatic run
		t.Fatal(err)
	}
	if err := waitRun(t, runDone); err == nil || !strings.Contains(err.Error(), "internal error: runner bug") {
		t.Fatalf("the automatic run ended with %v, want the panic as an error", err)
	}
	if !u.seg.errText.Visible() || !strings.Contains(u.seg.errText.Text, "runner bug") {
		t.Errorf("panel error %q (visible %v)", u.seg.errText.Text, u.seg.errText.Visible())
	}
	h := hookCompare(u)
	u.cmp.Compare()
	if err := wait(t, h.done, "comparison"); err == nil || !strings.Contains(err.Error(), "internal error: runner bug") {
		t.Fatalf("the comparison ended with %v, want the panic as an error", err)
	}
	if u.cmp.running || u.cmp.bar.Visible() {
		t.Error("the comparison's progress still shows after the panic")
	}
	if !strings.Contains(u.status.Text, "runner bug") {
		t.Errorf("status %q does not report the failure", u.status.Text)
	}
}

// edgeRunner records whether each run refined the edge from the scan.
type edgeRunner struct {
	modelRunner
	mu   sync.Mutex
	edge []bool
}

func (r *edgeRunner) Run(ctx context.Context, v *volume.Volume, name string, o inference.Options) (*inference.Result, error) {
	r.mu.Lock()
	r.edge = append(r.edge, o.Edge != nil)
	r.mu.Unlock()
	return r.modelRunner.Run(ctx, v, name, o)
}

// TestCompareFollowsEdgeSwitch: Compare runs the models as the panel's
// switch says, and flipping the switch clears a comparison made with the
// other setting instead of showing a mix.
func TestCompareFollowsEdgeSwitch(t *testing.T) {
	u, _, postDone, real, _ := openAbdomen(t)
	if !real {
		t.Skip("the shipped models are not in models/: the comparison needs teacher, assistant and students")
	}
	waitPost(t, postDone)
	u.seg.edge.SetChecked(false)
	waitPost(t, postDone)
	h := hookCompare(u)
	rec := &edgeRunner{modelRunner: h.runner}
	u.seg.runner = rec
	compare := func(want bool) {
		t.Helper()
		rec.mu.Lock()
		rec.edge = nil
		rec.mu.Unlock()
		u.cmp.Compare()
		if err := wait(t, h.done, "comparison"); err != nil {
			t.Fatal(err)
		}
		waitIdle(t, &u.cmp.tableRun, "metrics table")
		rec.mu.Lock()
		defer rec.mu.Unlock()
		if len(rec.edge) == 0 {
			t.Fatal("the comparison ran no model")
		}
		for i, e := range rec.edge {
			if e != want {
				t.Errorf("run %d: edge refinement %v, the switch says %v", i, e, want)
			}
		}
	}
	compare(false)
	if u.cmp.set == nil || len(u.cmp.models) == 0 {
		t.Fatal("no comparison to clear")
	}
	u.seg.edge.SetChecked(true)
	waitPost(t, postDone)
	if u.cmp.set != nil || len(u.cmp.models) != 0 {
		t.Error("the comparison made without the refinement is still shown after switching it on")
	}
	if !strings.Contains(u.status.Text, "comparison was cleared") {
		t.Errorf("status %q does not say why the comparison went", u.status.Text)
	}
	compare(true)
}
