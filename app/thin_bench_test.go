package app

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"fyne.io/fyne/v2/test"

	"github.com/liverseg/liverseg/internal/testsupport/thinct"
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
				if err := u.seg.UseModels(dir); err != nil {
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

// BenchmarkCompareThinMemory opens the 1000-slice series in a headless
// window with the real models, lets the student run, then runs Compare
// (all four models, their masks kept for the three comparison views, the
// metrics table) and reports the process's peak resident memory from the
// open on (peak-rss-mb; the kernel's high-water mark is reset first) and
// the volume's int16 size (volume-mb). The window runs with Go's default
// GOGC, as the application does.
func BenchmarkCompareThinMemory(b *testing.B) {
	dir, real := testModels(b)
	if !real {
		b.Skip("needs the shipped models")
	}
	series, _, err := thinct.Series(1000)
	if err != nil {
		b.Fatal(err)
	}
	var peak, vol float64
	for i := 0; i < b.N; i++ {
		u := New(test.NewTempApp(b))
		if err := u.seg.UseModels(dir); err != nil {
			b.Fatal(err)
		}
		waitChecked(b, u)
		ran := make(chan error, 4)
		done := make(chan error, 4)
		cmp := make(chan error, 4)
		u.seg.onRunDone = func(err error) { ran <- err }
		u.load.onDone = func(err error) { done <- err }
		u.cmp.onDone = func(err error) { cmp <- err }
		os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
		u.Open(series)
		if err := waitFor(b, done, 5*time.Minute, "load"); err != nil {
			b.Fatal(err)
		}
		if err := waitFor(b, ran, 5*time.Minute, "student"); err != nil {
			b.Fatal(err)
		}
		u.cmp.Compare()
		if err := waitFor(b, cmp, 10*time.Minute, "compare"); err != nil {
			b.Fatal(err)
		}
		sleepPumping(3 * time.Second) // the table's metrics, in the background
		peak = max(peak, peakRSSMB())
		vol = float64(len(u.vol.Voxels)*2) / (1 << 20)
		endUI(u)
		u.win.Close()
		waitWorker(u)
	}
	b.ReportMetric(peak, "peak-rss-mb")
	b.ReportMetric(vol, "volume-mb")
}

// peakRSSMB is VmHWM from /proc/self/status in MiB (0 where absent).
func peakRSSMB() float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			var kb float64
			fmt.Sscan(rest, &kb)
			return kb / 1024
		}
	}
	return 0
}
