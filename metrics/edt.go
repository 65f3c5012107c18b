package metrics

import (
	"bytes"
	"math"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/liverseg/liverseg/internal/parallel"
	"github.com/liverseg/liverseg/volume"
)

// box is a half-open voxel box.
type box struct{ min, max [3]int }

func (b box) size() [3]int {
	return [3]int{b.max[0] - b.min[0], b.max[1] - b.min[1], b.max[2] - b.min[2]}
}

// unionBox is the bounding box of the voxels set in a or b, with whether
// each mask has any voxel at all. Empty rows, the vast majority of a CT
// grid, are recognised with bytes.Equal against a zero row (a vectorised
// memcmp).
func unionBox(size [3]int, a, b []uint8) (bx box, anyA, anyB bool) {
	bx.min = size
	sx := size[0]
	zero := make([]byte, sx)
	for k := 0; k < size[2]; k++ {
		for j := 0; j < size[1]; j++ {
			o := (k*size[1] + j) * sx
			ra, rb := a[o:o+sx], b[o:o+sx]
			ea, eb := bytes.Equal(ra, zero), bytes.Equal(rb, zero)
			if ea && eb {
				continue
			}
			anyA, anyB = anyA || !ea, anyB || !eb
			first, last := sx, -1
			for i := 0; i < sx; i++ {
				if ra[i] != 0 || rb[i] != 0 {
					first = i
					break
				}
			}
			for i := sx - 1; i >= 0; i-- {
				if ra[i] != 0 || rb[i] != 0 {
					last = i
					break
				}
			}
			bx.min = [3]int{min(bx.min[0], first), min(bx.min[1], j), min(bx.min[2], k)}
			bx.max = [3]int{max(bx.max[0], last+1), max(bx.max[1], j+1), max(bx.max[2], k+1)}
		}
	}
	return
}

// overlapIn counts |A|, |B| and |A∩B| inside bx (everything outside is
// empty in both).
func overlapIn(size [3]int, a, b []uint8, bx box) (na, nb, nab int) {
	w := bx.max[0] - bx.min[0]
	for k := bx.min[2]; k < bx.max[2]; k++ {
		for j := bx.min[1]; j < bx.max[1]; j++ {
			o := (k*size[1]+j)*size[0] + bx.min[0]
			x, y, z := overlap(a[o:o+w], b[o:o+w])
			na, nb, nab = na+x, nb+y, nab+z
		}
	}
	return
}

// surface returns the box-local offsets of m's surface voxels inside bx: set
// voxels with a 6-neighbour that is unset or outside the grid.
func surface(size [3]int, m []uint8, bx box) []int32 {
	n := bx.size()
	if n[0] <= 0 || n[1] <= 0 || n[2] <= 0 {
		return nil // both masks empty: the box is empty
	}
	var out []int32
	sx, sxy := size[0], size[0]*size[1]
	zero := make([]byte, n[0])
	for k := bx.min[2]; k < bx.max[2]; k++ {
		for j := bx.min[1]; j < bx.max[1]; j++ {
			row := (k*size[1]+j)*sx + bx.min[0]
			if bytes.Equal(m[row:row+n[0]], zero) {
				continue // most rows of the box miss the mask (memcmp)
			}
			for i := bx.min[0]; i < bx.max[0]; i++ {
				o := k*sxy + j*sx + i
				if m[o] == 0 {
					continue
				}
				edge := i == 0 || j == 0 || k == 0 || i == size[0]-1 || j == size[1]-1 || k == size[2]-1
				if edge || m[o-1] == 0 || m[o+1] == 0 || m[o-sx] == 0 || m[o+sx] == 0 || m[o-sxy] == 0 || m[o+sxy] == 0 {
					l := ((k-bx.min[2])*n[1]+(j-bx.min[1]))*n[0] + (i - bx.min[0])
					out = append(out, int32(l))
				}
			}
		}
	}
	return out
}

// directedDistances returns, for every surface voxel of a, the distance in
// mm to the nearest surface voxel of b, and the same from b to a, both
// computed inside bx, the union bounding box of a and b. That is exact: all
// sites and all query voxels lie in bx, and the separable transform's
// minimum over sites is unchanged by leaving out a region without sites.
//
// The two directions are independent and run side by side, each on half
// of the cores: on a 2-core laptop that is one core each with no barrier
// between the passes, which keeps both busy even when other work steals
// one of them for a while.
func directedDistances(g volume.Geometry, a, b []uint8, bx box) (dab, dba []float64) {
	var sa, sb []int32
	both(func() { sa = surface(g.Size, a, bx) }, func() { sb = surface(g.Size, b, bx) })
	if len(sa) == 0 || len(sb) == 0 {
		return nil, nil
	}
	n := bx.size()
	w := max(1, parallel.Workers()/2)
	both(func() { dab = distancesAt(n, g.Spacing, sb, sa, w) },
		func() { dba = distancesAt(n, g.Spacing, sa, sb, w) })
	return dab, dba
}

// both runs f and g concurrently and waits for both.
func both(f, g func()) {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		g()
	}()
	f()
	wg.Wait()
}

// gridPool recycles the float32 grids of distancesAt: a comparison table
// computes several pairs in a row, each needing two grids of the union
// box (tens of MB on a CT).
var gridPool sync.Pool

func getGrid(n int) []float32 {
	if p, ok := gridPool.Get().(*[]float32); ok && cap(*p) >= n {
		return (*p)[:n]
	}
	return make([]float32, n)
}

func putGrid(f []float32) { gridPool.Put(&f) }

// lazyReads bounds the work of the outward search in distancesAt, in
// grid reads per voxel of the box, before it gives up and runs the full
// y pass instead. A var so that tests can force either path.
var lazyReads = 3.0

// distancesAt returns, for each query voxel (a box-local offset on the grid
// n), the Euclidean distance in mm to the nearest site, using up to
// `workers` goroutines. The result is exactly that of SquaredEDT read at
// the queries, but computed only where it is read.
//
// After the x pass (each row's squared distance to the nearest site in
// that row), the distance at a query q is the minimum, over the rows of
// the other planes and lines, of (Δy·hy)² + (Δz·hz)² + row(q.x). The
// search walks outwards from q, plane by plane and row by row, and stops
// along each axis as soon as the offset alone reaches the best value
// found, which no farther row can beat. Surfaces being compared are
// mostly a few mm apart, so that reads a handful of rows per query
// instead of building lower envelopes over the whole box. When the
// surfaces are far apart (more reads than lazyReads per box voxel) it
// stops and falls back to the y pass of the transform over the planes
// (linear in the box) followed by the same outward search along z only.
func distancesAt(n [3]int, sp [3]float64, sites, queries []int32, workers int) []float64 {
	nxy := n[0] * n[1]
	f := getGrid(nxy * n[2])
	defer putGrid(f)
	inf := float32(math.Inf(1))
	for i := range f {
		f[i] = inf
	}
	rows := make([]bool, n[1]*n[2]) // x rows holding a site
	for _, o := range sites {
		f[o] = 0
		rows[int(o)/n[0]] = true
	}
	passX(f, n, sp[0], rows, workers)

	// Try the outward search on every 16th query first: if that sample
	// says the whole search would cost more than the y pass, take the
	// fallback having wasted a sixteenth of it at most.
	d := make([]float64, len(queries))
	budget := int64(lazyReads * float64(len(f)))
	sample := (len(queries) + sampleStride - 1) / sampleStride
	if reads, ok := searchYZ(f, n, sp, queries, d, workers, sample, sampled, budget/sampleStride); ok && reads*sampleStride <= budget {
		if _, ok := searchYZ(f, n, sp, queries, d, workers, len(queries)-sample, unsampled, 2*budget); ok {
			return d
		}
	}
	passY(f, n, sp[1], rows, workers)
	hz := sp[2]
	parallel.ForN(workers, len(queries), func(lo, hi int) {
		// Queries are in increasing offset order, so the planes read
		// around consecutive queries advance together through memory.
		for q := lo; q < hi; q++ {
			o := int(queries[q])
			k := o / nxy
			best := float64(f[o])
			for dz := 1; ; dz++ {
				dd := float64(dz) * hz
				dd *= dd
				below, above := k-dz >= 0, k+dz < n[2]
				if dd >= best || !(below || above) {
					break
				}
				if below {
					if v := dd + float64(f[o-dz*nxy]); v < best {
						best = v
					}
				}
				if above {
					if v := dd + float64(f[o+dz*nxy]); v < best {
						best = v
					}
				}
			}
			d[q] = math.Sqrt(best)
		}
	})
	return d
}

const sampleStride = 16

// sampled and unsampled enumerate the queries searched first (every
// sampleStride-th) and the others.
func sampled(t int) int   { return t * sampleStride }
func unsampled(t int) int { return t/(sampleStride-1)*sampleStride + t%(sampleStride-1) + 1 }

// searchYZ is the outward search of distancesAt over the x-pass rows of
// f, for the count queries pick(0), …, pick(count−1). It fills their d and
// returns the rows read and true, or false (d partly filled) once the
// workers together have read more than budget rows.
func searchYZ(f []float32, n [3]int, sp [3]float64, queries []int32, d []float64, workers, count int, pick func(int) int, budget int64) (int64, bool) {
	nxy := n[0] * n[1]
	hy, hz := sp[1], sp[2]
	var used atomic.Int64
	parallel.ForN(workers, count, func(lo, hi int) {
		var reads int64
		for t := lo; t < hi; t++ {
			if t%64 == 0 {
				if used.Add(reads) > budget {
					return
				}
				reads = 0
			}
			q := pick(t)
			o := int(queries[q])
			k, j := o/nxy, o/n[0]%n[1]
			best := math.Inf(1)
			for dz := 0; dz < n[2]; dz++ {
				zz := float64(dz) * hz
				zz *= zz
				if zz >= best {
					break
				}
				for side := -1; side <= 1; side += 2 {
					p := k + side*dz
					if p < 0 || p >= n[2] || (dz == 0 && side > 0) {
						continue
					}
					po := o + (p-k)*nxy // q's column in plane p
					for dy := 0; dy < n[1]; dy++ {
						yy := float64(dy) * hy
						yy = zz + yy*yy
						if yy >= best {
							break
						}
						// (Plain comparisons: math.Min's NaN and −0
						// handling is not needed and costs here.)
						if j-dy >= 0 {
							if v := yy + float64(f[po-dy*n[0]]); v < best {
								best = v
							}
						}
						if dy > 0 && j+dy < n[1] {
							if v := yy + float64(f[po+dy*n[0]]); v < best {
								best = v
							}
						}
						reads += 2
					}
				}
			}
			d[q] = math.Sqrt(best)
		}
		used.Add(reads)
	})
	u := used.Load()
	return u, u <= budget
}

// passX runs the first pass of the transform: each row's squared distance
// along x to the nearest site in that row. rows[k*n[1]+j] tells whether
// row j of plane k holds a site; rows without one stay +Inf.
func passX(f []float32, n [3]int, hx float64, rows []bool, workers int) {
	parallel.ForN(workers, n[1]*n[2], func(lo, hi int) {
		for r := lo; r < hi; r++ {
			if rows[r] {
				edtRowBinary(f[r*n[0]:(r+1)*n[0]], hx)
			}
		}
	})
}

// passY runs the second pass, the lower envelopes along y, on every plane
// that holds a site (the others stay +Inf). Each plane is transposed into
// a scratch buffer so that its y lines are contiguous.
func passY(f []float32, n [3]int, hy float64, rows []bool, workers int) {
	nxy := n[0] * n[1]
	parallel.ForN(workers, n[2], func(lo, hi int) {
		w := newFH(n[1], hy)
		buf := make([]float32, nxy)
		for k := lo; k < hi; k++ {
			if !slices.Contains(rows[k*n[1]:(k+1)*n[1]], true) {
				continue
			}
			plane := f[k*nxy : (k+1)*nxy]
			for j := 0; j < n[1]; j++ {
				row := plane[j*n[0] : (j+1)*n[0]]
				for i, x := range row {
					buf[i*n[1]+j] = x
				}
			}
			for i := 0; i < n[0]; i++ {
				w.line(buf[i*n[1] : (i+1)*n[1]])
			}
			for j := 0; j < n[1]; j++ {
				row := plane[j*n[0] : (j+1)*n[0]]
				for i := range row {
					row[i] = buf[i*n[1]+j]
				}
			}
		}
	})
}

// SquaredEDT replaces f, a grid of size n (x fastest) holding 0 at the
// sites and +Inf elsewhere, by the squared Euclidean distance in mm to the
// nearest site, with spacing sp along each axis. It is the exact separable
// algorithm of Felzenszwalb & Huttenlocher (lower envelope of parabolas,
// one pass per axis), linear in the number of voxels. Voxels with no site
// at all stay +Inf. (The metrics use distancesAt, the same transform
// evaluated only where it is needed.)
func SquaredEDT(f []float32, n [3]int, sp [3]float64) {
	nxy := n[0] * n[1]
	rows := make([]bool, n[1]*n[2])
	for o, x := range f {
		if x == 0 {
			rows[o/n[0]] = true
		}
	}
	workers := parallel.Workers()
	passX(f, n, sp[0], rows, workers)
	passY(f, n, sp[1], rows, workers)
	// Axis z on every line, through a transposed x-z plane per j.
	parallel.ForN(workers, n[1], func(lo, hi int) {
		w := newFH(n[2], sp[2])
		buf := make([]float32, n[0]*n[2])
		for j := lo; j < hi; j++ {
			for k := 0; k < n[2]; k++ {
				for i, x := range f[k*nxy+j*n[0]:][:n[0]] {
					buf[i*n[2]+k] = x
				}
			}
			for i := 0; i < n[0]; i++ {
				w.line(buf[i*n[2] : (i+1)*n[2]])
			}
			for k := 0; k < n[2]; k++ {
				dst := f[k*nxy+j*n[0]:][:n[0]]
				for i := range dst {
					dst[i] = buf[i*n[2]+k]
				}
			}
		}
	})
}

// edtRowBinary sets each voxel of a 0/+Inf row to the squared distance to
// the nearest 0 in the row (h mm apart), by a forward and a backward sweep.
func edtRowBinary(row []float32, h float64) {
	n := len(row)
	last := -1
	for i := 0; i < n; i++ {
		if row[i] == 0 {
			last = i
		} else if last >= 0 {
			d := float64(i-last) * h
			row[i] = float32(d * d)
		}
	}
	last = -1
	for i := n - 1; i >= 0; i-- {
		if row[i] == 0 {
			last = i
		} else if last >= 0 {
			d := float64(last-i) * h
			if dd := float32(d * d); dd < row[i] {
				row[i] = dd
			}
		}
	}
}

// fh is the scratch space of the one-dimensional lower-envelope transform
// along one axis.
type fh struct {
	x  []float64 // position of voxel q, mm
	gx []float64 // f(q) + x(q)², for the parabolas on the envelope
	v  []int     // parabola apexes of the envelope
	z  []float64 // boundaries between envelope parabolas, mm
}

func newFH(n int, h float64) *fh {
	w := &fh{x: make([]float64, n), gx: make([]float64, n), v: make([]int, n), z: make([]float64, n+1)}
	for q := range w.x {
		w.x[q] = float64(q) * h
	}
	return w
}

// build computes the lower envelope of the parabolas (x − x(p))² + f(p) of
// the finite values of a contiguous line; false when there is none.
func (w *fh) build(f []float32) bool {
	n := len(f)
	x, gx, v, z := w.x[:n], w.gx[:n], w.v[:n], w.z[:n+1]
	inf := float32(math.Inf(1))
	k := -1
	for q := 0; q < n; q++ {
		if f[q] == inf {
			continue
		}
		xq := x[q]
		gq := float64(f[q]) + xq*xq
		gx[q] = gq
		if k < 0 {
			k = 0
			v[0], z[0], z[1] = q, math.Inf(-1), math.Inf(1)
			continue
		}
		var s float64
		for {
			p := v[k]
			s = (gq - gx[p]) / (2 * (xq - x[p]))
			if s <= z[k] {
				k-- // z[0] is −Inf, so k stays ≥ 0
				continue
			}
			break
		}
		k++
		v[k], z[k], z[k+1] = q, s, math.Inf(1)
	}
	return k >= 0
}

// eval is the envelope at voxel q, starting the search at envelope
// segment k (0, or what the previous eval returned for a smaller q); it
// returns the value and the segment to start from next.
func (w *fh) eval(q, k int) (float32, int) {
	xq := w.x[q]
	for w.z[k+1] < xq {
		k++
	}
	p := w.v[k]
	d := xq - w.x[p]
	return float32(d*d + (w.gx[p] - w.x[p]*w.x[p])), k
}

// line transforms a contiguous line in place: out(q) = min_p (x(q)−x(p))² +
// f(p).
func (w *fh) line(f []float32) {
	if !w.build(f) {
		return // no finite value on this line: all stay +Inf
	}
	k := 0
	for q := range f {
		f[q], k = w.eval(q, k)
	}
}
