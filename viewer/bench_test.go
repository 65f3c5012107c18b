package viewer

import (
	"image"
	"image/color"
	"math"
	"testing"

	"github.com/liverseg/liverseg/volume"
)

// benchVolume is a CT-sized volume: 512×512×200 at 0.7×0.7×2 mm.
var benchVol = randomVolume([3]int{512, 512, 200}, 7)

func benchRender(b *testing.B, p Plane) {
	s, err := NewSlicer(benchVol)
	if err != nil {
		b.Fatal(err)
	}
	lut := NewLUT(DefaultWindow)
	_, _, n := s.Dims(p)
	var dst *image.RGBA
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		dst = s.Render(dst, p, i%n, lut)
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/view")
}

// BenchmarkRenderAxial renders one 512×512 axial slice with W/L.
func BenchmarkRenderAxial(b *testing.B) { benchRender(b, Axial) }

// BenchmarkRenderCoronal renders one 512×200 coronal slice (rows 256 KiB apart in memory).
func BenchmarkRenderCoronal(b *testing.B) { benchRender(b, Coronal) }

// BenchmarkRenderSagittal renders one 512×200 sagittal slice (the worst memory stride).
func BenchmarkRenderSagittal(b *testing.B) { benchRender(b, Sagittal) }

// BenchmarkThreeViewRefresh is what a window change costs: all three planes.
func BenchmarkThreeViewRefresh(b *testing.B) {
	s, _ := NewSlicer(benchVol)
	sc := NewScene(s)
	var dst [3]*image.RGBA
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		sc.SetCursor([3]int{i % 512, (i * 7) % 512, i % 200})
		for n, p := range Planes {
			dst[n] = sc.Render(dst[n], p)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/refresh")
}

// BenchmarkLUT is the cost of a window/level change before rendering.
func BenchmarkLUT(b *testing.B) {
	l := new(LUT)
	for i := 0; i < b.N; i++ {
		l.Set(WindowLevel{400, float64(i % 100)})
	}
}

// chaosLike is a display grid like the CHAOS case (512×512×78 at
// 0.727×0.727×2 mm) and a 5 mm probability map over it holding a smooth
// ellipsoid "liver" (about 1.5 L), as the student network produces.
func chaosLike(b *testing.B) (*Slicer, volume.Geometry, []float32) {
	b.Helper()
	v := volume.New(volume.Identity([3]int{512, 512, 78}, [3]float64{0.727, 0.727, 2}))
	s, err := NewSlicer(v)
	if err != nil {
		b.Fatal(err)
	}
	g := volume.Identity([3]int{75, 75, 31}, [3]float64{5, 5, 5})
	data := make([]float32, g.NumVoxels())
	for k := 0; k < 31; k++ {
		for j := 0; j < 75; j++ {
			for i := 0; i < 75; i++ {
				x, y, z := (float64(i)-25)/18, (float64(j)-35)/14, (float64(k)-15)/10
				r := math.Sqrt(x*x + y*y + z*z)
				data[g.Offset(i, j, k)] = float32(1 / (1 + math.Exp((r-1)*12)))
			}
		}
	}
	return s, g, data
}

// BenchmarkThresholdThreeViews is the overlay part of a threshold-slider
// step: new threshold, the three views' overlay layers redrawn at device
// resolution (700×700 axial, 700×300 coronal and sagittal), fill and
// outline.
func BenchmarkThresholdThreeViews(b *testing.B) {
	s, g, data := chaosLike(b)
	o, err := NewProbOverlay(s, g, data, 0.5, Style{Color: color.NRGBA{R: 255, A: 255}, Fill: 0.35, Outline: 1})
	if err != nil {
		b.Fatal(err)
	}
	sc := NewScene(s)
	sc.SetOverlays(o)
	sc.SetCursor([3]int{180, 250, 39})
	size := [3][2]int{{700, 700}, {700, 300}, {700, 300}}
	var dst [3]*image.RGBA
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		_ = o.SetThreshold(0.3+0.4*float64(i%50)/50, nil)
		for n, p := range Planes {
			w, h, _ := s.Dims(p)
			vp := Viewport{DX: float64(w) / float64(size[n][0]), DY: float64(h) / float64(size[n][1])}
			dst[n] = sc.RenderOverlaysAt(dst[n], p, vp, size[n][0], size[n][1])
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/refresh")
}

// BenchmarkProbVolumeML is the liver volume of the overlay at a new
// threshold, counted on the 512×512×78 display grid.
func BenchmarkProbVolumeML(b *testing.B) {
	s, g, data := chaosLike(b)
	o, _ := NewProbOverlay(s, g, data, 0.5, Style{})
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		_ = o.SetThreshold(0.3+0.4*float64(i%50)/50, nil)
		_ = o.VolumeML()
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/op")
}

// BenchmarkMaskOverlayThreeViews redraws a reference mask (the chaos-like
// ellipsoid thresholded onto the 512×512×78 grid) in three views.
func BenchmarkMaskOverlayThreeViews(b *testing.B) {
	s, g, data := chaosLike(b)
	po, _ := NewProbOverlay(s, g, data, 0.5, Style{})
	v := s.Volume()
	m := volume.NewMask(v.Geometry)
	for k := 0; k < v.Size[2]; k++ {
		for j := 0; j < v.Size[1]; j++ {
			for i := 0; i < v.Size[0]; i++ {
				c := g.PatientToIndex(v.IndexToPatient([3]float64{float64(i), float64(j), float64(k)}))
				x, y, z := int(c[0]+0.5), int(c[1]+0.5), int(c[2]+0.5)
				if g.Contains(x, y, z) && data[g.Offset(x, y, z)] > 0.5 {
					m.Voxels[m.Offset(i, j, k)] = 1
				}
			}
		}
	}
	_ = po
	// The reference as the app draws it (dashed, with a dark edge, no
	// fill) against the plain style, in the same run.
	green := color.NRGBA{G: 255, A: 255}
	for _, bc := range []struct {
		name string
		st   Style
	}{
		{"fill+outline", Style{Color: green, Fill: 0.35, Outline: 1}},
		{"dashed+edge", Style{Color: green, Outline: 1, Width: 2, Dash: 7, Halo: 1}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			o, err := NewMaskOverlay(s, m, bc.st)
			if err != nil {
				b.Fatal(err)
			}
			sc := NewScene(s)
			sc.SetOverlays(o)
			sc.SetCursor([3]int{180, 250, 39})
			size := [3][2]int{{406, 406}, {694, 292}, {694, 292}}
			var dst [3]*image.RGBA
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				for n, p := range Planes {
					w, h, _ := s.Dims(p)
					vp := Viewport{DX: float64(w) / float64(size[n][0]), DY: float64(h) / float64(size[n][1])}
					dst[n] = sc.RenderOverlaysAt(dst[n], p, vp, size[n][0], size[n][1])
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/refresh")
		})
	}
}
