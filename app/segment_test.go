package app

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"image"
	"image/color"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"

	"github.com/liverseg/liverseg/dicomio"
	"github.com/liverseg/liverseg/inference"
	"github.com/liverseg/liverseg/internal/testsupport/testct"
	"github.com/liverseg/liverseg/nifti"
	"github.com/liverseg/liverseg/viewer/sliceview"
	"github.com/liverseg/liverseg/volume"
)

// testModels is the models folder the app tests run: $LIVERSEG_TEST_MODELS
// when set, else the shipped models once the student has been exported
// into models/, else inference's tiny test network (a real ONNX file run by
// the real runtime, but not a liver model). real says whether it holds a
// student.
func testModels(t testing.TB) (dir string, real bool) {
	t.Helper()
	if d := os.Getenv("LIVERSEG_TEST_MODELS"); d != "" { // another export
		_, err := os.Stat(filepath.Join(d, AutoModel+".json"))
		return d, err == nil
	}
	if _, err := os.Stat(filepath.Join("..", "models", AutoModel+".json")); err == nil {
		return filepath.Join("..", "models"), true
	}
	return filepath.Join("..", "inference", "testdata"), false
}

// waitRun waits for the segmentation run in flight to finish.
func waitRun(t testing.TB, done <-chan error) error {
	t.Helper()
	return waitFor(t, done, 2*time.Minute, "segmentation run")
}

// segUI is a window with the test models, a run-done channel and a
// post-done channel (latest background mask).
func segUI(t *testing.T, dir string) (*UI, chan error, chan struct{}) {
	t.Helper()
	u := newUI(t)
	t.Cleanup(func() { waitWorker(u) })
	runDone := make(chan error, 8)
	postDone := make(chan struct{}, 64)
	u.seg.onRunDone = func(err error) { runDone <- err }
	u.seg.onPostDone = func() { postDone <- struct{}{} }
	if err := u.seg.UseModels(dir); err != nil {
		t.Fatal(err)
	}
	u.seg.runner = &countingRunner{modelRunner: u.seg.runner}
	waitChecked(t, u)
	return u, runDone, postDone
}

// runsOf is how many model runs segUI's window has started.
func runsOf(u *UI) int { return int(u.seg.runner.(*countingRunner).runs.Load()) }

// waitChecked waits for the start-up model check that UseModels starts
// (see segController.checked).
func waitChecked(t testing.TB, u *UI) {
	t.Helper()
	waitFor(t, u.seg.checked, 2*time.Minute, "start-up model check")
	pump() // its error report, posted before checked closed
}

func waitPost(t testing.TB, ch <-chan struct{}) {
	t.Helper()
	waitFor(t, ch, 2*time.Minute, "background mask")
}

// openAbdomen opens the DICOM series of testct.Abdomen (chaos_ct01, or the
// synthetic phantom where ../shared/data is absent) and waits for the
// automatic segmentation. real says whether the models hold a student.
func openAbdomen(t *testing.T) (u *UI, runDone chan error, postDone chan struct{}, real bool, s testct.Study) {
	t.Helper()
	s = testct.Abdomen(t)
	dir, real := testModels(t)
	u, runDone, postDone = segUI(t, dir)
	if err := openAndWait(t, u, s.DICOM); err != nil {
		t.Fatal(err)
	}
	if err := waitRun(t, runDone); err != nil {
		t.Fatalf("automatic segmentation of %s: %v", s.Name, err)
	}
	return u, runDone, postDone, real, s
}

// abdomenVolume loads the study's CT: the NIfTI file of the real case, the
// DICOM series of the phantom.
func abdomenVolume(t testing.TB, s testct.Study) *volume.Volume {
	t.Helper()
	if strings.HasSuffix(s.CT, ".nii.gz") {
		v, err := nifti.Read(s.CT)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	v, _, err := dicomio.LoadPath(context.Background(), s.CT, nil)
	if err != nil {
		t.Fatalf("%s: %v", s.Name, err)
	}
	return v
}

// abdomenNIfTI is a NIfTI file of the study's CT: the real case's ct.nii.gz
// (dcm2niix's conversion of its DICOM series); for the phantom, which has
// none, v (its series as loaded) written by nifti.WriteVolume into a
// temporary folder with its rows and slices stored in reverse, so that the
// file's voxel order differs from the DICOM series' as dcm2niix's does.
func abdomenNIfTI(t testing.TB, s testct.Study, v *volume.Volume) string {
	t.Helper()
	if s.Real {
		return s.CT
	}
	path := filepath.Join(t.TempDir(), "ct.nii.gz")
	if err := nifti.WriteVolume(path, reversed(v, [3]bool{false, true, true})); err != nil {
		t.Fatal(err)
	}
	return path
}

// reversed is v stored with the voxel order of the flagged index axes
// reversed: the same image in the same place in space, other bytes.
func reversed(v *volume.Volume, flip [3]bool) *volume.Volume {
	g := v.Geometry
	var corner [3]float64
	for a := range 3 {
		if flip[a] {
			corner[a] = float64(g.Size[a] - 1)
			for r := range 3 {
				g.Direction[r][a] = -g.Direction[r][a]
			}
		}
	}
	g.Origin = v.IndexToPatient(corner)
	out := &volume.Volume{Geometry: g, Voxels: make([]int16, len(v.Voxels)), Info: v.Info}
	at := func(a, x int) int {
		if flip[a] {
			return g.Size[a] - 1 - x
		}
		return x
	}
	for k := 0; k < g.Size[2]; k++ {
		for j := 0; j < g.Size[1]; j++ {
			for i := 0; i < g.Size[0]; i++ {
				out.Voxels[out.Offset(i, j, k)] = v.Voxels[v.Offset(at(0, i), at(1, j), at(2, k))]
			}
		}
	}
	return out
}

// canvasPixel is the colour the window shows at the centre of voxel idx in
// view v.
func canvasPixel(u *UI, v *sliceview.SliceView, idx [3]int) color.RGBA {
	img := u.win.Canvas().Capture()
	p := fyne.CurrentApp().Driver().AbsolutePositionForObject(v).Add(v.ScreenPosition(idx))
	s := u.win.Canvas().Scale()
	return color.RGBAModel.Convert(img.At(int(p.X*s), int(p.Y*s))).(color.RGBA)
}

// overlayStats counts the painted pixels of a view's overlay layer and sums
// their alpha.
func overlayStats(v *sliceview.SliceView) (n int, alpha int) {
	o := v.Overlay()
	if o == nil {
		return 0, 0
	}
	for i := 3; i < len(o.Pix); i += 4 {
		if a := o.Pix[i]; a != 0 {
			n++
			alpha += int(a)
		}
	}
	return n, alpha
}

// insideVoxel is a canonical voxel of the mask well inside it (the voxel
// with the most mask voxels around it along the axes).
func insideVoxel(t testing.TB, m *volume.Mask) [3]int {
	t.Helper()
	c := m.Canonical()
	best, at := -1, [3]int{}
	for k := 0; k < c.Size[2]; k += 2 {
		for j := 0; j < c.Size[1]; j += 4 {
			for i := 0; i < c.Size[0]; i += 4 {
				if c.Voxels[c.Offset(i, j, k)] == 0 {
					continue
				}
				run := 0
				for _, d := range [][3]int{{1, 0, 0}, {-1, 0, 0}, {0, 1, 0}, {0, -1, 0}, {0, 0, 1}, {0, 0, -1}} {
					for s := 1; ; s++ {
						x, y, z := i+d[0]*s, j+d[1]*s, k+d[2]*s
						if !c.Contains(x, y, z) || c.Voxels[c.Offset(x, y, z)] == 0 {
							run += min(s, 12)
							break
						}
					}
				}
				if run > best {
					best, at = run, [3]int{i, j, k}
				}
			}
		}
	}
	if best < 0 {
		t.Fatal("empty mask")
	}
	return at
}

// TestOpenSegmentsWithStudent opens the abdominal CT: the student runs
// by itself and its overlay shows on all three views in the liver, with the
// volume and the time in the panel.
func TestOpenSegmentsWithStudent(t *testing.T) {
	u, _, postDone, real, study := openAbdomen(t)
	if runsOf(u) != 1 || u.seg.res == nil {
		t.Fatalf("runs %d, result %v after opening", runsOf(u), u.seg.res != nil)
	}
	if real && u.seg.res.Model != AutoModel {
		t.Errorf("ran %s, want %s", u.seg.res.Model, AutoModel)
	}
	t.Logf("%s", u.status.Text)
	waitPost(t, postDone)
	var liver [3]int
	if real {
		ref, err := nifti.ReadMask(study.Liver)
		if err != nil {
			t.Fatal(err)
		}
		liver = insideVoxel(t, ref)
	} else {
		liver = insideVoxel(t, u.seg.res.Mask)
	}
	u.scene.SetCursor(liver)
	for _, v := range u.views {
		if n, _ := overlayStats(v); n == 0 {
			t.Errorf("%v: no overlay pixels", v.Plane())
		}
	}
	// On screen: the liver voxel is tinted in every view, and not when the
	// overlay is switched off.
	var with [3]color.RGBA
	for n, v := range u.views {
		with[n] = canvasPixel(u, v, liver)
	}
	u.seg.show.SetChecked(false)
	for n, v := range u.views {
		without := canvasPixel(u, v, liver)
		if with[n] == without || int(with[n].R)-int(with[n].G) <= int(without.R)-int(without.G) {
			t.Errorf("%v: liver pixel %v with the overlay, %v without: not tinted red", v.Plane(), with[n], without)
		}
	}
	u.seg.show.SetChecked(true)
	txt := u.seg.VolumeText()
	if !strings.Contains(txt, "mL") || !strings.Contains(txt, "ms") || strings.Contains(txt, "≈") {
		t.Errorf("result text %q lacks the exact volume or the time", txt)
	}
	if u.seg.res.Mask == nil || !strings.Contains(txt, fmt.Sprintf("%.1f mL", u.seg.res.Mask.VolumeML())) {
		t.Errorf("result text %q does not show the mask's volume", txt)
	}
	if real {
		if ml := u.seg.res.Mask.VolumeML(); ml < 1000 || ml > 2500 {
			t.Errorf("liver volume %.0f mL is not a liver's", ml)
		}
	}
	// What the overlay draws is the mask: the volume inside the drawn
	// contour (clean-up on the map grid) and the full-resolution mask's
	// agree.
	shown, mask := u.seg.ovl.VolumeML(), u.seg.res.Mask.VolumeML()
	t.Logf("overlay %.1f mL, mask %.1f mL", shown, mask)
	if math.Abs(shown-mask) > 0.01*mask {
		t.Errorf("overlay encloses %.1f mL, the mask holds %.1f mL", shown, mask)
	}
}

// TestThresholdSliderDoesNotRerun moves the slider: the overlay and the
// volume change, the network is not run again, and the mask follows.
func TestThresholdSliderDoesNotRerun(t *testing.T) {
	u, _, postDone, _, _ := openAbdomen(t)
	waitPost(t, postDone)
	res := u.seg.res
	u.scene.SetCursor(insideVoxel(t, res.Mask))
	runs := runsOf(u)
	before := res.Mask.VolumeML()
	n0, _ := overlayStats(u.views[0])
	txt0 := u.seg.VolumeText()
	img0 := append([]byte(nil), u.views[0].Image().Pix...)

	u.seg.thr.SetValue(0.2)
	n1, _ := overlayStats(u.views[0])
	if n1 <= n0 {
		t.Errorf("overlay pixels %d → %d: a lower threshold should paint more", n0, n1)
	}
	if u.seg.ovl.Threshold() != 0.2 || u.seg.thrLabel.Text != "0.20" {
		t.Errorf("overlay threshold %v, label %q", u.seg.ovl.Threshold(), u.seg.thrLabel.Text)
	}
	if u.seg.VolumeText() == txt0 {
		t.Error("volume text unchanged by the slider")
	}
	waitPost(t, postDone)
	// Drain: only the latest threshold counts.
	for len(postDone) > 0 {
		<-postDone
	}
	if runsOf(u) != runs || u.seg.res != res {
		t.Errorf("the slider ran the network again (%d → %d runs)", runs, runsOf(u))
	}
	if res.Post.Threshold != 0.2 {
		t.Errorf("mask threshold %v after the background step, want 0.2", res.Post.Threshold)
	}
	if after := res.Mask.VolumeML(); after < before {
		t.Errorf("volume %.1f → %.1f mL at a lower threshold", before, after)
	}
	if strings.Contains(u.seg.VolumeText(), "≈") {
		t.Errorf("volume still approximate: %q", u.seg.VolumeText())
	}
	want, err := res.Threshold(0.2)
	if err != nil {
		t.Fatal(err)
	}
	if want.Count() != res.Mask.Count() {
		t.Errorf("mask has %d voxels, Threshold(0.2) %d", res.Mask.Count(), want.Count())
	}
	if string(img0) != string(u.views[0].Image().Pix) {
		t.Error("the slider re-rendered the CT image")
	}
}

// TestOverlayControls: fill, outline, opacity, colour and show change the
// rendered overlay pixels, never the CT.
func TestOverlayControls(t *testing.T) {
	u, _, postDone, _, _ := openAbdomen(t)
	waitPost(t, postDone)
	u.scene.SetCursor(insideVoxel(t, u.seg.res.Mask))
	ax := u.views[0]
	ct := append([]byte(nil), ax.Image().Pix...)
	n0, a0 := overlayStats(ax)
	if n0 == 0 {
		t.Fatal("no overlay")
	}
	u.seg.fill.SetChecked(false) // outline only: the inside is clear
	n1, a1 := overlayStats(ax)
	if n1 >= n0/2 || a1 >= a0 {
		t.Errorf("outline only: %d px (alpha %d), fill+outline %d px (alpha %d)", n1, a1, n0, a0)
	}
	u.seg.fill.SetChecked(true)
	u.seg.outline.SetChecked(false)
	n2, a2 := overlayStats(ax)
	if n2 == 0 || a2 == a0 {
		t.Errorf("fill only: %d px alpha %d, same as with the outline (%d)", n2, a2, a0)
	}
	u.seg.outline.SetChecked(true)
	u.seg.opacity.SetValue(0.8)
	if _, a3 := overlayStats(ax); a3 <= a0 {
		t.Errorf("opacity 0.8: alpha sum %d, at 0.35 %d", a3, a0)
	}
	red := append([]byte(nil), ax.Overlay().Pix...)
	u.seg.color.SetSelected("Cyan")
	if string(red) == string(ax.Overlay().Pix) {
		t.Error("colour change did not change the overlay")
	}
	u.seg.show.SetChecked(false)
	if ax.Overlay() != nil {
		t.Error("overlay still drawn when hidden")
	}
	if string(ct) != string(ax.Image().Pix) {
		t.Error("overlay controls re-rendered the CT image")
	}
}

// brokenModels copies the tiny test model into a temporary folder as
// "student" with its .onnx damaged; fixSum makes the card's checksum match
// the damaged file, so that loading it (not the checksum) fails.
func brokenModels(t *testing.T, fixSum bool) string {
	t.Helper()
	src := filepath.Join("..", "inference", "testdata")
	card, err := os.ReadFile(filepath.Join(src, "tiny.json"))
	if err != nil {
		t.Fatal(err)
	}
	onnx, err := os.ReadFile(filepath.Join(src, "tiny.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	bad := append([]byte(nil), onnx[:len(onnx)/2]...)
	for i := 16; i < len(bad); i += 7 {
		bad[i] ^= 0x5a
	}
	// Each edit must find its text: a fixture that changed would
	// otherwise give a card that is not the one this test means.
	c := string(card)
	replace := func(old, new string) {
		t.Helper()
		if !strings.Contains(c, old) {
			t.Fatalf("tiny.json holds no %s to replace; update brokenModels for the new fixture", old)
		}
		c = strings.Replace(c, old, new, 1)
	}
	replace(`"name": "tiny"`, `"name": "student"`)
	replace(`"onnx": "tiny.onnx"`, `"onnx": "student.onnx"`)
	if fixSum {
		// The card's checksum is that of the intact tiny.onnx.
		replace(sha256hex(onnx), sha256hex(bad))
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "student.json"), []byte(c), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "student.onnx"), bad, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestInferenceFailureKeepsViewer: a corrupted model (checksum mismatch,
// or a file that does not load) gives a clear message, no crash, and the
// viewer keeps working without segmentation.
func TestInferenceFailureKeepsViewer(t *testing.T) {
	for _, tc := range []struct {
		name   string
		fixSum bool
		want   string
	}{
		{"checksum", false, "SHA-256"},
		{"corrupt", true, "not a loadable ONNX model"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u, runDone, _ := segUI(t, brokenModels(t, tc.fixSum))
			if err := u.ShowVolume(synthetic()); err != nil {
				t.Fatal(err)
			}
			err := waitRun(t, runDone)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("run error %v, want one saying %q", err, tc.want)
			}
			if tc.name == "checksum" && !errors.Is(err, inference.ErrChecksum) {
				t.Errorf("%v does not wrap ErrChecksum", err)
			}
			if !u.seg.errText.Visible() || !strings.Contains(u.seg.errText.Text, "student") || !strings.Contains(u.status.Text, "Error") {
				t.Errorf("panel %q (visible %v), status %q", u.seg.errText.Text, u.seg.errText.Visible(), u.status.Text)
			}
			if len(u.scene.Overlays()) != 0 || u.seg.running != "" || u.seg.bar.Visible() {
				t.Error("a failed run left an overlay or a progress bar")
			}
			// The viewer still works.
			ax := u.views[0]
			s := ax.Slice()
			test.Scroll(u.win.Canvas(), abs(ax, fyne.NewPos(ax.Size().Width/2, ax.Size().Height/2)), 0, 10)
			if ax.Slice() != s+1 {
				t.Errorf("scrolling after the failure: slice %d → %d", s, ax.Slice())
			}
			// An explicit Run shows a dialog too.
			u.seg.RunModel("student")
			if err := waitRun(t, runDone); err == nil {
				t.Fatal("second run succeeded")
			}
			if u.win.Canvas().Overlays().Top() == nil {
				t.Error("no error dialog for an explicit run")
			}
		})
	}
}

// TestNoModelsFolder: a folder without cards disables segmentation and
// says so; opening a study still works.
func TestNoModelsFolder(t *testing.T) {
	u := newUI(t)
	if err := u.seg.UseModels(t.TempDir()); err == nil {
		t.Fatal("empty models folder accepted")
	}
	if !u.seg.errText.Visible() || !strings.Contains(u.seg.errText.Text, "no model cards") || !u.seg.runBtn.Disabled() {
		t.Errorf("panel %q, run enabled %v", u.seg.errText.Text, !u.seg.runBtn.Disabled())
	}
	if err := u.ShowVolume(synthetic()); err != nil {
		t.Fatal(err)
	}
	if u.seg.run.Last() != nil {
		t.Error("a run started without models")
	}
}

// TestCancelRun cancels a run in flight: the late result is dropped.
func TestCancelRun(t *testing.T) {
	dir, _ := testModels(t)
	u, runDone, _ := segUI(t, dir)
	v := abdomenVolume(t, testct.Abdomen(t))
	if err := u.ShowVolume(v); err != nil { // starts the automatic run
		t.Fatal(err)
	}
	if !u.seg.stage.Visible() || u.seg.cancelBtn.Disabled() {
		t.Error("no progress or Cancel while running")
	}
	abandoned := u.seg.run.Last()
	test.Tap(u.seg.cancelBtn)
	if err := waitRun(t, runDone); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancel: %v", err)
	}
	// The abandoned run finishes; its late result must be dropped.
	waitFor(t, abandoned.Done(), 2*time.Minute, "the abandoned run")
	pump()
	if u.seg.res != nil || len(u.scene.Overlays()) != 0 || u.seg.bar.Visible() || !strings.Contains(u.status.Text, "cancelled") {
		t.Errorf("after cancel: result %v, overlays %d, bar %v, status %q", u.seg.res != nil, len(u.scene.Overlays()), u.seg.bar.Visible(), u.status.Text)
	}
	select {
	case err := <-runDone:
		t.Errorf("cancelled run reported again: %v", err)
	default:
	}
}

// TestBoxRestrictsSegmentation draws a box on the axial view, then narrows
// it on the coronal view: each re-runs the model inside the box only.
func TestBoxRestrictsSegmentation(t *testing.T) {
	u, runDone, _, _, _ := openAbdomen(t)
	runs := runsOf(u)
	u.seg.boxMode.SetChecked(true)
	if !u.views[0].BoxMode {
		t.Fatal("box mode not passed to the views")
	}
	size := u.scene.Slicer().Size()
	k := u.views[0].Slice()
	u.seg.onBox(u.views[0], [3]int{300, 120, k}, [3]int{100, 330, k})
	if err := waitRun(t, runDone); err != nil {
		t.Fatal(err)
	}
	want := inference.Box{Min: [3]int{100, 120, 0}, Max: [3]int{301, 331, size[2]}}
	if runsOf(u) != runs+1 || u.seg.res.ROI != want {
		t.Fatalf("runs %d → %d, ROI %v, want %v", runs, runsOf(u), u.seg.res.ROI, want)
	}
	// The coronal view sets x and z, keeping y from the axial box.
	j := u.views[1].Slice()
	u.seg.onBox(u.views[1], [3]int{120, j, 20}, [3]int{280, j, 60})
	if err := waitRun(t, runDone); err != nil {
		t.Fatal(err)
	}
	want = inference.Box{Min: [3]int{120, 120, 20}, Max: [3]int{281, 331, 61}}
	if u.seg.res.ROI != want {
		t.Errorf("ROI %v, want %v", u.seg.res.ROI, want)
	}
	if !strings.Contains(u.seg.VolumeText(), "in the box") || !u.seg.boxLabel.Visible() {
		t.Errorf("panel %q does not say the run was in the box", u.seg.VolumeText())
	}
	// Nothing is drawn outside the box.
	u.scene.SetCursor([3]int{200, 200, 10})
	if n, _ := overlayStats(u.views[0]); n != 0 {
		t.Errorf("axial slice 10 is outside the box but has %d overlay pixels", n)
	}
	u.seg.ClearBox()
	if err := waitRun(t, runDone); err != nil {
		t.Fatal(err)
	}
	if u.seg.res.ROI != (inference.Box{Max: size}) {
		t.Errorf("after clearing the box: ROI %v", u.seg.res.ROI)
	}
}

func TestFitBox(t *testing.T) {
	p := inference.Preprocessing{SpacingMM: [3]float64{5, 5, 5}, SizeMultiple: 8}
	size := [3]int{512, 512, 78}
	sp := [3]float64{0.727, 0.727, 2}
	b := fitBox(inference.Box{Min: [3]int{10, 250, 30}, Max: [3]int{20, 400, 31}}, size, sp, p)
	// 40 mm needs 57 voxels at 0.727 mm and 21 at 2 mm.
	if b.Min[0] != 0 || b.Max[0] != 57 || b.Min[1] != 250 || b.Max[1] != 400 || b.Max[2]-b.Min[2] != 21 {
		t.Errorf("fitted box %v", b)
	}
	small := fitBox(inference.Box{Max: [3]int{5, 5, 5}}, [3]int{10, 10, 10}, [3]float64{1, 1, 1}, p)
	if small.Max != [3]int{10, 10, 10} {
		t.Errorf("volume smaller than a tile: %v, want the whole volume", small)
	}
}

// TestReferenceMask loads the study's reference liver mask (the CHAOS manual
// label, or the phantom's true liver) as a second overlay:
// on the DICOM series' grid (stored in another voxel order), with its
// volume and Dice; a mask elsewhere in space is refused, a coarser one
// resampled.
func TestReferenceMask(t *testing.T) {
	u, _, postDone, real, study := openAbdomen(t)
	waitPost(t, postDone)
	refDone := make(chan error, 4)
	u.seg.onRefDone = func(err error) { refDone <- err }
	path := study.Liver
	u.LoadReference(path)
	if err := waitFor(t, refDone, time.Minute, "reference"); err != nil {
		t.Fatal(err)
	}
	if u.seg.refOvl == nil || len(u.scene.Overlays()) != 2 {
		t.Fatalf("reference overlay missing (%d overlays)", len(u.scene.Overlays()))
	}
	waitPost(t, postDone) // Dice with the prediction
	if !strings.Contains(u.seg.refLabel.Text, "mL") || !strings.Contains(u.seg.refLabel.Text, "Dice") {
		t.Errorf("reference label %q", u.seg.refLabel.Text)
	}
	if ml := u.seg.ref.VolumeML(); ml < 1000 || ml > 2500 {
		t.Errorf("reference volume %.0f mL", ml)
	}
	if real {
		// A plausibility check of the whole chain (grids, orientation,
		// overlay), not a model evaluation: a liver model overlapping the
		// manual label this little is mis-placed, not merely imprecise.
		d := 0.0
		_, after, found := strings.Cut(u.seg.refLabel.Text, "Dice with student ")
		if _, err := fmt.Sscanf(after, "%g", &d); !found || err != nil || d < 0.8 {
			t.Errorf("student vs reference: %q, want Dice ≥ 0.8", u.seg.refLabel.Text)
		}
	}
	// The reference is drawn in its own colour on the liver.
	u.scene.SetCursor(insideVoxel(t, u.seg.ref))
	u.seg.show.SetChecked(false)
	if n, _ := overlayStats(u.views[0]); n == 0 {
		t.Error("reference not drawn")
	}

	ref, err := nifti.ReadMask(path)
	if err != nil {
		t.Fatal(err)
	}
	// Moved 2 m away: refused.
	far := *ref
	far.Origin[2] += 2000
	farPath := filepath.Join(t.TempDir(), "far.nii.gz")
	if err := nifti.WriteMask(farPath, &far); err != nil {
		t.Fatal(err)
	}
	u.LoadReference(farPath)
	if err := waitFor(t, refDone, time.Minute, "reference"); err == nil || !strings.Contains(err.Error(), "does not overlap") {
		t.Errorf("far mask: %v", err)
	}
	// Every second voxel in-plane: same space, coarser grid, resampled.
	half := volume.NewMask(ref.Geometry)
	half.Size = [3]int{ref.Size[0] / 2, ref.Size[1] / 2, ref.Size[2]}
	half.Spacing[0] *= 2
	half.Spacing[1] *= 2
	half.Voxels = make([]uint8, half.NumVoxels())
	for k := 0; k < half.Size[2]; k++ {
		for j := 0; j < half.Size[1]; j++ {
			for i := 0; i < half.Size[0]; i++ {
				half.Voxels[half.Offset(i, j, k)] = ref.Voxels[ref.Offset(2*i, 2*j, k)]
			}
		}
	}
	halfPath := filepath.Join(t.TempDir(), "half.nii.gz")
	if err := nifti.WriteMask(halfPath, half); err != nil {
		t.Fatal(err)
	}
	u.LoadReference(halfPath)
	if err := waitFor(t, refDone, time.Minute, "reference"); err != nil {
		t.Fatalf("coarser mask in the same space: %v", err)
	}
	if !strings.Contains(u.seg.refLabel.Text, "Resampled") {
		t.Errorf("label %q does not say the mask was resampled", u.seg.refLabel.Text)
	}
	if d := math.Abs(u.seg.ref.VolumeML() - ref.VolumeML()); d > 0.05*ref.VolumeML() {
		t.Errorf("resampled volume %.0f mL vs %.0f mL", u.seg.ref.VolumeML(), ref.VolumeML())
	}
}

// BenchmarkThresholdSlider is one threshold-slider step in the window on
// the abdominal CT (testct.Abdomen): clean-up of the map, the three overlay layers at
// their on-screen size, and the panel text (the volume and the mask follow
// in the background).
func BenchmarkThresholdSlider(b *testing.B) {
	dicom := testct.Abdomen(b).DICOM
	dir, _ := testModels(b)
	a := test.NewTempApp(b)
	u := New(a)
	b.Cleanup(func() { waitWorker(u); u.win.Close(); endUI(u) })
	u.win.Resize(fyne.NewSize(1400, 900))
	runDone := make(chan error, 2)
	u.seg.onRunDone = func(err error) { runDone <- err }
	if err := u.seg.UseModels(dir); err != nil {
		b.Fatal(err)
	}
	loadDone := make(chan error, 1)
	u.load.onDone = func(err error) { loadDone <- err }
	u.Open(dicom)
	if err := waitFor(b, loadDone, 2*time.Minute, "load"); err != nil {
		b.Fatal(err)
	}
	if err := waitRun(b, runDone); err != nil {
		b.Fatal(err)
	}
	u.scene.SetCursor([3]int{180, 250, 40})
	var px [3]image.Rectangle
	for n, v := range u.views {
		if v.Overlay() != nil {
			px[n] = v.Overlay().Bounds()
		}
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		u.seg.SetThreshold(0.3 + 0.4*float64(i%20)/20)
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/step")
	b.Logf("overlay layers %v (device pixels)", px)
}

func sha256hex(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// TestReferenceDICOMSeries loads the study's reference liver mask written as
// a DICOM series of masks: accepted in the CT's frame of reference, refused
// in another one.
func TestReferenceDICOMSeries(t *testing.T) {
	study := testct.Abdomen(t)
	dicom := study.DICOM
	ref, err := nifti.ReadMask(study.Liver)
	if err != nil {
		t.Fatal(err)
	}
	u := newUI(t)
	if err := openAndWait(t, u, dicom); err != nil {
		t.Fatal(err)
	}
	refDone := make(chan error, 2)
	u.seg.onRefDone = func(err error) { refDone <- err }
	lab := volume.New(ref.Geometry)
	for i, x := range ref.Voxels {
		lab.Voxels[i] = int16(x)
	}
	for _, tc := range []struct {
		name, frame string
		ok          bool
	}{
		{"same frame", u.vol.Info.FrameOfReference, true},
		{"other frame", "1.2.3.4.5", false},
	} {
		dir := filepath.Join(t.TempDir(), "mask")
		if err := dicomio.WriteSeries(dir, lab, dicomio.SeriesOptions{FrameOfReferenceUID: tc.frame, UIDSeed: tc.name, SeriesDescription: "liver mask"}); err != nil {
			t.Fatal(err)
		}
		u.LoadReference(dir)
		err := waitFor(t, refDone, time.Minute, "reference "+tc.name)
		if tc.ok {
			if err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			if d := math.Abs(u.seg.ref.VolumeML() - ref.VolumeML()); d > 0.5 {
				t.Errorf("%s: %.1f mL, the NIfTI label %.1f mL", tc.name, u.seg.ref.VolumeML(), ref.VolumeML())
			}
		} else if err == nil || !strings.Contains(err.Error(), "frame of reference") {
			t.Errorf("%s: %v, want a frame-of-reference refusal", tc.name, err)
		}
	}
}

// TestMissingRuntime runs the app in a child process whose ONNX Runtime
// library cannot be found (the runtime loads once per process): opening a
// study must say so in the panel and keep the viewer working.
func TestMissingRuntime(t *testing.T) {
	if os.Getenv("LIVERSEG_TEST_CHILD") == "missing-runtime" {
		missingRuntimeChild(t)
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestMissingRuntime$", "-test.v")
	cmd.Env = append(os.Environ(), "LIVERSEG_TEST_CHILD=missing-runtime", inference.LibEnv+"="+filepath.Join(t.TempDir(), "libonnxruntime.so.1"))
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "child ok") {
		t.Fatalf("child: %v\n%s", err, out)
	}
}

func missingRuntimeChild(t *testing.T) {
	dir, _ := testModels(t)
	u, runDone, _ := segUI(t, dir)
	if err := u.ShowVolume(synthetic()); err != nil {
		t.Fatal(err)
	}
	err := waitRun(t, runDone)
	if !errors.Is(err, inference.ErrRuntimeMissing) {
		t.Fatalf("run error %v, want ErrRuntimeMissing", err)
	}
	if !u.seg.errText.Visible() || !strings.Contains(u.seg.errText.Text, "ONNX Runtime") {
		t.Errorf("panel says %q", u.seg.errText.Text)
	}
	ax := u.views[0]
	s := ax.Slice()
	test.Scroll(u.win.Canvas(), abs(ax, fyne.NewPos(ax.Size().Width/2, ax.Size().Height/2)), 0, 10)
	if ax.Slice() != s+1 {
		t.Error("viewer stopped working after the failure")
	}
	t.Log("child ok")
}

// waitWorker waits, after the window closed, for the background worker to
// return, so that it never calls into a torn-down test app.
func waitWorker(u *UI) {
	u.seg.stopWorker()
	if w := u.seg.worker.Last(); w != nil {
		select {
		case <-w.Done():
		case <-time.After(30 * time.Second):
		}
	}
}

func TestGroupThousands(t *testing.T) {
	for n, want := range map[int64]string{7: "7", 1234: "1\u2009234", 29416: "29\u2009416", 1266110: "1\u2009266\u2009110"} {
		if got := groupThousands(n); got != want {
			t.Errorf("%d: %q, want %q", n, got, want)
		}
	}
}

// TestEdgeFromScan: after a run the views show the mask refined from the
// scan's own HU (not the 5 mm map's contour), the result line says so, and
// unticking "Edge from scan" goes back to the network's own outline without
// running the network again; ticking it again gives the same refined mask.
func TestEdgeFromScan(t *testing.T) {
	u, _, postDone, real, _ := openAbdomen(t)
	if !real {
		t.Skip("needs the shipped student (models/student.onnx): the test network draws no liver to refine")
	}
	waitPost(t, postDone)
	s := u.seg
	res := s.res
	if !res.Edge.Applied || res.Post.Edge == nil || s.maskOvl == nil {
		t.Fatalf("after the run: edge %+v, post edge %v, refined overlay %v", res.Edge, res.Post.Edge, s.maskOvl != nil)
	}
	if l := u.scene.Overlays(); len(l) == 0 || l[0] != s.maskOvl {
		t.Errorf("the views do not draw the refined mask first: %v", l)
	}
	if txt := s.VolumeText(); !strings.Contains(txt, "edge from the scan") {
		t.Errorf("result text %q does not say the edge was refined", txt)
	}
	if res.Edge.LiverHU < 60 || res.Edge.LiverHU > 250 {
		t.Errorf("liver measured at %.0f HU: not a liver's", res.Edge.LiverHU)
	}
	refined := res.Mask.Count()
	runs := runsOf(u)

	s.edge.SetChecked(false)
	waitPost(t, postDone)
	if res.Post.Edge != nil || s.maskOvl != nil || res.Edge.Applied {
		t.Fatalf("edge off: post edge %v, refined overlay %v, stats %+v", res.Post.Edge, s.maskOvl != nil, res.Edge)
	}
	if l := u.scene.Overlays(); len(l) == 0 || l[0] != s.ovl {
		t.Errorf("edge off: the views do not draw the map's contour: %v", l)
	}
	if txt := s.VolumeText(); strings.Contains(txt, "edge from the scan") {
		t.Errorf("edge off: result text %q still says refined", txt)
	}
	plain := res.Mask.Count()
	want, err := res.Apply(inference.PostOptions{Threshold: res.Post.Threshold, LargestComponent: true, FillHoles: true})
	if err != nil {
		t.Fatal(err)
	}
	if plain != want.Count() || plain == refined {
		t.Errorf("edge off: mask %d voxels, the network's own outline %d, refined %d", plain, want.Count(), refined)
	}

	s.edge.SetChecked(true)
	waitPost(t, postDone)
	if s.maskOvl == nil || res.Mask.Count() != refined {
		t.Errorf("edge on again: refined overlay %v, mask %d voxels, first time %d", s.maskOvl != nil, res.Mask.Count(), refined)
	}
	if runsOf(u) != runs {
		t.Errorf("the edge switch ran the network again (%d → %d runs)", runs, runsOf(u))
	}
	t.Logf("chaos mask %d voxels refined, %d as the network drew it; %v", refined, plain, res.Edge)
}
