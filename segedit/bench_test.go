package segedit

import (
	"testing"

	"github.com/liverseg/liverseg/metrics"
)

// The benchmarks run on ircad_p07, 512×512×151 (the largest real case),
// starting from its reference liver (1.5 M voxels).

func benchEditor(b *testing.B) *Editor {
	ct, ref := loadP07(b)
	e, err := New(ct, ref, "reference", Options{Reference: ref})
	if err != nil {
		b.Fatal(err)
	}
	return e
}

// strokePath is a 60 mm drag across the right lobe on axial slice 110.
var strokePath = func() [][3]float64 {
	var p [][3]float64
	for i := 0; i <= 20; i++ {
		p = append(p, [3]float64{150 + float64(i)*3.8, 280, 110})
	}
	return p
}()

// BenchmarkBrushStroke: one 2D paint stroke (10 mm radius) then its undo,
// with the live volume and both Dice kept up to date; ns/op covers both.
func BenchmarkBrushStroke(b *testing.B) {
	for _, tc := range []struct {
		name  string
		brush Brush
	}{
		{"2D_r10mm", Brush{RadiusMM: 10, Axis: 2}},
		{"2D_r10mm_HU", Brush{RadiusMM: 10, Axis: 2, HU: &HURange{Lo: 60, Hi: 200}}},
		{"3D_r10mm", Brush{RadiusMM: 10, Sphere: true}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			e := benchEditor(b)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				// Erase then paint back: each stroke changes voxels.
				if _, err := e.Stroke(strokePath, tc.brush, i%2 == 0); err != nil {
					b.Fatal(err)
				}
			}
			_ = e.Stats()
		})
	}
}

// BenchmarkDiceRecompute is the peer of the live figures: what one stroke
// would cost if Dice were recomputed over the volume (metrics.Dice, both
// the source and the reference) instead of incrementally.
func BenchmarkDiceRecompute(b *testing.B) {
	e := benchEditor(b)
	m, src := e.mask, e.CanonicalMask()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := metrics.Dice(m, src); err != nil {
			b.Fatal(err)
		}
		if _, err := metrics.Dice(m, src); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRemoveIsland removes the whole liver (the worst case: a 1.5 M
// voxel component) and undoes it outside the timer.
func BenchmarkRemoveIsland(b *testing.B) {
	e := benchEditor(b)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := e.RemoveIsland([3]int{200, 280, 110}); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		e.Undo()
		b.StartTimer()
	}
}

// BenchmarkKeepIsland keeps the liver's component (a pass over the volume).
func BenchmarkKeepIsland(b *testing.B) {
	e := benchEditor(b)
	if _, err := e.Stroke([][3]float64{{60, 60, 20}}, Brush{RadiusMM: 8, Sphere: true}, false); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := e.KeepIsland([3]int{200, 280, 110}); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		e.Undo()
		b.StartTimer()
	}
}

// BenchmarkUndoRedo undoes and redoes the removal of the whole liver
// (1.5 M voxels flipped each way).
func BenchmarkUndoRedo(b *testing.B) {
	e := benchEditor(b)
	if _, err := e.RemoveIsland([3]int{200, 280, 110}); err != nil {
		b.Fatal(err)
	}
	_, bytes, _ := e.History()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		e.Undo()
		e.Redo()
	}
	b.ReportMetric(float64(bytes), "history-bytes")
}

// BenchmarkSmoothClosing3mm closes the whole liver with a 3 mm ball.
func BenchmarkSmoothClosing3mm(b *testing.B) {
	e := benchEditor(b)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := e.Smooth(Closing, 3); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		e.Undo()
		b.StartTimer()
	}
}
