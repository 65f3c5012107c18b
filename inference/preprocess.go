package inference

import (
	"fmt"
	"math"

	"github.com/liverseg/liverseg/internal/parallel"
	"github.com/liverseg/liverseg/volume"
)

// NetInput is a volume resampled, clipped, normalised and padded for a
// network: the tensor "ct" of shape [1, 1, Padded[2], Padded[1], Padded[0]]
// with x (index axis i) fastest.
type NetInput struct {
	Data    []float32
	Size    [3]int  // resampled grid along i, j, k, before padding
	Padded  [3]int  // after padding each axis at its end to a multiple of M
	Spacing float64 // isotropic spacing of the resampled grid, mm
}

// ResampledSize is the grid the rule of the model cards gives for an axis of
// n voxels spaced sp mm apart, resampled to s mm: floor((n−1)·sp/s) + 1, so
// that the last output voxel never lies beyond the last input voxel. The
// small epsilon keeps an exact multiple (e.g. 2 mm → 1 mm) from losing a
// voxel to floating-point rounding.
func ResampledSize(n int, sp, s float64) int {
	return int(math.Floor(float64(n-1)*sp/s+1e-9)) + 1
}

// axisTable holds, for each output position of one axis, the two input
// indices and the weight of the upper one for linear interpolation, with the
// input coordinate clamped to [0, nIn−1]. It follows the reference
// implementation (models/training/lsdata.py) to the bit: lo = min(floor(c),
// n−1), hi = min(lo+1, n−1), w = float32(c − lo), value = a + w·(b − a) in
// float32.
type axisTable struct {
	lo, hi []int32
	w      []float32
}

// newAxisTable maps nOut output positions t to input coordinates t·step
// (computed in float64).
func newAxisTable(nOut, nIn int, step float64) axisTable {
	return newAxisTableFrom(0, nOut, nIn, step)
}

// newAxisTableFrom is the table of output positions first … first+nOut−1.
func newAxisTableFrom(first, nOut, nIn int, step float64) axisTable {
	t := axisTable{lo: make([]int32, nOut), hi: make([]int32, nOut), w: make([]float32, nOut)}
	for o := 0; o < nOut; o++ {
		c := math.Min(math.Max(float64(first+o)*step, 0), float64(nIn-1))
		lo := min(int(math.Floor(c)), nIn-1)
		t.lo[o] = int32(lo)
		t.hi[o] = int32(min(lo+1, nIn-1))
		t.w[o] = float32(c - float64(lo))
	}
	return t
}

// lerp is a + w·(b − a) rounded to float32 at every step; the explicit
// conversion forbids the compiler to fuse it into an FMA, which would
// round differently from the reference.
func lerp(a, b, w float32) float32 { return a + float32(w*(b-a)) }

// Preprocess turns a volume of any orientation into the network input
// described by p, working on its canonical view (index axes towards L, P,
// S; volume.Geometry.CanonicalGeometry) without copying it: trilinear
// resampling to p.SpacingMM with the grid rule of ResampledSize (output
// voxel t sits at canonical index t·S/spacing), clipping to p.HUClip,
// (x − center)/scale, and padding at the end of each axis to a multiple of
// p.SizeMultiple with p.PadValue. The interpolation is separable, x then y
// then z, in float32, as the reference implementation does it.
//
// It fails when the resampled grid is smaller than p.SizeMultiple along any
// axis: a network cannot say anything useful about a scan thinner than one
// of its own tiles.
func Preprocess(v *volume.Volume, p Preprocessing) (*NetInput, error) {
	return PreprocessROI(v, Box{Max: v.CanonicalGeometry().Size}, p)
}

// PreprocessROI is Preprocess restricted to a box of the canonical view.
func PreprocessROI(v *volume.Volume, roi Box, p Preprocessing) (*NetInput, error) {
	if err := v.Geometry.Validate(); err != nil {
		return nil, err
	}
	if len(v.Voxels) != v.NumVoxels() {
		return nil, fmt.Errorf("volume has %d voxels, its size %v needs %d", len(v.Voxels), v.Size, v.NumVoxels())
	}
	cg := v.CanonicalGeometry()
	for a := 0; a < 3; a++ {
		if roi.Empty() || roi.Min[a] < 0 || roi.Max[a] > cg.Size[a] {
			return nil, fmt.Errorf("region of interest %v..%v is empty or outside the volume (canonical size %v)", roi.Min, roi.Max, cg.Size)
		}
	}
	start, stride := v.CanonicalLayout()
	s := p.SpacingMM[0]
	m := max(p.SizeMultiple, 1)
	var in, out, padded [3]int
	var tab [3]axisTable
	for a := 0; a < 3; a++ {
		in[a] = roi.Max[a] - roi.Min[a]
		out[a] = ResampledSize(in[a], cg.Spacing[a], s)
		if out[a] < m {
			ext := float64(in[a]-1) * cg.Spacing[a]
			return nil, fmt.Errorf("input too small for the network: %.1f mm along axis %c (%d voxels at %.3g mm) resamples to %d voxels at %.3g mm, and the network needs at least %d voxels (a scan at least %.0f mm long along that axis)",
				ext, "xyz"[a], in[a], cg.Spacing[a], out[a], s, m, float64(m-1)*s)
		}
		padded[a] = (out[a] + m - 1) / m * m
		tab[a] = newAxisTable(out[a], in[a], s/cg.Spacing[a])
		start += roi.Min[a] * stride[a]
	}
	ny, nz := in[1], in[2]
	ox, oy, oz := out[0], out[1], out[2]
	px, py := padded[0], padded[1]

	// Passes 1 and 2, slice by slice: x then y, int16 canonical slice k →
	// float32 plane [oy][ox] in low. Only these low-res planes of every
	// input slice are kept, never a full-resolution float volume.
	// Pass 3 reads only the input slices that bracket an output slice:
	// on a thin-slice study (0.6 mm slices resampled to 5 mm) that is one
	// in four or fewer, so the others are never touched.
	needed := neededSlices(tab[2], nz)
	// at[k] is where input slice k's low-res plane lies in low (only the
	// needed ones have one).
	at := make([]int, nz)
	for n, k := range needed {
		at[k] = n * oy * ox
	}
	low := make([]float32, ox*oy*len(needed))
	parallel.For(len(needed), 0, func(n0, n1 int) {
		rows := make([]float32, ox*ny)
		for _, k := range needed[n0:n1] {
			for j := 0; j < ny; j++ {
				base := start + j*stride[1] + k*stride[2]
				dst := rows[j*ox : (j+1)*ox]
				for i := range dst {
					a := float32(v.Voxels[base+int(tab[0].lo[i])*stride[0]])
					b := float32(v.Voxels[base+int(tab[0].hi[i])*stride[0]])
					dst[i] = lerp(a, b, tab[0].w[i])
				}
			}
			plane := low[at[k]:][:oy*ox]
			for j := 0; j < oy; j++ {
				r0 := rows[int(tab[1].lo[j])*ox:][:ox]
				r1 := rows[int(tab[1].hi[j])*ox:][:ox]
				w := tab[1].w[j]
				dst := plane[j*ox:][:ox]
				for i := range dst {
					dst[i] = lerp(r0[i], r1[i], w)
				}
			}
		}
	})
	// Pass 3, along z, fused with clip, normalisation and padding:
	// [nz][oy][ox] → [pz][py][px].
	lo, hi := float32(p.HUClip[0]), float32(p.HUClip[1])
	center, scale := float32(p.Normalize.Center), float32(p.Normalize.Scale)
	pad := float32(p.PadValue)
	res := make([]float32, padded[0]*padded[1]*padded[2])
	for n := range res {
		res[n] = pad
	}
	parallel.For(oz, 0, func(k0, k1 int) {
		for k := k0; k < k1; k++ {
			s0 := low[at[tab[2].lo[k]]:][:oy*ox]
			s1 := low[at[tab[2].hi[k]]:][:oy*ox]
			w := tab[2].w[k]
			for j := 0; j < oy; j++ {
				dst := res[(k*py+j)*px:][:ox]
				r0, r1 := s0[j*ox:][:ox], s1[j*ox:][:ox]
				for i := range dst {
					x := lerp(r0[i], r1[i], w)
					x = min(max(x, lo), hi)
					dst[i] = float32(x-center) / scale
				}
			}
		}
	})
	return &NetInput{Data: res, Size: out, Padded: padded, Spacing: s}, nil
}

// neededSlices lists, in increasing order, the input slices (0..nz−1) that
// an axis table reads.
func neededSlices(t axisTable, nz int) []int {
	need := make([]bool, nz)
	for o := range t.lo {
		need[t.lo[o]] = true
		need[t.hi[o]] = true
	}
	var ks []int
	for k, ok := range need {
		if ok {
			ks = append(ks, k)
		}
	}
	return ks
}

// SlicesRead lists the slices along the volume's own k axis (its file
// order, e.g. a DICOM series' sorted slices) that Preprocess reads for a
// network with preprocessing p on the whole volume of geometry g, in
// increasing order. A viewer loads them first and starts the network
// before the rest of a thin-slice series has arrived. When k is not the
// canonical slice axis (a sagittal or coronal acquisition), every slice
// is needed and all are returned.
func SlicesRead(g volume.Geometry, p Preprocessing) []int {
	all := func() []int {
		ks := make([]int, g.Size[2])
		for k := range ks {
			ks[k] = k
		}
		return ks
	}
	o := g.NearestOrientation()
	if o.Axis[2] != 2 || p.SpacingMM[0] <= 0 || g.Size[2] < 1 {
		return all()
	}
	nz := g.Size[2]
	tab := newAxisTable(ResampledSize(nz, g.Spacing[2], p.SpacingMM[0]), nz, p.SpacingMM[0]/g.Spacing[2])
	ks := neededSlices(tab, nz)
	if o.Sign[2] < 0 {
		// Canonical k runs against the file's k.
		for i, k := range ks {
			ks[i] = nz - 1 - k
		}
		for i, j := 0, len(ks)-1; i < j; i, j = i+1, j-1 {
			ks[i], ks[j] = ks[j], ks[i]
		}
	}
	return ks
}
