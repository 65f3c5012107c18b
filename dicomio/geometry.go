package dicomio

import (
	"fmt"
	"math"
	"sort"

	"github.com/liverseg/liverseg/volume"
)

// stackGeometry is the volume geometry derived from a sorted slice stack,
// with the problems found on the way.
type stackGeometry struct {
	geom     volume.Geometry
	tiltDeg  float64 // angle between the stack direction and the slice normal
	warnings []string
}

// Tolerances: spacing varying by more than 1 % is "uneven"; a stack leaning
// more than 0.05° off the normal is tilted (that is 0.4 mm over 500 mm).
const (
	unevenFraction = 0.01
	tiltTolerance  = 0.05
)

// analyseStack builds the geometry of files already sorted along the normal.
//
// Origin is the ImagePositionPatient of the first slice; Direction columns
// are the row cosine, the column cosine and the direction in which the
// slices advance. For an ordinary stack that is the normal and the slice
// step is the mean distance between consecutive positions projected on the
// normal. For a gantry-tilted stack the slices advance obliquely: the third
// column then follows the actual stack (a sheared, non-orthogonal grid) with
// the step measured along it, so every slice still lands where its
// ImagePositionPatient says, and a warning states the angle.
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
	var sg stackGeometry
	if !f0.hasPixSp {
		sg.warnings = append(sg.warnings, "PixelSpacing is missing: 1 mm pixels are assumed, distances are not real")
	}
	slice := nrm
	step := f0.Thickness
	if len(fs) > 1 {
		pos := make([]float64, len(fs))
		for k, f := range fs {
			pos[k] = dot(f.IPP, nrm)
		}
		steps := make([]float64, len(fs)-1)
		for k := range steps {
			steps[k] = pos[k+1] - pos[k]
		}
		step = (pos[len(pos)-1] - pos[0]) / float64(len(steps))
		sg.warnings = append(sg.warnings, spacingWarnings(steps, pos)...)
		// Stack direction from first to last position.
		last := fs[len(fs)-1].IPP
		d := unit([3]float64{last[0] - f0.IPP[0], last[1] - f0.IPP[1], last[2] - f0.IPP[2]})
		cosA := math.Min(1, math.Abs(dot(d, nrm)))
		sg.tiltDeg = math.Acos(cosA) * 180 / math.Pi
		if sg.tiltDeg > tiltTolerance {
			slice = d
			step /= cosA
			shift := math.Abs(pos[len(pos)-1]-pos[0]) * math.Tan(math.Acos(cosA))
			hdr := ""
			if f0.Tilt != 0 {
				hdr = fmt.Sprintf(" (GantryDetectorTilt %g°)", f0.Tilt)
			}
			sg.warnings = append(sg.warnings, fmt.Sprintf(
				"gantry tilt: slices advance %.2f° off their normal%s; the last slice is shifted %.1f mm in-plane relative to the first. "+
					"The volume keeps this sheared (non-orthogonal) grid so positions are right, but it is not corrected: axes are not perpendicular",
				sg.tiltDeg, hdr, shift))
		}
	}
	if !(step > 0) || math.IsInf(step, 0) {
		step = 1
		if len(fs) == 1 {
			sg.warnings = append(sg.warnings, "single slice without SliceThickness: 1 mm slice spacing is assumed")
		}
	}
	g.Spacing[2] = step
	for r := 0; r < 3; r++ {
		g.Direction[r][0], g.Direction[r][1], g.Direction[r][2] = row[r], col[r], slice[r]
	}
	sg.geom = g
	return sg
}

// spacingWarnings reports uneven spacing and gaps that look like missing
// slices (a step close to a whole multiple, ≥ 2, of the usual step).
func spacingWarnings(steps, pos []float64) []string {
	if len(steps) == 0 {
		return nil
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
		w = append(w, fmt.Sprintf("missing slices: about %d slice(s) absent where the usual step is %.3f mm; gaps: %s", missing, usual, joinMax(gaps, len(gaps))))
	}
	mean := (pos[len(pos)-1] - pos[0]) / float64(len(steps))
	if usual > 0 && (hi-lo) > unevenFraction*usual {
		w = append(w, fmt.Sprintf("uneven slice spacing: steps range from %.3f to %.3f mm (median %.3f); the volume uses the mean step %.3f mm, so slice positions are approximate (up to %.2f mm off)",
			lo, hi, usual, mean, maxDeviation(pos, mean)))
	}
	return w
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
