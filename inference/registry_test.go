package inference

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/liverseg/liverseg/volume"
)

// copyTiny copies the tiny model and its card into a fresh folder, with
// the .onnx bytes and the card's digest replaced when given.
func copyTiny(t *testing.T, onnx []byte, digest string) string {
	t.Helper()
	dir := t.TempDir()
	card, err := os.ReadFile("testdata/tiny.json")
	if err != nil {
		t.Fatal(err)
	}
	if onnx == nil {
		if onnx, err = os.ReadFile("testdata/tiny.onnx"); err != nil {
			t.Fatal(err)
		}
	}
	if digest != "" {
		var m map[string]any
		json.Unmarshal(card, &m)
		m["sha256"] = digest
		card, _ = json.Marshal(m)
	}
	os.WriteFile(filepath.Join(dir, "tiny.json"), card, 0o644)
	os.WriteFile(filepath.Join(dir, "tiny.onnx"), onnx, 0o644)
	return dir
}

func tinyVolume(t testing.TB) *volume.Volume {
	return readParityVolume(t, "testdata/parity")
}

func TestRegistryErrors(t *testing.T) {
	requireRuntime(t)
	good, _ := os.ReadFile("testdata/tiny.onnx")
	tampered := append([]byte(nil), good...)
	tampered[len(tampered)/2] ^= 0xff
	garbage := []byte("this is not an ONNX protobuf at all")
	sum := sha256.Sum256(garbage)
	tests := []struct {
		name   string
		dir    string
		model  string
		vol    *volume.Volume
		want   []string
		target error
	}{
		{"checksum mismatch", copyTiny(t, tampered, ""), "tiny", tinyVolume(t), []string{"tiny.onnx", "SHA-256", "refusing"}, ErrChecksum},
		{"corrupt onnx", copyTiny(t, garbage, hex.EncodeToString(sum[:])), "tiny", tinyVolume(t), []string{"tiny.onnx", "not a loadable ONNX model"}, nil},
		{"unknown model", copyTiny(t, nil, ""), "student", tinyVolume(t), []string{`unknown model "student"`, "tiny"}, nil},
		{"input too small", copyTiny(t, nil, ""), "tiny",
			volume.New(volume.Identity([3]int{64, 64, 3}, [3]float64{0.8, 0.8, 2})),
			[]string{"too small", "axis z", "at least 8"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := OpenRegistry(tc.dir, RegistryOptions{Threads: 1})
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			_, err = r.Run(context.Background(), tc.vol, tc.model, Options{Threshold: 0.5})
			if err == nil {
				t.Fatal("no error")
			}
			t.Logf("error: %v", err)
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			if tc.target != nil && !errors.Is(err, tc.target) {
				t.Errorf("error %v is not %v", err, tc.target)
			}
		})
	}
}

func TestReadCardsRejectsBrokenCards(t *testing.T) {
	base, _ := os.ReadFile("testdata/tiny.json")
	tests := []struct {
		name  string
		patch func(m map[string]any)
		want  string
	}{
		{"bad digest", func(m map[string]any) { m["sha256"] = "abc" }, "sha256"},
		{"path in onnx", func(m map[string]any) { m["onnx"] = "../x.onnx" }, "plain file name"},
		{"anisotropic", func(m map[string]any) {
			m["preprocessing"].(map[string]any)["spacing_mm"] = []float64{1, 1, 2}
		}, "isotropic"},
		{"sigmoid", func(m map[string]any) { m["output"].(map[string]any)["activation"] = "sigmoid" }, "softmax"},
		{"zero scale", func(m map[string]any) {
			m["preprocessing"].(map[string]any)["normalize"] = map[string]any{"center": 0, "scale": 0}
		}, "scale"},
		{"threshold", func(m map[string]any) { m["postprocessing"].(map[string]any)["threshold"] = 1.5 }, "threshold"},
		{"orientation", func(m map[string]any) { m["preprocessing"].(map[string]any)["orientation"] = "RAS" }, "orientation"},
		{"negative temperature", func(m map[string]any) { m["output"].(map[string]any)["temperature"] = -2 }, "temperature"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var m map[string]any
			json.Unmarshal(base, &m)
			tc.patch(m)
			b, _ := json.Marshal(m)
			dir := t.TempDir()
			os.WriteFile(filepath.Join(dir, "tiny.json"), b, 0o644)
			_, err := ReadCards(dir)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "tiny.json") {
				t.Fatalf("err = %v, want one naming tiny.json and %q", err, tc.want)
			}
		})
	}
	// A JSON file that is not a card is ignored.
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "results.json"), []byte(`{"dice": 0.9}`), 0o644)
	if cards, err := ReadCards(dir); err != nil || len(cards) != 0 {
		t.Fatalf("ReadCards with a non-card JSON = %v, %v", cards, err)
	}
}

func TestRunProgressAndCancel(t *testing.T) {
	r := openTiny(t)
	v := tinyVolume(t)
	var stages []Stage
	o := r.cards[0].DefaultOptions()
	o.Progress = func(s Stage) { stages = append(stages, s) }
	res, err := r.Run(context.Background(), v, "tiny", o)
	if err != nil {
		t.Fatal(err)
	}
	want := []Stage{StageLoad, StagePreprocess, StageInfer, StagePostprocess, StageDone}
	if len(stages) != len(want) {
		t.Fatalf("stages %v, want %v", stages, want)
	}
	for i := range want {
		if stages[i] != want[i] {
			t.Fatalf("stages %v, want %v", stages, want)
		}
	}
	if res.Timings.Total <= 0 || res.Timings.Infer <= 0 {
		t.Errorf("timings not measured: %+v", res.Timings)
	}

	// Cancelling while a stage reports stops the run before the next one.
	for _, at := range []Stage{StagePreprocess, StageInfer, StagePostprocess} {
		ctx, cancel := context.WithCancel(context.Background())
		o.Progress = func(s Stage) {
			if s == at {
				cancel()
			}
		}
		_, err := r.Run(ctx, v, "tiny", o)
		if !errors.Is(err, context.Canceled) {
			t.Errorf("cancelled at %v: err = %v", at, err)
		}
	}
}

func TestResultThresholdAndApply(t *testing.T) {
	r := openTiny(t)
	v := tinyVolume(t)
	res, err := r.Run(context.Background(), v, "tiny", r.cards[0].DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	same, err := res.Threshold(res.Post.Threshold)
	if err != nil {
		t.Fatal(err)
	}
	for i := range same.Voxels {
		if same.Voxels[i] != res.Mask.Voxels[i] {
			t.Fatal("re-thresholding at the same threshold changed the mask")
		}
	}
	prev := res.Mask.Count()
	for _, th := range []float64{0.7, 0.9, 0.99} {
		m, err := res.Threshold(th)
		if err != nil {
			t.Fatal(err)
		}
		if c := m.Count(); c > prev || c == 0 {
			t.Errorf("threshold %v: %d voxels, previous %d", th, c, prev)
		} else {
			prev = c
		}
	}
	raw, err := res.Apply(PostOptions{Threshold: 0.5})
	if err != nil {
		t.Fatal(err)
	}
	// Without clean-up: the spleen blob stays and the vessel hole opens.
	holes, extra := 0, 0
	for i := range raw.Voxels {
		if raw.Voxels[i] == 0 && res.Mask.Voxels[i] == 1 {
			holes++
		}
		if raw.Voxels[i] == 1 && res.Mask.Voxels[i] == 0 {
			extra++
		}
	}
	if holes == 0 || extra == 0 {
		t.Errorf("clean-up made no difference: %d filled voxels, %d removed", holes, extra)
	}
	if _, err := res.Threshold(1); err == nil {
		t.Error("threshold 1 accepted")
	}
	if err := res.Update(PostOptions{Threshold: 0.5}); err != nil || res.Mask.Count() != raw.Count() || res.Post.LargestComponent {
		t.Errorf("Update: %v, %d voxels (want %d), post %+v", err, res.Mask.Count(), raw.Count(), res.Post)
	}
}

func TestProbSliceAgreesWithMask(t *testing.T) {
	r := openTiny(t)
	v := tinyVolume(t)
	res, err := r.Run(context.Background(), v, "tiny", Options{Threshold: 0.5})
	if err != nil {
		t.Fatal(err)
	}
	for axis := 0; axis < 3; axis++ {
		idx := v.Size[axis] / 2
		s, err := res.ProbSlice(axis, idx, nil)
		if err != nil {
			t.Fatal(err)
		}
		u, w := (axis+1)%3, (axis+2)%3
		if u > w {
			u, w = w, u
		}
		diff := 0
		for b := 0; b < v.Size[w]; b++ {
			for a := 0; a < v.Size[u]; a++ {
				var ijk [3]int
				ijk[axis], ijk[u], ijk[w] = idx, a, b
				got := s[b*v.Size[u]+a] > 0.5
				if got != (res.Mask.Voxels[v.Offset(ijk[0], ijk[1], ijk[2])] == 1) {
					diff++
				}
				if p := res.ProbAt(ijk[0], ijk[1], ijk[2]); p != s[b*v.Size[u]+a] {
					t.Fatalf("ProbAt%v = %v, slice says %v", ijk, p, s[b*v.Size[u]+a])
				}
			}
		}
		if diff > 0 {
			t.Errorf("axis %d: %d slice voxels disagree with the mask", axis, diff)
		}
	}
	if _, err := res.ProbSlice(2, v.Size[2], nil); err == nil {
		t.Error("slice beyond the volume accepted")
	}
}

func TestRunROI(t *testing.T) {
	r := openTiny(t)
	v := tinyVolume(t)
	full, err := r.Run(context.Background(), v, "tiny", Options{Threshold: 0.5})
	if err != nil {
		t.Fatal(err)
	}
	cs := v.CanonicalGeometry().Size
	roi := Box{Min: [3]int{2, 3, 1}, Max: [3]int{cs[0] - 2, cs[1] - 4, cs[2] - 2}}
	part, err := r.Run(context.Background(), v, "tiny", Options{Threshold: 0.5, ROI: &roi})
	if err != nil {
		t.Fatal(err)
	}
	canon := part.Mask.Canonical()
	fullC := full.Mask.Canonical()
	inside, agree := 0, 0
	for k := 0; k < cs[2]; k++ {
		for j := 0; j < cs[1]; j++ {
			for i := 0; i < cs[0]; i++ {
				o := canon.Offset(i, j, k)
				in := i >= roi.Min[0] && i < roi.Max[0] && j >= roi.Min[1] && j < roi.Max[1] && k >= roi.Min[2] && k < roi.Max[2]
				if !in && canon.Voxels[o] != 0 {
					t.Fatalf("mask voxel (%d,%d,%d) outside the ROI is set", i, j, k)
				}
				if in && fullC.Voxels[o] == 1 {
					inside++
					if canon.Voxels[o] == 1 {
						agree++
					}
				}
			}
		}
	}
	// The ROI run resamples on a shifted grid, so it agrees closely but
	// not voxel for voxel.
	if inside == 0 || float64(agree)/float64(inside) < 0.9 {
		t.Errorf("ROI run found %d of the %d liver voxels of the full run", agree, inside)
	}
	bad := Box{Min: [3]int{0, 0, 0}, Max: [3]int{cs[0] + 1, cs[1], cs[2]}}
	if _, err := r.Run(context.Background(), v, "tiny", Options{Threshold: 0.5, ROI: &bad}); err == nil || !strings.Contains(err.Error(), "region of interest") {
		t.Errorf("ROI beyond the volume: err = %v", err)
	}
}

func TestCanonicalBox(t *testing.T) {
	g := volume.Geometry{Size: [3]int{10, 20, 30}, Spacing: [3]float64{1, 1, 2}, Direction: [3][3]float64{{-1, 0, 0}, {0, -1, 0}, {0, 0, 1}}}
	b := CanonicalBox(g, Box{Min: [3]int{1, 2, 3}, Max: [3]int{4, 6, 9}})
	want := Box{Min: [3]int{10 - 4, 20 - 6, 3}, Max: [3]int{10 - 1, 20 - 2, 9}}
	if b != want {
		t.Fatalf("CanonicalBox = %+v, want %+v", b, want)
	}
}

func TestRunProbabilityOnly(t *testing.T) {
	r := openTiny(t)
	v := tinyVolume(t)
	o := r.cards[0].DefaultOptions()
	full, err := r.Run(context.Background(), v, "tiny", o)
	if err != nil {
		t.Fatal(err)
	}
	o.ProbabilityOnly = true
	lazy, err := r.Run(context.Background(), v, "tiny", o)
	if err != nil {
		t.Fatal(err)
	}
	if lazy.Mask != nil || lazy.Prob == nil {
		t.Fatalf("ProbabilityOnly: mask %v, prob %v", lazy.Mask != nil, lazy.Prob != nil)
	}
	if err := lazy.Update(lazy.Post); err != nil {
		t.Fatal(err)
	}
	for i := range full.Mask.Voxels {
		if lazy.Mask.Voxels[i] != full.Mask.Voxels[i] {
			t.Fatalf("mask built later differs at voxel %d", i)
		}
	}
}
