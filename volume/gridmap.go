package volume

import (
	"fmt"
	"math"
)

// SameGridTolerance is how far (mm) two grids' voxel centres may lie apart
// at every corner and still count as the same grid (SameGrid). NIfTI stores
// its affine in float32, which moves positions a few hundred mm from the
// origin by some micrometres, and DICOM writers round
// ImagePositionPatient and PixelSpacing in their decimal strings; a mask
// written by one tool and read against a CT read by another differs by
// that much. 0.05 mm absorbs it and is still under a tenth of any CT voxel
// (0.3 mm and more), so two grids within it map every voxel onto the same
// voxel by nearest neighbour: taking one for the other changes no label.
const SameGridTolerance = 0.05

// LatticeTolerance is how far (in voxels, per index) a voxel centre mapped
// from one grid may lie from a voxel centre of the other and still count
// as falling on it (IndexMap.Lattice, Mask.OnGrid): a tenth of a voxel,
// the same limit as the DICOM SEG reader's for frames on the slice grid.
const LatticeTolerance = 0.1

// Inverse is the patient → index map of a Geometry with its matrix
// inverted once. Geometry.PatientToIndex inverts the matrix on every call;
// a loop over many points takes g.Inverse() once and calls its
// PatientToIndex. It is a value: copying it is safe and nothing in it
// changes.
type Inverse struct {
	origin [3]float64
	m      [3][3]float64 // (Direction · diag(Spacing))⁻¹
	ok     bool
}

// Inverse inverts g's index → patient matrix. When the matrix is
// degenerate, OK is false and PatientToIndex returns NaNs.
func (g Geometry) Inverse() Inverse {
	m, ok := Invert3(g.IndexToPatientMatrix())
	return Inverse{origin: g.Origin, m: m, ok: ok}
}

// OK reports whether the geometry was invertible.
func (v Inverse) OK() bool { return v.ok }

// PatientToIndex maps LPS millimetres to a continuous voxel index.
func (v Inverse) PatientToIndex(p [3]float64) [3]float64 {
	if !v.ok {
		return [3]float64{math.NaN(), math.NaN(), math.NaN()}
	}
	d := [3]float64{p[0] - v.origin[0], p[1] - v.origin[1], p[2] - v.origin[2]}
	return mulVec(v.m, d)
}

func mulVec(m [3][3]float64, x [3]float64) [3]float64 {
	var y [3]float64
	for r := 0; r < 3; r++ {
		y[r] = m[r][0]*x[0] + m[r][1]*x[1] + m[r][2]*x[2]
	}
	return y
}

// IndexMap maps voxel indices of one grid (From) to continuous voxel
// indices of another (To) through patient space: voxel (i, j, k) of From
// has its centre at To index
//
//	Origin + i·Step[0] + j·Step[1] + k·Step[2]
//
// The map is affine, so it is computed once from the two geometries and a
// walk along a row of From costs three additions per voxel instead of a
// matrix inversion and two matrix products (Geometry.PatientToIndex of
// IndexToPatient).
type IndexMap struct {
	From, To Geometry
	Origin   [3]float64    // To index of From voxel (0, 0, 0)
	Step     [3][3]float64 // Step[a]: change of To index per step along From axis a
}

// NewIndexMap computes the map from from's voxel indices to to's. It fails
// when to's direction matrix is degenerate.
func NewIndexMap(from, to Geometry) (IndexMap, error) {
	inv := to.Inverse()
	if !inv.ok {
		return IndexMap{}, fmt.Errorf("volume: grid %v has a degenerate direction matrix", to.Size)
	}
	im := IndexMap{From: from, To: to, Origin: inv.PatientToIndex(from.Origin)}
	m := from.IndexToPatientMatrix()
	for a := 0; a < 3; a++ {
		im.Step[a] = mulVec(inv.m, [3]float64{m[0][a], m[1][a], m[2][a]})
	}
	return im, nil
}

// At is the To index of From index idx.
func (im IndexMap) At(idx [3]float64) [3]float64 {
	var y [3]float64
	for r := 0; r < 3; r++ {
		y[r] = im.Origin[r] + im.Step[0][r]*idx[0] + im.Step[1][r]*idx[1] + im.Step[2][r]*idx[2]
	}
	return y
}

// Lattice returns the map rounded to whole voxels when From's voxel
// centres fall on To's (every component of Origin and Step within tol
// voxels of an integer): From voxel (i, j, k) is then To voxel
// base + i·steps[0] + j·steps[1] + k·steps[2]. The error says which part of
// the map falls between voxels.
func (im IndexMap) Lattice(tol float64) (base [3]int, steps [3][3]int, err error) {
	round := func(v [3]float64, what string) ([3]int, error) {
		var out [3]int
		for a := 0; a < 3; a++ {
			out[a] = int(math.Round(v[a]))
			if !(math.Abs(v[a]-float64(out[a])) <= tol) {
				return out, fmt.Errorf("%s falls between voxels of the grid (index %.3f, %.3f, %.3f)", what, v[0], v[1], v[2])
			}
		}
		return out, nil
	}
	if base, err = round(im.Origin, "first voxel"); err != nil {
		return base, steps, err
	}
	for a := 0; a < 3; a++ {
		if steps[a], err = round(im.Step[a], fmt.Sprintf("axis %d step", a)); err != nil {
			return base, steps, err
		}
	}
	return base, steps, nil
}

// voxelForVoxel reports whether the map sends From's voxels one to one onto
// To's: whole-voxel offsets and unit steps along permuted axes (the same
// voxel centres in another index order, possibly a part of the grid).
func (im IndexMap) voxelForVoxel() bool {
	_, steps, err := im.Lattice(LatticeTolerance)
	if err != nil {
		return false
	}
	var used [3]bool
	for a := 0; a < 3; a++ {
		n := 0
		for r := 0; r < 3; r++ {
			switch steps[a][r] {
			case 0:
			case 1, -1:
				if used[r] {
					return false
				}
				used[r] = true
				n++
			default:
				return false
			}
		}
		if n != 1 {
			return false
		}
	}
	return true
}

// Fit says how Mask.OnGrid put a mask on a grid.
type Fit struct {
	// Resampled is false when the mask's voxel centres coincide with the
	// grid's (in any index order, within LatticeTolerance), so every voxel
	// was copied to its own place, and true when labels were taken from
	// the nearest voxel.
	Resampled bool
	// Covered is the number of grid voxels whose centre lies inside the
	// mask's grid; the others are background.
	Covered int
}

// OnGrid returns m on grid g, nearest neighbour: each voxel of g takes the
// label of the voxel of m nearest to its centre, or 0 (background) when
// its centre lies outside m's grid. When both grids hold the same voxel
// centres (in any index order) this copies every voxel to its own place,
// and fit.Resampled is false. The result carries g itself, not m's
// (possibly rounded) geometry. When m is already on g in the same index
// order (SameGrid), the result shares m's voxels.
func (m *Mask) OnGrid(g Geometry) (*Mask, Fit, error) {
	if len(m.Voxels) != m.NumVoxels() {
		return nil, Fit{}, fmt.Errorf("volume: mask has %d voxels, its grid %v needs %d", len(m.Voxels), m.Size, m.NumVoxels())
	}
	if err := g.Validate(); err != nil {
		return nil, Fit{}, err
	}
	if m.SameGrid(g) {
		return &Mask{Geometry: g, Voxels: m.Voxels}, Fit{Covered: g.NumVoxels()}, nil
	}
	im, err := NewIndexMap(g, m.Geometry)
	if err != nil {
		return nil, Fit{}, err
	}
	out := NewMask(g)
	covered := resampleNearest(im, m.Voxels, out.Voxels)
	return out, Fit{Resampled: !im.voxelForVoxel(), Covered: covered}, nil
}

// resampleNearest fills dst (on im.From) with the src voxel (on im.To)
// nearest to each voxel centre, leaving voxels outside src untouched, and
// returns how many were inside. The index along a row advances by
// additions only.
func resampleNearest[T any](im IndexMap, src, dst []T) int {
	to, from := im.To, im.From
	nx, ny := to.Size[0], to.Size[1]
	sx, sy, sz := float64(to.Size[0]), float64(to.Size[1]), float64(to.Size[2])
	d := im.Step[0]
	covered, n := 0, 0
	for k := 0; k < from.Size[2]; k++ {
		for j := 0; j < from.Size[1]; j++ {
			var f [3]float64
			for r := 0; r < 3; r++ {
				f[r] = im.Origin[r] + im.Step[1][r]*float64(j) + im.Step[2][r]*float64(k)
			}
			x, y, z := f[0]+0.5, f[1]+0.5, f[2]+0.5 // floor(x) is the nearest index
			for i := 0; i < from.Size[0]; i, n = i+1, n+1 {
				// Inside when -0.5 <= index < size-0.5 on every axis (a NaN
				// fails every comparison, so it is outside).
				if x >= 0 && y >= 0 && z >= 0 && x < sx && y < sy && z < sz {
					dst[n] = src[(int(z)*ny+int(y))*nx+int(x)]
					covered++
				}
				x, y, z = x+d[0], y+d[1], z+d[2]
			}
		}
	}
	return covered
}
