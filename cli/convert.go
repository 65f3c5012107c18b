package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/liverseg/liverseg/dicomio"
	"github.com/liverseg/liverseg/nifti"
	"github.com/liverseg/liverseg/volume"
)

func init() {
	Register(Command{
		Name:  "convert",
		Usage: "[--force] [--series UID] PATH OUT.nii.gz   write the CT in PATH (DICOM file/folder: its largest image series, or the one --series names; or NIfTI) as NIfTI int16 HU",
		Run:   runConvert,
	})
}

func runConvert(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fset := flag.NewFlagSet("convert", flag.ContinueOnError)
	fset.SetOutput(io.Discard)
	force := fset.Bool("force", false, "replace OUT if it exists")
	series := addSeriesFlag(fset)
	pos, err := parseInterspersed(fset, args)
	if err != nil {
		return &UsageError{Msg: err.Error()}
	}
	if len(pos) != 2 {
		return &UsageError{Msg: fmt.Sprintf("expected PATH and OUT, got %d arguments", len(pos))}
	}
	in, out := pos[0], pos[1]
	if !nifti.IsNIfTI(out) {
		return &UsageError{Msg: fmt.Sprintf("%s: output name must end in .nii.gz or .nii", out)}
	}
	// Refuse before spending time on loading; the write re-checks
	// atomically in case OUT appears meanwhile.
	if err := checkOutputFile(out, in, *force); err != nil {
		return err
	}
	v, err := convertTo(ctx, in, out, *series, stderr, nifti.WriteOptions{NoOverwrite: !*force, Context: ctx})
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("%s already exists; use --force to replace it", out)
		}
		return err
	}
	lo, hi := v.Range()
	fmt.Fprintf(stdout, "wrote %s: %d × %d × %d int16 HU, spacing %.4g × %.4g × %.4g mm, orientation %s, HU %d … %d\n",
		out, v.Size[0], v.Size[1], v.Size[2], v.Spacing[0], v.Spacing[1], v.Spacing[2],
		v.NearestOrientation().Code(), lo, hi)
	if note := v.Info.AssumedNote(); note != "" {
		fmt.Fprintf(stdout, "%s\n", note)
	}
	for _, w := range v.Info.Warnings {
		fmt.Fprintf(stderr, "liverseg convert: warning: %s\n", w)
	}
	return nil
}

// convertTo writes the CT in `in` to out and returns it. A DICOM series is
// written slice by slice while it is being read (two cores: the reader
// workers and the writer overlap, and the pixels are read straight into
// the volume and written from it without another copy); a NIfTI input, or
// a series that must be resampled onto a regular grid, is read whole
// first.
func convertTo(ctx context.Context, in, out, sel string, stderr io.Writer, o nifti.WriteOptions) (*volume.Volume, error) {
	if nifti.IsNIfTI(in) {
		v, err := openInput(ctx, in, sel, "convert", stderr)
		if err != nil {
			return nil, err
		}
		return v, nifti.WriteVolume(out, v, o)
	}
	if _, err := os.Stat(in); err != nil {
		return nil, fmt.Errorf("cannot open %s: %w", in, unwrapPathError(err))
	}
	s, err := chooseSeries(ctx, in, sel, "convert", stderr)
	if err != nil {
		return nil, err
	}
	l, err := dicomio.StartLoad(ctx, s, dicomio.LoadOptions{Source: in})
	if err != nil {
		return nil, err
	}
	defer l.Cancel() // stops the reader when the write fails
	if !l.Direct() {
		v, err := l.Wait()
		if err != nil {
			return nil, err
		}
		return v, nifti.WriteVolume(out, v, o)
	}
	// A load that fails at once has already dropped its volume: its error
	// is the answer (seen in CI with a 32000×32000 file).
	v := l.Volume()
	if v == nil {
		_, err := l.Wait()
		if err == nil {
			err = fmt.Errorf("cannot read %s", in)
		}
		return nil, err
	}
	plane := v.Size[0] * v.Size[1]
	err = nifti.WriteVolumeSlices(out, v.Geometry, func(k int) ([]int16, error) {
		if err := l.WaitSlice(k); err != nil {
			return nil, err
		}
		return v.Voxels[k*plane : (k+1)*plane], nil
	}, o)
	if err != nil {
		return nil, err
	}
	return l.Wait()
}
