package inference

import (
	"math"
	"testing"

	"github.com/liverseg/liverseg/volume"
)

// TestProbFromLogitsTemperature checks the card's soft-map temperature:
// p = logistic(float32(d)/T), and that T changes no voxel's side of 0.5.
func TestProbFromLogitsTemperature(t *testing.T) {
	in := &NetInput{Size: [3]int{3, 1, 1}, Padded: [3]int{4, 1, 1}, Spacing: 5}
	// Channel 0 (background) then channel 1 (liver), padded x to 4.
	logits := []float32{0, 0, 3, 99, 10, -1, 0, 99}
	d := []float32{10, -1, -3}
	for _, tc := range []struct {
		name string
		temp float32
	}{{"softmax", 1}, {"T=8", 8}, {"T=3", 3}} {
		p := probFromLogits(logits, in, volume.Identity([3]int{3, 1, 1}, [3]float64{1, 1, 1}), tc.temp)
		for i, di := range d {
			want := float32(1 / (1 + math.Exp(-float64(di/tc.temp))))
			if p.Data[i] != want {
				t.Errorf("%s voxel %d: p = %v, want %v", tc.name, i, p.Data[i], want)
			}
			if (p.Data[i] > 0.5) != (di > 0) {
				t.Errorf("%s voxel %d: p = %v is on the wrong side of 0.5 for logit difference %v", tc.name, i, p.Data[i], di)
			}
		}
	}
	var c Card
	if c.Temperature() != 1 {
		t.Errorf("a card without temperature has %v, want 1", c.Temperature())
	}
}
