package dicomio_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/liverseg/liverseg/dicomio"
	"github.com/liverseg/liverseg/internal/testsupport/thinct"
)

// TestMain removes the thin-slice series written by the benchmarks.
func TestMain(m *testing.M) { thinct.Main(m) }

// BenchmarkLoadThin reads thin-slice series made from chaos_ct01 (or the
// phantom) at 78, 310 and 1000 slices: the scan of every header, then the
// pixels into one volume, as the viewer and convert do. The reported
// scan-ms and load-ms split the time; dcm2niix-ms is `dcm2niix -z n` on
// the same series in the same run, as a whole process writing its NIfTI
// into a temporary folder (it cannot be run without writing one), for
// scale only: the whole-process comparison with `liverseg convert` is
// scripts/bench-thin.sh.
func BenchmarkLoadThin(b *testing.B) {
	for _, n := range thinct.Sizes {
		b.Run(fmt.Sprintf("slices=%d", n), func(b *testing.B) {
			dir, src, err := thinct.Series(n)
			if err != nil {
				b.Fatal(err)
			}
			b.Logf("%s interpolated to %d slices", src, n)
			ctx := context.Background()
			var scan, load time.Duration
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				t0 := time.Now()
				cat, err := dicomio.Scan(ctx, []string{dir}, nil)
				if err != nil {
					b.Fatal(err)
				}
				t1 := time.Now()
				v, err := dicomio.Load(ctx, cat.Series[0], nil)
				if err != nil {
					b.Fatal(err)
				}
				t2 := time.Now()
				scan += t1.Sub(t0)
				load += t2.Sub(t1)
				b.SetBytes(int64(len(v.Voxels)) * 2)
			}
			b.StopTimer()
			b.ReportMetric(float64(scan.Microseconds())/1000/float64(b.N), "scan-ms")
			b.ReportMetric(float64(load.Microseconds())/1000/float64(b.N), "load-ms")
			if _, err := exec.LookPath("dcm2niix"); err == nil {
				var peer time.Duration
				for i := 0; i < b.N; i++ {
					out := b.TempDir()
					t0 := time.Now()
					cmd := exec.Command("dcm2niix", "-z", "n", "-o", out, "-f", "x", dir)
					if msg, err := cmd.CombinedOutput(); err != nil {
						b.Fatalf("dcm2niix: %v\n%s", err, msg)
					}
					peer += time.Since(t0)
					os.RemoveAll(out)
				}
				b.ReportMetric(float64(peer.Microseconds())/1000/float64(b.N), "dcm2niix-ms")
			}
		})
	}
}
