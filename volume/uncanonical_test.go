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

// TestMaskFromCanonicalBox: a mask that is zero outside a box of the
// canonical grid, given by the box alone, comes back as MaskFromCanonical
// gives it from the whole grid, in every orientation and for boxes touching
// the grid's faces; boxes outside the grid are refused.
func TestMaskFromCanonicalBox(t *testing.T) {
	dirs := map[string][3][3]float64{
		"LPS":      {{1, 0, 0}, {0, 1, 0}, {0, 0, 1}},
		"RAS":      {{-1, 0, 0}, {0, -1, 0}, {0, 0, 1}},
		"coronal":  {{1, 0, 0}, {0, 0, -1}, {0, -1, 0}},
		"sagittal": {{0, 0, 1}, {1, 0, 0}, {0, -1, 0}},
	}
	boxes := []struct{ lo, size [3]int }{
		{[3]int{3, 2, 1}, [3]int{20, 5, 3}},
		{[3]int{0, 0, 0}, [3]int{37, 11, 6}},
		{[3]int{30, 10, 5}, [3]int{7, 1, 1}},
		{[3]int{5, 5, 2}, [3]int{0, 3, 2}},
	}
	for name, dir := range dirs {
		g := Geometry{Size: [3]int{37, 11, 6}, Spacing: [3]float64{0.7, 0.7, 2}, Direction: dir}
		cs := g.CanonicalGeometry().Size
		for _, b := range boxes {
			if b.lo[0]+b.size[0] > cs[0] || b.lo[1]+b.size[1] > cs[1] || b.lo[2]+b.size[2] > cs[2] {
				continue // this orientation's canonical grid is smaller along some axis
			}
			vox := make([]uint8, b.size[0]*b.size[1]*b.size[2])
			full := NewMask(g.CanonicalGeometry())
			state := uint32(7)
			for k := 0; k < b.size[2]; k++ {
				for j := 0; j < b.size[1]; j++ {
					for i := 0; i < b.size[0]; i++ {
						state = state*1664525 + 1013904223
						v := uint8(state >> 31)
						vox[(k*b.size[1]+j)*b.size[0]+i] = v
						full.Voxels[full.Offset(b.lo[0]+i, b.lo[1]+j, b.lo[2]+k)] = v
					}
				}
			}
			want, err := MaskFromCanonical(full, g)
			if err != nil {
				t.Fatal(err)
			}
			got, err := MaskFromCanonicalBox(vox, b.lo, b.size, g)
			if err != nil {
				t.Fatalf("%s box %v+%v: %v", name, b.lo, b.size, err)
			}
			if got.Geometry != g {
				t.Fatalf("%s: geometry %+v", name, got.Geometry)
			}
			for n := range want.Voxels {
				if got.Voxels[n] != want.Voxels[n] {
					t.Fatalf("%s box %v+%v: voxel %d = %d, want %d", name, b.lo, b.size, n, got.Voxels[n], want.Voxels[n])
				}
			}
		}
		if _, err := MaskFromCanonicalBox(make([]uint8, 8), [3]int{cs[0] - 1, 0, 0}, [3]int{2, 2, 2}, g); err == nil {
			t.Fatalf("%s: a box past the grid's face accepted", name)
		}
		if _, err := MaskFromCanonicalBox(make([]uint8, 7), [3]int{}, [3]int{2, 2, 2}, g); err == nil {
			t.Fatalf("%s: a box with the wrong voxel count accepted", name)
		}
	}
}
