package viewer

import (
	"fmt"
	"image"
	"image/color"

	"github.com/liverseg/liverseg/volume"
)

// Overlay draws something on top of the grey image of one slice: a
// segmentation, a difference map, a probability heat map. The widget keeps
// overlays in a separate transparent layer, so changing an overlay (its
// opacity, or a new mask after inference) re-composites that layer only and
// never re-renders the CT, and changing the window never touches overlays.
type Overlay interface {
	// Composite blends the overlay for slice of plane into dst, whose bounds
	// are the plane's image at voxel resolution (Slicer.Dims) and whose
	// pixels are premultiplied RGBA. The grid is the canonical one of the
	// displayed volume; Strides maps pixels to voxels.
	Composite(dst *image.RGBA, p Plane, slice int)
}

// MaskOverlay shows a label mask on the displayed volume's grid as a
// translucent fill, an outline, or both. Fill and outline opacity are
// separate so that the anatomy under a mask can stay visible.
type MaskOverlay struct {
	mask           *volume.Mask // canonical, same grid as the volume
	Color          color.NRGBA  // label colour (alpha ignored)
	FillOpacity    float64      // 0..1
	OutlineOpacity float64      // 0..1; outline is one voxel wide, drawn on the mask's border voxels
}

// NewMaskOverlay checks that m lies on the same grid as the volume shown by s
// (within 0.01 mm at every corner) and prepares it for display.
func NewMaskOverlay(s *Slicer, m *volume.Mask, c color.NRGBA, fill, outline float64) (*MaskOverlay, error) {
	if m == nil {
		return nil, fmt.Errorf("viewer: no mask")
	}
	cm := m.Canonical()
	if !cm.SameGrid(s.vol.Geometry, 0.01) {
		return nil, fmt.Errorf("viewer: mask grid %v does not match the volume grid %v", m.Size, s.vol.Size)
	}
	return &MaskOverlay{mask: cm, Color: c, FillOpacity: fill, OutlineOpacity: outline}, nil
}

// Composite implements Overlay.
func (o *MaskOverlay) Composite(dst *image.RGBA, p Plane, slice int) {
	size := o.mask.Size
	w, h := dst.Rect.Dx(), dst.Rect.Dy()
	base, sx, sy := Strides(size, p, slice)
	vox := o.mask.Voxels
	at := func(x, y int) bool {
		if x < 0 || y < 0 || x >= w || y >= h {
			return false
		}
		return vox[base+x*sx+y*sy] != 0
	}
	fa := uint32(clamp01(o.FillOpacity) * 255)
	oa := uint32(clamp01(o.OutlineOpacity) * 255)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			if !at(x, y) {
				continue
			}
			a := fa
			if oa > 0 && (!at(x-1, y) || !at(x+1, y) || !at(x, y-1) || !at(x, y+1)) {
				a = oa
			}
			if a == 0 {
				continue
			}
			i := dst.PixOffset(x, y)
			blend(dst.Pix[i:i+4:i+4], o.Color, a)
		}
	}
}

// blend puts colour c at alpha a (0..255) over the premultiplied pixel px.
func blend(px []uint8, c color.NRGBA, a uint32) {
	inv := 255 - a
	px[0] = uint8((uint32(c.R)*a + uint32(px[0])*inv) / 255)
	px[1] = uint8((uint32(c.G)*a + uint32(px[1])*inv) / 255)
	px[2] = uint8((uint32(c.B)*a + uint32(px[2])*inv) / 255)
	px[3] = uint8(a + uint32(px[3])*inv/255)
}

func clamp01(f float64) float64 {
	switch {
	case f > 1:
		return 1
	case f > 0:
		return f
	}
	return 0
}
