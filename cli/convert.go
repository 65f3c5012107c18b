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
	v, lo, hi, err := convertTo(ctx, in, out, *series, stderr, nifti.WriteOptions{NoOverwrite: !*force, Context: ctx})
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("%s already exists; use --force to replace it", out)
		}
		return err
	}
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

// convertTo writes the CT in `in` to out and returns its geometry and Info
// (v.Voxels is nil when the series was streamed) and its HU range. A DICOM
// series is streamed: the readers (every core) fill a few slice buffers
// ahead of the writer, which writes each slice as soon as it is read, and
// no volume is allocated, so the pixels are copied once from the files
// into a buffer in the processor's cache and once from there into the
// output. A NIfTI input, or a series that must be resampled onto a regular
// grid, is read whole first.
func convertTo(ctx context.Context, in, out, sel string, stderr io.Writer, o nifti.WriteOptions) (v *volume.Volume, lo, hi int16, err error) {
	whole := func(v *volume.Volume, err error) (*volume.Volume, int16, int16, error) {
		if err != nil {
			return nil, 0, 0, err
		}
		lo, hi := v.Range()
		return v, lo, hi, nifti.WriteVolume(out, v, o)
	}
	if nifti.IsNIfTI(in) {
		return whole(openInput(ctx, in, sel, "convert", stderr))
	}
	if _, err := os.Stat(in); err != nil {
		return nil, 0, 0, fmt.Errorf("cannot open %s: %w", in, unwrapPathError(err))
	}
	s, err := chooseSeries(ctx, in, sel, "convert", stderr)
	if err != nil {
		return nil, 0, 0, err
	}
	if s.NeedsResampling() {
		return whole(dicomio.Load(ctx, s, nil))
	}
	r, err := dicomio.ReadSlices(ctx, s)
	if err != nil {
		return nil, 0, 0, err
	}
	defer r.Close() // stops the readers when the write fails
	v = &volume.Volume{Geometry: s.Geometry(), Info: s.Info()}
	v.Info.Source = in
	if err := nifti.WriteVolumeSlices(out, v.Geometry, r.Slice, o); err != nil {
		return nil, 0, 0, err
	}
	lo, hi = r.Range() // worked out by the readers, slice by slice
	return v, lo, hi, nil
}
