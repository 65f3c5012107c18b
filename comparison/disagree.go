package comparison

import (
	"bytes"
	"fmt"
	"runtime"
	"sync"

	"github.com/liverseg/liverseg/volume"
)

// Labels of a Disagreement map.
const (
	Agree uint8 = 0 // both liver or both background
	OnlyA uint8 = 1 // liver in A only
	OnlyB uint8 = 2 // liver in B only
)

// Disagreement is where two masks on the same grid differ.
type Disagreement struct {
	// Labels holds Agree, OnlyA or OnlyB per voxel, on the masks' grid.
	Labels       *volume.Mask
	OnlyA, OnlyB int // voxel counts
	// PerSlice[axis][index] counts the disagreeing voxels (OnlyA + OnlyB)
	// on the slice where voxel index `axis` equals index (axis 0 = i,
	// 1 = j, 2 = k of the grid).
	PerSlice [3][]int
	// Most is, per axis, the slice with the most disagreeing voxels (the
	// lowest such index on a tie); -1 when the masks agree everywhere.
	Most [3]int
}

// Disagree compares two masks on the same grid (non-zero = liver).
func Disagree(a, b *volume.Mask) (*Disagreement, error) {
	if a == nil || b == nil {
		return nil, fmt.Errorf("disagreement: nil mask")
	}
	if len(a.Voxels) != a.NumVoxels() || len(b.Voxels) != b.NumVoxels() {
		return nil, fmt.Errorf("disagreement: mask voxel count does not match its size")
	}
	if !a.Geometry.SameGrid(b.Geometry) {
		return nil, fmt.Errorf("disagreement: masks are on different grids (size %v spacing %v vs size %v spacing %v)", a.Size, a.Spacing, b.Size, b.Spacing)
	}
	n := a.Size
	d := &Disagreement{Labels: volume.NewMask(a.Geometry)}
	for ax := range d.PerSlice {
		d.PerSlice[ax] = make([]int, n[ax])
	}
	// Slabs of k planes in parallel; each worker keeps its own i and j
	// counts, merged at the end (k counts are per plane, so disjoint).
	type part struct {
		onlyA, onlyB int
		perI, perJ   []int
	}
	workers := max(1, min(runtime.GOMAXPROCS(0), n[2]))
	parts := make([]part, workers)
	var wg sync.WaitGroup
	chunk := (n[2] + workers - 1) / workers
	for w := 0; w < workers; w++ {
		lo, hi := w*chunk, min((w+1)*chunk, n[2])
		if lo >= hi {
			continue
		}
		wg.Add(1)
		go func(p *part, lo, hi int) {
			defer wg.Done()
			p.perI, p.perJ = make([]int, n[0]), make([]int, n[1])
			for k := lo; k < hi; k++ {
				plane := 0
				for j := 0; j < n[1]; j++ {
					o := (k*n[1] + j) * n[0]
					ra, rb, rl := a.Voxels[o:o+n[0]], b.Voxels[o:o+n[0]], d.Labels.Voxels[o:o+n[0]]
					if bytes.Equal(ra, rb) {
						continue // the common case, checked by a vectorised memcmp
					}
					row := 0
					for i := range ra {
						x, y := ra[i] != 0, rb[i] != 0
						if x == y {
							continue
						}
						if x {
							rl[i] = OnlyA
							p.onlyA++
						} else {
							rl[i] = OnlyB
							p.onlyB++
						}
						p.perI[i]++
						row++
					}
					p.perJ[j] += row
					plane += row
				}
				d.PerSlice[2][k] = plane
			}
		}(&parts[w], lo, hi)
	}
	wg.Wait()
	for _, p := range parts {
		d.OnlyA += p.onlyA
		d.OnlyB += p.onlyB
		for i, c := range p.perI {
			d.PerSlice[0][i] += c
		}
		for j, c := range p.perJ {
			d.PerSlice[1][j] += c
		}
	}
	for ax := range d.Most {
		d.Most[ax] = -1
		best := 0
		for idx, c := range d.PerSlice[ax] {
			if c > best {
				best, d.Most[ax] = c, idx
			}
		}
	}
	return d, nil
}
