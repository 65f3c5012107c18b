package inference

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/liverseg/liverseg/internal/parallel"
)

// EdgeOptions set the edge refinement: the network's outline moved onto the
// scan's own liver edge. The networks see the CT at 5 mm and, on real
// scans, draw the outline 2–3.5 mm outside the reference (models/README.md,
// "Diagnosis"); the refinement re-decides only a thin band around their
// outline at the scan's own resolution, from the liver's HU measured in the
// same scan. models/training/refine.py is the reference implementation and
// the experiment that chose these settings on held-out cases.
type EdgeOptions struct {
	// BandMM: the band re-decided is the mask dilated minus the mask
	// eroded by this many mm (a box of per-axis half-width
	// floor(mm/spacing + 0.5), at least one voxel).
	BandMM float64
	// CoreMM: the liver's HU is measured in the mask eroded by this much.
	CoreMM float64
	// KLo, KHi: band voxels are liver when their 3×3×3 mean HU lies in
	// [max(m − KLo·s, (m + b)/2), m + KHi·s]: m and s the core's median and
	// robust spread (1.4826·MAD), b the median just outside the mask.
	KLo, KHi float64
	// SmoothMM: the band's decision is smoothed by a majority vote in a box
	// of half-width about SmoothMM (0: none).
	SmoothMM float64
	// MeanHU decides on (and measures) the 3×3×3 mean HU instead of each
	// voxel's own.
	MeanHU bool
}

// EdgeTag is what a mask's provenance (a DICOM SEG's algorithm name, a
// report) adds when its edge was refined from the scan.
const EdgeTag = "edge from scan HU"

// DefaultEdge is the setting measured in models/README.md ("Edge
// refinement").
var DefaultEdge = EdgeOptions{BandMM: 3, CoreMM: 10, KLo: 3, KHi: 4, SmoothMM: 1}

// minCore is the fewest core voxels the liver's HU is measured on; a
// smaller mask is left as the network drew it.
const minCore = 1000

// EdgeStats tell what the refinement measured (HU) and whether it ran.
type EdgeStats struct {
	Applied                     bool
	LiverHU, SpreadHU, AroundHU float64
	LoHU, HiHU                  float64
	// Reason the mask was left unchanged (Applied false).
	Reason string
	// Took is how long the refinement ran.
	Took time.Duration
}

func (s EdgeStats) String() string {
	if !s.Applied {
		return "edge refinement not applied: " + s.Reason
	}
	return fmt.Sprintf("edge refined from the scan: liver %.0f ± %.0f HU, band kept at %.0f…%.0f HU", s.LiverHU, s.SpreadHU, s.LoHU, s.HiHU)
}

// reach is how far (voxels per axis) the refinement reads and writes
// around the mask's bounding box: the band and one voxel.
func (o EdgeOptions) reach(spacing [3]float64) [3]int {
	hb := halfWidths(o.BandMM, spacing)
	return [3]int{hb[0] + 1, hb[1] + 1, hb[2] + 1}
}

// halfWidths is the per-axis box half-width for mm.
func halfWidths(mm float64, spacing [3]float64) [3]int {
	var h [3]int
	for a := 0; a < 3; a++ {
		h[a] = max(1, int(math.Floor(mm/spacing[a]+0.5)))
	}
	return h
}

// HUView is the scan's HU on the grid being refined, read in place: grid
// voxel (i, j, k) is Data[Start + i·Stride[0] + j·Stride[1] + k·Stride[2]]
// (a volume's canonical layout, moved to the grid's first voxel). The
// refinement copies none of the scan: on a 1000-slice series a copy of the
// liver's box was 128 MB.
type HUView struct {
	Data   []int16
	Start  int
	Stride [3]int
}

// SliceView is the HUView of a whole grid held in memory (x fastest).
func SliceView(hu []int16, size [3]int) HUView {
	return HUView{Data: hu, Stride: [3]int{1, size[0], size[0] * size[1]}}
}

// at is the offset of voxel (i, j, k).
func (v HUView) at(i, j, k int) int {
	return v.Start + i*v.Stride[0] + j*v.Stride[1] + k*v.Stride[2]
}

// check reports whether every voxel of a grid of size lies inside Data.
func (v HUView) check(size [3]int) error {
	lo, hi := v.Start, v.Start
	for a := 0; a < 3; a++ {
		d := (size[a] - 1) * v.Stride[a]
		lo, hi = lo+min(d, 0), hi+max(d, 0)
	}
	if lo < 0 || hi >= len(v.Data) {
		return fmt.Errorf("HU view of grid %v reaches offsets %d…%d outside its %d values", size, lo, hi, len(v.Data))
	}
	return nil
}

// sub is the view of the box starting at lo.
func (v HUView) sub(lo [3]int) HUView {
	v.Start = v.at(lo[0], lo[1], lo[2])
	return v
}

// RefineEdge refines mask (0/1, on grid size with spacing, canonical index
// order) in place from the scan's HU, read through hu, then keeps the
// largest component and fills holes as the standard clean-up does.
func RefineEdge(hu HUView, mask []uint8, size [3]int, spacing [3]float64, o EdgeOptions) (EdgeStats, error) {
	n := size[0] * size[1] * size[2]
	if len(mask) != n {
		return EdgeStats{}, fmt.Errorf("edge refinement: grid %v holds %d voxels, mask %d", size, n, len(mask))
	}
	if err := hu.check(size); err != nil {
		return EdgeStats{}, fmt.Errorf("edge refinement: %w", err)
	}
	fb, ok := foregroundBox(size, mask)
	if !ok {
		return EdgeStats{Reason: "empty mask"}, nil
	}
	hb := halfWidths(o.BandMM, spacing)
	hc := halfWidths(o.CoreMM, spacing)
	// The crop: the mask's box plus the band and one voxel.
	var c box
	var cs [3]int
	reach := o.reach(spacing)
	for a := 0; a < 3; a++ {
		c.min[a] = max(fb.min[a]-reach[a], 0)
		c.max[a] = min(fb.max[a]+reach[a], size[a])
		cs[a] = c.max[a] - c.min[a]
	}
	cn := cs[0] * cs[1] * cs[2]
	// Scratch buffers come from a pool: the refinement runs again at every
	// threshold the user settles on, and fresh tens of megabytes each time
	// cost page faults and garbage collection.
	sc := scratchPool.Get().(*refineScratch)
	defer func() {
		// A thin series' buffers (hundreds of MB) are not kept: the output
		// mask allocated next can then reuse their memory.
		if cn <= maxPooled {
			scratchPool.Put(sc)
		}
	}()
	// The crop is the mask itself when it covers the whole grid (the
	// caller already cut the grid to the liver's box): no copy.
	whole := cs == size
	m := mask
	if !whole {
		m = sized(&sc.m, cn)
		for k := 0; k < cs[2]; k++ {
			for j := 0; j < cs[1]; j++ {
				src := ((k+c.min[2])*size[1]+j+c.min[1])*size[0] + c.min[0]
				dst := (k*cs[1] + j) * cs[0]
				copy(m[dst:dst+cs[0]], mask[src:src+cs[0]])
			}
		}
	}
	cv := hu.sub(c.min)
	// Values in units of 27 × HU: with MeanHU the 3×3×3 sums (the crop's
	// edges replicated), else each voxel's own HU (scaled by 27 on use).
	var sums []int32
	if o.MeanHU {
		sums = make([]int32, cn)
		for k := 0; k < cs[2]; k++ {
			for j := 0; j < cs[1]; j++ {
				row := sums[(k*cs[1]+j)*cs[0]:][:cs[0]]
				for i := range row {
					row[i] = int32(cv.Data[cv.at(i, j, k)])
				}
			}
		}
		boxSumClamp(sums, cs)
	}
	// Two scratch masks serve every box operation in turn.
	buf, tmp := sized(&sc.buf, cn), sized(&sc.tmp, cn)
	boxMorph(m, buf, tmp, cs, hc, true)
	core := newHistogram(cv, cs, sums, buf)
	if core.n < minCore {
		return EdgeStats{Reason: fmt.Sprintf("liver too small to measure its HU (%d core voxels)", core.n)}, nil
	}
	med := core.median()
	s := 1.4826 * core.mad(med)
	dil := sized(&sc.dil, cn)
	boxMorph(m, dil, tmp, cs, hb, false)
	ero := buf
	boxMorph(m, ero, tmp, cs, hb, true)
	b := med
	// The ring: dilated, not in the mask (dil − m as 1/0 in tmp).
	andNot(tmp, dil, m)
	if ring := newHistogram(cv, cs, sums, tmp); ring.n > 0 {
		b = ring.median()
	}
	lo := med - o.KLo*s
	lo = math.Max(lo, 0.5*(med+b))
	hi := med + o.KHi*s
	// band: dil − ero, reusing dil.
	band := dil
	andNot(band, dil, ero)
	out := m // m is not needed any more: the band's decision goes in place
	// Row by row (the scan is read through the view), shared among the cores.
	parallel.For(cs[1]*cs[2], 64, func(r0, r1 int) {
		for r := r0; r < r1; r++ {
			j, k := r%cs[1], r/cs[1]
			base := r * cs[0]
			row := band[base : base+cs[0]]
			p0 := cv.at(0, j, k)
			for x0 := 0; x0 < cs[0]; x0 += 8 {
				if x0+8 <= cs[0] && zero8(row, x0) {
					continue
				}
				for x := x0; x < min(x0+8, cs[0]); x++ {
					if row[x] == 0 {
						continue
					}
					var v float64
					if sums != nil {
						v = float64(sums[base+x])
					} else {
						v = 27 * float64(cv.Data[p0+x*cv.Stride[0]])
					}
					out[base+x] = b2u(v >= lo && v <= hi)
				}
			}
		}
	})
	if o.SmoothMM > 0 {
		hw := halfWidths(o.SmoothMM, spacing)
		vol := (2*hw[0] + 1) * (2*hw[1] + 1) * (2*hw[2] + 1)
		if vol > math.MaxUint16 {
			return EdgeStats{}, fmt.Errorf("edge refinement: smoothing box %v too large for spacing %v", hw, spacing)
		}
		if vol <= math.MaxUint8 {
			// Counts fit in bytes: the two free scratch masks hold them.
			cnt := boxCountInto(out, buf, tmp, cs, hw)
			for i0 := 0; i0 < cn; i0 += 8 {
				if i0+8 <= cn && zero8(band, i0) {
					continue
				}
				for i := i0; i < min(i0+8, cn); i++ {
					if band[i] != 0 {
						out[i] = b2u(2*int(cnt[i]) > vol)
					}
				}
			}
		} else {
			cnt := boxCount(out, cs, hw)
			for i := range out {
				if band[i] != 0 {
					out[i] = b2u(2*int(cnt[i]) > vol)
				}
			}
		}
	}
	for k := 0; k < cs[2] && !whole; k++ {
		for j := 0; j < cs[1]; j++ {
			dst := ((k+c.min[2])*size[1]+j+c.min[1])*size[0] + c.min[0]
			src := (k*cs[1] + j) * cs[0]
			copy(mask[dst:dst+cs[0]], out[src:src+cs[0]])
		}
	}
	keepLargestComponent(size, mask)
	fillHoles(size, mask)
	return EdgeStats{Applied: true, LiverHU: med / 27, SpreadHU: s / 27, AroundHU: b / 27, LoHU: lo / 27, HiHU: hi / 27}, nil
}

// refineScratch holds RefineEdge's crop-sized buffers between calls. Every
// one is fully overwritten before it is read.
type refineScratch struct {
	m, buf, tmp, dil []uint8
}

var scratchPool = sync.Pool{New: func() any { return new(refineScratch) }}

// maxPooled is the largest crop (voxels) whose buffers go back to the pool:
// a 512×512×100 study's liver box is well under it, a 1000-slice series'
// well over.
const maxPooled = 32 << 20

// sized returns *p resliced to n elements, reallocated when too small.
func sized[T any](p *[]T, n int) []T {
	if cap(*p) < n {
		*p = make([]T, n)
	}
	*p = (*p)[:n]
	return *p
}

// histogram counts the values (27 × HU) of the voxels where sel is 1:
// sums[i] when sums is non-nil, else 27 × the voxel's HU in the view. Medians come from the
// counts: no list of a million values to sort.
type histogram struct {
	lo     int32   // value of bin 0
	step   int32   // values are lo + step·bin
	counts []int32 // per bin
	n      int     // values counted
}

func newHistogram(hu HUView, size [3]int, sums []int32, sel []uint8) histogram {
	if sums != nil {
		lo, hi := int32(math.MaxInt32), int32(math.MinInt32)
		for i, x := range sel {
			if x != 0 {
				lo, hi = min(lo, sums[i]), max(hi, sums[i])
			}
		}
		if lo > hi {
			return histogram{}
		}
		h := histogram{lo: lo, step: 1, counts: make([]int32, hi-lo+1)}
		for i, x := range sel {
			if x != 0 {
				h.counts[sums[i]-lo]++
				h.n++
			}
		}
		return h
	}
	// Own HU: int16, one bin per HU, read through the view row by row.
	h := histogram{lo: 27 * math.MinInt16, step: 27, counts: make([]int32, 1<<16)}
	sx := size[0]
	for r := 0; r < size[1]*size[2]; r++ {
		row := sel[r*sx : (r+1)*sx]
		p0 := hu.at(0, r%size[1], r/size[1])
		for x0 := 0; x0 < sx; x0 += 8 {
			if x0+8 <= sx && zero8(row, x0) {
				continue
			}
			for x := x0; x < min(x0+8, sx); x++ {
				if row[x] != 0 {
					h.counts[int(hu.Data[p0+x*hu.Stride[0]])-math.MinInt16]++
					h.n++
				}
			}
		}
	}
	return h
}

// zero8 reports whether the eight bytes at sel[i:] are all zero: loops over
// the band, the ring and the core (a tenth to a third of the crop) skip
// eight bytes at a time with it.
func zero8(sel []uint8, i int) bool { return binary.LittleEndian.Uint64(sel[i:]) == 0 }

// andNot sets dst to a &^ b bytewise, eight bytes at a time.
func andNot(dst, a, b []uint8) {
	i := 0
	for ; i+8 <= len(dst); i += 8 {
		binary.LittleEndian.PutUint64(dst[i:], binary.LittleEndian.Uint64(a[i:])&^binary.LittleEndian.Uint64(b[i:]))
	}
	for ; i < len(dst); i++ {
		dst[i] = a[i] &^ b[i]
	}
}

// kth is the k-th smallest value (0-based).
func (h histogram) kth(k int) float64 {
	c := 0
	for i, n := range h.counts {
		c += int(n)
		if c > k {
			return float64(h.lo + int32(i)*h.step)
		}
	}
	return math.NaN()
}

// median is numpy's (the mean of the two middle values for an even count).
func (h histogram) median() float64 {
	if h.n%2 == 1 {
		return h.kth(h.n / 2)
	}
	return 0.5 * (h.kth(h.n/2-1) + h.kth(h.n/2))
}

// mad is the median absolute deviation from med (a median of the values,
// so 2·med is an integer), from the counts alone.
func (h histogram) mad(med float64) float64 {
	m2 := int64(math.Round(2 * med))
	dev := map[int64]int32{}
	var keys []int64
	for i, n := range h.counts {
		if n == 0 {
			continue
		}
		d := abs64(2*int64(h.lo+int32(i)*h.step) - m2)
		if _, ok := dev[d]; !ok {
			keys = append(keys, d)
		}
		dev[d] += n
	}
	slices.Sort(keys)
	kth := func(k int) float64 {
		c := 0
		for _, d := range keys {
			c += int(dev[d])
			if c > k {
				return float64(d)
			}
		}
		return math.NaN()
	}
	if h.n%2 == 1 {
		return kth(h.n/2) / 2
	}
	return (kth(h.n/2-1) + kth(h.n/2)) / 4
}

func abs64(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}

// lines calls f(start, stride, length) for every line of a grid of size
// along axis a.
func lines(size [3]int, a int, f func(start, stride, n int)) {
	strides := [3]int{1, size[0], size[0] * size[1]}
	b, c := (a+1)%3, (a+2)%3
	for y := 0; y < size[c]; y++ {
		for x := 0; x < size[b]; x++ {
			f(x*strides[b]+y*strides[c], strides[a], size[a])
		}
	}
}

// boxSumClamp turns v into its 3×3×3 sums with indices clamped to the grid
// (scipy's mode "nearest"), in place, one line buffer per pass.
func boxSumClamp(v []int32, size [3]int) {
	buf := make([]int32, max(size[0], size[1], size[2]))
	for a := 0; a < 3; a++ {
		lines(size, a, func(start, stride, n int) {
			for i := 0; i < n; i++ {
				buf[i] = v[start+i*stride]
			}
			for i := 0; i < n; i++ {
				v[start+i*stride] = buf[max(i-1, 0)] + buf[i] + buf[min(i+1, n-1)]
			}
		})
	}
}

// slide runs a 1-D window of half-width w along axis a of a grid of size
// over src and writes into dst, for every element, the count in its window
// (thr 0) or 1 where that count is at least thr and 0 elsewhere. Lines
// along y and z are processed a row (or plane) at a time with a running
// count per column, so every access is contiguous; rows, planes or column
// ranges are shared among the cores.
func slide[T uint8 | uint16](src, dst []T, size [3]int, a, w int, thr int32) {
	emit := func(out []T, cnt []int32) {
		if thr == 0 {
			for x, c := range cnt {
				out[x] = T(c)
			}
			return
		}
		for x, c := range cnt {
			out[x] = T(b2u(c >= thr))
		}
	}
	sx, sxy := size[0], size[0]*size[1]
	if s8, ok := any(src).([]uint8); ok && a == 0 && thr == 0 && w <= 3 {
		countXSWAR(s8, any(dst).([]uint8), size, w)
		return
	}
	if a == 0 {
		parallel.For(size[1]*size[2], 64, func(r0, r1 int) {
			cnt := make([]int32, sx)
			for r := r0; r < r1; r++ {
				line := src[r*sx : (r+1)*sx]
				var c int32
				for i := 0; i < min(w, sx); i++ {
					c += int32(line[i])
				}
				for i := 0; i < sx; i++ {
					if j := i + w; j < sx {
						c += int32(line[j])
					}
					if j := i - w - 1; j >= 0 {
						c -= int32(line[j])
					}
					cnt[i] = c
				}
				emit(dst[r*sx:(r+1)*sx], cnt)
			}
		})
		return
	}
	// run slides along rows (a = 1, within plane blk) or planes (a = 2) for
	// the columns [x0, x1) of a row or plane.
	run := func(base, step, n, x0, x1 int) {
		cnt := make([]int32, x1-x0)
		for y := 0; y < min(w, n); y++ {
			for x, v := range src[base+y*step+x0 : base+y*step+x1] {
				cnt[x] += int32(v)
			}
		}
		for y := 0; y < n; y++ {
			if j := y + w; j < n {
				for x, v := range src[base+j*step+x0 : base+j*step+x1] {
					cnt[x] += int32(v)
				}
			}
			if j := y - w - 1; j >= 0 {
				for x, v := range src[base+j*step+x0 : base+j*step+x1] {
					cnt[x] -= int32(v)
				}
			}
			emit(dst[base+y*step+x0:base+y*step+x1], cnt)
		}
	}
	// Byte data whose window counts fit in a byte: eight columns per
	// machine word (runSWAR), the last few columns by run.
	s8, isBytes := any(src).([]uint8)
	d8, _ := any(dst).([]uint8)
	swar := isBytes && 2*w+1 <= math.MaxUint8 && (thr == 0 || thr == 1 || thr == int32(2*w+1))
	cols := func(base, step, n, x0, x1 int) {
		if !swar {
			run(base, step, n, x0, x1)
			return
		}
		mid := x0 + (x1-x0)/8*8
		runSWAR(s8, d8, base, step, n, x0, mid, w, thr)
		if mid < x1 {
			run(base, step, n, mid, x1)
		}
	}
	if a == 1 {
		parallel.For(size[2], 2, func(b0, b1 int) {
			for b := b0; b < b1; b++ {
				cols(b*sxy, sx, size[1], 0, sx)
			}
		})
		return
	}
	// Column ranges in whole words.
	words := (sxy + 7) / 8
	parallel.For(words, 512, func(w0, w1 int) { cols(0, sxy, size[2], w0*8, min(w1*8, sxy)) })
}

// countXSWAR is slide's count along x (thr 0) for byte data and a small
// window (2w+1 ≤ 7, so a count never carries into the next byte): eight
// voxels at a time, as the sum of the row read at 2w+1 shifts, from a copy
// of the row with w zeros each side.
func countXSWAR(src, dst []uint8, size [3]int, w int) {
	sx := size[0]
	parallel.For(size[1]*size[2], 64, func(r0, r1 int) {
		buf := make([]uint8, sx+2*w+8)
		var tail [8]uint8
		for r := r0; r < r1; r++ {
			copy(buf[w:], src[r*sx:(r+1)*sx])
			out := dst[r*sx : (r+1)*sx]
			for i := 0; i < sx; i += 8 {
				var c uint64
				for d := 0; d <= 2*w; d++ {
					c += binary.LittleEndian.Uint64(buf[i+d:])
				}
				if i+8 <= sx {
					binary.LittleEndian.PutUint64(out[i:], c)
				} else {
					binary.LittleEndian.PutUint64(tail[:], c)
					copy(out[i:], tail[:])
				}
			}
		}
	})
}

// SWAR constants: every byte 0x01, 0x7f, 0x80.
const (
	ones8 = 0x0101010101010101
	low7  = 0x7f7f7f7f7f7f7f7f
)

// runSWAR is slide's running window along rows (or planes) for byte data,
// the columns [x0, x1) (a multiple of eight) eight at a time: each byte of a
// uint64 is one column's count, which stays below 256 (the caller checks),
// so adding and removing whole rows never carries between columns. thr is
// 0 (write the counts), 1 (write count > 0) or 2w+1 (write count == 2w+1).
func runSWAR(src, dst []uint8, base, step, n, x0, x1, w int, thr int32) {
	nw := (x1 - x0) / 8
	if nw == 0 {
		return
	}
	cnt := make([]uint64, nw)
	for y := 0; y < min(w, n); y++ {
		row := src[base+y*step+x0 : base+y*step+x1]
		for q := range cnt {
			cnt[q] += binary.LittleEndian.Uint64(row[8*q:])
		}
	}
	full := uint64(2*w+1) * ones8
	none := make([]uint8, x1-x0) // a row of zeros: adding or removing it is a no-op
	for y := 0; y < n; y++ {
		// One pass per output row: add the row entering the window, remove
		// the one leaving it, write the result.
		in, gone := none, none
		if j := y + w; j < n {
			in = src[base+j*step+x0 : base+j*step+x1]
		}
		if j := y - w - 1; j >= 0 {
			gone = src[base+j*step+x0 : base+j*step+x1]
		}
		out := dst[base+y*step+x0 : base+y*step+x1]
		in, gone, out = in[:8*nw], gone[:8*nw], out[:8*nw]
		for q := range cnt {
			c := cnt[q] + binary.LittleEndian.Uint64(in[8*q:]) - binary.LittleEndian.Uint64(gone[8*q:])
			cnt[q] = c
			var v uint64
			switch thr {
			case 0:
				v = c
			case 1: // a byte is non-zero: its low seven bits or its top bit
				v = (((c & low7) + low7) | c) >> 7 & ones8
			default: // a byte equals 2w+1: c XOR full is zero there
				x := c ^ full
				v = ^(((x & low7) + low7) | x | low7) >> 7 & ones8
			}
			binary.LittleEndian.PutUint64(out[8*q:], v)
		}
	}
}

// boxCount counts the ones of m in a box of half-widths h around each voxel,
// the outside counted as 0 (a small box: the count must fit in uint16).
func boxCount(m []uint8, size [3]int, h [3]int) []uint16 {
	cur := make([]uint16, len(m))
	for i, x := range m {
		cur[i] = uint16(x)
	}
	next := make([]uint16, len(m))
	for a := 0; a < 3; a++ {
		slide(cur, next, size, a, h[a], 0)
		cur, next = next, cur
	}
	return cur
}

// boxCountInto is boxCount with byte counts (the box holds at most 255
// voxels), written into a or b, which it uses as scratch; it returns the
// one holding the counts.
func boxCountInto(m, a, b []uint8, size [3]int, h [3]int) []uint8 {
	slide(m, a, size, 0, h[0], 0)
	slide(a, b, size, 1, h[1], 0)
	slide(b, a, size, 2, h[2], 0)
	return a
}

// boxMorph writes into dst the box dilation (erode false: 1 where the box
// of half-widths h holds a one) or erosion (erode true: 1 where the whole
// box, the outside counted as 0, holds ones) of m, as three 1-D passes
// (tmp: scratch of the same length).
func boxMorph(m, dst, tmp []uint8, size [3]int, h [3]int, erode bool) {
	thr := func(a int) int32 {
		if erode {
			return int32(2*h[a] + 1)
		}
		return 1
	}
	// m → dst → tmp → dst. Along x the output is made from the runs of
	// ones (found with bytes.IndexByte), along y and z by running counts
	// eight columns per word (slide's runSWAR); BenchmarkBoxMorph compares
	// them with the alternatives.
	morphXRuns(m, dst, size, h[0], erode)
	slide(dst, tmp, size, 1, h[1], thr(1))
	slide(tmp, dst, size, 2, h[2], thr(2))
}

// morphXRuns is the 1-D dilation or erosion (outside counted as 0) of a 0/1
// grid along x by its runs of ones: a run [s, e) erodes to [s+w, e−w) and
// dilates to [s−w, e+w) within the row. Inside a liver the runs are long,
// so the work is a few vectorised byte searches and fills per row.
func morphXRuns(src, dst []uint8, size [3]int, w int, erode bool) {
	sx := size[0]
	parallel.For(size[1]*size[2], 64, func(r0, r1 int) {
		full := bytes.Repeat([]byte{1}, sx)
		for r := r0; r < r1; r++ {
			in, out := src[r*sx:(r+1)*sx], dst[r*sx:(r+1)*sx]
			clear(out)
			for i := 0; i < sx; {
				j := bytes.IndexByte(in[i:], 1)
				if j < 0 {
					break
				}
				s := i + j
				e := sx
				if k := bytes.IndexByte(in[s:], 0); k >= 0 {
					e = s + k
				}
				a, b := max(s-w, 0), min(e+w, sx)
				if erode {
					a, b = s+w, e-w
				}
				if a < b {
					copy(out[a:b], full)
				}
				i = e
			}
		}
	})
}
