package volume

import (
	"math"
	"math/rand"
	"testing"
)

// labelled returns a mask on g whose voxels hold distinct-ish labels 1..250
// from a fixed seed, so that a voxel taken from the wrong place shows.
func labelled(g Geometry, seed int64) *Mask {
	m := NewMask(g)
	r := rand.New(rand.NewSource(seed))
	for i := range m.Voxels {
		m.Voxels[i] = uint8(1 + r.Intn(250))
	}
	return m
}

// nearestByPatient is the straightforward definition OnGrid must agree
// with: each voxel of g goes to patient space and back into m's index
// space, one matrix inversion per voxel.
func nearestByPatient(m *Mask, g Geometry) (*Mask, int) {
	out := NewMask(g)
	covered := 0
	for k := 0; k < g.Size[2]; k++ {
		for j := 0; j < g.Size[1]; j++ {
			for i := 0; i < g.Size[0]; i++ {
				q := m.PatientToIndex(g.IndexToPatient([3]float64{float64(i), float64(j), float64(k)}))
				x, y, z := int(math.Floor(q[0]+0.5)), int(math.Floor(q[1]+0.5)), int(math.Floor(q[2]+0.5))
				if m.Contains(x, y, z) {
					out.Voxels[g.Offset(i, j, k)] = m.Voxels[m.Offset(x, y, z)]
					covered++
				}
			}
		}
	}
	return out, covered
}

func rotZ(deg float64) [3][3]float64 {
	c, s := math.Cos(deg*math.Pi/180), math.Sin(deg*math.Pi/180)
	return [3][3]float64{{c, -s, 0}, {s, c, 0}, {0, 0, 1}}
}

func TestMaskOnGrid(t *testing.T) {
	src := Geometry{
		Size:      [3]int{20, 16, 9},
		Spacing:   [3]float64{0.8, 0.8, 2.5},
		Origin:    [3]float64{-100, 50, 300},
		Direction: [3][3]float64{{1, 0, 0}, {0, 1, 0}, {0, 0, 1}},
	}
	// flipX holds src's voxel centres with the i axis reversed (R→L
	// storage, as a NIfTI of a DICOM series may be).
	flipX := src
	flipX.Origin = src.IndexToPatient([3]float64{float64(src.Size[0] - 1), 0, 0})
	for r := 0; r < 3; r++ {
		flipX.Direction[r][0] = -src.Direction[r][0]
	}
	// perm swaps i and j and reverses k: the same centres again.
	perm := Geometry{
		Size:      [3]int{16, 20, 9},
		Spacing:   [3]float64{0.8, 0.8, 2.5},
		Origin:    src.IndexToPatient([3]float64{0, 0, 8}),
		Direction: [3][3]float64{{0, 1, 0}, {1, 0, 0}, {0, 0, -1}},
	}
	coarse := src
	coarse.Size, coarse.Spacing = [3]int{9, 7, 5}, [3]float64{1.73, 1.91, 4.13}
	coarse.Origin = [3]float64{-99.71, 50.33, 301.07}
	oblique := src
	oblique.Direction = rotZ(17)
	oblique.Origin = [3]float64{-95, 45, 302.3}
	// shifted lies partly beyond src: its voxels outside are background.
	shifted := src
	shifted.Origin = [3]float64{-100 + 0.8*12.3, 50 - 0.8*5.2, 300 + 2.5*4.4}
	far := src
	far.Origin = [3]float64{400, 400, -900}

	tests := []struct {
		name      string
		g         Geometry
		resampled bool
		covered   int // -1: not checked beyond agreement with the definition
	}{
		{"identity", src, false, src.NumVoxels()},
		{"within tolerance", Geometry{Size: src.Size, Spacing: src.Spacing, Origin: [3]float64{-100.02, 50.01, 300.03}, Direction: src.Direction}, false, src.NumVoxels()},
		{"flipped axis", flipX, false, src.NumVoxels()},
		{"permuted and reversed axes", perm, false, src.NumVoxels()},
		{"different spacing", coarse, true, coarse.NumVoxels()},
		{"oblique", oblique, true, -1},
		{"partly outside", shifted, true, -1},
		{"no overlap", far, true, 0},
	}
	m := labelled(src, 1)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, fit, err := m.OnGrid(tc.g)
			if err != nil {
				t.Fatal(err)
			}
			if got.Geometry != tc.g {
				t.Errorf("result geometry %+v, want the target's %+v", got.Geometry, tc.g)
			}
			want, covered := nearestByPatient(m, tc.g)
			diff := 0
			for i := range want.Voxels {
				if got.Voxels[i] != want.Voxels[i] {
					diff++
				}
			}
			if diff != 0 {
				t.Errorf("%d of %d voxels differ from the per-voxel patient-space mapping", diff, len(want.Voxels))
			}
			if fit.Covered != covered || (tc.covered >= 0 && covered != tc.covered) {
				t.Errorf("covered %d, per-voxel mapping %d, want %d", fit.Covered, covered, tc.covered)
			}
			if tc.covered < 0 && (covered == 0 || covered == tc.g.NumVoxels()) {
				t.Errorf("case meant to cover part of the grid covers %d of %d", covered, tc.g.NumVoxels())
			}
			if fit.Resampled != tc.resampled {
				t.Errorf("Resampled = %v, want %v", fit.Resampled, tc.resampled)
			}
			if tc.covered < tc.g.NumVoxels() {
				// Voxels whose centre lies outside m are background.
				inv := src.Inverse()
				for n, x := range got.Voxels {
					i, j, k := n%tc.g.Size[0], n/tc.g.Size[0]%tc.g.Size[1], n/(tc.g.Size[0]*tc.g.Size[1])
					q := inv.PatientToIndex(tc.g.IndexToPatient([3]float64{float64(i), float64(j), float64(k)}))
					if out := q[0] < -0.5 || q[1] < -0.5 || q[2] < -0.5 || q[0] > float64(src.Size[0])-0.5 || q[1] > float64(src.Size[1])-0.5 || q[2] > float64(src.Size[2])-0.5; out && x != 0 {
						t.Fatalf("voxel %d,%d,%d outside the mask holds %d", i, j, k, x)
					}
				}
			}
		})
	}
	// Voxel for voxel means every label lands in its own place.
	got, _, _ := m.OnGrid(flipX)
	for k := 0; k < src.Size[2]; k++ {
		for j := 0; j < src.Size[1]; j++ {
			for i := 0; i < src.Size[0]; i++ {
				if a, b := got.Voxels[flipX.Offset(src.Size[0]-1-i, j, k)], m.Voxels[src.Offset(i, j, k)]; a != b {
					t.Fatalf("flipped voxel %d,%d,%d: %d, want %d", i, j, k, a, b)
				}
			}
		}
	}
}

func TestOnGridErrors(t *testing.T) {
	g := Identity([3]int{4, 4, 4}, [3]float64{1, 1, 1})
	if _, _, err := (&Mask{Geometry: g, Voxels: make([]uint8, 5)}).OnGrid(g); err == nil {
		t.Error("a mask with the wrong voxel count was accepted")
	}
	flat := g
	flat.Direction = [3][3]float64{{1, 0, 0}, {1, 0, 0}, {0, 0, 1}}
	if _, _, err := NewMask(g).OnGrid(flat); err == nil {
		t.Error("a degenerate target grid was accepted")
	}
}

func TestIndexMapLattice(t *testing.T) {
	ct := Geometry{Size: [3]int{10, 10, 10}, Spacing: [3]float64{0.5, 0.5, 1}, Direction: rotZ(30)}
	tests := []struct {
		name    string
		origin  [3]float64 // in ct's index space
		spacing [3]float64
		ok      bool
		base    [3]int
		steps   [3][3]int
	}{
		{"same lattice, offset", [3]float64{2, 3, 4}, [3]float64{0.5, 0.5, 1}, true, [3]int{2, 3, 4}, [3][3]int{{1, 0, 0}, {0, 1, 0}, {0, 0, 1}}},
		{"every second slice", [3]float64{0, 0, 1}, [3]float64{0.5, 0.5, 2}, true, [3]int{0, 0, 1}, [3][3]int{{1, 0, 0}, {0, 1, 0}, {0, 0, 2}}},
		{"half a voxel off", [3]float64{0.5, 0, 0}, [3]float64{0.5, 0.5, 1}, false, [3]int{}, [3][3]int{}},
		{"other spacing", [3]float64{0, 0, 0}, [3]float64{0.7, 0.5, 1}, false, [3]int{}, [3][3]int{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := ct
			g.Spacing = tc.spacing
			g.Origin = ct.IndexToPatient(tc.origin)
			im, err := NewIndexMap(g, ct)
			if err != nil {
				t.Fatal(err)
			}
			base, steps, err := im.Lattice(LatticeTolerance)
			if (err == nil) != tc.ok {
				t.Fatalf("Lattice error %v, want ok=%v", err, tc.ok)
			}
			if tc.ok && (base != tc.base || steps != tc.steps) {
				t.Errorf("base %v steps %v, want %v %v", base, steps, tc.base, tc.steps)
			}
		})
	}
}

func TestInverseMatchesPatientToIndex(t *testing.T) {
	g := Geometry{Size: [3]int{5, 5, 5}, Spacing: [3]float64{0.7, 0.9, 3}, Origin: [3]float64{1, -2, 3},
		Direction: [3][3]float64{{1, 0.1, 0}, {0, 1, 0}, {0, 0.2, 1}}} // sheared
	inv := g.Inverse()
	for _, idx := range [][3]float64{{0, 0, 0}, {4, 3, 2}, {-1.5, 7.25, 0.5}} {
		if got := inv.PatientToIndex(g.IndexToPatient(idx)); !near(got, idx, 1e-9) {
			t.Errorf("Inverse round trip %v -> %v", idx, got)
		}
	}
	flat := g
	flat.Direction[2] = flat.Direction[0]
	if p := flat.Inverse().PatientToIndex([3]float64{}); flat.Inverse().OK() || !math.IsNaN(p[0]) {
		t.Errorf("degenerate geometry: OK %v, index %v", flat.Inverse().OK(), p)
	}
}

// BenchmarkOnGrid puts a 512×512×80 reference on an oblique CT grid of
// the same size, once with the precomputed index map (OnGrid) and once the
// old way, inverting the matrix and mapping through patient space per
// voxel (PatientToIndex of IndexToPatient).
func BenchmarkOnGrid(b *testing.B) {
	src := Geometry{Size: [3]int{512, 512, 80}, Spacing: [3]float64{0.7, 0.7, 2}, Direction: rotZ(0)}
	m := labelled(src, 2)
	g := src
	g.Direction = rotZ(3)
	g.Origin = [3]float64{5.3, -4.1, 1.2}
	b.Run("IndexMap", func(b *testing.B) {
		b.SetBytes(int64(g.NumVoxels()))
		for n := 0; n < b.N; n++ {
			if _, _, err := m.OnGrid(g); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("PatientToIndexPerVoxel", func(b *testing.B) {
		b.SetBytes(int64(g.NumVoxels()))
		for n := 0; n < b.N; n++ {
			nearestByPatient(m, g)
		}
	})
}

func TestMaskCentroid(t *testing.T) {
	g := Identity([3]int{6, 5, 4}, [3]float64{0.5, 2, 3})
	g.Origin = [3]float64{10, -20, 30}
	flipped := g
	flipped.Direction[0][0] = -1 // x runs right to left: positions mirror
	tests := []struct {
		name string
		g    Geometry
		on   [][3]int
		want [3]float64
	}{
		{"one voxel", g, [][3]int{{2, 3, 1}}, [3]float64{11, -14, 33}},
		{"two voxels: the midpoint", g, [][3]int{{0, 0, 0}, {4, 2, 2}}, [3]float64{11, -18, 33}},
		{"flipped x", flipped, [][3]int{{2, 3, 1}}, [3]float64{9, -14, 33}},
	}
	for _, tc := range tests {
		m := NewMask(tc.g)
		for _, p := range tc.on {
			m.Voxels[m.Offset(p[0], p[1], p[2])] = 1
		}
		c, n, ok := m.Centroid()
		if !ok || n != len(tc.on) {
			t.Fatalf("%s: n %d ok %v", tc.name, n, ok)
		}
		for a := range c {
			if math.Abs(c[a]-tc.want[a]) > 1e-9 {
				t.Errorf("%s: centroid %v, want %v", tc.name, c, tc.want)
				break
			}
		}
	}
	if _, n, ok := NewMask(g).Centroid(); ok || n != 0 {
		t.Errorf("empty mask: n %d ok %v", n, ok)
	}
}
