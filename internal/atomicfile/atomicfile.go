// Package atomicfile writes a file so that readers only ever see the old
// file or the complete new one: the content goes to a temporary file in the
// same folder, which is synced and then renamed (or hard-linked) over the
// target. A failed or cancelled write leaves nothing behind. Every writer of
// user-visible files (NIfTI, DICOM SEG, comparison exports) goes through it.
package atomicfile

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// Options controls Write.
type Options struct {
	// NoOverwrite makes Write fail with an error wrapping fs.ErrExist when
	// the target exists, checked again at the moment of placing the file
	// (a hard link cannot replace a file, unlike a rename), so a file that
	// appeared meanwhile is never replaced either.
	NoOverwrite bool
}

// Write creates or replaces path with what fill writes. fill's writer is
// buffered; its error aborts the write. The file gets mode 0644 (like a file
// saved under a 022 umask: CreateTemp makes it 0600). Errors do not repeat
// path, which callers name in their own context, except the fs.PathError
// of an existing target.
func Write(path string, o Options, fill func(io.Writer) error) (err error) {
	exists := func() error { return &fs.PathError{Op: "write", Path: path, Err: fs.ErrExist} }
	if o.NoOverwrite {
		if _, err := os.Lstat(path); err == nil {
			return exists()
		}
	}
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	bw := bufio.NewWriterSize(f, 1<<20)
	if err = fill(bw); err != nil {
		return err
	}
	if err = bw.Flush(); err != nil {
		return err
	}
	if err = f.Chmod(0o644); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if o.NoOverwrite {
		lerr := os.Link(tmp, path)
		if lerr == nil {
			os.Remove(tmp)
			syncDir(dir)
			return nil
		}
		if errors.Is(lerr, fs.ErrExist) {
			err = exists()
			return err
		}
		// No hard links on this file system: check, then rename.
		if _, serr := os.Lstat(path); serr == nil {
			err = exists()
			return err
		}
	}
	if err = os.Rename(tmp, path); err != nil {
		return fmt.Errorf("move into place: %w", err)
	}
	syncDir(dir)
	return nil
}

// syncDir makes the rename durable; failure only weakens durability after a
// power cut, so it is not reported.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}
