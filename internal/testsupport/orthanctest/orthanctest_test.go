package orthanctest

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestThrowAwayArchive checks the helper's promises: loopback only with
// authentication (401 without the password, 200 with it), its own
// storage, and that Stop kills the process and the cleanup removes the
// folder.
func TestThrowAwayArchive(t *testing.T) {
	var dir string
	var pid int
	t.Run("run", func(t *testing.T) {
		s := Start(t, Options{})
		dir = s.Dir
		pid = s.cmd.Process.Pid
		cfg, err := os.ReadFile(filepath.Join(s.Dir, "orthanc.json"))
		if err != nil {
			t.Fatal(err)
		}
		var c map[string]any
		if err := json.Unmarshal(cfg, &c); err != nil {
			t.Fatal(err)
		}
		if c["RemoteAccessAllowed"] != false || c["AuthenticationEnabled"] != true || c["StorageDirectory"] != filepath.Join(s.Dir, "storage") {
			t.Errorf("configuration %v", c)
		}
		for _, tc := range []struct {
			auth bool
			want int
		}{{false, 401}, {true, 200}} {
			req, _ := http.NewRequest("GET", s.DICOMweb+"/studies", nil)
			if tc.auth {
				req.SetBasicAuth(s.User, s.Password)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Errorf("auth %v: HTTP %d, want %d", tc.auth, resp.StatusCode, tc.want)
			}
		}
		if err := s.Restart(); err != nil {
			t.Fatalf("restart: %v", err)
		}
		pid = s.cmd.Process.Pid
	})
	if err := syscall.Kill(pid, 0); err == nil {
		t.Errorf("orthanc (pid %d) still runs after the test", pid)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("%s was not removed", dir)
	}
}
