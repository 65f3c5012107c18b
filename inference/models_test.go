package inference

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/liverseg/liverseg/internal/testsupport/shareddata"
	"github.com/liverseg/liverseg/internal/testsupport/testct"
	"github.com/liverseg/liverseg/metrics"
	"github.com/liverseg/liverseg/nifti"
	"github.com/liverseg/liverseg/phantom"
	"github.com/liverseg/liverseg/volume"
)

// shippedModels opens models/ (or $LIVERSEG_PARITY_MODELS), skipping when
// it holds no model cards yet.
func shippedModels(tb testing.TB) *Registry {
	tb.Helper()
	dir := filepath.Join(moduleRoot(tb), "models")
	if d := os.Getenv("LIVERSEG_PARITY_MODELS"); d != "" {
		dir = d
	}
	r, err := OpenRegistry(dir, RegistryOptions{})
	if err != nil {
		tb.Fatal(err)
	}
	if len(r.Cards()) == 0 {
		tb.Skipf("%s holds no model cards yet", dir)
	}
	requireRuntime(tb)
	tb.Cleanup(func() { r.Close() })
	return r
}

func chaosCase(tb testing.TB) (*volume.Volume, *volume.Mask) {
	tb.Helper()
	ct, err := nifti.Read(shareddata.Path(tb, "cases", "chaos_ct01", "ct.nii.gz"))
	if err != nil {
		tb.Fatal(err)
	}
	ref, err := nifti.ReadMask(shareddata.Path(tb, "cases", "chaos_ct01", "liver.nii.gz"))
	if err != nil {
		tb.Fatal(err)
	}
	ref.Geometry = ct.Geometry
	return ct, ref
}

// cardCaseFigures returns the Python pipeline's figures for a case from a
// card's evaluation.per_case (models/training/export.py), ok=false when the
// card has none.
func cardCaseFigures(c *Card, name string) (dice, hd95 float64, ok bool) {
	var ev struct {
		PerCase map[string]struct {
			Dice float64 `json:"dice"`
			HD95 float64 `json:"hd95_mm"`
		} `json:"per_case"`
	}
	if json.Unmarshal(c.Evaluation, &ev) != nil {
		return 0, 0, false
	}
	f, ok := ev.PerCase[name]
	return f.Dice, f.HD95, ok
}

// TestShippedModelsMatchCardEvaluation runs every shipped model on the real
// CHAOS case through the whole Go pipeline (reorientation, resampling,
// ONNX Runtime, postprocessing, metrics) and checks Dice and HD95 against
// the figures the Python pipeline wrote into the model card: the two
// implementations must agree on real data, whatever the model's quality
// (within the card's rounding: 4 decimals of Dice, 2 of HD95).
func TestShippedModelsMatchCardEvaluation(t *testing.T) {
	r := shippedModels(t)
	ct, ref := chaosCase(t)
	for _, c := range r.Cards() {
		t.Run(c.Name, func(t *testing.T) {
			// The card's figures are the network's own outline: no edge
			// refinement (refine.py measures that step on its own).
			o := c.DefaultOptions()
			o.Edge = nil
			res, err := r.Run(context.Background(), ct, c.Name, o)
			if err != nil {
				t.Fatal(err)
			}
			m, err := metrics.Compare(res.Mask, ref)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s (%d params) on chaos_ct01: Dice %.4f, HD95 %.2f mm, %.1f mL (reference %.1f mL); network %v, total %v",
				c.Name, c.Params, m.Dice, m.HD95MM, m.VolumeML, m.RefVolumeML, res.Timings.Infer.Round(time.Millisecond), res.Timings.Total.Round(time.Millisecond))
			dice, hd, ok := cardCaseFigures(c, "chaos_ct01")
			if !ok {
				t.Skipf("card %s has no evaluation for chaos_ct01 to compare with", c.Path)
			}
			if math.Abs(m.Dice-dice) > 1e-3 || math.Abs(m.HD95MM-hd) > 0.5 {
				t.Errorf("Go pipeline: Dice %.4f HD95 %.2f; the card (Python pipeline) says Dice %.4f HD95 %.2f", m.Dice, m.HD95MM, dice, hd)
			}
		})
	}
}

// BenchmarkShippedModels times a whole segmentation (preprocessing,
// network, postprocessing) of the 512×512×78 CHAOS case per model, or of
// the 512×512×84 synthetic phantom where ../shared/data is absent.
func BenchmarkShippedModels(b *testing.B) {
	r := shippedModels(b)
	var ct *volume.Volume
	if shareddata.Root() != "" {
		ct, _ = chaosCase(b)
	} else {
		ct = phantom.Generate(testct.PhantomSeed).CT
	}
	for _, c := range r.Cards() {
		b.Run(c.Name, func(b *testing.B) {
			if err := r.Load(c.Name); err != nil {
				b.Fatal(err)
			}
			var infer, total float64
			for b.Loop() {
				res, err := r.Run(context.Background(), ct, c.Name, c.DefaultOptions())
				if err != nil {
					b.Fatal(err)
				}
				infer += res.Timings.Infer.Seconds() * 1000
				total += res.Timings.Total.Seconds() * 1000
			}
			b.ReportMetric(infer/float64(b.N), "network-ms/op")
		})
	}
}
