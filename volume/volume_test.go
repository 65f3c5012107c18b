package volume

import (
	"math"
	"testing"
)

func near(a, b [3]float64, tol float64) bool {
	for i := range a {
		if math.Abs(a[i]-b[i]) > tol {
			return false
		}
	}
	return true
}

func TestIndexPatientRoundTrip(t *testing.T) {
	g := Geometry{
		Size:    [3]int{4, 5, 6},
		Spacing: [3]float64{0.7, 0.8, 2.5},
		Origin:  [3]float64{-100, 20, 300},
		// rotated about z by 30° and k pointing inferior
		Direction: [3][3]float64{
			{math.Cos(0.5236), -math.Sin(0.5236), 0},
			{math.Sin(0.5236), math.Cos(0.5236), 0},
			{0, 0, -1},
		},
	}
	for _, idx := range [][3]float64{{0, 0, 0}, {3, 4, 5}, {1.5, 2.25, 0.5}} {
		p := g.IndexToPatient(idx)
		back := g.PatientToIndex(p)
		if !near(idx, back, 1e-9) {
			t.Errorf("round trip %v -> %v -> %v", idx, p, back)
		}
	}
	g2, err := FromAffineLPS(g.Size, g.AffineLPS())
	if err != nil || !g2.SameGridWithin(g, 1e-9) {
		t.Fatalf("FromAffineLPS(AffineLPS) = %+v, %v", g2, err)
	}
	ras := g.AffineRAS()
	lps := g.AffineLPS()
	if ras[0][3] != -lps[0][3] || ras[1][0] != -lps[1][0] || ras[2][2] != lps[2][2] {
		t.Errorf("RAS affine is not LPS with x and y negated: %v vs %v", ras, lps)
	}
}

func TestCanonical(t *testing.T) {
	tests := []struct {
		name string
		dir  [3][3]float64
		code string
	}{
		{"LPS", [3][3]float64{{1, 0, 0}, {0, 1, 0}, {0, 0, 1}}, "LPS"},
		{"RAS", [3][3]float64{{-1, 0, 0}, {0, -1, 0}, {0, 0, 1}}, "RAS"},
		{"LPI", [3][3]float64{{1, 0, 0}, {0, 1, 0}, {0, 0, -1}}, "LPI"},
		{"coronal", [3][3]float64{{1, 0, 0}, {0, 0, -1}, {0, -1, 0}}, "LIA"},
		{"sagittal", [3][3]float64{{0, 0, 1}, {1, 0, 0}, {0, -1, 0}}, "PIL"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := Geometry{Size: [3]int{3, 4, 5}, Spacing: [3]float64{1, 2, 3}, Origin: [3]float64{10, -20, 30}, Direction: tc.dir}
			if got := g.NearestOrientation().Code(); got != tc.code {
				t.Fatalf("Code() = %s, want %s", got, tc.code)
			}
			v := New(g)
			for n := range v.Voxels {
				v.Voxels[n] = int16(n)
			}
			c := v.Canonical()
			if !c.NearestOrientation().IsCanonical() {
				t.Fatalf("canonical is %s", c.NearestOrientation().Code())
			}
			// Every voxel keeps its value at the same world position.
			for k := 0; k < g.Size[2]; k++ {
				for j := 0; j < g.Size[1]; j++ {
					for i := 0; i < g.Size[0]; i++ {
						p := g.IndexToPatient([3]float64{float64(i), float64(j), float64(k)})
						q := c.PatientToIndex(p)
						ci, cj, ck := int(math.Round(q[0])), int(math.Round(q[1])), int(math.Round(q[2]))
						if !c.Contains(ci, cj, ck) {
							t.Fatalf("voxel %d,%d,%d maps outside canonical grid: %v", i, j, k, q)
						}
						if c.At(ci, cj, ck) != v.At(i, j, k) {
							t.Fatalf("value moved at %d,%d,%d", i, j, k)
						}
					}
				}
			}
			// The canonical layout reads the reoriented volume's voxels in
			// place (what the edge refinement's HU view relies on).
			start, stride := v.CanonicalLayout()
			for k := 0; k < c.Size[2]; k++ {
				for j := 0; j < c.Size[1]; j++ {
					for i := 0; i < c.Size[0]; i++ {
						if got := v.Voxels[start+i*stride[0]+j*stride[1]+k*stride[2]]; got != c.At(i, j, k) {
							t.Fatalf("layout voxel %d,%d,%d = %d, canonical %d", i, j, k, got, c.At(i, j, k))
						}
					}
				}
			}
		})
	}
}

func TestMaskVolume(t *testing.T) {
	m := NewMask(Identity([3]int{10, 10, 10}, [3]float64{1, 2, 5}))
	for n := 0; n < 100; n++ {
		m.Voxels[n] = 1
	}
	if got := m.VolumeML(); math.Abs(got-1.0) > 1e-12 {
		t.Errorf("VolumeML = %v, want 1.0 (100 voxels of 10 mm³)", got)
	}
}
