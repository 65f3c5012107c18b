package app

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"fyne.io/fyne/v2/test"

	"github.com/liverseg/liverseg/internal/testsupport/orthanctest"
	"github.com/liverseg/liverseg/internal/testsupport/shareddata"
	"github.com/liverseg/liverseg/pacs"
)

// withPACS gives u a PACS controller on throw-away files (server list,
// 0600 secrets file, cache), as the user's own would be.
func withPACS(t *testing.T, u *UI) *pacsController {
	t.Helper()
	dir := t.TempDir()
	list, err := pacs.LoadServers(filepath.Join(dir, "servers.json"))
	if err != nil {
		t.Fatal(err)
	}
	p := &pacsController{u: u, servers: list, secrets: &pacs.FileSecrets{Path: filepath.Join(dir, "secrets.json")},
		cache: &pacs.Cache{Root: filepath.Join(dir, "cache"), Limit: pacs.DefaultCacheLimit}}
	u.pacs = p
	return p
}

// addServerVia fills the Servers dialog as a user would and presses Save.
func addServerVia(t *testing.T, p *pacsController, name, url, user, password string) {
	t.Helper()
	d := &p.srv
	test.Tap(d.newBtn)
	test.Type(d.name, name)
	test.Type(d.url, url)
	d.auth.SetSelectedIndex(1)
	test.Type(d.user, user)
	test.Type(d.secret, password)
	test.Tap(d.saveBtn)
	if !strings.HasPrefix(d.status.Text, "Saved "+name) {
		t.Fatalf("save: %q", d.status.Text)
	}
}

// TestPACSFindOpenSend drives the PACS dialogs against a real Orthanc
// seeded with chaos_ct01: add the server (its password goes to the
// secrets store, not the server list), Test it (right and wrong
// password), search, pick the study and its series, Open (retrieval with
// progress, then the folder path), then send the reference as a DICOM SEG
// back into the study and read the archive's answer.
func TestPACSFindOpenSend(t *testing.T) {
	chaos := shareddata.Path(t, "cases", "chaos_ct01", "dicom")
	liver := shareddata.Path(t, "cases", "chaos_ct01", "liver.nii.gz")
	srv := orthanctest.Start(t, orthanctest.Options{})
	srv.Upload(t, chaos)
	u := newUI(t)
	p := withPACS(t, u)

	u.ShowPACSServers()
	addServerVia(t, p, "Local Orthanc", srv.DICOMweb, srv.User, srv.Password)
	b, _ := os.ReadFile(p.servers.Path)
	if strings.Contains(string(b), srv.Password) || !strings.Contains(string(b), srv.DICOMweb) {
		t.Fatalf("server list: %s", b)
	}
	if got, _ := p.secrets.Get("Local Orthanc"); got != srv.Password {
		t.Fatal("the password was not saved in the secrets store")
	}

	tested := make(chan error, 1)
	p.onTest = func(err error) { tested <- err }
	test.Tap(p.srv.testBtn)
	if err := waitFor(t, tested, time.Minute, "Test"); err != nil || !strings.HasPrefix(p.srv.status.Text, "✓") {
		t.Fatalf("Test: %v %q", err, p.srv.status.Text)
	}
	test.Type(p.srv.secret, "wrong")
	test.Tap(p.srv.testBtn)
	if err := waitFor(t, tested, time.Minute, "Test"); err == nil || !strings.Contains(p.srv.status.Text, "401") || strings.Contains(p.srv.status.Text, srv.Password) {
		t.Fatalf("Test with a wrong password: %v %q", err, p.srv.status.Text)
	}
	t.Logf("Test with a wrong password: %s", p.srv.status.Text)
	p.srv.dlg.Hide()

	// Find.
	u.ShowPACSFind()
	f := &p.find
	searched := make(chan error, 1)
	p.onSearch = func(err error) { searched <- err }
	test.Type(f.name, "chaos")
	test.Tap(f.searchBtn)
	if err := waitFor(t, searched, time.Minute, "search"); err != nil {
		t.Fatal(err)
	}
	if len(f.studies) != 1 || f.studies[0].PatientName != "CHAOS^CT_SET_3" {
		t.Fatalf("studies %+v (status %q)", f.studies, f.status.Text)
	}
	listed := make(chan error, 1)
	p.onSeries = func(err error) { listed <- err }
	f.studyList.Select(0)
	if err := waitFor(t, listed, time.Minute, "series"); err != nil {
		t.Fatal(err)
	}
	if len(f.series) != 1 || f.series[0].NumInstances != 78 || f.openBtn.Disabled() {
		t.Fatalf("series %+v, open disabled %v", f.series, f.openBtn.Disabled())
	}
	if cells := seriesCells(f.series[0]); cells[3] != "78" || !strings.HasSuffix(cells[4], "mm") {
		t.Errorf("series row %q", cells)
	}
	// The series row shows the archive's rendering of its middle image.
	waitIdle(t, &f.thumbs, "series thumbnails")
	if th := f.thumbImg[f.series[0].SeriesInstanceUID]; th == nil {
		t.Error("no series thumbnail")
	} else if b := th.Bounds(); max(b.Dx(), b.Dy()) != 2*pickThumb {
		t.Errorf("series thumbnail %v, want one fitted to %d px", b.Size(), 2*pickThumb)
	}

	// Open: retrieval, then the folder path.
	loaded := make(chan error, 1)
	u.load.onDone = func(err error) { loaded <- err }
	test.Tap(f.openBtn)
	if err := waitFor(t, loaded, 2*time.Minute, "open from PACS"); err != nil {
		t.Fatal(err)
	}
	if u.vol == nil || u.vol.Size != [3]int{512, 512, 78} || !strings.HasPrefix(u.vol.Info.Source, p.cache.Root) {
		t.Fatalf("opened %+v from %q", u.vol, u.vol.Info.Source)
	}
	if p.originServer != "Local Orthanc" {
		t.Errorf("origin %q", p.originServer)
	}

	// Send the reference back as a DICOM SEG.
	refDone := make(chan error, 1)
	u.seg.onRefDone = func(err error) { refDone <- err }
	u.LoadReference(liver)
	if err := waitFor(t, refDone, time.Minute, "reference"); err != nil {
		t.Fatal(err)
	}
	u.ShowPACSSend()
	d := &p.send
	if d.dlg == nil || d.server.Selected != "Local Orthanc" {
		t.Fatalf("send dialog: %+v", d)
	}
	d.report.SetChecked(true) // and the views as a Secondary Capture
	sent := make(chan error, 1)
	var res *pacs.StoreResult
	p.onSend = func(r *pacs.StoreResult, err error) { res = r; sent <- err }
	test.Tap(d.sendBtn)
	if err := waitFor(t, sent, 2*time.Minute, "send"); err != nil {
		t.Fatal(err)
	}
	if len(res.Stored) != 2 || !strings.HasPrefix(d.result.Text, "✓") || !strings.Contains(d.result.Text, "and the views") {
		t.Fatalf("answer %+v %q", res, d.result.Text)
	}
	c, _ := p.client("Local Orthanc")
	kinds := map[string]bool{}
	for _, m := range []string{"SEG", "OT"} {
		series, err := c.FindSeries(context.Background(), u.vol.Info.StudyInstanceUID, m)
		kinds[m] = err == nil && len(series) == 1
	}
	if !kinds["SEG"] || !kinds["OT"] {
		t.Errorf("the study lacks the SEG or the Secondary Capture: %v", kinds)
	}
	// Listing the study again offers the CT only: the SEG and the picture
	// just sent are not volumes.
	u.ShowPACSFind()
	test.Tap(f.searchBtn)
	if err := waitFor(t, searched, time.Minute, "search"); err != nil {
		t.Fatal(err)
	}
	f.studyList.Select(0)
	if err := waitFor(t, listed, time.Minute, "series"); err != nil {
		t.Fatal(err)
	}
	if len(f.series) != 1 || !strings.Contains(f.status.Text, "2 series of segmentations") {
		t.Errorf("after sending: %d series offered, %q", len(f.series), f.status.Text)
	}
	if n, _ := srv.CountInstances(); n != 80 {
		t.Errorf("%d instances in the archive after sending", n)
	}
	t.Log(d.result.Text)
}

// TestPACSOpenFailureKeepsApp: a server stopped before Open gives one
// error line naming the server and the study, the app keeps what it
// showed, and the cache holds no half-written entry.
func TestPACSOpenFailureKeepsApp(t *testing.T) {
	u := newUI(t)
	p := withPACS(t, u)
	down := orthanctest.Start(t, orthanctest.Options{})
	down.Stop()
	if err := p.servers.Put("", pacs.Server{Name: "Gone", URL: down.DICOMweb}); err != nil {
		t.Fatal(err)
	}
	c, err := p.client("Gone")
	if err != nil {
		t.Fatal(err)
	}
	loaded := make(chan error, 1)
	u.load.onDone = func(err error) { loaded <- err }
	u.OpenFromPACS(c, p.cache, pacs.Series{StudyInstanceUID: "1.2.3", SeriesInstanceUID: "1.2.3.4", Description: "CT"})
	err = waitFor(t, loaded, time.Minute, "open from a stopped server")
	if err == nil || strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), `"Gone"`) || !strings.Contains(err.Error(), "1.2.3") {
		t.Fatalf("error %v", err)
	}
	if !strings.Contains(u.status.Text, "connection refused") {
		t.Errorf("status %q", u.status.Text)
	}
	if size, _ := p.cache.Size(); size != 0 {
		t.Errorf("cache holds %d bytes after a failed retrieval", size)
	}
}

// TestPACSCancelRetrieval: Cancel in the progress dialog stops a
// retrieval; the view keeps what it showed and the cache holds no
// complete-looking or half-written entry.
func TestPACSCancelRetrieval(t *testing.T) {
	chaos := shareddata.Path(t, "cases", "chaos_ct01", "dicom")
	srv := orthanctest.Start(t, orthanctest.Options{})
	srv.Upload(t, chaos)
	u := newUI(t)
	p := withPACS(t, u)
	if err := p.servers.Put("", pacs.Server{Name: "Local", URL: srv.DICOMweb, Auth: pacs.AuthBasic, User: srv.User}); err != nil {
		t.Fatal(err)
	}
	if err := p.secrets.Set("Local", srv.Password); err != nil {
		t.Fatal(err)
	}
	c, err := p.client("Local")
	if err != nil {
		t.Fatal(err)
	}
	c.PerInstance, c.Parallel = true, 1 // slow enough to cancel in the middle
	loaded := make(chan error, 1)
	u.load.onDone = func(err error) { loaded <- err }
	retrieved := make(chan error, 1)
	p.onRetrieved = func(err error) { retrieved <- err }
	u.OpenFromPACS(c, p.cache, pacs.Series{StudyInstanceUID: "1.2.124.113532.192.70.134.138.20051020.155132.4446164",
		SeriesInstanceUID: "1.2.840.113704.1.1762661655.11024.1129934350.12", Description: "CHAOS"})
	if u.load.dlg == nil {
		t.Fatal("no progress dialog")
	}
	waitUntil(t, time.Minute, "progress", func() bool { return u.load.done.Load() >= 5 })
	u.CancelLoad()
	if err := waitFor(t, loaded, time.Minute, "cancel"); err == nil {
		t.Fatal("cancel reported success")
	}
	if u.vol != nil || u.status.Text != "Opening cancelled." {
		t.Errorf("after cancel: vol %v, status %q", u.vol != nil, u.status.Text)
	}
	if err := waitFor(t, retrieved, 30*time.Second, "the cancelled retrieval to stop"); !errors.Is(err, context.Canceled) {
		t.Errorf("retrieval ended with %v, want cancelled", err)
	}
	series := filepath.Join(p.cache.Root, "1.2.124.113532.192.70.134.138.20051020.155132.4446164", "1.2.840.113704.1.1762661655.11024.1129934350.12")
	if _, err := os.Stat(filepath.Join(series, "partial")); err == nil {
		t.Error("partial/ left behind")
	}
	if _, err := os.Stat(filepath.Join(series, "manifest.json")); err == nil {
		t.Error("a cancelled retrieval is marked complete")
	}
	files, _ := os.ReadDir(filepath.Join(series, "instances"))
	if len(files) < 5 || len(files) >= 78 {
		t.Errorf("cancel did not stop the retrieval: %d instances", len(files))
	}
	for _, f := range files {
		if _, err := pacs.ReadInstance(filepath.Join(series, "instances", f.Name())); err != nil {
			t.Errorf("half-written cache entry: %v", err)
		}
	}
	t.Logf("cancelled after %d of 78 instances", len(files))
}
