package viewer

import (
	"fmt"
	"image"
	"math"

	"github.com/liverseg/liverseg/volume"
)

// Plane is one of the three orthogonal display planes.
type Plane int

// The display planes, in radiological convention:
//   - Axial: patient Right on screen left, Anterior up (viewed from the feet).
//   - Coronal: patient Right on screen left, Superior up (viewed from the front).
//   - Sagittal: Anterior on screen left, Superior up (viewed from the patient's left).
const (
	Axial Plane = iota
	Coronal
	Sagittal
)

// Planes lists the planes in display order.
var Planes = [3]Plane{Axial, Coronal, Sagittal}

func (p Plane) String() string {
	switch p {
	case Axial:
		return "Axial"
	case Coronal:
		return "Coronal"
	case Sagittal:
		return "Sagittal"
	}
	return fmt.Sprintf("Plane(%d)", int(p))
}

// NormalAxis is the canonical (LPS) index axis the plane is perpendicular
// to: slices of the axial plane step along k (S), coronal along j (P),
// sagittal along i (L).
func (p Plane) NormalAxis() int {
	switch p {
	case Coronal:
		return 1
	case Sagittal:
		return 0
	}
	return 2
}

// axes returns the canonical index axes that run along screen x and screen y,
// and whether screen y runs against the axis (superior up).
func (p Plane) axes() (ax, ay int, flipY bool) {
	switch p {
	case Coronal:
		return 0, 2, true
	case Sagittal:
		return 1, 2, true
	}
	return 0, 1, false
}

// Letters are the patient directions at the left, right, top and bottom edges
// of the plane's image.
func (p Plane) Letters() (left, right, top, bottom string) {
	switch p {
	case Coronal:
		return "R", "L", "S", "I"
	case Sagittal:
		return "A", "P", "S", "I"
	}
	return "R", "L", "A", "P"
}

// Slicer reslices one volume into display planes. It holds the volume in
// canonical LPS index order (volume.Canonical), so every plane is a strided
// walk through memory with no interpolation.
type Slicer struct {
	vol   *volume.Volume // canonical
	note  string
	avail Availability // nil: every voxel is there
}

// Availability tells which slices of a volume that is still being read
// hold their voxels (a thin-slice series fills in while it is shown).
type Availability interface {
	// SliceReady reports whether canonical axial slice k holds its voxels.
	SliceReady(k int) bool
	// Complete reports whether every slice does.
	Complete() bool
}

// LoadingGrey is the colour of a slice that has not arrived yet: darker
// than any tissue at the usual windows, lighter than the view's black
// border, so that it reads as "nothing here yet", never as anatomy.
const LoadingGrey = 28

// SetAvailability makes the slicer show only slices that have arrived
// (nil: all have). An axial slice shows once it is ready; coronal and
// sagittal planes cross every slice and show once all are. Readouts of
// voxels not yet there report nothing.
func (s *Slicer) SetAvailability(a Availability) { s.avail = a }

// Ready reports whether the plane's slice can be shown with its final
// voxels (true for every slice of a fully loaded volume).
func (s *Slicer) Ready(p Plane, slice int) bool {
	if s.avail == nil || s.avail.Complete() {
		return true
	}
	if p == Axial {
		return s.avail.SliceReady(s.ClampSlice(p, slice))
	}
	return false
}

// Loading reports whether part of the volume has not arrived yet.
func (s *Slicer) Loading() bool { return s.avail != nil && !s.avail.Complete() }

// obliqueTolerance is the angle (degrees) between an index axis and the
// nearest patient axis above which the display is called approximate.
const obliqueTolerance = 0.5

// NewSlicer prepares a volume for display. Volumes in any orientation are
// accepted: index axes are permuted and flipped to the nearest patient axes.
// When an axis is more than half a degree off (oblique acquisition, gantry
// tilt), Note says so, because the planes shown are then the acquisition's
// own planes, not true axial/coronal/sagittal ones.
func NewSlicer(v *volume.Volume) (*Slicer, error) {
	if v == nil {
		return nil, fmt.Errorf("viewer: no volume")
	}
	if err := v.Geometry.Validate(); err != nil {
		return nil, fmt.Errorf("viewer: %w", err)
	}
	if len(v.Voxels) != v.NumVoxels() {
		return nil, fmt.Errorf("viewer: volume has %d voxels, its geometry %v needs %d", len(v.Voxels), v.Size, v.NumVoxels())
	}
	c := v.Canonical()
	s := &Slicer{vol: c}
	worst := 0.0
	for a := 0; a < 3; a++ {
		cos := math.Abs(c.Direction[a][a])
		if cos > 1 {
			cos = 1
		}
		if ang := math.Acos(cos) * 180 / math.Pi; ang > worst {
			worst = ang
		}
	}
	if worst > obliqueTolerance {
		s.note = fmt.Sprintf("Oblique volume (axes up to %.1f° from the patient axes; acquisition code %s): shown on the nearest axes, not resliced. Coordinates and HU values are exact.",
			worst, v.NearestOrientation().Code())
	}
	return s, nil
}

// Volume is the canonical (LPS-ordered) volume being displayed.
func (s *Slicer) Volume() *volume.Volume { return s.vol }

// Note is a warning about how the volume is displayed (oblique axes), or "".
func (s *Slicer) Note() string { return s.note }

// Size is the canonical grid size.
func (s *Slicer) Size() [3]int { return s.vol.Size }

// Dims returns the width and height in voxels of the plane's images and the
// number of slices along its normal.
func (s *Slicer) Dims(p Plane) (w, h, n int) {
	ax, ay, _ := p.axes()
	return s.vol.Size[ax], s.vol.Size[ay], s.vol.Size[p.NormalAxis()]
}

// PixelSpacing is the physical size in mm of one image pixel of the plane
// along screen x and screen y; the widget scales by it so that every view
// keeps its true aspect ratio.
func (s *Slicer) PixelSpacing(p Plane) (sx, sy float64) {
	ax, ay, _ := p.axes()
	return s.vol.Spacing[ax], s.vol.Spacing[ay]
}

// PlaneToIndex maps a point of the plane's image (pixel units; pixel (0,0)
// covers [0,1)×[0,1)) on a slice to a continuous canonical voxel index
// (voxel centres at integers).
func (s *Slicer) PlaneToIndex(p Plane, slice int, px, py float64) [3]float64 {
	ax, ay, flip := p.axes()
	var idx [3]float64
	idx[ax] = px - 0.5
	if flip {
		idx[ay] = float64(s.vol.Size[ay]) - py - 0.5
	} else {
		idx[ay] = py - 0.5
	}
	idx[p.NormalAxis()] = float64(slice)
	return idx
}

// IndexToPlane maps a voxel index to the centre of its pixel in the plane's
// image and to the slice that contains it.
func (s *Slicer) IndexToPlane(p Plane, idx [3]int) (px, py float64, slice int) {
	ax, ay, flip := p.axes()
	px = float64(idx[ax]) + 0.5
	if flip {
		py = float64(s.vol.Size[ay]-1-idx[ay]) + 0.5
	} else {
		py = float64(idx[ay]) + 0.5
	}
	return px, py, idx[p.NormalAxis()]
}

// Strides describes how to walk a plane through a voxel array of a grid of
// the given size: pixel (x, y) of slice is element Base + x*SX + y*SY.
// Overlays use it to read masks on the same canonical grid.
func Strides(size [3]int, p Plane, slice int) (base, sx, sy int) {
	nx, ny, nz := size[0], size[1], size[2]
	switch p {
	case Coronal:
		return slice*nx + (nz-1)*nx*ny, 1, -nx * ny
	case Sagittal:
		return slice + (nz-1)*nx*ny, nx, -nx * ny
	}
	return slice * nx * ny, 1, nx
}

// ClampSlice limits a slice index to the plane's range.
func (s *Slicer) ClampSlice(p Plane, slice int) int {
	n := s.vol.Size[p.NormalAxis()]
	if slice < 0 {
		return 0
	}
	if slice >= n {
		return n - 1
	}
	return slice
}

// Render draws one slice through the window LUT at voxel resolution (one
// pixel per voxel; the widget scales to physical aspect). It reuses dst when
// it has the right size and allocates otherwise; the returned image is the
// one written. Out-of-range slices are clamped.
func (s *Slicer) Render(dst *image.RGBA, p Plane, slice int, lut *LUT) *image.RGBA {
	w, h, _ := s.Dims(p)
	if dst == nil || dst.Rect.Dx() != w || dst.Rect.Dy() != h || dst.Rect.Min != (image.Point{}) {
		dst = image.NewRGBA(image.Rect(0, 0, w, h))
	}
	slice = s.ClampSlice(p, slice)
	if !s.Ready(p, slice) {
		for i := 0; i < len(dst.Pix); i += 4 {
			dst.Pix[i], dst.Pix[i+1], dst.Pix[i+2], dst.Pix[i+3] = LoadingGrey, LoadingGrey, LoadingGrey, 255
		}
		return dst
	}
	base, sx, sy := Strides(s.vol.Size, p, slice)
	vox := s.vol.Voxels
	for y := 0; y < h; y++ {
		row := dst.Pix[y*dst.Stride : y*dst.Stride+4*w : y*dst.Stride+4*w]
		src := base + y*sy
		if sx == 1 {
			// Contiguous row (axial, coronal): let the compiler drop bounds checks.
			in := vox[src : src+w]
			for x, v := range in {
				g := lut[uint16(v)]
				o := row[4*x : 4*x+4 : 4*x+4]
				o[0], o[1], o[2], o[3] = g, g, g, 255
			}
			continue
		}
		for x := 0; x < w; x++ {
			g := lut[uint16(vox[src])]
			o := row[4*x : 4*x+4 : 4*x+4]
			o[0], o[1], o[2], o[3] = g, g, g, 255
			src += sx
		}
	}
	return dst
}

// Value returns the HU value at a voxel index and whether it lies inside the
// volume.
func (s *Slicer) Value(idx [3]int) (int16, bool) {
	if !s.vol.Contains(idx[0], idx[1], idx[2]) || !s.Ready(Axial, idx[2]) {
		return 0, false
	}
	return s.vol.At(idx[0], idx[1], idx[2]), true
}

// Patient is the LPS position in mm of a (continuous) canonical voxel index.
func (s *Slicer) Patient(idx [3]float64) [3]float64 {
	return s.vol.IndexToPatient(idx)
}

// RoundIndex rounds a continuous index to the nearest voxel and reports
// whether that voxel lies inside the volume.
func (s *Slicer) RoundIndex(f [3]float64) ([3]int, bool) {
	var idx [3]int
	for a := 0; a < 3; a++ {
		if math.IsNaN(f[a]) {
			return idx, false
		}
		idx[a] = int(math.Floor(f[a] + 0.5))
	}
	return idx, s.vol.Contains(idx[0], idx[1], idx[2])
}
