package inference

import (
	"context"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/liverseg/liverseg/metrics"
	"github.com/liverseg/liverseg/volume"
)

// liverBox is the bounding box of a liver mask on the canonical grid (i
// towards the patient's left, j posterior, k superior) with 5 voxels of
// slack, clamped to the grid.
func liverBox(ref *volume.Mask) Box {
	c := ref.Canonical()
	lo, hi := c.Size, [3]int{-1, -1, -1}
	for k := 0; k < c.Size[2]; k++ {
		for j := 0; j < c.Size[1]; j++ {
			for i := 0; i < c.Size[0]; i++ {
				if c.Voxels[c.Offset(i, j, k)] == 0 {
					continue
				}
				p := [3]int{i, j, k}
				for a := 0; a < 3; a++ {
					lo[a], hi[a] = min(lo[a], p[a]), max(hi[a], p[a])
				}
			}
		}
	}
	var b Box
	for a := 0; a < 3; a++ {
		b.Min[a], b.Max[a] = max(lo[a]-5, 0), min(hi[a]+6, c.Size[a])
	}
	return b
}

// cut returns b with the axis a limited to the fraction [from, to) of its
// extent: a face that cuts through the liver.
func cut(b Box, a int, from, to float64) Box {
	n := float64(b.Max[a] - b.Min[a])
	b.Min[a], b.Max[a] = b.Min[a]+int(from*n), b.Min[a]+int(to*n)
	return b
}

// diceInBox is the Dice of two masks counted inside b only (canonical grid).
func diceInBox(t *testing.T, a, b *volume.Mask, box Box) float64 {
	t.Helper()
	in := func(m *volume.Mask) *volume.Mask {
		c := m.Canonical()
		out := volume.NewMask(c.Geometry)
		for k := box.Min[2]; k < box.Max[2]; k++ {
			for j := box.Min[1]; j < box.Max[1]; j++ {
				o := c.Offset(box.Min[0], j, k)
				copy(out.Voxels[o:o+box.Max[0]-box.Min[0]], c.Voxels[o:])
			}
		}
		return out
	}
	d, err := metrics.Dice(in(a), in(b))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestBoxRunMatchesWholeRun runs every shipped model on the real CHAOS case on the
// whole volume, and in boxes whose faces cut through the liver: around the
// right lobe (the patient's right 45 % of the liver), the left lobe, the
// upper half. Inside each box, against the manual liver label, the box run
// must be at least as good as the whole run (Dice counted inside the box,
// 0.005 tolerance: the box run's network sees less of the abdomen, which
// shifts its InstanceNorm statistics a little). Cut exactly at the box, as
// before issue 13, the right-lobe box lost 0.37 Dice (0.569 against 0.938).
func TestBoxRunMatchesWholeRun(t *testing.T) {
	r := shippedModels(t)
	ct, ref := chaosCase(t)
	liver := liverBox(ref)
	boxes := []struct {
		name string
		box  Box
	}{
		{"right lobe", cut(liver, 0, 0, 0.45)},
		{"left lobe", cut(liver, 0, 0.55, 1)},
		{"upper half", cut(liver, 2, 0.5, 1)},
	}
	margins := []float64{BoxContextMM}
	if s := os.Getenv("LIVERSEG_BOX_MARGINS"); s != "" { // to explore: LIVERSEG_BOX_MARGINS=0,30,60
		margins = nil
		for _, f := range strings.Split(s, ",") {
			m, err := strconv.ParseFloat(f, 64)
			if err != nil {
				t.Fatal(err)
			}
			margins = append(margins, m)
		}
	}
	def := BoxContextMM
	defer func() { BoxContextMM = def }()
	for _, c := range r.Cards() {
		whole, err := r.Run(context.Background(), ct, c.Name, c.DefaultOptions())
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range boxes {
			dWhole := diceInBox(t, whole.Mask, ref, b.box)
			for _, m := range margins {
				BoxContextMM = m
				o := c.DefaultOptions()
				o.ROI = &b.box
				part, err := r.Run(context.Background(), ct, c.Name, o)
				if err != nil && m < def {
					t.Logf("%s, %s, %g mm context: %v", c.Name, b.name, m, err) // exploring smaller margins
					continue
				}
				if err != nil {
					t.Fatal(err)
				}
				dBox := diceInBox(t, part.Mask, ref, b.box)
				outsideProb(t, part, b.box)
				t.Logf("%s, %s %v..%v, %g mm context (network box %v..%v): Dice in the box %.4f (whole run %.4f), %.1f mL",
					c.Name, b.name, b.box.Min, b.box.Max, m, part.Net.Min, part.Net.Max, dBox, dWhole, part.Mask.VolumeML())
				if dBox < dWhole-0.005 {
					t.Errorf("%s, %s, %g mm context: box run Dice %.4f inside the box, whole run %.4f", c.Name, b.name, m, dBox, dWhole)
				}
			}
		}
	}
}

// outsideProb fails when the probability a viewer draws (ProbAt) is not 0
// outside the box on the input's middle slice, though the network saw
// beyond the box, or when it is 0 everywhere inside.
func outsideProb(t *testing.T, r *Result, b Box) {
	t.Helper()
	in := r.Input()
	k := in.Size[2] / 2
	cs := in.CanonicalGeometry().Spacing
	seen := 0
	for j := 0; j < in.Size[1]; j += 2 {
		for i := 0; i < in.Size[0]; i += 2 {
			c := CanonicalBox(in, Box{Min: [3]int{i, j, k}, Max: [3]int{i + 1, j + 1, k + 1}}).Min
			inside := true
			for a := 0; a < 3; a++ {
				inside = inside && c[a] >= b.Min[a] && c[a] < b.Max[a]
			}
			p := r.ProbAt(i, j, k)
			if !inside && p != 0 {
				t.Fatalf("probability %.3f at voxel (%d,%d,%d), canonical %v, outside the box %v..%v", p, i, j, k, c, b.Min, b.Max)
			}
			// The map a viewer draws (Prob) is 0 from one network voxel
			// outside the box on.
			var m [3]float64
			far := false
			for a := 0; a < 3; a++ {
				f := cs[a] / r.Prob.Spacing[a]
				m[a] = float64(c[a]-r.Net.Min[a]) * f
				far = far || float64(b.Min[a]-c[a])*f > 1 || float64(c[a]-b.Max[a]+1)*f > 1
			}
			onMap := true // beyond the map a viewer draws nothing (At would clamp)
			for a := 0; a < 3; a++ {
				onMap = onMap && m[a] >= 0 && m[a] <= float64(r.Prob.Size[a]-1)
			}
			if far && onMap {
				if d := r.Prob.At(m[0], m[1], m[2]); d != 0 {
					t.Fatalf("the displayed map is %.3f at voxel (%d,%d,%d), canonical %v, outside the box %v..%v", d, i, j, k, c, b.Min, b.Max)
				}
			}
			if inside && p > 0.5 {
				seen++
			}
		}
	}
	if seen == 0 && k >= b.Min[2] && k < b.Max[2] {
		t.Logf("no liver probability inside the box on slice %d", k)
	}
}
