package inference

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/liverseg/liverseg/volume"
)

// readRaw reads a little-endian raw file of T values.
func readRaw[T any](t testing.TB, path string) []T {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	var zero T
	out := make([]T, st.Size()/int64(binary.Size(zero)))
	if err := binary.Read(f, binary.LittleEndian, out); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return out
}

// parityInput is input.json of a parity fixture.
type parityInput struct {
	Size      [3]int        `json:"size"`
	Spacing   [3]float64    `json:"spacing"`
	Origin    [3]float64    `json:"origin"`
	Direction [3][3]float64 `json:"direction"`
}

// readParityVolume loads input_hu.i16 + input.json of a parity folder.
func readParityVolume(t testing.TB, dir string) *volume.Volume {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "input.json"))
	if err != nil {
		t.Fatal(err)
	}
	var in parityInput
	if err := json.Unmarshal(b, &in); err != nil {
		t.Fatalf("%s/input.json: %v", dir, err)
	}
	g := volume.Geometry{Size: in.Size, Spacing: in.Spacing, Origin: in.Origin, Direction: in.Direction}
	v := &volume.Volume{Geometry: g, Voxels: readRaw[int16](t, filepath.Join(dir, "input_hu.i16"))}
	if len(v.Voxels) != g.NumVoxels() {
		t.Fatalf("%s: %d voxels for size %v", dir, len(v.Voxels), g.Size)
	}
	return v
}

// moduleRoot is the folder holding go.mod above the test's folder.
func moduleRoot(t testing.TB) string {
	t.Helper()
	d, _ := os.Getwd()
	for {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d
		}
		p := filepath.Dir(d)
		if p == d {
			t.Fatal("go.mod not found above the test folder")
		}
		d = p
	}
}

// requireRuntime fails the test with the set-up instruction when the ONNX
// Runtime library is missing: the suite runs the real runtime.
func requireRuntime(t testing.TB) {
	t.Helper()
	if err := InitRuntime(); err != nil {
		t.Fatalf("these tests run the real ONNX Runtime: %v", err)
	}
}

func openTiny(t testing.TB) *Registry {
	t.Helper()
	requireRuntime(t)
	r, err := OpenRegistry("testdata", RegistryOptions{Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func maxAbsDiff(a, b []float32) (float64, int) {
	worst, at := 0.0, -1
	for i := range a {
		if d := math.Abs(float64(a[i]) - float64(b[i])); d > worst || math.IsNaN(d) {
			worst, at = d, i
		}
	}
	return worst, at
}

func maxAbs(a []float32) float64 {
	m := 0.0
	for _, x := range a {
		m = math.Max(m, math.Abs(float64(x)))
	}
	return m
}
