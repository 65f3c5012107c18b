package app

import (
	"image"
	"image/color"
	"math"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/driver/desktop"
	"fyne.io/fyne/v2/widget"

	"github.com/liverseg/liverseg/render3d"
)

// view3D is the 3D view: the liver surface drawn by render3d into a raster.
// Drag turns it, the wheel zooms, a click on the surface moves the
// crosshair; with bending on, a drag that starts on a control point of the
// selected cut moves that point along the cut's normal.
type view3D struct {
	widget.BaseWidget
	p      *planUI
	raster *canvas.Raster
	rd     render3d.Renderer
	cam    render3d.Camera
	camOK  bool
	img    *image.RGBA
	w, h   int // pixels of the last frame

	dragging bool
	bendCP   [2]int // control point being moved, or -1
	lastDraw time.Duration
}

func newView3D(p *planUI) *view3D {
	v := &view3D{p: p, bendCP: [2]int{-1, -1}}
	v.raster = canvas.NewRaster(v.draw)
	v.ExtendBaseWidget(v)
	return v
}

func (v *view3D) CreateRenderer() fyne.WidgetRenderer { return widget.NewSimpleRenderer(v.raster) }

func (v *view3D) MinSize() fyne.Size { return fyne.NewSize(200, 200) }

// Cursor shows the view is turnable.
func (v *view3D) Cursor() desktop.Cursor { return desktop.PointerCursor }

var bg3D = color.NRGBA{24, 26, 32, 255}

// draw renders a frame of w×h pixels (called by Fyne on Refresh).
func (v *view3D) draw(w, h int) image.Image {
	if w <= 0 || h <= 0 {
		return image.NewRGBA(image.Rect(0, 0, 1, 1))
	}
	if v.img == nil || v.img.Rect.Dx() != w || v.img.Rect.Dy() != h {
		v.img = image.NewRGBA(image.Rect(0, 0, w, h))
	}
	if !v.camOK && v.p.mesh != nil {
		v.resetCamera(w, h)
	} else if v.camOK && v.w > 0 && v.w != w {
		v.cam.Scale *= float64(min(w, h)) / float64(min(v.w, v.h)) // keep the framing on resize
	}
	v.w, v.h = w, h
	t0 := time.Now()
	layers, markers := v.p.scene3D(v.dragging)
	v.rd.Render(v.img, v.cam, bg3D, layers, markers)
	v.lastDraw = time.Since(t0)
	return v.img
}

// resetCamera looks from the front at the whole liver.
func (v *view3D) resetCamera(w, h int) {
	if v.p.mesh == nil || w <= 0 {
		return
	}
	lo, hi := v.p.mesh.Bounds()
	v.cam.SetView(render3d.Anterior)
	v.cam.Fit(lo, hi, w, h)
	v.camOK = true
}

// SetView turns to a standard direction, keeping the zoom.
func (v *view3D) SetView(d render3d.View) {
	v.cam.SetView(d)
	v.raster.Refresh()
}

// Reset restores the front view of the whole liver.
func (v *view3D) Reset() {
	v.camOK = false
	if v.w > 0 {
		v.resetCamera(v.w, v.h)
	}
	v.raster.Refresh()
}

// px converts a widget position (device-independent units) to pixels of
// the last frame.
func (v *view3D) px(p fyne.Position) (float64, float64) {
	s := v.Size()
	if s.Width <= 0 || s.Height <= 0 {
		return 0, 0
	}
	return float64(p.X) * float64(v.w) / float64(s.Width), float64(p.Y) * float64(v.h) / float64(s.Height)
}

// Tapped moves the crosshair to the surface point under the pointer.
func (v *view3D) Tapped(ev *fyne.PointEvent) {
	x, y := v.px(ev.Position)
	if p, ok := v.rd.Pick(v.cam, int(x), int(y)); ok {
		v.p.moveCrosshair(p)
	}
}

// Scrolled zooms about the image centre.
func (v *view3D) Scrolled(ev *fyne.ScrollEvent) {
	if !v.camOK {
		return
	}
	v.cam.Scale *= math.Pow(1.1, float64(ev.Scrolled.DY)/10)
	v.raster.Refresh()
}

// Dragged turns the view, or bends the cut when the drag started on one of
// its control points with bending on.
func (v *view3D) Dragged(ev *fyne.DragEvent) {
	if !v.camOK {
		return
	}
	if !v.dragging {
		v.dragging = true
		v.bendCP = [2]int{-1, -1}
		if v.p.bending() {
			sx, sy := v.px(ev.Position.Subtract(ev.Dragged))
			v.bendCP = v.p.controlPointAt(v.cam, v.w, v.h, sx, sy)
		}
	}
	if v.bendCP[0] >= 0 {
		// Move along the normal by the drag's component along the
		// normal's on-screen direction.
		n := v.p.selectedNormal()
		nx, ny := dot3(n, v.cam.Rot[0]), -dot3(n, v.cam.Rot[1])
		l := math.Hypot(nx, ny)
		if l < 0.2 {
			return // the normal points at the viewer: turn the view first
		}
		dx, dy := v.px(fyne.NewPos(ev.Dragged.DX, ev.Dragged.DY))
		mm := (dx*nx + dy*ny) / l / v.cam.Scale / l
		v.p.nudgeControlPoint(v.bendCP, mm)
		return
	}
	dx, dy := float64(ev.Dragged.DX), float64(ev.Dragged.DY)
	v.cam.Rotate(dx*0.01, dy*0.01)
	v.raster.Refresh()
}

// DragEnd draws the full-detail surface again.
func (v *view3D) DragEnd() {
	v.dragging = false
	v.bendCP = [2]int{-1, -1}
	v.raster.Refresh()
}

func dot3(a, b [3]float64) float64 { return a[0]*b[0] + a[1]*b[1] + a[2]*b[2] }
