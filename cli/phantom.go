package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/liverseg/liverseg/phantom"
)

func init() {
	Register(Command{
		Name:  "phantom",
		Usage: "[--seed N] --out DIR   write the synthetic demo CT (not patient data): DIR/dicom/*.dcm and the true liver mask DIR/liver.nii.gz",
		Run:   runPhantom,
	})
}

func runPhantom(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fset := flag.NewFlagSet("phantom", flag.ContinueOnError)
	fset.SetOutput(io.Discard)
	seed := fset.Uint64("seed", 1, "anatomy seed; the same seed always gives the same files")
	out := fset.String("out", "", "folder to create (must not exist or be empty)")
	pos, err := parseInterspersed(fset, args)
	if err != nil {
		return &UsageError{Msg: err.Error()}
	}
	if len(pos) > 0 {
		return &UsageError{Msg: fmt.Sprintf("unexpected argument %q", pos[0])}
	}
	if *out == "" {
		return &UsageError{Msg: "--out DIR is required"}
	}
	// Refuse a busy folder before spending seconds on generation; the
	// write checks again atomically.
	if err := phantomTargetFree(*out); err != nil {
		return err
	}
	start := time.Now()
	p := phantom.Generate(*seed)
	gen := time.Since(start)
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("interrupted: nothing written")
	}
	if err := phantom.WriteStudy(*out, p); err != nil {
		return err
	}
	v := p.CT
	fmt.Fprintf(stdout, "wrote %s: synthetic CT (seed %d), %d × %d × %d voxels of %g × %g × %g mm in %s, liver %.0f mL in %s (generated in %.1f s, written in %.1f s)\n",
		*out, *seed, v.Size[0], v.Size[1], v.Size[2], v.Spacing[0], v.Spacing[1], v.Spacing[2],
		filepath.Join(*out, phantom.DICOMDir), p.LiverVolumeML(), filepath.Join(*out, phantom.LiverMaskFile),
		gen.Seconds(), (time.Since(start) - gen).Seconds())
	return nil
}

func phantomTargetFree(dir string) error {
	st, err := os.Stat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		// Checked now rather than after seconds of generation: the
		// nearest folder that exists must take new entries.
		parent := filepath.Dir(dir)
		for {
			if _, err := os.Stat(parent); err == nil || filepath.Dir(parent) == parent {
				break
			}
			parent = filepath.Dir(parent)
		}
		probe, err := os.CreateTemp(parent, ".liverseg-write-test-*")
		if err != nil {
			return fmt.Errorf("cannot create %s: folder %s does not accept new files: %w", dir, parent, unwrapPathError(err))
		}
		probe.Close()
		os.Remove(probe.Name())
		return nil
	}
	if err != nil {
		return fmt.Errorf("cannot write %s: %w", dir, err)
	}
	if !st.IsDir() {
		return fmt.Errorf("%s is a file; give a folder name", dir)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("cannot write %s: %w", dir, err)
	}
	if len(ents) > 0 {
		return fmt.Errorf("%s exists and is not empty; choose a new folder", dir)
	}
	return nil
}
