package metrics

import (
	"fmt"
	"math"
	"math/rand"
	"testing"

	"github.com/liverseg/liverseg/internal/testsupport/masktest"
	"github.com/liverseg/liverseg/volume"
)

func TestDiceIoUOffsetCubes(t *testing.T) {
	g := volume.Identity([3]int{20, 20, 20}, [3]float64{0.8, 0.8, 2.5})
	tests := []struct {
		name      string
		a, b      *volume.Mask
		dice, iou float64
	}{
		// 10³ cubes shifted by 2 along x: overlap 8·10·10.
		{"shift x", masktest.Box(g, [3]int{2, 2, 2}, [3]int{12, 12, 12}), masktest.Box(g, [3]int{4, 2, 2}, [3]int{14, 12, 12}), 2 * 800.0 / 2000, 800.0 / 1200},
		// Shifted by 3 along x and 5 along z: overlap 7·10·5.
		{"shift xz", masktest.Box(g, [3]int{2, 2, 2}, [3]int{12, 12, 12}), masktest.Box(g, [3]int{5, 2, 7}, [3]int{15, 12, 17}), 2 * 350.0 / 2000, 350.0 / 1650},
		{"identical", masktest.Box(g, [3]int{1, 1, 1}, [3]int{5, 6, 7}), masktest.Box(g, [3]int{1, 1, 1}, [3]int{5, 6, 7}), 1, 1},
		{"disjoint", masktest.Box(g, [3]int{0, 0, 0}, [3]int{3, 3, 3}), masktest.Box(g, [3]int{5, 5, 5}, [3]int{8, 8, 8}), 0, 0},
		{"both empty", volume.NewMask(g), volume.NewMask(g), 1, 1},
		{"one empty", masktest.Box(g, [3]int{0, 0, 0}, [3]int{3, 3, 3}), volume.NewMask(g), 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, err := Dice(tc.a, tc.b)
			if err != nil {
				t.Fatal(err)
			}
			j, _ := IoU(tc.a, tc.b)
			if math.Abs(d-tc.dice) > 1e-12 || math.Abs(j-tc.iou) > 1e-12 {
				t.Errorf("Dice %v IoU %v, want %v %v", d, j, tc.dice, tc.iou)
			}
			r, err := Compare(tc.a, tc.b)
			if err != nil {
				t.Fatal(err)
			}
			if r.Dice != d || r.IoU != j {
				t.Errorf("Compare disagrees: %+v", r)
			}
			if want := float64(tc.a.Count()) * 0.8 * 0.8 * 2.5 / 1000; math.Abs(r.VolumeML-want) > 1e-12 {
				t.Errorf("volume %v mL, want %v", r.VolumeML, want)
			}
			empty := tc.a.Count() == 0 || tc.b.Count() == 0
			if r.SurfaceOK == empty {
				t.Errorf("SurfaceOK = %v with counts %d, %d", r.SurfaceOK, tc.a.Count(), tc.b.Count())
			}
			if math.IsNaN(r.HD95MM) || math.IsInf(r.HD95MM, 0) || math.IsNaN(r.ASSDMM) {
				t.Errorf("non-finite distances %+v", r)
			}
		})
	}
}

func TestShiftedCubeDistances(t *testing.T) {
	// Identical cubes shifted by 3 voxels along z with 2.5 mm slices: every
	// surface voxel of the top and bottom faces is 7.5 mm from the other
	// surface; the side faces overlap partly.
	g := volume.Identity([3]int{16, 16, 24}, [3]float64{0.7, 0.7, 2.5})
	a := masktest.Box(g, [3]int{3, 3, 3}, [3]int{13, 13, 13})
	b := masktest.Box(g, [3]int{3, 3, 6}, [3]int{13, 13, 16})
	s, err := SurfaceDistances(a, b)
	if err != nil {
		t.Fatal(err)
	}
	bs := bruteSurface(g, a.Voxels, b.Voxels)
	if math.Abs(s.HD95MM-bs.HD95MM) > 1e-6 || math.Abs(s.ASSDMM-bs.ASSDMM) > 1e-6 {
		t.Fatalf("EDT %+v, brute force %+v", s, bs)
	}
	if s.HD95MM != 7.5 {
		t.Errorf("HD95 = %v, want 7.5 mm (the z shift)", s.HD95MM)
	}
}

// bruteSurface computes the same metrics by comparing every pair of
// surface voxels.
func bruteSurface(g volume.Geometry, a, b []uint8) Surface {
	full := box{max: g.Size}
	sa, sb := surface(g.Size, a, full), surface(g.Size, b, full)
	if len(sa) == 0 || len(sb) == 0 {
		return Surface{}
	}
	pos := func(o int32) [3]float64 {
		i, j, k := int(o)%g.Size[0], int(o)/g.Size[0]%g.Size[1], int(o)/(g.Size[0]*g.Size[1])
		return [3]float64{float64(i) * g.Spacing[0], float64(j) * g.Spacing[1], float64(k) * g.Spacing[2]}
	}
	directed := func(from, to []int32) []float64 {
		d := make([]float64, len(from))
		for n, p := range from {
			pp := pos(p)
			best := math.Inf(1)
			for _, q := range to {
				qq := pos(q)
				dx, dy, dz := pp[0]-qq[0], pp[1]-qq[1], pp[2]-qq[2]
				best = math.Min(best, dx*dx+dy*dy+dz*dz)
			}
			d[n] = math.Sqrt(best)
		}
		return d
	}
	dab, dba := directed(sa, sb), directed(sb, sa)
	return Surface{HD95MM: math.Max(Percentile(dab, 95), Percentile(dba, 95)), ASSDMM: (mean(dab) + mean(dba)) / 2, OK: true}
}

func blob(g volume.Geometry, rng *rand.Rand) *volume.Mask {
	m := volume.NewMask(g)
	// A union of random ellipsoids, some touching the grid border.
	for e := 0; e < 1+rng.Intn(3); e++ {
		c := [3]float64{rng.Float64() * float64(g.Size[0]), rng.Float64() * float64(g.Size[1]), rng.Float64() * float64(g.Size[2])}
		r := [3]float64{1 + rng.Float64()*float64(g.Size[0])/3, 1 + rng.Float64()*float64(g.Size[1])/3, 1 + rng.Float64()*float64(g.Size[2])/3}
		for k := 0; k < g.Size[2]; k++ {
			for j := 0; j < g.Size[1]; j++ {
				for i := 0; i < g.Size[0]; i++ {
					x, y, z := (float64(i)-c[0])/r[0], (float64(j)-c[1])/r[1], (float64(k)-c[2])/r[2]
					if x*x+y*y+z*z < 1 {
						m.Voxels[g.Offset(i, j, k)] = 1
					}
				}
			}
		}
	}
	return m
}

// TestSurfaceDistancesMatchBruteForce checks both ways distancesAt can
// take: the outward search alone, and the fallback to the y pass it takes
// when surfaces are far apart (forced here by the budget).
func TestSurfaceDistancesMatchBruteForce(t *testing.T) {
	defer func(v float64) { lazyReads = v }(lazyReads)
	for _, budget := range []float64{1e9, 0, 1} {
		lazyReads = budget
		t.Run(fmt.Sprintf("budget %g", budget), testSurfaceDistancesMatchBruteForce)
	}
}

func testSurfaceDistancesMatchBruteForce(t *testing.T) {
	rng := rand.New(rand.NewSource(11))
	spacings := [][3]float64{{1, 1, 1}, {0.7, 0.7, 2.5}, {1.5, 0.4, 3}}
	for trial := 0; trial < 60; trial++ {
		sp := spacings[trial%len(spacings)]
		g := volume.Identity([3]int{6 + rng.Intn(14), 6 + rng.Intn(14), 4 + rng.Intn(10)}, sp)
		a, b := blob(g, rng), blob(g, rng)
		s, err := SurfaceDistances(a, b)
		if err != nil {
			t.Fatal(err)
		}
		want := bruteSurface(g, a.Voxels, b.Voxels)
		if s.OK != want.OK || math.Abs(s.HD95MM-want.HD95MM) > 1e-5 || math.Abs(s.ASSDMM-want.ASSDMM) > 1e-5 {
			t.Fatalf("trial %d size %v spacing %v: EDT %+v, brute force %+v", trial, g.Size, sp, s, want)
		}
	}
}

func TestSquaredEDTMatchesBruteForce(t *testing.T) {
	rng := rand.New(rand.NewSource(5))
	n := [3]int{9, 7, 5}
	sp := [3]float64{0.6, 1.3, 2.7}
	f := make([]float32, n[0]*n[1]*n[2])
	var sites [][3]int
	for i := range f {
		f[i] = float32(math.Inf(1))
		if rng.Float64() < 0.04 {
			f[i] = 0
			sites = append(sites, [3]int{i % n[0], i / n[0] % n[1], i / (n[0] * n[1])})
		}
	}
	SquaredEDT(f, n, sp)
	for o := range f {
		p := [3]int{o % n[0], o / n[0] % n[1], o / (n[0] * n[1])}
		best := math.Inf(1)
		for _, s := range sites {
			d := 0.0
			for a := 0; a < 3; a++ {
				x := float64(p[a]-s[a]) * sp[a]
				d += x * x
			}
			best = math.Min(best, d)
		}
		if math.Abs(float64(f[o])-best) > 1e-4*math.Max(1, best) {
			t.Fatalf("voxel %v: %v, want %v", p, f[o], best)
		}
	}
}

func TestPercentileMatchesNumpy(t *testing.T) {
	// numpy.percentile([1, 2, 3, 4, 10], 95) = 8.8; ([5], 95) = 5.
	if p := Percentile([]float64{10, 1, 3, 2, 4}, 95); math.Abs(p-8.8) > 1e-12 {
		t.Errorf("P95 = %v, want 8.8", p)
	}
	if p := Percentile([]float64{5}, 95); p != 5 {
		t.Errorf("P95 of one value = %v", p)
	}
	if !math.IsNaN(Percentile(nil, 95)) {
		t.Error("P95 of nothing is not NaN")
	}
}

func TestDifferentGridsRejected(t *testing.T) {
	a := volume.NewMask(volume.Identity([3]int{4, 4, 4}, [3]float64{1, 1, 1}))
	b := volume.NewMask(volume.Identity([3]int{4, 4, 4}, [3]float64{1, 1, 2}))
	if _, err := Compare(a, b); err == nil {
		t.Fatal("masks on different grids compared")
	}
}

// ellipsoids returns two liver-sized ellipsoids (about 1.5 L each) on a
// 512×512×150 grid, the second's centre moved by shift voxels.
func ellipsoids(shift [3]float64) (p, r *volume.Mask) {
	g := volume.Identity([3]int{512, 512, 150}, [3]float64{0.75, 0.75, 1.5})
	ell := func(c [3]float64, r [3]float64) *volume.Mask {
		m := volume.NewMask(g)
		for k := 0; k < 150; k++ {
			for j := 0; j < 512; j++ {
				for i := 0; i < 512; i++ {
					x, y, z := (float64(i)-c[0])/r[0], (float64(j)-c[1])/r[1], (float64(k)-c[2])/r[2]
					if x*x+y*y+z*z < 1 {
						m.Voxels[g.Offset(i, j, k)] = 1
					}
				}
			}
		}
		return m
	}
	c := [3]float64{200, 250, 75}
	return ell(c, [3]float64{130, 110, 55}), ell([3]float64{c[0] + shift[0], c[1] + shift[1], c[2] + shift[2]}, [3]float64{126, 112, 52})
}

// BenchmarkCompare512x512x150 compares two liver-sized ellipsoids offset
// by a few mm (6, −4, 3 voxels) on a 512×512×150 grid.
func BenchmarkCompare512x512x150(b *testing.B) {
	p, r := ellipsoids([3]float64{6, -4, 3})
	benchCompare(b, p, r)
}

// BenchmarkCompareFarApart512x512x150: the same ellipsoids 4 cm apart (a
// model that missed badly), where the outward search gives way to the
// y pass.
func BenchmarkCompareFarApart512x512x150(b *testing.B) {
	p, r := ellipsoids([3]float64{50, 10, 8})
	benchCompare(b, p, r)
}

func benchCompare(b *testing.B, p, r *volume.Mask) {
	b.ResetTimer()
	cpu := cpuTime()
	for b.Loop() {
		rep, err := Compare(p, r)
		if err != nil || !rep.SurfaceOK {
			b.Fatal(err)
		}
	}
	reportCPU(b, cpu)
}
