package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/liverseg/liverseg/internal/testsupport/shareddata"
	"github.com/liverseg/liverseg/nifti"
	"github.com/liverseg/liverseg/volume"
)

func TestOpenImage(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()

	// NIfTI by extension, whatever the letter case.
	g := volume.Geometry{Size: [3]int{4, 3, 2}, Spacing: [3]float64{1, 2, 3}, Origin: [3]float64{5, 6, 7},
		Direction: [3][3]float64{{-1, 0, 0}, {0, 1, 0}, {0, 0, -1}}}
	src := volume.New(g)
	for i := range src.Voxels {
		src.Voxels[i] = int16(i*100 - 1000)
	}
	p := filepath.Join(dir, "CT.NII.GZ")
	if err := nifti.WriteVolume(p, src); err != nil {
		t.Fatal(err)
	}
	v, cat, err := openImage(ctx, p, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cat != nil {
		t.Error("NIfTI input returned a DICOM catalog")
	}
	if !slices.Equal(v.Voxels, src.Voxels) || !v.SameGridWithin(src.Geometry, 1e-4) {
		t.Fatal("NIfTI opened with different voxels or grid")
	}

	// DICOM folder: the largest series, with its catalog.
	in := shareddata.Path(t, "dicom", "pydicom-testfiles", "dicomdirtests", "98892001", "CT5N")
	v, cat, err = openImage(ctx, in, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cat == nil || len(cat.Series) != 1 || v.Size != [3]int{16, 16, 5} {
		t.Fatalf("DICOM folder: catalog %v, size %v", cat, v.Size)
	}

	// Errors name the path and stay on one line.
	notNifti := filepath.Join(dir, "fake.nii")
	os.WriteFile(notNifti, []byte("this is not an image"), 0o644)
	empty := t.TempDir()
	os.WriteFile(filepath.Join(empty, "notes.txt"), []byte("hello"), 0o644)
	for _, bad := range []string{filepath.Join(dir, "missing.nii.gz"), filepath.Join(dir, "missing-folder"), notNifti, empty} {
		_, _, err := openImage(ctx, bad, nil)
		if err == nil || !strings.Contains(err.Error(), bad) || strings.Contains(err.Error(), "\n") {
			t.Errorf("openImage(%s): err = %v, want a one-line error naming it", bad, err)
		}
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, _, err := openImage(cancelled, in, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context: err = %v", err)
	}
}

// runCLI executes a subcommand through cli.Run, as main does.
func runCLI(args ...string) (code int, stdout, stderr string) {
	var o, e bytes.Buffer
	code = Run(args, &o, &e)
	return code, o.String(), e.String()
}

// nibabelAffine returns the affine nibabel reads from a NIfTI file; the test
// is skipped only when /usr/bin/python3 lacks nibabel.
func nibabelAffine(t *testing.T, path string) [4][4]float64 {
	t.Helper()
	const py = "/usr/bin/python3"
	if err := exec.Command(py, "-c", "import nibabel").Run(); err != nil {
		t.Skipf("%s cannot import nibabel (%v): skipping the cross-check against nibabel", py, err)
	}
	out, err := exec.Command(py, "-c", "import sys, json, nibabel; print(json.dumps(nibabel.load(sys.argv[1]).affine.tolist()))", path).Output()
	if err != nil {
		t.Fatalf("nibabel on %s: %v", path, err)
	}
	var a [4][4]float64
	if err := json.Unmarshal(out, &a); err != nil {
		t.Fatalf("nibabel output %q: %v", out, err)
	}
	return a
}

func assertAffineTol(t *testing.T, what string, got, want [4][4]float64, tol float64) {
	t.Helper()
	for r := 0; r < 4; r++ {
		for c := 0; c < 4; c++ {
			if d := got[r][c] - want[r][c]; d > tol || d < -tol || d != d {
				t.Fatalf("%s: affine differs at [%d][%d]:\n got %v\nwant %v", what, r, c, got, want)
			}
		}
	}
}
