// Package masktest builds small synthetic masks for tests of the packages
// that measure and compare segmentations.
package masktest

import "github.com/liverseg/liverseg/volume"

// Box is a mask on g that is 1 on the voxels lo ≤ (i,j,k) < hi and 0
// elsewhere.
func Box(g volume.Geometry, lo, hi [3]int) *volume.Mask {
	m := volume.NewMask(g)
	for k := lo[2]; k < hi[2]; k++ {
		for j := lo[1]; j < hi[1]; j++ {
			for i := lo[0]; i < hi[0]; i++ {
				m.Voxels[g.Offset(i, j, k)] = 1
			}
		}
	}
	return m
}
