package app

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/driver/desktop"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"

	"github.com/liverseg/liverseg/nifti"
	"github.com/liverseg/liverseg/segedit"
	"github.com/liverseg/liverseg/viewer"
	"github.com/liverseg/liverseg/viewer/sliceview"
	"github.com/liverseg/liverseg/volume"
)

// editUI is a window showing the synthetic study, editing from nothing,
// with its autosave in a temporary cache folder.
func editUI(t *testing.T) *UI {
	t.Helper()
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	u := newUI(t)
	if err := u.ShowVolume(synthetic()); err != nil {
		t.Fatal(err)
	}
	startEdit(t, u, len(u.editSources())-1) // "Empty"
	return u
}

func startEdit(t *testing.T, u *UI, n int) {
	t.Helper()
	done := make(chan error, 1)
	u.edit.onStarted = func(err error) { done <- err }
	test.Tap(u.edit.startBtn) // the selection is "Start from"'s first entry
	if n != 0 {
		u.StartEdit(n)
	}
	if err := waitFor(t, done, time.Minute, "start editing"); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		// The tap started the first source; the second call replaced it
		// (nothing was edited, so without a question).
		if err := waitFor(t, done, time.Minute, "start editing"); err != nil {
			t.Fatal(err)
		}
	}
	if u.Editor() == nil || !u.edit.tools.Visible() {
		t.Fatal("edit tools not shown")
	}
}

// drag drives a left-button drag on the view as the desktop driver does:
// Dragged events whose Position is the pointer's current place (in the
// view) and Dragged the step since the previous one, then DragEnd.
func drag(v *sliceview.SliceView, from, to fyne.Position) {
	const steps = 6
	prev := from
	for i := 1; i <= steps; i++ {
		f := float32(i) / steps
		p := fyne.NewPos(from.X+(to.X-from.X)*f, from.Y+(to.Y-from.Y)*f)
		v.Dragged(&fyne.DragEvent{PointEvent: fyne.PointEvent{Position: p}, Dragged: fyne.NewDelta(p.X-prev.X, p.Y-prev.Y)})
		prev = p
	}
	v.DragEnd()
}

func shortcut(u *UI, key fyne.KeyName, mod fyne.KeyModifier) {
	u.win.Canvas().(fyne.Shortcutable).TypedShortcut(&desktop.CustomShortcut{KeyName: key, Modifier: mod})
}

// TestEditStrokeUndoRedo drags the brush across the axial view with the
// real widgets: the painted voxels are exactly those of the same stroke
// made through segedit (2D disc of the chosen radius in mm), the overlay
// shows them, the live volume follows, and Ctrl+Z / Ctrl+Shift+Z undo and
// redo bit for bit.
func TestEditStrokeUndoRedo(t *testing.T) {
	u := editUI(t)
	ax := u.views[0]
	u.SetTool(ToolPaint)
	u.SetBrushRadius(3)
	if !ax.EditMode || ax.BrushRadiusMM != 3 {
		t.Fatalf("axial view: edit mode %v, brush %.1f mm", ax.EditMode, ax.BrushRadiusMM)
	}
	k := ax.Slice()
	a, b := [3]int{10, 20, k}, [3]int{40, 26, k}
	pa, pb := ax.ScreenPosition(a), ax.ScreenPosition(b)
	before := canvasPixel(u, ax, [3]int{25, 23, k})

	// The cursor circle: radius 3 mm at the view's scale, around the pointer.
	ax.MouseIn(&desktop.MouseEvent{PointEvent: fyne.PointEvent{Position: pa}})
	c, r, shown := ax.BrushCircle()
	if !shown || math.Abs(float64(r-3*ax.MMToScreen())) > 0.01 || math.Abs(float64(c.X-pa.X)) > 0.5 || math.Abs(float64(c.Y-pa.Y)) > 0.5 {
		t.Fatalf("brush circle at %v radius %.2f shown %v; want at %v radius %.2f", c, r, shown, pa, 3*ax.MMToScreen())
	}

	var pts [][3]float64
	handler := ax.OnEdit
	ax.OnEdit = func(v *sliceview.SliceView, ph sliceview.EditPhase, idx [3]float64) {
		pts = append(pts, idx)
		handler(v, ph, idx)
	}
	drag(ax, pa, pb)
	ax.OnEdit = handler

	// The same stroke through the package, from the points the view sent.
	want, err := segedit.New(u.vol, nil, "", segedit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := want.Stroke(pts, segedit.Brush{RadiusMM: 3, Axis: 2}, false); err != nil {
		t.Fatal(err)
	}
	got := u.Editor().CanonicalMask().Voxels
	if !bytes.Equal(got, want.CanonicalMask().Voxels) {
		t.Fatalf("the drag painted %d voxels, the same stroke through segedit %d", u.Editor().Stats().Voxels, want.Stats().Voxels)
	}
	// Physically: every voxel of slice k within 2.9 mm of the dragged line
	// is painted (dabs every half radius cover 0.97 r), none beyond 3 mm.
	ia := ax.Scene().Slicer().PlaneToIndex(viewer.Axial, k, float64(a[0])+0.5, float64(a[1])+0.5)
	ib := ax.Scene().Slicer().PlaneToIndex(viewer.Axial, k, float64(b[0])+0.5, float64(b[1])+0.5)
	for j := 0; j < 50; j++ {
		for i := 0; i < 60; i++ {
			d := segDistMM([2]float64{float64(i), float64(j)}, [2]float64{ia[0], ia[1]}, [2]float64{ib[0], ib[1]}, 0.75)
			on := got[u.vol.Offset(i, j, k)] != 0
			if d < 2.9 && !on || d > 3.0+0.2 && on {
				t.Fatalf("voxel (%d,%d) at %.2f mm from the stroke: painted %v", i, j, d, on)
			}
		}
	}
	n := u.Editor().Stats().Voxels
	// A 3 mm disc on 0.75 mm pixels along a ~23 mm line: about 2·3·23/0.5625 + π·9/0.5625.
	if n < 250 || n > 400 {
		t.Fatalf("%d voxels painted", n)
	}
	if u.Editor().CanonicalMask().Voxels[u.vol.Offset(25, 23, k-1)] != 0 {
		t.Fatal("a 2D stroke painted the slice below")
	}
	if after := canvasPixel(u, ax, [3]int{25, 23, k}); after == before {
		t.Fatal("the overlay does not show the painted voxels")
	}
	ml := float64(n) * 0.75 * 0.75 * 2.5 / 1000
	if f := u.EditFigures(); !strings.Contains(f, "Volume "+fmt.Sprintf("%.1f", ml)+" mL") {
		t.Fatalf("figures %q, want volume %.1f mL", f, ml)
	}
	if len(u.edit.histItems) != 1 || !strings.HasPrefix(u.edit.histItems[0].Name, "Paint 3 mm, axial") {
		t.Fatalf("history %+v", u.edit.histItems)
	}
	painted := bytes.Clone(got)

	u.win.Canvas().(fyne.Shortcutable).TypedShortcut(&fyne.ShortcutUndo{}) // Ctrl+Z as the desktop driver sends it
	if u.Editor().Stats().Voxels != 0 || !u.Editor().CanRedo() {
		t.Fatal("Ctrl+Z did not undo the stroke")
	}
	if after := canvasPixel(u, ax, [3]int{25, 23, k}); after != before {
		t.Fatal("the overlay still shows the undone stroke")
	}
	u.win.Canvas().(fyne.Shortcutable).TypedShortcut(&fyne.ShortcutRedo{}) // Ctrl+Shift+Z
	if !bytes.Equal(u.Editor().CanonicalMask().Voxels, painted) {
		t.Fatal("Ctrl+Shift+Z did not redo the stroke bit for bit")
	}
	shortcut(u, fyne.KeyZ, fyne.KeyModifierShortcutDefault)
	if u.Editor().Stats().Voxels != 0 {
		t.Fatal("the custom Ctrl+Z did not undo")
	}
	shortcut(u, fyne.KeyZ, fyne.KeyModifierShortcutDefault|fyne.KeyModifierShift)
	if !bytes.Equal(u.Editor().CanonicalMask().Voxels, painted) {
		t.Fatal("the custom Ctrl+Shift+Z did not redo")
	}
	test.Tap(u.edit.undoBtn)
	if u.Editor().Stats().Voxels != 0 {
		t.Fatal("the Undo button did not undo")
	}
	test.Tap(u.edit.redoBtn)
	if !bytes.Equal(u.Editor().CanonicalMask().Voxels, painted) {
		t.Fatal("the Redo button did not redo")
	}

	// X toggles erase; an erase drag along the same line takes it all back.
	ax.TypedRune('x')
	if u.Tool() != ToolErase {
		t.Fatalf("tool after X: %s", u.Tool())
	}
	u.SetBrushRadius(4)
	drag(ax, pa, pb)
	if u.Editor().Stats().Voxels != 0 {
		t.Fatalf("erase left %d voxels", u.Editor().Stats().Voxels)
	}
	// [ and ] change the brush size.
	u.SetBrushRadius(10)
	// Keys reach the edit mode after a click on a check box too.
	test.Tap(u.edit.sphere)
	test.Tap(u.edit.sphere)
	if u.win.Canvas().Focused() != nil {
		t.Fatal("the check box kept the keyboard focus")
	}
	u.win.Canvas().(interface{ OnTypedRune() func(rune) }).OnTypedRune()(']')
	if u.edit.radius.Value != 11 || ax.BrushRadiusMM != 11 {
		t.Fatalf("brush after ] from 10 mm: %.1f (view %.1f)", u.edit.radius.Value, ax.BrushRadiusMM)
	}
	ax.TypedRune('[')
	ax.TypedRune('[')
	if u.edit.radius.Value != 9 {
		t.Fatalf("brush after ] [ [ from 10 mm: %.1f", u.edit.radius.Value)
	}
}

// segDistMM is the distance in mm from p to the segment ab (voxel units,
// square pixels of sp mm).
func segDistMM(p, a, b [2]float64, sp float64) float64 {
	dx, dy := b[0]-a[0], b[1]-a[1]
	t := ((p[0]-a[0])*dx + (p[1]-a[1])*dy) / (dx*dx + dy*dy)
	t = math.Max(0, math.Min(1, t))
	return math.Hypot(p[0]-a[0]-t*dx, p[1]-a[1]-t*dy) * sp
}

// TestEditIslandsAndHURange: a click with Remove island takes the clicked
// island away and keeps the other; the HU range keeps the brush to voxels
// inside it.
func TestEditIslandsAndHURange(t *testing.T) {
	u := editUI(t)
	ax := u.views[0]
	k := ax.Slice()
	u.SetTool(ToolPaint)
	u.SetBrushRadius(2)
	for _, p := range [][3]int{{10, 10, k}, {45, 35, k}} {
		test.TapAt(ax, ax.ScreenPosition(p))
	}
	n := u.Editor().Stats().Voxels
	u.SetTool(ToolRemoveIsland)
	test.TapAt(ax, ax.ScreenPosition([3]int{45, 35, k}))
	m := u.Editor().CanonicalMask()
	if m.Voxels[u.vol.Offset(45, 35, k)] != 0 || m.Voxels[u.vol.Offset(10, 10, k)] == 0 {
		t.Fatal("Remove island did not take the clicked island only")
	}
	if got := u.Editor().Stats().Voxels; got <= 0 || got >= n {
		t.Fatalf("%d voxels after removing one of two equal islands of %d", got, n)
	}
	// A click outside the mask says so and changes nothing.
	test.TapAt(ax, ax.ScreenPosition([3]int{30, 45, k}))
	if !u.edit.msg.Visible() || !strings.Contains(u.edit.msg.Text, "inside the segmentation") {
		t.Fatalf("message %q", u.edit.msg.Text)
	}

	// The synthetic CT is −300 + 4i + 3j + 20k HU: with 0…100 HU the brush
	// takes only voxels whose value lies there.
	u.SetTool(ToolPaint)
	u.SetBrushRadius(15)
	u.edit.huOn.SetChecked(true)
	u.edit.huLo.SetText("0")
	u.edit.huHi.SetText("100")
	before := u.Editor().Stats().Voxels
	test.TapAt(ax, ax.ScreenPosition([3]int{30, 25, k}))
	if u.Editor().Stats().Voxels <= before {
		t.Fatal("the HU-limited brush painted nothing")
	}
	for o, v := range m.Voxels {
		hu := u.vol.Voxels[o]
		if v != 0 && o/(60*50) == k && (hu < 0 || hu > 100) && !(o == u.vol.Offset(10, 10, k) || math.Abs(float64(o%60-10)) < 4 && math.Abs(float64(o/60%50-10)) < 4) {
			t.Fatalf("voxel with %d HU painted with the range 0…100", hu)
		}
	}
}

// TestEditFillBetweenAndScissors paints two axial slices, fills between
// them from the button, then cuts with the scissors through all slices.
func TestEditFillBetweenAndScissors(t *testing.T) {
	u := editUI(t)
	ax := u.views[0]
	u.SetTool(ToolPaint)
	u.SetBrushRadius(6)
	for _, k := range []int{6, 14} {
		u.scene.SetSlice(viewer.Axial, k)
		test.TapAt(ax, ax.ScreenPosition([3]int{30, 25, k}))
	}
	test.Tap(u.edit.fillBtn)
	m := u.Editor().CanonicalMask()
	for k := 7; k < 14; k++ {
		if m.Voxels[u.vol.Offset(30, 25, k)] == 0 {
			t.Fatalf("slice %d not filled", k)
		}
	}
	if m.Voxels[u.vol.Offset(30, 25, 5)] != 0 || m.Voxels[u.vol.Offset(30, 25, 15)] != 0 {
		t.Fatal("fill went beyond the key slices")
	}
	// A vertical cut through x = 30 on the axial view, all slices.
	u.SetTool(ToolScissors)
	k := ax.Slice()
	p0, p1 := ax.ScreenPosition([3]int{30, 5, k}), ax.ScreenPosition([3]int{30, 45, k})
	drag(ax, p0, p1)
	for kk := 7; kk < 14; kk++ {
		if m.Voxels[u.vol.Offset(30, 25, kk)] != 0 {
			t.Fatalf("slice %d not cut", kk)
		}
		if m.Voxels[u.vol.Offset(24, 25, kk)] == 0 {
			t.Fatalf("slice %d: the cut took more than its band", kk)
		}
	}
	if len(u.edit.histItems) != 4 {
		t.Fatalf("history has %d steps, want 4 (two paints, fill, cut)", len(u.edit.histItems))
	}
	cutDone := bytes.Clone(m.Voxels)
	// Smoothing runs in the background and lands as one more step.
	smoothed := make(chan error, 1)
	u.edit.onSmoothed = func(err error) { smoothed <- err }
	test.Tap(u.edit.smoothBtn)
	if err := waitFor(t, smoothed, time.Minute, "smoothing"); err != nil {
		t.Fatal(err)
	}
	if len(u.edit.histItems) != 5 || !strings.HasPrefix(u.edit.histItems[4].Name, "Smooth (closing 3 mm)") {
		t.Fatalf("history after smoothing: %+v", u.edit.histItems)
	}
	// Clicking the first history entry goes back to it.
	u.edit.hist.Select(0)
	if u.Editor().Position() != 1 {
		t.Fatalf("position %d after choosing step 1", u.Editor().Position())
	}
	u.edit.hist.Select(3)
	if !bytes.Equal(m.Voxels, cutDone) {
		t.Fatal("going forward to step 4 did not restore the cut mask")
	}
}

// TestEditAutosaveAndRecovery: an edit is autosaved to the cache; a new
// window offers it, and recovering reopens the study with the edited mask.
// Exporting the edit removes the autosave.
func TestEditAutosaveAndRecovery(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	dir := t.TempDir()
	ctPath := filepath.Join(dir, "ct.nii.gz")
	if err := nifti.WriteVolume(ctPath, synthetic()); err != nil {
		t.Fatal(err)
	}
	u := newUI(t)
	if err := openAndWait(t, u, ctPath); err != nil {
		t.Fatal(err)
	}
	startEdit(t, u, len(u.editSources())-1)
	ax := u.views[0]
	u.SetTool(ToolPaint)
	u.SetBrushRadius(5)
	test.TapAt(ax, ax.ScreenPosition([3]int{30, 25, ax.Slice()}))
	want := u.Editor().Mask()
	saved := make(chan error, 1)
	u.edit.onAutosave = func(err error) { saved <- err }
	if err := waitFor(t, saved, time.Minute, "autosave"); err != nil {
		t.Fatal(err)
	}
	recs, err := u.edit.store.List()
	if err != nil || len(recs) != 1 || recs[0].Study != ctPath {
		t.Fatalf("autosave records %+v, %v", recs, err)
	}

	// The app "crashed": a new window finds the autosave and offers it.
	u2 := newUI(t)
	if !u2.OfferRecovery() {
		t.Fatal("no recovery offered")
	}
	u2.edit.recovery = &recs[0] // what the dialog's Recover does
	if err := openAndWait(t, u2, ctPath); err != nil {
		t.Fatal(err)
	}
	pump()
	ed := u2.Editor()
	if ed == nil || !strings.Contains(ed.Name(), "recovered") {
		t.Fatalf("editor after recovery: %v", ed)
	}
	if got := ed.Mask(); !bytes.Equal(got.Voxels, want.Voxels) {
		t.Fatal("the recovered mask differs from the edited one")
	}

	// Exporting the edit keeps it: not dirty, autosave removed.
	ed0 := u.Editor()
	if !ed0.Dirty() {
		t.Fatal("edited but not dirty")
	}
	out := filepath.Join(t.TempDir(), "edited.nii.gz")
	done := make(chan error, 1)
	u.exp.onDone = func(_ string, err error) { done <- err }
	var src maskSource
	for _, s := range u.exportSources() {
		if s.edited != nil {
			src = s
		}
	}
	if src.edited == nil {
		t.Fatal("the edited mask is not offered for export")
	}
	u.Export(src, FormatNIfTI, out)
	if err := waitFor(t, done, time.Minute, "export"); err != nil {
		t.Fatal(err)
	}
	m, err := nifti.ReadMask(out)
	if err != nil || !bytes.Equal(m.Voxels, want.Voxels) {
		t.Fatalf("exported mask differs (%v)", err)
	}
	if ed0.Dirty() {
		t.Fatal("still dirty after export")
	}
	if recs, _ := u.edit.store.List(); len(recs) != 0 {
		t.Fatalf("autosave left after export: %+v", recs)
	}
	if _, err := os.Stat(out); err != nil {
		t.Fatal(err)
	}
	_ = volume.Identity
}

// TestEditedMaskIsAResult edits the student's mask on the abdominal CT
// (the real student, the real runtime), then: the student's own result is
// untouched; Compare shows the edited mask as one more result with its row
// in the table; the export offers it and writes a DICOM SEG that records
// SEMIAUTOMATIC and passes dciodvfy where installed.
func TestEditedMaskIsAResult(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	u, h, _ := openCompare(t)
	student := u.seg.res.Mask
	before := bytes.Clone(student.Voxels)
	n := -1
	for i, s := range u.editSources() {
		if s.Model == "student" {
			n = i
		}
	}
	if n < 0 {
		t.Fatal("the student is not offered as a start")
	}
	u.edit.from.SetSelectedIndex(n)
	startEdit(t, u, 0)
	ed := u.Editor()
	if ed.Name() != "student, edited" || ed.Stats().DiceSource != 1 {
		t.Fatalf("editor %q, Dice vs student %.3f", ed.Name(), ed.Stats().DiceSource)
	}
	// Erase a 3D ball at a liver voxel with the brush.
	seed := insideVoxel(t, ed.CanonicalMask())
	ax := u.views[0]
	u.scene.SetCursor(seed)
	u.SetTool(ToolErase)
	u.SetBrushRadius(15)
	u.edit.sphere.SetChecked(true)
	n0 := ed.Stats().Voxels
	test.TapAt(ax, ax.ScreenPosition(seed))
	st := ed.Stats()
	if st.DiceSource >= 1 || st.Voxels >= n0 {
		t.Fatalf("erase changed nothing: %+v", st)
	}
	if !bytes.Equal(student.Voxels, before) {
		t.Fatal("editing changed the student's own mask")
	}
	if !strings.Contains(u.EditFigures(), "Dice vs student") {
		t.Fatalf("figures %q", u.EditFigures())
	}

	u.cmp.Compare()
	if err := wait(t, h.done, "comparison"); err != nil {
		t.Fatal(err)
	}
	waitIdle(t, &u.cmp.tableRun, "metrics table")
	found := false
	for _, r := range u.cmp.CompareRows() {
		if r.Name == "student, edited" {
			found = true
			if math.Abs(r.VolumeML-st.VolumeML) > 1e-6 {
				t.Fatalf("table volume %.3f mL, editor %.3f", r.VolumeML, st.VolumeML)
			}
		}
	}
	if !found {
		t.Fatalf("no row for the edited mask: %v", rowNames(u.cmp.CompareRows()))
	}
	shown := false
	for _, m := range u.cmp.displayModels() {
		shown = shown || m.name == "student, edited"
	}
	if !shown {
		t.Fatal("the edited mask is not among the compared displays")
	}

	var src maskSource
	for _, s := range u.exportSources() {
		if s.edited != nil {
			src = s
		}
	}
	defer func() {
		// Stopping the edit takes it out of the comparison.
		u.StopEdit(false)
		waitIdle(t, &u.cmp.tableRun, "metrics table without the edit")
		for _, r := range u.cmp.CompareRows() {
			if r.Name == "student, edited" {
				t.Fatal("the edited row survived Stop editing")
			}
		}
		for _, m := range u.cmp.displayModels() {
			if m.name == "student, edited" {
				t.Fatal("the edited display survived Stop editing")
			}
		}
	}()
	if o := src.segOptions(false); !o.SemiAutomatic || o.Manual || !strings.Contains(o.AlgorithmName, "student") {
		t.Fatalf("SEG options for an edited student mask: %+v", o)
	}
	if ok, why := segAvailable(u.vol); ok {
		out := filepath.Join(t.TempDir(), "edited.dcm")
		done := make(chan error, 1)
		u.exp.onDone = func(_ string, err error) { done <- err }
		u.Export(src, FormatSEG, out)
		if err := waitFor(t, done, time.Minute, "SEG export"); err != nil {
			t.Fatal(err)
		}
		b, _ := os.ReadFile(out)
		if !bytes.Contains(b, []byte("SEMIAUTOMATIC")) {
			t.Fatal("the SEG does not say SEMIAUTOMATIC")
		}
		if dciodvfy, err := exec.LookPath("dciodvfy"); err == nil {
			outp, _ := exec.Command(dciodvfy, out).CombinedOutput()
			if bytes.Contains(outp, []byte("Error")) {
				t.Fatalf("dciodvfy: %s", outp)
			}
		}
	} else {
		t.Logf("SEG not available for this study: %s", why)
	}
}

// findButton returns the button with the given text in o's tree.
func findButton(o fyne.CanvasObject, text string) *widget.Button {
	if b, ok := o.(*widget.Button); ok && b.Text == text {
		return b
	}
	var kids []fyne.CanvasObject
	switch c := o.(type) {
	case *fyne.Container:
		kids = c.Objects
	case fyne.Widget:
		kids = test.WidgetRenderer(c).Objects()
	}
	for _, k := range kids {
		if b := findButton(k, text); b != nil {
			return b
		}
	}
	return nil
}

// TestUnsavedEditsAskFirst: opening another study with unexported edits
// asks; "Keep editing" keeps them, "Discard edits" drops them and their
// autosave, then opens. The report lists the edited mask as its own row.
func TestUnsavedEditsAskFirst(t *testing.T) {
	u := editUI(t)
	ax := u.views[0]
	u.SetTool(ToolPaint)
	test.TapAt(ax, ax.ScreenPosition([3]int{30, 25, ax.Slice()}))
	ed := u.Editor()
	if !ed.Dirty() {
		t.Fatal("not dirty after a stroke")
	}

	// The report has a row for it, no network figures.
	in := u.reportInput(image.NewRGBA(image.Rect(0, 0, 4, 4)))
	d, err := buildReport(context.Background(), in, nil, "x.png")
	if err != nil {
		t.Fatal(err)
	}
	var row *reportModel
	for i := range d.Models {
		if d.Models[i].Role == "edited by hand" {
			row = &d.Models[i]
		}
	}
	if row == nil || math.Abs(row.VolumeML-ed.Stats().VolumeML) > 1e-9 || !strings.Contains(row.Region, "1 edit steps") {
		t.Fatalf("report rows %+v", d.Models)
	}
	if o := in.sources[len(in.sources)-1].segOptions(false); !o.Manual || o.SemiAutomatic {
		t.Fatalf("a mask drawn from nothing must be MANUAL: %+v", o)
	}

	gen := u.load.gen
	u.Open(filepath.Join(t.TempDir(), "other.nii.gz"))
	top := u.win.Canvas().Overlays().Top()
	if top == nil || u.load.gen != gen {
		t.Fatal("opening another study did not ask first")
	}
	keep := findButton(top, "Keep editing")
	if keep == nil {
		t.Fatal("no Keep editing button")
	}
	test.Tap(keep)
	if u.Editor() != ed || u.load.gen != gen {
		t.Fatal("Keep editing lost the edit or opened the study")
	}
	saved := make(chan error, 1)
	u.edit.onAutosave = func(err error) { saved <- err }
	u.AutosaveNow()
	waitFor(t, saved, time.Minute, "autosave")
	if recs, _ := u.edit.store.List(); len(recs) != 1 {
		t.Fatalf("%d autosaves", len(recs))
	}
	done := make(chan error, 1)
	u.load.onDone = func(err error) { done <- err }
	u.Open(filepath.Join(t.TempDir(), "other.nii.gz"))
	discard := findButton(u.win.Canvas().Overlays().Top(), "Discard edits")
	if discard == nil {
		t.Fatal("no Discard edits button")
	}
	test.Tap(discard)
	waitFor(t, done, time.Minute, "open after discarding") // the file does not exist: an error, but it was tried
	if u.Editor() != nil {
		t.Fatal("the edit survived Discard")
	}
	if recs, _ := u.edit.store.List(); len(recs) != 0 {
		t.Fatalf("autosave left after discarding: %+v", recs)
	}
}

// TestEditRemoveLeak: painted liver and leak joined by a thin bridge; one
// click with Remove leak takes the leak and leaves the liver.
func TestEditRemoveLeak(t *testing.T) {
	u := editUI(t)
	ax := u.views[0]
	k := ax.Slice()
	u.SetTool(ToolPaint)
	u.SetBrushRadius(6)
	u.edit.sphere.SetChecked(true)
	test.TapAt(ax, ax.ScreenPosition([3]int{15, 25, k}))
	test.TapAt(ax, ax.ScreenPosition([3]int{45, 25, k}))
	u.edit.sphere.SetChecked(false)
	u.SetBrushRadius(0.8) // a bridge about two voxels wide on this slice
	p0, p1 := ax.ScreenPosition([3]int{15, 25, k}), ax.ScreenPosition([3]int{45, 25, k})
	drag(ax, p0, p1)
	m := u.Editor().CanonicalMask()
	if _, err := u.Editor().RemoveIsland([3]int{45, 25, k}); err != nil {
		t.Fatal(err)
	}
	if m.Voxels[u.vol.Offset(15, 25, k)] != 0 {
		t.Fatal("the bridge does not join the two: the test proves nothing")
	}
	u.Undo()
	u.SetTool(ToolRemoveLeak)
	u.edit.neck.SetText("2")
	done := make(chan error, 1)
	u.edit.onSmoothed = func(err error) { done <- err }
	test.TapAt(ax, ax.ScreenPosition([3]int{45, 25, k}))
	if err := waitFor(t, done, time.Minute, "remove leak"); err != nil {
		t.Fatal(err)
	}
	if m.Voxels[u.vol.Offset(45, 25, k)] != 0 || m.Voxels[u.vol.Offset(15, 25, k)] == 0 {
		t.Fatal("Remove leak did not take the clicked blob only")
	}
	if last := u.edit.histItems[len(u.edit.histItems)-1].Name; !strings.HasPrefix(last, "Remove leak") {
		t.Fatalf("last step %q", last)
	}
}

// TestEditNonCanonicalStudy paints on a study stored right-to-left,
// anterior-to-posterior and feet-first (every axis reversed): the
// exported mask, in the file's own voxel order, holds exactly the voxels
// within the brush radius of the clicked point in patient millimetres.
func TestEditNonCanonicalStudy(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	u := newUI(t)
	v := reversed(synthetic(), [3]bool{true, true, true})
	if v.NearestOrientation().IsCanonical() {
		t.Fatal("the test volume is canonical")
	}
	if err := u.ShowVolume(v); err != nil {
		t.Fatal(err)
	}
	startEdit(t, u, len(u.editSources())-1)
	sag := u.views[2] // paint on the sagittal view this time
	u.SetTool(ToolPaint)
	u.SetBrushRadius(4)
	u.edit.sphere.SetChecked(true)
	c := [3]int{sag.Slice(), 20, 15}
	test.TapAt(sag, sag.ScreenPosition(c))
	P := u.scene.Slicer().Patient([3]float64{float64(c[0]), float64(c[1]), float64(c[2])})
	m := u.Editor().Mask()
	if m.Geometry != v.Geometry {
		t.Fatal("the result is not on the study's own grid")
	}
	n := 0
	for k := 0; k < v.Size[2]; k++ {
		for j := 0; j < v.Size[1]; j++ {
			for i := 0; i < v.Size[0]; i++ {
				X := v.IndexToPatient([3]float64{float64(i), float64(j), float64(k)})
				d := math.Sqrt((X[0]-P[0])*(X[0]-P[0]) + (X[1]-P[1])*(X[1]-P[1]) + (X[2]-P[2])*(X[2]-P[2]))
				on := m.Voxels[v.Offset(i, j, k)] != 0
				if math.Abs(d-4) > 0.05 && on != (d < 4) {
					t.Fatalf("voxel (%d,%d,%d) %.2f mm from the click: painted %v", i, j, k, d, on)
				}
				if on {
					n++
				}
			}
		}
	}
	if n < 50 {
		t.Fatalf("only %d voxels painted", n)
	}
}
