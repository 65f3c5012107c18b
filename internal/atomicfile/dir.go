package atomicfile

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// dirLock is the name of the lock file inside a temporary folder.
const dirLock = ".liverseg-writing"

// TempDir is a folder being filled for a target folder, to be moved into
// place whole (a DICOM series, the demo study): ".TARGET.tmp-NNN" beside
// the target, with a lock file inside that its writer holds (flock) until
// Close, so that a writer killed before it could remove the folder leaves
// something the next write of the same target can tell from a live
// writer's and removes (RemoveStaleDirs). Until Close, RemovePending
// removes it too.
type TempDir struct {
	Path string
	lock *os.File
}

// NewTempDir creates the temporary folder for target (whose parent must
// exist), removing first the abandoned ones of earlier writes of target.
func NewTempDir(target string) (*TempDir, error) {
	RemoveStaleDirs(target)
	tmp, err := os.MkdirTemp(filepath.Dir(target), tempPrefix(filepath.Base(target)))
	if err != nil {
		return nil, err
	}
	f, err := os.Create(filepath.Join(tmp, dirLock))
	if err != nil {
		os.RemoveAll(tmp)
		return nil, err
	}
	lock(f)
	// Written after locking: an empty lock file is one whose writer may not
	// have locked it yet (abandoned leaves those alone for a minute).
	fmt.Fprintf(f, "%d\n", os.Getpid())
	pending.Lock()
	pending.m[tmp] = struct{}{}
	pending.Unlock()
	return &TempDir{Path: tmp, lock: f}, nil
}

// Rename moves the folder, without its lock file, to target (which must
// not exist, or be an empty folder on platforms where rename replaces
// one). The lock is held until the folder has its final name.
func (d *TempDir) Rename(target string) error {
	if err := os.Remove(filepath.Join(d.Path, dirLock)); err != nil {
		return fmt.Errorf("remove the lock file: %w", err)
	}
	if err := os.Rename(d.Path, target); err != nil {
		return err
	}
	d.forget()
	d.Path = ""
	return nil
}

// Close removes the folder unless Rename moved it, and releases the lock.
func (d *TempDir) Close() {
	if d.Path != "" {
		os.RemoveAll(d.Path)
		d.forget()
	}
	d.lock.Close()
}

func (d *TempDir) forget() {
	pending.Lock()
	delete(pending.m, d.Path)
	pending.Unlock()
}

// RemoveStaleDirs removes the temporary folders left beside target by
// writers that are gone (their lock file is free, or was never made and
// the folder is a day old), and returns their names.
func RemoveStaleDirs(target string) []string {
	parent, prefix := filepath.Dir(target), tempPrefix(filepath.Base(target))
	ents, err := os.ReadDir(parent)
	if err != nil {
		return nil
	}
	var removed []string
	for _, e := range ents {
		if !e.IsDir() || !strings.HasPrefix(e.Name(), prefix) {
			continue
		}
		p := filepath.Join(parent, e.Name())
		lk := filepath.Join(p, dirLock)
		gone := false
		if _, err := os.Stat(lk); err == nil {
			gone = abandoned(lk) // an empty lock file under a minute old counts as live
		} else {
			gone = oldEnough(p)
		}
		if gone && os.RemoveAll(p) == nil {
			removed = append(removed, p)
		}
	}
	return removed
}
