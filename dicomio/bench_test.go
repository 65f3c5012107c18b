package dicomio

import (
	"context"
	"os"
	"os/exec"
	"runtime"
	"testing"
	"time"

	"github.com/liverseg/liverseg/internal/testsupport/shareddata"
)

// BenchmarkLoadChaos times LoadPath (scan + load) on the 78-slice CHAOS
// series and, in the same run, dcm2niix converting the same folder
// (uncompressed output into a temporary folder), so the two figures come
// from the same machine state. It also reports memory: bytes allocated per
// load and the peak heap growth, both relative to the volume's int16 voxel
// bytes.
func BenchmarkLoadChaos(b *testing.B) {
	dir := shareddata.Path(b, "cases", "chaos_ct01", "dicom")
	ctx := context.Background()
	v, _, err := LoadPath(ctx, dir, nil)
	if err != nil {
		b.Fatal(err)
	}
	voxelBytes := float64(2 * len(v.Voxels))
	v = nil

	// Peak heap growth of one load, measured apart from the timed loop.
	runtime.GC()
	var ms0 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	peak := uint64(0)
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapAlloc > peak {
				peak = ms.HeapAlloc
			}
			select {
			case <-stop:
				return
			case <-time.After(200 * time.Microsecond):
			}
		}
	}()
	v2, _, err := LoadPath(ctx, dir, nil)
	if err != nil {
		b.Fatal(err)
	}
	var ms1 runtime.MemStats
	runtime.ReadMemStats(&ms1)
	if ms1.HeapAlloc > peak {
		peak = ms1.HeapAlloc
	}
	close(stop)
	<-sampled
	runtime.KeepAlive(v2)
	peakRatio := float64(peak-ms0.HeapAlloc) / voxelBytes
	v2 = nil

	b.ReportAllocs()
	b.ResetTimer()
	var mem0, mem1 runtime.MemStats
	runtime.ReadMemStats(&mem0)
	start := time.Now()
	for i := 0; i < b.N; i++ {
		if _, _, err := LoadPath(ctx, dir, nil); err != nil {
			b.Fatal(err)
		}
	}
	ours := time.Since(start)
	runtime.ReadMemStats(&mem1)
	b.StopTimer()
	b.ReportMetric(float64(ours.Microseconds())/1000/float64(b.N), "load_ms/op")
	b.ReportMetric(float64(mem1.TotalAlloc-mem0.TotalAlloc)/float64(b.N)/voxelBytes, "alloc/voxelbytes")
	b.ReportMetric(peakRatio, "peakheap/voxelbytes")

	bin, err := exec.LookPath("dcm2niix")
	if err != nil {
		b.Log("dcm2niix is not installed: skipping the dcm2niix half of the comparison")
		return
	}
	start = time.Now()
	for i := 0; i < b.N; i++ {
		out, err := os.MkdirTemp("", "dcm2niix-bench-")
		if err != nil {
			b.Fatal(err)
		}
		if msg, err := exec.Command(bin, "-z", "n", "-o", out, dir).CombinedOutput(); err != nil {
			b.Fatalf("dcm2niix: %v\n%s", err, msg)
		}
		// Removing its output is not part of dcm2niix's time.
		t0 := time.Now()
		os.RemoveAll(out)
		start = start.Add(time.Since(t0))
	}
	theirs := time.Since(start)
	b.ReportMetric(float64(theirs.Microseconds())/1000/float64(b.N), "dcm2niix_ms/op")
	b.ReportMetric(float64(theirs)/float64(ours), "dcm2niix/ours")
}

// BenchmarkScanChaos times the header-only scan of the same folder, the
// part of LoadPath a series picker pays before the user chooses.
func BenchmarkScanChaos(b *testing.B) {
	dir := shareddata.Path(b, "cases", "chaos_ct01", "dicom")
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := Scan(context.Background(), []string{dir}, nil); err != nil {
			b.Fatal(err)
		}
	}
}
