package dicomio

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/liverseg/liverseg/internal/testsupport/shareddata"
)

// TestEnhancedMultiFrameMatchesDcm2niix loads enhanced CT objects (one
// file, per-frame Plane Position, shared Pixel Measures and Pixel Value
// Transformation) and compares them with dcm2niix in world space. The
// compressed copies of CT0012 (fragmented without offset table, JPEG-LS,
// RLE) are compared with the uncompressed one, because dcm2niix
// v1.0.20220720 refuses them ("stored as 17 fragments", no JPEG-LS) or
// crashes (RLE multi-frame: segmentation fault).
func TestEnhancedMultiFrameMatchesDcm2niix(t *testing.T) {
	bin, err := exec.LookPath("dcm2niix")
	if err != nil {
		t.Skip("dcm2niix is not installed: cannot cross-check")
	}
	mf := func(name string) []string {
		return []string{"dicom", "cornerstone-dicomParser", "encapsulated", "multi-frame", name}
	}
	native := shareddata.Path(t, mf("CT0012.explicit_little_endian.dcm")...)
	for _, p := range [][]string{
		{"dicom", "pydicom-data", "data", "eCT_Supplemental.dcm"},
		{"dicom", "cornerstone-dicomParser", "encapsulated", "multi-frame", "CT0012.explicit_little_endian.dcm"},
		{"dicom", "cornerstone-dicomParser", "encapsulated", "multi-frame", "CT0012.fragmented_no_bot_jpeg_lossless.57.dcm"},
		{"dicom", "cornerstone-dicomParser", "encapsulated", "multi-frame", "CT0012.not_fragmented_bot_jpeg_ls.80.dcm"},
		{"dicom", "cornerstone-dicomParser", "encapsulated", "multi-frame", "CT0012.not_fragmented_no_bot_rle.dcm"},
	} {
		src := shareddata.Path(t, p...)
		t.Run(filepath.Base(src), func(t *testing.T) {
			// A folder holding only this file, linked, not copied.
			dir := t.TempDir()
			if err := os.Symlink(src, filepath.Join(dir, filepath.Base(src))); err != nil {
				t.Fatal(err)
			}
			v, cat, err := LoadPath(context.Background(), dir, nil)
			if err != nil {
				t.Fatal(err)
			}
			s := cat.Series[0]
			if len(s.Files) != 2 || s.Frames[0] == s.Frames[1] || len(cat.Skipped) != 0 {
				t.Errorf("series files %v frames %v, skipped %v", s.Files, s.Frames, cat.Skipped)
			}
			if v.Size[2] != 2 {
				t.Fatalf("size %v, want 2 slices", v.Size)
			}
			if src != native && filepath.Dir(src) == filepath.Dir(native) {
				want, _, err := LoadPath(context.Background(), native, nil)
				if err != nil {
					t.Fatal(err)
				}
				compareWorld(t, filepath.Base(src), v, want, 1e-9, true)
				return
			}
			out := t.TempDir()
			if b, err := exec.Command(bin, "-z", "n", "-f", "ref", "-o", out, dir).CombinedOutput(); err != nil {
				t.Fatalf("dcm2niix: %v\n%s", err, b)
			}
			ref := readNIfTIWithNibabel(t, filepath.Join(out, "ref.nii"))
			compareWorld(t, filepath.Base(src), v, ref, 1e-3, true)
		})
	}
}

// TestSagittalAndCoronalStacksMatchDcm2niix builds sagittal and coronal
// acquisitions (in-plane values that differ per pixel, so any flip shows)
// and compares the loaded volumes with dcm2niix in world space, and their
// orientation codes with what a viewer must show.
func TestSagittalAndCoronalStacksMatchDcm2niix(t *testing.T) {
	bin, err := exec.LookPath("dcm2niix")
	if err != nil {
		t.Skip("dcm2niix is not installed: cannot cross-check")
	}
	for _, c := range []struct {
		name string
		iop  [6]float64
		code string // nearest orientation of the loaded (i, j, k) axes
	}{
		{"sagittal", [6]float64{0, 1, 0, 0, 0, -1}, "PIR"}, // normal = row × column = right
		{"coronal", [6]float64{1, 0, 0, 0, 0, -1}, "LIP"},  // normal = posterior
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			base := defaultSlice()
			base.iop = c.iop
			base.rows, base.cols = 5, 7
			r := [3]float64{c.iop[0], c.iop[1], c.iop[2]}
			cl := [3]float64{c.iop[3], c.iop[4], c.iop[5]}
			n := unit(cross(r, cl))
			for k := 0; k < 4; k++ {
				s := base
				s.words = make([]uint32, s.rows*s.cols)
				for i := range s.words {
					s.words[i] = uint32(1000*k + i)
				}
				s.sopUID = base.seriesUID + "." + string(rune('1'+k))
				s.instance = k + 1
				for a := 0; a < 3; a++ {
					s.ipp[a] = 20 + 3*float64(k)*n[a]
				}
				writeSynth(t, dir, c.name+string(rune('a'+k))+".dcm", s)
			}
			v, _, err := LoadPath(context.Background(), dir, nil)
			if err != nil {
				t.Fatal(err)
			}
			if got := v.NearestOrientation().Code(); got != c.code {
				t.Errorf("orientation %s, want %s", got, c.code)
			}
			out := t.TempDir()
			if b, err := exec.Command(bin, "-z", "n", "-f", "ref", "-o", out, dir).CombinedOutput(); err != nil {
				t.Fatalf("dcm2niix: %v\n%s", err, b)
			}
			ref := readNIfTIWithNibabel(t, filepath.Join(out, "ref.nii"))
			compareWorld(t, c.name, v, ref, 1e-3, true)
		})
	}
}
