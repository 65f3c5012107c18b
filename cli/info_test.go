package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/liverseg/liverseg/internal/testsupport/shareddata"
	"github.com/liverseg/liverseg/nifti"
)

func infoJSON(t *testing.T, args ...string) (infoReport, string) {
	t.Helper()
	code, stdout, stderr := runCLI(append([]string{"info", "--json"}, args...)...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var rep infoReport
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatalf("--json output is not one JSON object: %v\n%s", err, stdout)
	}
	return rep, stdout
}

// TestInfoDICOM lists a real study folder holding one CT series and three
// radiographs that cannot form a volume.
func TestInfoDICOM(t *testing.T) {
	in := shareddata.Path(t, "dicom", "pydicom-testfiles", "dicomdirtests", "77654033")
	rep, raw := infoJSON(t, in)
	if len(rep.Series) != 1 {
		t.Fatalf("%d series, want the CT series only:\n%s", len(rep.Series), raw)
	}
	s := rep.Series[0]
	// The HU range must be what an independent converter finds.
	ref, err := nifti.Read(dcm2niix(t, filepath.Join(in, "CT2")))
	if err != nil {
		t.Fatal(err)
	}
	lo, hi := ref.Range()
	checks := []struct {
		name      string
		got, want any
	}{
		{"format", s.Format, "dicom"},
		{"chosen", s.Chosen, true},
		{"patient", s.PatientName, "Doe Archibald"},
		{"patient id", s.PatientID, "77654033"},
		{"date", s.StudyDate, "19950903"},
		{"modality", s.Modality, "CT"},
		{"files", s.Files, 4},
		{"size", s.Size, [3]int{16, 16, 8}}, // 4 uneven slices resampled to 8
		{"orientation", s.Orientation, "LPS"},
		{"HU min", derefInt(s.HUMin), int(lo)},
		{"HU max", derefInt(s.HUMax), int(hi)},
		{"skipped", len(rep.Skipped), 3},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	if s.Spacing == nil || s.Spacing[0] < 0.48 || s.Spacing[0] > 0.49 {
		t.Errorf("spacing %v", s.Spacing)
	}
	if s.Key == "" || len(s.Warnings) == 0 {
		t.Errorf("key %q, warnings %q: the uneven stack must carry warnings", s.Key, s.Warnings)
	}
	for _, sk := range rep.Skipped {
		if !strings.Contains(sk.Path, "CR") || sk.Reason == "" {
			t.Errorf("skipped %+v", sk)
		}
	}

	// Text form: the same facts, every skipped file with its reason.
	code, text, stderr := runCLI("info", in)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{"16 × 16 × 8", "orientation:  LPS", "HU range:", "WARNING:", "Skipped files:", "Routine Brain", "CT"} {
		if !strings.Contains(text, want) {
			t.Errorf("text output lacks %q:\n%s", want, text)
		}
	}
	for _, sk := range rep.Skipped {
		if !strings.Contains(text, sk.Path+": "+sk.Reason) {
			t.Errorf("text output lacks skipped %s", sk.Path)
		}
	}

	// --headers-only decodes no pixels: no HU range, but the same grid
	// (from the headers, regularised as Load will) as the full report.
	fast, _ := infoJSON(t, "--headers-only", in)
	if len(fast.Series) != 1 || fast.Series[0].HUMin != nil || fast.Series[0].Size != s.Size ||
		fast.Series[0].Spacing == nil || *fast.Series[0].Spacing != *s.Spacing ||
		fast.Series[0].Origin == nil || *fast.Series[0].Origin != *s.Origin || fast.Series[0].Orientation != s.Orientation {
		t.Errorf("--headers-only: %+v, want the grid of %+v", fast.Series, s)
	}
}

func derefInt(p *int) any {
	if p == nil {
		return nil
	}
	return *p
}

// TestInfoManySeries: a folder tree with several patients and series marks
// exactly one series as the one opened by default.
func TestInfoManySeries(t *testing.T) {
	rep, raw := infoJSON(t, shareddata.Path(t, "dicom", "pydicom-testfiles", "dicomdirtests"))
	if len(rep.Series) < 3 {
		t.Fatalf("%d series:\n%s", len(rep.Series), raw)
	}
	chosen := 0
	for _, s := range rep.Series {
		if s.Chosen {
			chosen++
		}
		if s.HUMin == nil && s.LoadError == "" && !s.Localizer {
			t.Errorf("series %s has neither an HU range nor a load error", s.Key)
		}
	}
	if chosen != 1 {
		t.Fatalf("%d series marked chosen, want 1", chosen)
	}
}

func TestInfoNIfTI(t *testing.T) {
	p := shareddata.Path(t, "cases", "chaos_ct01", "ct.nii.gz")
	rep, _ := infoJSON(t, p)
	if len(rep.Series) != 1 || len(rep.Skipped) != 0 {
		t.Fatalf("%+v", rep)
	}
	s := rep.Series[0]
	if s.Format != "nifti" || s.Size != [3]int{512, 512, 78} || s.Orientation != "LPS" || s.Spacing == nil || s.Spacing[2] != 2 {
		t.Fatalf("%+v", s)
	}
	// README: int16 HU, air at about −1000.
	if s.HUMin == nil || *s.HUMin > -900 || *s.HUMax < 300 {
		t.Fatalf("HU range %v..%v", derefInt(s.HUMin), derefInt(s.HUMax))
	}
}

func TestInfoExitCodes(t *testing.T) {
	empty := t.TempDir()
	os.WriteFile(filepath.Join(empty, "notes.txt"), []byte("hello"), 0o644)
	cases := []struct {
		name  string
		args  []string
		lines int
		want  string
	}{
		{"missing path", []string{"info", filepath.Join(empty, "nope")}, 1, "no such file"},
		{"no arguments", []string{"info"}, -1, "expected one PATH"}, // -1: the reason, then the usage wrapped at 80 columns
		{"two paths", []string{"info", empty, empty}, -1, "expected one PATH"},
		{"corrupt NIfTI", []string{"info", infoWriteFile(t, empty, "x.nii.gz", "garbage")}, 1, "x.nii.gz"},
		{"no images", []string{"info", empty}, 1, "no image series"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, _, stderr := runCLI(c.args...)
			lines := strings.Count(stderr, "\n") == c.lines
			if c.lines < 0 {
				lines = isReasonThenUsage(stderr, c.want)
			}
			if code != 2 || !lines || !strings.Contains(stderr, c.want) {
				t.Fatalf("exit %d, stderr %q; want 2 with %d line(s) containing %q", code, stderr, c.lines, c.want)
			}
		})
	}
	// A folder without images still lists what was skipped, and why.
	code, stdout, _ := runCLI("info", "--json", empty)
	var rep infoReport
	if code != 2 || json.Unmarshal([]byte(stdout), &rep) != nil || len(rep.Skipped) != 2 {
		t.Fatalf("exit %d, report %q: want 2 and the skipped files", code, stdout)
	}
}

func infoWriteFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestInfoSeriesHeadingIsReadable: a series without UIDs (the JPEG 2000
// example) is named by its description, not by its grouping key
// ("nouid:|1.3.12…"); a series with a UID shows it.
func TestInfoSeriesHeadingIsReadable(t *testing.T) {
	for _, c := range []struct {
		dir, want string
	}{
		{"totalseg_example_dicom", "Series 1 of 1 (dicom): CT Body 3.0 (no Series Instance UID: files grouped by study, series number, date and geometry)"},
		{"chaos_ct01/dicom", "Series 1 of 1 (dicom): series #4 (UID 1.2.840.113704.1.1762661655.11024.1129934350.12)"},
	} {
		code, stdout, stderr := runCLI("info", "--headers-only", shareddata.Path(t, "cases", c.dir))
		if code != 0 || !strings.Contains(stdout, c.want) || strings.Contains(stdout, "nouid:") {
			t.Errorf("%s: exit %d, stderr %q, output:\n%s\nwant a line %q", c.dir, code, stderr, stdout, c.want)
		}
	}
}
