package testct

import (
	"os"
	"testing"

	"github.com/liverseg/liverseg/nifti"
)

// TestPhantomStudy: the fallback study is complete and its mask lies on the
// phantom's grid, whatever the machine holds.
func TestPhantomStudy(t *testing.T) {
	if testing.Short() {
		t.Skip("generates a 512×512×84 phantom")
	}
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	s := Phantom(t)
	ents, err := os.ReadDir(s.DICOM)
	if err != nil || len(ents) != s.Size[2] {
		t.Fatalf("%s: %d files (%v), want %d slices", s.DICOM, len(ents), err, s.Size[2])
	}
	m, err := nifti.ReadMask(s.Liver)
	if err != nil {
		t.Fatal(err)
	}
	if m.Size != s.Size || m.Count() == 0 {
		t.Errorf("mask size %v with %d voxels, want %v and a liver", m.Size, m.Count(), s.Size)
	}
	// A second call reuses the study.
	st, _ := os.Stat(s.Liver)
	again := Phantom(t)
	st2, _ := os.Stat(again.Liver)
	if again != s || !st2.ModTime().Equal(st.ModTime()) {
		t.Errorf("second call %+v (modified %v), first %+v (%v)", again, st2.ModTime(), s, st.ModTime())
	}
}
