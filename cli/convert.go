package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"math"
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
	lo, hi = math.MaxInt16, math.MinInt16
	err = nifti.WriteVolumeSlices(out, v.Geometry, func(k int) ([]int16, error) {
		vox, err := r.Slice(k)
		if err != nil {
			return nil, err
		}
		// The range while the slice is in the cache, rather than in
		// another pass over the file's worth of voxels.
		l, h := sliceRange(vox)
		lo, hi = min(lo, l), max(hi, h)
		return vox, nil
	}, o)
	if err != nil {
		return nil, 0, 0, err
	}
	return v, lo, hi, nil
}

// sliceRange is the lowest and highest of vox (not empty), four lanes at a
// time: with one pair of accumulators each step waits for the previous.
func sliceRange(vox []int16) (lo, hi int16) {
	l0, l1, l2, l3 := vox[0], vox[0], vox[0], vox[0]
	h0, h1, h2, h3 := l0, l0, l0, l0
	i := 0
	for ; i+4 <= len(vox); i += 4 {
		v := vox[i : i+4 : i+4]
		l0, h0 = min(l0, v[0]), max(h0, v[0])
		l1, h1 = min(l1, v[1]), max(h1, v[1])
		l2, h2 = min(l2, v[2]), max(h2, v[2])
		l3, h3 = min(l3, v[3]), max(h3, v[3])
	}
	for ; i < len(vox); i++ {
		l0, h0 = min(l0, vox[i]), max(h0, vox[i])
	}
	return min(l0, l1, l2, l3), max(h0, h1, h2, h3)
}
