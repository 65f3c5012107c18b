package resection

import (
	"math"
)

// DefaultMinMarginMM is the margin under which the plan warns (a 1 cm
// resection margin is the usual aim for colorectal liver metastases).
const DefaultMinMarginMM = 10.0

// Margin is the distance from the cutting surfaces (where they run inside
// the liver) to the lesion.
type Margin struct {
	// MinMM is the smallest distance (mm) from any cut's surface inside
	// the liver to the nearest lesion voxel centre; 0 when a cut crosses
	// the lesion. +Inf when no surface runs through the liver.
	MinMM float64 `json:"min_mm"`
	// At is the surface point where the minimum is reached (LPS mm).
	At Vec `json:"at_lps_mm"`
	// Cut is the index of that cut.
	Cut int `json:"cut"`
	// Crosses is true when lesion voxels lie on both sides of the
	// resection (the cut runs through the lesion).
	Crosses bool `json:"crosses_lesion"`
	// InRemnant is true when the whole lesion lies in the remnant: the
	// plan does not remove it.
	InRemnant bool `json:"lesion_in_remnant"`
}

// marginStepMM is the spacing of the surface samples: about a CT voxel
// in-plane, so the minimum is found to within a voxel.
const marginStepMM = 1.0

// Margin measures the plan's margin to the lesion; ok is false without a
// lesion. v are the plan's volumes (for which side the lesion is on).
func (l *Liver) Margin(p Plan, v Volumes) (m Margin, ok bool) {
	if l.lesion == nil {
		return Margin{}, false
	}
	m = Margin{MinMM: math.Inf(1), Cut: -1}
	m.Crosses = v.LesionResectedML > 0 && v.LesionResectedML < v.LesionML
	m.InRemnant = v.LesionResectedML == 0
	for ci, c := range p.Cuts {
		n := int(2*c.HalfSize/marginStepMM) + 1
		step := 2 * c.HalfSize / float64(n-1)
		type best struct {
			d  float64
			at Vec
		}
		rows := make([]best, n)
		split(n, func(lo, hi int) {
			for i := lo; i < hi; i++ {
				b := best{d: math.Inf(1)}
				u := -c.HalfSize + float64(i)*step
				for j := 0; j < n; j++ {
					q := c.At(u, -c.HalfSize+float64(j)*step)
					if !l.Inside(q) {
						continue
					}
					// Only where this cut bounds the resection (with
					// several cuts, parts of one may lie inside another's
					// resected side).
					if len(p.Cuts) > 1 && !onBoundary(p, ci, q) {
						continue
					}
					if d := l.LesionDistance(q); d < b.d {
						b = best{d, q}
					}
				}
				rows[i] = b
			}
		})
		for _, b := range rows {
			if b.d < m.MinMM {
				m.MinMM, m.At, m.Cut = b.d, b.at, ci
			}
		}
	}
	if m.Crosses {
		m.MinMM = 0
	}
	return m, true
}

// onBoundary reports whether the point q on cut ci separates resected from
// remnant tissue, given the other cuts.
func onBoundary(p Plan, ci int, q Vec) bool {
	for k, c := range p.Cuts {
		if k == ci {
			continue
		}
		r := c.Side(q) > 0
		if p.Combine == All && !r {
			return false // outside another cut's piece: not a boundary
		}
		if p.Combine != All && r {
			return false // already removed by another cut
		}
	}
	return true
}
