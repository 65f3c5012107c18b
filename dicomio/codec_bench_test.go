package dicomio

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/liverseg/liverseg/internal/testsupport/shareddata"
)

// Compressed-series benchmarks: our LoadPath (scan + decode + HU) beside
// the reference tool decompressing the same files, in the same run, one
// process per file as a user of those tools would run them:
//
//	go test ./dicomio/ -run '^$' -bench 'BenchmarkLoadCompressed' -benchtime 3x
//
// ReportMetric gives load_ms/op (ours), ref_ms/op (theirs) and ref/ours.
// The reference tools also write their output files; that is part of what
// they do, and the output folder is a tmpfs-backed temporary folder.

// BenchmarkLoadCompressedJ2K: the 20-slice JPEG 2000 lossless series of
// totalseg_example_dicom against GDCM (OpenJPEG, like us) through
// gdcmraw -P, which writes the decompressed pixels (gdcmconv refuses to
// write these files: they lack UIDs).
func BenchmarkLoadCompressedJ2K(b *testing.B) {
	dir := shareddata.Path(b, "cases", "totalseg_example_dicom", "dicom")
	benchCompressed(b, dir, "gdcmraw", nil)
}

// BenchmarkLoadCompressedJPEGLossless: the 78-slice CHAOS series,
// compressed here by dcmcjpeg (JPEG lossless SV1, the .70 syntax scanners
// write), against dcmdjpeg.
func BenchmarkLoadCompressedJPEGLossless(b *testing.B) {
	dir := compressSeries(b, shareddata.Path(b, "cases", "chaos_ct01", "dicom"), "dcmcjpeg", "+e1")
	benchCompressed(b, dir, "dcmdjpeg", nil)
}

// BenchmarkLoadCompressedJPEGLS: the CHAOS series in JPEG-LS lossless
// (dcmcjpls) against dcmdjpls.
func BenchmarkLoadCompressedJPEGLS(b *testing.B) {
	dir := compressSeries(b, shareddata.Path(b, "cases", "chaos_ct01", "dicom"), "dcmcjpls", "+el")
	benchCompressed(b, dir, "dcmdjpls", nil)
}

// BenchmarkLoadCompressedRLE: the CHAOS series in RLE (dcmcrle) against
// dcmdrle; our RLE decoder is pure Go.
func BenchmarkLoadCompressedRLE(b *testing.B) {
	dir := compressSeries(b, shareddata.Path(b, "cases", "chaos_ct01", "dicom"), "dcmcrle")
	benchCompressed(b, dir, "dcmdrle", nil)
}

func compressSeries(b *testing.B, src, tool string, args ...string) string {
	b.Helper()
	if _, err := exec.LookPath(tool); err != nil {
		b.Skipf("%s is not installed", tool)
	}
	dst := b.TempDir()
	ents, err := os.ReadDir(src)
	if err != nil {
		b.Fatal(err)
	}
	for _, e := range ents {
		cmd := exec.Command(tool, append(append([]string{}, args...), filepath.Join(src, e.Name()), filepath.Join(dst, e.Name()))...)
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("%s %s: %v\n%s", tool, e.Name(), err, out)
		}
	}
	return dst
}

func benchCompressed(b *testing.B, dir, tool string, args []string) {
	bin, err := exec.LookPath(tool)
	if err != nil {
		b.Skipf("%s is not installed", tool)
	}
	ctx := context.Background()
	v, cat, err := LoadPath(ctx, dir, nil)
	if err != nil {
		b.Fatal(err)
	}
	files := cat.Series[0].Files
	_ = v
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		if _, _, err := LoadPath(ctx, dir, nil); err != nil {
			b.Fatal(err)
		}
	}
	ours := time.Since(start)
	b.StopTimer()
	out := b.TempDir()
	start = time.Now()
	for i := 0; i < b.N; i++ {
		for k, f := range files {
			o := filepath.Join(out, "d"+string(rune('a'+k%26))+".dcm")
			cmd := exec.Command(bin, append(append(append([]string{}, args...), f), o)...)
			if tool == "gdcmraw" {
				cmd = exec.Command(bin, "-P", "-i", f, "-o", o)
			}
			if msg, err := cmd.CombinedOutput(); err != nil {
				b.Fatalf("%s %s: %v\n%s", tool, f, err, msg)
			}
		}
	}
	theirs := time.Since(start)
	b.ReportMetric(float64(ours.Microseconds())/1000/float64(b.N), "load_ms/op")
	b.ReportMetric(float64(theirs.Microseconds())/1000/float64(b.N), "ref_ms/op")
	b.ReportMetric(float64(theirs)/float64(ours), "ref/ours")
	b.ReportMetric(float64(len(files)), "slices")
}
