package pacs

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/liverseg/liverseg/dicomio"
	"github.com/liverseg/liverseg/dicomio/dicomseg"
	"github.com/liverseg/liverseg/internal/testsupport/orthanctest"
	"github.com/liverseg/liverseg/internal/testsupport/shareddata"
	"github.com/liverseg/liverseg/volume"
)

// chaosStudy and chaosSeries are chaos_ct01's UIDs (from its files).
const (
	chaosStudy  = "1.2.124.113532.192.70.134.138.20051020.155132.4446164"
	chaosSeries = "1.2.840.113704.1.1762661655.11024.1129934350.12"
)

// archive is one Orthanc seeded with chaos_ct01, shared by the tests of
// this file that do not stop or reconfigure it.
var archive struct {
	once sync.Once
	srv  *orthanctest.Server
	err  error
	skip string
}

func seeded(t *testing.T) *orthanctest.Server {
	t.Helper()
	chaos := shareddata.Path(t, "cases", "chaos_ct01", "dicom")
	if ok, why := orthanctest.Available(); !ok {
		t.Skip(why)
	}
	archive.once.Do(func() {
		dir, err := os.MkdirTemp("", "liverseg-orthanc-shared-")
		if err != nil {
			archive.err = err
			return
		}
		archive.srv, archive.err = orthanctest.StartIn(dir, orthanctest.Options{})
		if archive.err == nil {
			_, archive.err = archive.srv.UploadDir(context.Background(), chaos)
		}
	})
	if archive.err != nil {
		t.Fatalf("shared orthanc: %v", archive.err)
	}
	return archive.srv
}

// stopShared stops the archives shared by several tests or benchmarks.
var stopShared = func() {
	if archive.srv != nil {
		archive.srv.Stop()
		os.RemoveAll(archive.srv.Dir)
	}
}

func TestMain(m *testing.M) {
	code := m.Run()
	stopShared()
	os.Exit(code)
}

func client(t testing.TB, srv *orthanctest.Server, mutate func(*Server)) *Client {
	t.Helper()
	s := Server{Name: "test archive", URL: srv.DICOMweb, Auth: AuthBasic, User: srv.User, TimeoutSeconds: 10}
	secret := srv.Password
	if mutate != nil {
		mutate(&s)
	}
	if s.Auth == AuthNone {
		secret = ""
	}
	c, err := NewClient(s, secret)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// checkOneLine asserts what every error must be: one line, naming the
// server, and never carrying the password.
func checkOneLine(t *testing.T, err error, mustName ...string) {
	t.Helper()
	if err == nil {
		t.Fatal("expected an error")
	}
	msg := err.Error()
	if strings.ContainsAny(msg, "\r\n") {
		t.Errorf("error is not one line: %q", msg)
	}
	if strings.Contains(msg, orthanctest.Password) {
		t.Errorf("error contains the password: %q", msg)
	}
	for _, s := range append([]string{`"test archive"`}, mustName...) {
		if !strings.Contains(msg, s) {
			t.Errorf("error %q does not name %q", msg, s)
		}
	}
}

func TestFindStudiesAndSeries(t *testing.T) {
	srv := seeded(t)
	c := client(t, srv, nil)
	ctx := context.Background()
	cases := []struct {
		name string
		q    StudyQuery
		want int
	}{
		{"all CT", StudyQuery{Modality: "CT"}, 1},
		{"name prefix", StudyQuery{PatientName: "CHAOS"}, 1},
		{"name wildcard", StudyQuery{PatientName: "*CT_SET*", Modality: "CT"}, 1},
		{"other name", StudyQuery{PatientName: "DOE"}, 0},
		{"other modality", StudyQuery{Modality: "MR"}, 0},
		{"accession absent", StudyQuery{Accession: "NOPE123"}, 0},
		{"date range excludes", StudyQuery{DateFrom: "20200101", DateTo: "20201231"}, 0},
		{"second page", StudyQuery{Limit: 1, Offset: 1}, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st, err := c.FindStudies(ctx, tc.q)
			if err != nil {
				t.Fatal(err)
			}
			if len(st) != tc.want {
				t.Fatalf("got %d studies, want %d: %+v", len(st), tc.want, st)
			}
			if tc.want == 1 && (st[0].StudyInstanceUID != chaosStudy || st[0].PatientName != "CHAOS^CT_SET_3" || st[0].NumInstances != 78) {
				t.Errorf("study %+v", st[0])
			}
		})
	}
	series, err := c.FindSeries(ctx, chaosStudy, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(series) != 1 {
		t.Fatalf("%d series", len(series))
	}
	s := series[0]
	if s.SeriesInstanceUID != chaosSeries || s.NumInstances != 78 || s.Modality != "CT" || s.SliceThickness <= 0 || s.Rows != 512 || s.IsLocalizer {
		t.Errorf("series %+v", s)
	}
	if err := c.Echo(ctx); err != nil {
		t.Errorf("echo: %v", err)
	}
}

// loadFolder loads the original files, to compare a retrieval with.
func loadFolder(t *testing.T, dir string) *volume.Volume {
	t.Helper()
	v, _, err := dicomio.LoadPath(context.Background(), dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestRetrieveMatchesFolderAndCaches(t *testing.T) {
	srv := seeded(t)
	c := client(t, srv, nil)
	cache := &Cache{Root: t.TempDir()}
	var last Progress
	var calls int
	v, dir, err := c.Open(context.Background(), cache, chaosStudy, chaosSeries, func(p Progress) {
		if p.Done < last.Done || p.Bytes < last.Bytes {
			t.Errorf("progress went back: %+v after %+v", p, last)
		}
		last = p
		calls++
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if last.Done != 78 || last.Total != 78 || last.Bytes < 78*512*512*2 || last.Cached {
		t.Errorf("final progress %+v", last)
	}
	want := loadFolder(t, shareddata.Path(t, "cases", "chaos_ct01", "dicom"))
	if v.Size != want.Size || !slices.Equal(v.Voxels, want.Voxels) || v.Spacing != want.Spacing {
		t.Fatalf("retrieved volume differs from the folder's: %v vs %v", v.Size, want.Size)
	}
	if v.Info.StudyInstanceUID != chaosStudy || len(v.Info.SOPInstanceUIDs) != 78 {
		t.Errorf("info %+v", v.Info.StudyInstanceUID)
	}
	if n, _ := os.ReadDir(dir); len(n) != 78 {
		t.Errorf("%d files in the cache, want 78", len(n))
	}
	// Opening again needs no network: a client pointing nowhere opens it.
	off, err := NewClient(Server{Name: "test archive", URL: "http://127.0.0.1:1/dicom-web"}, "")
	if err != nil {
		t.Fatal(err)
	}
	var cached Progress
	v2, _, err := off.Open(context.Background(), cache, chaosStudy, chaosSeries, func(p Progress) { cached = p }, nil)
	if err != nil {
		t.Fatalf("cached series did not open without the network: %v", err)
	}
	if !cached.Cached || !slices.Equal(v2.Voxels, want.Voxels) {
		t.Errorf("cached open: %+v", cached)
	}
	size, _ := cache.Size()
	if size < 78*512*512*2 {
		t.Errorf("cache size %d", size)
	}
	if err := cache.Clear(); err != nil {
		t.Fatal(err)
	}
	if _, _, ok := cache.Lookup(chaosStudy, chaosSeries); ok {
		t.Error("series still cached after Clear")
	}
	if size, _ := cache.Size(); size != 0 {
		t.Errorf("cache size after clear %d", size)
	}
}

// noHalfWritten asserts the cache invariant after a failed retrieval: no
// manifest, no partial folder, and every file in instances/ a whole DICOM
// file that the loader reads.
func noHalfWritten(t *testing.T, cache *Cache, study, series string) int {
	t.Helper()
	sd := cache.seriesDir(study, series)
	if _, err := os.Stat(filepath.Join(sd, manifestName)); err == nil {
		t.Error("a failed retrieval wrote the manifest")
	}
	if _, err := os.Stat(filepath.Join(sd, "partial")); err == nil {
		t.Error("partial/ was left behind")
	}
	files, _ := os.ReadDir(filepath.Join(sd, "instances"))
	for _, f := range files {
		p := filepath.Join(sd, "instances", f.Name())
		if _, err := ReadInstance(p); err != nil {
			t.Errorf("half-written cache entry %s: %v", f.Name(), err)
		}
		b, _ := os.ReadFile(p)
		if len(b) < 500000 {
			t.Errorf("cache entry %s is only %d bytes", f.Name(), len(b))
		}
	}
	return len(files)
}

// faultProxy sits between the client and the real Orthanc and damages the
// instance retrievals (WADO-RS) as told; other requests pass unchanged.
type faultProxy struct {
	target *url.URL
	mode   string // "", "truncate", "malformed", "stall", "text"
	served atomic.Int64
}

func newFaultProxy(t *testing.T, srv *orthanctest.Server, mode string) (*faultProxy, string) {
	u, _ := url.Parse(srv.URL)
	p := &faultProxy{target: u, mode: mode}
	ts := httptest.NewServer(p)
	t.Cleanup(ts.Close)
	return p, ts.URL + "/dicom-web"
}

func (p *faultProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	out := r.Clone(r.Context())
	out.URL.Scheme, out.URL.Host, out.RequestURI, out.Host = p.target.Scheme, p.target.Host, "", p.target.Host
	// Retrievals: .../instances/SOP (per instance) or .../series/UID (the
	// whole series); a series retrieval is damaged at once, instance
	// retrievals from the third on.
	seg := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	isInstance := len(seg) >= 2 && (seg[len(seg)-2] == "instances" || seg[len(seg)-2] == "series")
	first := 1
	if seg[len(seg)-2] == "instances" {
		first = 3
	}
	if isInstance && p.mode == "stall" {
		select {
		case <-r.Context().Done():
		case <-time.After(20 * time.Second):
		}
		return
	}
	resp, err := http.DefaultTransport.RoundTrip(out)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for k, vs := range resp.Header {
		if k != "Content-Length" {
			w.Header()[k] = vs
		}
	}
	if isInstance {
		switch n := p.served.Add(1); {
		case p.mode == "truncate" && n >= int64(first):
			// The real answer, cut in the middle of the pixel data; the
			// connection is then dropped.
			w.WriteHeader(resp.StatusCode)
			w.Write(body[:len(body)/2])
			w.(http.Flusher).Flush()
			panic(http.ErrAbortHandler)
		case p.mode == "cutboundary" && n >= int64(first):
			// Everything but the closing boundary.
			w.WriteHeader(resp.StatusCode)
			i := bytes.LastIndex(body, []byte("\r\n--"))
			w.Write(body[:i])
			w.(http.Flusher).Flush()
			panic(http.ErrAbortHandler)
		case p.mode == "stallbody" && n >= int64(first):
			// Half the answer, then silence with the connection open.
			w.WriteHeader(resp.StatusCode)
			w.Write(body[:len(body)/2])
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
			case <-time.After(20 * time.Second):
			}
			return
		case p.mode == "malformed" && n >= int64(first):
			w.WriteHeader(resp.StatusCode)
			w.Write(bytes.ReplaceAll(body, []byte("--"), []byte("~~")))
			return
		case p.mode == "text":
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(200)
			w.Write([]byte("<html>login page</html>"))
			return
		}
	}
	w.WriteHeader(resp.StatusCode)
	w.Write(body)
}

func TestRetrieveFailures(t *testing.T) {
	srv := seeded(t)
	cases := []struct {
		mode string
		kind error
	}{
		{"truncate", ErrMalformed},
		{"cutboundary", ErrMalformed},
		{"malformed", ErrMalformed},
		{"text", ErrMalformed},
		{"stall", ErrTimeout},
		{"stallbody", ErrTimeout},
	}
	for _, tc := range cases {
		for _, perInstance := range []bool{false, true} {
			name := tc.mode + "/series"
			if perInstance {
				name = tc.mode + "/instances"
			}
			t.Run(name, func(t *testing.T) {
				_, base := newFaultProxy(t, srv, tc.mode)
				c := client(t, srv, func(s *Server) {
					s.URL = base
					if strings.HasPrefix(tc.mode, "stall") {
						s.TimeoutSeconds = 1
					}
				})
				c.Parallel = 2
				c.PerInstance = perInstance
				cache := &Cache{Root: t.TempDir()}
				_, err := c.Retrieve(context.Background(), cache, chaosStudy, chaosSeries, nil)
				checkOneLine(t, err, chaosStudy, chaosSeries)
				if !errors.Is(err, tc.kind) {
					t.Errorf("error %q is not %v", err, tc.kind)
				}
				t.Logf("%s: %v", tc.mode, err)
				noHalfWritten(t, cache, chaosStudy, chaosSeries)
				// The same cache then completes through the real server.
				good := client(t, srv, nil)
				dir, err := good.Retrieve(context.Background(), cache, chaosStudy, chaosSeries, nil)
				if err != nil {
					t.Fatalf("resume: %v", err)
				}
				if f, _ := os.ReadDir(dir); len(f) != 78 {
					t.Errorf("%d files after resuming", len(f))
				}
			})
		}
	}
}

func TestRequestFailures(t *testing.T) {
	srv := seeded(t)
	down := orthanctest.Start(t, orthanctest.Options{})
	down.Stop()
	cases := []struct {
		name     string
		mutate   func(*Server)
		password string
		kind     error
	}{
		{"wrong password", func(s *Server) {}, "wrong-" + srv.Password, ErrUnauthorized},
		{"no credentials", func(s *Server) { s.Auth = AuthNone }, "", ErrUnauthorized},
		{"wrong URL", func(s *Server) { s.URL = srv.URL + "/not-dicom-web" }, srv.Password, ErrNotFound},
		{"server down", func(s *Server) { s.URL = down.DICOMweb }, srv.Password, ErrUnreachable},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := Server{Name: "test archive", URL: srv.DICOMweb, Auth: AuthBasic, User: srv.User, TimeoutSeconds: 5}
			tc.mutate(&s)
			secret := tc.password
			c, err := NewClient(s, secret)
			if err != nil {
				t.Fatal(err)
			}
			cache := &Cache{Root: t.TempDir()}
			for _, call := range []func() error{
				func() error { _, err := c.FindStudies(context.Background(), StudyQuery{Modality: "CT"}); return err },
				func() error {
					_, err := c.Retrieve(context.Background(), cache, chaosStudy, chaosSeries, nil)
					return err
				},
				func() error { _, err := c.FindSeries(context.Background(), chaosStudy, ""); return err },
			} {
				err := call()
				checkOneLine(t, err)
				if !errors.Is(err, tc.kind) {
					t.Errorf("%q is not %v", err, tc.kind)
				}
				if strings.Contains(err.Error(), secret) && secret != "" {
					t.Errorf("error carries the secret: %q", err)
				}
			}
			noHalfWritten(t, cache, chaosStudy, chaosSeries)
		})
	}
}

// TestServerStoppedMidRetrieval stops the real Orthanc after some
// instances, then starts it again: the retrieval fails with one line,
// leaves only whole instances, and a second retrieval fetches only the
// rest.
func TestServerStoppedMidRetrieval(t *testing.T) {
	chaos := shareddata.Path(t, "cases", "chaos_ct01", "dicom")
	srv := orthanctest.Start(t, orthanctest.Options{})
	srv.Upload(t, chaos)
	c := client(t, srv, nil)
	cache := &Cache{Root: t.TempDir()}
	var once sync.Once
	_, err := c.Retrieve(context.Background(), cache, chaosStudy, chaosSeries, func(p Progress) {
		if p.Done >= 20 {
			once.Do(srv.Stop)
		}
	})
	checkOneLine(t, err, chaosStudy, chaosSeries)
	if !errors.Is(err, ErrUnreachable) && !errors.Is(err, ErrMalformed) {
		t.Errorf("%q: neither unreachable nor cut", err)
	}
	t.Logf("stopped: %v", err)
	have := noHalfWritten(t, cache, chaosStudy, chaosSeries)
	if have < 20 || have >= 78 {
		t.Errorf("%d instances kept", have)
	}
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	var first Progress
	seen := false
	dir, err := c.Retrieve(context.Background(), cache, chaosStudy, chaosSeries, func(p Progress) {
		if !seen {
			first, seen = p, true
		}
	})
	if err != nil {
		t.Fatalf("resume: %v", err)
	}
	if first.Done != have {
		t.Errorf("resumed at %d, want %d (the instances already cached)", first.Done, have)
	}
	if f, _ := os.ReadDir(dir); len(f) != 78 {
		t.Errorf("%d files", len(f))
	}
}

func TestCancelRetrieval(t *testing.T) {
	srv := seeded(t)
	c := client(t, srv, nil)
	cache := &Cache{Root: t.TempDir()}
	ctx, cancel := context.WithCancel(context.Background())
	_, err := c.Retrieve(ctx, cache, chaosStudy, chaosSeries, func(p Progress) {
		if p.Done >= 5 {
			cancel()
		}
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want cancelled", err)
	}
	if n := noHalfWritten(t, cache, chaosStudy, chaosSeries); n >= 78 {
		t.Errorf("cancel did not stop the retrieval (%d instances)", n)
	}
}

// TestNotAnImage stores a structured report in the archive: it is
// retrieved whole, and opening it says, in one line naming the server,
// study and series, that it holds no image.
func TestNotAnImage(t *testing.T) {
	sr := shareddata.Path(t, "dicom", "pydicom-testfiles", "reportsi.dcm")
	srv := orthanctest.Start(t, orthanctest.Options{})
	if _, err := srv.UploadFiles(context.Background(), sr); err != nil {
		t.Fatal(err)
	}
	in, err := ReadInstance(sr)
	if err != nil {
		t.Fatal(err)
	}
	c := client(t, srv, nil)
	cache := &Cache{Root: t.TempDir()}
	_, _, err = c.Open(context.Background(), cache, in.StudyInstanceUID, in.SeriesInstanceUID, nil, nil)
	checkOneLine(t, err, in.StudyInstanceUID, in.SeriesInstanceUID, "no image")
	t.Log(err)
}

// segFor writes a DICOM SEG of a box-shaped mask on v.
func segFor(t *testing.T, v *volume.Volume) string {
	t.Helper()
	m := volume.NewMask(v.Geometry)
	for k := 30; k < 40; k++ {
		for j := 200; j < 300; j++ {
			for i := 100; i < 250; i++ {
				m.Voxels[v.Offset(i, j, k)] = 1
			}
		}
	}
	p := filepath.Join(t.TempDir(), "liver_seg.dcm")
	if err := dicomseg.WriteSEG(p, v, m, dicomseg.SEGOptions{}); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestStoreSEG(t *testing.T) {
	chaos := shareddata.Path(t, "cases", "chaos_ct01", "dicom")
	v := loadFolder(t, chaos)
	seg := segFor(t, v)
	in, err := ReadInstance(seg)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("accepted", func(t *testing.T) {
		srv := seeded(t)
		c := client(t, srv, nil)
		res, err := c.Store(context.Background(), chaosStudy, seg)
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Stored) != 1 || len(res.Failed) != 0 || res.Stored[0].SOPInstanceUID != in.SOPInstanceUID {
			t.Fatalf("answer %+v", res)
		}
		series, err := c.FindSeries(context.Background(), chaosStudy, "SEG")
		if err != nil || len(series) != 1 || series[0].SeriesInstanceUID != in.SeriesInstanceUID {
			t.Fatalf("the SEG is not in the study: %v %+v", err, series)
		}
	})
	t.Run("other study refused before sending", func(t *testing.T) {
		srv := seeded(t)
		c := client(t, srv, nil)
		_, err := c.Store(context.Background(), "1.2.3.4", seg)
		checkOneLine(t, err, "1.2.3.4")
	})
	refusals := []struct{ name, lua, want string }{
		{"filter error", `function ReceivedInstanceFilter(dicom, origin, info)
  if dicom.Modality == 'SEG' then error('no segmentations here') end
  return true
end`, "did not acknowledge"},
		{"filter drops", `function ReceivedInstanceFilter(dicom, origin, info)
  return dicom.Modality ~= 'SEG'
end`, "does not list it"},
	}
	for _, tc := range refusals {
		t.Run("archive refuses: "+tc.name, func(t *testing.T) {
			srv := orthanctest.Start(t, orthanctest.Options{Lua: tc.lua})
			srv.Upload(t, chaos)
			c := client(t, srv, nil)
			res, err := c.Store(context.Background(), chaosStudy, seg)
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Stored) != 0 || len(res.Failed) != 1 || !strings.Contains(res.Failed[0].Reason, tc.want) {
				t.Fatalf("answer %+v", res)
			}
			if n, _ := srv.CountInstances(); n != 78 {
				t.Errorf("%d instances in the archive", n)
			}
			t.Log(res.Summary())
		})
	}
}

// TestConfigErrors checks what needs no server: configuration
// errors are one line and never echo a secret.
func TestConfigErrors(t *testing.T) {
	cases := []struct {
		s    Server
		want string
	}{
		{Server{Name: "a", URL: "ftp://x"}, "http"},
		{Server{Name: "a", URL: "https://user:hunter2@pacs/dicom-web"}, "keyring"},
		{Server{Name: "a", URL: "https://pacs/dicom-web", Auth: AuthBasic}, "user"},
		{Server{Name: "a", URL: "https://pacs/dicom-web", Auth: "kerberos"}, "unknown"},
		{Server{Name: "a", URL: "https://pacs/dicom-web", CAFile: "/nonexistent/ca.pem"}, "CA file"},
	}
	for _, tc := range cases {
		_, err := NewClient(tc.s, "hunter2")
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), "\n") {
			t.Errorf("%+v: %v", tc.s, err)
		}
	}
	if _, err := NewClient(Server{Name: "a", URL: "https://pacs/x", Auth: AuthBearer}, ""); err == nil || !strings.Contains(err.Error(), "token") {
		t.Errorf("missing token: %v", err)
	}
}

// TestTLSVerified: a TLS server with a self-signed certificate is refused
// (with a reason naming the certificate), and accepted once its CA file is
// configured.
func TestTLSVerified(t *testing.T) {
	ts := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer tok-123456" {
			w.WriteHeader(401)
			return
		}
		w.Header().Set("Content-Type", "application/dicom+json")
		w.Write([]byte("[]"))
	}))
	defer ts.Close()
	c, err := NewClient(Server{Name: "tls", URL: ts.URL + "/dicom-web", Auth: AuthBearer}, "tok-123456")
	if err != nil {
		t.Fatal(err)
	}
	err = c.Echo(context.Background())
	if err == nil || !strings.Contains(err.Error(), "certificate") || strings.Contains(err.Error(), "tok-123456") {
		t.Fatalf("self-signed certificate: %v", err)
	}
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pemCert(ts), 0o600); err != nil {
		t.Fatal(err)
	}
	c2, err := NewClient(Server{Name: "tls", URL: ts.URL + "/dicom-web", Auth: AuthBearer, CAFile: ca}, "tok-123456")
	if err != nil {
		t.Fatal(err)
	}
	if err := c2.Echo(context.Background()); err != nil {
		t.Fatalf("with the CA file: %v", err)
	}
	c3, _ := NewClient(Server{Name: "tls", URL: ts.URL + "/dicom-web", Auth: AuthBearer, CAFile: ca}, "wrong-token")
	if err := c3.Echo(context.Background()); !errors.Is(err, ErrUnauthorized) || strings.Contains(err.Error(), "wrong-token") {
		t.Fatalf("wrong token: %v", err)
	}
}

// TestCompressedTransferSyntaxes stores the same MR image in JPEG 2000,
// JPEG-LS and RLE; each retrieval keeps the archive's transfer syntax
// (transfer-syntax=*: no transcoding) and loads to the same pixels as the
// local file does. (The three files share their UIDs: one archive each.)
func TestCompressedTransferSyntaxes(t *testing.T) {
	for _, name := range []string{"MR_small_jp2klossless.dcm", "MR_small_jpeg_ls_lossless.dcm", "MR_small_RLE.dcm"} {
		t.Run(name, func(t *testing.T) {
			f := shareddata.Path(t, "dicom", "pydicom-testfiles", name)
			srv := orthanctest.Start(t, orthanctest.Options{})
			c := client(t, srv, nil)
			if _, err := srv.UploadFiles(context.Background(), f); err != nil {
				t.Fatal(err)
			}
			in, err := ReadInstance(f)
			if err != nil {
				t.Fatal(err)
			}
			cache := &Cache{Root: t.TempDir()}
			v, dir, err := c.Open(context.Background(), cache, in.StudyInstanceUID, in.SeriesInstanceUID, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(filepath.Join(dir, in.SOPInstanceUID+".dcm"))
			if err != nil {
				t.Fatal(err)
			}
			orig, _ := os.ReadFile(f)
			if !bytes.Contains(got[:1024], tsOf(t, orig)) {
				t.Errorf("the retrieved file's transfer syntax differs from the stored one (%s)", tsOf(t, orig))
			}
			want := loadFolder(t, f)
			if !slices.Equal(v.Voxels, want.Voxels) {
				t.Error("the retrieved image's pixels differ from the local file's")
			}
		})
	}
}

// tsOf returns the transfer syntax UID in a file's meta header.
func tsOf(t *testing.T, b []byte) []byte {
	i := bytes.Index(b[:2048], []byte{0x02, 0x00, 0x10, 0x00})
	if i < 0 {
		t.Fatal("no transfer syntax in the meta header")
	}
	n := int(b[i+6]) | int(b[i+7])<<8
	return bytes.TrimRight(b[i+8:i+8+n], "\x00 ")
}

// The browser's thumbnail: the archive renders the middle image, scaled to
// fit; it shows a body on air. An unknown series is an error naming it.
func TestThumbnail(t *testing.T) {
	srv := seeded(t)
	c := client(t, srv, nil)
	img, err := c.Thumbnail(context.Background(), chaosStudy, chaosSeries, 96)
	if err != nil {
		t.Fatal(err)
	}
	b := img.Bounds()
	if b.Dx() > 96 || b.Dy() > 96 || max(b.Dx(), b.Dy()) < 48 {
		t.Fatalf("thumbnail %v, want it to fit 96 px", b.Size())
	}
	grey := func(x, y int) float64 {
		r, g, bb, _ := img.At(b.Min.X+x, b.Min.Y+y).RGBA()
		return float64(r+g+bb) / 3 / 257
	}
	centre, corner := 0.0, 0.0
	for d := 0; d < 8; d++ {
		centre += grey(b.Dx()/2-4+d, b.Dy()/2)
		corner += grey(d, d)
	}
	if !(centre > corner+8*40) {
		t.Errorf("centre %.0f, corner %.0f (sums of 8): no body on air", centre, corner)
	}
	_, err = c.Thumbnail(context.Background(), chaosStudy, "1.2.3.4.5.6.7", 96)
	checkOneLine(t, err, "1.2.3.4.5.6.7")
}
