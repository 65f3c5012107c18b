package metrics

import (
	"bytes"
	"math"
	"runtime"
	"sync"

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
	var out []int32
	sx, sxy := size[0], size[0]*size[1]
	for k := bx.min[2]; k < bx.max[2]; k++ {
		for j := bx.min[1]; j < bx.max[1]; j++ {
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
func directedDistances(g volume.Geometry, a, b []uint8, bx box) (dab, dba []float64) {
	sa, sb := surface(g.Size, a, bx), surface(g.Size, b, bx)
	if len(sa) == 0 || len(sb) == 0 {
		return nil, nil
	}
	n := bx.size()
	f := make([]float32, n[0]*n[1]*n[2])
	dist := func(from, to []int32) []float64 {
		inf := float32(math.Inf(1))
		for i := range f {
			f[i] = inf
		}
		for _, o := range to {
			f[o] = 0
		}
		SquaredEDT(f, n, g.Spacing)
		d := make([]float64, len(from))
		for i, o := range from {
			d[i] = math.Sqrt(float64(f[o]))
		}
		return d
	}
	return dist(sa, sb), dist(sb, sa)
}

// SquaredEDT replaces f, a grid of size n (x fastest) holding 0 at the
// sites and +Inf elsewhere, by the squared Euclidean distance in mm to the
// nearest site, with spacing sp along each axis. It is the exact separable
// algorithm of Felzenszwalb & Huttenlocher (lower envelope of parabolas,
// one pass per axis), linear in the number of voxels. Voxels with no site
// at all stay +Inf.
func SquaredEDT(f []float32, n [3]int, sp [3]float64) {
	// Axis x: distances along each row from a binary input.
	parallel(n[2]*n[1], func(lo, hi int) {
		for r := lo; r < hi; r++ {
			row := f[r*n[0] : (r+1)*n[0]]
			edtRowBinary(row, sp[0])
		}
	})
	// Axes y and z: lower envelopes over the partial results. Each worker
	// copies the lines of one plane into a transposed scratch buffer so
	// that every line is contiguous: strided access along z would miss the
	// cache at every voxel.
	lines := func(axis int) {
		length := n[axis]
		outer := n[2] // y: one x-y plane per k
		if axis == 2 {
			outer = n[1] // z: one x-z plane per j
		}
		parallel(outer, func(lo, hi int) {
			w := newFH(length, sp[axis])
			buf := make([]float32, n[0]*length)
			for o := lo; o < hi; o++ {
				// Row r of the plane (r along the transformed axis) starts
				// at rowStart(r) in f and runs along x.
				rowStart := func(r int) int {
					if axis == 1 {
						return (o*n[1] + r) * n[0]
					}
					return (r*n[1] + o) * n[0]
				}
				for r := 0; r < length; r++ {
					src := f[rowStart(r):][:n[0]]
					for i, x := range src {
						buf[i*length+r] = x
					}
				}
				for i := 0; i < n[0]; i++ {
					w.line(buf[i*length:][:length])
				}
				for r := 0; r < length; r++ {
					dst := f[rowStart(r):][:n[0]]
					for i := range dst {
						dst[i] = buf[i*length+r]
					}
				}
			}
		})
	}
	lines(1)
	lines(2)
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

// line transforms a contiguous line in place: out(q) = min_p (x(q)−x(p))² +
// f(p).
func (w *fh) line(f []float32) {
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
	if k < 0 {
		return // no finite value on this line: all stay +Inf
	}
	k = 0
	for q := 0; q < n; q++ {
		for z[k+1] < x[q] {
			k++
		}
		p := v[k]
		d := x[q] - x[p]
		f[q] = float32(d*d + (gx[p] - x[p]*x[p]))
	}
}

// parallel runs f(lo, hi) over [0, n) in chunks on every core.
func parallel(n int, f func(lo, hi int)) {
	workers := min(runtime.GOMAXPROCS(0), n)
	if workers <= 1 {
		f(0, n)
		return
	}
	var wg sync.WaitGroup
	chunk := (n + workers - 1) / workers
	for lo := 0; lo < n; lo += chunk {
		wg.Add(1)
		go func(lo, hi int) {
			defer wg.Done()
			f(lo, hi)
		}(lo, min(lo+chunk, n))
	}
	wg.Wait()
}
