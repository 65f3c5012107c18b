package inference

import (
	"fmt"
	"math"
	"slices"
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
}

func (s EdgeStats) String() string {
	if !s.Applied {
		return "edge refinement not applied: " + s.Reason
	}
	return fmt.Sprintf("edge refined from the scan: liver %.0f ± %.0f HU, band kept at %.0f…%.0f HU", s.LiverHU, s.SpreadHU, s.LoHU, s.HiHU)
}

// halfWidths is the per-axis box half-width for mm.
func halfWidths(mm float64, spacing [3]float64) [3]int {
	var h [3]int
	for a := 0; a < 3; a++ {
		h[a] = max(1, int(math.Floor(mm/spacing[a]+0.5)))
	}
	return h
}

// HUCrop fills dst (x fastest) with the HU of the box [lo, hi) of the grid
// being refined. It lets the refinement read only the few voxels around the
// liver, without a copy of the whole scan.
type HUCrop func(lo, hi [3]int, dst []int16) error

// SliceCrop is the HUCrop of a whole grid held in memory (x fastest).
func SliceCrop(hu []int16, size [3]int) HUCrop {
	return func(lo, hi [3]int, dst []int16) error {
		if len(hu) != size[0]*size[1]*size[2] {
			return fmt.Errorf("HU grid %v holds %d values", size, len(hu))
		}
		d := 0
		for k := lo[2]; k < hi[2]; k++ {
			for j := lo[1]; j < hi[1]; j++ {
				o := (k*size[1]+j)*size[0] + lo[0]
				d += copy(dst[d:d+hi[0]-lo[0]], hu[o:])
			}
		}
		return nil
	}
}

// RefineEdge refines mask (0/1, on grid size with spacing, canonical index
// order) in place from the scan's HU, read through hu, then keeps the
// largest component and fills holes as the standard clean-up does.
func RefineEdge(hu HUCrop, mask []uint8, size [3]int, spacing [3]float64, o EdgeOptions) (EdgeStats, error) {
	n := size[0] * size[1] * size[2]
	if len(mask) != n {
		return EdgeStats{}, fmt.Errorf("edge refinement: grid %v holds %d voxels, mask %d", size, n, len(mask))
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
	for a := 0; a < 3; a++ {
		c.min[a] = max(fb.min[a]-hb[a]-1, 0)
		c.max[a] = min(fb.max[a]+hb[a]+1, size[a])
		cs[a] = c.max[a] - c.min[a]
	}
	cn := cs[0] * cs[1] * cs[2]
	m := make([]uint8, cn)
	for k := 0; k < cs[2]; k++ {
		for j := 0; j < cs[1]; j++ {
			src := ((k+c.min[2])*size[1]+j+c.min[1])*size[0] + c.min[0]
			dst := (k*cs[1] + j) * cs[0]
			copy(m[dst:dst+cs[0]], mask[src:src+cs[0]])
		}
	}
	raw := make([]int16, cn)
	if err := hu(c.min, c.max, raw); err != nil {
		return EdgeStats{}, fmt.Errorf("edge refinement: %w", err)
	}
	h := make([]int32, cn)
	for i, x := range raw {
		h[i] = int32(x)
	}
	raw = nil
	// HU in units of 27 × HU: with MeanHU the 3×3×3 sums (the crop's
	// edges replicated), else each voxel's own HU × 27.
	if o.MeanHU {
		boxSumClamp(h, cs)
	} else {
		for i := range h {
			h[i] *= 27
		}
	}
	sums := h
	core := boxMorph(m, cs, hc, true)
	nc := 0
	for _, x := range core {
		nc += int(x)
	}
	cv := make([]int32, 0, nc)
	for i, x := range core {
		if x != 0 {
			cv = append(cv, sums[i])
		}
	}
	if len(cv) < minCore {
		return EdgeStats{Reason: fmt.Sprintf("liver too small to measure its HU (%d core voxels)", len(cv))}, nil
	}
	med := median(cv)
	s := 1.4826 * mad(cv, med)
	dil := boxMorph(m, cs, hb, false)
	ero := boxMorph(m, cs, hb, true)
	var ring []int32
	for i := range m {
		if dil[i] != 0 && m[i] == 0 {
			ring = append(ring, sums[i])
		}
	}
	b := med
	if len(ring) > 0 {
		b = median(ring)
	}
	lo := med - o.KLo*s
	lo = math.Max(lo, 0.5*(med+b))
	hi := med + o.KHi*s
	out := slices.Clone(m)
	for i := range out {
		if dil[i] != 0 && ero[i] == 0 {
			v := float64(sums[i])
			out[i] = b2u(v >= lo && v <= hi)
		}
	}
	if o.SmoothMM > 0 {
		hw := halfWidths(o.SmoothMM, spacing)
		if (2*hw[0]+1)*(2*hw[1]+1)*(2*hw[2]+1) > math.MaxUint16 {
			return EdgeStats{}, fmt.Errorf("edge refinement: smoothing box %v too large for spacing %v", hw, spacing)
		}
		cnt := boxCount(out, cs, hw)
		vol := (2*hw[0] + 1) * (2*hw[1] + 1) * (2*hw[2] + 1)
		for i := range out {
			if dil[i] != 0 && ero[i] == 0 {
				out[i] = b2u(2*int(cnt[i]) > vol)
			}
		}
	}
	for k := 0; k < cs[2]; k++ {
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

// median is numpy's median (the mean of the two middle values for an even
// count) of integers, by counting when their range is small (the usual
// case: HU × 27) and by sorting otherwise; v may be reordered.
func median(v []int32) float64 {
	n := len(v)
	lo, hi := slices.Min(v), slices.Max(v)
	if int64(hi)-int64(lo) > 1<<22 {
		slices.Sort(v)
		if n%2 == 1 {
			return float64(v[n/2])
		}
		return 0.5 * (float64(v[n/2-1]) + float64(v[n/2]))
	}
	hist := make([]int32, hi-lo+1)
	for _, x := range v {
		hist[x-lo]++
	}
	// kth is the k-th smallest (0-based).
	kth := func(k int) float64 {
		c := 0
		for i, h := range hist {
			c += int(h)
			if c > k {
				return float64(int32(i) + lo)
			}
		}
		return float64(hi)
	}
	if n%2 == 1 {
		return kth(n / 2)
	}
	return 0.5 * (kth(n/2-1) + kth(n/2))
}

// mad is the median absolute deviation of v from med (a median of v, so
// 2·med is an integer).
func mad(v []int32, med float64) float64 {
	m2 := int64(math.Round(2 * med))
	d := make([]int32, len(v))
	for i, x := range v {
		d[i] = int32(min(max(abs64(2*int64(x)-m2), 0), math.MaxInt32))
	}
	return median(d) / 2
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
// count per column, so every access is contiguous.
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
	if a == 0 {
		cnt := make([]int32, sx)
		for r := 0; r < size[1]*size[2]; r++ {
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
		return
	}
	// width: elements per row (a = 1) or plane (a = 2); n: rows per plane
	// or planes; blocks: planes (a = 1) or 1.
	width, n, blocks, step := sx, size[1], size[2], sx
	if a == 2 {
		width, n, blocks, step = sxy, size[2], 1, sxy
	}
	cnt := make([]int32, width)
	for b := 0; b < blocks; b++ {
		base := b * sxy
		clear(cnt)
		for y := 0; y < min(w, n); y++ {
			for x, v := range src[base+y*step : base+y*step+width] {
				cnt[x] += int32(v)
			}
		}
		for y := 0; y < n; y++ {
			if j := y + w; j < n {
				for x, v := range src[base+j*step : base+j*step+width] {
					cnt[x] += int32(v)
				}
			}
			if j := y - w - 1; j >= 0 {
				for x, v := range src[base+j*step : base+j*step+width] {
					cnt[x] -= int32(v)
				}
			}
			emit(dst[base+y*step:base+y*step+width], cnt)
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

// boxMorph is the box dilation (erode false: 1 where the box of half-widths
// h holds a one) or erosion (erode true: 1 where the whole box, the outside
// counted as 0, holds ones) of m, as three 1-D passes.
func boxMorph(m []uint8, size [3]int, h [3]int, erode bool) []uint8 {
	cur := slices.Clone(m)
	next := make([]uint8, len(m))
	for a := 0; a < 3; a++ {
		thr := int32(1)
		if erode {
			thr = int32(2*h[a] + 1)
		}
		slide(cur, next, size, a, h[a], thr)
		cur, next = next, cur
	}
	return cur
}
