package viewer

import (
	"image"
	"image/color"
	"math"
)

// Viewport says which part of a plane's image an overlay image covers and
// at what resolution. Plane coordinates are pixels of the plane's
// voxel-resolution image (Slicer.Dims), (0,0) its top-left corner, so voxel
// pixel (i, j) covers [i, i+1)×[j, j+1). The centre of pixel (x, y) of the
// overlay image lies at plane point (X0 + (x+0.5)·DX, Y0 + (y+0.5)·DY): DX and
// DY are the plane pixels per overlay pixel (below 1 when the view is
// magnified, which is what lets contours be drawn finer than a voxel).
type Viewport struct {
	X0, Y0, DX, DY float64
}

// VoxelViewport is the viewport of an overlay image at voxel resolution
// (one overlay pixel per plane pixel).
var VoxelViewport = Viewport{DX: 1, DY: 1}

// Style is how a segmentation is drawn: a translucent fill, an outline, or
// both, in one colour. Fill and outline opacity are separate so that the
// anatomy under a mask can stay visible (outline only).
type Style struct {
	Color   color.NRGBA // alpha ignored
	Fill    float64     // fill opacity, 0..1
	Outline float64     // outline opacity, 0..1
	// Width is the outline width in overlay pixels (device pixels on
	// screen); 0 means DefaultOutlineWidth.
	Width float64
	// Dash, when > 0, breaks the outline into dashes about Dash overlay
	// pixels long, so that a mask drawn in this style (a reference) reads
	// as a different kind of line from a solid model outline even where
	// the colours are alike.
	Dash float64
	// Halo, when > 0, lines the outline with a dark edge Halo overlay
	// pixels wide on both sides (and under the gaps of a dashed line), so
	// that a light colour stays visible on bright anatomy such as an
	// enhanced liver, and a dark one on the black background.
	Halo float64
}

// HaloColor is the colour of an outline's dark edge (Style.Halo).
var HaloColor = color.NRGBA{R: 0, G: 0, B: 0, A: 255}

// haloOpacity is the dark edge's opacity relative to the outline's.
const haloOpacity = 0.85

// DefaultOutlineWidth is the outline width in device pixels: wide enough to
// see at a glance on a 1:1 display, narrow enough not to hide the edge it
// marks.
const DefaultOutlineWidth = 2

// field is a scalar map on one slice (a probability, or a mask as 0/1) with
// an affine map from plane coordinates to its sample indices: sample (i, j)
// lies at fx = i, fy = j where fx = AX·px + BX, fy = AY·py + BY. It is drawn
// by contouring at a threshold with bilinear interpolation, which makes the
// drawn boundary a smooth curve at the display's own resolution instead of
// a staircase of voxels.
type field struct {
	data   []float32
	w, h   int
	ax, bx float64
	ay, by float64

	// Cell classification, kept while the data, threshold and reach stay
	// the same (a mask's field is reused across redraws of one slice).
	clsKey   clsKey
	state    []uint8   // per cell: 0 outside, 2 inside, 1 crossing
	lip      []float32 // per cell: 0 far from the contour, else a slope bound
	clsValid bool
}

type clsKey struct {
	t      float64
	rx, ry int
}

// invalidate forgets the classification after data changed.
func (f *field) invalidate() { f.clsValid = false }

// rasterize blends the region {f > t} of fld into dst as style s says.
//
// Every overlay pixel is classified by the bilinear interpolant of the
// field. Far from the contour (cells whose neighbourhood does not cross t)
// a pixel is plainly inside or outside and costs one table look-up. Near
// it, the interpolant is probed R overlay pixels away along ±x and ±y; where
// a probe lies on the other side of t, the crossing is placed by linear
// interpolation between the centre and the probe, and the distances along
// x and y give the distance to the contour. That distance gives an
// anti-aliased fill edge and an outline of constant screen width centred
// on the contour, however far the view is zoomed: what a marching-squares
// polyline drawn with an anti-aliasing line rasteriser would show, without
// building the polylines.
func rasterize(dst *image.RGBA, vp Viewport, fld *field, t float64, s Style) {
	W, H := dst.Rect.Dx(), dst.Rect.Dy()
	if fld.w < 2 || fld.h < 2 || W == 0 || H == 0 {
		return
	}
	fa := clamp01(s.Fill)
	oa := clamp01(s.Outline)
	if fa == 0 && oa == 0 {
		return
	}
	half := s.Width / 2
	if half <= 0 {
		half = DefaultOutlineWidth / 2
	}
	halo := max(s.Halo, 0)
	if oa == 0 {
		half, halo = 0, 0
	}
	dash := int(math.Round(s.Dash))
	// Column and row → (cell, fraction) tables, clamped to the field.
	ci, cu := axisTable(W, vp.X0, vp.DX, fld.ax, fld.bx, fld.w)
	runs := cellRuns(ci)
	rj, rv := axisTable(H, vp.Y0, vp.DY, fld.ay, fld.by, fld.h)
	// Field units per overlay pixel.
	kx := fld.ax * vp.DX
	ky := fld.ay * vp.DY
	probe := half + halo + 1 // overlay pixels: outline half-width, its dark edge, the anti-aliasing ramp

	rx := int(math.Ceil(probe * math.Abs(kx)))
	ry := int(math.Ceil(probe * math.Abs(ky)))
	fld.classify(t, rx, ry)
	cw := fld.w - 1
	state, lip, d := fld.state, fld.lip, fld.data
	reach := probe * (math.Abs(kx) + math.Abs(ky)) // field units a probe may span
	at := func(fx, fy float64) float64 {
		fx = min(max(fx, 0), float64(fld.w-1))
		fy = min(max(fy, 0), float64(fld.h-1))
		i, j := min(int(fx), fld.w-2), min(int(fy), fld.h-2)
		u, v := fx-float64(i), fy-float64(j)
		o := j*fld.w + i
		a, b, c, e := float64(d[o]), float64(d[o+1]), float64(d[o+fld.w]), float64(d[o+fld.w+1])
		top := a + (b-a)*u
		return top + (c+(e-c)*u-top)*v
	}
	// crossing is the distance in overlay pixels from the centre (fx, fy;
	// value f0) to where the interpolant crosses t on the way to the probe
	// at field offset (ox, oy), probe pixels away, or +Inf when the probe
	// lies on the same side. The interpolant is piecewise linear along an
	// axis, with kinks at cell borders when the probe spans several cells
	// (zoomed out): a few bisection steps narrow the bracket before the
	// final linear interpolation.
	crossing := func(fx, fy, f0, ox, oy float64) float64 {
		fp := at(fx+ox, fy+oy)
		in := f0 > t
		if (fp > t) == in {
			return math.Inf(1)
		}
		lo, hi, flo, fhi := 0.0, 1.0, f0, fp
		if math.Abs(ox)+math.Abs(oy) > 0.5 {
			for n := 0; n < 4; n++ {
				m := (lo + hi) / 2
				fm := at(fx+ox*m, fy+oy*m)
				if (fm > t) == in {
					lo, flo = m, fm
				} else {
					hi, fhi = m, fm
				}
			}
		}
		return probe * (lo + (hi-lo)*(flo-t)/(flo-fhi))
	}

	fa8 := uint32(fa*255 + 0.5)
	c := s.Color
	// The fill colour premultiplied, written as is over a clear pixel (the
	// common case: the layer is cleared before the first overlay).
	pre := [4]uint8{uint8(uint32(c.R) * fa8 / 255), uint8(uint32(c.G) * fa8 / 255), uint8(uint32(c.B) * fa8 / 255), uint8(fa8)}
	fillPx := func(px []uint8) {
		if px[3] == 0 {
			px[0], px[1], px[2], px[3] = pre[0], pre[1], pre[2], pre[3]
			return
		}
		blend(px, c, fa8)
	}
	for y := 0; y < H; y++ {
		j := rj[y]
		if j < 0 {
			continue // outside the field (beyond its zero border)
		}
		fy := float64(j) + rv[y]
		srow := state[j*cw : (j+1)*cw]
		lrow := lip[j*cw : (j+1)*cw]
		out := dst.Pix[y*dst.Stride : y*dst.Stride+4*W]
		for _, r := range runs {
			i := r.cell
			if lrow[i] == 0 {
				// Far from the contour: the whole run is in or out.
				if srow[i] == 2 && fa8 > 0 {
					for x := r.x0; x < r.x1; x++ {
						fillPx(out[4*x : 4*x+4 : 4*x+4])
					}
				}
				continue
			}
			for x := r.x0; x < r.x1; x++ {
				fx := float64(i) + cu[x]
				f0 := at(fx, fy)
				if math.Abs(f0-t) > reach*float64(lrow[i]) {
					// No crossing within probe pixels.
					if f0 > t && fa8 > 0 {
						fillPx(out[4*x : 4*x+4 : 4*x+4])
					}
					continue
				}
				dx := min(crossing(fx, fy, f0, -probe*kx, 0), crossing(fx, fy, f0, probe*kx, 0))
				dy := min(crossing(fx, fy, f0, 0, -probe*ky), crossing(fx, fy, f0, 0, probe*ky))
				var dist float64 // distance to the contour in overlay pixels
				switch {
				case math.IsInf(dx, 1):
					dist = dy
				case math.IsInf(dy, 1):
					dist = dx
				default:
					// The contour as a straight line through both crossings.
					dist = dx * dy / math.Sqrt(dx*dx+dy*dy)
				}
				if !(f0 > t) {
					dist = -dist
				}
				alpha := fa * clamp01(dist+0.5)
				if halo > 0 {
					// The dark edge goes under the colour: where a dash
					// leaves a gap it shows alone.
					if hc := clamp01(half + halo + 0.5 - math.Abs(dist)); hc > 0 {
						blend(out[4*x:4*x+4:4*x+4], HaloColor, uint32(oa*hc*haloOpacity*255+0.5))
					}
				}
				// A contour nearer along y than along x runs mostly
				// horizontally: its dashes count along x, else along y.
				if half > 0 && (dash <= 0 || dashOn(x, y, dash, dy < dx)) {
					if oc := clamp01(half + 0.5 - math.Abs(dist)); oc > 0 {
						ol := oa * oc
						alpha = ol + alpha*(1-ol)
					}
				}
				if a8 := uint32(alpha*255 + 0.5); a8 > 0 {
					blend(out[4*x:4*x+4:4*x+4], c, a8)
				}
			}
		}
	}
}

// dashOn says whether overlay pixel (x, y) of an outline lies on a dash
// of length n: dashes count along x where the outline runs mostly
// horizontally (alongX), else along y, so that the whole width of the line
// is on or off together and any direction alternates every n pixels.
func dashOn(x, y, n int, alongX bool) bool {
	if alongX {
		return (x/n)%2 == 0
	}
	return (y/n)%2 == 0
}

// classify marks the cells that cross t and, within rx×ry cells of them,
// a bound on the interpolant's slope; the result is kept until the
// threshold, the reach or the data change.
func (fld *field) classify(t float64, rx, ry int) {
	key := clsKey{t, rx, ry}
	if fld.clsValid && fld.clsKey == key {
		return
	}
	// Classify cells: 0 outside, 2 inside, 1 crossing t; then mark the
	// cells close enough to a crossing one that the edge ramp or the
	// outline may reach them.
	cw, ch := fld.w-1, fld.h-1
	if n := cw * ch; cap(fld.state) < n {
		fld.state, fld.lip = make([]uint8, n), make([]float32, n)
	}
	state, lip := fld.state[:cw*ch], fld.lip[:cw*ch]
	clear(state)
	clear(lip)
	tt := float32(t)
	d := fld.data
	for j := 0; j < ch; j++ {
		r0, r1 := d[j*fld.w:], d[(j+1)*fld.w:]
		for i := 0; i < cw; i++ {
			a, b, c, e := r0[i], r0[i+1], r1[i], r1[i+1]
			lo := min(min(a, b), min(c, e))
			hi := max(max(a, b), max(c, e))
			switch {
			case lo > tt:
				state[j*cw+i] = 2
			case hi > tt:
				state[j*cw+i] = 1
			}
		}
	}
	// A pixel can only be touched by the edge ramp or the outline when a
	// cell within probe pixels crosses t. Near such cells, lip bounds the
	// interpolant's change per field unit (the largest step between
	// neighbouring samples around the cell), so that a pixel whose value
	// is further from t than probe pixels of that slope needs no probing.
	for j := 0; j < ch; j++ {
		for i := 0; i < cw; i++ {
			if state[j*cw+i] != 1 {
				continue
			}
			o := j*fld.w + i
			a, b, c, e := d[o], d[o+1], d[o+fld.w], d[o+fld.w+1]
			g := max(max(abs32(b-a), abs32(e-c)), max(abs32(c-a), abs32(e-b)))
			for jj := max(j-ry, 0); jj <= min(j+ry, ch-1); jj++ {
				row := lip[jj*cw:]
				for ii := max(i-rx, 0); ii <= min(i+rx, cw-1); ii++ {
					row[ii] = max(row[ii], g)
				}
			}
		}
	}
	// Near a crossing cell the steepest slope may also sit in a
	// neighbouring non-crossing cell: widen lip by those.
	for j := 0; j < ch; j++ {
		for i := 0; i < cw; i++ {
			if lip[j*cw+i] == 0 {
				continue
			}
			o := j*fld.w + i
			a, b, c, e := d[o], d[o+1], d[o+fld.w], d[o+fld.w+1]
			lip[j*cw+i] = max(lip[j*cw+i], max(abs32(b-a), abs32(e-c)), max(abs32(c-a), abs32(e-b)))
		}
	}
	fld.state, fld.lip = state, lip
	fld.clsKey, fld.clsValid = key, true
}

// cellRun is a run of overlay columns [x0, x1) that fall in one field
// cell.
type cellRun struct{ cell, x0, x1 int }

// cellRuns groups the columns of a column→cell table into runs, leaving
// out columns outside the field.
func cellRuns(ci []int) []cellRun {
	var runs []cellRun
	for x := 0; x < len(ci); {
		e := x + 1
		for e < len(ci) && ci[e] == ci[x] {
			e++
		}
		if ci[x] >= 0 {
			runs = append(runs, cellRun{ci[x], x, e})
		}
		x = e
	}
	return runs
}

// axisTable maps each of n overlay pixels along one axis to the field cell
// (index of its lower sample) and the fraction within it; the cell is −1
// where the pixel lies outside the field.
func axisTable(n int, p0, dp, a, b float64, size int) ([]int, []float64) {
	cell := make([]int, n)
	frac := make([]float64, n)
	hi := float64(size - 1)
	for x := 0; x < n; x++ {
		f := a*(p0+(float64(x)+0.5)*dp) + b
		if !(f >= 0 && f <= hi) { // also NaN
			cell[x] = -1
			continue
		}
		i := int(f)
		if i >= size-1 {
			i = size - 2
		}
		cell[x], frac[x] = i, f-float64(i)
	}
	return cell, frac
}

func abs32(x float32) float32 {
	if x < 0 {
		return -x
	}
	return x
}

// Swatch draws style st as a legend sample: a w×h image (premultiplied,
// transparent outside) holding a rounded square drawn exactly as an
// overlay in that style draws a mask, fill, outline, dashes and dark edge
// included, so that a legend shows what the views show.
func Swatch(st Style, w, h int) *image.RGBA {
	dst := image.NewRGBA(image.Rect(0, 0, w, h))
	if w < 4 || h < 4 {
		return dst
	}
	// A 4×4 field whose middle 2×2 samples are inside: its 0.5 contour is
	// a square with cut corners from field unit 0.5 to 2.5, mapped to
	// pixels m … w−m (and m … h−m).
	m := float64(max(st.Width, DefaultOutlineWidth)/2 + max(st.Halo, 0) + 1)
	fld := field{data: []float32{0, 0, 0, 0, 0, 1, 1, 0, 0, 1, 1, 0, 0, 0, 0, 0}, w: 4, h: 4}
	fld.ax = 2 / (float64(w) - 2*m)
	fld.bx = 0.5 - fld.ax*m
	fld.ay = 2 / (float64(h) - 2*m)
	fld.by = 0.5 - fld.ay*m
	rasterize(dst, VoxelViewport, &fld, 0.5, st)
	return dst
}
