package dicomio

import (
	"image"
	"image/color"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/liverseg/liverseg/dicomio/internal/dsbuild"
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

// TestTextCharset: ASCII texts declare no character set; one non-ASCII
// text anywhere makes the object declare UTF-8, and a reader then decodes
// the name as written.
func TestTextCharset(t *testing.T) {
	for _, tc := range []struct {
		texts []string
		want  string
	}{
		{nil, ""},
		{[]string{"DOE^JANE", "CT abdomen"}, ""},
		{[]string{"DOE^JANE", "Leber ~ 0x7e"}, ""},
		{[]string{"DOE^JANE", "", "Müller"}, "ISO_IR 192"},
		{[]string{"李^雷"}, "ISO_IR 192"},
	} {
		if got := dsbuild.TextCharset(tc.texts...); got != tc.want {
			t.Errorf("dsbuild.TextCharset(%q) = %q, want %q", tc.texts, got, tc.want)
		}
	}
	if err := exec.Command(python, "-c", "import pydicom").Run(); err != nil {
		t.Skip("pydicom not importable: skipping the read-back")
	}
	img := image.NewRGBA(image.Rect(0, 0, 4, 4))
	ref := volume.Info{PatientName: "MÜLLER^ANNA", PatientID: "P1", StudyInstanceUID: "1.2.3.4.5"}
	path := filepath.Join(t.TempDir(), "sc.dcm")
	if err := WriteSecondaryCapture(path, img, ref, SCOptions{UIDSeed: "charset"}); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(python, "-c", `import sys, pydicom
ds = pydicom.dcmread(sys.argv[1])
sys.stdout.buffer.write((ds.SpecificCharacterSet + "|" + str(ds.PatientName)).encode("utf-8"))`, path).CombinedOutput()
	if err != nil {
		t.Fatalf("pydicom: %v %s", err, out)
	}
	if got := string(out); got != "ISO_IR 192|MÜLLER^ANNA" {
		t.Errorf("pydicom reads %q, want ISO_IR 192 and the name as written", got)
	}
}
