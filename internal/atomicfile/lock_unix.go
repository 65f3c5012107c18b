//go:build unix

package atomicfile

import (
	"errors"
	"os"
	"syscall"
	"time"
)

// lock takes an exclusive flock on f, held until f is closed (the kernel
// releases it when the process dies, however it dies). Failure to lock
// (a file system without flock) only weakens the clean-up of leftovers.
func lock(f *os.File) {
	syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
}

// abandoned reports whether no live process holds the temporary file p
// locked: its writer was killed before it could remove it.
func abandoned(p string) bool {
	f, err := os.OpenFile(p, os.O_RDONLY, 0)
	if err != nil {
		return false
	}
	// An empty file this recent may be one a writer has just created and
	// not yet locked.
	if st, err := f.Stat(); err != nil || st.Size() == 0 && time.Since(st.ModTime()) < time.Minute {
		f.Close()
		return false
	}
	defer f.Close()
	err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	if errors.Is(err, syscall.EWOULDBLOCK) {
		return false
	}
	// Locked now (or flock unsupported, where a writer could not have
	// locked it either and the age rule decides).
	if err != nil {
		return oldEnough(p)
	}
	return true
}
