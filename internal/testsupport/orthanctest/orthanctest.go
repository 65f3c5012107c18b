// Package orthanctest starts a real Orthanc DICOM archive for tests and
// demos: Debian's `orthanc` with the DICOMweb plugin (`orthanc-dicomweb`),
// on loopback only, with a throw-away configuration (its own storage folder
// and a free port, RemoteAccessAllowed false, authentication on with a test
// user) and seeds it with real DICOM files through its REST API
// (POST /instances). It is test-only: production code never imports it.
//
// The process runs in its own process group and dies with the test binary
// (Pdeathsig); Start registers its stop and the removal of its folder with
// t.Cleanup, so a failing test leaves nothing behind.
package orthanctest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/liverseg/liverseg/dicomio"
	"github.com/liverseg/liverseg/nifti"
)

// Binary and Plugin are where Debian's packages put Orthanc and its
// DICOMweb plugin.
const (
	Binary = "/usr/sbin/Orthanc"
	Plugin = "/usr/share/orthanc/plugins/libOrthancDicomWeb.so"
)

// Test credentials of the archive's one user.
const (
	User     = "liverseg-test"
	Password = "s3cret-Test-Pass!" // distinctive, so tests can grep for leaks
)

// Options changes the throw-away configuration.
type Options struct {
	// Lua is the text of a Lua script loaded at start-up (e.g. a
	// ReceivedInstanceFilter that refuses some objects).
	Lua string
	// NoAuth turns authentication off.
	NoAuth bool
}

// Server is one running Orthanc.
type Server struct {
	// URL is the REST root, http://127.0.0.1:PORT.
	URL string
	// DICOMweb is the DICOMweb root, URL + "/dicom-web".
	DICOMweb string
	// User and Password are the test user's credentials.
	User, Password string
	// Dir is the server's own temporary folder (configuration, storage, log).
	Dir string

	cfgPath string
	mu      sync.Mutex
	cmd     *exec.Cmd
	exited  chan struct{}
}

// Available reports whether the Orthanc binary and the DICOMweb plugin are
// installed, and if not why.
func Available() (bool, string) {
	if _, err := os.Stat(Binary); err != nil {
		return false, "Orthanc is not installed (" + Binary + " is absent; apt-get install orthanc orthanc-dicomweb)"
	}
	if _, err := os.Stat(Plugin); err != nil {
		return false, "the Orthanc DICOMweb plugin is not installed (" + Plugin + " is absent; apt-get install orthanc-dicomweb)"
	}
	return true, ""
}

// Start starts an Orthanc for tb, or skips tb when Orthanc is not
// installed. It is stopped and its folder removed when tb ends.
func Start(tb testing.TB, o Options) *Server {
	tb.Helper()
	if ok, why := Available(); !ok {
		tb.Skip(why + ": skipping the test against a real archive")
	}
	dir, err := os.MkdirTemp("", "liverseg-orthanc-")
	if err != nil {
		tb.Fatal(err)
	}
	s, err := StartIn(dir, o)
	tb.Cleanup(func() {
		if s != nil {
			s.Stop()
			if tb.Failed() {
				tb.Logf("orthanc log (tail):\n%s", s.LogTail(3000))
			}
		}
		os.RemoveAll(dir)
	})
	if err != nil {
		tb.Fatalf("start orthanc: %v", err)
	}
	return s
}

// StartIn starts an Orthanc whose configuration, storage and log live in
// dir (which the caller removes). It waits until the DICOMweb root answers.
// Used by Start and by `make pacs-demo`.
func StartIn(dir string, o Options) (*Server, error) {
	var last error
	// The free port is found by binding :0 and closing it; another process
	// may take it in between, so a failed start is retried on a new port.
	for try := 0; try < 3; try++ {
		s, err := startOnce(dir, o)
		if err == nil {
			return s, nil
		}
		last = err
	}
	return nil, last
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func startOnce(dir string, o Options) (*Server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	storage := filepath.Join(dir, "storage")
	if err := os.MkdirAll(storage, 0o700); err != nil {
		return nil, err
	}
	cfg := map[string]any{
		"Name":                   "LiverSegTest",
		"StorageDirectory":       storage,
		"IndexDirectory":         storage,
		"HttpPort":               port,
		"DicomServerEnabled":     false,
		"RemoteAccessAllowed":    false,
		"SslEnabled":             false,
		"HttpCompressionEnabled": false,
		"AuthenticationEnabled":  !o.NoAuth,
		"RegisteredUsers":        map[string]string{User: Password},
		"Plugins":                []string{Plugin},
		"DicomWeb":               map[string]any{"Enable": true, "Root": "/dicom-web/", "EnableWado": false, "Ssl": false},
		"HttpThreadsCount":       8,
		"StableAge":              1,
	}
	if o.Lua != "" {
		lua := filepath.Join(dir, "filter.lua")
		if err := os.WriteFile(lua, []byte(o.Lua), 0o600); err != nil {
			return nil, err
		}
		cfg["LuaScripts"] = []string{lua}
	}
	b, _ := json.MarshalIndent(cfg, "", "  ")
	cfgPath := filepath.Join(dir, "orthanc.json")
	if err := os.WriteFile(cfgPath, b, 0o600); err != nil {
		return nil, err
	}
	s := &Server{
		URL: fmt.Sprintf("http://127.0.0.1:%d", port), User: User, Password: Password,
		Dir: dir, cfgPath: cfgPath,
	}
	s.DICOMweb = s.URL + "/dicom-web"
	if err := s.launch(); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Server) launch() error {
	logf, err := os.OpenFile(filepath.Join(s.Dir, "orthanc.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	cmd := exec.Command(Binary, s.cfgPath)
	cmd.Stdout, cmd.Stderr = logf, logf
	// Its own process group, so Stop kills everything it started; and it
	// dies with the test binary even when the binary is killed.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("start %s: %w", Binary, err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); logf.Close(); close(exited) }()
	s.mu.Lock()
	s.cmd, s.exited = cmd, exited
	s.mu.Unlock()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return fmt.Errorf("orthanc exited at start-up: %s", s.LogTail(600))
		default:
		}
		req, _ := http.NewRequest("GET", s.DICOMweb+"/studies?limit=1", nil)
		req.SetBasicAuth(s.User, s.Password)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.Stop()
	return fmt.Errorf("orthanc did not answer within 30 s: %s", s.LogTail(600))
}

// Stop kills the server's process group and waits for it. It is
// idempotent; the storage stays until the folder is removed.
func (s *Server) Stop() {
	s.mu.Lock()
	cmd, exited := s.cmd, s.exited
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	<-exited
}

// Restart starts the stopped server again on the same port and storage.
func (s *Server) Restart() error {
	s.Stop()
	return s.launch()
}

// LogTail returns the last n bytes of the server's log.
func (s *Server) LogTail(n int) string {
	b, _ := os.ReadFile(filepath.Join(s.Dir, "orthanc.log"))
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// UploadFiles stores DICOM files through POST /instances and returns how
// many Orthanc accepted.
func (s *Server) UploadFiles(ctx context.Context, paths ...string) (int, error) {
	n := 0
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return n, err
		}
		req, err := http.NewRequestWithContext(ctx, "POST", s.URL+"/instances", bytes.NewReader(b))
		if err != nil {
			return n, err
		}
		req.SetBasicAuth(s.User, s.Password)
		req.Header.Set("Content-Type", "application/dicom")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return n, fmt.Errorf("upload %s: %w", p, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return n, fmt.Errorf("upload %s: HTTP %d: %s", p, resp.StatusCode, strings.TrimSpace(string(body)))
		}
		n++
	}
	return n, nil
}

// UploadDir stores every file under dir (recursively, sorted).
func (s *Server) UploadDir(ctx context.Context, dir string) (int, error) {
	var files []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	sort.Strings(files)
	if len(files) == 0 {
		return 0, errors.New("no files in " + dir)
	}
	return s.UploadFiles(ctx, files...)
}

// Upload is UploadDir for tests: it fails tb on an error.
func (s *Server) Upload(tb testing.TB, dir string) int {
	tb.Helper()
	n, err := s.UploadDir(context.Background(), dir)
	if err != nil {
		tb.Fatalf("seed orthanc with %s: %v", dir, err)
	}
	return n
}

// CountInstances asks the REST API how many instances are stored.
func (s *Server) CountInstances() (int, error) {
	req, _ := http.NewRequest("GET", s.URL+"/statistics", nil)
	req.SetBasicAuth(s.User, s.Password)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var st struct{ CountInstances int }
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return 0, err
	}
	return st.CountInstances, nil
}

// WriteNIfTIAsDICOM writes a NIfTI CT (the ircad cases exist only as
// NIfTI) as a DICOM CT series in dir, with UIDs derived from name (the
// same name gives the same UIDs) and patient name name, so it can be
// stored in the archive like any scanner's series.
func WriteNIfTIAsDICOM(nii, dir, name string) error {
	v, err := nifti.Read(nii)
	if err != nil {
		return err
	}
	return dicomio.WriteSeries(dir, v, dicomio.SeriesOptions{
		UIDSeed: "liverseg-pacs/" + name, PatientName: strings.ToUpper(name), PatientID: name,
		StudyDescription: "CT abdomen (from " + filepath.Base(nii) + ")", SeriesDescription: "CT " + name,
		ImageType: []string{"DERIVED", "SECONDARY", "AXIAL"}, StudyDate: "20200101",
	})
}
