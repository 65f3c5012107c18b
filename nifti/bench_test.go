package nifti

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/liverseg/liverseg/internal/testsupport/shareddata"
)

// BenchmarkReadChaosCT reads the 512×512×78 int16 CHAOS CT (.nii.gz): gzip
// inflate plus conversion, what opening a NIfTI in the viewer costs.
func BenchmarkReadChaosCT(b *testing.B) {
	p := shareddata.Path(b, "cases", "chaos_ct01", "ct.nii.gz")
	b.ReportAllocs()
	for b.Loop() {
		v, err := Read(p)
		if err != nil {
			b.Fatal(err)
		}
		b.SetBytes(int64(2 * len(v.Voxels)))
	}
}

// BenchmarkReadChaosCTUncompressed reads the same CT from a plain .nii,
// isolating the conversion cost from inflate.
func BenchmarkReadChaosCTUncompressed(b *testing.B) {
	v, err := Read(shareddata.Path(b, "cases", "chaos_ct01", "ct.nii.gz"))
	if err != nil {
		b.Fatal(err)
	}
	p := filepath.Join(b.TempDir(), "ct.nii")
	if err := WriteVolume(p, v); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(2 * len(v.Voxels)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Read(p); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkWriteChaosCT writes the CHAOS CT as .nii.gz (what convert and
// export cost) and reports the file size.
func BenchmarkWriteChaosCT(b *testing.B) {
	v, err := Read(shareddata.Path(b, "cases", "chaos_ct01", "ct.nii.gz"))
	if err != nil {
		b.Fatal(err)
	}
	p := filepath.Join(b.TempDir(), "ct.nii.gz")
	b.SetBytes(int64(2 * len(v.Voxels)))
	for b.Loop() {
		if err := WriteVolume(p, v); err != nil {
			b.Fatal(err)
		}
	}
	if st, err := os.Stat(p); err == nil {
		b.ReportMetric(float64(st.Size())/(1<<20), "MiB/file")
	}
}
