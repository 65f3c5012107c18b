// Package surface turns a label mask into a closed triangle mesh in patient
// millimetres (DICOM LPS) and writes it as binary STL or Wavefront OBJ.
//
// The extraction is a constrained surface net (Gibson, "Constrained elastic
// surface nets", MICCAI 1998): every face between an inside and an outside
// voxel becomes a quad whose corners are the shared voxel corners, so the
// raw mesh is exactly the boundary of the voxel set — closed, consistently
// wound (outward normals), and enclosing exactly the voxels' volume. A few
// smoothing passes then move each vertex towards its neighbours' mean but
// never more than half a voxel from its corner along any axis, so the
// surface stays between the inside and outside voxel centres: the staircase
// goes, the volume stays within about a percent of the voxel count's.
// Topology never changes, so the smoothed mesh is as closed as the raw one.
package surface

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"runtime"
	"sync"

	par "github.com/liverseg/liverseg/internal/parallel"
	"github.com/liverseg/liverseg/volume"
)

// Mesh is a triangle mesh in patient LPS millimetres. Triangles list
// vertex indices counter-clockwise seen from outside (outward normals by
// the right-hand rule).
type Mesh struct {
	Vertices  [][3]float32
	Triangles [][3]uint32
}

// Options controls Extract.
type Options struct {
	// Factor downsamples the mask by these block sizes before extraction
	// (a block is inside when at least half its voxels are): a coarser,
	// lighter mesh for display. Zero values mean 1.
	Factor [3]int
	// Smooth is the number of constrained smoothing passes; 0 keeps the
	// voxel staircase, negative means DefaultSmooth.
	Smooth int
	// Label, when non-zero, takes only voxels of that value as inside;
	// otherwise any non-zero voxel is.
	Label uint8
}

// DefaultSmooth is the number of smoothing passes Extract applies when
// Options.Smooth is negative: enough to remove the staircase on a CT grid.
const DefaultSmooth = 12

// ErrEmpty is returned for a mask without any inside voxel.
var ErrEmpty = errors.New("surface: the mask is empty")

// binGrid is the (possibly downsampled) inside/outside grid of the mask's
// bounding box with a one-voxel empty border, and the map from its voxel
// indices to the mask's continuous index space.
type binGrid struct {
	n     [3]int
	in    []bool
	lo    [3]int // bounding box start in mask voxels
	f     [3]int // block size
	bLo   [3]int // first block index of the box (in block units)
	inner [3]int // blocks along each axis, without the border
}

// Extract returns the closed surface of the inside voxels of m.
func Extract(m *volume.Mask, o Options) (*Mesh, error) {
	if len(m.Voxels) != m.NumVoxels() {
		return nil, fmt.Errorf("surface: mask has %d voxels, its grid %v needs %d", len(m.Voxels), m.Size, m.NumVoxels())
	}
	for a := 0; a < 3; a++ {
		if o.Factor[a] <= 0 {
			o.Factor[a] = 1
		}
	}
	if o.Smooth < 0 {
		o.Smooth = DefaultSmooth
	}
	g, ok := binarize(m, o)
	if !ok {
		return nil, ErrEmpty
	}
	pos, quads := faces(g)
	if o.Smooth > 0 {
		smooth(pos, quads, o.Smooth)
	}
	return toPatient(m.Geometry, g, pos, quads), nil
}

// bbox is the inside voxels' bounding box, scanned in parallel over slices.
func bbox(m *volume.Mask, inside func(uint8) bool, label uint8) (lo, hi [3]int, ok bool) {
	n := m.Size
	type part struct {
		lo, hi [3]int
		ok     bool
	}
	w := runtime.GOMAXPROCS(0)
	parts := make([]part, w)
	var wg sync.WaitGroup
	for p := 0; p < w; p++ {
		wg.Add(1)
		go func(p int) {
			defer wg.Done()
			r := part{lo: n}
			for k := p * n[2] / w; k < (p+1)*n[2]/w; k++ {
				for j := 0; j < n[1]; j++ {
					row := m.Voxels[(k*n[1]+j)*n[0]:][:n[0]]
					first, last := scanRow(row, inside, label)
					if first < 0 {
						continue
					}
					r.ok = true
					r.lo = [3]int{min(r.lo[0], first), min(r.lo[1], j), min(r.lo[2], k)}
					r.hi = [3]int{max(r.hi[0], last), max(r.hi[1], j), max(r.hi[2], k)}
				}
			}
			parts[p] = r
		}(p)
	}
	wg.Wait()
	lo = n
	for _, r := range parts {
		if !r.ok {
			continue
		}
		ok = true
		for a := 0; a < 3; a++ {
			lo[a], hi[a] = min(lo[a], r.lo[a]), max(hi[a], r.hi[a])
		}
	}
	return lo, hi, ok
}

func binarize(m *volume.Mask, o Options) (binGrid, bool) {
	inside := func(x uint8) bool { return x != 0 }
	if o.Label != 0 {
		inside = func(x uint8) bool { return x == o.Label }
	}
	lo, hi, ok := bbox(m, inside, o.Label)
	if !ok {
		return binGrid{}, false
	}
	g := binGrid{lo: lo, f: o.Factor}
	for a := 0; a < 3; a++ {
		g.bLo[a] = lo[a] / g.f[a]
		g.inner[a] = hi[a]/g.f[a] - g.bLo[a] + 1
		g.n[a] = g.inner[a] + 2
	}
	g.in = make([]bool, g.n[0]*g.n[1]*g.n[2])
	f := g.f
	need := (f[0]*f[1]*f[2] + 1) / 2
	ms := m.Size
	if f == [3]int{1, 1, 1} {
		parallel(g.inner[2]*4096, func(k0, k1 int) {
			for k := k0 / 4096; k < k1/4096; k++ {
				for j := 0; j < g.inner[1]; j++ {
					src := m.Voxels[((lo[2]+k)*ms[1]+lo[1]+j)*ms[0]+lo[0]:][:g.inner[0]]
					dst := g.in[((k+1)*g.n[1]+j+1)*g.n[0]+1:][:g.inner[0]]
					for i, x := range src {
						dst[i] = inside(x)
					}
				}
			}
		})
		return g, true
	}
	parallel(g.inner[2], func(k0, k1 int) {
		for bk := k0; bk < k1; bk++ {
			for bj := 0; bj < g.inner[1]; bj++ {
				for bi := 0; bi < g.inner[0]; bi++ {
					cnt := 0
					for dk := 0; dk < f[2]; dk++ {
						k := (g.bLo[2]+bk)*f[2] + dk
						if k >= ms[2] {
							break
						}
						for dj := 0; dj < f[1]; dj++ {
							j := (g.bLo[1]+bj)*f[1] + dj
							if j >= ms[1] {
								break
							}
							base := (k*ms[1] + j) * ms[0]
							for di := 0; di < f[0]; di++ {
								i := (g.bLo[0]+bi)*f[0] + di
								if i >= ms[0] {
									break
								}
								if inside(m.Voxels[base+i]) {
									cnt++
								}
							}
						}
					}
					if cnt >= need {
						g.in[((bk+1)*g.n[1]+bj+1)*g.n[0]+bi+1] = true
					}
				}
			}
		}
	})
	return g, true
}

// faces builds the quads between inside and outside voxels of g. Vertex
// positions are in g's voxel units, corner (i,j,k) at (i-0.5, j-0.5, k-0.5)
// relative to voxel (0,0,0) of g.
func faces(g binGrid) (pos [][3]float32, quads [][4]uint32) {
	nx, ny, nz := g.n[0], g.n[1], g.n[2]
	cx, cy := nx+1, ny+1
	layers := [2][]int32{make([]int32, cx*cy), make([]int32, cx*cy)}
	for l := range layers {
		for i := range layers[l] {
			layers[l][i] = -1
		}
	}
	at := func(i, j, k int) bool {
		if i < 0 || j < 0 || k < 0 || i >= nx || j >= ny || k >= nz {
			return false
		}
		return g.in[(k*ny+j)*nx+i]
	}
	vert := func(i, j, k int) uint32 {
		layer := layers[k&1]
		id := layer[j*cx+i]
		if id < 0 {
			id = int32(len(pos))
			layer[j*cx+i] = id
			pos = append(pos, [3]float32{float32(i) - 0.5, float32(j) - 0.5, float32(k) - 0.5})
		}
		return uint32(id)
	}
	quad := func(flip bool, a, b, c, d uint32) {
		if flip {
			quads = append(quads, [4]uint32{a, d, c, b})
		} else {
			quads = append(quads, [4]uint32{a, b, c, d})
		}
	}
	for k := 0; k <= nz; k++ {
		// Corner level k+1 is about to be used for the first time: clear it.
		next := layers[(k+1)&1]
		for i := range next {
			next[i] = -1
		}
		// z faces between slices k-1 and k (corner level k).
		for j := 0; j < ny; j++ {
			for i := 0; i < nx; i++ {
				a, b := at(i, j, k-1), at(i, j, k)
				if a == b {
					continue
				}
				// Outward normal +z when the lower voxel is inside.
				quad(b, vert(i, j, k), vert(i+1, j, k), vert(i+1, j+1, k), vert(i, j+1, k))
			}
		}
		if k == nz {
			break
		}
		// x faces between voxels i-1 and i, y faces between j-1 and j, of slice k.
		for j := 0; j <= ny; j++ {
			for i := 0; i <= nx; i++ {
				c := at(i, j, k)
				if j < ny {
					if a := at(i-1, j, k); a != c {
						quad(c, vert(i, j, k), vert(i, j+1, k), vert(i, j+1, k+1), vert(i, j, k+1))
					}
				}
				if i < nx {
					if a := at(i, j-1, k); a != c {
						quad(c, vert(i, j, k), vert(i, j, k+1), vert(i+1, j, k+1), vert(i+1, j, k))
					}
				}
			}
		}
	}
	return pos, quads
}

// smooth moves each vertex towards the mean of its quad neighbours, iters
// times, keeping it within half a voxel of its corner along every axis.
func smooth(pos [][3]float32, quads [][4]uint32, iters int) {
	home := make([][3]float32, len(pos))
	copy(home, pos)
	// Neighbour lists (CSR) from the quads' edges; an edge shared by two
	// quads is listed twice, which weights every neighbour alike.
	deg := make([]int32, len(pos)+1)
	for _, q := range quads {
		for e := 0; e < 4; e++ {
			deg[q[e]+1] += 2
		}
	}
	for v := 1; v < len(deg); v++ {
		deg[v] += deg[v-1]
	}
	nb := make([]uint32, deg[len(pos)])
	fill := make([]int32, len(pos))
	for _, q := range quads {
		for e := 0; e < 4; e++ {
			a, b := q[e], q[(e+1)&3]
			nb[deg[a]+fill[a]] = b
			fill[a]++
			nb[deg[b]+fill[b]] = a
			fill[b]++
		}
	}
	next := make([][3]float32, len(pos))
	for it := 0; it < iters; it++ {
		parallel(len(pos), func(lo, hi int) {
			for v := lo; v < hi; v++ {
				var s [3]float32
				ns := nb[deg[v]:deg[v+1]]
				for _, u := range ns {
					p := pos[u]
					s[0] += p[0]
					s[1] += p[1]
					s[2] += p[2]
				}
				inv := 1 / float32(len(ns))
				for a := 0; a < 3; a++ {
					x := s[a] * inv
					h := home[v][a]
					next[v][a] = min(max(x, h-0.5), h+0.5)
				}
			}
		})
		pos, next = next, pos
	}
	if iters%2 == 1 {
		copy(next, pos) // the caller's slice is the one swapped out
	}
}

// toPatient maps g's voxel units to LPS mm and splits the quads into
// triangles, reversing the winding when the index→patient map mirrors.
func toPatient(geo volume.Geometry, g binGrid, pos [][3]float32, quads [][4]uint32) *Mesh {
	m := geo.IndexToPatientMatrix()
	// Block (bi,bj,bk) of g (with its border) has its centre at mask index
	// ((bLo+b-1)·f + (f-1)/2).
	var scale, off [3]float64
	for a := 0; a < 3; a++ {
		f := float64(g.f[a])
		scale[a] = f
		off[a] = float64(g.bLo[a]-1)*f + (f-1)/2
	}
	out := &Mesh{Vertices: make([][3]float32, len(pos)), Triangles: make([][3]uint32, 0, 2*len(quads))}
	parallel(len(pos), func(lo, hi int) {
		for v := lo; v < hi; v++ {
			var idx [3]float64
			for a := 0; a < 3; a++ {
				idx[a] = float64(pos[v][a])*scale[a] + off[a]
			}
			for r := 0; r < 3; r++ {
				x := geo.Origin[r] + m[r][0]*idx[0] + m[r][1]*idx[1] + m[r][2]*idx[2]
				out.Vertices[v][r] = float32(x)
			}
		}
	})
	det := m[0][0]*(m[1][1]*m[2][2]-m[1][2]*m[2][1]) -
		m[0][1]*(m[1][0]*m[2][2]-m[1][2]*m[2][0]) +
		m[0][2]*(m[1][0]*m[2][1]-m[1][1]*m[2][0])
	for _, q := range quads {
		if det < 0 {
			q = [4]uint32{q[0], q[3], q[2], q[1]}
		}
		// Split along the shorter diagonal: fewer slivers after smoothing.
		if dist2(out.Vertices[q[0]], out.Vertices[q[2]]) <= dist2(out.Vertices[q[1]], out.Vertices[q[3]]) {
			out.Triangles = append(out.Triangles, [3]uint32{q[0], q[1], q[2]}, [3]uint32{q[0], q[2], q[3]})
		} else {
			out.Triangles = append(out.Triangles, [3]uint32{q[0], q[1], q[3]}, [3]uint32{q[1], q[2], q[3]})
		}
	}
	return out
}

func dist2(a, b [3]float32) float32 {
	dx, dy, dz := a[0]-b[0], a[1]-b[1], a[2]-b[2]
	return dx*dx + dy*dy + dz*dz
}

// parallel runs fn over [0,n) split across the CPUs when n is large.
func parallel(n int, fn func(lo, hi int)) { par.For(n, 4096, fn) }

// VolumeMM3 is the volume the mesh encloses (divergence theorem), in mm³:
// positive for a closed mesh with outward normals.
func (m *Mesh) VolumeMM3() float64 {
	var s float64
	for _, t := range m.Triangles {
		a, b, c := m.Vertices[t[0]], m.Vertices[t[1]], m.Vertices[t[2]]
		ax, ay, az := float64(a[0]), float64(a[1]), float64(a[2])
		bx, by, bz := float64(b[0]), float64(b[1]), float64(b[2])
		cx, cy, cz := float64(c[0]), float64(c[1]), float64(c[2])
		s += ax*(by*cz-bz*cy) - ay*(bx*cz-bz*cx) + az*(bx*cy-by*cx)
	}
	return s / 6
}

// CheckClosed reports an error unless every directed edge a→b of the mesh
// is matched by exactly as many b→a: the mesh then has no holes and all
// its triangles are wound the same way (watertight, orientable), the
// requirement of 3D printing slicers.
func (m *Mesh) CheckClosed() error {
	count := make(map[uint64]int32, 3*len(m.Triangles))
	key := func(a, b uint32) uint64 { return uint64(a)<<32 | uint64(b) }
	for _, t := range m.Triangles {
		for e := 0; e < 3; e++ {
			a, b := t[e], t[(e+1)%3]
			if a == b {
				return fmt.Errorf("surface: degenerate triangle %v", t)
			}
			count[key(a, b)]++
		}
	}
	for k, n := range count {
		a, b := uint32(k>>32), uint32(k)
		if count[key(b, a)] != n {
			return fmt.Errorf("surface: edge %d→%d is used %d times but %d→%d %d times (a hole or an inconsistent winding)", a, b, n, b, a, count[key(b, a)])
		}
	}
	return nil
}

// Bounds is the mesh's axis-aligned bounding box in LPS mm.
func (m *Mesh) Bounds() (lo, hi [3]float64) {
	lo = [3]float64{math.Inf(1), math.Inf(1), math.Inf(1)}
	hi = [3]float64{math.Inf(-1), math.Inf(-1), math.Inf(-1)}
	for _, v := range m.Vertices {
		for a := 0; a < 3; a++ {
			lo[a] = math.Min(lo[a], float64(v[a]))
			hi[a] = math.Max(hi[a], float64(v[a]))
		}
	}
	return lo, hi
}

// Normals are the area-weighted vertex normals (unit length).
func (m *Mesh) Normals() [][3]float32 {
	n := make([][3]float32, len(m.Vertices))
	for _, t := range m.Triangles {
		a, b, c := m.Vertices[t[0]], m.Vertices[t[1]], m.Vertices[t[2]]
		fn := triNormal(a, b, c)
		for _, v := range t {
			n[v][0] += fn[0]
			n[v][1] += fn[1]
			n[v][2] += fn[2]
		}
	}
	for i, v := range n {
		l := float32(math.Sqrt(float64(v[0]*v[0] + v[1]*v[1] + v[2]*v[2])))
		if l > 0 {
			n[i] = [3]float32{v[0] / l, v[1] / l, v[2] / l}
		}
	}
	return n
}

// triNormal is the (area-weighted, not normalised) normal of a triangle.
func triNormal(a, b, c [3]float32) [3]float32 {
	u := [3]float32{b[0] - a[0], b[1] - a[1], b[2] - a[2]}
	v := [3]float32{c[0] - a[0], c[1] - a[1], c[2] - a[2]}
	return [3]float32{u[1]*v[2] - u[2]*v[1], u[2]*v[0] - u[0]*v[2], u[0]*v[1] - u[1]*v[0]}
}

// scanRow returns the first and last inside voxel of a row (-1 when none),
// skipping empty stretches eight bytes at a time when any non-zero value
// counts (label 0): most of a CT's rows hold no liver.
func scanRow(row []uint8, inside func(uint8) bool, label uint8) (first, last int) {
	first, last = -1, -1
	i := 0
	if label == 0 {
		for ; i+8 <= len(row); i += 8 {
			if binary.LittleEndian.Uint64(row[i:]) != 0 {
				break
			}
		}
	}
	for ; i < len(row); i++ {
		if inside(row[i]) {
			first = i
			break
		}
	}
	if first < 0 {
		return -1, -1
	}
	j := len(row)
	if label == 0 {
		for ; j-8 > first; j -= 8 {
			if binary.LittleEndian.Uint64(row[j-8:]) != 0 {
				break
			}
		}
	}
	for j--; j >= first; j-- {
		if inside(row[j]) {
			return first, j
		}
	}
	return first, first
}
