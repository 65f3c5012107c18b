package dicomseg

import (
	"path/filepath"
	"testing"

	"github.com/liverseg/liverseg/internal/testsupport/shareddata"
)

func TestIsSEG(t *testing.T) {
	dir := shareddata.Path(t, "cases", "dcmqi_ct3slice")
	ct, err := filepath.Glob(filepath.Join(dir, "dicom", "*"))
	if err != nil || len(ct) == 0 {
		t.Fatalf("no CT files in %s (%v)", dir, err)
	}
	for _, c := range []struct {
		path string
		want bool
	}{
		{filepath.Join(dir, "liver.dcm"), true},       // dcmqi's SEG
		{ct[0], false},                                // a CT image
		{filepath.Join(dir, "liver_seg.nrrd"), false}, // not DICOM
		{filepath.Join(dir, "absent.dcm"), false},
	} {
		if got := IsSEG(c.path); got != c.want {
			t.Errorf("IsSEG(%s) = %v, want %v", filepath.Base(c.path), got, c.want)
		}
	}
}
