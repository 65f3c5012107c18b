package inference

import (
	"context"
	"testing"

	"github.com/liverseg/liverseg/metrics"
	"github.com/liverseg/liverseg/phantom"
)

// phantomMinDice is what every shipped model must reach on the demo
// phantoms: the built-in demo study is only a fair demonstration if the
// models segment it about as well as the real cases they were trained on
// (the students reach 0.91 on chaos_ct01 and ircad_p01).
const phantomMinDice = 0.90

// TestShippedModelsOnPhantom runs every shipped model through the whole Go
// pipeline on synthetic phantoms, whose liver is known exactly: seed 1 is
// the study the application opens with no arguments. It needs no patient
// data, so it runs on every machine with the runtime library.
func TestShippedModelsOnPhantom(t *testing.T) {
	if testing.Short() {
		t.Skip("generates 512×512×84 phantoms")
	}
	r := shippedModels(t)
	for _, seed := range []uint64{1, 2} {
		p := phantom.Generate(seed)
		for _, c := range r.Cards() {
			res, err := r.Run(context.Background(), p.CT, c.Name, c.DefaultOptions())
			if err != nil {
				t.Fatalf("%s on phantom seed %d: %v", c.Name, seed, err)
			}
			m, err := metrics.Compare(res.Mask, p.Liver)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s on phantom seed %d: Dice %.4f, HD95 %.1f mm, %.0f mL (true %.0f mL)", c.Name, seed, m.Dice, m.HD95MM, m.VolumeML, m.RefVolumeML)
			if m.Dice < phantomMinDice {
				t.Errorf("%s on phantom seed %d: Dice %.4f, want ≥ %.2f", c.Name, seed, m.Dice, phantomMinDice)
			}
		}
	}
}
