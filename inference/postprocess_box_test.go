package inference

import (
	"bytes"
	"context"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/liverseg/liverseg/volume"
)

// blobProb is a low-res probability map with a few soft blobs (one can be
// empty), so hot boxes land anywhere, including at the grid's edges.
func blobProb(size [3]int, seed uint64, blobs int) *ProbMap {
	r := rand.New(rand.NewPCG(seed, 1))
	p := &ProbMap{Geometry: volume.Identity(size, [3]float64{5, 5, 5}), Data: make([]float32, size[0]*size[1]*size[2])}
	type blob struct{ c, r [3]float64 }
	var bs []blob
	for n := 0; n < blobs; n++ {
		var b blob
		for a := 0; a < 3; a++ {
			b.c[a] = r.Float64() * float64(size[a]-1)
			b.r[a] = 0.5 + r.Float64()*float64(size[a])/3
		}
		bs = append(bs, b)
	}
	n := 0
	for k := 0; k < size[2]; k++ {
		for j := 0; j < size[1]; j++ {
			for i := 0; i < size[0]; i++ {
				best := 0.0
				for _, b := range bs {
					d := math.Pow((float64(i)-b.c[0])/b.r[0], 2) + math.Pow((float64(j)-b.c[1])/b.r[1], 2) + math.Pow((float64(k)-b.c[2])/b.r[2], 2)
					best = max(best, 1/(1+math.Exp(6*(d-1))))
				}
				p.Data[n] = float32(best)
				n++
			}
		}
	}
	return p
}

// TestHotBoxUpsampleEqualsFullGrid checks that upsampling only the hot box
// gives the same mask as upsampling the whole grid (the reference rule),
// for grids finer and coarser than 5 mm and blobs touching the edges.
func TestHotBoxUpsampleEqualsFullGrid(t *testing.T) {
	cases := []struct {
		name    string
		low     [3]int
		out     [3]int
		spacing [3]float64
		blobs   int
	}{
		{"fine in-plane, 2 mm slices", [3]int{20, 18, 12}, [3]int{137, 124, 30}, [3]float64{0.73, 0.73, 2}, 2},
		{"coarse slices", [3]int{16, 16, 9}, [3]int{80, 80, 8}, [3]float64{1, 1, 5.5}, 3},
		{"single blob", [3]int{12, 10, 8}, [3]int{30, 25, 40}, [3]float64{2, 2, 1}, 1},
		{"nothing above threshold", [3]int{8, 8, 8}, [3]int{20, 20, 20}, [3]float64{2, 2, 2}, 0},
	}
	for ci, tc := range cases {
		for seed := uint64(0); seed < 5; seed++ {
			p := blobProb(tc.low, seed+uint64(ci)*10, tc.blobs)
			n := tc.out[0] * tc.out[1] * tc.out[2]
			full := make([]uint8, n)
			upsampleThreshold(p, tc.out, tc.spacing, 0.5, full)
			o := PostOptions{Threshold: 0.5}
			got, err := MaskFromProb(p, tc.out, tc.spacing, o)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, full) {
				diff := 0
				for i := range got {
					if got[i] != full[i] {
						diff++
					}
				}
				t.Errorf("%s seed %d: %d voxels differ from the full-grid upsampling", tc.name, seed, diff)
			}
			if tc.blobs > 0 && countOnes(full) == 0 {
				t.Errorf("%s seed %d: empty mask, the case tests nothing", tc.name, seed)
			}
		}
	}
}

// BenchmarkPostprocessFullGrid is the previous postprocessing, which
// upsampled the whole grid, as the peer of BenchmarkPostprocess512x512x78.
func BenchmarkPostprocessFullGrid512x512x78(b *testing.B) {
	v := syntheticCT(b)
	in, err := Preprocess(v, cardPreprocessing())
	if err != nil {
		b.Fatal(err)
	}
	prob := &ProbMap{Geometry: volume.Identity(in.Size, [3]float64{5, 5, 5}), Data: make([]float32, in.Size[0]*in.Size[1]*in.Size[2])}
	n := 0
	for k := 0; k < in.Size[2]; k++ {
		for j := 0; j < in.Size[1]; j++ {
			for i := 0; i < in.Size[0]; i++ {
				x := in.Data[(k*in.Padded[1]+j)*in.Padded[0]+i]
				prob.Data[n] = float32(1 / (1 + math.Exp(-40*float64(x))))
				n++
			}
		}
	}
	b.ResetTimer()
	for b.Loop() {
		m := make([]uint8, v.Size[0]*v.Size[1]*v.Size[2])
		upsampleThreshold(prob, v.Size, v.Spacing, 0.5, m)
		keepLargestComponent(v.Size, m)
		fillHoles(v.Size, m)
	}
}

// BenchmarkPostprocessChaosStudent times the probability → mask step on the
// student's real map of chaos_ct01 (512×512×78): "box" is MaskFromProb
// (upsampling only the hot box), "fullgrid" the previous whole-grid
// upsampling with the same clean-up, in the same run.
func BenchmarkPostprocessChaosStudent(b *testing.B) {
	ct, _ := chaosCase(b) // skips where ../shared/data is absent
	r := shippedModels(b)
	if err := r.Load("student"); err != nil {
		b.Fatal(err)
	}
	c, _ := r.Card("student")
	o := c.DefaultOptions()
	o.ProbabilityOnly = true
	res, err := r.Run(context.Background(), ct, "student", o)
	if err != nil {
		b.Fatal(err)
	}
	cg := ct.Geometry.CanonicalGeometry()
	post := PostOptions{Threshold: 0.5, LargestComponent: true, FillHoles: true}
	b.Run("box", func(b *testing.B) {
		for b.Loop() {
			if _, err := MaskFromProb(res.Prob, cg.Size, cg.Spacing, post); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("fullgrid", func(b *testing.B) {
		for b.Loop() {
			m := make([]uint8, cg.Size[0]*cg.Size[1]*cg.Size[2])
			upsampleThreshold(res.Prob, cg.Size, cg.Spacing, 0.5, m)
			keepLargestComponent(cg.Size, m)
			fillHoles(cg.Size, m)
		}
	})
	// The same box postprocessing followed by the edge refinement from the
	// scan (the app's default), and the refinement alone on that mask.
	edge := post
	edge.Edge = &DefaultEdge
	b.Run("box+edge", func(b *testing.B) {
		for b.Loop() {
			if _, err := res.Apply(edge); err != nil {
				b.Fatal(err)
			}
		}
	})
	m0, err := MaskFromProb(res.Prob, cg.Size, cg.Spacing, post)
	if err != nil {
		b.Fatal(err)
	}
	hu := ct.Canonical().Voxels
	m := make([]uint8, len(m0))
	b.Run("edge", func(b *testing.B) {
		for b.Loop() {
			copy(m, m0)
			if _, err := RefineEdge(SliceView(hu, cg.Size), m, cg.Size, cg.Spacing, DefaultEdge); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// TestMaskBoxIsTheMasksBoxGrown: maskFromProbBox returns the cleaned mask's
// own bounding box grown by grow (clipped to the grid) and exactly the
// whole-grid mask's voxels in it, so the refinement can use all of it
// without a copy.
func TestMaskBoxIsTheMasksBoxGrown(t *testing.T) {
	low, out, sp := [3]int{20, 18, 12}, [3]int{137, 124, 30}, [3]float64{0.73, 0.73, 2}
	o := PostOptions{Threshold: 0.5, LargestComponent: true, FillHoles: true}
	for seed := uint64(0); seed < 6; seed++ {
		p := blobProb(low, seed, 2)
		full, err := MaskFromProb(p, out, sp, o)
		if err != nil {
			t.Fatal(err)
		}
		fb, ok := foregroundBox(out, full)
		for _, grow := range [][3]int{{}, {1, 1, 1}, {5, 5, 3}, {200, 0, 1}} {
			b, vox, err := maskFromProbBox(p, out, sp, o, grow)
			if err != nil {
				t.Fatal(err)
			}
			if !ok {
				if vox != nil {
					t.Fatalf("seed %d: empty mask gave a box %v", seed, b)
				}
				continue
			}
			for a := 0; a < 3; a++ {
				if b.min[a] != max(fb.min[a]-grow[a], 0) || b.max[a] != min(fb.max[a]+grow[a], out[a]) {
					t.Fatalf("seed %d grow %v: box %v, want the mask's box %v grown", seed, grow, b, fb)
				}
			}
			back := make([]uint8, len(full))
			b.scatter(vox, out, back)
			if !bytes.Equal(back, full) {
				t.Fatalf("seed %d grow %v: the box's voxels differ from the whole-grid mask", seed, grow)
			}
		}
	}
}
