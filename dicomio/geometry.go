package dicomio

import (
	"fmt"
	"math"
	"sort"

	"github.com/liverseg/liverseg/volume"
)

// stackGeometry is the volume geometry derived from a sorted slice stack,
// with the problems found on the way and, when the stack is not a regular
// orthogonal grid, how Load resamples it onto one.
type stackGeometry struct {
	geom     volume.Geometry
	tiltDeg  float64 // angle between the stack direction and the slice normal
	plan     *resamplePlan
	warnings []string
	// assumed: what the geometry rests on that the files do not state
	// validly (also in warnings); refuse: why the stack cannot be loaded
	// (a present but invalid value with nothing valid in its place).
	assumed []string
	refuse  string
}

// resamplePlan maps the slices as read (Cols×Rows×n) onto the regular
// output grid geom: slice k is shifted in-plane by (di[k], dj[k]) pixels
// (gantry tilt correction) and the output slices lie at regular positions
// along the normal, each interpolated between the two nearest input slices
// (uneven spacing, missing slices).
type resamplePlan struct {
	inSize   [3]int
	di, dj   []float64 // in-plane shift of each input slice, in pixels, relative to the output grid
	pos      []float64 // input slice positions along the normal, mm from the first
	outPos   []float64 // output slice positions, mm from the first input slice
	tilt, eq bool
}

// Tolerances: spacing varying by more than 1 % is "uneven" (and resampled
// when a step differs from the first by more than 0.2 mm); a stack leaning
// more than 0.05° off the normal is tilted (that is 0.4 mm over 500 mm); an
// in-plane shift below 0.05 pixel is position noise, not tilt.
const (
	resampleTolerance = 0.2 // mm, dcm2niix's isSameFloatT(dx, ..., 0.2)
	unevenFraction    = 0.01
	tiltTolerance     = 0.05
	shiftTolerance    = 0.05
)

// analyseStack builds the geometry of files already sorted along the normal.
//
// The grid is always orthogonal: Direction columns are the row cosine, the
// column cosine and the slice normal (their cross product), and the origin
// is the ImagePositionPatient of the first slice. A stack that is not
// regular on that grid is resampled by Load, as dcm2niix does:
//
//   - gantry tilt (slices advancing obliquely to their normal): each slice
//     is shifted in-plane, with linear interpolation (nearest neighbour next
//     to padding, see lerpPadded), by its offset from the first slice
//     projected on the row and column directions; the grid grows by the
//     largest shift so nothing is cut, and voxels outside every slice get
//     the darkest value of the series (dcm2niix's choice);
//   - uneven spacing (a step more than 0.2 mm from the first, dcm2niix's
//     test) or missing slices: output slices are placed at a
//     regular step close to the smallest spacing found (at most twice as
//     many slices as the input; the step then grows), each one linearly
//     interpolated between its two neighbours along the normal — the rule
//     of dcm2niix's "_Eq" output (see equidistant).
//
// Both are stated in the warnings, with their size.
func analyseStack(fs []*fileInfo) stackGeometry {
	f0 := fs[0]
	row := unit([3]float64{f0.IOP[0], f0.IOP[1], f0.IOP[2]})
	col := unit([3]float64{f0.IOP[3], f0.IOP[4], f0.IOP[5]})
	nrm := unit(cross(row, col))
	g := volume.Geometry{Size: [3]int{f0.Cols, f0.Rows, len(fs)}, Origin: f0.IPP}
	// DICOM PixelSpacing is [between rows (along j), between columns (along i)].
	g.Spacing[0], g.Spacing[1] = f0.Spacing[1], f0.Spacing[0]
	if !f0.hasPixSp {
		g.Spacing[0], g.Spacing[1] = 1, 1
	}
	for r := 0; r < 3; r++ {
		g.Direction[r][0], g.Direction[r][1], g.Direction[r][2] = row[r], col[r], nrm[r]
	}
	var sg stackGeometry
	stackNotes(&sg, fs)
	n := len(fs)
	step := 0.0
	if n == 1 {
		step = singleSliceStep(&sg, f0)
	}
	if n > 1 {
		pos := make([]float64, n)
		di := make([]float64, n)
		dj := make([]float64, n)
		maxShift := 0.0
		for k, f := range fs {
			d := [3]float64{f.IPP[0] - f0.IPP[0], f.IPP[1] - f0.IPP[1], f.IPP[2] - f0.IPP[2]}
			pos[k] = dot(d, nrm)
			di[k] = dot(d, row) / g.Spacing[0]
			dj[k] = dot(d, col) / g.Spacing[1]
			maxShift = math.Max(maxShift, math.Max(math.Abs(di[k]), math.Abs(dj[k])))
		}
		steps := make([]float64, n-1)
		for k := range steps {
			steps[k] = pos[k+1] - pos[k]
		}
		step = pos[n-1] / float64(n-1)
		spacingW, uneven := spacingWarnings(steps, pos)
		sg.warnings = append(sg.warnings, spacingW...)
		last := fs[n-1].IPP
		d := unit([3]float64{last[0] - f0.IPP[0], last[1] - f0.IPP[1], last[2] - f0.IPP[2]})
		sg.tiltDeg = math.Acos(math.Min(1, math.Abs(dot(d, nrm)))) * 180 / math.Pi
		tilted := maxShift > shiftTolerance && (sg.tiltDeg > tiltTolerance || maxShift > 1)
		if tilted || uneven {
			p := &resamplePlan{inSize: g.Size, pos: pos, tilt: tilted, eq: uneven}
			if tilted {
				// Grow the grid to hold every shifted slice.
				lo := [2]float64{0, 0}
				hi := [2]float64{0, 0}
				for k := range fs {
					lo[0], hi[0] = math.Min(lo[0], di[k]), math.Max(hi[0], di[k])
					lo[1], hi[1] = math.Min(lo[1], dj[k]), math.Max(hi[1], dj[k])
				}
				var grow [2]int
				for a := 0; a < 2; a++ {
					lo[a], hi[a] = math.Floor(lo[a]+1e-6), math.Ceil(hi[a]-1e-6)
					grow[a] = int(hi[a] - lo[a])
				}
				p.di, p.dj = make([]float64, n), make([]float64, n)
				for k := range fs {
					p.di[k], p.dj[k] = di[k]-lo[0], dj[k]-lo[1]
				}
				for r := 0; r < 3; r++ {
					g.Origin[r] += lo[0]*g.Spacing[0]*row[r] + lo[1]*g.Spacing[1]*col[r]
				}
				g.Size[0] += grow[0]
				g.Size[1] += grow[1]
				hdr := ""
				if f0.Tilt != 0 {
					hdr = fmt.Sprintf(" (GantryDetectorTilt %g°)", f0.Tilt)
				}
				sg.warnings = append(sg.warnings, fmt.Sprintf(
					"gantry tilt: slices advance %.2f° off their normal%s; corrected like dcm2niix: each slice shifted in-plane (up to %.1f pixels, linear interpolation) onto an orthogonal grid enlarged to %dx%d, the added border filled with the darkest value",
					sg.tiltDeg, hdr, maxShift, g.Size[0], g.Size[1]))
			}
			if uneven {
				p.outPos, step = equidistant(pos)
				g.Size[2] = len(p.outPos)
				sg.warnings = append(sg.warnings, fmt.Sprintf(
					"resampled to a regular grid like dcm2niix: %d slices at %.3f mm from %d unevenly spaced ones (linear interpolation between neighbours)",
					len(p.outPos), step, n))
			} else {
				p.outPos = pos
			}
			sg.plan = p
		}
	}
	if !(step > 0) || math.IsInf(step, 0) {
		step = 1
	}
	g.Spacing[2] = step
	sg.warnings = append(sg.warnings, sg.assumed...)
	sg.geom = g
	return sg
}

// equidistant returns regular output positions for uneven input positions
// (ascending, from 0). Like dcm2niix (nii_saveNII3Deq) the step is the
// smallest positive spacing and the count at most twice the input count;
// unlike its count formula, which leaves the last slice out when that cap
// is not reached, the output always spans first to last slice: the step is
// the smallest spacing stretched so that a whole number of steps fits.
// When the cap applies (both uneven series of the corpus) the result is
// dcm2niix's exactly.
func equidistant(pos []float64) ([]float64, float64) {
	n := len(pos)
	mn := math.Inf(1)
	for k := 1; k < n; k++ {
		if d := pos[k] - pos[k-1]; d > 0 && d < mn {
			mn = d
		}
	}
	last := pos[n-1]
	if math.IsInf(mn, 1) || n < 2 || !(last > 0) {
		return pos, 1
	}
	slices := int(math.Round(last/mn)) + 1
	slices = min(max(slices, 2), 2*n)
	mn = last / float64(slices-1)
	out := make([]float64, slices)
	for s := range out {
		out[s] = float64(s) * mn
	}
	out[slices-1] = last // no rounding drift past the last slice
	return out, mn
}

// spacingWarnings reports uneven spacing and gaps that look like missing
// slices (a step close to a whole multiple, ≥ 2, of the usual step), and
// whether the stack needs resampling to be regular.
func spacingWarnings(steps, pos []float64) ([]string, bool) {
	if len(steps) == 0 {
		return nil, false
	}
	sorted := append([]float64(nil), steps...)
	sort.Float64s(sorted)
	lo, hi := sorted[0], sorted[len(sorted)-1]
	usual := sorted[len(sorted)/2] // median: robust against a few gaps
	var w []string
	var gaps []string
	missing := 0
	for k, s := range steps {
		if usual <= 0 {
			break
		}
		m := math.Round(s / usual)
		if m >= 2 && math.Abs(s/usual-m) < 0.1 {
			missing += int(m) - 1
			if len(gaps) < 5 {
				gaps = append(gaps, fmt.Sprintf("%.2f mm between slices %d and %d (at %.2f and %.2f mm)", s, k, k+1, pos[k], pos[k+1]))
			}
		}
	}
	if missing > 0 {
		w = append(w, fmt.Sprintf("missing slices: about %d slice(s) absent where the usual step is %.3f mm; gaps: %s; the gap is filled by interpolation", missing, usual, joinMax(gaps, len(gaps))))
	}
	// Resample like dcm2niix does ("interslice distance varies"): when a
	// step differs from the first by more than 0.2 mm. Smaller variation
	// (rounded positions) keeps the slices as they are on the mean step.
	resample := false
	for _, st := range steps {
		if math.Abs(st-steps[0]) > resampleTolerance {
			resample = true
		}
	}
	if usual > 0 && (hi-lo) > unevenFraction*usual {
		mean := (pos[len(pos)-1] - pos[0]) / float64(len(steps))
		what := "resampled below"
		if !resample {
			what = fmt.Sprintf("within %.1f mm, so kept on the mean step: slices are up to %.2f mm from their true positions", resampleTolerance, maxDeviation(pos, mean))
		}
		w = append(w, fmt.Sprintf("uneven slice spacing: steps range from %.3f to %.3f mm (median %.3f, mean %.3f); %s",
			lo, hi, usual, mean, what))
	}
	return w, resample
}

// maxDeviation is how far a real slice is from where a regular grid with
// the given step puts it.
func maxDeviation(pos []float64, step float64) float64 {
	dev := 0.0
	for k, p := range pos {
		dev = math.Max(dev, math.Abs(p-(pos[0]+float64(k)*step)))
	}
	return dev
}

func joinMax(ss []string, n int) string {
	out := ""
	for i, s := range ss {
		if i == n {
			break
		}
		if i > 0 {
			out += "; "
		}
		out += s
	}
	return out
}

// apply resamples the stack as read (in, inSize) onto the output grid.
// It follows dcm2niix's order and rounding: tilt correction first (each
// value rounded to int16), then equidistant slices (rounded again).
func (p *resamplePlan) apply(in []int16, out []int16, outSize [3]int) {
	nx, ny, n := p.inSize[0], p.inSize[1], p.inSize[2]
	cur, cx, cy := in, nx, ny
	if p.tilt {
		fill := in[0]
		for _, v := range in {
			fill = min(fill, v)
		}
		ox, oy := outSize[0], outSize[1]
		t := out
		if p.eq {
			t = make([]int16, ox*oy*n)
		}
		tmp := make([]float64, nx*oy)
		for k := 0; k < n; k++ {
			src := in[k*nx*ny : (k+1)*nx*ny]
			// Along j (rows) first, then along i: separable linear
			// interpolation of a constant shift.
			for J := 0; J < oy; J++ {
				y := float64(J) - p.dj[k]
				row := tmp[J*nx : (J+1)*nx]
				// dcm2niix's edge rule (it works on rows stored
				// bottom-up): a source position within one pixel
				// before the first row takes the first row; past
				// the last row is outside.
				if y <= -1 || y > float64(ny-1) {
					for i := range row {
						row[i] = math.NaN()
					}
					continue
				}
				lo := int(math.Floor(y))
				hi := min(lo+1, ny-1)
				lo = max(lo, 0)
				fh := y - float64(lo)
				a, b := src[lo*nx:(lo+1)*nx], src[hi*nx:(hi+1)*nx]
				for i := range row {
					row[i] = lerpPadded(float64(a[i]), float64(b[i]), fh, float64(fill))
				}
			}
			dst := t[k*ox*oy : (k+1)*ox*oy]
			for J := 0; J < oy; J++ {
				row := tmp[J*nx : (J+1)*nx]
				for I := 0; I < ox; I++ {
					x := float64(I) - p.di[k]
					var v float64
					switch {
					case x < 0 || x > float64(nx-1) || math.IsNaN(row[0]):
						dst[J*ox+I] = fill
						continue
					case p.di[k] == math.Trunc(p.di[k]):
						v = row[int(x)]
					default:
						lo := int(math.Floor(x))
						hi := min(lo+1, nx-1)
						fh := x - float64(lo)
						v = lerpPadded(row[lo], row[hi], fh, float64(fill))
					}
					dst[J*ox+I] = clampF(v)
				}
			}
		}
		cur, cx, cy = t, ox, oy
	}
	if !p.eq {
		if !p.tilt {
			copy(out, in)
		}
		return
	}
	plane := cx * cy
	for s, x := range p.outPos {
		hiK := 0
		for hiK < n-1 && p.pos[hiK] < x {
			hiK++
		}
		loK := max(hiK-1, 0)
		dst := out[s*plane : (s+1)*plane]
		a, b := cur[loK*plane:(loK+1)*plane], cur[hiK*plane:(hiK+1)*plane]
		mLo, mHi := p.pos[loK], p.pos[hiK]
		if mHi == mLo || x > mHi {
			copy(dst, b)
			continue
		}
		fh := (x - mLo) / (mHi - mLo)
		for i := range dst {
			dst[i] = clampF(float64(a[i])*(1-fh) + float64(b[i])*fh)
		}
	}
}

// lerpPadded interpolates linearly between a and b (weight fh on b), except
// next to padding: when either is the darkest value of the series (the
// scanner's padding outside the field of view, and the fill of the border),
// it takes the nearer of the two, so padding never bleeds into tissue at the
// edge of the field of view. This is what dcm2niix's tilt correction does:
// with it our corrected GE series equals dcm2niix's to within ±1 HU.
func lerpPadded(a, b, fh, pad float64) float64 {
	if a == pad || b == pad {
		if fh >= 0.5 {
			return b
		}
		return a
	}
	return a*(1-fh) + b*fh
}
