package inference

import (
	"bytes"
	"fmt"
	"math"

	"github.com/liverseg/liverseg/internal/parallel"
	"github.com/liverseg/liverseg/volume"
)

// ProbMap is the network's liver probability on its own low-resolution grid
// (isotropic spacing, index axes towards L, P, S). Its Geometry places it in
// patient space: voxel t lies at the canonical input's continuous index
// t·S/spacing, so Origin is the canonical (cropped) input's first voxel and
// Spacing is S on every axis. It is the only float map LiverSeg keeps.
type ProbMap struct {
	volume.Geometry
	Data []float32 // len == NumVoxels(), x fastest
}

// At returns the probability at a continuous index of the map with
// trilinear interpolation, the index clamped to the grid.
func (p *ProbMap) At(x, y, z float64) float32 {
	var lo, hi [3]int
	var w [3]float32
	c := [3]float64{x, y, z}
	for a := 0; a < 3; a++ {
		n := p.Size[a]
		v := math.Min(math.Max(c[a], 0), float64(n-1))
		lo[a] = min(int(math.Floor(v)), n-1)
		hi[a] = min(lo[a]+1, n-1)
		w[a] = float32(v - float64(lo[a]))
	}
	d := p.Data
	at := func(i, j, k int) float32 { return d[p.Offset(i, j, k)] }
	// x, then y, then z, as the mask is sampled.
	c00 := lerp(at(lo[0], lo[1], lo[2]), at(hi[0], lo[1], lo[2]), w[0])
	c10 := lerp(at(lo[0], hi[1], lo[2]), at(hi[0], hi[1], lo[2]), w[0])
	c01 := lerp(at(lo[0], lo[1], hi[2]), at(hi[0], lo[1], hi[2]), w[0])
	c11 := lerp(at(lo[0], hi[1], hi[2]), at(hi[0], hi[1], hi[2]), w[0])
	return lerp(lerp(c00, c10, w[1]), lerp(c01, c11, w[1]), w[2])
}

// PostOptions turns a probability map into a mask.
type PostOptions struct {
	// Threshold: a voxel is liver when its probability is strictly above
	// it (a tie goes to background, as argmax over [background, liver]
	// would decide).
	Threshold float64
	// LargestComponent keeps only the largest 6-connected liver component.
	LargestComponent bool
	// FillHoles makes liver of every background voxel that is not
	// 6-connected to the border of the grid.
	FillHoles bool
	// Edge, when non-nil, refines the outline from the scan's HU after the
	// clean-up (RefineEdge). Only a Result, which keeps the scan, applies
	// it; MaskFromProb, which sees the probability map alone, ignores it.
	Edge *EdgeOptions
}

// upsampleThreshold samples prob at every voxel of a grid of size out whose
// voxel i lies at prob's continuous index i·spacing/S (per axis), with
// separable trilinear interpolation in the reference order (x, then y, then
// z, as models/training/lsdata.py does, so the same voxels cross the
// threshold), and sets mask voxels strictly above t to 1. Each worker keeps
// only two full-resolution planes: the x-y upsampled low-res slices that
// bracket its current output slice.
func upsampleThreshold(prob *ProbMap, out [3]int, spacing [3]float64, t float64, mask []uint8) {
	upsampleThresholdBox(prob, out, box{max: out}, spacing, t, mask, box{max: out})
}

// hotBox is the box of the output grid outside which no voxel can exceed t,
// by the rule of models/training/lsdata.py postprocess: an upsampled value
// is a combination of its low-res neighbours, so only output voxels whose
// continuous low-res index lies strictly between (first hot − 1) and (last
// hot + 1) on every axis can, plus one voxel of margin each side. ok=false
// when no low-res voxel exceeds t (the mask is empty).
func hotBox(prob *ProbMap, out [3]int, spacing [3]float64, t float64) (b box, ok bool) {
	thr := float32(t)
	lo, hi := prob.Size, [3]int{-1, -1, -1}
	lx, ly := prob.Size[0], prob.Size[1]
	for n, v := range prob.Data {
		if v > thr {
			k := n / (lx * ly)
			j := (n - k*lx*ly) / lx
			i := n - k*lx*ly - j*lx
			c := [3]int{i, j, k}
			for a := 0; a < 3; a++ {
				lo[a], hi[a] = min(lo[a], c[a]), max(hi[a], c[a])
			}
		}
	}
	if hi[0] < 0 {
		return b, false
	}
	for a := 0; a < 3; a++ {
		step := spacing[a] / prob.Spacing[a]
		l, h := float64(lo[a]-1), float64(hi[a]+1)
		first, last := -1, -1
		for o := 0; o < out[a]; o++ {
			if c := float64(o) * step; c > l && c < h {
				if first < 0 {
					first = o
				}
				last = o
			}
		}
		if first < 0 {
			return b, false
		}
		b.min[a], b.max[a] = max(first-1, 0), min(last+2, out[a])
	}
	return b, true
}

// upsampleThresholdBox is upsampleThreshold restricted to the output voxels
// of box ob (mask voxels outside it are left as they are). mask holds the
// voxels of box mb of the output grid (mb contains ob), x fastest.
func upsampleThresholdBox(prob *ProbMap, out [3]int, ob box, spacing [3]float64, t float64, mask []uint8, mb box) {
	mx, my := mb.max[0]-mb.min[0], mb.max[1]-mb.min[1]
	var tab [3]axisTable
	for a := 0; a < 3; a++ {
		tab[a] = newAxisTableFrom(ob.min[a], ob.max[a]-ob.min[a], prob.Size[a], spacing[a]/prob.Spacing[a])
	}
	ly := prob.Size[1]
	ox, oy := ob.max[0]-ob.min[0], ob.max[1]-ob.min[1]
	sub := [3]int{ox, oy, ob.max[2] - ob.min[2]}
	thr := float32(t)
	parallel.For(sub[2], 0, func(k0, k1 int) {
		c := planeCache{ids: [2]int{-1, -1}, rows: make([]float32, ox*ly)}
		for n := range c.planes {
			c.planes[n] = make([]float32, ox*oy)
		}
		for k := k0; k < k1; k++ {
			zl, zh := int(tab[2].lo[k]), int(tab[2].hi[k])
			p0 := c.get(prob, &tab, sub, zl, -1)
			p1 := c.get(prob, &tab, sub, zh, zl)
			w := tab[2].w[k]
			for j := 0; j < oy; j++ {
				dst := mask[((ob.min[2]+k-mb.min[2])*my+ob.min[1]+j-mb.min[1])*mx+ob.min[0]-mb.min[0]:][:ox]
				r0, r1 := p0[j*ox:][:ox], p1[j*ox:][:ox]
				for i := range dst {
					if lerp(r0[i], r1[i], w) > thr {
						dst[i] = 1
					} else {
						dst[i] = 0
					}
				}
			}
		}
	})
}

// planeCache holds two low-res slices upsampled to the output's x-y grid
// (x first, then y).
type planeCache struct {
	planes [2][]float32
	ids    [2]int
	rows   []float32 // scratch: a low-res slice upsampled in x only
}

// get returns slice z upsampled, computing it into the slot that does not
// hold slice pin.
func (c *planeCache) get(prob *ProbMap, tab *[3]axisTable, out [3]int, z, pin int) []float32 {
	for n := range c.ids {
		if c.ids[n] == z {
			return c.planes[n]
		}
	}
	n := 0
	if c.ids[0] == pin {
		n = 1
	}
	lx, ly := prob.Size[0], prob.Size[1]
	ox, oy := out[0], out[1]
	src := prob.Data[z*lx*ly:][:lx*ly]
	for j := 0; j < ly; j++ {
		r, d := src[j*lx:][:lx], c.rows[j*ox:][:ox]
		for i := range d {
			d[i] = lerp(r[tab[0].lo[i]], r[tab[0].hi[i]], tab[0].w[i])
		}
	}
	p := c.planes[n]
	for j := 0; j < oy; j++ {
		r0, r1 := c.rows[int(tab[1].lo[j])*ox:][:ox], c.rows[int(tab[1].hi[j])*ox:][:ox]
		w, d := tab[1].w[j], p[j*ox:][:ox]
		for i := range d {
			d[i] = lerp(r0[i], r1[i], w)
		}
	}
	c.ids[n] = z
	return p
}

// box is a half-open voxel box [min, max) on some grid.
type box struct{ min, max [3]int }

// foregroundBox is the bounding box of the voxels equal to 1 (masks hold
// 0/1 here), ok=false when there are none. Rows are scanned with
// bytes.IndexByte, which is vectorised.
func foregroundBox(size [3]int, m []uint8) (b box, ok bool) {
	b.min = size
	sx := size[0]
	for k := 0; k < size[2]; k++ {
		for j := 0; j < size[1]; j++ {
			row := m[(k*size[1]+j)*sx:][:sx]
			first := bytes.IndexByte(row, 1)
			if first < 0 {
				continue
			}
			last := bytes.LastIndexByte(row, 1)
			b.min = [3]int{min(b.min[0], first), min(b.min[1], j), min(b.min[2], k)}
			b.max = [3]int{max(b.max[0], last+1), max(b.max[1], j+1), max(b.max[2], k+1)}
			ok = true
		}
	}
	return b, ok
}

// keepLargestComponent keeps the largest 6-connected component of the
// foreground (values 1) and clears the rest. Ties keep the component met
// first in x-fastest voxel order. Work is limited to the foreground's
// bounding box, and done on runs (componentRuns).
func keepLargestComponent(size [3]int, m []uint8) {
	b, ok := foregroundBox(size, m)
	if !ok {
		return
	}
	s := componentRuns(size, m, b, 1)
	voxels := make([]int, len(s.runs)) // per root
	roots := 0
	for i, r := range s.runs {
		root := s.find(int32(i))
		if voxels[root] == 0 {
			roots++
		}
		voxels[root] += int(r.hi - r.lo)
	}
	if roots <= 1 {
		return
	}
	// Roots are their components' first runs, so scanning in run order
	// with a strict > keeps the first of equally large components.
	best := int32(-1)
	for i := range s.runs {
		if s.parent[i] == int32(i) && (best < 0 || voxels[i] > voxels[best]) {
			best = int32(i)
		}
	}
	for i := range s.runs {
		if s.find(int32(i)) != best {
			s.fill(size, m, i, 0)
		}
	}
}

// fillHoles sets to 1 every background voxel that is not 6-connected to the
// border of the grid. Only the foreground's bounding box grown by one voxel
// needs labelling: background outside the foreground's box reaches the
// border in a straight line, so background on the grown box's faces is
// border-connected.
func fillHoles(size [3]int, m []uint8) {
	fb, ok := foregroundBox(size, m)
	if !ok {
		return
	}
	var b box
	for a := 0; a < 3; a++ {
		b.min[a] = max(fb.min[a]-1, 0)
		b.max[a] = min(fb.max[a]+1, size[a])
	}
	s := componentRuns(size, m, b, 0)
	outside := make([]bool, len(s.runs)) // per root
	for i, r := range s.runs {
		k, j := int(r.row)/size[1], int(r.row)%size[1]
		if k == b.min[2] || k == b.max[2]-1 || j == b.min[1] || j == b.max[1]-1 ||
			int(r.lo) == b.min[0] || int(r.hi) == b.max[0] {
			outside[s.find(int32(i))] = true
		}
	}
	for i := range s.runs {
		if !outside[s.find(int32(i))] {
			s.fill(size, m, i, 1)
		}
	}
}

// b2u is 1 for true and 0 for false.
func b2u(b bool) uint8 {
	if b {
		return 1
	}
	return 0
}

// MaskFromProb builds the mask of a grid (size, spacing; index axes parallel
// to prob's) from the probability map: trilinear sampling at i·spacing/S,
// threshold, then the optional clean-up. The result holds 0/1 only.
func MaskFromProb(prob *ProbMap, size [3]int, spacing [3]float64, o PostOptions) ([]uint8, error) {
	b, vox, err := maskFromProbBox(prob, size, spacing, o, [3]int{})
	if err != nil {
		return nil, err
	}
	m := make([]uint8, size[0]*size[1]*size[2])
	b.scatter(vox, size, m)
	return m, nil
}

// maskFromProbBox is MaskFromProb held on a box of the grid: the mask's
// bounding box grown by grow voxels per axis and clipped to the grid (it is
// built on the voxels that can exceed the threshold, hotBox, grown the
// same way); every voxel outside it is 0. The clean-up runs in
// the box and gives the voxels it gives on the whole grid: components lie
// inside, run order is kept, and background on the box's faces reaches the
// grid's border through the empty rest. Working on the liver's box instead
// of the scan's grid (often six times larger) is what keeps the whole
// student run near the network's time. An empty box (nil voxels) is an
// empty mask.
func maskFromProbBox(prob *ProbMap, size [3]int, spacing [3]float64, o PostOptions, grow [3]int) (box, []uint8, error) {
	n := size[0] * size[1] * size[2]
	if n <= 0 || n > math.MaxInt32 {
		return box{}, nil, fmt.Errorf("mask grid %v: size out of range", size)
	}
	if len(prob.Data) != prob.NumVoxels() || prob.NumVoxels() == 0 {
		return box{}, nil, fmt.Errorf("probability map of size %v holds %d values", prob.Size, len(prob.Data))
	}
	// Only the box that can exceed the threshold is upsampled (the rest
	// stays 0): the same voxels as upsampling the whole grid.
	hot, ok := hotBox(prob, size, spacing, o.Threshold)
	if !ok {
		return box{}, nil, nil
	}
	b := hot
	for a := 0; a < 3; a++ {
		b.min[a] = max(hot.min[a]-grow[a], 0)
		b.max[a] = min(hot.max[a]+grow[a], size[a])
	}
	bs := b.size()
	m := make([]uint8, bs[0]*bs[1]*bs[2])
	upsampleThresholdBox(prob, size, hot, spacing, o.Threshold, m, b)
	if o.LargestComponent {
		keepLargestComponent(bs, m)
	}
	if o.FillHoles {
		fillHoles(bs, m)
	}
	// The box shrinks to the mask's own box grown by grow, in place (each
	// row moves to a lower offset): the refinement then works on all of it
	// without a copy.
	fb, ok := foregroundBox(bs, m)
	if !ok {
		return box{}, nil, nil
	}
	var nb box
	for a := 0; a < 3; a++ {
		nb.min[a] = max(b.min[a]+fb.min[a]-grow[a], b.min[a])
		nb.max[a] = min(b.min[a]+fb.max[a]+grow[a], b.max[a])
	}
	if nb != b {
		ns := nb.size()
		for k := 0; k < ns[2]; k++ {
			for j := 0; j < ns[1]; j++ {
				src := ((nb.min[2]-b.min[2]+k)*bs[1]+nb.min[1]-b.min[1]+j)*bs[0] + nb.min[0] - b.min[0]
				copy(m[(k*ns[1]+j)*ns[0]:][:ns[0]], m[src:src+ns[0]])
			}
		}
		b, m = nb, m[:ns[0]*ns[1]*ns[2]]
	}
	return b, m, nil
}

// size is the box's extent per axis.
func (b box) size() [3]int {
	return [3]int{b.max[0] - b.min[0], b.max[1] - b.min[1], b.max[2] - b.min[2]}
}

// scatter copies vox, the voxels of box b, into m, a grid of size size.
func (b box) scatter(vox []uint8, size [3]int, m []uint8) {
	bs := b.size()
	for k := 0; k < bs[2]; k++ {
		for j := 0; j < bs[1]; j++ {
			copy(m[((b.min[2]+k)*size[1]+b.min[1]+j)*size[0]+b.min[0]:][:bs[0]], vox[(k*bs[1]+j)*bs[0]:][:bs[0]])
		}
	}
}
