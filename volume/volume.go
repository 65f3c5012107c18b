// Package volume provides the one image type every part of LiverSeg shares:
// a 3D scalar grid with its physical geometry in DICOM patient coordinates
// (LPS: +x towards the patient's Left, +y Posterior, +z Superior).
//
// Data flows one way: dicomio and nifti produce a *Volume; inference turns it
// into a *Mask on the same grid; viewer renders both. Voxels are stored
// compactly (int16 Hounsfield units, uint8 labels) with x varying fastest,
// then y, then z, which is the order of DICOM pixel rows within a slice and of
// slices along the stack.
package volume

import (
	"fmt"
	"math"
	"strings"
)

// Geometry places a voxel grid in patient space.
//
// Voxel (i, j, k) has its centre at
//
//	Origin + Direction · diag(Spacing) · (i, j, k)ᵀ
//
// Direction's columns are unit vectors (in LPS) of the i, j and k axes, as in
// ITK. For a DICOM series, column 0 is the row direction cosine of
// ImageOrientationPatient, column 1 the column cosine and column 2 the
// direction in which slices advance after sorting.
type Geometry struct {
	Size      [3]int        // voxels along i (columns), j (rows), k (slices)
	Spacing   [3]float64    // mm between voxel centres along i, j, k
	Origin    [3]float64    // LPS mm of the centre of voxel (0,0,0)
	Direction [3][3]float64 // Direction[r][c]: LPS component r of axis c
}

// Identity returns axis-aligned LPS geometry of the given size and spacing
// with the origin at zero.
func Identity(size [3]int, spacing [3]float64) Geometry {
	return Geometry{
		Size:      size,
		Spacing:   spacing,
		Direction: [3][3]float64{{1, 0, 0}, {0, 1, 0}, {0, 0, 1}},
	}
}

// NumVoxels is the number of voxels in the grid.
func (g Geometry) NumVoxels() int { return g.Size[0] * g.Size[1] * g.Size[2] }

// Offset is the position of voxel (i, j, k) in a voxel slice.
func (g Geometry) Offset(i, j, k int) int { return (k*g.Size[1]+j)*g.Size[0] + i }

// Contains reports whether (i, j, k) is inside the grid.
func (g Geometry) Contains(i, j, k int) bool {
	return i >= 0 && j >= 0 && k >= 0 && i < g.Size[0] && j < g.Size[1] && k < g.Size[2]
}

// VoxelVolume is the volume of one voxel in mm³.
func (g Geometry) VoxelVolume() float64 { return g.Spacing[0] * g.Spacing[1] * g.Spacing[2] }

// IndexToPatient maps a continuous voxel index to LPS millimetres.
func (g Geometry) IndexToPatient(idx [3]float64) [3]float64 {
	var p [3]float64
	for r := 0; r < 3; r++ {
		p[r] = g.Origin[r]
		for c := 0; c < 3; c++ {
			p[r] += g.Direction[r][c] * g.Spacing[c] * idx[c]
		}
	}
	return p
}

// PatientToIndex maps LPS millimetres to a continuous voxel index. It inverts
// IndexToPatient for any non-degenerate direction matrix (not only
// orthonormal ones, so sheared grids such as uncorrected gantry tilt stay
// consistent), and returns NaNs for a degenerate one. It inverts the matrix
// on each call: to map many points take g.Inverse() once, and to map one
// grid's voxels onto another's use NewIndexMap.
func (g Geometry) PatientToIndex(p [3]float64) [3]float64 {
	return g.Inverse().PatientToIndex(p)
}

// IndexToPatientMatrix is Direction · diag(Spacing).
func (g Geometry) IndexToPatientMatrix() [3][3]float64 {
	var m [3][3]float64
	for r := 0; r < 3; r++ {
		for c := 0; c < 3; c++ {
			m[r][c] = g.Direction[r][c] * g.Spacing[c]
		}
	}
	return m
}

// AffineLPS is the 4×4 index→LPS matrix.
func (g Geometry) AffineLPS() [4][4]float64 {
	m := g.IndexToPatientMatrix()
	var a [4][4]float64
	for r := 0; r < 3; r++ {
		for c := 0; c < 3; c++ {
			a[r][c] = m[r][c]
		}
		a[r][3] = g.Origin[r]
	}
	a[3][3] = 1
	return a
}

// AffineRAS is the 4×4 index→RAS matrix, as NIfTI's sform defines it: the
// LPS affine with its first two rows negated.
func (g Geometry) AffineRAS() [4][4]float64 {
	a := g.AffineLPS()
	for c := 0; c < 4; c++ {
		a[0][c] = -a[0][c]
		a[1][c] = -a[1][c]
	}
	return a
}

// FromAffineLPS builds a geometry from an index→LPS affine: spacing is the
// length of each column and direction the normalised column.
func FromAffineLPS(size [3]int, a [4][4]float64) (Geometry, error) {
	g := Geometry{Size: size}
	for c := 0; c < 3; c++ {
		n := math.Sqrt(a[0][c]*a[0][c] + a[1][c]*a[1][c] + a[2][c]*a[2][c])
		if n == 0 || math.IsNaN(n) || math.IsInf(n, 0) {
			return Geometry{}, fmt.Errorf("volume: affine column %d has zero or invalid length", c)
		}
		g.Spacing[c] = n
		for r := 0; r < 3; r++ {
			g.Direction[r][c] = a[r][c] / n
		}
	}
	for r := 0; r < 3; r++ {
		g.Origin[r] = a[r][3]
	}
	return g, nil
}

// SameGrid reports whether two geometries describe the same voxel centres,
// in the same index order, to within SameGridTolerance at every corner of
// the grid: masks on one may be taken as lying on the other.
func (g Geometry) SameGrid(o Geometry) bool { return g.SameGridWithin(o, SameGridTolerance) }

// SameGridWithin is SameGrid with the tolerance tol (mm) given: for tests
// that check an exact round trip.
func (g Geometry) SameGridWithin(o Geometry, tol float64) bool {
	if g.Size != o.Size {
		return false
	}
	for _, c := range g.corners() {
		p, q := g.IndexToPatient(c), o.IndexToPatient(c)
		if math.Abs(p[0]-q[0]) > tol || math.Abs(p[1]-q[1]) > tol || math.Abs(p[2]-q[2]) > tol {
			return false
		}
	}
	return true
}

func (g Geometry) corners() [8][3]float64 {
	var cs [8][3]float64
	for n := 0; n < 8; n++ {
		for a := 0; a < 3; a++ {
			if n&(1<<a) != 0 {
				cs[n][a] = float64(g.Size[a] - 1)
			}
		}
	}
	return cs
}

// Validate checks that the geometry can hold voxels: positive size and
// spacing, finite values and a non-degenerate direction matrix.
func (g Geometry) Validate() error {
	for a := 0; a < 3; a++ {
		if g.Size[a] <= 0 {
			return fmt.Errorf("volume: size %v is not positive", g.Size)
		}
		if !(g.Spacing[a] > 0) || math.IsInf(g.Spacing[a], 0) {
			return fmt.Errorf("volume: spacing %v is not positive and finite", g.Spacing)
		}
		if math.IsNaN(g.Origin[a]) || math.IsInf(g.Origin[a], 0) {
			return fmt.Errorf("volume: origin %v is not finite", g.Origin)
		}
	}
	if _, ok := Invert3(g.Direction); !ok {
		return fmt.Errorf("volume: direction matrix %v is degenerate", g.Direction)
	}
	return nil
}

// Volume is a CT (or any scalar) image: int16 voxels, normally Hounsfield
// units, on a Geometry. Len(Voxels) == NumVoxels().
type Volume struct {
	Geometry
	Voxels []int16
	Info   Info
}

// New allocates a zero volume on g.
func New(g Geometry) *Volume {
	return &Volume{Geometry: g, Voxels: make([]int16, g.NumVoxels())}
}

// At returns the voxel at (i, j, k); the caller keeps indices in range.
func (v *Volume) At(i, j, k int) int16 { return v.Voxels[v.Offset(i, j, k)] }

// Range returns the smallest and largest voxel values.
func (v *Volume) Range() (lo, hi int16) {
	if len(v.Voxels) == 0 {
		return 0, 0
	}
	lo, hi = v.Voxels[0], v.Voxels[0]
	for _, x := range v.Voxels {
		if x < lo {
			lo = x
		}
		if x > hi {
			hi = x
		}
	}
	return lo, hi
}

// Info describes where a volume came from and what is known to be wrong
// with it. Everything here is optional.
type Info struct {
	Source            string // file or folder it was read from
	PatientName       string
	PatientID         string
	StudyDate         string // YYYYMMDD as in DICOM
	StudyDescription  string
	SeriesDescription string
	Modality          string
	StudyInstanceUID  string
	SeriesInstanceUID string
	FrameOfReference  string
	// SOPInstanceUIDs holds the UID of the DICOM image that became slice k,
	// so that derived objects (DICOM SEG) can reference their sources.
	SOPInstanceUIDs []string
	SOPClassUID     string
	// Warnings lists geometry or decoding problems found while loading
	// (uneven spacing, missing slices, gantry tilt, skipped files), one
	// human-readable sentence each. They must be shown to the user.
	Warnings []string
	// Assumed lists what the geometry rests on that the source does not
	// state validly (e.g. 1 mm pixels for a missing PixelSpacing). When it
	// is not empty, every distance and volume computed on this grid must
	// be shown with it (see AssumedNote); each entry is also in Warnings.
	Assumed []string
}

// AssumedNote is a short qualifier to print next to a volume or distance
// measured on this grid: "" when the geometry is stated validly.
func (i Info) AssumedNote() string {
	if len(i.Assumed) == 0 {
		return ""
	}
	return "ON ASSUMED GEOMETRY: " + strings.Join(i.Assumed, "; ")
}

// Mask is a label image on the same kind of grid as a Volume: 0 is
// background, other values are labels (1 = liver).
type Mask struct {
	Geometry
	Voxels []uint8
}

// NewMask allocates an empty mask on g.
func NewMask(g Geometry) *Mask {
	return &Mask{Geometry: g, Voxels: make([]uint8, g.NumVoxels())}
}

// Count returns the number of non-zero voxels.
func (m *Mask) Count() int {
	n := 0
	for _, x := range m.Voxels {
		if x != 0 {
			n++
		}
	}
	return n
}

// VolumeML is the volume of the non-zero voxels in millilitres.
func (m *Mask) VolumeML() float64 { return float64(m.Count()) * m.VoxelVolume() / 1000 }

// Centroid is the mean patient position (LPS mm) of the non-zero voxels'
// centres and their number; ok is false for an empty mask. It is summed in
// index space and mapped once, the map to LPS being affine.
func (m *Mask) Centroid() (c [3]float64, n int, ok bool) {
	var sum [3]float64
	for k := 0; k < m.Size[2]; k++ {
		for j := 0; j < m.Size[1]; j++ {
			row := m.Voxels[m.Offset(0, j, k):][:m.Size[0]]
			for i, v := range row {
				if v != 0 {
					sum[0] += float64(i)
					sum[1] += float64(j)
					sum[2] += float64(k)
					n++
				}
			}
		}
	}
	if n == 0 {
		return c, 0, false
	}
	for a := range sum {
		sum[a] /= float64(n)
	}
	return m.IndexToPatient(sum), n, true
}

// Invert3 inverts a 3×3 matrix; ok is false when it is singular (|det| <
// 1e-12) or not finite.
func Invert3(m [3][3]float64) ([3][3]float64, bool) {
	det := m[0][0]*(m[1][1]*m[2][2]-m[1][2]*m[2][1]) -
		m[0][1]*(m[1][0]*m[2][2]-m[1][2]*m[2][0]) +
		m[0][2]*(m[1][0]*m[2][1]-m[1][1]*m[2][0])
	if math.Abs(det) < 1e-12 || math.IsNaN(det) {
		return [3][3]float64{}, false
	}
	var inv [3][3]float64
	inv[0][0] = (m[1][1]*m[2][2] - m[1][2]*m[2][1]) / det
	inv[0][1] = (m[0][2]*m[2][1] - m[0][1]*m[2][2]) / det
	inv[0][2] = (m[0][1]*m[1][2] - m[0][2]*m[1][1]) / det
	inv[1][0] = (m[1][2]*m[2][0] - m[1][0]*m[2][2]) / det
	inv[1][1] = (m[0][0]*m[2][2] - m[0][2]*m[2][0]) / det
	inv[1][2] = (m[0][2]*m[1][0] - m[0][0]*m[1][2]) / det
	inv[2][0] = (m[1][0]*m[2][1] - m[1][1]*m[2][0]) / det
	inv[2][1] = (m[0][1]*m[2][0] - m[0][0]*m[2][1]) / det
	inv[2][2] = (m[0][0]*m[1][1] - m[0][1]*m[1][0]) / det
	return inv, true
}
