package volume

import (
	"encoding/binary"
	"fmt"
)

// CanonicalLayout describes where the voxels of the canonical view
// (CanonicalGeometry) lie in g's own voxel slice: canonical voxel (i, j, k)
// is at offset start + i·stride[0] + j·stride[1] + k·stride[2]. It lets a
// reader walk a volume in canonical order without copying it (Canonical
// allocates a whole second volume).
func (g Geometry) CanonicalLayout() (start int, stride [3]int) {
	return g.canonicalStrides()
}

// canonicalStrides is CanonicalLayout, shared by reorient's inverse.
func (g Geometry) canonicalStrides() (start int, stride [3]int) {
	src, flip := g.canonicalMap()
	inStride := [3]int{1, g.Size[0], g.Size[0] * g.Size[1]}
	for a := 0; a < 3; a++ {
		c := src[a]
		stride[a] = inStride[c]
		if flip[a] {
			start += (g.Size[c] - 1) * inStride[c]
			stride[a] = -stride[a]
		}
	}
	return start, stride
}

// fromCanonical scatters voxels laid out on g.CanonicalGeometry() back into
// g's own index order: the exact inverse of reorient.
func fromCanonical[T any](g Geometry, canon []T) []T {
	src, flip := g.canonicalMap()
	if src == [3]int{0, 1, 2} && flip == [3]bool{} {
		out := make([]T, len(canon))
		copy(out, canon)
		return out
	}
	cs := g.CanonicalGeometry().Size
	start, stride := g.canonicalStrides()
	out := make([]T, len(canon))
	n := 0
	for k := 0; k < cs[2]; k++ {
		for j := 0; j < cs[1]; j++ {
			p := start + k*stride[2] + j*stride[1]
			for i := 0; i < cs[0]; i++ {
				out[p] = canon[n]
				n++
				p += stride[0]
			}
		}
	}
	return out
}

// MaskFromCanonical maps a mask that lies on g.CanonicalGeometry() (as
// produced by working on Volume.Canonical()) back onto g itself, voxel for
// voxel: the inverse of Mask.Canonical. The result is a new mask whose
// Geometry is g. It fails when c is not on g's canonical grid.
func MaskFromCanonical(c *Mask, g Geometry) (*Mask, error) {
	cg := g.CanonicalGeometry()
	if c.Size != cg.Size || len(c.Voxels) != cg.NumVoxels() {
		return nil, fmt.Errorf("volume: mask of size %v is not on the canonical grid %v of the target geometry", c.Size, cg.Size)
	}
	if !c.Geometry.SameGrid(cg) {
		return nil, fmt.Errorf("volume: mask grid (origin %v, spacing %v) differs from the canonical grid of the target geometry (origin %v, spacing %v)", c.Origin, c.Spacing, cg.Origin, cg.Spacing)
	}
	src, flip := g.canonicalMap()
	if src == [3]int{0, 1, 2} && flip == [3]bool{} {
		return &Mask{Geometry: g, Voxels: fromCanonical(g, c.Voxels)}, nil
	}
	// A mask is mostly zeros: only canonical rows holding a non-zero voxel
	// are scattered (a vectorised byte search skips the rest), into a
	// zeroed slice.
	cs := cg.Size
	start, stride := g.canonicalStrides()
	out := make([]uint8, len(c.Voxels))
	for k := 0; k < cs[2]; k++ {
		for j := 0; j < cs[1]; j++ {
			n := (k*cs[1] + j) * cs[0]
			row := c.Voxels[n : n+cs[0]]
			first := firstNonZero(row)
			if first < 0 {
				continue
			}
			p := start + k*stride[2] + j*stride[1] + first*stride[0]
			for _, v := range row[first:] {
				out[p] = v
				p += stride[0]
			}
		}
	}
	return &Mask{Geometry: g, Voxels: out}, nil
}

// MaskFromCanonicalBox is MaskFromCanonical for a mask that is zero outside
// the box of g's canonical grid starting at lo with extent size, given by
// that box's voxels alone (x fastest). A segmentation's liver fills a
// sixth of a CT's grid: the canonical grid itself is never built.
func MaskFromCanonicalBox(vox []uint8, lo, size [3]int, g Geometry) (*Mask, error) {
	cs := g.CanonicalGeometry().Size
	for a := 0; a < 3; a++ {
		if lo[a] < 0 || size[a] < 0 || lo[a]+size[a] > cs[a] {
			return nil, fmt.Errorf("volume: box at %v of size %v is not inside the canonical grid %v", lo, size, cs)
		}
	}
	if len(vox) != size[0]*size[1]*size[2] {
		return nil, fmt.Errorf("volume: box of size %v holds %d voxels", size, len(vox))
	}
	out := make([]uint8, g.NumVoxels())
	start, stride := g.canonicalStrides()
	for k := 0; k < size[2]; k++ {
		for j := 0; j < size[1]; j++ {
			n := (k*size[1] + j) * size[0]
			row := vox[n : n+size[0]]
			first := firstNonZero(row)
			if first < 0 {
				continue
			}
			p := start + (lo[2]+k)*stride[2] + (lo[1]+j)*stride[1] + (lo[0]+first)*stride[0]
			if stride[0] == 1 {
				copy(out[p:], row[first:])
				continue
			}
			for _, v := range row[first:] {
				out[p] = v
				p += stride[0]
			}
		}
	}
	return &Mask{Geometry: g, Voxels: out}, nil
}

// firstNonZero is the index of row's first non-zero byte, -1 if none.
func firstNonZero(row []uint8) int {
	for i := 0; i < len(row); {
		// Zero runs are skipped eight bytes at a time.
		if i+8 <= len(row) && binary.LittleEndian.Uint64(row[i:]) == 0 {
			i += 8
			continue
		}
		if row[i] != 0 {
			return i
		}
		i++
	}
	return -1
}
