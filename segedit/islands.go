package segedit

import (
	"errors"
	"fmt"
)

// ErrNoIsland is returned when an island operation's voxel is not in the
// mask.
var ErrNoIsland = errors.New("segedit: no segmentation at that voxel")

// RemoveIsland erases the island (the face-connected component, in 3D) that
// holds the canonical voxel seed: one click removes a leak that is not
// joined to the liver, or one that a scissors cut has detached.
func (e *Editor) RemoveIsland(seed [3]int) (Change, error) {
	comp, err := e.island(seed)
	if err != nil {
		return Change{}, err
	}
	// Visit the island in memory order (its voxels are marked 3 by
	// island), so that the flips arrive sorted.
	vox := e.mask.Voxels
	t := &tx{e: e, changed: make([]int32, 0, len(comp))}
	lo, hi := int(comp[0]), int(comp[0])
	for _, o := range comp {
		lo, hi = min(lo, int(o)), max(hi, int(o))
	}
	for o := lo; o <= hi; o++ {
		if vox[o] == 3 {
			vox[o] = 1
			t.set(o, 0)
		}
	}
	return e.commit(fmt.Sprintf("Remove island (%d voxels)", len(comp)), t, nil), nil
}

// KeepIsland erases every island but the one that holds seed.
func (e *Editor) KeepIsland(seed [3]int) (Change, error) {
	comp, err := e.island(seed)
	if err != nil {
		return Change{}, err
	}
	// The kept island is marked 3 (by island) while the rest is cleared.
	vox := e.mask.Voxels
	t := &tx{e: e}
	for o, v := range vox {
		if v == 1 {
			t.set(o, 0)
		}
	}
	for _, o := range comp {
		vox[o] = 1
	}
	return e.commit(fmt.Sprintf("Keep island (%d voxels)", len(comp)), t, nil), nil
}

// island returns the offsets of the 6-connected component holding seed,
// marked 3 in the mask: the caller must set them back to 0 or 1.
// Face connectivity is what the cut tools rely on: two regions touching
// only along an edge or a corner are separate islands.
func (e *Editor) island(seed [3]int) ([]int32, error) {
	if e.stroke != nil {
		return nil, ErrStrokeOpen
	}
	g := e.geom
	if !g.Contains(seed[0], seed[1], seed[2]) {
		return nil, fmt.Errorf("segedit: voxel %v is outside the grid %v", seed, g.Size)
	}
	vox := e.mask.Voxels
	s := g.Offset(seed[0], seed[1], seed[2])
	if vox[s] == 0 {
		return nil, ErrNoIsland
	}
	// The caller gives the component (marked 3) its value back.
	return floodFill(vox, g.Size, s, 1, 3), nil
}

// floodFill relabels the 6-connected component of voxels equal to from
// that contains s to the value to, and returns its offsets.
func floodFill(vox []uint8, n [3]int, s int, from, to uint8) []int32 {
	nx, nxy := n[0], n[0]*n[1]
	comp := []int32{int32(s)}
	vox[s] = to
	for q := 0; q < len(comp); q++ {
		o := int(comp[q])
		i, j, k := o%nx, o/nx%n[1], o/nxy
		try := func(p int) {
			if vox[p] == from {
				vox[p] = to
				comp = append(comp, int32(p))
			}
		}
		if i > 0 {
			try(o - 1)
		}
		if i < nx-1 {
			try(o + 1)
		}
		if j > 0 {
			try(o - nx)
		}
		if j < n[1]-1 {
			try(o + nx)
		}
		if k > 0 {
			try(o - nxy)
		}
		if k < n[2]-1 {
			try(o + nxy)
		}
	}
	return comp
}
