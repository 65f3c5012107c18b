package pacs

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/liverseg/liverseg/internal/testsupport/orthanctest"
	"github.com/liverseg/liverseg/internal/testsupport/shareddata"
)

// benchArchive is an Orthanc holding chaos_ct01 (78 slices, real DICOM)
// and ircad_p01 (129 slices; the case exists only as NIfTI, so it is
// written as a DICOM series first), started once per benchmark run.
var benchArchive struct {
	once    sync.Once
	srv     *orthanctest.Server
	err     error
	series  map[string][2]string // case → study, series
	cleanup func()
}

func benchSetup(b *testing.B) *orthanctest.Server {
	b.Helper()
	chaos := shareddata.Path(b, "cases", "chaos_ct01", "dicom")
	ircad := shareddata.Path(b, "cases", "ircad_p01", "ct.nii.gz")
	if ok, why := orthanctest.Available(); !ok {
		b.Skip(why)
	}
	a := &benchArchive
	a.once.Do(func() {
		dir, err := os.MkdirTemp("", "liverseg-orthanc-bench-")
		if err != nil {
			a.err = err
			return
		}
		a.series = map[string][2]string{"chaos_ct01": {chaosStudy, chaosSeries}}
		conv := filepath.Join(dir, "ircad_p01")
		if a.err = orthanctest.WriteNIfTIAsDICOM(ircad, conv, "ircad_p01"); a.err != nil {
			return
		}
		first, _ := os.ReadDir(conv)
		in, err := ReadInstance(filepath.Join(conv, first[0].Name()))
		if err != nil {
			a.err = err
			return
		}
		a.series["ircad_p01"] = [2]string{in.StudyInstanceUID, in.SeriesInstanceUID}
		if a.srv, a.err = orthanctest.StartIn(dir, orthanctest.Options{}); a.err != nil {
			return
		}
		for _, d := range []string{chaos, conv} {
			if _, a.err = a.srv.UploadDir(context.Background(), d); a.err != nil {
				return
			}
		}
		benchCleanup = func() { a.srv.Stop(); os.RemoveAll(dir) }
	})
	if a.err != nil {
		b.Fatal(a.err)
	}
	return a.srv
}

// benchCleanup is run by TestMain after the benchmarks.
var benchCleanup = func() {}

func init() {
	// TestMain (orthanc_test.go) stops the shared archive; this one too.
	prev := stopShared
	stopShared = func() { prev(); benchCleanup() }
}

func BenchmarkQuery(b *testing.B) {
	srv := benchSetup(b)
	c := client(b, srv, nil)
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		st, err := c.FindStudies(ctx, StudyQuery{Modality: "CT"})
		if err != nil || len(st) != 2 {
			b.Fatalf("%v %d", err, len(st))
		}
		for _, s := range st {
			if _, err := c.FindSeries(ctx, s.StudyInstanceUID, ""); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// peakHeap samples the heap in use while fn runs.
func peakHeap(fn func()) uint64 {
	runtime.GC()
	var peak atomic.Uint64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		var ms runtime.MemStats
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
	fn()
	close(stop)
	<-done
	return peak.Load()
}

// BenchmarkRetrieve retrieves each case into an empty cache (WADO-RS:
// the whole series in one request, as a fresh retrieval does, and one
// request per instance, 1 or 4 at a time, as a resumed one does; streamed
// to disk) and, in the same run, curl fetching the same series in one
// WADO-RS request into one file.
// Reported: instances/s, MB/s and the peak heap during the retrieval
// (which must not grow with the series).
func BenchmarkRetrieve(b *testing.B) {
	srv := benchSetup(b)
	for _, name := range []string{"chaos_ct01", "ircad_p01"} {
		uids := benchArchive.series[name]
		for _, mode := range []struct {
			name        string
			perInstance bool
			parallel    int
		}{{"liverseg-series", false, 4}, {"liverseg-instances-p1", true, 1}, {"liverseg-instances-p4", true, 4}} {
			b.Run(name+"/"+mode.name, func(b *testing.B) {
				c := client(b, srv, nil)
				c.Parallel, c.PerInstance = mode.parallel, mode.perInstance
				var bytes int64
				var n int
				var peak uint64
				for i := 0; i < b.N; i++ {
					cache := &Cache{Root: b.TempDir()}
					var last Progress
					p := peakHeap(func() {
						if _, err := c.Retrieve(context.Background(), cache, uids[0], uids[1], func(p Progress) { last = p }); err != nil {
							b.Fatal(err)
						}
					})
					peak = max(peak, p)
					bytes += last.Bytes
					n += last.Total
				}
				s := b.Elapsed().Seconds()
				b.ReportMetric(float64(n)/s, "instances/s")
				b.ReportMetric(float64(bytes)/1e6/s, "MB/s")
				b.ReportMetric(float64(peak)/1e6, "peak-heap-MB")
				b.ReportMetric(float64(bytes)/1e6/float64(b.N), "series-MB")
			})
		}
		b.Run(name+"/curl", func(b *testing.B) {
			curl, err := exec.LookPath("curl")
			if err != nil {
				b.Skip("curl is not installed")
			}
			// The credentials go through a 0600 config file, not argv.
			cfg := filepath.Join(b.TempDir(), "curl.cfg")
			os.WriteFile(cfg, []byte(fmt.Sprintf("user = \"%s:%s\"\n", srv.User, srv.Password)), 0o600)
			url := srv.DICOMweb + "/studies/" + uids[0] + "/series/" + uids[1]
			var bytes int64
			for i := 0; i < b.N; i++ {
				out := filepath.Join(b.TempDir(), "series.multipart")
				cmd := exec.Command(curl, "-sS", "--fail", "-K", cfg, "-H", `Accept: multipart/related; type="application/dicom"; transfer-syntax=*`, "-o", out, url)
				if msg, err := cmd.CombinedOutput(); err != nil {
					b.Fatalf("curl: %v %s", err, msg)
				}
				st, err := os.Stat(out)
				if err != nil {
					b.Fatal(err)
				}
				bytes += st.Size()
			}
			s := b.Elapsed().Seconds()
			n := map[string]int{"chaos_ct01": 78, "ircad_p01": 129}[name]
			b.ReportMetric(float64(n*b.N)/s, "instances/s")
			b.ReportMetric(float64(bytes)/1e6/s, "MB/s")
		})
	}
}
