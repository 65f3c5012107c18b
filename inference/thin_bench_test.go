package inference

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/liverseg/liverseg/dicomio"
	"github.com/liverseg/liverseg/internal/testsupport/thinct"
)

// TestMain removes the thin-slice series written by the benchmarks.
func TestMain(m *testing.M) { thinct.Main(m) }

// BenchmarkSegmentThin runs the shipped student on thin-slice series made
// from chaos_ct01 (or the phantom) at 78, 310 and 1000 slices. An op is a
// whole Run with the full-resolution mask (what `segment` does); map-ms is
// a Run without the mask (what the viewer waits for before it draws the
// outline; the mask follows in the background). The series' extent does
// not change with its slice count, so the network's 5 mm grid, and its
// time, stays the same: what grows is reading the slices the network
// needs and building the full-resolution mask.
func BenchmarkSegmentThin(b *testing.B) {
	r := shippedModels(b)
	c, err := r.Lookup("student")
	if err != nil {
		b.Skip(err)
	}
	for _, n := range thinct.Sizes {
		b.Run(fmt.Sprintf("slices=%d", n), func(b *testing.B) {
			dir, _, err := thinct.Series(n)
			if err != nil {
				b.Fatal(err)
			}
			v, _, err := dicomio.LoadPath(context.Background(), dir, nil)
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			o := c.DefaultOptions()
			if _, err := r.Run(ctx, v, c.Name, o); err != nil { // warm-up
				b.Fatal(err)
			}
			var mapOnly time.Duration
			po := o
			po.ProbabilityOnly = true
			for i := 0; i < b.N; i++ {
				res, err := r.Run(ctx, v, c.Name, po)
				if err != nil {
					b.Fatal(err)
				}
				mapOnly += res.Timings.Total
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := r.Run(ctx, v, c.Name, o); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(mapOnly.Microseconds())/1000/float64(b.N), "map-ms")
			b.ReportMetric(float64(len(SlicesRead(v.Geometry, c.Preprocessing))), "slices-read")
		})
	}
}
