package app

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/dialog"

	"github.com/liverseg/liverseg/dicomio"
	"github.com/liverseg/liverseg/internal/task"
	"github.com/liverseg/liverseg/nifti"
	"github.com/liverseg/liverseg/viewer"
	"github.com/liverseg/liverseg/volume"
)

// gridTolerance is how far (mm) a reference mask's voxel centres may lie
// from the CT's to count as the same grid: NIfTI stores its affine in
// float32, which rounds positions hundreds of mm from the origin by a few
// micrometres.
const gridTolerance = 0.05

func (u *UI) chooseReference() {
	if u.vol == nil {
		u.setStatus("Open a study first, then its reference mask.")
		return
	}
	d := dialog.NewFileOpen(func(r fyne.URIReadCloser, err error) {
		if err != nil {
			u.showRefError(err)
			return
		}
		if r != nil {
			p := r.URI().Path()
			r.Close()
			u.LoadReference(p)
		}
	}, u.win)
	// A reference usually lies beside its CT: next to a NIfTI file, or
	// next to the DICOM folder.
	start := inputFolder(u.vol)
	if st, err := os.Stat(u.vol.Info.Source); err == nil && st.IsDir() {
		start = filepath.Dir(start)
	}
	startAt(d, start)
	d.Resize(fyne.NewSize(900, 600))
	d.Show()
}

// LoadReference reads a reference segmentation of the shown study in the
// background and shows it as a second overlay in its own colour: a NIfTI
// mask (any non-zero voxel), a DICOM Segmentation (SEG) object made on this
// CT, or a DICOM series of masks (a file of the series or its folder). It must lie on the CT's grid or at least in its
// patient space (then it is resampled to the CT's voxels, nearest
// neighbour); otherwise it is refused with the reason.
func (u *UI) LoadReference(path string) {
	if u.vol == nil {
		return
	}
	vol := u.vol
	disp := u.scene.Slicer().Volume().Geometry // canonical
	u.setStatus("Reading reference " + path + "…")
	type read struct {
		m    *volume.Mask
		note string
	}
	task.Go(u.do, func(*task.Task) (read, error) {
		m, note, err := readReference(path, vol, disp)
		return read{m, note}, err
	}, func(r read, err error) { u.referenceDone(vol, path, r.m, r.note, err) })
}

func (u *UI) referenceDone(vol *volume.Volume, path string, m *volume.Mask, note string, err error) {
	s := u.seg
	if vol != u.vol {
		return // another study was opened meanwhile
	}
	if err == nil {
		var o *viewer.MaskOverlay
		o, err = viewer.NewMaskOverlay(u.scene.Slicer(), m, viewer.Style{})
		if err == nil {
			s.ref, s.refOvl, s.refName = m, o, filepath.Base(path)
			u.plan.liverMaskChanged()
			u.seg.applyStyle()
			u.updateOverlays()
			u.seg.showDice(math.NaN())
			if note != "" {
				s.refLabel.SetText(s.refLabel.Text + "\n" + note)
			}
			u.setStatus(fmt.Sprintf("Reference %s: %.1f mL.", s.refName, m.VolumeML()))
			if s.res != nil && s.ovl != nil {
				u.seg.queuePost(s.ovl.Keep(), false) // Dice with the shown segmentation
			}
		}
	}
	if err != nil {
		u.showRefError(fmt.Errorf("reference mask %s: %w", path, err))
	}
	if s.onRefDone != nil {
		s.onRefDone(err)
	}
}

func (u *UI) showRefError(err error) {
	u.seg.lastErr = err
	u.setStatus("Error: " + err.Error())
	dialog.NewError(err, u.win).Show()
}

// readReference reads the mask at path and puts it on the displayed
// (canonical) grid disp of vol.
func readReference(path string, vol *volume.Volume, disp volume.Geometry) (*volume.Mask, string, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, "", err
	}
	var m *volume.Mask
	frame := ""
	if !st.IsDir() && dicomio.IsSEG(path) {
		return readSEGReference(path, vol, disp)
	}
	if !st.IsDir() && nifti.IsNIfTI(path) {
		m, err = nifti.ReadMask(path)
		if err != nil {
			return nil, "", err
		}
	} else {
		dir := path
		if !st.IsDir() {
			dir = filepath.Dir(path)
		}
		v, _, err := dicomio.LoadPath(context.Background(), dir, nil)
		if err != nil {
			return nil, "", err
		}
		frame = v.Info.FrameOfReference
		if m, err = maskFromSeries(v); err != nil {
			return nil, "", err
		}
	}
	if frame != "" && vol.Info.FrameOfReference != "" && frame != vol.Info.FrameOfReference {
		return nil, "", fmt.Errorf("its frame of reference %s is not the CT's %s: it belongs to another acquisition", frame, vol.Info.FrameOfReference)
	}
	return fitToGrid(m, disp)
}

// maskFromSeries turns a DICOM series of label images into a mask. A
// series that looks like an image rather than labels (negative values, or
// many distinct values) is refused: showing a CT as a mask would paint the
// whole body.
func maskFromSeries(v *volume.Volume) (*volume.Mask, error) {
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

// fitToGrid returns m on the canonical grid disp: as it is when it lies on
// the same voxels (in any index order), else resampled nearest neighbour
// when the grids overlap in patient space, else an error.
func fitToGrid(m *volume.Mask, disp volume.Geometry) (*volume.Mask, string, error) {
	if len(m.Voxels) != m.NumVoxels() {
		return nil, "", fmt.Errorf("mask has %d voxels, its grid %v needs %d", len(m.Voxels), m.Size, m.NumVoxels())
	}
	c := m.Canonical()
	if c.SameGrid(disp, gridTolerance) {
		c.Geometry = disp // the same voxels; take the CT's exact positions
		return c, "", nil
	}
	out := volume.NewMask(disp)
	inside := 0
	// Display index → mask index is affine: find it once from unit steps
	// instead of inverting the direction matrix per voxel.
	b := m.PatientToIndex(disp.IndexToPatient([3]float64{}))
	var a [3][3]float64 // column c: the step of one display voxel along c
	for c := 0; c < 3; c++ {
		var e [3]float64
		e[c] = 1
		q := m.PatientToIndex(disp.IndexToPatient(e))
		for r := 0; r < 3; r++ {
			a[c][r] = q[r] - b[r]
		}
	}
	for k := 0; k < disp.Size[2]; k++ {
		for j := 0; j < disp.Size[1]; j++ {
			var f [3]float64
			for r := 0; r < 3; r++ {
				f[r] = b[r] + a[1][r]*float64(j) + a[2][r]*float64(k)
			}
			for i := 0; i < disp.Size[0]; i++ {
				x := int(math.Floor(f[0] + a[0][0]*float64(i) + 0.5))
				y := int(math.Floor(f[1] + a[0][1]*float64(i) + 0.5))
				z := int(math.Floor(f[2] + a[0][2]*float64(i) + 0.5))
				if !m.Contains(x, y, z) {
					continue
				}
				inside++
				if m.Voxels[m.Offset(x, y, z)] != 0 {
					out.Voxels[disp.Offset(i, j, k)] = 1
				}
			}
		}
	}
	if inside == 0 {
		return nil, "", errors.New("it does not overlap the CT in patient space (its grid lies elsewhere): a mask of another patient or frame of reference")
	}
	note := fmt.Sprintf("Resampled (nearest neighbour) from a %d × %d × %d grid of %.3g × %.3g × %.3g mm; it covers %.0f%% of the CT.",
		m.Size[0], m.Size[1], m.Size[2], m.Spacing[0], m.Spacing[1], m.Spacing[2], 100*float64(inside)/float64(disp.NumVoxels()))
	return out, note, nil
}

// readSEGReference reads a DICOM Segmentation made on vol (by LiverSeg or
// any other tool) and puts it on the displayed grid disp. A SEG of another
// frame of reference is refused: its coordinates mean nothing on this CT.
// One that references another series of the same frame is accepted with a
// note (a second reconstruction of the same acquisition). When the SEG has
// several segments, the one labelled as liver is taken if there is one.
func readSEGReference(path string, vol *volume.Volume, disp volume.Geometry) (*volume.Mask, string, error) {
	seg, err := dicomio.ReadSEG(path)
	if err != nil {
		return nil, "", err
	}
	in := vol.Info
	switch {
	case seg.FrameOfReference == "":
		return nil, "", errors.New("the DICOM SEG has no Frame of Reference UID, so it cannot be placed on the CT")
	case in.FrameOfReference == "":
		return nil, "", errors.New("the open CT has no Frame of Reference UID (it was not loaded from DICOM), so a DICOM SEG cannot be placed on it: open the CT's DICOM series")
	case seg.FrameOfReference != in.FrameOfReference:
		return nil, "", fmt.Errorf("the DICOM SEG belongs to another acquisition: its frame of reference %s is not the CT's %s (open the CT series it was made on)", seg.FrameOfReference, in.FrameOfReference)
	}
	var notes []string
	if seg.ReferencedSeriesUID != "" && in.SeriesInstanceUID != "" && seg.ReferencedSeriesUID != in.SeriesInstanceUID {
		notes = append(notes, fmt.Sprintf("Warning: the SEG was made on series %s, not on the open series %s (same frame of reference).", seg.ReferencedSeriesUID, in.SeriesInstanceUID))
	}
	src := seg.Mask
	if len(seg.Segments) > 1 {
		keep := 0
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
	onCT, err := (&dicomio.SEG{Mask: src}).OnGrid(vol.Geometry)
	if err != nil {
		// Same frame, other voxels (another reconstruction, a cropped
		// grid): place it by patient position instead.
		m, note, ferr := fitToGrid(src, disp)
		if ferr != nil {
			return nil, "", ferr
		}
		return m, strings.Join(append(notes, note), "\n"), nil
	}
	m, note, err := fitToGrid(onCT, disp)
	if err != nil {
		return nil, "", err
	}
	if note != "" {
		notes = append(notes, note)
	}
	return m, strings.Join(notes, "\n"), nil
}
