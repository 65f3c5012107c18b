package inference

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// checkParity compares the Go pipeline with a reference fixture folder (the
// models/parity/ format): preprocessing within 1e-5, logits within a
// relative 1e-4 (max |Go − ref| / max |ref|), and the mask voxel for voxel.
func checkParity(t *testing.T, r *Registry, dir, name string) {
	t.Helper()
	c, ok := r.Card(name)
	if !ok {
		t.Fatalf("no card for %s in %s", name, r.Dir())
	}
	// A fixture written for another export of the model proves nothing.
	if b, err := os.ReadFile(filepath.Join(dir, "input.json")); err == nil {
		var meta struct {
			Models map[string]struct {
				SHA string `json:"onnx_sha256"`
			} `json:"models"`
		}
		if json.Unmarshal(b, &meta) == nil {
			if m, ok := meta.Models[name]; ok && m.SHA != "" && normalizedHex(m.SHA) != normalizedHex(c.SHA256) {
				t.Fatalf("%s/input.json was written for %s.onnx with SHA-256 %s, but the card says %s: regenerate the fixtures (models/training/parity.py)", dir, name, m.SHA, c.SHA256)
			}
		}
	}
	v := readParityVolume(t, dir)
	in, err := Preprocess(v, c.Preprocessing) // reads v through its canonical layout
	if err != nil {
		t.Fatal(err)
	}
	want := readRaw[float32](t, filepath.Join(dir, "preprocessed.f32"))
	if len(want) != len(in.Data) {
		t.Fatalf("preprocessed: Go made %d values (padded grid %v), reference has %d", len(in.Data), in.Padded, len(want))
	}
	pd, at := maxAbsDiff(in.Data, want)
	if pd > 1e-5 {
		t.Errorf("preprocessing differs from the reference by %g at %d (Go %g, ref %g)", pd, at, in.Data[at], want[at])
	}

	m, _ := r.model(name)
	sess, err := r.session(m)
	if err != nil {
		t.Fatal(err)
	}
	logits, err := runLogits(context.Background(), sess, c, in)
	if err != nil {
		t.Fatal(err)
	}
	ref := readRaw[float32](t, filepath.Join(dir, name+"_logits.f32"))
	got := logits
	if len(ref) != len(logits) {
		// The reference may hold the logits with the padding cropped.
		got = cropLogits(logits, in)
	}
	if len(ref) != len(got) {
		t.Fatalf("logits: reference has %d values, Go %d (padded) / %d (cropped)", len(ref), len(logits), len(got))
	}
	d, at := maxAbsDiff(got, ref)
	if rel := d / maxAbs(ref); rel > 1e-4 {
		t.Errorf("logits differ: max abs %g at %d, relative %g > 1e-4", d, at, rel)
	} else {
		t.Logf("%s: preprocessing max abs diff %g; logits max abs diff %g, relative %g", name, pd, d, rel)
	}

	o := c.DefaultOptions()
	o.Edge = nil // the fixtures fix the network's contract, before the edge refinement
	res, err := r.Run(context.Background(), v, name, o)
	if err != nil {
		t.Fatal(err)
	}
	wantMask := readRaw[uint8](t, filepath.Join(dir, name+"_mask.u8"))
	if len(wantMask) != len(res.Mask.Voxels) {
		t.Fatalf("mask: reference has %d voxels, Go %d", len(wantMask), len(res.Mask.Voxels))
	}
	if res.Mask.Geometry != v.Geometry {
		t.Errorf("mask geometry %+v, want the input's %+v", res.Mask.Geometry, v.Geometry)
	}
	diff, fg := 0, 0
	for i := range wantMask {
		if (wantMask[i] != 0) != (res.Mask.Voxels[i] != 0) {
			diff++
		}
		if wantMask[i] != 0 {
			fg++
		}
	}
	if diff != 0 {
		t.Errorf("mask: %d of %d voxels differ from the reference (reference has %d liver voxels)", diff, len(wantMask), fg)
	}
	if fg == 0 {
		t.Errorf("reference mask is empty: the fixture proves nothing about postprocessing")
	}
}

// cropLogits drops the padding of [2][Pz][Py][Px] logits.
func cropLogits(l []float32, in *NetInput) []float32 {
	var out []float32
	px, py, pz := in.Padded[0], in.Padded[1], in.Padded[2]
	for c := 0; c < 2; c++ {
		for k := 0; k < in.Size[2]; k++ {
			for j := 0; j < in.Size[1]; j++ {
				o := ((c*pz+k)*py + j) * px
				out = append(out, l[o:o+in.Size[0]]...)
			}
		}
	}
	return out
}

func TestParityTiny(t *testing.T) {
	checkParity(t, openTiny(t), "testdata/parity", "tiny")
}

// TestParityModels checks every shipped model that has a fixture in
// models/parity/ (written by models/training/parity.py). Another export can
// be checked with LIVERSEG_PARITY_MODELS (its models folder) and
// LIVERSEG_PARITY_DIR (its parity folder).
func TestParityModels(t *testing.T) {
	root := moduleRoot(t)
	models := filepath.Join(root, "models")
	if d := os.Getenv("LIVERSEG_PARITY_MODELS"); d != "" {
		models = d
	}
	dir := filepath.Join(models, "parity")
	if d := os.Getenv("LIVERSEG_PARITY_DIR"); d != "" {
		dir = d
	}
	if _, err := os.Stat(filepath.Join(dir, "input.json")); err != nil {
		t.Skipf("%s/input.json is absent: no exported models to check yet", dir)
	}
	requireRuntime(t)
	r, err := OpenRegistry(models, RegistryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	n := 0
	for _, c := range r.Cards() {
		if _, err := os.Stat(filepath.Join(dir, c.Name+"_logits.f32")); err != nil {
			continue
		}
		n++
		t.Run(c.Name, func(t *testing.T) { checkParity(t, r, dir, c.Name) })
	}
	if n == 0 {
		t.Fatalf("models/parity holds an input but no <model>_logits.f32 for any of %d cards", len(r.Cards()))
	}
}
