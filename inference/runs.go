package inference

import "bytes"

// Connected components by runs: a mask's rows are cut into runs of equal
// value, and runs of the same value that overlap in x on neighbouring rows
// (y ± 1 in a slice, or z ± 1 in a column) are joined with a union–find.
// A liver of a million voxels is a few tens of thousands of runs, so the
// labelling costs a scan of the rows (vectorised byte searches) and little
// else, where a voxel flood visits every voxel.

// xrun is a run of one value: row (k·size[1] + j) and its x range [lo, hi).
type xrun struct {
	row    int32
	lo, hi int32
}

// runSet holds the runs of one value inside a box, in row order (k, then
// j, then x), with their union–find parents.
type runSet struct {
	runs   []xrun
	parent []int32
	// first[r] is the index of the first run of box row r (rows counted
	// from the box's corner, j fastest); first[r+1] ends them.
	first []int32
}

func (s *runSet) find(i int32) int32 {
	for s.parent[i] != i {
		s.parent[i] = s.parent[s.parent[i]]
		i = s.parent[i]
	}
	return i
}

func (s *runSet) union(a, b int32) {
	ra, rb := s.find(a), s.find(b)
	switch {
	case ra == rb:
	case ra < rb: // the earlier run is the root: components keep the order they are met in
		s.parent[rb] = ra
	default:
		s.parent[ra] = rb
	}
}

// joinRows unions the overlapping runs of two box rows.
func (s *runSet) joinRows(r1, r2 int) {
	i, iEnd := s.first[r1], s.first[r1+1]
	j, jEnd := s.first[r2], s.first[r2+1]
	for i < iEnd && j < jEnd {
		a, b := s.runs[i], s.runs[j]
		if a.lo < b.hi && b.lo < a.hi {
			s.union(i, j)
		}
		if a.hi < b.hi {
			i++
		} else {
			j++
		}
	}
}

// componentRuns labels the 6-connected components of the voxels equal to
// val (m holds 0/1) inside box b.
func componentRuns(size [3]int, m []uint8, b box, val uint8) *runSet {
	ny, nz := b.max[1]-b.min[1], b.max[2]-b.min[2]
	s := &runSet{first: make([]int32, ny*nz+1)}
	other := 1 - val
	for k := b.min[2]; k < b.max[2]; k++ {
		for j := b.min[1]; j < b.max[1]; j++ {
			r := (k-b.min[2])*ny + j - b.min[1]
			s.first[r] = int32(len(s.runs))
			row := (k*size[1] + j) * size[0]
			line := m[row+b.min[0] : row+b.max[0]]
			for x := 0; x < len(line); {
				i := bytes.IndexByte(line[x:], val)
				if i < 0 {
					break
				}
				lo := x + i
				hi := len(line)
				if e := bytes.IndexByte(line[lo:], other); e >= 0 {
					hi = lo + e
				}
				s.runs = append(s.runs, xrun{row: int32(k*size[1] + j), lo: int32(b.min[0] + lo), hi: int32(b.min[0] + hi)})
				x = hi
			}
		}
	}
	s.first[ny*nz] = int32(len(s.runs))
	s.parent = make([]int32, len(s.runs))
	for i := range s.parent {
		s.parent[i] = int32(i)
	}
	for z := 0; z < nz; z++ {
		for y := 0; y < ny; y++ {
			r := z*ny + y
			if y > 0 {
				s.joinRows(r-1, r)
			}
			if z > 0 {
				s.joinRows(r-ny, r)
			}
		}
	}
	return s
}

// fill sets the voxels of run i to v.
func (s *runSet) fill(size [3]int, m []uint8, i int, v uint8) {
	r := s.runs[i]
	o := int(r.row) * size[0]
	seg := m[o+int(r.lo) : o+int(r.hi)]
	for x := range seg {
		seg[x] = v
	}
}
