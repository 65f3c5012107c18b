package dicomio

import (
	"context"
	"testing"

	"github.com/liverseg/liverseg/internal/testsupport/shareddata"
)

// TestExplicitVRUNLoads reads a file whose every attribute has VR UN in
// explicit VR (pydicom-data explicit_VR-UN.dcm): the third-party parser used
// to panic on its UN SpecificCharacterSet, and DS values arrive as bytes.
// Values are those dcmdump shows for the file.
func TestExplicitVRUNLoads(t *testing.T) {
	p := shareddata.Path(t, "dicom", "pydicom-data", "data", "explicit_VR-UN.dcm")
	v, cat, err := LoadPath(context.Background(), p, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(cat.Skipped) != 0 || v.Size != [3]int{512, 512, 1} {
		t.Fatalf("size %v, skipped %v", v.Size, cat.Skipped)
	}
	if want := [3]float64{0, 0, -121}; !near3(v.Origin, want, 1e-9) {
		t.Errorf("origin %v, want %v (ImagePositionPatient 0\\0\\-121)", v.Origin, want)
	}
	if v.Spacing[0] != 0.859375 || v.Spacing[1] != 0.859375 {
		t.Errorf("spacing %v, want 0.859375 (PixelSpacing)", v.Spacing)
	}
	if lo, hi := v.Range(); lo > -1000 || hi < 500 {
		t.Errorf("HU range %d..%d is not a CT slice", lo, hi)
	}
}
