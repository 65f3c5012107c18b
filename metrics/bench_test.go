package metrics

import (
	"syscall"
	"testing"
	"time"

	"github.com/liverseg/liverseg/internal/testsupport/shareddata"
	"github.com/liverseg/liverseg/nifti"
	"github.com/liverseg/liverseg/volume"
)

// realPair returns the manual liver label of 3D-IRCADb-01 patient 7
// (512×512×151, 0.78×0.78×1.6 mm) and a plausible "prediction" made from
// it: shifted by (3, −2, 2) voxels and eroded once (6-neighbourhood), so
// that the two surfaces differ the way a model's and a reference's do
// (a few mm everywhere, more in places).
func realPair(tb testing.TB) (pred, ref *volume.Mask) {
	tb.Helper()
	ref, err := nifti.ReadMask(shareddata.Path(tb, "cases", "ircad_p07", "liver.nii.gz"))
	if err != nil {
		tb.Fatal(err)
	}
	n := ref.Size
	shift := [3]int{3, -2, 2}
	moved := volume.NewMask(ref.Geometry)
	for k := 0; k < n[2]; k++ {
		for j := 0; j < n[1]; j++ {
			for i := 0; i < n[0]; i++ {
				si, sj, sk := i-shift[0], j-shift[1], k-shift[2]
				if ref.Contains(si, sj, sk) && ref.Voxels[ref.Offset(si, sj, sk)] != 0 {
					moved.Voxels[ref.Offset(i, j, k)] = 1
				}
			}
		}
	}
	pred = volume.NewMask(ref.Geometry)
	sx, sxy := n[0], n[0]*n[1]
	for k := 1; k < n[2]-1; k++ {
		for j := 1; j < n[1]-1; j++ {
			for i := 1; i < n[0]-1; i++ {
				o := k*sxy + j*sx + i
				m := moved.Voxels
				if m[o] != 0 && m[o-1] != 0 && m[o+1] != 0 && m[o-sx] != 0 && m[o+sx] != 0 && m[o-sxy] != 0 && m[o+sxy] != 0 {
					pred.Voxels[o] = 1
				}
			}
		}
	}
	return pred, ref
}

// BenchmarkCompareRealLiver512x512x151 is Compare on a real liver-shaped
// pair on a full CT grid (see realPair).
func BenchmarkCompareRealLiver512x512x151(b *testing.B) {
	pred, ref := realPair(b)
	b.ResetTimer()
	cpu := cpuTime()
	for b.Loop() {
		rep, err := Compare(pred, ref)
		if err != nil || !rep.SurfaceOK {
			b.Fatal(err)
		}
	}
	reportCPU(b, cpu)
}

// cpuTime is the CPU time (user + system) this process has used. On a
// shared machine it says how much work an operation is, which the wall
// time (ns/op) does not when other processes take the cores.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU reports the CPU time per operation since start as cpu-ms/op.
func reportCPU(b *testing.B, start time.Duration) {
	b.ReportMetric(float64(cpuTime()-start)/float64(time.Millisecond)/float64(b.N), "cpu-ms/op")
}
