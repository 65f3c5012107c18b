package resection

import (
	"errors"
	"fmt"
	"math"
	"runtime"
	"sync"

	par "github.com/liverseg/liverseg/internal/parallel"
	"github.com/liverseg/liverseg/metrics"
	"github.com/liverseg/liverseg/volume"
)

// Combine says how several cuts make one resection.
type Combine string

const (
	// Any: a voxel is resected when it lies on the resected side of any
	// cut (separate resections in one operation, e.g. a hemihepatectomy
	// and a wedge).
	Any Combine = "any"
	// All: a voxel is resected only when it lies on the resected side of
	// every cut (one piece bounded by several surfaces, e.g. a segment).
	All Combine = "all"
)

// Plan is a resection: its cuts and how they combine.
type Plan struct {
	Cuts    []Cut
	Combine Combine
}

// Validate checks every cut and the combination.
func (p Plan) Validate() error {
	if len(p.Cuts) == 0 {
		return errors.New("the plan has no cut")
	}
	if p.Combine != "" && p.Combine != Any && p.Combine != All {
		return fmt.Errorf("combine %q: must be %q or %q", p.Combine, Any, All)
	}
	for _, c := range p.Cuts {
		if err := c.Validate(); err != nil {
			return err
		}
	}
	return nil
}

// Resected reports whether the point p lies in the resected part.
func (p Plan) Resected(x Vec) bool {
	all := p.Combine == All
	for _, c := range p.Cuts {
		r := c.Side(x) > 0
		if r && !all {
			return true
		}
		if !r && all {
			return false
		}
	}
	return all
}

// Liver holds a liver mask (and optionally a lesion inside it) prepared
// for fast volumetry: the liver voxels' positions, and per cut the voxels'
// coordinates in the cut's frame, so that moving a control point only
// re-evaluates a height table and one comparison per voxel.
type Liver struct {
	geo     volume.Geometry
	offsets []int32      // voxel offsets in the mask
	pos     [][3]float32 // their centres, LPS mm
	lesion  []bool       // nil without a lesion
	voxelML float64

	// Lesion distance map (mm to the nearest lesion voxel centre) on the
	// liver's bounding box, nil without a lesion.
	dist         []float32
	dLo, dN      [3]int
	liverMask    []uint8 // the mask itself, for "inside the liver" tests
	lesionVoxels int

	toIndex [3][4]float64 // LPS → continuous voxel index

	mu    sync.Mutex
	cache map[frameKey]*frame
}

// frameKey identifies a cut's frame: what changes the voxels' coordinates.
type frameKey struct {
	origin, normal Vec
	half           float64
}

// frame is every liver voxel's height w above the cut's plane and the
// height-table cell under it.
type frame struct {
	w    []float32
	cell []int32
}

// tableN is the height table's resolution per side: 256 cells over the
// default 240 mm square is under a millimetre.
const tableN = 256

// NewLiver prepares liver (any non-zero voxel) and, when not nil, lesion
// (same grid; its voxels count as lesion wherever they are inside the
// liver; a lesion outside the liver mask is added to it, since a tumour
// that the liver mask left out still belongs to the liver's volume).
func NewLiver(liver, lesion *volume.Mask) (*Liver, error) {
	if len(liver.Voxels) != liver.NumVoxels() {
		return nil, fmt.Errorf("liver mask has %d voxels, its grid needs %d", len(liver.Voxels), liver.NumVoxels())
	}
	if lesion != nil && !lesion.SameGrid(liver.Geometry) {
		return nil, errors.New("the lesion mask is not on the liver mask's grid")
	}
	l := &Liver{geo: liver.Geometry, voxelML: liver.VoxelVolume() / 1000, cache: map[frameKey]*frame{}}
	mask := liver.Voxels
	if lesion != nil {
		mask = make([]uint8, len(liver.Voxels))
		for i, x := range liver.Voxels {
			if x != 0 || lesion.Voxels[i] != 0 {
				mask[i] = 1
			}
		}
	}
	l.liverMask = mask
	l.toIndex = inverseAffine(liver.Geometry)
	g := liver.Geometry
	m := g.IndexToPatientMatrix()
	n := g.Size
	for k := 0; k < n[2]; k++ {
		for j := 0; j < n[1]; j++ {
			base := (k*n[1] + j) * n[0]
			for i, x := range mask[base : base+n[0]] {
				if x == 0 {
					continue
				}
				var p [3]float32
				for r := 0; r < 3; r++ {
					p[r] = float32(g.Origin[r] + m[r][0]*float64(i) + m[r][1]*float64(j) + m[r][2]*float64(k))
				}
				l.offsets = append(l.offsets, int32(base+i))
				l.pos = append(l.pos, p)
				if lesion != nil {
					les := lesion.Voxels[base+i] != 0
					l.lesion = append(l.lesion, les)
					if les {
						l.lesionVoxels++
					}
				}
			}
		}
	}
	if len(l.offsets) == 0 {
		return nil, errors.New("the liver mask is empty")
	}
	if lesion != nil && l.lesionVoxels == 0 {
		return nil, errors.New("the lesion mask is empty")
	}
	if lesion != nil {
		l.lesionDistances(lesion)
	}
	return l, nil
}

// Geometry is the grid of the liver mask.
func (l *Liver) Geometry() volume.Geometry { return l.geo }

// HasLesion reports whether a lesion was given.
func (l *Liver) HasLesion() bool { return l.lesion != nil }

// lesionDistances computes the exact Euclidean distance to the lesion on
// the liver's bounding box (grown by one voxel), once: margins are then
// lookups, as Slicer-Liver does with its distance maps.
func (l *Liver) lesionDistances(lesion *volume.Mask) {
	n := l.geo.Size
	lo, hi := n, [3]int{-1, -1, -1}
	for _, o := range l.offsets {
		i, j, k := int(o)%n[0], int(o)/n[0]%n[1], int(o)/(n[0]*n[1])
		lo = [3]int{min(lo[0], i), min(lo[1], j), min(lo[2], k)}
		hi = [3]int{max(hi[0], i), max(hi[1], j), max(hi[2], k)}
	}
	for a := 0; a < 3; a++ {
		lo[a] = max(0, lo[a]-1)
		hi[a] = min(n[a]-1, hi[a]+1)
		l.dN[a] = hi[a] - lo[a] + 1
	}
	l.dLo = lo
	d := make([]float32, l.dN[0]*l.dN[1]*l.dN[2])
	inf := float32(math.Inf(1))
	for k := 0; k < l.dN[2]; k++ {
		for j := 0; j < l.dN[1]; j++ {
			src := ((k+lo[2])*n[1]+j+lo[1])*n[0] + lo[0]
			dst := (k*l.dN[1] + j) * l.dN[0]
			for i := 0; i < l.dN[0]; i++ {
				if lesion.Voxels[src+i] != 0 {
					d[dst+i] = 0
				} else {
					d[dst+i] = inf
				}
			}
		}
	}
	metrics.SquaredEDT(d, l.dN, l.geo.Spacing)
	for i, x := range d {
		d[i] = float32(math.Sqrt(float64(x)))
	}
	l.dist = d
}

// LesionDistance is the distance (mm) from p to the nearest lesion voxel
// centre, read from the distance map at the nearest voxel; +Inf outside
// the liver's box or without a lesion.
func (l *Liver) LesionDistance(p Vec) float64 {
	if l.dist == nil {
		return math.Inf(1)
	}
	idx := l.index(p)
	for a := 0; a < 3; a++ {
		idx[a] -= l.dLo[a]
		if idx[a] < 0 || idx[a] >= l.dN[a] {
			return math.Inf(1)
		}
	}
	return float64(l.dist[(idx[2]*l.dN[1]+idx[1])*l.dN[0]+idx[0]])
}

// Inside reports whether p falls in a liver (or lesion) voxel.
func (l *Liver) Inside(p Vec) bool {
	idx := l.index(p)
	if !l.geo.Contains(idx[0], idx[1], idx[2]) {
		return false
	}
	return l.liverMask[l.geo.Offset(idx[0], idx[1], idx[2])] != 0
}

// frameOf returns (computing once) the voxels' coordinates in c's frame.
func (l *Liver) frameOf(c Cut) *frame {
	key := frameKey{c.Origin, c.Normal, c.HalfSize}
	l.mu.Lock()
	defer l.mu.Unlock()
	if f, ok := l.cache[key]; ok {
		return f
	}
	if len(l.cache) >= 8 {
		clear(l.cache) // a plane being turned: the old frames are done with
	}
	f := &frame{w: make([]float32, len(l.pos)), cell: make([]int32, len(l.pos))}
	u, v := c.Basis()
	n := c.Normal
	o := c.Origin
	h := c.HalfSize
	step := float64(tableN-1) / (2 * h)
	parallel(len(l.pos), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			p := l.pos[i]
			d := Vec{float64(p[0]) - o[0], float64(p[1]) - o[1], float64(p[2]) - o[2]}
			f.w[i] = float32(dot(d, n))
			ci := int(math.Floor((dot(d, u)+h)*step + 0.5))
			cj := int(math.Floor((dot(d, v)+h)*step + 0.5))
			ci = min(max(ci, 0), tableN-1)
			cj = min(max(cj, 0), tableN-1)
			f.cell[i] = int32(ci*tableN + cj)
		}
	})
	l.cache[key] = f
	return f
}

// heightTable samples c's height at the table's cell centres.
func heightTable(c Cut) []float32 {
	t := make([]float32, tableN*tableN)
	if c.Flat() {
		return t
	}
	step := 2 * c.HalfSize / float64(tableN-1)
	for i := 0; i < tableN; i++ {
		for j := 0; j < tableN; j++ {
			t[i*tableN+j] = float32(c.Height(-c.HalfSize+float64(i)*step, -c.HalfSize+float64(j)*step))
		}
	}
	return t
}

// Volumes are a plan's CT volumetry. Resected and remnant are liver
// parenchyma without the lesion; Total = Resected + Remnant + Lesion.
type Volumes struct {
	TotalML    float64 `json:"total_ml"`
	LesionML   float64 `json:"lesion_ml"`
	ResectedML float64 `json:"resected_ml"`
	RemnantML  float64 `json:"remnant_ml"`
	// FLRPercent is the future liver remnant as a share of the total
	// liver volume, the lesion excluded from both.
	FLRPercent float64 `json:"flr_percent"`
	// LesionResectedML is how much of the lesion lies in the resected part.
	LesionResectedML float64 `json:"lesion_resected_ml"`
}

// Evaluate classifies every liver voxel by the plan. Repeated calls with
// cuts whose plane is unchanged (only control points moved) reuse each
// cut's frame and cost one table lookup and comparison per voxel and cut.
func (l *Liver) Evaluate(p Plan) (Volumes, error) {
	res, err := l.classify(p, nil)
	return res, err
}

// Masks returns the resected and remnant parts (lesion voxels go with the
// part they lie in) on the liver mask's grid; a voxel goes to the part
// holding more than half of it.
func (l *Liver) Masks(p Plan) (resected, remnant *volume.Mask, err error) {
	resected, remnant = volume.NewMask(l.geo), volume.NewMask(l.geo)
	_, err = l.classify(p, func(i int, r bool) {
		if r {
			resected.Voxels[l.offsets[i]] = 1
		} else {
			remnant.Voxels[l.offsets[i]] = 1
		}
	})
	return resected, remnant, err
}

func (l *Liver) classify(p Plan, each func(i int, resected bool)) (Volumes, error) {
	if err := p.Validate(); err != nil {
		return Volumes{}, err
	}
	all := p.Combine == All
	frames := make([]*frame, len(p.Cuts))
	tables := make([][]float32, len(p.Cuts))
	for c, cut := range p.Cuts {
		frames[c] = l.frameOf(cut)
		tables[c] = heightTable(cut)
	}
	// Partial volume: a voxel whose centre lies within half its thickness
	// (measured along the cut's normal) of the surface counts for the
	// fraction on each side, linear in its height above the surface. A
	// plane through a row of voxel centres then halves them instead of
	// giving the whole row to one side.
	half := make([]float32, len(p.Cuts))
	for c, cut := range p.Cuts {
		t := 0.0
		for a := 0; a < 3; a++ {
			var ax Vec
			for r := 0; r < 3; r++ {
				ax[r] = l.geo.Direction[r][a]
			}
			t += math.Abs(dot(ax, cut.Normal)) * l.geo.Spacing[a]
		}
		half[c] = float32(t / 2)
	}
	type counts struct{ res, rem, lesRes, lesRem float64 }
	workers := runtime.GOMAXPROCS(0)
	if each != nil {
		workers = 1 // each writes into masks; keep it simple and ordered
	}
	parts := make([]counts, workers)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			lo, hi := w*len(l.pos)/workers, (w+1)*len(l.pos)/workers
			var cn counts
			for i := lo; i < hi; i++ {
				// frac is the voxel's resected share: the largest over the
				// cuts for Any, the smallest for All.
				var frac float32
				if all {
					frac = 1
				}
				for c, f := range frames {
					d := f.w[i] - tables[c][f.cell[i]]
					var s float32
					switch {
					case d >= half[c]:
						s = 1
					case d <= -half[c]:
						s = 0
					default:
						s = 0.5 + d/(2*half[c])
					}
					if all {
						frac = min(frac, s)
						if frac == 0 {
							break
						}
					} else {
						frac = max(frac, s)
						if frac == 1 {
							break
						}
					}
				}
				r := float64(frac)
				if l.lesion != nil && l.lesion[i] {
					cn.lesRes += r
					cn.lesRem += 1 - r
				} else {
					cn.res += r
					cn.rem += 1 - r
				}
				if each != nil {
					each(i, frac > 0.5)
				}
			}
			parts[w] = cn
		}(w)
	}
	wg.Wait()
	var t counts
	for _, c := range parts {
		t.res += c.res
		t.rem += c.rem
		t.lesRes += c.lesRes
		t.lesRem += c.lesRem
	}
	v := Volumes{
		TotalML:          float64(len(l.pos)) * l.voxelML,
		LesionML:         (t.lesRes + t.lesRem) * l.voxelML,
		ResectedML:       t.res * l.voxelML,
		RemnantML:        t.rem * l.voxelML,
		LesionResectedML: t.lesRes * l.voxelML,
	}
	if par := t.res + t.rem; par > 0 {
		v.FLRPercent = 100 * t.rem / par
	}
	return v, nil
}

// parallel runs fn over [0,n) split across the CPUs when n is large.
func parallel(n int, fn func(lo, hi int)) { par.For(n, 8192, fn) }

// split runs fn over [0,n) split across the CPUs.
func split(n int, fn func(lo, hi int)) { par.For(n, 0, fn) }

// index is the nearest voxel to p (possibly outside the grid).
func (l *Liver) index(p Vec) [3]int {
	var idx [3]int
	for a := 0; a < 3; a++ {
		m := l.toIndex[a]
		idx[a] = int(math.Floor(m[0]*p[0] + m[1]*p[1] + m[2]*p[2] + m[3] + 0.5))
	}
	return idx
}

// inverseAffine is the LPS → index map of g as rows (a, b, c, d): index =
// a·x + b·y + c·z + d.
func inverseAffine(g volume.Geometry) [3][4]float64 {
	o := g.PatientToIndex(Vec{})
	var m [3][4]float64
	for c := 0; c < 3; c++ {
		var e Vec
		e[c] = 1
		q := g.PatientToIndex(e)
		for r := 0; r < 3; r++ {
			m[r][c] = q[r] - o[r]
		}
	}
	for r := 0; r < 3; r++ {
		m[r][3] = o[r]
	}
	return m
}
