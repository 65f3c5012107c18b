package cli

import (
	"context"
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

// dcm2niix converts a DICOM folder with dcm2niix into a temporary folder
// and returns its NIfTI output (the one not resampled to equal spacing);
// the test is skipped only when dcm2niix is not installed.
func dcm2niix(t *testing.T, in string) string {
	t.Helper()
	exe, err := exec.LookPath("dcm2niix")
	if err != nil {
		t.Skip("dcm2niix is not installed: skipping the comparison with it")
	}
	out := t.TempDir()
	if b, err := exec.Command(exe, "-z", "y", "-o", out, in).CombinedOutput(); err != nil {
		t.Fatalf("dcm2niix %s: %v\n%s", in, err, b)
	}
	all, _ := filepath.Glob(filepath.Join(out, "*.nii.gz"))
	var main, eq []string
	for _, p := range all {
		// "_Eq_" files are dcm2niix's copies resampled to equal spacing;
		// dicomio resamples uneven series the same way, so that copy is
		// the reference when there is one.
		if strings.Contains(filepath.Base(p), "_Eq_") {
			eq = append(eq, p)
		} else {
			main = append(main, p)
		}
	}
	if len(eq) == 1 {
		return eq[0]
	}
	if len(main) != 1 {
		t.Fatalf("dcm2niix wrote %v, want one volume", all)
	}
	return main[0]
}

// listing records names, sizes and times in a folder, to prove a command
// wrote nothing into its input.
func dirListing(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil {
			if info, err := d.Info(); err == nil {
				b.WriteString(p + " " + info.ModTime().String() + " " + info.Mode().String() + "\n")
			}
		}
		return nil
	})
	return b.String()
}

// TestConvertMatchesReference converts real DICOM series and compares the
// result, in world space, with an independent conversion: the data set's
// reference NIfTI for CHAOS and dcm2niix for the pydicom series.
func TestConvertMatchesReference(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping the real data set")
	}
	cases := []struct {
		name string
		in   []string
		ref  []string // reference NIfTI in the shared data; nil: run dcm2niix
		// unevenZ: the series has gaps (4 slices over 206 mm with steps
		// of 1.25 and 202.5 mm), which no NIfTI grid can hold as is;
		// LiverSeg resamples it to 8 equidistant slices and warns, as
		// dcm2niix's "_Eq_" copy (the reference here) does.
		unevenZ bool
	}{
		{name: "chaos_ct01", in: []string{"cases", "chaos_ct01", "dicom"}, ref: []string{"cases", "chaos_ct01", "ct.nii.gz"}},
		{name: "77654033_CT2", in: []string{"dicom", "pydicom-testfiles", "dicomdirtests", "77654033", "CT2"}, unevenZ: true},
		{name: "98892001_CT5N", in: []string{"dicom", "pydicom-testfiles", "dicomdirtests", "98892001", "CT5N"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := shareddata.Path(t, c.in...)
			var refPath string
			if c.ref != nil {
				refPath = shareddata.Path(t, c.ref...)
			} else {
				refPath = dcm2niix(t, in)
			}
			before := dirListing(t, in)
			out := filepath.Join(t.TempDir(), "out.nii.gz")
			code, stdout, stderr := runCLI("convert", in, out)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			if !strings.Contains(stdout, "wrote "+out) {
				t.Errorf("stdout %q does not report the file", stdout)
			}
			if after := dirListing(t, in); after != before {
				t.Fatalf("convert changed the input folder:\nbefore\n%s\nafter\n%s", before, after)
			}

			got, err := nifti.Read(out)
			if err != nil {
				t.Fatal(err)
			}
			ref, err := nifti.Read(refPath)
			if err != nil {
				t.Fatal(err)
			}
			gc, rc := got.Canonical(), ref.Canonical()
			if gc.Size != rc.Size {
				t.Fatalf("canonical size %v, reference %v", gc.Size, rc.Size)
			}
			if !slices.Equal(gc.Voxels, rc.Voxels) {
				t.Fatalf("voxels differ from %s in world order (%d of %d differ)", refPath, countInt16Diff(gc.Voxels, rc.Voxels), len(gc.Voxels))
			}
			if c.unevenZ {
				checkInPlane(t, gc.Geometry, rc.Geometry)
				if !strings.Contains(stderr, "uneven slice spacing") {
					t.Errorf("uneven series converted without a warning on stderr: %q", stderr)
				}
			} else {
				assertAffineTol(t, "canonical affine vs "+filepath.Base(refPath), gc.AffineLPS(), rc.AffineLPS(), 1e-3)
			}

			// The file reopens as exactly the volume convert loaded, and
			// nibabel reads the same affine.
			src, _, err := openImage(context.Background(), in, nil)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got.Voxels, src.Voxels) {
				t.Fatal("written voxels differ from the loaded series")
			}
			assertAffineTol(t, "reopened", got.AffineLPS(), src.AffineLPS(), 1e-4)
			assertAffineTol(t, "nibabel", nibabelAffine(t, out), src.AffineRAS(), 1e-4)
		})
	}
}

// checkInPlane compares what an uneven stack and its reference must share:
// the position of the first slice and the in-plane axes.
func checkInPlane(t *testing.T, got, ref volume.Geometry) {
	t.Helper()
	for r := 0; r < 3; r++ {
		if d := got.Origin[r] - ref.Origin[r]; d > 1e-3 || d < -1e-3 {
			t.Fatalf("first slice at %v, reference %v", got.Origin, ref.Origin)
		}
		for c := 0; c < 2; c++ {
			if d := got.Direction[r][c]*got.Spacing[c] - ref.Direction[r][c]*ref.Spacing[c]; d > 1e-3 || d < -1e-3 {
				t.Fatalf("in-plane axes differ: %v×%v vs %v×%v", got.Direction, got.Spacing, ref.Direction, ref.Spacing)
			}
		}
		if d := got.Direction[r][2] - ref.Direction[r][2]; d > 1e-3 || d < -1e-3 {
			t.Fatalf("slice direction %v, reference %v", got.Direction, ref.Direction)
		}
	}
}

func countInt16Diff(a, b []int16) int {
	n := 0
	for i := range a {
		if a[i] != b[i] {
			n++
		}
	}
	return n
}

func TestConvertOverwriteAndErrors(t *testing.T) {
	in := shareddata.Path(t, "dicom", "pydicom-testfiles", "dicomdirtests", "98892001", "CT5N")
	dir := t.TempDir()
	out := filepath.Join(dir, "ct.nii.gz")
	os.WriteFile(out, []byte("keep me"), 0o644)

	code, _, stderr := runCLI("convert", in, out)
	if code != 2 || !strings.Contains(stderr, "--force") || strings.Count(stderr, "\n") != 1 {
		t.Fatalf("existing OUT: exit %d, stderr %q; want 2 and one line mentioning --force", code, stderr)
	}
	if b, _ := os.ReadFile(out); string(b) != "keep me" {
		t.Fatal("existing OUT was modified without --force")
	}
	// --force after the positional arguments works too.
	if code, _, stderr := runCLI("convert", in, out, "--force"); code != 0 {
		t.Fatalf("--force: exit %d: %s", code, stderr)
	}
	if v, err := nifti.Read(out); err != nil || v.Size != [3]int{16, 16, 5} {
		t.Fatalf("--force did not replace OUT: %v", err)
	}

	empty := t.TempDir()
	os.WriteFile(filepath.Join(empty, "readme.txt"), []byte("no images"), 0o644)
	bad := []struct {
		name  string
		args  []string
		lines int // lines on stderr: 1 for an error, 4 with the usage (wrapped at 80 columns)
		want  string
	}{
		{"missing input", []string{"convert", filepath.Join(dir, "nope"), filepath.Join(dir, "a.nii.gz")}, 1, "nope"},
		{"no DICOM in folder", []string{"convert", empty, filepath.Join(dir, "b.nii.gz")}, 1, empty},
		{"bad output extension", []string{"convert", in, filepath.Join(dir, "c.dcm")}, 4, "must end in .nii.gz"},
		{"output folder missing", []string{"convert", in, filepath.Join(dir, "no", "d.nii.gz")}, 1, "does not exist"},
		{"output is a folder", []string{"convert", "--force", in, dir + "/sub.nii"}, 1, ""},
		{"one argument", []string{"convert", in}, 4, "expected PATH and OUT"},
		{"unknown flag", []string{"convert", "--fast", in, out}, 4, "flag provided but not defined"},
	}
	os.Mkdir(dir+"/sub.nii", 0o755)
	for _, b := range bad {
		t.Run(b.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(b.args...)
			if code != 2 || strings.Count(stderr, "\n") != b.lines || !strings.Contains(stderr, b.want) {
				t.Fatalf("exit %d, stderr %q; want 2 with %d line(s) containing %q", code, stderr, b.lines, b.want)
			}
			if stdout != "" {
				t.Errorf("stdout %q on failure", stdout)
			}
		})
	}
	// Only what the user asked for is in the output folder: no temp files.
	ents, _ := os.ReadDir(dir)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if strings.Join(names, ",") != "ct.nii.gz,sub.nii" {
		t.Fatalf("output folder holds %v", names)
	}
}
