package app

import (
	"image"
	"image/color"
	"math"

	"github.com/liverseg/liverseg/resection"
	"github.com/liverseg/liverseg/viewer"
)

// planOverlay draws the plan on the 2D views: each cut's line (the
// selected one brighter), the resected part of the liver tinted blue, and
// the selected cut's control points (filled within a slice of the view,
// hollow farther away).
type planOverlay struct{ p *planUI }

func (o planOverlay) Draw(dst *image.RGBA, pl viewer.Plane, slice int, vp viewer.Viewport) {
	p := o.p
	if p == nil || len(p.plan.Cuts) == 0 || p.u.scene == nil {
		return
	}
	sl := p.u.scene.Slicer()
	w, h := dst.Rect.Dx(), dst.Rect.Dy()
	if w == 0 || h == 0 {
		return
	}
	// Overlay pixel (x, y) → LPS is affine: find its origin and steps.
	at := func(x, y float64) resection.Vec {
		return sl.Patient(sl.PlaneToIndex(pl, slice, vp.X0+(x+0.5)*vp.DX, vp.Y0+(y+0.5)*vp.DY))
	}
	p0 := at(0, 0)
	px, py := at(1, 0), at(0, 1)
	dx := resection.Vec{px[0] - p0[0], px[1] - p0[1], px[2] - p0[2]}
	dy := resection.Vec{py[0] - p0[0], py[1] - p0[1], py[2] - p0[2]}
	mask := p.liverCanon
	n := len(p.plan.Cuts)
	side := make([]float32, n*w*h)
	for c, cut := range p.plan.Cuts {
		s := side[c*w*h:][:w*h]
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				q := resection.Vec{p0[0] + dx[0]*float64(x) + dy[0]*float64(y), p0[1] + dx[1]*float64(x) + dy[1]*float64(y), p0[2] + dx[2]*float64(x) + dy[2]*float64(y)}
				s[y*w+x] = float32(cut.Side(q))
			}
		}
	}
	all := p.plan.Combine == resection.All
	pix := dst.Pix
	// The resected part of the liver, tinted.
	if mask != nil {
		g := mask.Geometry
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				r := all
				for c := 0; c < n; c++ {
					if (side[c*w*h+y*w+x] > 0) != all {
						r = !all
						break
					}
				}
				if !r {
					continue
				}
				idx := sl.PlaneToIndex(pl, slice, vp.X0+(float64(x)+0.5)*vp.DX, vp.Y0+(float64(y)+0.5)*vp.DY)
				i, j, k := int(math.Round(idx[0])), int(math.Round(idx[1])), int(math.Round(idx[2]))
				if !g.Contains(i, j, k) || mask.Voxels[g.Offset(i, j, k)] == 0 {
					continue
				}
				blendPx(pix[dst.PixOffset(x, y):], colResected, 90)
			}
		}
	}
	// Each cut's line: where its side changes sign between neighbours.
	for c := 0; c < n; c++ {
		col := color.NRGBA{255, 230, 80, 255}
		a := uint32(170)
		if c == p.sel {
			col, a = color.NRGBA{255, 255, 0, 255}, 255
		}
		s := side[c*w*h:][:w*h]
		for y := 0; y < h-1; y++ {
			for x := 0; x < w-1; x++ {
				v := s[y*w+x] > 0
				if v != (s[y*w+x+1] > 0) || v != (s[(y+1)*w+x] > 0) {
					for _, d := range [][2]int{{0, 0}, {1, 0}, {0, 1}, {1, 1}} {
						blendPx(pix[dst.PixOffset(x+d[0], y+d[1]):], col, a)
					}
				}
			}
		}
	}
	// Control points of the selected cut.
	cut := p.plan.Cuts[p.sel]
	nAxis := pl.NormalAxis()
	for i := 0; i < resection.Grid; i++ {
		for j := 0; j < resection.Grid; j++ {
			cp := cut.ControlPoint(i, j)
			f := sl.Volume().PatientToIndex(cp)
			idx, ok := sl.RoundIndex(f)
			if !ok {
				continue
			}
			ppx, ppy, _ := sl.IndexToPlane(pl, idx)
			ox, oy := (ppx-vp.X0)/vp.DX, (ppy-vp.Y0)/vp.DY
			near := math.Abs(f[nAxis]-float64(slice)) <= 1
			col := color.NRGBA{120, 220, 255, 255}
			if [2]int{i, j} == p.selCP {
				col = color.NRGBA{255, 80, 200, 255}
			}
			drawSquare(dst, int(ox), int(oy), 5, col, near)
		}
	}
}

// blendPx puts c at alpha a (0..255) over the premultiplied pixel px.
func blendPx(px []uint8, c color.NRGBA, a uint32) {
	inv := 255 - a
	px[0] = uint8((uint32(c.R)*a + uint32(px[0])*inv) / 255)
	px[1] = uint8((uint32(c.G)*a + uint32(px[1])*inv) / 255)
	px[2] = uint8((uint32(c.B)*a + uint32(px[2])*inv) / 255)
	px[3] = uint8(a + uint32(px[3])*inv/255)
}

func drawSquare(dst *image.RGBA, cx, cy, r int, c color.NRGBA, filled bool) {
	for y := cy - r; y <= cy+r; y++ {
		for x := cx - r; x <= cx+r; x++ {
			if !(image.Point{x, y}.In(dst.Rect)) {
				continue
			}
			edge := x == cx-r || x == cx+r || y == cy-r || y == cy+r
			if edge || filled {
				blendPx(dst.Pix[dst.PixOffset(x, y):], c, 255)
			}
		}
	}
}
