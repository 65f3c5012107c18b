// Package refmask reads a reference mask of a CT — a ground-truth liver, a
// lesion — from any of the forms LiverSeg accepts and puts it on the CT's
// grid: a NIfTI mask, a DICOM series of label images (a file of it or its
// folder) or a DICOM Segmentation (SEG) object. The application (reference
// overlay, lesion of a plan) and the command line (eval --ref, mesh and
// plan --mask and --lesion) read references through it, so the same file
// gives the same mask, and the same Dice, everywhere.
package refmask

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/liverseg/liverseg/dicomio"
	"github.com/liverseg/liverseg/dicomio/dicomseg"
	"github.com/liverseg/liverseg/nifti"
	"github.com/liverseg/liverseg/volume"
)

// Reference is a reference mask on the CT's grid and what was done to put
// it there.
type Reference struct {
	// Mask is 0/1 (any non-zero voxel of the file, or of the chosen SEG
	// segment, is 1) on the grid given to Read.
	Mask *volume.Mask
	// Resampled is true when the file's voxel centres are not the CT's and
	// labels were taken from the nearest voxel.
	Resampled bool
	// Segment is the SEG segment number shown, 0 when all segments are
	// (or the file is not a SEG).
	Segment int
	// Notes are sentences for the user saying what was done (resampled,
	// which segment, another series of the same frame); empty when the
	// file was simply read voxel for voxel.
	Notes []string
}

// Note is Notes as one text, one sentence a line.
func (r *Reference) Note() string { return strings.Join(r.Notes, "\n") }

// Error is a reference that could not be read or placed on the CT. Its
// text names the file.
type Error struct {
	Path string
	Err  error
}

func (e *Error) Error() string { return "mask " + e.Path + ": " + e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// Read reads the reference mask at path, made on CT ct, and puts it on grid
// (ct's own grid, or a reordering of it such as its canonical grid).
//
// A mask on the same voxels (in any index order) is copied voxel for voxel;
// one on another grid of the same patient space is resampled, nearest
// neighbour, with a note; one that does not overlap the CT, or a DICOM
// object of another frame of reference, is refused with the reason. Of a
// SEG with several segments, the one labelled liver is taken if there is
// one, else all. Errors are *Error.
func Read(ctx context.Context, path string, ct *volume.Volume, grid volume.Geometry) (*Reference, error) {
	r, err := read(ctx, path, ct, grid)
	if err != nil {
		return nil, &Error{Path: path, Err: err}
	}
	return r, nil
}

func read(ctx context.Context, path string, ct *volume.Volume, grid volume.Geometry) (*Reference, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !st.IsDir() && dicomseg.IsSEG(path) {
		return readSEG(path, ct, grid)
	}
	if !st.IsDir() && nifti.IsNIfTI(path) {
		m, err := nifti.ReadMask(path)
		if err != nil {
			return nil, err
		}
		return place(m, grid, nil)
	}
	v, err := loadSeries(ctx, path, st.IsDir())
	if err != nil {
		return nil, err
	}
	if f, cf := v.Info.FrameOfReference, ct.Info.FrameOfReference; f != "" && cf != "" && f != cf {
		return nil, fmt.Errorf("its frame of reference %s is not the CT's %s: it belongs to another acquisition", f, cf)
	}
	m, err := FromSeries(v)
	if err != nil {
		return nil, err
	}
	return place(m, grid, nil)
}

// loadSeries loads a DICOM series: the largest one of a folder, or the one
// the file given belongs to (a folder may hold a CT and its masks side by
// side).
func loadSeries(ctx context.Context, path string, isDir bool) (*volume.Volume, error) {
	if isDir {
		v, _, err := dicomio.LoadPath(ctx, path, nil)
		return v, err
	}
	cat, err := dicomio.Scan(ctx, []string{filepath.Dir(path)}, nil)
	if err != nil {
		return nil, err
	}
	path = filepath.Clean(path)
	for _, s := range cat.Series {
		if slices.Contains(s.Files, path) {
			return dicomio.Load(ctx, s, nil)
		}
	}
	why := "it is not an image of a DICOM series"
	for _, sk := range cat.Skipped {
		if filepath.Clean(sk.Path) == path {
			why += " (" + sk.Reason + ")"
		}
	}
	return nil, errors.New("not a NIfTI file (.nii, .nii.gz) or a DICOM SEG, and " + why)
}

// FromSeries turns a DICOM series of label images into a mask. A series
// that looks like an image rather than labels (negative values, or many
// distinct values) is refused: taking a CT for a mask would paint the
// whole body.
func FromSeries(v *volume.Volume) (*volume.Mask, error) {
	seen := map[int16]bool{}
	lo, hi := int16(math.MaxInt16), int16(math.MinInt16)
	for _, x := range v.Voxels {
		lo, hi = min(lo, x), max(hi, x)
		if len(seen) <= 64 {
			seen[x] = true
		}
	}
	if lo < 0 || len(seen) > 64 {
		return nil, fmt.Errorf("this series does not look like a mask (values %d…%d, %s distinct values): choose a segmentation, not an image", lo, hi, countText(len(seen)))
	}
	m := volume.NewMask(v.Geometry)
	for i, x := range v.Voxels {
		if x != 0 {
			m.Voxels[i] = 1
		}
	}
	return m, nil
}

func countText(n int) string {
	if n > 64 {
		return "more than 64"
	}
	return fmt.Sprint(n)
}

// place puts m on grid as 0/1 and adds what was done to notes.
func place(m *volume.Mask, grid volume.Geometry, notes []string) (*Reference, error) {
	on, fit, err := m.OnGrid(grid)
	if err != nil {
		return nil, err
	}
	if fit.Covered == 0 {
		return nil, errors.New("it does not overlap the CT in patient space (its grid lies elsewhere): a mask of another patient or frame of reference")
	}
	out := volume.NewMask(grid)
	n := 0
	for i, x := range on.Voxels {
		if x != 0 {
			out.Voxels[i] = 1
			n++
		}
	}
	r := &Reference{Mask: out, Resampled: fit.Resampled}
	if fit.Resampled {
		notes = append(notes, fmt.Sprintf("Resampled (nearest neighbour) from a %d × %d × %d grid of %.3g × %.3g × %.3g mm; it covers %.0f%% of the CT.",
			m.Size[0], m.Size[1], m.Size[2], m.Spacing[0], m.Spacing[1], m.Spacing[2], 100*float64(fit.Covered)/float64(grid.NumVoxels())))
	} else if lost := m.Count() - n; lost > 0 {
		// Voxel for voxel, every labelled voxel of m has its own place
		// on the grid unless it lies outside the CT.
		notes = append(notes, fmt.Sprintf("%d labelled voxels lie outside the CT and are left out.", lost))
	}
	r.Notes = notes
	return r, nil
}

// readSEG reads a DICOM Segmentation made on ct (by LiverSeg or any other
// tool). A SEG of another frame of reference is refused: its coordinates
// mean nothing on this CT. One that references another series of the same
// frame is accepted with a note (a second reconstruction of the same
// acquisition).
func readSEG(path string, ct *volume.Volume, grid volume.Geometry) (*Reference, error) {
	seg, err := dicomseg.ReadSEG(path)
	if err != nil {
		return nil, err
	}
	return fromSEG(seg, ct, grid)
}

// fromSEG puts a decoded SEG on grid, choosing the segment.
func fromSEG(seg *dicomseg.SEG, ct *volume.Volume, grid volume.Geometry) (*Reference, error) {
	in := ct.Info
	switch {
	case seg.FrameOfReference == "":
		return nil, errors.New("the DICOM SEG has no Frame of Reference UID, so it cannot be placed on the CT")
	case in.FrameOfReference == "":
		return nil, errors.New("the open CT has no Frame of Reference UID (it was not loaded from DICOM), so a DICOM SEG cannot be placed on it: open the CT's DICOM series")
	case seg.FrameOfReference != in.FrameOfReference:
		return nil, fmt.Errorf("the DICOM SEG belongs to another acquisition: its frame of reference %s is not the CT's %s (open the CT series it was made on)", seg.FrameOfReference, in.FrameOfReference)
	}
	var notes []string
	if seg.ReferencedSeriesUID != "" && in.SeriesInstanceUID != "" && seg.ReferencedSeriesUID != in.SeriesInstanceUID {
		notes = append(notes, fmt.Sprintf("Warning: the SEG was made on series %s, not on the open series %s (same frame of reference).", seg.ReferencedSeriesUID, in.SeriesInstanceUID))
	}
	src := seg.Mask
	keep := 0
	if len(seg.Segments) > 1 {
		for _, sg := range seg.Segments {
			if strings.Contains(strings.ToLower(sg.Label), "liver") {
				keep = sg.Number
				break
			}
		}
		labels := make([]string, len(seg.Segments))
		for i, sg := range seg.Segments {
			labels[i] = fmt.Sprintf("%d %q", sg.Number, sg.Label)
		}
		if keep != 0 {
			one := volume.NewMask(src.Geometry)
			for i, x := range src.Voxels {
				if int(x) == keep {
					one.Voxels[i] = 1
				}
			}
			src = one
			notes = append(notes, fmt.Sprintf("SEG segments %s: showing segment %d (liver).", strings.Join(labels, ", "), keep))
		} else {
			notes = append(notes, fmt.Sprintf("SEG segments %s: none is labelled liver, so all are shown.", strings.Join(labels, ", ")))
		}
	}
	r, err := place(src, grid, notes)
	if err != nil {
		return nil, err
	}
	r.Segment = keep
	return r, nil
}
