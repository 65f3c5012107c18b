package app

import (
	"strings"
	"testing"

	"github.com/liverseg/liverseg/internal/testsupport/dicomedit"
	"github.com/liverseg/liverseg/internal/testsupport/testct"
)

// TestAssumedGeometryBesideTheVolume opens a real series whose
// PixelSpacing is invalid and whose ImagerPixelSpacing stands in for it:
// the segmentation panel shows the volume with the assumption, and the
// warning banner says what was assumed.
func TestAssumedGeometryBesideTheVolume(t *testing.T) {
	s := testct.Abdomen(t)
	files := dicomedit.Copy(t, s.DICOM, s.Size[2])
	dicomedit.Modify(t, files, "-i", `(0028,0030)=NaN\NaN`, "-i", `(0018,1164)=0.75\0.75`)
	dir, _ := testModels(t)
	u, runDone, postDone := segUI(t, dir)
	folder := files[0][:strings.LastIndex(files[0], "/")]
	if err := openAndWait(t, u, folder); err != nil {
		t.Fatal(err)
	}
	if err := waitRun(t, runDone); err != nil {
		t.Fatal(err)
	}
	waitPost(t, postDone)
	if txt := u.seg.VolumeText(); !strings.Contains(txt, "mL ON ASSUMED GEOMETRY") {
		t.Errorf("volume shown without its assumption: %q", txt)
	}
	if w := u.warnText.Text; !strings.Contains(w, `PixelSpacing "NaN\NaN" is not finite`) || !strings.Contains(w, "ImagerPixelSpacing 0.75 × 0.75 mm") {
		t.Errorf("warning banner: %q", w)
	}
}
