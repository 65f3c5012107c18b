package nifti

import (
	"bytes"
	"compress/gzip"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/liverseg/liverseg/volume"
)

// rot returns the rotation matrix of angle deg about the unit axis ax
// (Rodrigues), used to build oblique test geometries.
func rot(ax [3]float64, deg float64) [3][3]float64 {
	n := math.Sqrt(ax[0]*ax[0] + ax[1]*ax[1] + ax[2]*ax[2])
	x, y, z := ax[0]/n, ax[1]/n, ax[2]/n
	t := deg * math.Pi / 180
	c, s := math.Cos(t), math.Sin(t)
	C := 1 - c
	return [3][3]float64{
		{c + x*x*C, x*y*C - z*s, x*z*C + y*s},
		{y*x*C + z*s, c + y*y*C, y*z*C - x*s},
		{z*x*C - y*s, z*y*C + x*s, c + z*z*C},
	}
}

// geometryCase is one grid placement the reader and writer must preserve.
type geometryCase struct {
	name    string
	g       volume.Geometry
	sheared bool // not representable by a qform (only the sform is exact)
}

func geometryCases() []geometryCase {
	size := [3]int{7, 5, 4}
	sp := [3]float64{0.7265625, 0.8, 2.5}
	mk := func(dir [3][3]float64, origin [3]float64) volume.Geometry {
		return volume.Geometry{Size: size, Spacing: sp, Origin: origin, Direction: dir}
	}
	// A flipped slice axis (k towards the feet) is what DICOM series sorted
	// head-first give: a left-handed grid, qfac = −1.
	flipped := [3][3]float64{{1, 0, 0}, {0, 1, 0}, {0, 0, -1}}
	// Gantry tilt left uncorrected: the slice axis leans 15° in y–z.
	tilt := 15 * math.Pi / 180
	shear := [3][3]float64{{1, 0, 0}, {0, 1, math.Sin(tilt)}, {0, 0, math.Cos(tilt)}}
	return []geometryCase{
		{name: "LPS axial", g: mk([3][3]float64{{1, 0, 0}, {0, 1, 0}, {0, 0, 1}}, [3]float64{-185, -98, 1536.5})},
		{name: "RAS", g: mk([3][3]float64{{-1, 0, 0}, {0, -1, 0}, {0, 0, 1}}, [3]float64{177.9, -11.3, 94.3})},
		{name: "oblique", g: mk(rot([3]float64{1, 2, 3}, 23), [3]float64{12.5, -40.25, -300})},
		{name: "flipped k", g: mk(flipped, [3]float64{-250, -250, 80})},
		{name: "oblique flipped", g: mk(mul3(rot([3]float64{-0.3, 1, 0.2}, 137), flipped), [3]float64{3, 4, 5})},
		{name: "half turn", g: mk(rot([3]float64{1, 1, 0.2}, 180), [3]float64{-7, 8, -9})},
		{name: "coronal", g: mk([3][3]float64{{1, 0, 0}, {0, 0, -1}, {0, -1, 0}}, [3]float64{-100, 50, 20})},
		{name: "sheared (gantry tilt)", g: mk(shear, [3]float64{-120, -80, -400}), sheared: true},
	}
}

func mul3(a, b [3][3]float64) [3][3]float64 {
	var m [3][3]float64
	for r := 0; r < 3; r++ {
		for c := 0; c < 3; c++ {
			for k := 0; k < 3; k++ {
				m[r][c] += a[r][k] * b[k][c]
			}
		}
	}
	return m
}

// randomVolume fills g with reproducible values covering the whole int16
// range, including both extremes.
func randomVolume(g volume.Geometry, seed uint64) *volume.Volume {
	v := volume.New(g)
	r := rand.New(rand.NewPCG(seed, 1))
	for i := range v.Voxels {
		v.Voxels[i] = int16(r.IntN(65536) - 32768)
	}
	v.Voxels[0] = math.MinInt16
	v.Voxels[len(v.Voxels)-1] = math.MaxInt16
	return v
}

// assertAffine fails unless the two 4×4 matrices agree within tol.
func assertAffine(t *testing.T, what string, got, want [4][4]float64, tol float64) {
	t.Helper()
	for r := 0; r < 4; r++ {
		for c := 0; c < 4; c++ {
			if math.Abs(got[r][c]-want[r][c]) > tol || math.IsNaN(got[r][c]) {
				t.Fatalf("%s: affine differs at [%d][%d]: got\n%v\nwant\n%v", what, r, c, got, want)
			}
		}
	}
}

// rawNIfTI assembles a file from a header and raw voxel bytes, optionally
// gzip-compressed, so tests can build files LiverSeg itself never writes
// (other datatypes, scaling, byte orders, broken headers).
func rawNIfTI(t testing.TB, h *header, data []byte, gz bool) []byte {
	t.Helper()
	var b bytes.Buffer
	b.Write(h.encode())
	b.Write(data)
	if !gz {
		return b.Bytes()
	}
	var z bytes.Buffer
	w := gzip.NewWriter(&z)
	w.Write(b.Bytes())
	w.Close()
	return z.Bytes()
}

// testHeader is a valid little-endian header for a small axis-aligned grid
// with the given datatype and an sform.
func testHeader(size [3]int, dt int16) *header {
	g := volume.Identity(size, [3]float64{1, 1, 2})
	h, err := newHeader(g, dtInt16)
	if err != nil {
		panic(err)
	}
	h.Datatype = dt
	h.Bitpix = int16(8 * bytesPerVoxel[dt])
	return h
}

func writeTemp(t testing.TB, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
