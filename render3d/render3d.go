// Package render3d draws triangle meshes in patient space into an image
// with a pure-Go z-buffer rasteriser: orthographic camera, Gouraud-shaded
// head-light, opaque and translucent layers, markers, and picking of the
// surface point under a pixel. It needs no GPU, so the 3D view works the
// same under a software-GL desktop, over remote X and in headless tests.
package render3d

import (
	"image"
	"image/color"
	"math"
	"runtime"
	"sync"

	par "github.com/liverseg/liverseg/internal/parallel"
	"github.com/liverseg/liverseg/surface"
)

// Vec is a point or direction in patient LPS millimetres.
type Vec = [3]float64

// View is a standard anatomical direction the camera looks from.
type View int

const (
	Anterior View = iota
	Posterior
	Left
	Right
	Superior
	Inferior
)

// Letter is the button label of a view.
func (v View) Letter() string { return [...]string{"A", "P", "L", "R", "S", "I"}[v] }

// Camera is an orthographic camera: rows of Rot are the screen's right,
// up and the direction the camera looks along (into the screen), in LPS.
type Camera struct {
	Target Vec     // LPS point at the image centre
	Rot    [3]Vec  // right, up, forward
	Scale  float64 // pixels per mm
}

// viewRot are the camera axes of the standard views: from the front the
// patient's left is on screen right and superior up (as a surgeon facing
// the patient); from above and below anterior is up.
var viewRot = [...][3]Vec{
	Anterior:  {{1, 0, 0}, {0, 0, 1}, {0, 1, 0}},
	Posterior: {{-1, 0, 0}, {0, 0, 1}, {0, -1, 0}},
	Left:      {{0, 1, 0}, {0, 0, 1}, {-1, 0, 0}},
	Right:     {{0, -1, 0}, {0, 0, 1}, {1, 0, 0}},
	Superior:  {{-1, 0, 0}, {0, -1, 0}, {0, 0, -1}},
	Inferior:  {{1, 0, 0}, {0, -1, 0}, {0, 0, 1}},
}

// SetView turns the camera to look from v.
func (c *Camera) SetView(v View) { c.Rot = viewRot[v] }

// Fit centres the camera on the box lo–hi and zooms so it fills a w×h
// image with a margin, in any orientation.
func (c *Camera) Fit(lo, hi Vec, w, h int) {
	d := 0.0
	for a := 0; a < 3; a++ {
		c.Target[a] = (lo[a] + hi[a]) / 2
		d += (hi[a] - lo[a]) * (hi[a] - lo[a])
	}
	d = math.Sqrt(d)
	if d == 0 {
		d = 1
	}
	c.Scale = 0.92 * float64(min(w, h)) / d
}

// Rotate turns the camera by dx radians about the screen's vertical axis
// and dy about its horizontal axis (a drag's trackball turn).
func (c *Camera) Rotate(dx, dy float64) {
	r := c.Rot
	// Turning the scene right by dx = turning the camera left about up.
	r = rotateAbout(r, r[1], -dx)
	r = rotateAbout(r, r[0], -dy)
	c.Rot = orthonormal(r)
}

func rotateAbout(r [3]Vec, axis Vec, ang float64) [3]Vec {
	var out [3]Vec
	for i := range r {
		out[i] = rodrigues(r[i], axis, ang)
	}
	return out
}

func rodrigues(v, k Vec, a float64) Vec {
	c, s := math.Cos(a), math.Sin(a)
	kv := cross(k, v)
	kd := dot(k, v) * (1 - c)
	return Vec{v[0]*c + kv[0]*s + k[0]*kd, v[1]*c + kv[1]*s + k[1]*kd, v[2]*c + kv[2]*s + k[2]*kd}
}

func orthonormal(r [3]Vec) [3]Vec {
	f := unit(r[2])
	u := unit(sub(r[1], scale(f, dot(r[1], f))))
	return [3]Vec{cross(f, u), u, f}
}

// Project maps p to pixel coordinates of a w×h image and its depth (mm
// along the view direction; smaller is nearer).
func (c *Camera) Project(p Vec, w, h int) (x, y, z float64) {
	d := sub(p, c.Target)
	return float64(w)/2 + dot(d, c.Rot[0])*c.Scale, float64(h)/2 - dot(d, c.Rot[1])*c.Scale, dot(d, c.Rot[2])
}

// Unproject is the inverse of Project.
func (c *Camera) Unproject(x, y, z float64, w, h int) Vec {
	sx := (x - float64(w)/2) / c.Scale
	sy := (float64(h)/2 - y) / c.Scale
	return add(c.Target, add(add(scale(c.Rot[0], sx), scale(c.Rot[1], sy)), scale(c.Rot[2], z)))
}

// Layer is one mesh to draw.
type Layer struct {
	Mesh    *surface.Mesh
	Normals [][3]float32 // per vertex; computed when nil
	Color   color.NRGBA  // used where Colors is nil
	Colors  []color.NRGBA
	// Alpha below 1 draws the layer translucent over the opaque ones
	// (depth-tested, not written), front faces only.
	Alpha float64
	// TwoSided draws back faces too (open surfaces such as a cutting
	// surface); closed meshes cull them.
	TwoSided bool
}

// Marker is a dot drawn over the image at a 3D point.
type Marker struct {
	At     Vec
	Radius float64 // pixels
	Color  color.NRGBA
	// Hidden markers behind the surface are drawn hollow.
	Ring bool
}

// Renderer keeps the buffers between frames.
type Renderer struct {
	w, h  int
	depth []float32
	sx    []float32 // screen x, y, z per vertex of the layer being drawn
	shade []float32
}

// Render draws the layers (opaque first, then translucent) and the markers
// into dst, cleared to bg.
func (r *Renderer) Render(dst *image.RGBA, cam Camera, bg color.NRGBA, layers []Layer, markers []Marker) {
	b := dst.Bounds()
	w, h := b.Dx(), b.Dy()
	if r.w != w || r.h != h {
		r.w, r.h = w, h
		r.depth = make([]float32, w*h)
	}
	inf := float32(math.Inf(1))
	for i := range r.depth {
		r.depth[i] = inf
	}
	pix := dst.Pix
	for y := 0; y < h; y++ {
		row := pix[y*dst.Stride:][:4*w]
		for x := 0; x < w; x++ {
			row[4*x], row[4*x+1], row[4*x+2], row[4*x+3] = bg.R, bg.G, bg.B, 255
		}
	}
	for pass := 0; pass < 2; pass++ {
		for _, l := range layers {
			if l.Mesh == nil || len(l.Mesh.Triangles) == 0 {
				continue
			}
			translucent := l.Alpha > 0 && l.Alpha < 1
			if translucent != (pass == 1) {
				continue
			}
			r.drawLayer(dst, cam, l)
		}
	}
	for _, m := range markers {
		r.drawMarker(dst, cam, m)
	}
}

// Pick returns the surface point (LPS) drawn at pixel (x, y) of the last
// frame, from the depth buffer of the opaque layers.
func (r *Renderer) Pick(cam Camera, x, y int) (Vec, bool) {
	if x < 0 || y < 0 || x >= r.w || y >= r.h {
		return Vec{}, false
	}
	z := r.depth[y*r.w+x]
	if math.IsInf(float64(z), 1) {
		return Vec{}, false
	}
	return cam.Unproject(float64(x)+0.5, float64(y)+0.5, float64(z), r.w, r.h), true
}

func (r *Renderer) drawLayer(dst *image.RGBA, cam Camera, l Layer) {
	m := l.Mesh
	nv := len(m.Vertices)
	if cap(r.sx) < 3*nv {
		r.sx = make([]float32, 3*nv)
		r.shade = make([]float32, nv)
	}
	sx, shade := r.sx[:3*nv], r.shade[:nv]
	normals := l.Normals
	if normals == nil {
		normals = m.Normals()
	}
	w, h := r.w, r.h
	c0, c1, c2 := cam.Rot[0], cam.Rot[1], cam.Rot[2]
	// Light from over the viewer's left shoulder, plus ambient.
	light := unit(add(scale(c2, -1), add(scale(c0, -0.35), scale(c1, 0.45))))
	hw, hh := float64(w)/2, float64(h)/2
	parallel(nv, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			v := m.Vertices[i]
			d := Vec{float64(v[0]) - cam.Target[0], float64(v[1]) - cam.Target[1], float64(v[2]) - cam.Target[2]}
			sx[3*i] = float32(hw + dot(d, c0)*cam.Scale)
			sx[3*i+1] = float32(hh - dot(d, c1)*cam.Scale)
			sx[3*i+2] = float32(dot(d, c2))
			n := normals[i]
			ln := float64(n[0])*light[0] + float64(n[1])*light[1] + float64(n[2])*light[2]
			if l.TwoSided {
				ln = math.Abs(ln)
			}
			// Lambert plus a little Blinn specular for shape.
			s := 0.28 + 0.72*math.Max(0, ln)
			s += 0.18 * math.Pow(math.Max(0, ln), 24)
			shade[i] = float32(s)
		}
	})
	alpha := float32(1)
	if l.Alpha > 0 && l.Alpha < 1 {
		alpha = float32(l.Alpha)
	}
	workers := runtime.GOMAXPROCS(0)
	var wg sync.WaitGroup
	for p := 0; p < workers; p++ {
		y0, y1 := p*h/workers, (p+1)*h/workers
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.rasterBand(dst, l, sx, shade, alpha, y0, y1)
		}()
	}
	wg.Wait()
}

// rasterBand draws the layer's triangles into the rows y0..y1-1.
func (r *Renderer) rasterBand(dst *image.RGBA, l Layer, sx, shade []float32, alpha float32, y0, y1 int) {
	w := r.w
	depth := r.depth
	pix := dst.Pix
	stride := dst.Stride
	opaque := alpha >= 1
	fy0, fy1 := float32(y0), float32(y1)
	for _, t := range l.Mesh.Triangles {
		a, b, c := t[0], t[1], t[2]
		ax, ay, az := sx[3*a], sx[3*a+1], sx[3*a+2]
		bx, by, bz := sx[3*b], sx[3*b+1], sx[3*b+2]
		cx, cy, cz := sx[3*c], sx[3*c+1], sx[3*c+2]
		minY := min(ay, by, cy)
		maxY := max(ay, by, cy)
		if maxY < fy0 || minY >= fy1 {
			continue
		}
		// Signed area; with y down, counter-clockwise triangles seen
		// from outside have negative area.
		area := (bx-ax)*(cy-ay) - (by-ay)*(cx-ax)
		if area == 0 {
			continue
		}
		if area > 0 && !l.TwoSided {
			continue // back face of a closed mesh
		}
		minX := max(int(min(ax, bx, cx)), 0)
		maxX := min(int(max(ax, bx, cx))+1, w-1)
		iy0 := max(int(minY), y0)
		iy1 := min(int(maxY)+1, y1-1)
		if minX > maxX || iy0 > iy1 {
			continue
		}
		inv := 1 / area
		var ca, cb, cc color.NRGBA
		if l.Colors != nil {
			ca, cb, cc = l.Colors[a], l.Colors[b], l.Colors[c]
		} else {
			ca, cb, cc = l.Color, l.Color, l.Color
		}
		sa, sb, sc := shade[a], shade[b], shade[c]
		// Per-vertex lit colours.
		ra, ga, ba := float32(ca.R)*sa, float32(ca.G)*sa, float32(ca.B)*sa
		rb, gb, bb := float32(cb.R)*sb, float32(cb.G)*sb, float32(cb.B)*sb
		rc, gc, bc := float32(cc.R)*sc, float32(cc.G)*sc, float32(cc.B)*sc
		for y := iy0; y <= iy1; y++ {
			py := float32(y) + 0.5
			for x := minX; x <= maxX; x++ {
				px := float32(x) + 0.5
				// Barycentric weights.
				w0 := ((bx-px)*(cy-py) - (by-py)*(cx-px)) * inv
				w1 := ((cx-px)*(ay-py) - (cy-py)*(ax-px)) * inv
				w2 := 1 - w0 - w1
				if w0 < 0 || w1 < 0 || w2 < 0 {
					continue
				}
				z := w0*az + w1*bz + w2*cz
				o := y*w + x
				if z >= depth[o] {
					continue
				}
				pr := clamp255(w0*ra + w1*rb + w2*rc)
				pg := clamp255(w0*ga + w1*gb + w2*gc)
				pb := clamp255(w0*ba + w1*bb + w2*bc)
				q := y*stride + 4*x
				if opaque {
					depth[o] = z
					pix[q], pix[q+1], pix[q+2] = pr, pg, pb
				} else {
					pix[q] = blend(pix[q], pr, alpha)
					pix[q+1] = blend(pix[q+1], pg, alpha)
					pix[q+2] = blend(pix[q+2], pb, alpha)
				}
			}
		}
	}
}

func clamp255(x float32) uint8 {
	if x >= 255 {
		return 255
	}
	if x <= 0 {
		return 0
	}
	return uint8(x)
}

func blend(dst, src uint8, a float32) uint8 {
	return uint8(float32(dst)*(1-a) + float32(src)*a + 0.5)
}

func (r *Renderer) drawMarker(dst *image.RGBA, cam Camera, m Marker) {
	x, y, z := cam.Project(m.At, r.w, r.h)
	hidden := false
	if xi, yi := int(x), int(y); xi >= 0 && yi >= 0 && xi < r.w && yi < r.h {
		hidden = float64(r.depth[yi*r.w+xi]) < z-2 // behind the surface
	}
	rad := m.Radius
	for py := int(y - rad - 1); py <= int(y+rad+1); py++ {
		for px := int(x - rad - 1); px <= int(x+rad+1); px++ {
			if px < 0 || py < 0 || px >= r.w || py >= r.h {
				continue
			}
			d := math.Hypot(float64(px)+0.5-x, float64(py)+0.5-y)
			var a float64
			switch {
			case (hidden || m.Ring) && d > rad-2 && d <= rad:
				a = 1
			case !(hidden || m.Ring) && d <= rad:
				a = 1
				if d > rad-1.5 {
					a = 0 // dark outline below
				}
			}
			q := py*dst.Stride + 4*px
			if !(hidden || m.Ring) && d <= rad && d > rad-1.5 {
				dst.Pix[q], dst.Pix[q+1], dst.Pix[q+2] = 0, 0, 0
				continue
			}
			if a > 0 {
				dst.Pix[q], dst.Pix[q+1], dst.Pix[q+2] = m.Color.R, m.Color.G, m.Color.B
			}
		}
	}
}

func parallel(n int, fn func(lo, hi int)) { par.For(n, 4096, fn) }

func add(a, b Vec) Vec           { return Vec{a[0] + b[0], a[1] + b[1], a[2] + b[2]} }
func sub(a, b Vec) Vec           { return Vec{a[0] - b[0], a[1] - b[1], a[2] - b[2]} }
func scale(a Vec, s float64) Vec { return Vec{a[0] * s, a[1] * s, a[2] * s} }
func dot(a, b Vec) float64       { return a[0]*b[0] + a[1]*b[1] + a[2]*b[2] }
func cross(a, b Vec) Vec {
	return Vec{a[1]*b[2] - a[2]*b[1], a[2]*b[0] - a[0]*b[2], a[0]*b[1] - a[1]*b[0]}
}
func unit(a Vec) Vec {
	l := math.Sqrt(dot(a, a))
	if l == 0 {
		return a
	}
	return scale(a, 1/l)
}
