package app

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/dialog"

	"github.com/liverseg/liverseg/internal/task"
	"github.com/liverseg/liverseg/refmask"
	"github.com/liverseg/liverseg/viewer"
	"github.com/liverseg/liverseg/volume"
)

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
// (canonical) grid disp of vol, as package refmask does for the command
// line. The error does not name the file: callers say which mask it was.
func readReference(path string, vol *volume.Volume, disp volume.Geometry) (*volume.Mask, string, error) {
	r, err := refmask.Read(context.Background(), path, vol, disp)
	if err != nil {
		var re *refmask.Error
		if errors.As(err, &re) {
			err = re.Err
		}
		return nil, "", err
	}
	return r.Mask, r.Note(), nil
}
