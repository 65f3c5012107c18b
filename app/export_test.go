package app

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/storage"
	"fyne.io/fyne/v2/test"

	"github.com/liverseg/liverseg/dicomio/dicomseg"
	"github.com/liverseg/liverseg/internal/testsupport/nrrdtest"
	"github.com/liverseg/liverseg/internal/testsupport/shareddata"
	"github.com/liverseg/liverseg/internal/testsupport/testct"
	"github.com/liverseg/liverseg/metrics"
	"github.com/liverseg/liverseg/volume"
)

// python is the interpreter with nibabel and pydicom (the one on PATH may
// be another Python).
const python = "/usr/bin/python3"

// exportVia drives the export dialog as a user would: pick the mask whose
// label starts with what, the format, type the folder and name, press
// Export. It returns the outcome the export reports (nil: written).
func exportVia(t *testing.T, u *UI, what, format, folder, name string) (string, error) {
	t.Helper()
	done := make(chan error, 1)
	var got string
	u.exp.onDone = func(p string, err error) { got = p; done <- err }
	u.ShowExport()
	e := &u.exp
	if e.dlg == nil {
		t.Fatal("the export dialog did not open")
	}
	found := false
	for _, o := range e.source.Options {
		if strings.HasPrefix(o, what) {
			e.source.SetSelected(o)
			found = true
		}
	}
	if !found {
		t.Fatalf("no %q among the masks offered: %q", what, e.source.Options)
	}
	e.format.SetSelected(formatLabels[format])
	e.folder.SetText("")
	test.Type(e.folder, folder)
	if name != "" {
		e.name.SetText(name)
	}
	want := filepath.Join(folder, e.name.Text)
	test.Tap(e.exportBtn)
	if e.dlg != nil { // refused before any work: the dialog stays open
		return want, e.lastErr
	}
	if e.confirm != nil {
		return want, errConfirmShown
	}
	err := waitFor(t, done, 2*time.Minute, "export to "+want)
	if got != want {
		t.Errorf("exported to %s, want %s", got, want)
	}
	if err == nil {
		t.Log(u.status.Text)
	}
	return got, err
}

var errConfirmShown = errors.New("the overwrite question is showing")

// dciodvfyErrors runs dciodvfy on path and returns its error lines (nil
// when dicom3tools is not installed, with a log line).
func dciodvfyErrors(t *testing.T, path string) []string {
	t.Helper()
	bin, err := exec.LookPath("dciodvfy")
	if err != nil {
		t.Log("dciodvfy (dicom3tools) is not installed: skipping IOD validation")
		return nil
	}
	out, _ := exec.Command(bin, "-new", path).CombinedOutput()
	var errs []string
	for _, l := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(l, "Error") {
			errs = append(errs, l)
		}
	}
	return errs
}

func sameVoxels(t *testing.T, what string, got, want *volume.Mask) {
	t.Helper()
	if got.Size != want.Size {
		t.Fatalf("%s: size %v, want %v", what, got.Size, want.Size)
	}
	diff := 0
	for i := range got.Voxels {
		if (got.Voxels[i] != 0) != (want.Voxels[i] != 0) {
			diff++
		}
	}
	if diff != 0 {
		t.Errorf("%s: %d voxels differ (%d vs %d set)", what, diff, got.Count(), want.Count())
	}
}

// folderFiles lists dir's entries (names), temporary files included.
func folderFiles(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range es {
		out = append(out, e.Name())
	}
	return out
}

// TestExportFromGUI exports the student's mask of the abdominal CT through the
// export dialog as DICOM SEG and NIfTI, and checks the files with the
// outside tools, the overwrite question and failures.
func TestExportFromGUI(t *testing.T) {
	u, _, _, _, study := openAbdomen(t)
	in := inputFolder(u.vol)
	before := folderFiles(t, in)
	res := u.seg.res
	want, err := res.Threshold(u.seg.ovl.Threshold()) // what the overlay shows, built independently
	if err != nil {
		t.Fatal(err)
	}
	if want.Count() == 0 {
		t.Fatal("the student found no liver")
	}
	if within(u.defaultExportFolder(), in) {
		t.Errorf("the export dialog starts in the study's input folder %s", in)
	}
	out := t.TempDir()

	t.Run("SEG", func(t *testing.T) {
		if ok, why := segAvailable(u.vol); !ok {
			t.Fatalf("SEG not offered for a DICOM study: %s", why)
		}
		path, err := exportVia(t, u, res.Model, FormatSEG, out, "")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasSuffix(path, ".dcm") {
			t.Errorf("default name %s", path)
		}
		if errs := dciodvfyErrors(t, path); len(errs) > 0 {
			t.Errorf("dciodvfy reports %d errors:\n%s", len(errs), strings.Join(errs, "\n"))
		}
		seg, err := dicomseg.ReadSEG(path)
		if err != nil {
			t.Fatal(err)
		}
		if seg.ReferencedSeriesUID != u.vol.Info.SeriesInstanceUID || seg.FrameOfReference != u.vol.Info.FrameOfReference {
			t.Errorf("SEG references series %s / frame %s, CT is %s / %s", seg.ReferencedSeriesUID, seg.FrameOfReference, u.vol.Info.SeriesInstanceUID, u.vol.Info.FrameOfReference)
		}
		got, err := seg.OnGrid(u.vol.Geometry)
		if err != nil {
			t.Fatal(err)
		}
		sameVoxels(t, "SEG read back", got, want)
		t.Logf("SEG %s: %d liver voxels, %d frames", filepath.Base(path), got.Count(), len(framesOf(got)))

		// Reopened in the window as the reference, it lies exactly on the
		// student's mask.
		refDone := make(chan error, 1)
		u.seg.onRefDone = func(err error) { refDone <- err }
		u.LoadReference(path)
		if err := waitFor(t, refDone, time.Minute, "reference"); err != nil {
			t.Fatal(err)
		}
		d, err := metrics.Dice(want.Canonical(), u.seg.ref)
		if err != nil || d != 1 {
			t.Errorf("reopened SEG vs the mask: Dice %v (%v), want 1", d, err)
		}
	})

	t.Run("Reference", func(t *testing.T) {
		// The reference shown (the SEG reopened above) leaves the app on
		// the CT's own grid, voxel for voxel, in both formats.
		if u.seg.ref == nil {
			t.Skip("no reference loaded")
		}
		dir := t.TempDir()
		path, err := exportVia(t, u, "Reference", FormatSEG, dir, "")
		if err != nil {
			t.Fatal(err)
		}
		if errs := dciodvfyErrors(t, path); len(errs) > 0 {
			t.Errorf("dciodvfy reports %d errors:\n%s", len(errs), strings.Join(errs, "\n"))
		}
		seg, err := dicomseg.ReadSEG(path)
		if err != nil {
			t.Fatal(err)
		}
		got, err := seg.OnGrid(u.vol.Geometry)
		if err != nil {
			t.Fatal(err)
		}
		sameVoxels(t, "reference as SEG", got, want)
		path, err = exportVia(t, u, "Reference", FormatNIfTI, dir, "")
		if err != nil {
			t.Fatal(err)
		}
		if info := nibabelAffines(t, path); info[0].Nonzero != int64(want.Count()) {
			t.Errorf("reference as NIfTI: %d voxels, want %d", info[0].Nonzero, want.Count())
		}
	})

	t.Run("NIfTI", func(t *testing.T) {
		path, err := exportVia(t, u, res.Model, FormatNIfTI, out, "")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasSuffix(path, ".nii.gz") {
			t.Errorf("default name %s", path)
		}
		paths := []string{path}
		if study.Real { // the same CT converted to NIfTI by another tool (dcm2niix)
			paths = append(paths, study.CT)
		}
		info := nibabelAffines(t, paths...)
		ras := u.vol.AffineRAS()
		for r := 0; r < 3; r++ {
			for c := 0; c < 4; c++ {
				if d := math.Abs(info[0].Affine[r][c] - ras[r][c]); d > 1e-3*math.Max(1, math.Abs(ras[r][c])) {
					t.Errorf("nibabel affine[%d][%d] = %g, the CT's is %g", r, c, info[0].Affine[r][c], ras[r][c])
				}
				// The same CT converted to NIfTI by another tool.
				if len(info) > 1 {
					if d := math.Abs(info[0].Affine[r][c] - info[1].Affine[r][c]); d > 1e-3*math.Max(1, math.Abs(ras[r][c])) {
						t.Errorf("affine[%d][%d] = %g, ct.nii.gz has %g", r, c, info[0].Affine[r][c], info[1].Affine[r][c])
					}
				}
			}
		}
		if info[0].Nonzero != int64(want.Count()) || info[0].Shape != [3]int(u.vol.Size) {
			t.Errorf("nibabel: %d voxels set on %v, want %d on %v", info[0].Nonzero, info[0].Shape, want.Count(), u.vol.Size)
		}
		t.Logf("nibabel affine of %s (%d files compared): %v", filepath.Base(path), len(info), info[0].Affine)
	})

	t.Run("OverwriteNeedsConfirmation", func(t *testing.T) {
		path := filepath.Join(out, "existing.dcm")
		if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		if _, err := exportVia(t, u, res.Model, FormatSEG, out, "existing.dcm"); err != errConfirmShown {
			t.Fatalf("exporting over an existing file: %v, want the overwrite question", err)
		}
		u.exp.onDone = func(_ string, err error) { done <- err }
		if b, _ := os.ReadFile(path); string(b) != "old" {
			t.Fatal("the file changed before the user answered")
		}
		test.Tap(u.exp.keepBtn)
		if err := waitFor(t, done, 2*time.Minute, "export"); err != errDeclined {
			t.Errorf("declined: %v", err)
		}
		if b, _ := os.ReadFile(path); string(b) != "old" {
			t.Fatal("the file changed although the user kept it")
		}
		if _, err := exportVia(t, u, res.Model, FormatSEG, out, "existing.dcm"); err != errConfirmShown {
			t.Fatalf("second try: %v", err)
		}
		u.exp.onDone = func(_ string, err error) { done <- err }
		test.Tap(u.exp.replaceBtn)
		if err := waitFor(t, done, 2*time.Minute, "export"); err != nil {
			t.Fatal(err)
		}
		if !dicomseg.IsSEG(path) {
			t.Error("replacing: the file is not a SEG")
		}
	})

	t.Run("FailureLeavesNothing", func(t *testing.T) {
		// A folder that is a file: refused before any work.
		notDir := filepath.Join(out, "existing.dcm")
		if _, err := exportVia(t, u, res.Model, FormatNIfTI, filepath.Join(notDir, "sub"), ""); err == nil {
			t.Error("export into a folder below a file succeeded")
		}
		if u.exp.lastErr == nil || !strings.Contains(u.exp.lastErr.Error(), notDir) {
			t.Errorf("error %v does not name the target", u.exp.lastErr)
		}
		u.exp.dlg.Hide()
		// A write that fails half way: the process may write only 4 KB
		// per file (RLIMIT_FSIZE; root ignores folder permissions, so a
		// read-only folder would not fail here). The writers' temporary
		// files must go, and no target appear.
		for _, f := range []string{FormatSEG, FormatNIfTI} {
			dir := t.TempDir()
			var old syscall.Rlimit
			if err := syscall.Getrlimit(syscall.RLIMIT_FSIZE, &old); err != nil {
				t.Skip(err)
			}
			signal.Ignore(syscall.SIGXFSZ) // the write then fails with EFBIG
			lim := old
			lim.Cur = 4096
			if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &lim); err != nil {
				t.Skip(err)
			}
			u.exp.lastErr = nil
			path, err := exportVia(t, u, res.Model, f, dir, "")
			syscall.Setrlimit(syscall.RLIMIT_FSIZE, &old)
			signal.Reset(syscall.SIGXFSZ)
			if err == nil {
				t.Fatalf("%s: export succeeded past a 4 KB file size limit", f)
			}
			if left := folderFiles(t, dir); len(left) != 0 {
				t.Errorf("%s: a failed export left %q", f, left)
			}
			if u.exp.lastErr == nil || !strings.Contains(u.exp.lastErr.Error(), path) {
				t.Errorf("%s: error %v does not name %s", f, u.exp.lastErr, path)
			}
			t.Logf("%s: %v", f, u.exp.lastErr)
		}
	})

	t.Run("Cancel", func(t *testing.T) {
		dir := t.TempDir()
		testHookBeforeWrite = func(cancel func()) { cancel() } // the user presses Cancel
		defer func() { testHookBeforeWrite = nil }()
		if _, err := exportVia(t, u, res.Model, FormatSEG, dir, ""); !errors.Is(err, context.Canceled) {
			t.Errorf("cancelled export: %v", err)
		}
		if left := folderFiles(t, dir); len(left) != 0 {
			t.Errorf("a cancelled export left %q", left)
		}
		if !strings.Contains(u.status.Text, "cancelled") {
			t.Errorf("status %q", u.status.Text)
		}
	})

	if after := folderFiles(t, in); strings.Join(after, ",") != strings.Join(before, ",") {
		t.Errorf("the study's input folder changed: %d files before, %d after", len(before), len(after))
	}
}

func framesOf(m *volume.Mask) []int {
	var ks []int
	plane := m.Size[0] * m.Size[1]
	for k := 0; k < m.Size[2]; k++ {
		for _, x := range m.Voxels[k*plane : (k+1)*plane] {
			if x != 0 {
				ks = append(ks, k)
				break
			}
		}
	}
	return ks
}

// nibabelAffines reads the files with nibabel: affine, shape, voxels set.
type nibInfo struct {
	Affine  [4][4]float64
	Shape   [3]int
	Nonzero int64
}

func nibabelAffines(t *testing.T, paths ...string) []nibInfo {
	t.Helper()
	if err := exec.Command(python, "-c", "import nibabel, numpy").Run(); err != nil {
		t.Skipf("%s cannot import nibabel (%v)", python, err)
	}
	script := `import json, sys
import numpy as np, nibabel as nib
out = []
for p in sys.argv[1:]:
    img = nib.load(p)
    out.append(dict(affine=img.affine.tolist(), shape=[int(x) for x in img.shape[:3]],
                    nonzero=int(np.count_nonzero(np.asanyarray(img.dataobj))) if 'ct.nii' not in p else 0))
print(json.dumps(out))`
	b, err := exec.Command(python, append([]string{"-c", script}, paths...)...).Output()
	if err != nil {
		t.Fatalf("nibabel: %v", err)
	}
	var out []nibInfo
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestExportSEGNotOfferedForNIfTI opens the CT from NIfTI (chaos_ct01's, or
// the phantom's series written as NIfTI): the dialog offers NIfTI only and
// says why.
func TestExportSEGNotOfferedForNIfTI(t *testing.T) {
	study := testct.Abdomen(t)
	ct := study.CT
	if !study.Real {
		ct = abdomenNIfTI(t, study, abdomenVolume(t, study))
	}
	dir, _ := testModels(t)
	u, runDone, _ := segUI(t, dir)
	if err := openAndWait(t, u, ct); err != nil {
		t.Fatal(err)
	}
	if err := waitRun(t, runDone); err != nil {
		t.Fatal(err)
	}
	u.ShowExport()
	e := &u.exp
	if !e.format.Disabled() || e.format.Selected != formatLabels[FormatNIfTI] {
		t.Errorf("format control: disabled %v, selected %q; want NIfTI only", e.format.Disabled(), e.format.Selected)
	}
	if !e.segNote.Visible() || !strings.Contains(e.segNote.Text, "not read from DICOM") {
		t.Errorf("no reason shown for the missing SEG option: %q", e.segNote.Text)
	}
	out := t.TempDir()
	path, err := exportVia(t, u, u.seg.res.Model, FormatNIfTI, out, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Error(err)
	}
}

// TestReopenDcmqiSEG shows dcmqi's SEG of the three-slice CT as the
// reference overlay, and checks it against Slicer's NRRD of the same
// segmentation, the overlay on screen, the drop path and a SEG of another
// study.
func TestReopenDcmqiSEG(t *testing.T) {
	dir := shareddata.Path(t, "cases", "dcmqi_ct3slice")
	u := newUI(t)
	// A SEG with no study open is not an image: a dialog says to open its
	// CT first, and nothing starts loading.
	gen := u.load.gen
	u.openOrOverlay([]string{filepath.Join(dir, "liver.dcm")})
	pump()
	if u.load.gen != gen || u.load.lastErr == nil || !strings.Contains(u.load.lastErr.Error(), "open its CT first") || u.win.Canvas().Overlays().Top() == nil {
		t.Fatalf("a SEG opened without a study: load started %v, error %v", u.load.gen != gen, u.load.lastErr)
	}
	u.win.Canvas().Overlays().Top().Hide()
	if err := openAndWait(t, u, filepath.Join(dir, "dicom")); err != nil {
		t.Fatal(err)
	}
	refDone := make(chan error, 2)
	u.seg.onRefDone = func(err error) { refDone <- err }
	// File → Open file… on the SEG takes the same route as a drop: the
	// SEG becomes the reference and the study stays open.
	study := u.vol
	u.openOrOverlay([]string{filepath.Join(dir, "liver.dcm")})
	if err := waitFor(t, refDone, time.Minute, "reference from Open file"); err != nil {
		t.Fatal(err)
	}
	if u.vol != study || u.seg.ref == nil || u.seg.ref.Count() == 0 {
		t.Fatal("opening the SEG as a file did not show it over the open study")
	}
	// Dropped on the window, as a user would.
	u.dropped(fyne.NewPos(10, 10), []fyne.URI{storage.NewFileURI(filepath.Join(dir, "liver.dcm"))})
	if err := waitFor(t, refDone, time.Minute, "reference"); err != nil {
		t.Fatal(err)
	}
	if u.scene.Slicer() == nil || u.seg.refOvl == nil {
		t.Fatal("no reference overlay")
	}
	nrrd := nrrdtest.ReadMask(t, filepath.Join(dir, "liver_seg.nrrd"))
	d, err := metrics.Dice(nrrd.Canonical(), u.seg.ref)
	if err != nil {
		t.Fatal(err)
	}
	if d != 1 || nrrd.Count() == 0 {
		t.Errorf("dcmqi SEG as reference vs liver_seg.nrrd: Dice %.6f (%d vs %d voxels), want 1", d, u.seg.ref.Count(), nrrd.Count())
	}
	// On screen: every view through the liver shows reference pixels.
	u.scene.SetCursor(insideVoxel(t, u.seg.ref))
	for _, v := range u.views {
		if n, _ := overlayStats(v); n == 0 {
			t.Errorf("the %s view shows no reference overlay", v.Plane())
		}
	}
	t.Logf("dcmqi SEG: %d voxels, Dice 1 with liver_seg.nrrd; label %q", u.seg.ref.Count(), u.seg.refLabel.Text)

	// A SEG made on another series of the same frame of reference (another
	// reconstruction) is shown, with a warning naming that series.
	onCT, err := volume.MaskFromCanonical(u.seg.ref, u.vol.Geometry)
	if err != nil {
		t.Fatal(err)
	}
	recon := *u.vol
	recon.Info.SeriesInstanceUID = "2.25.123456789"
	otherSeries := filepath.Join(t.TempDir(), "other_series.dcm")
	if err := dicomseg.WriteSEG(otherSeries, &recon, onCT, dicomseg.SEGOptions{}); err != nil {
		t.Fatal(err)
	}
	u.LoadReference(otherSeries)
	if err := waitFor(t, refDone, time.Minute, "reference"); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(u.seg.refLabel.Text, "Warning") || !strings.Contains(u.seg.refLabel.Text, "2.25.123456789") {
		t.Errorf("no warning about the other series: %q", u.seg.refLabel.Text)
	}

	// The same SEG on another CT (another frame of reference) is refused.
	other := newUI(t)
	if err := openAndWait(t, other, shareddata.Path(t, "cases", "chaos_ct01", "dicom")); err != nil {
		t.Fatal(err)
	}
	other.seg.onRefDone = func(err error) { refDone <- err }
	other.LoadReference(filepath.Join(dir, "liver.dcm"))
	if err := waitFor(t, refDone, time.Minute, "reference"); err == nil {
		t.Error("a SEG of another study was accepted")
	}
	// The error shown names the file and the reason.
	if err := other.seg.lastErr; err == nil || !strings.Contains(err.Error(), "frame of reference") || !strings.Contains(err.Error(), "liver.dcm") {
		t.Errorf("SEG of another study: %v", err)
	}
	if other.seg.ref != nil {
		t.Error("a SEG of another study was shown")
	}
}
