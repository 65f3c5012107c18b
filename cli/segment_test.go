package cli

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/liverseg/liverseg/dicomio/dicomseg"
	"github.com/liverseg/liverseg/inference"
	"github.com/liverseg/liverseg/internal/testsupport/shareddata"
	"github.com/liverseg/liverseg/internal/testsupport/testct"
	"github.com/liverseg/liverseg/nifti"
	"github.com/liverseg/liverseg/volume"
)

// tinyModels is the folder of inference's test network: a fixed-weight
// two-layer net, not a liver model, but a real ONNX file run by the real
// runtime, so the command's plumbing is tested end to end.
const tinyModels = "../inference/testdata"

// TestSegmentDICOM segments a DICOM series (the real CHAOS one, or the
// synthetic phantom where ../shared/data is absent) and checks that the
// mask lies on the series' own grid, equals what the library computes, and
// that nothing was written into the input folder.
func TestSegmentDICOM(t *testing.T) {
	in := testct.Abdomen(t).DICOM
	before := dirListing(t, in)
	out := filepath.Join(t.TempDir(), "mask.nii.gz")
	code, stdout, stderr := runCLI("segment", "--models", tinyModels, "--model", "tiny", "--threads", "2", "--out", out, in)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stdout, "wrote "+out) || !strings.Contains(stdout, "network") {
		t.Errorf("summary %q", stdout)
	}
	if !strings.Contains(stderr, "running network") {
		t.Errorf("no progress on stderr: %q", stderr)
	}
	if dirListing(t, in) != before {
		t.Fatal("segment changed the input folder")
	}
	m, err := nifti.ReadMask(out)
	if err != nil {
		t.Fatal(err)
	}
	v, _, err := openImage(context.Background(), in, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !m.Geometry.SameGridWithin(v.Geometry, 1e-3) {
		t.Fatalf("mask grid %+v is not the series grid %+v", m.Geometry, v.Geometry)
	}
	res := tinyResult(t, v)
	for i := range m.Voxels {
		if m.Voxels[i] != res.Mask.Voxels[i] {
			t.Fatalf("written mask differs from the library's at voxel %d", i)
		}
	}
	if m.Count() == 0 {
		t.Fatal("empty mask")
	}

	// A higher threshold gives a smaller mask.
	out2 := filepath.Join(t.TempDir(), "mask.nii")
	if code, _, stderr := runCLI("segment", "--models", tinyModels, "--model", "tiny", "--threshold", "0.95", "--out", out2, in); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	m2, err := nifti.ReadMask(out2)
	if err != nil {
		t.Fatal(err)
	}
	if c := m2.Count(); c == 0 || c >= m.Count() {
		t.Errorf("threshold 0.95: %d voxels, default: %d", c, m.Count())
	}
}

// tinyResult runs the test network on v through the library, as the
// command should have.
func tinyResult(t *testing.T, v *volume.Volume) *inference.Result {
	t.Helper()
	reg, err := inference.OpenRegistry(tinyModels, inference.RegistryOptions{Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	card, _ := reg.Lookup("tiny")
	res, err := reg.Run(context.Background(), v, "tiny", card.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// TestSegmentDICOMSEG writes the mask as a DICOM SEG (chosen by the .dcm
// extension) and reads it back onto the CT grid: the same voxels as the
// library's mask, in the CT's study and frame of reference.
func TestSegmentDICOMSEG(t *testing.T) {
	in := testct.Abdomen(t).DICOM
	out := filepath.Join(t.TempDir(), "liver-seg.dcm")
	code, stdout, stderr := runCLI("segment", "--models", tinyModels, "--model", "tiny", "--threads", "2", "--out", out, in)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stdout, "wrote "+out) {
		t.Errorf("summary %q", stdout)
	}
	if path, err := exec.LookPath("dciodvfy"); err == nil {
		// dciodvfy exits non-zero on warnings too: judge by its Error lines.
		rep, _ := exec.Command(path, "-new", out).CombinedOutput()
		for _, line := range strings.Split(string(rep), "\n") {
			if strings.HasPrefix(line, "Error") {
				t.Errorf("dciodvfy: %s", line)
			}
		}
	} else {
		t.Log("dciodvfy (Debian dicom3tools) not installed: SEG not validated here")
	}
	seg, err := dicomseg.ReadSEG(out)
	if err != nil {
		t.Fatal(err)
	}
	v, _, err := openImage(context.Background(), in, nil)
	if err != nil {
		t.Fatal(err)
	}
	if seg.StudyInstanceUID != v.Info.StudyInstanceUID || seg.FrameOfReference != v.Info.FrameOfReference {
		t.Errorf("SEG study %s / frame %s, CT %s / %s", seg.StudyInstanceUID, seg.FrameOfReference, v.Info.StudyInstanceUID, v.Info.FrameOfReference)
	}
	m, err := seg.OnGrid(v.Geometry)
	if err != nil {
		t.Fatal(err)
	}
	res := tinyResult(t, v)
	if m.Count() == 0 || m.Count() != res.Mask.Count() {
		t.Fatalf("SEG holds %d voxels, the library's mask %d", m.Count(), res.Mask.Count())
	}
	for i := range m.Voxels {
		if (m.Voxels[i] != 0) != (res.Mask.Voxels[i] != 0) {
			t.Fatalf("SEG differs from the library's mask at voxel %d", i)
		}
	}
}

func TestSegmentErrors(t *testing.T) {
	ct := shareddata.Path(t, "cases", "chaos_ct01", "ct.nii.gz")
	small := shareddata.Path(t, "cases", "dcmqi_ct3slice", "dicom")
	dir := t.TempDir()
	exists := filepath.Join(dir, "exists.nii.gz")
	os.WriteFile(exists, []byte("x"), 0o644)
	out := filepath.Join(dir, "m.nii.gz")
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"no model", []string{"--models", tinyModels, "--out", out, ct}, "--model is required"},
		{"no out", []string{"--models", tinyModels, "--model", "tiny", ct}, "--out is required"},
		{"bad out name", []string{"--models", tinyModels, "--model", "tiny", "--out", filepath.Join(dir, "m.png"), ct}, ".nii.gz"},
		{"bad threshold", []string{"--models", tinyModels, "--model", "tiny", "--threshold", "1.5", "--out", out, ct}, "between 0 and 1"},
		{"unknown model", []string{"--models", tinyModels, "--model", "teacher", "--out", out, ct}, `unknown model "teacher" (models in ../inference/testdata: tiny)`},
		{"exists", []string{"--models", tinyModels, "--model", "tiny", "--out", exists, ct}, "already exists; use --force"},
		{"no models folder", []string{"--models", filepath.Join(dir, "none"), "--model", "tiny", "--out", out, ct}, "none"},
		{"too small", []string{"--models", tinyModels, "--model", "tiny", "--out", out, small}, "too small for the network"},
		{"bad format", []string{"--models", tinyModels, "--model", "tiny", "--format", "png", "--out", out, ct}, "must be nifti or seg"},
		{"seg from NIfTI", []string{"--models", tinyModels, "--model", "tiny", "--out", filepath.Join(dir, "m.dcm"), ct}, "write NIfTI instead"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, _, stderr := runCLI(append([]string{"segment"}, c.args...)...)
			if code != 2 || !strings.Contains(stderr, c.want) {
				t.Fatalf("exit %d, stderr %q; want 2 and %q", code, stderr, c.want)
			}
			if _, err := os.Stat(out); err == nil {
				t.Fatal("a failed run left an output file")
			}
		})
	}
}
