package inference

import (
	"bytes"
	"encoding/binary"
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
	upsampleThresholdBox(prob, out, box{max: out}, spacing, t, mask)
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
// of box ob (mask voxels outside it are left as they are).
func upsampleThresholdBox(prob *ProbMap, out [3]int, ob box, spacing [3]float64, t float64, mask []uint8) {
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
				dst := mask[((ob.min[2]+k)*out[1]+ob.min[1]+j)*out[0]+ob.min[0]:][:ox]
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

// flood marks with mark every voxel of value from that is 6-connected,
// inside box b, to one of the seeds (offsets of voxels holding from; others
// are ignored), and returns how many it marked. It fills whole x-runs at a
// time (scan-line flood fill), pushing one seed per run of the rows above,
// below, in front and behind, so the stack stays small and the inner loops
// are byte scans. Offsets are int32: callers refuse grids beyond 2³¹ voxels.
func flood(size [3]int, m []uint8, b box, stack []int32, from, mark uint8) ([]int32, int) {
	sx, sxy := size[0], size[0]*size[1]
	count := 0
	for len(stack) > 0 {
		o := int(stack[len(stack)-1])
		stack = stack[:len(stack)-1]
		if m[o] != from {
			continue
		}
		k := o / sxy
		j := (o - k*sxy) / sx
		i := o - k*sxy - j*sx
		row := o - i
		i0, i1 := i, i
		for i0 > b.min[0] && m[row+i0-1] == from {
			i0--
		}
		for i1+1 < b.max[0] && m[row+i1+1] == from {
			i1++
		}
		run := m[row+i0 : row+i1+1]
		for x := range run {
			run[x] = mark
		}
		count += len(run)
		if j > b.min[1] {
			stack = pushRuns(m, row-sx, i0, i1+1, from, stack)
		}
		if j+1 < b.max[1] {
			stack = pushRuns(m, row+sx, i0, i1+1, from, stack)
		}
		if k > b.min[2] {
			stack = pushRuns(m, row-sxy, i0, i1+1, from, stack)
		}
		if k+1 < b.max[2] {
			stack = pushRuns(m, row+sxy, i0, i1+1, from, stack)
		}
	}
	return stack, count
}

// pushRuns pushes the first offset of every run of value from in
// m[row+lo : row+hi]. Run starts are found with bytes.IndexByte and run
// interiors skipped eight bytes at a time: this scan is most of the work of
// a flood.
func pushRuns(m []uint8, row, lo, hi int, from uint8, stack []int32) []int32 {
	seg := m[row+lo : row+hi]
	rep := uint64(from) * 0x0101010101010101
	for x := 0; x < len(seg); {
		i := bytes.IndexByte(seg[x:], from)
		if i < 0 {
			break
		}
		x += i
		stack = append(stack, int32(row+lo+x))
		x++
		for x+8 <= len(seg) && binary.LittleEndian.Uint64(seg[x:]) == rep {
			x += 8
		}
		for x < len(seg) && seg[x] == from {
			x++
		}
	}
	return stack
}

// keepLargestComponent keeps the largest 6-connected component of the
// foreground (values 1) and clears the rest. Ties keep the component met
// first in x-fastest voxel order. Work is limited to the foreground's
// bounding box.
func keepLargestComponent(size [3]int, m []uint8) {
	b, ok := foregroundBox(size, m)
	if !ok {
		return
	}
	const seen, keep = 2, 3
	// Usually the liver is one component: when the first flood reaches
	// every foreground voxel, the second flood (marking the largest) is
	// skipped and the seen marks simply become 1 again.
	total := 0
	for k := b.min[2]; k < b.max[2]; k++ {
		for j := b.min[1]; j < b.max[1]; j++ {
			o := (k*size[1]+j)*size[0] + b.min[0]
			total += bytes.Count(m[o:o+b.max[0]-b.min[0]], []byte{1})
		}
	}
	var stack []int32
	best, bestSeed := 0, -1
	for k := b.min[2]; k < b.max[2]; k++ {
		for j := b.min[1]; j < b.max[1]; j++ {
			row := (k*size[1]+j)*size[0] + b.min[0]
			line := m[row : row+b.max[0]-b.min[0]]
			for p := 0; ; {
				x := bytes.IndexByte(line[p:], 1)
				if x < 0 {
					break
				}
				o := row + p + x
				var n int
				stack, n = flood(size, m, b, append(stack[:0], int32(o)), 1, seen)
				if n == total {
					relabel(size, m, b, seen)
					return
				}
				if n > best {
					best, bestSeed = n, o
				}
				p += x + 1
			}
		}
	}
	flood(size, m, b, append(stack[:0], int32(bestSeed)), seen, keep)
	relabel(size, m, b, keep)
}

// relabel sets the voxels of box b to 1 where they equal v and to 0
// elsewhere.
func relabel(size [3]int, m []uint8, b box, v uint8) {
	for k := b.min[2]; k < b.max[2]; k++ {
		for j := b.min[1]; j < b.max[1]; j++ {
			o := (k*size[1]+j)*size[0] + b.min[0]
			row := m[o : o+b.max[0]-b.min[0]]
			for i, x := range row {
				row[i] = b2u(x == v)
			}
		}
	}
}

// fillHoles sets to 1 every background voxel that is not 6-connected to the
// border of the grid. Only the foreground's bounding box grown by one voxel
// needs a flood: background outside the foreground's box reaches the border
// in a straight line, so the grown box's faces are border-connected seeds.
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
	const outside = 2
	var stack []int32
	for k := b.min[2]; k < b.max[2]; k++ {
		for j := b.min[1]; j < b.max[1]; j++ {
			row := (k*size[1] + j) * size[0]
			if j == b.min[1] || j == b.max[1]-1 || k == b.min[2] || k == b.max[2]-1 {
				stack = pushRuns(m, row, b.min[0], b.max[0], 0, stack)
				continue
			}
			for _, i := range [2]int{b.min[0], b.max[0] - 1} {
				if m[row+i] == 0 {
					stack = append(stack, int32(row+i))
				}
			}
		}
	}
	flood(size, m, b, stack, 0, outside)
	for k := b.min[2]; k < b.max[2]; k++ {
		for j := b.min[1]; j < b.max[1]; j++ {
			o := (k*size[1]+j)*size[0] + b.min[0]
			row := m[o : o+b.max[0]-b.min[0]]
			for i, x := range row {
				row[i] = b2u(x != outside)
			}
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
	n := size[0] * size[1] * size[2]
	if n <= 0 || n > math.MaxInt32 {
		return nil, fmt.Errorf("mask grid %v: size out of range", size)
	}
	if len(prob.Data) != prob.NumVoxels() || prob.NumVoxels() == 0 {
		return nil, fmt.Errorf("probability map of size %v holds %d values", prob.Size, len(prob.Data))
	}
	m := make([]uint8, n)
	// Only the box that can exceed the threshold is upsampled (the rest
	// stays 0): the same voxels as upsampling the whole grid, a fraction of
	// the work on a scan whose liver fills a small part of the field.
	if b, ok := hotBox(prob, size, spacing, o.Threshold); ok {
		upsampleThresholdBox(prob, size, b, spacing, o.Threshold, m)
	}
	if o.LargestComponent {
		keepLargestComponent(size, m)
	}
	if o.FillHoles {
		fillHoles(size, m)
	}
	return m, nil
}
