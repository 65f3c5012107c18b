package cli

import (
	"context"
	"fmt"
	"os"

	"github.com/liverseg/liverseg/dicomio"
	"github.com/liverseg/liverseg/nifti"
	"github.com/liverseg/liverseg/volume"
)

// openImage loads the CT a user named on the command line: a NIfTI file
// (.nii or .nii.gz, chosen by extension) or, for anything else, a DICOM file
// or folder, of which the largest non-localizer image series is loaded
// (dicomio.LoadPath).
//
// The catalog is nil for NIfTI input; for DICOM it lists every series found
// and every skipped file (returned with the error too when it exists, so a
// caller can explain what was there). progress may be nil; for DICOM it is
// called from worker goroutines. The volume's Info.Warnings must be shown
// to the user. Errors name the path and fit on one line.
func openImage(ctx context.Context, path string, progress func(done, total int)) (*volume.Volume, *dicomio.Catalog, error) {
	if path == "" {
		return nil, nil, fmt.Errorf("no input path given")
	}
	if _, err := os.Stat(path); err != nil {
		return nil, nil, fmt.Errorf("cannot open %s: %w", path, unwrapPathError(err))
	}
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	if nifti.IsNIfTI(path) {
		v, err := nifti.Read(path)
		return v, nil, err
	}
	return dicomio.LoadPath(ctx, path, progress)
}

// unwrapPathError drops the path from an *os.PathError so that a message
// that already names the path does not repeat it.
func unwrapPathError(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}
