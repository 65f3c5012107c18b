package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/liverseg/liverseg/nifti"
)

// checkOutputFile refuses, before any input is read or any network run, an
// output file that could not be written at the end: so a batch job with a
// wrong output fails in milliseconds instead of after the work. It checks
// that out is not a folder, does not exist unless force, that its folder
// exists and takes a new file, and that it is neither the input itself nor
// inside the input folder (LiverSeg never writes into a study: for a DICOM
// file, its folder is the study's; a NIfTI file is a file of its own). The
// write itself checks again atomically.
func checkOutputFile(out, in string, force bool) error {
	st, err := os.Stat(out)
	switch {
	case err == nil && st.IsDir():
		return fmt.Errorf("%s is a folder; give a file name", out)
	case err == nil && !force:
		return fmt.Errorf("%s already exists; use --force to replace it", out)
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("cannot write %s: %w", out, unwrapPathError(err))
	}
	dir := filepath.Dir(out)
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return fmt.Errorf("cannot write %s: folder %s does not exist", out, dir)
	}
	if err := refuseInsideInput(out, in); err != nil {
		return err
	}
	// The one sure test of "can a file be created here" is creating one.
	probe, err := os.CreateTemp(dir, ".liverseg-write-test-*")
	if err != nil {
		return fmt.Errorf("cannot write %s: folder %s does not accept new files: %w", out, dir, unwrapPathError(err))
	}
	probe.Close()
	os.Remove(probe.Name())
	return nil
}

// refuseInsideInput returns an error when out is the input file or lies in
// the input folder (see checkOutputFile).
func refuseInsideInput(out, in string) error {
	if in == "" {
		return nil
	}
	inAbs, err := realPath(in)
	if err != nil {
		return nil // a missing input is reported when it is opened
	}
	outAbs, err := realPath(out)
	if err != nil {
		return nil
	}
	if outAbs == inAbs {
		return fmt.Errorf("cannot write %s: it is the input %s", out, in)
	}
	st, err := os.Stat(inAbs)
	if err != nil {
		return nil
	}
	folder := inAbs
	if !st.IsDir() {
		if nifti.IsNIfTI(inAbs) {
			return nil
		}
		folder = filepath.Dir(inAbs)
	}
	if rel, err := filepath.Rel(folder, outAbs); err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return fmt.Errorf("cannot write %s: it is inside the input folder %s; LiverSeg never writes into a study's folder: choose another folder", out, folder)
	}
	return nil
}

// realPath is path made absolute with symbolic links resolved; for a file
// that does not exist yet, its folder's links are resolved.
func realPath(p string) (string, error) {
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", err
	}
	if r, err := filepath.EvalSymlinks(abs); err == nil {
		return r, nil
	}
	d, err := filepath.EvalSymlinks(filepath.Dir(abs))
	if err != nil {
		return "", err
	}
	return filepath.Join(d, filepath.Base(abs)), nil
}
