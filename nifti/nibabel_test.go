package nifti

import (
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/liverseg/liverseg/internal/testsupport/shareddata"
	"github.com/liverseg/liverseg/volume"
)

// python is the interpreter with nibabel installed (the one on PATH may be
// a different Python without it).
const python = "/usr/bin/python3"

// nibabelScript prints, for every file named on the command line, what
// nibabel makes of it: shape, best affine, qform and sform with their codes,
// and order-sensitive checksums of the (scaled) voxels in x-fastest order.
const nibabelScript = `
import json, sys
import numpy as np
import nibabel as nib
out = []
for p in sys.argv[1:]:
    img = nib.load(p)
    h = img.header
    d = np.asanyarray(img.dataobj).reshape(-1, order='F')
    if d.dtype.kind == 'f':
        d = np.rint(d).astype(np.int64)
    # weighted sum of d[i]*(i%1009+1) without an int64 copy of the volume
    pad = np.zeros(-(-d.size // 1009) * 1009, d.dtype)
    pad[:d.size] = d
    col = pad.reshape(-1, 1009).sum(axis=0, dtype=np.int64)
    q, qc = img.get_qform(coded=True)
    s, sc = img.get_sform(coded=True)
    out.append(dict(
        shape=[int(x) for x in img.shape],
        affine=img.affine.tolist(),
        qform=None if q is None else q.tolist(), qcode=int(qc),
        sform=None if s is None else s.tolist(), scode=int(sc),
        descrip=h['descrip'].item().decode(),
        units=list(h.get_xyzt_units()),
        sum=int(col.sum()), wsum=int(col @ np.arange(1, 1010, dtype=np.int64)),
        min=int(d.min()), max=int(d.max()), nonzero=int(np.count_nonzero(d)),
    ))
print(json.dumps(out))
`

// nibabelInfo is one record printed by nibabelScript.
type nibabelInfo struct {
	Shape   []int
	Affine  [4][4]float64
	Qform   *[4][4]float64
	Qcode   int
	Sform   *[4][4]float64
	Scode   int
	Descrip string
	Units   []string
	Sum     int64
	WSum    int64
	Min     int64
	Max     int64
	Nonzero int64
}

// nibabelRead runs nibabel on the files; it skips the test only when
// /usr/bin/python3 lacks nibabel.
func nibabelRead(t testing.TB, paths ...string) []nibabelInfo {
	t.Helper()
	if err := exec.Command(python, "-c", "import nibabel, numpy").Run(); err != nil {
		t.Skipf("%s cannot import nibabel (%v): skipping the cross-check against nibabel", python, err)
	}
	out, err := exec.Command(python, append([]string{"-c", nibabelScript}, paths...)...).Output()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			t.Fatalf("nibabel failed: %v\n%s", err, ee.Stderr)
		}
		t.Fatal(err)
	}
	var res []nibabelInfo
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("nibabel output: %v\n%s", err, out)
	}
	if len(res) != len(paths) {
		t.Fatalf("nibabel returned %d records for %d files", len(res), len(paths))
	}
	return res
}

// checksums computes what nibabelScript computes, on LiverSeg's voxels.
func checksums[T int16 | uint8](vox []T) (sum, wsum, lo, hi, nonzero int64) {
	if len(vox) > 0 {
		lo, hi = int64(vox[0]), int64(vox[0])
	}
	for i, x := range vox {
		v := int64(x)
		sum += v
		wsum += v * (int64(i)%1009 + 1)
		lo, hi = min(lo, v), max(hi, v)
		if v != 0 {
			nonzero++
		}
	}
	return
}

func checkAgainstNibabel[T int16 | uint8](t *testing.T, what string, nb nibabelInfo, g volume.Geometry, vox []T) {
	t.Helper()
	if len(nb.Shape) < 3 || nb.Shape[0] != g.Size[0] || nb.Shape[1] != g.Size[1] || nb.Shape[2] != g.Size[2] {
		t.Fatalf("%s: nibabel shape %v, LiverSeg size %v", what, nb.Shape, g.Size)
	}
	assertAffine(t, what+": nibabel affine vs LiverSeg AffineRAS", nb.Affine, g.AffineRAS(), 1e-4)
	sum, wsum, lo, hi, nz := checksums(vox)
	if nb.Sum != sum || nb.WSum != wsum || nb.Min != lo || nb.Max != hi || nb.Nonzero != nz {
		t.Fatalf("%s: voxels differ: nibabel sum %d wsum %d range %d..%d nonzero %d; LiverSeg sum %d wsum %d range %d..%d nonzero %d",
			what, nb.Sum, nb.WSum, nb.Min, nb.Max, nb.Nonzero, sum, wsum, lo, hi, nz)
	}
}

// TestNibabelReadsWhatWeWrite: an independent reader finds the geometry and
// voxels LiverSeg wrote, through the sform and through the qform.
func TestNibabelReadsWhatWeWrite(t *testing.T) {
	dir := t.TempDir()
	type written struct {
		gc   geometryCase
		path string
		vol  *volume.Volume
		mask *volume.Mask
	}
	var ws []written
	var paths []string
	for n, gc := range geometryCases() {
		for _, ext := range []string{".nii", ".nii.gz"} {
			v := randomVolume(gc.g, uint64(n))
			p := filepath.Join(dir, strings.ReplaceAll(gc.name, " ", "_")+ext)
			if err := WriteVolume(p, v); err != nil {
				t.Fatal(err)
			}
			m := volume.NewMask(gc.g)
			for i := range m.Voxels {
				m.Voxels[i] = uint8(i % 3)
			}
			mp := strings.Replace(p, ".nii", "_mask.nii", 1)
			if err := WriteMask(mp, m); err != nil {
				t.Fatal(err)
			}
			ws = append(ws, written{gc, p, v, nil}, written{gc, mp, nil, m})
			paths = append(paths, p, mp)
		}
	}
	nbs := nibabelRead(t, paths...)
	for i, w := range ws {
		nb := nbs[i]
		name := filepath.Base(w.path)
		var g volume.Geometry
		if w.vol != nil {
			g = w.vol.Geometry
			checkAgainstNibabel(t, name, nb, g, w.vol.Voxels)
		} else {
			g = w.mask.Geometry
			checkAgainstNibabel(t, name, nb, g, w.mask.Voxels)
		}
		if nb.Scode != 1 || nb.Qcode != 1 || nb.Sform == nil || nb.Qform == nil {
			t.Fatalf("%s: sform code %d, qform code %d; want both 1 (scanner)", name, nb.Scode, nb.Qcode)
		}
		assertAffine(t, name+": nibabel sform", *nb.Sform, g.AffineRAS(), 1e-4)
		if !w.gc.sheared {
			assertAffine(t, name+": nibabel qform", *nb.Qform, g.AffineRAS(), 1e-4)
		}
		if nb.Descrip != "LiverSeg" || len(nb.Units) == 0 || nb.Units[0] != "mm" {
			t.Fatalf("%s: descrip %q units %v", name, nb.Descrip, nb.Units)
		}
	}
}

// realCase is one row of the table in ../shared/data/README.md.
type realCase struct {
	name    string
	size    [3]int
	spacing [3]float64
	hasCT   bool
}

var realCases = []realCase{
	{"chaos_ct01", [3]int{512, 512, 78}, [3]float64{0.727, 0.727, 2.0}, true},
	{"ircad_p01", [3]int{512, 512, 129}, [3]float64{0.57, 0.57, 1.6}, true},
	{"ircad_p07", [3]int{512, 512, 151}, [3]float64{0.782, 0.782, 1.6}, true},
	{"totalseg_example", [3]int{122, 101, 112}, [3]float64{3, 3, 3}, true},
	{"totalseg_s0009_partial", [3]int{119, 119, 185}, [3]float64{1.5, 1.5, 1.5}, true},
	{"totalseg_example_dicom", [3]int{512, 512, 20}, [3]float64{0.977, 0.977, 2.0}, false},
}

// TestRealCases reads every NIfTI of the shared data set and checks sizes
// against the data README and geometry and voxels against nibabel.
func TestRealCases(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping the real data set")
	}
	for _, c := range realCases {
		t.Run(c.name, func(t *testing.T) {
			liverPath := shareddata.Path(t, "cases", c.name, "liver.nii.gz")
			paths := []string{liverPath}
			if c.hasCT {
				paths = append(paths, shareddata.Path(t, "cases", c.name, "ct.nii.gz"))
			}
			nbs := nibabelRead(t, paths...)
			m, err := ReadMask(liverPath)
			if err != nil {
				t.Fatal(err)
			}
			checkSize(t, liverPath, m.Geometry, c)
			checkAgainstNibabel(t, liverPath, nbs[0], m.Geometry, m.Voxels)
			if _, _, _, hi, nz := checksums(m.Voxels); hi != 1 || nz == 0 {
				t.Fatalf("%s: labels up to %d with %d non-zero voxels; the README says {0,1} with a liver", liverPath, hi, nz)
			}
			if !c.hasCT {
				return
			}
			v, err := Read(paths[1])
			if err != nil {
				t.Fatal(err)
			}
			checkSize(t, paths[1], v.Geometry, c)
			checkAgainstNibabel(t, paths[1], nbs[1], v.Geometry, v.Voxels)
			if len(v.Info.Warnings) > 0 {
				t.Errorf("%s: unexpected warnings %q", paths[1], v.Info.Warnings)
			}
			// The README: label and CT share exactly the same grid.
			if !m.SameGridWithin(v.Geometry, 1e-4) {
				t.Fatalf("liver and CT grids differ")
			}
			// Plausible CT: air near −1000 HU, bone well above 0.
			if lo, hi := v.Range(); lo > -900 || hi < 300 {
				t.Fatalf("HU range %d..%d is not a CT", lo, hi)
			}
		})
	}
}

func checkSize(t *testing.T, p string, g volume.Geometry, c realCase) {
	t.Helper()
	if g.Size != c.size {
		t.Fatalf("%s: size %v, README says %v", p, g.Size, c.size)
	}
	for a := 0; a < 3; a++ {
		// The README rounds spacing to 3 decimals.
		if d := g.Spacing[a] - c.spacing[a]; d > 0.0006 || d < -0.0006 {
			t.Fatalf("%s: spacing %v, README says %v", p, g.Spacing, c.spacing)
		}
	}
}
