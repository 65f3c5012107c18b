package inference

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// ballScan is a scan of size n³ (spacing sp) holding a "liver" ball of
// radius r voxels at liverHU in fat, with Gaussian noise, and the ball as a
// mask grown (grow > 0) or shrunk (grow < 0) by |grow| voxels, which is what
// a network that misplaces the edge draws.
func ballScan(n int, r, grow float64, liverHU, aroundHU, noise float64, seed uint64) (hu []int16, truth, mask []uint8, size [3]int) {
	size = [3]int{n, n, n}
	hu = make([]int16, n*n*n)
	truth = make([]uint8, n*n*n)
	mask = make([]uint8, n*n*n)
	rng := rand.New(rand.NewPCG(seed, 1))
	c := float64(n-1) / 2
	for k := 0; k < n; k++ {
		for j := 0; j < n; j++ {
			for i := 0; i < n; i++ {
				o := (k*n+j)*n + i
				d := math.Sqrt((float64(i)-c)*(float64(i)-c) + (float64(j)-c)*(float64(j)-c) + (float64(k)-c)*(float64(k)-c))
				v := aroundHU
				if d <= r {
					v = liverHU
					truth[o] = 1
				}
				hu[o] = int16(math.Round(v + noise*rng.NormFloat64()))
				mask[o] = b2u(d <= r+grow)
			}
		}
	}
	return hu, truth, mask, size
}

func diceU8(a, b []uint8) float64 {
	var na, nb, both int
	for i := range a {
		na += int(a[i])
		nb += int(b[i])
		both += int(a[i] & b[i])
	}
	return 2 * float64(both) / float64(na+nb)
}

// TestRefineEdgeMovesOutlineOntoEdge: a mask drawn 2 voxels outside (or 1
// inside) a noisy ball is moved onto the ball's edge, and what it measured
// is the ball's HU.
func TestRefineEdgeMovesOutlineOntoEdge(t *testing.T) {
	sp := [3]float64{2, 2, 2} // the band is then 2 voxels, the core 5 in from the mask's edge
	for _, tc := range []struct {
		name       string
		grow       float64
		liver, bg  float64
		minDiceNew float64
	}{
		{"outside by 2 voxels, fat around", 2, 120, -100, 0.98},
		{"inside by 1 voxel, fat around", -1, 120, -100, 0.98},
		{"outside by 2 voxels, soft tissue around", 2, 130, 40, 0.97},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hu, truth, mask, size := ballScan(56, 20, tc.grow, tc.liver, tc.bg, 10, 7)
			before := diceU8(mask, truth)
			st, err := RefineEdge(SliceView(hu, size), mask, size, sp, DefaultEdge)
			if err != nil {
				t.Fatal(err)
			}
			after := diceU8(mask, truth)
			t.Logf("Dice %.4f → %.4f; %v", before, after, st)
			if !st.Applied {
				t.Fatalf("not applied: %s", st.Reason)
			}
			if after < tc.minDiceNew || after <= before {
				t.Errorf("Dice %.4f → %.4f, want > before and ≥ %.2f", before, after, tc.minDiceNew)
			}
			if math.Abs(st.LiverHU-tc.liver) > 3 {
				t.Errorf("liver measured at %.1f HU, the ball is %.0f", st.LiverHU, tc.liver)
			}
		})
	}
}

// TestRefineEdgeKeepsFarVoxels: voxels further than the band from the
// network's outline keep the network's decision, whatever their HU.
func TestRefineEdgeKeepsFarVoxels(t *testing.T) {
	const n = 56
	hu, _, mask, size := ballScan(n, 20, 0, 120, -100, 5, 3)
	// A dark "lesion" inside the ball, 4 voxels (8 mm) from its edge:
	// outside the 3 mm band, so kept.
	c := (n - 1) / 2
	for k := c - 3; k <= c+3; k++ {
		for j := c - 3; j <= c+3; j++ {
			for i := c + 6; i <= c+12; i++ {
				hu[(k*n+j)*n+i] = 20
			}
		}
	}
	st, err := RefineEdge(SliceView(hu, size), mask, size, [3]float64{2, 2, 2}, DefaultEdge)
	if err != nil || !st.Applied {
		t.Fatalf("%v, %v", st, err)
	}
	if mask[(c*n+c)*n+c+12] != 1 || mask[(c*n+c)*n+c+9] != 1 {
		t.Error("a dark region deep inside the liver was removed: the refinement must only touch the band")
	}
}

func TestRefineEdgeLeavesSmallOrEmptyMask(t *testing.T) {
	hu, _, mask, size := ballScan(24, 4, 0, 120, -100, 5, 1) // core (10 mm) is empty
	want := append([]uint8(nil), mask...)
	st, err := RefineEdge(SliceView(hu, size), mask, size, [3]float64{1, 1, 1}, DefaultEdge)
	if err != nil {
		t.Fatal(err)
	}
	if st.Applied || st.Reason == "" {
		t.Errorf("small mask: stats %+v, want not applied with a reason", st)
	}
	for i := range mask {
		if mask[i] != want[i] {
			t.Fatal("a mask too small to measure was changed")
		}
	}
	empty := make([]uint8, len(mask))
	if st, err := RefineEdge(SliceView(hu, size), empty, size, [3]float64{1, 1, 1}, DefaultEdge); err != nil || st.Applied {
		t.Errorf("empty mask: %+v, %v", st, err)
	}
	if _, err := RefineEdge(SliceView(hu[:10], size), mask, size, [3]float64{1, 1, 1}, DefaultEdge); err == nil {
		t.Error("an HU grid of the wrong size was accepted")
	}
}

// TestBoxMorphMatchesBruteForce checks the separable running-window box
// dilation, erosion and count against the definition.
func TestBoxMorphMatchesBruteForce(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	for _, tc := range []struct {
		size [3]int
		h    [3]int
	}{
		{[3]int{13, 9, 7}, [3]int{1, 1, 1}}, {[3]int{13, 9, 7}, [3]int{2, 1, 3}}, {[3]int{13, 9, 7}, [3]int{4, 3, 1}},
		// Rows long enough for the word-wide path along x, and windows
		// past the small-window limits along every axis.
		{[3]int{61, 12, 9}, [3]int{3, 2, 1}}, {[3]int{61, 12, 9}, [3]int{14, 5, 2}}, {[3]int{70, 20, 14}, [3]int{17, 6, 5}},
	} {
		size, h := tc.size, tc.h
		n := size[0] * size[1] * size[2]
		m := make([]uint8, n)
		for i := range m {
			m[i] = b2u(rng.Float64() < 0.8)
		}
		dil, ero, tmp := make([]uint8, n), make([]uint8, n), make([]uint8, n)
		boxMorph(m, dil, tmp, size, h, false)
		boxMorph(m, ero, tmp, size, h, true)
		cnt := boxCount(m, size, h)
		full := (2*h[0] + 1) * (2*h[1] + 1) * (2*h[2] + 1)
		var cnt8 []uint8 // the byte counts (word-wide along y and z) where they fit
		if full <= 255 {
			cnt8 = boxCountInto(m, make([]uint8, n), make([]uint8, n), size, h)
		}
		for k := 0; k < size[2]; k++ {
			for j := 0; j < size[1]; j++ {
				for i := 0; i < size[0]; i++ {
					ones := 0
					for z := k - h[2]; z <= k+h[2]; z++ {
						for y := j - h[1]; y <= j+h[1]; y++ {
							for x := i - h[0]; x <= i+h[0]; x++ {
								if x >= 0 && y >= 0 && z >= 0 && x < size[0] && y < size[1] && z < size[2] {
									ones += int(m[(z*size[1]+y)*size[0]+x])
								}
							}
						}
					}
					o := (k*size[1]+j)*size[0] + i
					if cnt8 != nil && int(cnt8[o]) != ones {
						t.Fatalf("h %v voxel %d,%d,%d: byte count %d, want %d", h, i, j, k, cnt8[o], ones)
					}
					if dil[o] != b2u(ones > 0) || ero[o] != b2u(ones == full) || int(cnt[o]) != ones {
						t.Fatalf("h %v voxel %d,%d,%d: dilate %d erode %d count %d, want %d %d %d",
							h, i, j, k, dil[o], ero[o], cnt[o], b2u(ones > 0), b2u(ones == full), ones)
					}
				}
			}
		}
	}
}

// histOf is the histogram of v through both of newHistogram's paths: v as
// the 3×3×3 sums, and (when v fits in int16) as own HU (scaled by 27).
func histOf(v []int32) (sums, own histogram, ownOK bool) {
	sel := make([]uint8, len(v))
	for i := range sel {
		sel[i] = 1
	}
	size := [3]int{len(v), 1, 1}
	sums = newHistogram(HUView{}, size, v, sel)
	raw := make([]int16, len(v))
	ownOK = true
	for i, x := range v {
		if x < math.MinInt16 || x > math.MaxInt16 {
			ownOK = false
		}
		raw[i] = int16(x)
	}
	return sums, newHistogram(SliceView(raw, size), size, nil, sel), ownOK
}

func TestMedianIsNumpys(t *testing.T) {
	for _, tc := range []struct {
		in   []int32
		want float64
	}{
		{[]int32{5}, 5}, {[]int32{3, 1, 2}, 2}, {[]int32{4, 1, 3, 2}, 2.5}, {[]int32{-7, 7}, 0},
	} {
		if h, _, _ := histOf(tc.in); h.median() != tc.want {
			t.Errorf("median(%v) = %v, want %v", tc.in, h.median(), tc.want)
		}
	}
}

func TestMedianCountingEqualsSorting(t *testing.T) {
	rng := rand.New(rand.NewPCG(2, 2))
	for _, n := range []int{1, 2, 7, 1000, 1001} {
		for _, spread := range []int{5, 3000, 100000} {
			v := make([]int32, n)
			for i := range v {
				v[i] = int32(rng.IntN(spread)) - int32(spread/2)
			}
			s := append([]int32(nil), v...)
			slices.Sort(s)
			want := float64(s[n/2])
			if n%2 == 0 {
				want = 0.5 * (float64(s[n/2-1]) + float64(s[n/2]))
			}
			dev := make([]float64, n)
			for i, x := range s {
				dev[i] = math.Abs(float64(x) - want)
			}
			slices.Sort(dev)
			wantMAD := dev[n/2]
			if n%2 == 0 {
				wantMAD = 0.5 * (dev[n/2-1] + dev[n/2])
			}
			hs, ho, ok := histOf(v)
			if got := hs.median(); got != want || hs.mad(got) != wantMAD {
				t.Errorf("n %d spread %d: median %v MAD %v, want %v %v", n, spread, got, hs.mad(got), want, wantMAD)
			}
			if ok {
				// Own HU are scaled by 27.
				if got := ho.median(); got != 27*want || ho.mad(got) != 27*wantMAD {
					t.Errorf("n %d spread %d, own HU: median %v MAD %v, want %v %v", n, spread, got, ho.mad(got), 27*want, 27*wantMAD)
				}
			}
		}
	}
}

// BenchmarkRefineEdge times the refinement of a liver-sized ball (a
// 300×300×100 crop at 0.7×0.7×2 mm, about what chaos_ct01's liver needs).
func BenchmarkRefineEdge(b *testing.B) {
	hu, _, mask0, size := ballScan(160, 70, 3, 120, 20, 12, 9)
	sp := [3]float64{0.7, 0.7, 2}
	mask := make([]uint8, len(mask0))
	b.ResetTimer()
	for b.Loop() {
		copy(mask, mask0)
		if _, err := RefineEdge(SliceView(hu, size), mask, size, sp, DefaultEdge); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBoxMorph compares, along x, two ways to erode: from the runs of
// ones ("runs", what boxMorph uses) and a running count ("counts"; ORs/ANDs
// of shifted eight-byte loads were measured between the two), for
// the band's window (4 voxels: 3 mm at 0.73 mm) and the core's (14: 10 mm),
// and times the y and z passes (running counts eight columns per word) for
// the same windows, on a 320×160×80 grid.
func BenchmarkBoxMorph(b *testing.B) {
	_, _, ball, _ := ballScan(160, 70, 3, 120, 20, 12, 9)
	size := [3]int{320, 160, 80}
	m := append(ball, ball...)[:size[0]*size[1]*size[2]]
	dst := make([]uint8, len(m))
	for _, h := range [][3]int{{4, 4, 2}, {14, 14, 5}} {
		b.Run(fmt.Sprintf("x/w%d/counts", h[0]), func(b *testing.B) {
			for b.Loop() {
				slide(m, dst, size, 0, h[0], int32(2*h[0]+1))
			}
		})
		b.Run(fmt.Sprintf("x/w%d/runs", h[0]), func(b *testing.B) {
			for b.Loop() {
				morphXRuns(m, dst, size, h[0], true)
			}
		})
		for a := 1; a < 3; a++ {
			b.Run(fmt.Sprintf("%c/w%d/counts", "xyz"[a], h[a]), func(b *testing.B) {
				for b.Loop() {
					slide(m, dst, size, a, h[a], int32(2*h[a]+1))
				}
			})
		}
	}
}

// TestZero8AndAndNot: the word-wide helpers visit and combine the same
// bytes as plain loops, for lengths around multiples of eight and sparse
// and dense selections.
func TestZero8AndAndNot(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 9))
	for _, n := range []int{0, 1, 7, 8, 9, 63, 64, 65, 1000} {
		for _, p := range []float64{0, 0.05, 0.5, 1} {
			a, b := make([]uint8, n), make([]uint8, n)
			for i := range a {
				a[i], b[i] = b2u(rng.Float64() < p), b2u(rng.Float64() < 0.5)
			}
			for i := 0; i+8 <= n; i += 8 {
				want := true
				for _, x := range a[i : i+8] {
					want = want && x == 0
				}
				if zero8(a, i) != want {
					t.Fatalf("n %d p %v: zero8 at %d = %v", n, p, i, !want)
				}
			}
			d := make([]uint8, n)
			andNot(d, a, b)
			for i := range d {
				if d[i] != a[i]&^b[i] {
					t.Fatalf("n %d p %v: andNot byte %d = %d, want %d", n, p, i, d[i], a[i]&^b[i])
				}
			}
		}
	}
}
