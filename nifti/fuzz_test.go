package nifti

import (
	"bytes"
	"encoding/binary"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/liverseg/liverseg/volume"
)

var updateCorpus = flag.Bool("update-corpus", false, "rewrite testdata/fuzz/FuzzRead from fuzzSeeds")

// fuzzSeeds are small generated files covering the reader's paths: both
// compressions, both byte orders, scaled and float data, qform-only,
// extensions, 4D, and damaged files.
func fuzzSeeds(tb testing.TB) map[string][]byte {
	tb.Helper()
	seeds := map[string][]byte{}
	g := volume.Geometry{Size: [3]int{3, 2, 2}, Spacing: [3]float64{0.7, 0.8, 2}, Origin: [3]float64{-10, 20, 30},
		Direction: rot([3]float64{1, 2, 3}, 30)}
	v := volume.New(g)
	for i := range v.Voxels {
		v.Voxels[i] = int16(i*1000 - 3000)
	}
	for _, ext := range []string{".nii", ".nii.gz"} {
		p := filepath.Join(tb.TempDir(), "v"+ext)
		if err := WriteVolume(p, v); err != nil {
			tb.Fatal(err)
		}
		b, _ := os.ReadFile(p)
		seeds["volume"+ext] = b
		seeds["truncated"+ext] = b[:len(b)*2/3]
	}
	vals := []float64{0, 1, 2.5, -3, 1e6, math.NaN(), 7, 8, 9, 10, 11, 12}
	for _, dt := range []int16{dtUint8, dtInt8, dtUint16, dtInt32, dtFloat32, dtFloat64, dtInt64} {
		h := testHeader(g.Size, dt)
		h.SclSlope, h.SclInter = 2, -1
		seeds["dt"+strconv.Itoa(int(dt))] = rawNIfTI(tb, h, encodeValues(dt, vals, binary.LittleEndian), false)
	}
	h := testHeader(g.Size, dtInt16)
	seeds["bigendian"] = swapHeader(rawNIfTI(tb, h, encodeValues(dtInt16, vals, binary.BigEndian), false))
	h = testHeader(g.Size, dtInt16)
	h.SformCode = 0
	h.Dim[0], h.Dim[4] = 4, 1
	seeds["qform-4d.gz"] = rawNIfTI(tb, h, encodeValues(dtInt16, vals, binary.LittleEndian), true)
	h = testHeader(g.Size, dtUint8)
	h.VoxOffset = 352 + 16
	seeds["extension"] = rawNIfTI(tb, h, append(make([]byte, 16), encodeValues(dtUint8, vals, binary.LittleEndian)...), false)
	return seeds
}

// FuzzRead feeds arbitrary bytes to the reader behind Read and ReadMask
// (decode, which Read calls on the opened file). It must never panic, never
// allocate beyond what the input can justify, and anything it accepts must
// be a consistent image.
func FuzzRead(f *testing.F) {
	for _, b := range fuzzSeeds(f) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, mask := range []bool{false, true} {
			img, err := decode(bytes.NewReader(data), int64(len(data)), mask)
			if err != nil {
				continue
			}
			n := img.geom.NumVoxels()
			if (mask && len(img.u8) != n) || (!mask && len(img.i16) != n) {
				t.Fatalf("accepted image with %d voxels for size %v", max(len(img.u8), len(img.i16)), img.geom.Size)
			}
			if err := img.geom.Validate(); err != nil {
				t.Fatalf("accepted invalid geometry: %v", err)
			}
		}
	})
}

// TestUpdateFuzzCorpus rewrites the committed seed corpus when run with
// -update-corpus; otherwise it checks that the corpus exists.
func TestUpdateFuzzCorpus(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzRead")
	if !*updateCorpus {
		ents, err := os.ReadDir(dir)
		if err != nil || len(ents) == 0 {
			t.Fatalf("seed corpus %s is missing (go test -run TestUpdateFuzzCorpus -update-corpus ./nifti)", dir)
		}
		return
	}
	os.MkdirAll(dir, 0o755)
	for name, b := range fuzzSeeds(t) {
		content := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", b)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
