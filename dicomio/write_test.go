package dicomio

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/suyashkumar/dicom"
	"github.com/suyashkumar/dicom/pkg/tag"

	"github.com/liverseg/liverseg/dicomio/internal/dsbuild"
	"github.com/liverseg/liverseg/volume"
)

// testVolume is a small volume with a distinct value in every voxel
// (including negative ones and the int16 extremes) on an oblique grid whose
// slice axis runs towards the feet.
func testVolume() *volume.Volume {
	c, s := math.Cos(0.3), math.Sin(0.3)
	g := volume.Geometry{
		Size:    [3]int{7, 5, 4},
		Spacing: [3]float64{0.8, 0.7, 2.5},
		Origin:  [3]float64{-120.25, 33.5, 410},
		Direction: [3][3]float64{
			{c, -s, 0},
			{s, c, 0},
			{0, 0, -1},
		},
	}
	v := volume.New(g)
	for n := range v.Voxels {
		v.Voxels[n] = int16(n*37 - 1024)
	}
	v.Voxels[0] = math.MinInt16
	v.Voxels[1] = math.MaxInt16
	v.Info = volume.Info{PatientName: "TEST^WRITER", PatientID: "W1", StudyDate: "20240102", SeriesDescription: "writer test"}
	return v
}

func writeTestSeries(t *testing.T, v *volume.Volume, opts SeriesOptions) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "series")
	if err := WriteSeries(dir, v, opts); err != nil {
		t.Fatalf("WriteSeries: %v", err)
	}
	return dir
}

func TestWriteSeriesRoundTrip(t *testing.T) {
	v := testVolume()
	dir := writeTestSeries(t, v, SeriesOptions{UIDSeed: "round-trip", ImageComments: "unit test"})
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != v.Size[2] {
		t.Fatalf("%d files, want %d", len(ents), v.Size[2])
	}
	normal := dsbuild.Cross([3]float64{v.Direction[0][0], v.Direction[1][0], v.Direction[2][0]},
		[3]float64{v.Direction[0][1], v.Direction[1][1], v.Direction[2][1]})
	uids := map[string]bool{}
	for k := 0; k < v.Size[2]; k++ {
		path := filepath.Join(dir, SeriesFileName("", k))
		ds, err := dicom.ParseFile(path, nil)
		if err != nil {
			t.Fatalf("parse %s: %v", path, err)
		}
		get := func(tg tag.Tag) []string {
			e, err := ds.FindElementByTag(tg)
			if err != nil {
				t.Fatalf("%s: %v missing", path, tg)
			}
			s, ok := e.Value.GetValue().([]string)
			if !ok {
				t.Fatalf("%s: %v is not a string", path, tg)
			}
			return s
		}
		floats := func(tg tag.Tag) []float64 {
			var out []float64
			for _, s := range get(tg) {
				f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
				if err != nil {
					t.Fatalf("%s: %v: %v", path, tg, err)
				}
				out = append(out, f)
			}
			return out
		}
		if got := get(tag.SOPClassUID)[0]; got != CTImageStorage {
			t.Errorf("SOP class %s", got)
		}
		uid := get(tag.SOPInstanceUID)[0]
		if err := ValidUID(uid); err != nil || uids[uid] {
			t.Errorf("SOP instance UID %q invalid or repeated: %v", uid, err)
		}
		uids[uid] = true
		if got := get(tag.InstanceNumber)[0]; got != strconv.Itoa(k+1) {
			t.Errorf("slice %d: InstanceNumber %s", k, got)
		}
		want := v.IndexToPatient([3]float64{0, 0, float64(k)})
		ipp := floats(tag.ImagePositionPatient)
		for r := 0; r < 3; r++ {
			if math.Abs(ipp[r]-want[r]) > 1e-6 {
				t.Errorf("slice %d: IPP %v, want %v", k, ipp, want)
				break
			}
		}
		iop := floats(tag.ImageOrientationPatient)
		for r := 0; r < 3; r++ {
			if math.Abs(iop[r]-v.Direction[r][0]) > 1e-9 || math.Abs(iop[3+r]-v.Direction[r][1]) > 1e-9 {
				t.Errorf("IOP %v does not match direction %v", iop, v.Direction)
				break
			}
		}
		if ps := floats(tag.PixelSpacing); ps[0] != v.Spacing[1] || ps[1] != v.Spacing[0] {
			t.Errorf("PixelSpacing %v, want [%v %v]", ps, v.Spacing[1], v.Spacing[0])
		}
		if loc := floats(tag.SliceLocation)[0]; math.Abs(loc-dsbuild.Dot(want, normal)) > 1e-6 {
			t.Errorf("SliceLocation %v, want %v", loc, dsbuild.Dot(want, normal))
		}
		// Pixel values: the raw little-endian words must be the slice's
		// int16 voxels (the library reads them as unsigned).
		pe, err := ds.FindElementByTag(tag.PixelData)
		if err != nil {
			t.Fatal(err)
		}
		fr := dicom.MustGetPixelDataInfo(pe.Value).Frames[0].NativeData
		raw, ok := fr.RawDataSlice().([]uint16)
		if !ok {
			t.Fatalf("pixel data is %T", fr.RawDataSlice())
		}
		n := v.Size[0] * v.Size[1]
		for p := 0; p < n; p++ {
			if int16(raw[p]) != v.Voxels[k*n+p] {
				t.Fatalf("slice %d pixel %d = %d, want %d", k, p, int16(raw[p]), v.Voxels[k*n+p])
			}
		}
	}
}

func hashDir(t *testing.T, dir string) map[string]string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		s := sha256.Sum256(b)
		out[e.Name()] = hex.EncodeToString(s[:])
	}
	return out
}

func TestWriteSeriesDeterministic(t *testing.T) {
	v := testVolume()
	a := hashDir(t, writeTestSeries(t, v, SeriesOptions{UIDSeed: "same"}))
	b := hashDir(t, writeTestSeries(t, v, SeriesOptions{UIDSeed: "same"}))
	c := hashDir(t, writeTestSeries(t, v, SeriesOptions{UIDSeed: "other"}))
	r1 := hashDir(t, writeTestSeries(t, v, SeriesOptions{}))
	r2 := hashDir(t, writeTestSeries(t, v, SeriesOptions{}))
	for name, h := range a {
		if b[name] != h {
			t.Errorf("%s differs between two writes with the same UID seed", name)
		}
		if c[name] == h {
			t.Errorf("%s is identical for different UID seeds", name)
		}
		if r1[name] == r2[name] {
			t.Errorf("%s is identical for two writes with random UIDs", name)
		}
	}
}

func TestWriteSeriesErrors(t *testing.T) {
	good := testVolume()
	skew := testVolume()
	skew.Direction = [3][3]float64{{1, 0.2, 0}, {0, 0.98, 0}, {0, 0, 1}}
	short := testVolume()
	short.Voxels = short.Voxels[:10]
	tests := []struct {
		name string
		v    *volume.Volume
		opts SeriesOptions
		want string
	}{
		{"nil volume", nil, SeriesOptions{}, "no volume"},
		{"short voxels", short, SeriesOptions{}, "voxels"},
		{"skewed plane", skew, SeriesOptions{}, "not orthogonal"},
		{"bad uid", good, SeriesOptions{SeriesInstanceUID: "1.2.03"}, "leading zero"},
		{"uid count", good, SeriesOptions{SOPInstanceUIDs: []string{"1.2.3"}}, "1 SOP Instance UIDs given for 4 slices"},
		{"repeated uid", good, SeriesOptions{StudyInstanceUID: "1.2.3", SeriesInstanceUID: "1.2.3"}, "used twice"},
		{"bad date", good, SeriesOptions{StudyDate: "2024-01-02"}, "YYYYMMDD"},
		{"prefix with slash", good, SeriesOptions{FilePrefix: "a/b"}, "path separator"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "out")
			err := WriteSeries(dir, tc.v, tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one mentioning %q", err, tc.want)
			}
			if _, serr := os.Stat(dir); !os.IsNotExist(serr) {
				t.Errorf("failed write left %s behind", dir)
			}
			assertNoTemp(t, filepath.Dir(dir))
		})
	}
}

func assertNoTemp(t *testing.T, parent string) {
	t.Helper()
	ents, _ := os.ReadDir(parent)
	for _, e := range ents {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Errorf("temporary folder %s left behind", e.Name())
		}
	}
}

func TestWriteSeriesRefusesNonEmptyFolder(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "busy")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	keep := filepath.Join(dir, "mine.txt")
	if err := os.WriteFile(keep, []byte("user data"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := WriteSeries(dir, testVolume(), SeriesOptions{})
	if err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Fatalf("error %v, want refusal of a non-empty folder", err)
	}
	if b, _ := os.ReadFile(keep); string(b) != "user data" {
		t.Fatal("user file was touched")
	}
	// An existing empty folder is filled.
	empty := filepath.Join(t.TempDir(), "empty")
	if err := os.Mkdir(empty, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := WriteSeries(empty, testVolume(), SeriesOptions{}); err != nil {
		t.Fatalf("write into an empty folder: %v", err)
	}
	assertNoTemp(t, filepath.Dir(empty))
}

func TestHashUID(t *testing.T) {
	a := HashUID("phantom", "1", "series")
	if a != HashUID("phantom", "1", "series") {
		t.Fatal("HashUID is not deterministic")
	}
	for _, other := range []string{HashUID("phantom", "2", "series"), HashUID("phantom", "1s", "eries"), RandomUID()} {
		if other == a {
			t.Errorf("different inputs gave the same UID %s", a)
		}
	}
	for _, u := range []string{a, RandomUID(), dsbuild.ImplementationClassUID} {
		if !strings.HasPrefix(u, "2.25.") {
			t.Errorf("%s is not under the 2.25 root", u)
		}
		if err := ValidUID(u); err != nil {
			t.Error(err)
		}
	}
}

// TestWriteSeriesDciodvfy checks the files against the standard with
// dicom3tools' dciodvfy, which must report no errors.
func TestWriteSeriesDciodvfy(t *testing.T) {
	bin, err := exec.LookPath("dciodvfy")
	if err != nil {
		t.Skip("dciodvfy (dicom3tools) is not installed: skipping the standard-conformance check")
	}
	dir := writeTestSeries(t, testVolume(), SeriesOptions{UIDSeed: "dciodvfy", ImageComments: "unit test", WindowCenter: 40, WindowWidth: 400})
	if errs := dciodvfyErrors(bin, filepath.Join(dir, SeriesFileName("", 0))); len(errs) > 0 {
		t.Errorf("dciodvfy reports errors:\n%s", strings.Join(errs, "\n"))
	}
}

// dciodvfyErrors runs dciodvfy on one file and returns its error lines.
func dciodvfyErrors(bin, path string) []string {
	out, _ := exec.Command(bin, path).CombinedOutput()
	var errs []string
	for _, line := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(line, "Error") {
			errs = append(errs, line)
		}
	}
	return errs
}

// TestWriteSeriesDcm2niix checks that dcm2niix, the usual reference for
// DICOM geometry, reads the same grid that was written.
func TestWriteSeriesDcm2niix(t *testing.T) {
	bin, err := exec.LookPath("dcm2niix")
	if err != nil {
		t.Skip("dcm2niix is not installed: skipping the geometry cross-check")
	}
	py := "/usr/bin/python3"
	if _, err := os.Stat(py); err != nil {
		t.Skip("/usr/bin/python3 is absent: cannot read dcm2niix's NIfTI output")
	}
	v := testVolume()
	// dcm2niix reports the grid it builds; use an axial grid so it does not
	// resample, and several slices so it can measure their spacing.
	v.Direction = [3][3]float64{{1, 0, 0}, {0, 1, 0}, {0, 0, 1}}
	dir := writeTestSeries(t, v, SeriesOptions{UIDSeed: "dcm2niix"})
	out := t.TempDir()
	if b, err := exec.Command(bin, "-z", "n", "-f", "vol", "-o", out, dir).CombinedOutput(); err != nil {
		t.Fatalf("dcm2niix: %v\n%s", err, b)
	}
	script := `import nibabel as nib, numpy as np, json, sys
img = nib.load(sys.argv[1])
print(json.dumps({"affine": img.affine.tolist(), "shape": list(img.shape), "data": np.asanyarray(img.dataobj).astype(int).flatten(order="F").tolist()}))`
	b, err := exec.Command(py, "-c", script, filepath.Join(out, "vol.nii")).Output()
	if err != nil {
		t.Skipf("python3 with nibabel could not read dcm2niix's output: %v", err)
	}
	var got struct {
		Affine [4][4]float64
		Shape  []int
		Data   []int
	}
	if err := json.Unmarshal(bytes.TrimSpace(b), &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Shape) != 3 || got.Shape[0] != v.Size[0] || got.Shape[1] != v.Size[1] || got.Shape[2] != v.Size[2] {
		t.Fatalf("dcm2niix shape %v, want %v", got.Shape, v.Size)
	}
	// dcm2niix flips rows to NIfTI convention; compare world positions of
	// voxel centres instead of index order.
	g, err := volume.FromAffineLPS(v.Size, rasToLPS(got.Affine))
	if err != nil {
		t.Fatal(err)
	}
	for n, val := range got.Data {
		i, j, k := n%v.Size[0], (n/v.Size[0])%v.Size[1], n/(v.Size[0]*v.Size[1])
		p := g.IndexToPatient([3]float64{float64(i), float64(j), float64(k)})
		q := v.PatientToIndex(p)
		qi, qj, qk := int(math.Round(q[0])), int(math.Round(q[1])), int(math.Round(q[2]))
		if !v.Contains(qi, qj, qk) || math.Abs(q[0]-float64(qi)) > 1e-3 || math.Abs(q[1]-float64(qj)) > 1e-3 || math.Abs(q[2]-float64(qk)) > 1e-3 {
			t.Fatalf("dcm2niix voxel (%d,%d,%d) at %v falls off the written grid (index %v)", i, j, k, p, q)
		}
		if want := int(v.At(qi, qj, qk)); val != want {
			t.Fatalf("dcm2niix voxel (%d,%d,%d) = %d, written %d", i, j, k, val, want)
		}
	}
}

func rasToLPS(a [4][4]float64) [4][4]float64 {
	for c := 0; c < 4; c++ {
		a[0][c], a[1][c] = -a[0][c], -a[1][c]
	}
	return a
}

func BenchmarkWriteSeries(b *testing.B) {
	g := volume.Identity([3]int{512, 512, 20}, [3]float64{0.75, 0.75, 2.5})
	v := volume.New(g)
	for n := range v.Voxels {
		v.Voxels[n] = int16(n%2000 - 1000)
	}
	b.SetBytes(int64(2 * len(v.Voxels)))
	for i := 0; i < b.N; i++ {
		dir := filepath.Join(b.TempDir(), "s")
		if err := WriteSeries(dir, v, SeriesOptions{UIDSeed: "bench"}); err != nil {
			b.Fatal(err)
		}
	}
}

// TestWriteSeriesLoadRoundTrip reads the written series back through the
// package's own loader: the same voxels at the same world positions, and
// the metadata that was written.
func TestWriteSeriesLoadRoundTrip(t *testing.T) {
	v := testVolume()
	dir := writeTestSeries(t, v, SeriesOptions{UIDSeed: "load"})
	got, _, err := LoadPath(context.Background(), dir, nil)
	if err != nil {
		t.Fatalf("LoadPath: %v", err)
	}
	a, b := v.Canonical(), got.Canonical()
	if !a.SameGridWithin(b.Geometry, 1e-4) {
		t.Fatalf("geometry read back %+v, written %+v", b.Geometry, a.Geometry)
	}
	for n := range a.Voxels {
		if a.Voxels[n] != b.Voxels[n] {
			t.Fatalf("voxel %d read back %d, written %d", n, b.Voxels[n], a.Voxels[n])
		}
	}
	// The loader may show the name in display form (components spaced).
	if name := strings.ReplaceAll(got.Info.PatientName, " ", "^"); name != "TEST^WRITER" || got.Info.PatientID != "W1" || got.Info.StudyDate != "20240102" || got.Info.Modality != "CT" {
		t.Errorf("metadata read back %+v", got.Info)
	}
	if len(got.Info.SOPInstanceUIDs) != v.Size[2] || got.Info.SOPClassUID != CTImageStorage {
		t.Errorf("read back %d SOP instance UIDs of class %s", len(got.Info.SOPInstanceUIDs), got.Info.SOPClassUID)
	}
	if len(got.Info.Warnings) > 0 {
		t.Errorf("loader warns about the written series: %v", got.Info.Warnings)
	}
}
