// Package thumbnail makes the small pictures that let a user recognise a
// series before opening it (the series picker, the PACS browser), as
// Weasis and OHIF show them. Scaling is done by disintegration/imaging
// (Lanczos: a thumbnail of a 512² slice scaled to 96 px stays sharp
// without the aliasing of nearest-neighbour sampling).
package thumbnail

import (
	"errors"
	"fmt"
	"image"
	"math"

	"github.com/disintegration/imaging"

	"github.com/liverseg/liverseg/dicomio"
	"github.com/liverseg/liverseg/viewer"
)

// Size is the default edge of a thumbnail in pixels.
const Size = 96

// Slice renders one slice (rows×cols values in HU, row-major, as
// dicomio.Series.ReadSlice returns them) through window wl and fits it
// into a size×size box. spacing is the pixel spacing (column, row) in mm:
// the picture keeps the slice's physical aspect, not its matrix's.
func Slice(pix []int16, cols, rows int, spacing [2]float64, wl viewer.WindowLevel, size int) (*image.NRGBA, error) {
	if cols <= 0 || rows <= 0 || len(pix) != cols*rows {
		return nil, fmt.Errorf("thumbnail: %d values for a %d×%d slice", len(pix), cols, rows)
	}
	if size <= 0 {
		return nil, errors.New("thumbnail: size must be positive")
	}
	lut := viewer.NewLUT(wl)
	g := image.NewGray(image.Rect(0, 0, cols, rows))
	for i, v := range pix {
		g.Pix[i] = lut[uint16(v)]
	}
	sx, sy := spacing[0], spacing[1]
	if !(sx > 0) || !(sy > 0) || math.IsInf(sx, 0) || math.IsInf(sy, 0) {
		sx, sy = 1, 1 // unknown spacing: square pixels, as the viewer assumes
	}
	w, h := float64(cols)*sx, float64(rows)*sy
	scale := float64(size) / math.Max(w, h)
	tw, th := max(1, int(math.Round(w*scale))), max(1, int(math.Round(h*scale)))
	return imaging.Resize(g, tw, th, imaging.Lanczos), nil
}

// Series reads the middle slice of s (only that file) and renders it with
// the abdomen window.
func Series(s *dicomio.Series, size int) (*image.NRGBA, error) {
	if s == nil || s.NumSlices() == 0 {
		return nil, errors.New("thumbnail: empty series")
	}
	pix, err := s.ReadSlice(s.NumSlices() / 2)
	if err != nil {
		return nil, fmt.Errorf("thumbnail of series %s: %w", s.Key, err)
	}
	sp := s.Geometry().Spacing
	return Slice(pix, s.Cols, s.Rows, [2]float64{sp[0], sp[1]}, viewer.DefaultWindow, size)
}

// Fit scales a picture that is already rendered (a PACS server's
// rendered frame, a screenshot for a report) to fit a w×h box, keeping
// its aspect; it never enlarges.
func Fit(img image.Image, w, h int) *image.NRGBA {
	b := img.Bounds()
	if b.Dx() <= w && b.Dy() <= h {
		return imaging.Clone(img)
	}
	return imaging.Fit(img, w, h, imaging.Lanczos)
}
