package cli

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/liverseg/liverseg/dicomio"
	"github.com/liverseg/liverseg/dicomio/dicomseg"
	"github.com/liverseg/liverseg/internal/testsupport/orthanctest"
	"github.com/liverseg/liverseg/internal/testsupport/shareddata"
	"github.com/liverseg/liverseg/pacs"
	"github.com/liverseg/liverseg/volume"
)

// TestPACSCommands runs find, get and send against a real Orthanc seeded
// with chaos_ct01, and the failures a batch job meets: each exits 2 with
// one line that never carries the password.
func TestPACSCommands(t *testing.T) {
	chaos := shareddata.Path(t, "cases", "chaos_ct01", "dicom")
	srv := orthanctest.Start(t, orthanctest.Options{})
	srv.Upload(t, chaos)
	home := t.TempDir()
	t.Setenv("XDG_CACHE_HOME", filepath.Join(home, "cache"))
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(home, "config"))
	t.Setenv("LIVERSEG_PACS_TOKEN", "")
	t.Setenv("LIVERSEG_PACS_PASSWORD", srv.Password)

	code, out, errOut := runCLI("pacs", "find", "--server", srv.DICOMweb, "--user", srv.User, "--patient", "chaos", "--json")
	if code != 0 {
		t.Fatalf("find: exit %d: %s", code, errOut)
	}
	var studies []pacs.Study
	if err := json.Unmarshal([]byte(out), &studies); err != nil {
		t.Fatalf("find --json: %v: %s", err, out)
	}
	if len(studies) != 1 || len(studies[0].Series) != 1 || studies[0].Series[0].NumInstances != 78 {
		t.Fatalf("find: %+v", studies)
	}
	series := studies[0].Series[0].SeriesInstanceUID

	code, out, _ = runCLI("pacs", "find", "--server", srv.DICOMweb, "--user", srv.User, "--patient", "NOBODY")
	if code != 0 || !strings.Contains(out, "no studies found") {
		t.Errorf("find nobody: %d %q", code, out)
	}

	dir := filepath.Join(t.TempDir(), "series")
	code, out, errOut = runCLI("pacs", "get", "--server", srv.DICOMweb, "--user", srv.User, "--series", series, "--out", dir)
	if code != 0 {
		t.Fatalf("get: exit %d: %s", code, errOut)
	}
	if !strings.Contains(out, "wrote 78 DICOM files") || !strings.Contains(errOut, "78/78 instances") {
		t.Errorf("get: %q %q", out, errOut)
	}
	got, _, err := dicomio.LoadPath(context.Background(), dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	want, _, err := dicomio.LoadPath(context.Background(), chaos, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got.Size != want.Size || !sameVoxels(got, want) {
		t.Fatal("the retrieved series differs from the original files")
	}
	code, _, errOut = runCLI("pacs", "get", "--server", srv.DICOMweb, "--user", srv.User, "--series", series, "--out", dir)
	if code != 2 || !strings.Contains(errOut, "not empty") {
		t.Errorf("get into a full folder: %d %q", code, errOut)
	}

	// send: a SEG of the retrieved CT goes back into its study.
	m := volume.NewMask(got.Geometry)
	for i := range m.Voxels[:len(m.Voxels)/2] {
		m.Voxels[i] = 1
	}
	seg := filepath.Join(t.TempDir(), "seg.dcm")
	if err := dicomseg.WriteSEG(seg, got, m, dicomseg.SEGOptions{}); err != nil {
		t.Fatal(err)
	}
	code, out, errOut = runCLI("pacs", "send", "--server", srv.DICOMweb, "--user", srv.User, seg)
	if code != 0 || !strings.HasPrefix(out, "stored  "+seg) {
		t.Fatalf("send: %d %q %q", code, out, errOut)
	}
	if n, _ := srv.CountInstances(); n != 79 {
		t.Errorf("%d instances after send", n)
	}

	// Failures: exit 2, one line, no password anywhere.
	fails := []struct {
		name string
		env  string
		args []string
		want string
	}{
		{"wrong password", "nope-" + srv.Password, []string{"find", "--server", srv.DICOMweb, "--user", srv.User}, "HTTP 401"},
		{"wrong URL", srv.Password, []string{"find", "--server", srv.URL + "/wrong", "--user", srv.User}, "HTTP 404"},
		{"password on the command line", srv.Password, []string{"find", "--server", srv.DICOMweb, "--user", srv.User, "--password", srv.Password}, "never taken from the command line"},
		{"no password", "", []string{"find", "--server", srv.DICOMweb, "--user", srv.User}, "no password"},
		{"unknown saved server", srv.Password, []string{"find", "--server", "Hospital"}, "neither a URL nor a saved server"},
		{"unknown series", srv.Password, []string{"get", "--server", srv.DICOMweb, "--user", srv.User, "--series", "1.2.3", "--out", filepath.Join(t.TempDir(), "x")}, "no such series"},
		{"not DICOM", srv.Password, []string{"send", "--server", srv.DICOMweb, "--user", srv.User, "../go.mod"}, "not a readable DICOM file"},
	}
	for _, tc := range fails {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("LIVERSEG_PACS_PASSWORD", tc.env)
			code, out, errOut := runCLI(append([]string{"pacs"}, tc.args...)...)
			if code != 2 || !strings.Contains(errOut, tc.want) {
				t.Errorf("exit %d, stderr %q (want %q)", code, errOut, tc.want)
			}
			first := strings.SplitN(errOut, "\n", 2)[0]
			if !strings.Contains(first, tc.want) {
				t.Errorf("the reason is not on the first line: %q", errOut)
			}
			if strings.Contains(out+errOut, srv.Password) {
				t.Errorf("output carries the password: %q %q", out, errOut)
			}
		})
	}
}

func TestPACSSavedServer(t *testing.T) {
	chaos := shareddata.Path(t, "cases", "chaos_ct01", "dicom")
	srv := orthanctest.Start(t, orthanctest.Options{})
	srv.Upload(t, chaos)
	home := t.TempDir()
	t.Setenv("XDG_CACHE_HOME", filepath.Join(home, "cache"))
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(home, "config"))
	t.Setenv("LIVERSEG_PACS_PASSWORD", "")
	t.Setenv("LIVERSEG_PACS_TOKEN", "")
	list, err := pacs.DefaultServerList()
	if err != nil {
		t.Fatal(err)
	}
	if err := list.Put("", pacs.Server{Name: "Local Orthanc", URL: srv.DICOMweb, Auth: pacs.AuthBasic, User: srv.User}); err != nil {
		t.Fatal(err)
	}
	sec, err := pacs.DefaultSecrets()
	if err != nil {
		t.Fatal(err)
	}
	if err := sec.Set("Local Orthanc", srv.Password); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runCLI("pacs", "find", "--server", "Local Orthanc")
	if code != 0 || !strings.Contains(out, "CHAOS^CT_SET_3") {
		t.Fatalf("find via the saved server: %d %q %q", code, out, errOut)
	}
	b, _ := os.ReadFile(list.Path)
	if strings.Contains(string(b), srv.Password) {
		t.Error("the password is in the server list")
	}
	code, out, _ = runCLI("pacs", "cache")
	if code != 0 || !strings.Contains(out, "0 series") {
		t.Errorf("cache: %d %q", code, out)
	}
}

func sameVoxels(a, b *volume.Volume) bool {
	if len(a.Voxels) != len(b.Voxels) {
		return false
	}
	for i := range a.Voxels {
		if a.Voxels[i] != b.Voxels[i] {
			return false
		}
	}
	return true
}
