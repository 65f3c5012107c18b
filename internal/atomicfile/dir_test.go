package atomicfile

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// entries lists dir's names.
func entries(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

func TestTempDir(t *testing.T) {
	parent := t.TempDir()
	target := filepath.Join(parent, "series")

	// Filled and moved into place: the files, not the lock, and no leftover.
	td, err := NewTempDir(target)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(td.Path, "IM-0001.dcm"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := td.Rename(target); err != nil {
		t.Fatal(err)
	}
	td.Close()
	if got := strings.Join(entries(t, target), ","); got != "IM-0001.dcm" {
		t.Errorf("target holds %q, want the one file", got)
	}
	if got := strings.Join(entries(t, parent), ","); got != "series" {
		t.Errorf("parent holds %q, want the target alone", got)
	}

	// Closed without Rename: nothing left.
	other := filepath.Join(parent, "other")
	td, err = NewTempDir(other)
	if err != nil {
		t.Fatal(err)
	}
	td.Close()
	if got := strings.Join(entries(t, parent), ","); got != "series" {
		t.Errorf("after a failed write the parent holds %q", got)
	}

	// A live writer's folder is never touched; RemovePending removes it.
	live, err := NewTempDir(other)
	if err != nil {
		t.Fatal(err)
	}
	if removed := RemoveStaleDirs(other); len(removed) != 0 {
		t.Errorf("removed a live writer's folder: %q", removed)
	}
	RemovePending()
	if _, err := os.Stat(live.Path); !os.IsNotExist(err) {
		t.Errorf("RemovePending left %s (%v)", live.Path, err)
	}
	live.Close()

	// A folder without a lock file (its writer died before making it):
	// kept while recent, removed once a day old.
	bare := filepath.Join(parent, tempPrefix("other")+"123")
	if err := os.Mkdir(bare, 0o755); err != nil {
		t.Fatal(err)
	}
	if removed := RemoveStaleDirs(other); len(removed) != 0 {
		t.Errorf("removed a recent folder: %q", removed)
	}
	old := time.Now().Add(-2 * staleAge)
	os.Chtimes(bare, old, old)
	if removed := RemoveStaleDirs(other); len(removed) != 1 {
		t.Errorf("a day-old folder without a lock was not removed: %q", removed)
	}
}

// TestTempDirAfterSIGKILL kills a process while it holds a TempDir: the
// folder stays (nothing can remove it), and the next write of the same
// target removes it.
func TestTempDirAfterSIGKILL(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("SIGKILL and flock: Linux")
	}
	if target := os.Getenv("ATOMICFILE_TEST_HOLD"); target != "" {
		td, err := NewTempDir(target)
		if err != nil {
			os.Exit(3)
		}
		os.Stdout.WriteString(td.Path + "\n")
		time.Sleep(time.Hour) // until killed
		return
	}
	parent := t.TempDir()
	target := filepath.Join(parent, "study")
	cmd := exec.Command(os.Args[0], "-test.run=^TestTempDirAfterSIGKILL$")
	cmd.Env = append(os.Environ(), "ATOMICFILE_TEST_HOLD="+target)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	held, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		cmd.Process.Kill()
		t.Fatalf("the writer did not start: %v", err)
	}
	held = strings.TrimSpace(held)
	if removed := RemoveStaleDirs(target); len(removed) != 0 {
		t.Errorf("removed the folder of a live process: %q", removed)
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	if _, err := os.Stat(held); err != nil {
		t.Fatalf("after SIGKILL the folder should still be there: %v", err)
	}
	td, err := NewTempDir(target) // the next write of the same target
	if err != nil {
		t.Fatal(err)
	}
	defer td.Close()
	if _, err := os.Stat(held); !os.IsNotExist(err) {
		t.Errorf("the killed writer's folder %s was not removed by the next write (%v)", held, err)
	}
}
