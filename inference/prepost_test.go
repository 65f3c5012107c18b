package inference

import (
	"math"
	"math/rand"
	"testing"

	"github.com/liverseg/liverseg/volume"
)

func TestResampledSize(t *testing.T) {
	tests := []struct {
		n      int
		sp, s  float64
		want   int
		reason string
	}{
		{512, 0.727, 5, 75, "CHAOS in-plane: floor(511·0.727/5)+1"},
		{78, 2, 5, 31, "CHAOS slices"},
		{11, 2, 1, 21, "exact multiple keeps its last voxel"},
		{3, 0.1, 0.1, 3, "0.1 spacing: (n-1)·0.1/0.1 rounds below 2"},
		{1, 3, 5, 1, "single slice"},
	}
	for _, tc := range tests {
		if got := ResampledSize(tc.n, tc.sp, tc.s); got != tc.want {
			t.Errorf("ResampledSize(%d, %v, %v) = %d, want %d (%s)", tc.n, tc.sp, tc.s, got, tc.want, tc.reason)
		}
	}
}

func TestPreprocessRampClipPad(t *testing.T) {
	// HU = 10·i + 100·j - 300·k on a 1×1×1 mm grid: trilinear resampling to
	// 2 mm must reproduce the plane exactly at i,j,k = 2t.
	g := volume.Identity([3]int{9, 7, 5}, [3]float64{1, 1, 1})
	v := volume.New(g)
	hu := func(x, y, z float64) float64 { return 10*x + 100*y - 300*z }
	for k := 0; k < 5; k++ {
		for j := 0; j < 7; j++ {
			for i := 0; i < 9; i++ {
				v.Voxels[g.Offset(i, j, k)] = int16(hu(float64(i), float64(j), float64(k)))
			}
		}
	}
	var p Preprocessing
	p.SpacingMM = [3]float64{2, 2, 2}
	p.HUClip = [2]float64{-500, 400}
	p.Normalize.Center, p.Normalize.Scale = 100, 50
	p.SizeMultiple = 2
	p.PadValue = -7
	in, err := Preprocess(v, p)
	if err != nil {
		t.Fatal(err)
	}
	if in.Size != [3]int{5, 4, 3} || in.Padded != [3]int{6, 4, 4} {
		t.Fatalf("size %v padded %v", in.Size, in.Padded)
	}
	for k := 0; k < in.Padded[2]; k++ {
		for j := 0; j < in.Padded[1]; j++ {
			for i := 0; i < in.Padded[0]; i++ {
				got := in.Data[(k*in.Padded[1]+j)*in.Padded[0]+i]
				want := -7.0
				if i < in.Size[0] && j < in.Size[1] && k < in.Size[2] {
					h := math.Min(math.Max(hu(2*float64(i), 2*float64(j), 2*float64(k)), -500), 400)
					want = (h - 100) / 50
				}
				if math.Abs(float64(got)-want) > 1e-6 {
					t.Fatalf("(%d,%d,%d) = %v, want %v", i, j, k, got, want)
				}
			}
		}
	}
}

func TestPreprocessAnisotropicMidpoints(t *testing.T) {
	// Spacing 3 mm along z, S = 2: output z voxel 1 lies at input index 2/3.
	g := volume.Identity([3]int{4, 4, 4}, [3]float64{2, 2, 3})
	v := volume.New(g)
	for n := range v.Voxels {
		v.Voxels[n] = int16(n / 16 * 90) // 0, 90, 180, 270 per slice
	}
	var p Preprocessing
	p.SpacingMM = [3]float64{2, 2, 2}
	p.HUClip = [2]float64{-1000, 1000}
	p.Normalize.Scale = 1
	p.SizeMultiple = 1
	in, err := Preprocess(v, p)
	if err != nil {
		t.Fatal(err)
	}
	if in.Size[2] != 5 { // floor(3·3/2)+1
		t.Fatalf("z size %d", in.Size[2])
	}
	for k := 0; k < 5; k++ {
		want := 90 * float64(k) * 2 / 3
		if got := in.Data[k*16]; math.Abs(float64(got)-want) > 1e-4 {
			t.Errorf("z=%d: %v, want %v", k, got, want)
		}
	}
}

// Reference implementations over the whole grid, written the obvious way.
func refLabels(size [3]int, m []uint8, val uint8) ([]int, []int) {
	lab := make([]int, len(m))
	sizes := []int{0}
	for s := range m {
		if m[s] != val || lab[s] != 0 {
			continue
		}
		id := len(sizes)
		sizes = append(sizes, 0)
		stack := []int{s}
		lab[s] = id
		for len(stack) > 0 {
			o := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			sizes[id]++
			i, j, k := o%size[0], o/size[0]%size[1], o/(size[0]*size[1])
			for _, d := range [][3]int{{1, 0, 0}, {-1, 0, 0}, {0, 1, 0}, {0, -1, 0}, {0, 0, 1}, {0, 0, -1}} {
				a, b, c := i+d[0], j+d[1], k+d[2]
				if a < 0 || b < 0 || c < 0 || a >= size[0] || b >= size[1] || c >= size[2] {
					continue
				}
				n := (c*size[1]+b)*size[0] + a
				if m[n] == val && lab[n] == 0 {
					lab[n] = id
					stack = append(stack, n)
				}
			}
		}
	}
	return lab, sizes
}

func TestCleanupMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewSource(3))
	for trial := 0; trial < 200; trial++ {
		size := [3]int{3 + rng.Intn(10), 3 + rng.Intn(10), 3 + rng.Intn(8)}
		n := size[0] * size[1] * size[2]
		density := 0.3 + 0.4*rng.Float64()
		m := make([]uint8, n)
		for i := range m {
			if rng.Float64() < density {
				m[i] = 1
			}
		}
		// Largest component.
		lab, sizes := refLabels(size, m, 1)
		best := 0
		for id := 1; id < len(sizes); id++ {
			if sizes[id] > sizes[best] {
				best = id
			}
		}
		ties := 0
		for _, s := range sizes[1:] {
			if s == sizes[best] {
				ties++
			}
		}
		got := append([]uint8(nil), m...)
		keepLargestComponent(size, got)
		for i := range got {
			want := uint8(0)
			if best > 0 && lab[i] == best {
				want = 1
			}
			// With a tie any of the largest may be kept; the count below
			// still has to match.
			if got[i] != want && ties == 1 {
				t.Fatalf("trial %d: largest component differs at %d", trial, i)
			}
		}
		if c := countOnes(got); best > 0 && c != sizes[best] {
			t.Fatalf("trial %d: kept %d voxels, largest component has %d", trial, c, sizes[best])
		}
		// Fill holes: background components touching no face become 1.
		blab, bsizes := refLabels(size, m, 0)
		border := make([]bool, len(bsizes))
		for o := range m {
			i, j, k := o%size[0], o/size[0]%size[1], o/(size[0]*size[1])
			if blab[o] > 0 && (i == 0 || j == 0 || k == 0 || i == size[0]-1 || j == size[1]-1 || k == size[2]-1) {
				border[blab[o]] = true
			}
		}
		got = append([]uint8(nil), m...)
		fillHoles(size, got)
		for o := range m {
			want := m[o]
			if m[o] == 0 && !border[blab[o]] {
				want = 1
			}
			if got[o] != want {
				t.Fatalf("trial %d size %v: fill holes differs at %d: %d, want %d", trial, size, o, got[o], want)
			}
		}
	}
}

func countOnes(m []uint8) int {
	n := 0
	for _, x := range m {
		if x == 1 {
			n++
		}
	}
	return n
}

func TestCleanupEmptyAndFull(t *testing.T) {
	size := [3]int{4, 5, 6}
	empty := make([]uint8, 120)
	keepLargestComponent(size, empty)
	fillHoles(size, empty)
	if countOnes(empty) != 0 {
		t.Fatal("empty mask gained voxels")
	}
	full := make([]uint8, 120)
	for i := range full {
		full[i] = 1
	}
	keepLargestComponent(size, full)
	fillHoles(size, full)
	if countOnes(full) != 120 {
		t.Fatal("full mask lost voxels")
	}
}

// syntheticCT is a 512×512×78 CHAOS-sized volume: a body ellipse and a
// liver-like ellipsoid with noise.
func syntheticCT(tb testing.TB) *volume.Volume {
	g := volume.Identity([3]int{512, 512, 78}, [3]float64{0.727, 0.727, 2})
	v := volume.New(g)
	rng := rand.New(rand.NewSource(1))
	for k := 0; k < 78; k++ {
		for j := 0; j < 512; j++ {
			for i := 0; i < 512; i++ {
				x, y := (float64(i)-256)/230, (float64(j)-256)/170
				h := -1000.0
				if x*x+y*y < 1 {
					h = 20
					lx, ly, lz := (float64(i)-180)/110, (float64(j)-230)/90, (float64(k)-40)/30
					if lx*lx+ly*ly+lz*lz < 1 {
						h = 70
					}
					h += rng.NormFloat64() * 15
				}
				v.Voxels[g.Offset(i, j, k)] = int16(h)
			}
		}
	}
	return v
}

// The model cards' preprocessing (models/training/lsdata.py).
func cardPreprocessing() Preprocessing {
	var p Preprocessing
	p.SpacingMM = [3]float64{5, 5, 5}
	p.HUClip = [2]float64{-250, 350}
	p.Normalize.Center, p.Normalize.Scale = 50, 300
	p.SizeMultiple = 16
	p.PadValue = -1
	return p
}

func BenchmarkPreprocess512x512x78(b *testing.B) {
	v := syntheticCT(b)
	p := cardPreprocessing()
	b.ResetTimer()
	for b.Loop() {
		if _, err := Preprocess(v, p); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPostprocess512x512x78 is the full probability → mask step of a
// CHAOS-sized case: trilinear upsampling, threshold, largest component and
// hole filling.
func BenchmarkPostprocess512x512x78(b *testing.B) {
	v := syntheticCT(b)
	p := cardPreprocessing()
	in, err := Preprocess(v, p)
	if err != nil {
		b.Fatal(err)
	}
	// A probability map that is high inside the liver ellipsoid.
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
	o := PostOptions{Threshold: 0.5, LargestComponent: true, FillHoles: true}
	b.ResetTimer()
	for b.Loop() {
		m, err := MaskFromProb(prob, v.Size, v.Spacing, o)
		if err != nil {
			b.Fatal(err)
		}
		if countOnes(m) == 0 {
			b.Fatal("empty mask")
		}
	}
}

// TestPreprocessAnyOrientation checks that reading through the canonical
// layout equals preprocessing the reoriented copy, bit for bit, for
// flipped and permuted grids, with and without a region of interest.
func TestPreprocessAnyOrientation(t *testing.T) {
	dirs := map[string][3][3]float64{
		"RAS":      {{-1, 0, 0}, {0, -1, 0}, {0, 0, 1}},
		"LPI":      {{1, 0, 0}, {0, 1, 0}, {0, 0, -1}},
		"coronal":  {{1, 0, 0}, {0, 0, -1}, {0, -1, 0}},
		"sagittal": {{0, 0, 1}, {1, 0, 0}, {0, -1, 0}},
	}
	rng := rand.New(rand.NewSource(9))
	p := cardPreprocessing()
	p.SpacingMM = [3]float64{3, 3, 3}
	p.SizeMultiple = 4
	for name, d := range dirs {
		g := volume.Geometry{Size: [3]int{30, 26, 22}, Spacing: [3]float64{0.9, 1.1, 1.7}, Origin: [3]float64{5, -7, 11}, Direction: d}
		v := volume.New(g)
		for n := range v.Voxels {
			v.Voxels[n] = int16(rng.Intn(1400) - 700)
		}
		c := v.Canonical()
		cs := c.Size
		for _, roi := range []Box{{Max: cs}, {Min: [3]int{2, 1, 3}, Max: [3]int{cs[0] - 1, cs[1] - 3, cs[2]}}} {
			got, err := PreprocessROI(v, roi, p)
			if err != nil {
				t.Fatal(err)
			}
			// Reference: crop the reoriented copy by hand.
			sub := volume.New(volume.Identity([3]int{roi.Max[0] - roi.Min[0], roi.Max[1] - roi.Min[1], roi.Max[2] - roi.Min[2]}, c.Spacing))
			for k := 0; k < sub.Size[2]; k++ {
				for j := 0; j < sub.Size[1]; j++ {
					for i := 0; i < sub.Size[0]; i++ {
						sub.Voxels[sub.Offset(i, j, k)] = c.At(i+roi.Min[0], j+roi.Min[1], k+roi.Min[2])
					}
				}
			}
			want, err := Preprocess(sub, p)
			if err != nil {
				t.Fatal(err)
			}
			if got.Padded != want.Padded {
				t.Fatalf("%s: padded %v vs %v", name, got.Padded, want.Padded)
			}
			for i := range got.Data {
				if got.Data[i] != want.Data[i] {
					t.Fatalf("%s roi %v: value %d: %v vs %v", name, roi, i, got.Data[i], want.Data[i])
				}
			}
		}
	}
}
