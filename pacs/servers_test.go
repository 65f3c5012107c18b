package pacs

import (
	"encoding/pem"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func pemCert(ts *httptest.Server) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ts.Certificate().Raw})
}

func TestServerListKeepsNoSecret(t *testing.T) {
	dir := t.TempDir()
	l, err := LoadServers(filepath.Join(dir, "servers.json"))
	if err != nil {
		t.Fatal(err)
	}
	sec := &FileSecrets{Path: filepath.Join(dir, "secrets.json")}
	s := Server{Name: "Hospital", URL: "https://pacs.example.org/dicom-web", Auth: AuthBasic, User: "rad"}
	if err := l.Put("", s); err != nil {
		t.Fatal(err)
	}
	if err := sec.Set("Hospital", "pw-XYZ-987"); err != nil {
		t.Fatal(err)
	}
	if err := l.Put("", s); err == nil {
		t.Error("a duplicate name was accepted")
	}
	s.URL = "https://pacs2.example.org/dicom-web"
	if err := l.Put("Hospital", s); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(l.Path)
	if strings.Contains(string(b), "pw-XYZ-987") || !strings.Contains(string(b), "pacs2") {
		t.Errorf("server list: %s", b)
	}
	st, err := os.Stat(sec.Path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("secrets file mode: %v %v", st.Mode(), err)
	}
	got, err := sec.Get("Hospital")
	if err != nil || got != "pw-XYZ-987" {
		t.Errorf("secret %q %v", got, err)
	}
	l2, err := LoadServers(l.Path)
	if err != nil || len(l2.Servers) != 1 || l2.Servers[0].URL != s.URL {
		t.Fatalf("reloaded %+v %v", l2, err)
	}
	if err := l2.Remove("Hospital"); err != nil || len(l2.Servers) != 0 {
		t.Fatal(err)
	}
	if err := sec.Delete("Hospital"); err != nil {
		t.Fatal(err)
	}
	if got, _ := sec.Get("Hospital"); got != "" {
		t.Error("secret survived Delete")
	}
	// A secrets file others can read is refused, not used.
	os.Chmod(sec.Path, 0o644)
	if _, err := sec.Get("Hospital"); err == nil || !strings.Contains(err.Error(), "readable by others") {
		t.Errorf("0644 secrets file: %v", err)
	}
}

func TestCacheTrimKeepsNewest(t *testing.T) {
	c := &Cache{Root: t.TempDir()}
	mk := func(study, series string, size int, age time.Duration) {
		d := c.InstancesDir(study, series)
		os.MkdirAll(d, 0o755)
		os.WriteFile(filepath.Join(d, "1.2.dcm"), make([]byte, size), 0o644)
		m := &Manifest{StudyInstanceUID: study, SeriesInstanceUID: series, Instances: []string{"1.2"}}
		if err := c.writeManifest(m); err != nil {
			t.Fatal(err)
		}
		at := time.Now().Add(-age)
		os.Chtimes(filepath.Join(c.seriesDir(study, series), manifestName), at, at)
	}
	mk("1.1", "1.1.1", 1000, 3*time.Hour)
	mk("1.1", "1.1.2", 1000, 2*time.Hour)
	mk("1.3", "1.3.1", 1000, 1*time.Hour)
	if _, _, ok := c.Lookup("1.1", "1.1.1"); !ok { // now the most recently used
		t.Fatal("lookup")
	}
	c.Limit = 2500
	if err := c.Trim("1.3", "1.3.1"); err != nil {
		t.Fatal(err)
	}
	es, _ := c.Entries()
	var left []string
	for _, e := range es {
		left = append(left, e.Series)
	}
	if strings.Join(left, ",") != "1.3.1,1.1.1" {
		t.Errorf("left %v, want the two most recently used", left)
	}
	if _, _, ok := c.Lookup("../..", "x"); ok {
		t.Error("a non-UID path was accepted")
	}
}

func TestParseDateAndQueryEncoding(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", ""}, {"2024-02-29", "20240229"}, {"20240102", "20240102"}, {" 2024-01-02 ", "20240102"},
		{"2023-02-29", "error"}, {"02/01/2024", "error"}, {"yesterday", "error"},
	} {
		got, err := ParseDate(tc.in)
		if err != nil {
			got = "error"
		}
		if got != tc.want {
			t.Errorf("ParseDate(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	// DICOM matching characters stay literal; separators are escaped.
	q := encodeQuery(map[string][]string{"PatientName": {"DOE^J*?"}, "X": {"a&b=c d+%"}})
	if q != "PatientName=DOE^J*?&X=a%26b%3Dc%20d%2B%25" {
		t.Errorf("encodeQuery: %s", q)
	}
}
