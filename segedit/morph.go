package segedit

import (
	"errors"
	"fmt"
	"math"

	"github.com/liverseg/liverseg/metrics"
)

// FillBetween fills the axial slices between key slices by shape-based
// interpolation (Raya & Udupa 1990; what Slicer's "Fill between slices" and
// ITK-SNAP's interpolation do): each key slice's mask becomes a signed
// distance map in mm (negative inside), the maps of two consecutive key
// slices are blended linearly along z, and a slice in between takes the
// voxels where the blend is negative. Slices between two keys are replaced;
// key slices and slices outside the keys are left as they are. Key slices
// whose mask is empty are skipped.
//
// keys are canonical axial slice indices; nil uses AxialKeySlices (the
// slices edited with the 2D brush on the axial view).
func (e *Editor) FillBetween(keys []int) (Change, error) {
	if e.stroke != nil {
		return Change{}, ErrStrokeOpen
	}
	if keys == nil {
		keys = e.AxialKeySlices()
	}
	n := e.geom.Size
	nxy := n[0] * n[1]
	var ks []int
	seen := map[int]bool{}
	for _, k := range keys {
		if k < 0 || k >= n[2] {
			return Change{}, fmt.Errorf("segedit: key slice %d is outside the %d axial slices", k, n[2])
		}
		if seen[k] {
			continue
		}
		seen[k] = true
		if e.sliceAny(k) {
			ks = append(ks, k)
		}
	}
	sortInts(ks)
	if len(ks) < 2 {
		return Change{}, errors.New("segedit: fill between slices needs at least two edited axial slices with segmentation on them")
	}
	t := &tx{e: e}
	sd := map[int][]float32{}
	get := func(k int) []float32 {
		if d, ok := sd[k]; ok {
			return d
		}
		d := e.signedDistance(k)
		sd[k] = d
		return d
	}
	for p := 0; p+1 < len(ks); p++ {
		a, b := ks[p], ks[p+1]
		if b-a < 2 {
			continue
		}
		da, db := get(a), get(b)
		for k := a + 1; k < b; k++ {
			f := float32(k-a) / float32(b-a)
			base := k * nxy
			for i := 0; i < nxy; i++ {
				var v uint8
				if (1-f)*da[i]+f*db[i] < 0 {
					v = 1
				}
				t.set(base+i, v)
			}
		}
		delete(sd, a) // the next pair starts at b
	}
	return e.commit(fmt.Sprintf("Fill between slices %v", plusOne(ks)), t, nil), nil
}

func plusOne(ks []int) []int {
	out := make([]int, len(ks))
	for i, k := range ks {
		out[i] = k + 1
	}
	return out
}

func sortInts(a []int) {
	for i := 1; i < len(a); i++ {
		for j := i; j > 0 && a[j] < a[j-1]; j-- {
			a[j], a[j-1] = a[j-1], a[j]
		}
	}
}

func (e *Editor) sliceAny(k int) bool {
	nxy := e.geom.Size[0] * e.geom.Size[1]
	for _, v := range e.mask.Voxels[k*nxy : (k+1)*nxy] {
		if v != 0 {
			return true
		}
	}
	return false
}

// signedDistance is the in-slice signed distance (mm) of axial slice k's
// mask: minus the distance to the nearest background voxel inside, the
// distance to the nearest mask voxel outside.
func (e *Editor) signedDistance(k int) []float32 {
	n := e.geom.Size
	nxy := n[0] * n[1]
	m := e.mask.Voxels[k*nxy : (k+1)*nxy]
	in := make([]float32, nxy)  // distance to the mask
	out := make([]float32, nxy) // distance to the background
	inf := float32(math.Inf(1))
	for i, v := range m {
		if v != 0 {
			in[i], out[i] = 0, inf
		} else {
			in[i], out[i] = inf, 0
		}
	}
	size := [3]int{n[0], n[1], 1}
	sp := [3]float64{e.geom.Spacing[0], e.geom.Spacing[1], 1}
	metrics.SquaredEDT(in, size, sp)
	metrics.SquaredEDT(out, size, sp)
	for i, v := range m {
		if v != 0 {
			o := out[i]
			if math.IsInf(float64(o), 1) {
				o = 1e8 // a slice filled completely
			}
			in[i] = -float32(math.Sqrt(float64(o)))
		} else {
			in[i] = float32(math.Sqrt(float64(in[i])))
		}
	}
	return in
}

// SmoothKind is a smoothing operation.
type SmoothKind int

// Smoothing operations.
const (
	// Closing (dilate, then erode by the radius) fills gaps and notches
	// narrower than the radius: the 5 mm staircase of a model's mask.
	Closing SmoothKind = iota
	// Opening (erode, then dilate) removes spurs and bridges thinner than
	// the radius.
	Opening
	// Median keeps a voxel when most of the voxels in the box of ±radius
	// mm around it are in the mask (a majority vote: the median of a
	// binary image), which rounds corners both ways.
	Median
)

func (k SmoothKind) String() string {
	switch k {
	case Opening:
		return "opening"
	case Median:
		return "median"
	}
	return "closing"
}

// Smooth applies a morphological smoothing with a radius in mm (balls
// measured exactly with anisotropic spacing through the Euclidean distance
// transform; the median's box likewise in mm) over the mask's bounding box,
// as one step. It is PrepareSmooth, Compute and Apply in one call.
func (e *Editor) Smooth(kind SmoothKind, radiusMM float64) (Change, error) {
	p, err := e.PrepareSmooth(kind, radiusMM)
	if err != nil {
		return Change{}, err
	}
	p.Compute()
	return p.Apply()
}

// Pending is an operation split so that its heavy part can run off the
// UI goroutine: Prepare (the editor's goroutine) copies what it needs,
// Compute (any goroutine) works on the copy only, Apply (the editor's
// goroutine again) records the result as one step, provided the mask has
// not changed since Prepare.
type Pending struct {
	e       *Editor
	state   int
	name    string
	lo      [3]int
	size    [3]int
	crop    []uint8
	compute func(crop []uint8) ([]uint8, error) // on the copy only
	res     []uint8
	err     error
	done    bool
}

// ErrChanged is returned by Pending.Apply when the mask was edited after
// the operation was prepared.
var ErrChanged = errors.New("segedit: the mask changed while the operation was computed")

// PrepareSmooth copies the mask's bounding box (with a margin of the
// radius) for a smoothing.
func (e *Editor) PrepareSmooth(kind SmoothKind, radiusMM float64) (*Pending, error) {
	if e.stroke != nil {
		return nil, ErrStrokeOpen
	}
	if !(radiusMM > 0) || math.IsInf(radiusMM, 0) {
		return nil, fmt.Errorf("segedit: smoothing radius %v mm is not positive", radiusMM)
	}
	if kind < Closing || kind > Median {
		return nil, fmt.Errorf("segedit: unknown smoothing %d", kind)
	}
	sp := e.geom.Spacing
	var f func(crop []uint8, n [3]int) []uint8
	switch kind {
	case Closing:
		f = func(c []uint8, n [3]int) []uint8 { return erode(dilate(c, n, sp, radiusMM), n, sp, radiusMM) }
	case Opening:
		f = func(c []uint8, n [3]int) []uint8 { return dilate(erode(c, n, sp, radiusMM), n, sp, radiusMM) }
	default:
		f = func(c []uint8, n [3]int) []uint8 { return majority(c, n, sp, radiusMM) }
	}
	p := e.prepareCrop(fmt.Sprintf("Smooth (%s %.3g mm)", kind, radiusMM), radiusMM)
	p.compute = func(c []uint8) ([]uint8, error) { return f(c, p.size), nil }
	return p, nil
}

// prepareCrop copies the mask's bounding box with a margin of marginMM
// (plus a voxel) into a Pending.
func (e *Editor) prepareCrop(name string, marginMM float64) *Pending {
	p := &Pending{e: e, state: e.stateID(), name: name}
	bb, any := e.maskBounds()
	if !any {
		return p
	}
	sp := e.geom.Spacing
	n := e.geom.Size
	for a := 0; a < 3; a++ {
		m := int(math.Ceil(marginMM/sp[a])) + 1
		p.lo[a] = max(bb.Min[a]-m, 0)
		p.size[a] = min(bb.Max[a]+m, n[a]) - p.lo[a]
	}
	p.crop = make([]uint8, p.size[0]*p.size[1]*p.size[2])
	e.eachCrop(p.lo, p.size, func(c, o int) { p.crop[c] = e.mask.Voxels[o] })
	return p
}

// Compute does the work on the copy; it touches nothing of the editor.
func (p *Pending) Compute() {
	if !p.done && p.crop != nil {
		p.res, p.err = p.compute(p.crop)
	}
	p.done = true
}

// Apply records the computed result as one step.
func (p *Pending) Apply() (Change, error) {
	e := p.e
	if !p.done {
		return Change{}, errors.New("segedit: Apply before Compute")
	}
	if p.err != nil {
		return Change{}, p.err
	}
	if e.stroke != nil {
		return Change{}, ErrStrokeOpen
	}
	if e.stateID() != p.state {
		return Change{}, ErrChanged
	}
	if p.res == nil {
		return Change{Name: p.name}, nil
	}
	t := &tx{e: e}
	e.eachCrop(p.lo, p.size, func(c, o int) { t.set(o, p.res[c]) })
	return e.commit(p.name, t, nil), nil
}

// eachCrop calls fn with each voxel's offset in a crop of the given origin
// and size and in the mask.
func (e *Editor) eachCrop(lo, size [3]int, fn func(c, o int)) {
	n := e.geom.Size
	c := 0
	for k := 0; k < size[2]; k++ {
		for j := 0; j < size[1]; j++ {
			o := ((lo[2]+k)*n[1]+lo[1]+j)*n[0] + lo[0]
			for i := 0; i < size[0]; i++ {
				fn(c, o+i)
				c++
			}
		}
	}
}

// maskBounds is the bounding box of the mask's voxels.
func (e *Editor) maskBounds() (Box, bool) {
	n := e.geom.Size
	b := Box{Min: n}
	any := false
	o := 0
	for k := 0; k < n[2]; k++ {
		for j := 0; j < n[1]; j++ {
			row := e.mask.Voxels[o : o+n[0]]
			o += n[0]
			first := -1
			for i, v := range row {
				if v != 0 {
					first = i
					break
				}
			}
			if first < 0 {
				continue
			}
			last := first
			for i := n[0] - 1; i > first; i-- {
				if row[i] != 0 {
					last = i
					break
				}
			}
			any = true
			b.Min = [3]int{min(b.Min[0], first), min(b.Min[1], j), min(b.Min[2], k)}
			b.Max = [3]int{max(b.Max[0], last+1), max(b.Max[1], j+1), max(b.Max[2], k+1)}
		}
	}
	return b, any
}

// dilate is m grown by a ball of radius r mm.
func dilate(m []uint8, n [3]int, sp [3]float64, r float64) []uint8 {
	f := make([]float32, len(m))
	inf := float32(math.Inf(1))
	for i, v := range m {
		if v == 0 {
			f[i] = inf
		}
	}
	metrics.SquaredEDT(f, n, sp)
	out := make([]uint8, len(m))
	r2 := float32(r * r)
	for i, d := range f {
		if d <= r2 {
			out[i] = 1
		}
	}
	return out
}

// erode is m shrunk by a ball of radius r mm: a voxel stays when no
// background voxel lies within r.
func erode(m []uint8, n [3]int, sp [3]float64, r float64) []uint8 {
	f := make([]float32, len(m))
	inf := float32(math.Inf(1))
	for i, v := range m {
		if v != 0 {
			f[i] = inf
		}
	}
	metrics.SquaredEDT(f, n, sp)
	out := make([]uint8, len(m))
	r2 := float32(r * r)
	for i, d := range f {
		if m[i] != 0 && d > r2 {
			out[i] = 1
		}
	}
	return out
}

// majority keeps a voxel when more than half of the voxels of the box of
// ±r mm around it (clipped to the grid) are set, from a 3D summed-area
// table: linear in the number of voxels whatever the radius.
func majority(m []uint8, n [3]int, sp [3]float64, r float64) []uint8 {
	var h [3]int
	for a := 0; a < 3; a++ {
		h[a] = int(math.Floor(r / sp[a]))
	}
	sx, sy := n[0]+1, n[1]+1
	sat := make([]int32, sx*sy*(n[2]+1))
	at := func(i, j, k int) int { return (k*sy+j)*sx + i }
	for k := 1; k <= n[2]; k++ {
		for j := 1; j <= n[1]; j++ {
			var row int32
			src := ((k-1)*n[1] + j - 1) * n[0]
			for i := 1; i <= n[0]; i++ {
				row += int32(m[src+i-1])
				sat[at(i, j, k)] = row + sat[at(i, j-1, k)] + sat[at(i, j, k-1)] - sat[at(i, j-1, k-1)]
			}
		}
	}
	out := make([]uint8, len(m))
	c := 0
	for k := 0; k < n[2]; k++ {
		k0, k1 := max(k-h[2], 0), min(k+h[2]+1, n[2])
		for j := 0; j < n[1]; j++ {
			j0, j1 := max(j-h[1], 0), min(j+h[1]+1, n[1])
			for i := 0; i < n[0]; i++ {
				i0, i1 := max(i-h[0], 0), min(i+h[0]+1, n[0])
				s := sat[at(i1, j1, k1)] - sat[at(i0, j1, k1)] - sat[at(i1, j0, k1)] - sat[at(i1, j1, k0)] +
					sat[at(i0, j0, k1)] + sat[at(i0, j1, k0)] + sat[at(i1, j0, k0)] - sat[at(i0, j0, k0)]
				if 2*int(s) > (i1-i0)*(j1-j0)*(k1-k0) {
					out[c] = 1
				}
				c++
			}
		}
	}
	return out
}

// PrepareRemoveLeak prepares the removal of a leak that is joined to the
// liver by a neck narrower than 2·neckMM: the mask is eroded by neckMM
// (which cuts the neck), the eroded part holding seed (the click, in the
// leak) is grown back by neckMM inside the mask, and what it covers is
// erased — except voxels as close to the rest of the mask, which stay with
// it; leftovers of the leak no longer joined to the rest go too. The
// leak need not be an island: this is "cut it off where it joins
// and remove it" in one click.
func (e *Editor) PrepareRemoveLeak(seed [3]int, neckMM float64) (*Pending, error) {
	if e.stroke != nil {
		return nil, ErrStrokeOpen
	}
	if !(neckMM > 0) || math.IsInf(neckMM, 0) {
		return nil, fmt.Errorf("segedit: neck radius %v mm is not positive", neckMM)
	}
	if !e.geom.Contains(seed[0], seed[1], seed[2]) {
		return nil, fmt.Errorf("segedit: voxel %v is outside the grid %v", seed, e.geom.Size)
	}
	if e.mask.Voxels[e.geom.Offset(seed[0], seed[1], seed[2])] == 0 {
		return nil, ErrNoIsland
	}
	p := e.prepareCrop(fmt.Sprintf("Remove leak (neck %.3g mm)", neckMM), neckMM)
	sp := e.geom.Spacing
	p.compute = func(c []uint8) ([]uint8, error) {
		n := p.size
		s := (seed[2]-p.lo[2])*n[0]*n[1] + (seed[1]-p.lo[1])*n[0] + seed[0] - p.lo[0]
		er := erode(c, n, sp, neckMM)
		if er[s] == 0 {
			return nil, fmt.Errorf("segedit: the mask at the click is thinner than %.3g mm: click deeper inside the leak, or use a smaller neck", 2*neckMM)
		}
		// er: 1 = eroded mask; the clicked component becomes 3.
		floodFill(er, n, s, 1, 3)
		leak := make([]uint8, len(er))
		rest := make([]uint8, len(er))
		for i, v := range er {
			switch v {
			case 3:
				leak[i] = 1
			case 1:
				rest[i] = 1
			}
		}
		gl := dilate(leak, n, sp, neckMM)
		gr := dilate(rest, n, sp, neckMM)
		out := make([]uint8, len(c))
		for i, v := range c {
			if v != 0 && !(gl[i] != 0 && gr[i] == 0) {
				out[i] = 1
			}
		}
		// Slivers of the leak that the regrown core did not cover (its
		// edges and corners) are no longer joined to the rest: keep only
		// what is connected to the rest of the mask.
		for i, v := range rest {
			if v != 0 && out[i] == 1 {
				floodFill(out, n, i, 1, 2)
			}
		}
		for i, v := range out {
			out[i] = v >> 1
		}
		return out, nil
	}
	return p, nil
}
