package dicomio

import (
	"image"
	"image/color"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/liverseg/liverseg/volume"
)

// TestWriteSecondaryCapture writes an odd-sized RGB picture as a Secondary
// Capture of a study, validates it with dciodvfy and reads its pixels back
// with pydicom, which must return exactly the picture.
func TestWriteSecondaryCapture(t *testing.T) {
	img := image.NewRGBA(image.Rect(0, 0, 37, 21))
	for y := 0; y < 21; y++ {
		for x := 0; x < 37; x++ {
			img.Set(x, y, color.RGBA{uint8(7 * x), uint8(11 * y), uint8(x * y), 255})
		}
	}
	ref := volume.Info{PatientName: "DOE^JANE", PatientID: "P1", StudyInstanceUID: "1.2.3.4.5", StudyDate: "20240102", StudyDescription: "CT abdomen"}
	path := filepath.Join(t.TempDir(), "report.dcm")
	if err := WriteSecondaryCapture(path, img, ref, SCOptions{SoftwareVersions: "LiverSeg test", UIDSeed: "sc-test"}); err != nil {
		t.Fatal(err)
	}
	if err := WriteSecondaryCapture(path, img, ref, SCOptions{}); err == nil || !strings.Contains(err.Error(), "refusing to overwrite") {
		t.Errorf("overwrite without asking: %v", err)
	}
	if err := WriteSecondaryCapture(filepath.Join(t.TempDir(), "x.dcm"), img, volume.Info{}, SCOptions{}); err == nil {
		t.Error("a picture without a study was written")
	}
	if bin, err := exec.LookPath("dciodvfy"); err == nil {
		out, _ := exec.Command(bin, "-new", path).CombinedOutput()
		for _, l := range strings.Split(string(out), "\n") {
			if strings.HasPrefix(l, "Error") {
				t.Errorf("dciodvfy: %s", l)
			} else if strings.HasPrefix(l, "Warning") {
				t.Logf("dciodvfy: %s", l)
			}
		}
	} else {
		t.Log("dciodvfy is not installed: skipping IOD validation")
	}
	if err := exec.Command(python, "-c", "import pydicom, numpy").Run(); err != nil {
		t.Skip("pydicom/numpy not importable: skipping the pixel cross-check")
	}
	script := `import sys, pydicom
ds = pydicom.dcmread(sys.argv[1])
a = ds.pixel_array
print(ds.SOPClassUID, ds.StudyInstanceUID, ds.PatientName, a.shape, int(a[20,36,0]), int(a[20,36,1]), int(a[20,36,2]), int(a[3,5,0]), int(a.sum()))`
	out, err := exec.Command(python, "-c", script, path).CombinedOutput()
	if err != nil {
		t.Fatalf("pydicom: %v %s", err, out)
	}
	sum := 0
	for y := 0; y < 21; y++ {
		for x := 0; x < 37; x++ {
			c := img.RGBAAt(x, y)
			sum += int(c.R) + int(c.G) + int(c.B)
		}
	}
	want := strings.Join([]string{SecondaryCaptureStorage, "1.2.3.4.5", "DOE^JANE", "(21, 37, 3)", "252", "220", "208", "35", strconv.Itoa(sum)}, " ")
	if got := strings.TrimSpace(string(out)); got != want {
		t.Errorf("pydicom reads\n%s\nwant\n%s", got, want)
	}
}
