package pacs

import (
	"bufio"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"
)

// startProc starts a daemon in its own process group, killed at cleanup.
func startProc(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", cmd.Path, err)
	}
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		cmd.Wait()
	})
}

// TestDesktopKeyring runs a real Secret Service (a private D-Bus session
// bus and gnome-keyring-daemon, unlocked with a throw-away password) and
// checks that secrets go there and nowhere in the configuration folder;
// and that without a session bus DefaultSecrets falls back to the 0600
// file and says so.
func TestDesktopKeyring(t *testing.T) {
	for _, bin := range []string{"dbus-daemon", "gnome-keyring-daemon"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Skipf("%s is not installed (apt-get install dbus gnome-keyring): skipping the test against a real Secret Service", bin)
		}
	}
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(home, "config"))
	t.Setenv("XDG_DATA_HOME", filepath.Join(home, "data"))
	t.Setenv("XDG_RUNTIME_DIR", "")

	// No session bus: the file fallback, and the UI's words for it.
	t.Setenv("DBUS_SESSION_BUS_ADDRESS", "unix:path="+filepath.Join(home, "no-bus"))
	sec, err := DefaultSecrets()
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := sec.(*FileSecrets); !ok || !strings.Contains(sec.Where(), "readable only by you") {
		t.Fatalf("without a keyring: %T %q", sec, sec.Where())
	}

	bus := exec.Command("dbus-daemon", "--session", "--nofork", "--print-address=1")
	out, err := bus.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	startProc(t, bus)
	addr, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("dbus-daemon address: %v", err)
	}
	t.Setenv("DBUS_SESSION_BUS_ADDRESS", strings.TrimSpace(addr))
	gk := exec.Command("gnome-keyring-daemon", "--foreground", "--unlock", "--components=secrets")
	gk.Stdin = strings.NewReader("throw-away-keyring-password")
	startProc(t, gk)
	// Wait until it owns the Secret Service name (NameHasOwner does not
	// activate anything): a request before that would make D-Bus start a
	// second, locked keyring.
	conn, err := dbus.ConnectSessionBus()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		var has bool
		if err := conn.BusObject().Call("org.freedesktop.DBus.NameHasOwner", 0, "org.freedesktop.secrets").Store(&has); err == nil && has {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("gnome-keyring-daemon did not take the Secret Service name")
		}
	}
	var ok bool
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if ok = probeKeyring(); ok {
			break
		}
	}
	if !ok {
		t.Fatal("the Secret Service did not come up")
	}
	sec, err = DefaultSecrets()
	if err != nil {
		t.Fatal(err)
	}
	if sec.Where() != "the desktop keyring" {
		t.Fatalf("with a keyring running: %q", sec.Where())
	}
	const secret = "kr-Secret-4711"
	if err := sec.Set("Hospital PACS", secret); err != nil {
		t.Fatal(err)
	}
	if got, err := sec.Get("Hospital PACS"); err != nil || got != secret {
		t.Fatalf("Get: %q %v", got, err)
	}
	// Nothing under the configuration folder holds it.
	filepath.WalkDir(filepath.Join(home, "config"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if b, _ := os.ReadFile(p); strings.Contains(string(b), secret) {
				t.Errorf("%s holds the secret", p)
			}
		}
		return nil
	})
	if err := sec.Delete("Hospital PACS"); err != nil {
		t.Fatal(err)
	}
	if got, err := sec.Get("Hospital PACS"); err != nil || got != "" {
		t.Errorf("after Delete: %q %v", got, err)
	}
}
