package inference

import (
	"fmt"
	"math"
	"runtime"
	"time"

	"github.com/liverseg/liverseg/volume"
)

// Result is one segmentation. It keeps the low-resolution probability map
// so that the threshold and clean-up can be changed later (Threshold,
// Apply) without running the network again, and so that a viewer can show
// the probability itself (ProbAt, ProbSlice).
type Result struct {
	Model string
	// Prob is the liver probability on the network grid, covering Net of
	// the canonical input; 0 at the grid points outside ROI, so that a
	// viewer drawing the map draws nothing outside the box.
	Prob *ProbMap
	// Mask is the segmentation (0/1) on the input volume's own grid.
	Mask *volume.Mask
	// Post is how Mask was made from Prob.
	Post PostOptions
	// ROI is the canonical box the mask is restricted to (the whole volume
	// when no region of interest was given).
	ROI Box
	// Net is the canonical box the network saw and Prob covers: ROI widened
	// by BoxContextMM on every side (clamped to the volume), so that the
	// network sees the anatomy around the box as it does in a whole-volume
	// run. The zero Box means ROI.
	Net     Box
	Timings Timings
	// Edge is what the edge refinement measured for Mask (Applied false
	// when Post.Edge is nil or the liver was too small to measure).
	Edge EdgeStats

	input volume.Geometry // the input's own grid
	// vol is the segmented volume, read by the edge refinement (nil: a
	// Result built without one, which cannot refine).
	vol *volume.Volume
	// netProb is Prob before it was cut to ROI (nil: Prob), what the mask
	// and ProbAt sample: the mask's faces then lie exactly on the box's,
	// not on the network grid's.
	netProb *ProbMap
}

// fullProb is the map the network produced, not cut to ROI.
func (r *Result) fullProb() *ProbMap {
	if r.netProb != nil {
		return r.netProb
	}
	return r.Prob
}

// cutToROI sets r.Prob to a copy of the map with its grid points outside
// ROI set to 0, keeping the map itself for the mask.
func (r *Result) cutToROI() {
	net := r.netBox()
	if net == r.ROI {
		return
	}
	cg := r.input.CanonicalGeometry()
	p := r.Prob
	var lo, hi [3]int // grid points whose canonical position lies in ROI (±½ voxel)
	for a := 0; a < 3; a++ {
		f := p.Spacing[a] / cg.Spacing[a] // input voxels per grid step
		lo[a] = int(math.Ceil((float64(r.ROI.Min[a]-net.Min[a]) - 0.5) / f))
		hi[a] = int(math.Floor((float64(r.ROI.Max[a]-net.Min[a]) - 0.5) / f))
		lo[a], hi[a] = max(lo[a], 0), min(hi[a], p.Size[a]-1)
	}
	cut := &ProbMap{Geometry: p.Geometry, Data: make([]float32, len(p.Data))}
	for k := lo[2]; k <= hi[2]; k++ {
		for j := lo[1]; j <= hi[1]; j++ {
			o := (k*p.Size[1]+j)*p.Size[0] + lo[0]
			if hi[0] >= lo[0] {
				copy(cut.Data[o:o+hi[0]-lo[0]+1], p.Data[o:])
			}
		}
	}
	r.netProb, r.Prob = p, cut
}

// Input is the geometry of the volume that was segmented.
func (r *Result) Input() volume.Geometry { return r.input }

// Threshold builds the mask for another threshold, with the same clean-up
// settings, from the kept probability map. r is not changed.
func (r *Result) Threshold(t float64) (*volume.Mask, error) {
	o := r.Post
	o.Threshold = t
	return r.Apply(o)
}

// Apply builds a mask on the input's own grid from the kept probability
// map with the given settings. r is not changed.
func (r *Result) Apply(o PostOptions) (*volume.Mask, error) {
	m, _, err := r.apply(o)
	return m, err
}

// ApplyEdge is Apply that also tells what the edge refinement measured
// (o.Edge nil: EdgeStats{}). r is not changed.
func (r *Result) ApplyEdge(o PostOptions) (*volume.Mask, EdgeStats, error) {
	return r.apply(o)
}

func (r *Result) apply(o PostOptions) (*volume.Mask, EdgeStats, error) {
	var es EdgeStats
	if !(o.Threshold > 0 && o.Threshold < 1) {
		return nil, es, fmt.Errorf("threshold %v is not in (0,1)", o.Threshold)
	}
	cg := r.input.CanonicalGeometry()
	net := r.netBox()
	sub := [3]int{net.Max[0] - net.Min[0], net.Max[1] - net.Min[1], net.Max[2] - net.Min[2]}
	// The clean-up (largest component, holes) runs on everything the
	// network saw, as in a whole-volume run, and only then is the mask cut
	// to the ROI: liver inside the box that joins the main liver just
	// outside it is kept. All of it works on the liver's box (grown by what
	// the refinement reads around it), which is then placed on the input's
	// grid: no canonical full-grid mask is built.
	grow := [3]int{1, 1, 1}
	if o.Edge != nil {
		grow = o.Edge.reach(cg.Spacing)
	}
	b, vox, err := maskFromProbBox(r.fullProb(), sub, cg.Spacing, o, grow)
	if err != nil {
		return nil, es, err
	}
	// The box's first voxel on the canonical grid.
	lo := [3]int{net.Min[0] + b.min[0], net.Min[1] + b.min[1], net.Min[2] + b.min[2]}
	if o.Edge != nil && vox != nil {
		if r.vol == nil {
			return nil, es, fmt.Errorf("edge refinement needs the segmented volume")
		}
		// The refinement, like the clean-up, runs on everything the
		// network saw; it reads the scan in place through its canonical
		// layout, moved to the box's first voxel.
		start, stride := r.vol.Geometry.CanonicalLayout()
		view := HUView{Data: r.vol.Voxels, Start: start, Stride: stride}
		view = view.sub(lo)
		t0 := time.Now()
		if es, err = RefineEdge(view, vox, b.size(), cg.Spacing, *o.Edge); err != nil {
			return nil, es, err
		}
		es.Took = time.Since(t0)
		if len(vox) > maxPooled {
			// A thin series: the refinement's buffers (three times the
			// box) are garbage now; collecting them before the output mask
			// is allocated lets it take their memory instead of the OS's
			// (1000 slices: 1.12 → 0.90 GB peak, `/usr/bin/time liverseg segment`).
			runtime.GC()
		}
	} else if o.Edge != nil {
		es.Reason = "empty mask"
	}
	if vox == nil {
		return volume.NewMask(r.input), es, nil
	}
	// The box is cut to the ROI (voxels outside it cleared), then placed
	// on the input's grid.
	bs := b.size()
	for k := 0; k < bs[2]; k++ {
		for j := 0; j < bs[1]; j++ {
			row := vox[(k*bs[1]+j)*bs[0]:][:bs[0]]
			y, z := lo[1]+j, lo[2]+k
			if y < r.ROI.Min[1] || y >= r.ROI.Max[1] || z < r.ROI.Min[2] || z >= r.ROI.Max[2] {
				clear(row)
				continue
			}
			clear(row[:min(max(r.ROI.Min[0]-lo[0], 0), bs[0])])
			clear(row[min(max(r.ROI.Max[0]-lo[0], 0), bs[0]):])
		}
	}
	m, err := volume.MaskFromCanonicalBox(vox, lo, bs, r.input)
	return m, es, err
}

// netBox is the canonical box Prob covers.
func (r *Result) netBox() Box {
	if r.Net.Empty() {
		return r.ROI
	}
	return r.Net
}

// Update replaces Mask and Post by the mask for o (for a threshold slider:
// show ProbSlice thresholded while dragging, call Update on release). It is
// not safe to call while another goroutine reads r.
func (r *Result) Update(o PostOptions) error {
	m, es, err := r.apply(o)
	if err != nil {
		return err
	}
	r.Mask, r.Post, r.Edge = m, o, es
	r.Timings.Edge = es.Took
	return nil
}

// toProb is the map from the input's voxel index to the probability
// map's continuous index. The map's grid point 0 lies on canonical voxel
// net.Min and steps by Prob.Spacing along the canonical axes.
func (r *Result) toProb() volume.IndexMap {
	cg := r.input.CanonicalGeometry()
	net := r.netBox().Min
	pg := cg
	pg.Origin = cg.IndexToPatient([3]float64{float64(net[0]), float64(net[1]), float64(net[2])})
	pg.Spacing, pg.Size = r.Prob.Spacing, r.Prob.Size
	im, err := volume.NewIndexMap(r.input, pg)
	if err != nil {
		// The input was segmented, so its grid validated: not reached.
		panic(fmt.Sprintf("inference: probability map grid: %v", err))
	}
	return im
}

// sampler maps input voxel indices to probability-map samples.
type sampler struct {
	im     volume.IndexMap
	lo, hi [3]float64 // first and last ROI position on the map, per axis
	p      *ProbMap
}

func (r *Result) sampler() sampler {
	s := sampler{p: r.fullProb()}
	s.im = r.toProb()
	cg := r.input.CanonicalGeometry()
	net := r.netBox()
	for ax := 0; ax < 3; ax++ {
		f := cg.Spacing[ax] / r.Prob.Spacing[ax]
		s.lo[ax] = float64(r.ROI.Min[ax]-net.Min[ax]) * f
		s.hi[ax] = float64(r.ROI.Max[ax]-1-net.Min[ax]) * f
	}
	return s
}

// at samples the map at an input index; 0 outside the ROI (with a little
// slack for rounding at its faces).
func (s *sampler) at(x [3]float64) float32 {
	c := s.im.At(x)
	for ax := 0; ax < 3; ax++ {
		if c[ax] < s.lo[ax]-1e-6 || c[ax] > s.hi[ax]+1e-6 {
			return 0
		}
	}
	return s.p.At(c[0], c[1], c[2])
}

// ProbAt is the liver probability at voxel (i, j, k) of the input's own grid,
// sampled exactly as the mask is; 0 outside the ROI.
func (r *Result) ProbAt(i, j, k int) float32 {
	s := r.sampler()
	return s.at([3]float64{float64(i), float64(j), float64(k)})
}

// ProbSlice samples the probability on one slice of the input's own grid:
// the plane where index axis `axis` equals index. The slice is returned
// row-major with the lower remaining axis fastest (for axis 2 that is
// Size[0] columns × Size[1] rows, like the volume's own slice). dst is
// reused when large enough. Sampling a 512×512 slice takes a few ms, so a
// viewer can call it for every redraw.
func (r *Result) ProbSlice(axis, index int, dst []float32) ([]float32, error) {
	if axis < 0 || axis > 2 || index < 0 || index >= r.input.Size[axis] {
		return nil, fmt.Errorf("slice %d along axis %d is outside the volume of size %v", index, axis, r.input.Size)
	}
	u, v := (axis+1)%3, (axis+2)%3
	if u > v {
		u, v = v, u
	}
	nu, nv := r.input.Size[u], r.input.Size[v]
	if cap(dst) < nu*nv {
		dst = make([]float32, nu*nv)
	}
	dst = dst[:nu*nv]
	s := r.sampler()
	var x [3]float64
	x[axis] = float64(index)
	n := 0
	for jv := 0; jv < nv; jv++ {
		x[v] = float64(jv)
		for ju := 0; ju < nu; ju++ {
			x[u] = float64(ju)
			dst[n] = s.at(x)
			n++
		}
	}
	return dst, nil
}

// VolumeML is the liver volume of the current mask in millilitres.
func (r *Result) VolumeML() float64 {
	if r.Mask == nil {
		return math.NaN()
	}
	return r.Mask.VolumeML()
}
