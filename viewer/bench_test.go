package viewer

import (
	"image"
	"testing"
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
