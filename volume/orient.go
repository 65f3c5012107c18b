package volume

import (
	"math"
)

// Orientation describes how index axes relate to patient axes, rounded to the
// nearest patient axis: Axis[c] is the LPS axis (0=x L, 1=y P, 2=z S) that
// index axis c runs closest to, and Sign[c] is +1 when the index increases
// towards L, P or S and −1 when towards R, A or I.
type Orientation struct {
	Axis [3]int
	Sign [3]int
}

// NearestOrientation rounds the direction matrix to the closest signed
// permutation. Each patient axis is used exactly once, chosen greedily by the
// largest remaining cosine, so oblique series still map to a valid
// permutation.
func (g Geometry) NearestOrientation() Orientation {
	var o Orientation
	usedRow := [3]bool{}
	usedCol := [3]bool{}
	for n := 0; n < 3; n++ {
		best, br, bc := -1.0, 0, 0
		for r := 0; r < 3; r++ {
			if usedRow[r] {
				continue
			}
			for c := 0; c < 3; c++ {
				if usedCol[c] {
					continue
				}
				if v := math.Abs(g.Direction[r][c]); v > best {
					best, br, bc = v, r, c
				}
			}
		}
		usedRow[br], usedCol[bc] = true, true
		o.Axis[bc] = br
		o.Sign[bc] = 1
		if g.Direction[br][bc] < 0 {
			o.Sign[bc] = -1
		}
	}
	return o
}

// Code is the three-letter code of the directions the index axes point
// towards, e.g. "LPS" for a standard axial DICOM series and "RAS" for a
// typical NIfTI from nibabel's canonical form.
func (o Orientation) Code() string {
	pos := [3]byte{'L', 'P', 'S'}
	neg := [3]byte{'R', 'A', 'I'}
	b := make([]byte, 3)
	for c := 0; c < 3; c++ {
		if o.Sign[c] > 0 {
			b[c] = pos[o.Axis[c]]
		} else {
			b[c] = neg[o.Axis[c]]
		}
	}
	return string(b)
}

// IsCanonical reports whether index axes already run towards L, P and S.
func (o Orientation) IsCanonical() bool {
	return o.Axis == [3]int{0, 1, 2} && o.Sign == [3]int{1, 1, 1}
}

// canonicalMap tells, for each canonical output axis a, which input axis
// feeds it and whether it is flipped.
func (g Geometry) canonicalMap() (src [3]int, flip [3]bool) {
	o := g.NearestOrientation()
	for c := 0; c < 3; c++ {
		src[o.Axis[c]] = c
		flip[o.Axis[c]] = o.Sign[c] < 0
	}
	return src, flip
}

// CanonicalGeometry is the geometry of the same voxels with index axes
// permuted and flipped so that they run towards L, P and S (nearest axis).
// World positions of voxel centres are unchanged.
func (g Geometry) CanonicalGeometry() Geometry {
	src, flip := g.canonicalMap()
	var out Geometry
	corner := [3]float64{}
	for a := 0; a < 3; a++ {
		c := src[a]
		out.Size[a] = g.Size[c]
		out.Spacing[a] = g.Spacing[c]
		for r := 0; r < 3; r++ {
			out.Direction[r][a] = g.Direction[r][c]
			if flip[a] {
				out.Direction[r][a] = -g.Direction[r][c]
			}
		}
		if flip[a] {
			corner[c] = float64(g.Size[c] - 1)
		}
	}
	out.Origin = g.IndexToPatient(corner)
	return out
}

// reorient copies voxels into canonical order.
func reorient[T any](g Geometry, in []T) (Geometry, []T) {
	src, flip := g.canonicalMap()
	out := g.CanonicalGeometry()
	if src == [3]int{0, 1, 2} && flip == [3]bool{} {
		return out, in
	}
	res := make([]T, len(in))
	// stride[a]: step in the input slice when canonical axis a advances.
	start, stride := g.canonicalStrides()
	n := 0
	for k := 0; k < out.Size[2]; k++ {
		for j := 0; j < out.Size[1]; j++ {
			p := start + k*stride[2] + j*stride[1]
			for i := 0; i < out.Size[0]; i++ {
				res[n] = in[p]
				n++
				p += stride[0]
			}
		}
	}
	return out, res
}

// Canonical returns the volume with index axes running towards L, P and S
// (nearest axis). It returns v itself when it is already canonical.
func (v *Volume) Canonical() *Volume {
	g, vox := reorient(v.Geometry, v.Voxels)
	if len(vox) > 0 && &vox[0] == &v.Voxels[0] {
		return v
	}
	info := v.Info
	// Slice UIDs follow the slices: reversed when k flips, dropped when k
	// is no longer the slice axis.
	src, flip := v.canonicalMap()
	switch {
	case src[2] != 2:
		info.SOPInstanceUIDs = nil
	case flip[2] && len(info.SOPInstanceUIDs) > 0:
		uids := make([]string, len(info.SOPInstanceUIDs))
		for k, u := range info.SOPInstanceUIDs {
			uids[len(uids)-1-k] = u
		}
		info.SOPInstanceUIDs = uids
	}
	return &Volume{Geometry: g, Voxels: vox, Info: info}
}

// Canonical returns the mask with index axes running towards L, P and S.
func (m *Mask) Canonical() *Mask {
	g, vox := reorient(m.Geometry, m.Voxels)
	if len(vox) > 0 && &vox[0] == &m.Voxels[0] {
		return m
	}
	return &Mask{Geometry: g, Voxels: vox}
}
