package volume

import (
	"strings"
	"testing"
)

func TestMaskFromCanonicalInvertsCanonical(t *testing.T) {
	dirs := map[string][3][3]float64{
		"LPS":      {{1, 0, 0}, {0, 1, 0}, {0, 0, 1}},
		"RAS":      {{-1, 0, 0}, {0, -1, 0}, {0, 0, 1}},
		"LPI":      {{1, 0, 0}, {0, 1, 0}, {0, 0, -1}},
		"coronal":  {{1, 0, 0}, {0, 0, -1}, {0, -1, 0}},
		"sagittal": {{0, 0, 1}, {1, 0, 0}, {0, -1, 0}},
	}
	for name, dir := range dirs {
		t.Run(name, func(t *testing.T) {
			g := Geometry{Size: [3]int{3, 4, 5}, Spacing: [3]float64{0.5, 0.7, 2}, Origin: [3]float64{10, -20, 30}, Direction: dir}
			m := NewMask(g)
			for n := range m.Voxels {
				m.Voxels[n] = uint8(n) // every voxel distinct
			}
			c := m.Canonical()
			back, err := MaskFromCanonical(c, g)
			if err != nil {
				t.Fatal(err)
			}
			if back.Geometry != g {
				t.Fatalf("geometry %+v, want %+v", back.Geometry, g)
			}
			for n := range m.Voxels {
				if back.Voxels[n] != m.Voxels[n] {
					t.Fatalf("voxel %d = %d, want %d", n, back.Voxels[n], m.Voxels[n])
				}
			}
			// CanonicalLayout addresses the same voxels as Canonical.
			start, stride := g.CanonicalLayout()
			cs := g.CanonicalGeometry().Size
			for n, v := range c.Voxels {
				i, j, k := n%cs[0], n/cs[0]%cs[1], n/(cs[0]*cs[1])
				if m.Voxels[start+i*stride[0]+j*stride[1]+k*stride[2]] != v {
					t.Fatalf("CanonicalLayout: canonical voxel (%d,%d,%d) not at its offset", i, j, k)
				}
			}
			// Same patient position for a voxel in both grids.
			cg := g.CanonicalGeometry()
			for n, v := range c.Voxels {
				i, j, k := n%cg.Size[0], n/cg.Size[0]%cg.Size[1], n/(cg.Size[0]*cg.Size[1])
				p := cg.IndexToPatient([3]float64{float64(i), float64(j), float64(k)})
				idx := g.PatientToIndex(p)
				ii, jj, kk := int(idx[0]+0.5), int(idx[1]+0.5), int(idx[2]+0.5)
				if back.Voxels[g.Offset(ii, jj, kk)] != v {
					t.Fatalf("canonical voxel (%d,%d,%d) did not land at its patient position", i, j, k)
				}
			}
		})
	}
}

func TestMaskFromCanonicalRejectsWrongGrid(t *testing.T) {
	g := Geometry{Size: [3]int{3, 4, 5}, Spacing: [3]float64{1, 1, 1}, Direction: [3][3]float64{{-1, 0, 0}, {0, -1, 0}, {0, 0, 1}}}
	if _, err := MaskFromCanonical(NewMask(Identity([3]int{4, 3, 5}, [3]float64{1, 1, 1})), g); err == nil || !strings.Contains(err.Error(), "canonical grid") {
		t.Fatalf("wrong size: err = %v", err)
	}
	wrongOrigin := NewMask(g.CanonicalGeometry())
	wrongOrigin.Origin[0] += 5
	if _, err := MaskFromCanonical(wrongOrigin, g); err == nil {
		t.Fatal("shifted origin accepted")
	}
}

// TestMaskFromCanonicalSparse: masks that are mostly zeros (the case the
// row skipping is for), with empty rows, long zero runs and voxels at row
// ends, come back voxel for voxel in every orientation.
func TestMaskFromCanonicalSparse(t *testing.T) {
	dirs := [][3][3]float64{
		{{-1, 0, 0}, {0, -1, 0}, {0, 0, 1}},
		{{1, 0, 0}, {0, 0, -1}, {0, -1, 0}},
		{{0, 0, 1}, {1, 0, 0}, {0, -1, 0}},
	}
	for d, dir := range dirs {
		g := Geometry{Size: [3]int{37, 11, 6}, Spacing: [3]float64{0.7, 0.7, 2}, Direction: dir}
		m := NewMask(g)
		state := uint32(d + 1)
		for n := range m.Voxels {
			state = state*1664525 + 1013904223
			if state>>24 < 8 { // about 3 % of voxels
				m.Voxels[n] = 1
			}
		}
		m.Voxels[0], m.Voxels[len(m.Voxels)-1] = 1, 1
		back, err := MaskFromCanonical(m.Canonical(), g)
		if err != nil {
			t.Fatal(err)
		}
		for n := range m.Voxels {
			if back.Voxels[n] != m.Voxels[n] {
				t.Fatalf("orientation %d: voxel %d = %d, want %d", d, n, back.Voxels[n], m.Voxels[n])
			}
		}
	}
}
