package app

import (
	"fmt"
	"testing"
	"time"

	"fyne.io/fyne/v2/test"

	"github.com/liverseg/liverseg/internal/thinct"
)

// BenchmarkOpenThin opens thin-slice series made from chaos_ct01 (or the
// phantom) at 78, 310 and 1000 slices in a headless window with the real
// models, as a user choosing the series would: from Open to the first
// image on screen (first-image-ms), to the student's outline
// (overlay-ms) and to the last slice (loaded-ms). The times are taken when
// the UI goroutine handles each event.
func BenchmarkOpenThin(b *testing.B) {
	dir, real := testModels(b)
	if !real {
		b.Skip("needs the shipped student model (models/student.json)")
	}
	for _, n := range thinct.Sizes {
		b.Run(fmt.Sprintf("slices=%d", n), func(b *testing.B) {
			series, _, err := thinct.Series(n)
			if err != nil {
				b.Fatal(err)
			}
			var first, overlay, loaded time.Duration
			for i := 0; i < b.N; i++ {
				u := New(test.NewTempApp(b))
				if err := u.UseModels(dir); err != nil {
					b.Fatal(err)
				}
				waitChecked(b, u)
				var t0, tFirst, tOverlay, tLoaded time.Time
				shown := make(chan struct{}, 1)
				ran := make(chan error, 1)
				done := make(chan error, 1)
				u.shown.onShown = func() { tFirst = time.Now(); shown <- struct{}{} }
				u.seg.onRunDone = func(err error) { tOverlay = time.Now(); ran <- err }
				u.load.onDone = func(err error) { tLoaded = time.Now(); done <- err }
				t0 = time.Now()
				u.Open(series)
				if err := waitFor(b, ran, 2*time.Minute, "overlay"); err != nil {
					b.Fatal(err)
				}
				if err := waitFor(b, done, 2*time.Minute, "load"); err != nil {
					b.Fatal(err)
				}
				if tFirst.IsZero() {
					// The series was read before the first tick: it was
					// shown whole.
					tFirst = tLoaded
				}
				first += tFirst.Sub(t0)
				overlay += tOverlay.Sub(t0)
				loaded += tLoaded.Sub(t0)
				endUI(u)
				u.win.Close()
				waitWorker(u)
			}
			per := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 / float64(b.N) }
			b.ReportMetric(per(first), "first-image-ms")
			b.ReportMetric(per(overlay), "overlay-ms")
			b.ReportMetric(per(loaded), "loaded-ms")
		})
	}
}
