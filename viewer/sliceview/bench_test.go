package sliceview

import (
	"math/rand"
	"testing"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/test"

	"github.com/liverseg/liverseg/viewer"
	"github.com/liverseg/liverseg/volume"
)

// benchRig is three linked views of a 512×512×200 CT-sized volume in a
// headless window. The figures cover the widget work (render, texture
// invalidation, crosshair layout), not the GPU upload of the real driver.
func benchRig(b *testing.B) (*viewer.Scene, [3]*SliceView) {
	test.NewTempApp(b)
	v := volume.New(volume.Identity([3]int{512, 512, 200}, [3]float64{0.7, 0.7, 2}))
	r := rand.New(rand.NewSource(1))
	for n := range v.Voxels {
		v.Voxels[n] = int16(r.Intn(2000) - 1000)
	}
	s, err := viewer.NewSlicer(v)
	if err != nil {
		b.Fatal(err)
	}
	sc := viewer.NewScene(s)
	var views [3]*SliceView
	objs := make([]fyne.CanvasObject, 3)
	for n, p := range viewer.Planes {
		views[n] = New(p)
		views[n].SetScene(sc)
		objs[n] = views[n]
	}
	w := test.NewTempWindow(b, container.NewGridWithColumns(3, objs...))
	w.Resize(fyne.NewSize(1500, 520))
	return sc, views
}

// BenchmarkWheelStep is one mouse-wheel notch in the axial view: the axial
// image is re-rendered, the coronal and sagittal views only move their
// crosshair lines.
func BenchmarkWheelStep(b *testing.B) {
	sc, _ := benchRig(b)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		sc.SetSlice(viewer.Axial, 20+i%160)
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/step")
}

// BenchmarkThreeViewWindowChange is a window/level drag step: all three
// views re-render.
func BenchmarkThreeViewWindowChange(b *testing.B) {
	sc, _ := benchRig(b)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		sc.SetWindow(viewer.WindowLevel{Width: 400 + float64(i%50), Level: 40})
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/refresh")
}

// BenchmarkSideBySideStep is a wheel notch in a four-panel side-by-side
// comparison: four axial views on one scene, each with its own overlay (a
// mask covering a third of the volume), plus three paused views of the
// same scene that must cost nothing.
func BenchmarkSideBySideStep(b *testing.B) {
	sc, three := benchRig(b)
	for _, v := range three {
		v.SetPaused(true)
	}
	m := volume.NewMask(sc.Slicer().Volume().Geometry)
	for n := range m.Voxels[:len(m.Voxels)/3] {
		m.Voxels[n] = 1
	}
	objs := make([]fyne.CanvasObject, 4)
	for n := range objs {
		v := New(viewer.Axial)
		v.SetScene(sc)
		o, err := viewer.NewMaskOverlay(sc.Slicer(), m, viewer.Style{Color: colorRed, Fill: 0.3, Outline: 1})
		if err != nil {
			b.Fatal(err)
		}
		v.SetOverlays(o)
		objs[n] = v
	}
	w := test.NewTempWindow(b, container.NewGridWithColumns(4, objs...))
	w.Resize(fyne.NewSize(1400, 400))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		sc.SetSlice(viewer.Axial, 20+i%160)
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/step")
}
