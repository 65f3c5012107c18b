package app

// This file is File → Export: any model's mask (the latest result of every
// model run on the open study) or the loaded reference, saved as a DICOM
// Segmentation or as NIfTI on the CT's own grid, through the writers in
// dicomio and nifti. Fyne's own save dialog is not used: it opens (and so
// truncates or creates) the chosen file the moment the user confirms,
// before anything is written, which would destroy an existing file and
// leave an empty one behind when the export then fails. Our dialog only
// collects a folder and a name; the writers then write a temporary file
// beside the target and rename it into place.

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/layout"
	"fyne.io/fyne/v2/widget"

	"github.com/liverseg/liverseg/dicomio/dicomseg"
	"github.com/liverseg/liverseg/inference"
	"github.com/liverseg/liverseg/internal/task"
	"github.com/liverseg/liverseg/nifti"
	"github.com/liverseg/liverseg/segedit"
	"github.com/liverseg/liverseg/volume"
)

// Export formats.
const (
	FormatSEG   = "seg"   // DICOM Segmentation (.dcm)
	FormatNIfTI = "nifti" // NIfTI-1, gzip (.nii.gz)
)

var formatLabels = map[string]string{
	FormatSEG:   "DICOM SEG (.dcm)",
	FormatNIfTI: "NIfTI (.nii.gz)",
}

// testHookBeforeWrite, when set by a test, runs on the export goroutine
// between building the mask and writing it, with the export's cancel.
var testHookBeforeWrite func(cancel func())

// errDeclined is the outcome of an export whose overwrite the user declined.
var errDeclined = errors.New("the user kept the existing file")

// exportState holds the results that can be exported and the export
// dialogs.
type exportState struct {
	// results are the latest result of each model run on vol, in the
	// order the models were first run.
	vol     *volume.Volume
	results []*inference.Result

	// The export dialog's controls (nil while it is closed).
	dlg       dialog.Dialog
	source    *widget.Select
	format    *widget.RadioGroup
	segNote   *widget.Label
	folder    *widget.Entry
	name      *widget.Entry
	exportBtn *widget.Button
	cancelBtn *widget.Button
	sources   []maskSource

	// The overwrite question (nil when none is open).
	confirm    dialog.Dialog
	replaceBtn *widget.Button
	keepBtn    *widget.Button

	progress dialog.Dialog

	// Test hooks, called on the Fyne goroutine.
	onDone  func(path string, err error) // after an export finished, failed or was declined
	lastErr error
}

// rememberResult keeps res as its model's latest result on the open study.
func (u *UI) rememberResult(res *inference.Result) {
	e := &u.exp
	if e.vol != u.vol {
		e.vol, e.results = u.vol, nil
	}
	for i, r := range e.results {
		if r.Model == res.Model {
			e.results[i] = res
			u.refreshEditSources()
			return
		}
	}
	e.results = append(e.results, res)
	u.refreshEditSources()
}

// modelResults are the latest results of the models run on the open study.
func (u *UI) modelResults() []*inference.Result {
	if u.exp.vol != u.vol || u.vol == nil {
		return nil
	}
	return u.exp.results
}

// maskSource is one mask the user can export: a model's result at its
// threshold, or the reference.
type maskSource struct {
	Label string // as offered in the dialog
	Model string // the model's name; "" for the reference
	res   *inference.Result
	post  inference.PostOptions
	mask  *volume.Mask      // res.Mask when it was made with post, else nil
	times inference.Timings // res.Timings when listed (res may change later on the UI goroutine)
	card  *inference.Card
	ref   *volume.Mask // canonical, for the reference
	name  string       // the reference's file name
	// edited is the edit it came from (mask holds its copy as listed).
	edited   *segedit.Editor
	editNote string // its history in a few words, as listed
}

// exportSources lists what can be exported now: each model's latest result
// (the one shown at the slider's threshold, the others at the threshold
// they were last shown at), then every model the comparison ran on the
// study that is not already listed, then the reference. Must run on the
// Fyne goroutine.
func (u *UI) exportSources() []maskSource {
	return append(u.resultSources(), u.editExportSource()...)
}

// resultSources are exportSources without the edited mask.
func (u *UI) resultSources() []maskSource {
	s := u.seg
	var out []maskSource
	for _, r := range u.modelResults() {
		post := r.Post
		if r == s.res && s.ovl != nil {
			post.Threshold = s.ovl.Threshold()
		}
		src := maskSource{Model: r.Model, res: r, post: post, times: r.Timings}
		if r.Mask != nil && r.Post == post {
			src.mask = r.Mask
		}
		if s.reg != nil {
			src.card, _ = s.reg.Card(r.Model)
		}
		what := "whole volume"
		if u.vol != nil && r.ROI != (inference.Box{Max: u.vol.CanonicalGeometry().Size}) {
			what = "in a box"
		}
		shown := ""
		if r == s.res {
			shown = ", shown"
		}
		src.Label = fmt.Sprintf("%s (threshold %.2f, %s%s)", r.Model, post.Threshold, what, shown)
		out = append(out, src)
	}
	out = append(out, u.cmp.compareSources(out)...)
	if s.ref != nil {
		out = append(out, maskSource{Label: "Reference " + s.refName, ref: s.ref, name: s.refName})
	}
	return out
}

// build returns the source's mask on vol's own grid (the CT as loaded),
// which is what both file formats describe. It may take hundreds of ms
// (a model's full-resolution mask), so it runs off the Fyne goroutine.
func (src maskSource) build(vol *volume.Volume) (*volume.Mask, error) {
	if src.ref != nil {
		return volume.MaskFromCanonical(src.ref, vol.Geometry)
	}
	if src.mask != nil {
		return src.mask, nil
	}
	return src.res.Apply(src.post)
}

// segAvailable says whether the open study can be exported as a DICOM SEG
// and, when not, why: a SEG must reference the CT's DICOM study, frame of
// reference and source images.
func segAvailable(v *volume.Volume) (bool, string) {
	in := v.Info
	switch {
	case in.StudyInstanceUID == "" || in.FrameOfReference == "":
		return false, "DICOM SEG is not available: this study was not read from DICOM (" + filepath.Base(in.Source) + "), so there is no DICOM study, frame of reference or image for a SEG to reference. Export NIfTI, or open the DICOM series."
	case len(in.SOPInstanceUIDs) == 0:
		return false, "DICOM SEG is not available: the CT was resampled while loading (uneven spacing or gantry tilt), so its slices are not the DICOM images a SEG must reference. Export NIfTI."
	}
	return true, ""
}

// inputFolder is the folder the study was read from.
func inputFolder(v *volume.Volume) string {
	src := v.Info.Source
	if src == "" {
		return ""
	}
	if st, err := os.Stat(src); err == nil && st.IsDir() {
		return src
	}
	return filepath.Dir(src)
}

// within reports whether path lies in dir or below it.
func within(path, dir string) bool {
	if dir == "" {
		return false
	}
	rel, err := filepath.Rel(dir, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

// defaultExportFolder is where the export and report dialogs start: the
// last folder exported to, unless that lies inside the study's input
// folder (which is never written to unless chosen in the dialog), else the
// home folder.
func (u *UI) defaultExportFolder() string {
	in := ""
	if u.vol != nil {
		in = inputFolder(u.vol)
	}
	if d := u.prefs().String(prefExportDir); d != "" && !within(d, in) {
		if st, err := os.Stat(d); err == nil && st.IsDir() {
			return d
		}
	}
	if h, err := os.UserHomeDir(); err == nil && !within(h, in) {
		return h
	}
	return os.TempDir()
}

// fileSafe turns s into a file name part: letters, digits, '.', '-', '_'.
func fileSafe(s string) string {
	var b strings.Builder
	for _, r := range strings.TrimSpace(s) {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '.':
			b.WriteRune(r)
		default:
			b.WriteRune('_')
		}
	}
	return strings.Trim(b.String(), "._")
}

func extFor(format string) string {
	if format == FormatSEG {
		return ".dcm"
	}
	return ".nii.gz"
}

// defaultExportName is "<patient>_<model>_liver.<ext>".
func (u *UI) defaultExportName(src maskSource, format string) string {
	what := src.Model
	if what == "" {
		what = "reference"
	}
	return u.studyTag() + "_" + fileSafe(what) + "_liver" + extFor(format)
}

// studyTag names the study in file names: the patient ID, else the
// patient's name, else "study".
func (u *UI) studyTag() string {
	if u.vol != nil {
		for _, s := range []string{u.vol.Info.PatientID, u.vol.Info.PatientName} {
			if p := fileSafe(s); p != "" {
				return p
			}
		}
	}
	return "study"
}

// withExt replaces a known export extension of name by format's.
func withExt(name, format string) string {
	for _, e := range []string{".nii.gz", ".nii", ".dcm"} {
		if strings.HasSuffix(strings.ToLower(name), e) {
			name = name[:len(name)-len(e)]
			break
		}
	}
	return name + extFor(format)
}

// ShowExport opens the export dialog: which mask, which format, where.
// Must run on the Fyne goroutine.
func (u *UI) ShowExport() {
	if u.stillLoading() {
		return
	}
	e := &u.exp
	if u.vol == nil {
		dialog.NewInformation("Export", "Open a study first: there is nothing to export yet.", u.win).Show()
		return
	}
	e.sources = u.exportSources()
	if len(e.sources) == 0 {
		dialog.NewInformation("Export", "No segmentation to export yet: run a model (or load a reference mask) first.", u.win).Show()
		return
	}
	labels := make([]string, len(e.sources))
	for i, s := range e.sources {
		labels[i] = s.Label
	}
	e.source = widget.NewSelect(labels, nil)
	e.format = widget.NewRadioGroup([]string{formatLabels[FormatSEG], formatLabels[FormatNIfTI]}, nil)
	e.format.Horizontal = true
	e.format.Required = true
	e.segNote = widget.NewLabel("")
	e.segNote.Wrapping = fyne.TextWrapWord
	e.segNote.Importance = widget.WarningImportance
	e.folder = widget.NewEntry()
	e.folder.SetText(u.defaultExportFolder())
	e.name = widget.NewEntry()
	choose := widget.NewButton("Choose…", func() { u.chooseFolderInto(e.folder) })

	format := FormatNIfTI
	if ok, why := segAvailable(u.vol); ok {
		format = FormatSEG
		e.segNote.Hide()
	} else {
		e.segNote.SetText(why)
		e.format.Disable() // only NIfTI can be written; the note says why
	}
	current := func() string {
		if e.format.Selected == formatLabels[FormatSEG] {
			return FormatSEG
		}
		return FormatNIfTI
	}
	e.format.SetSelected(formatLabels[format])
	e.format.OnChanged = func(string) { e.name.SetText(withExt(e.name.Text, current())) }
	e.source.OnChanged = func(string) {
		e.name.SetText(u.defaultExportName(e.sources[e.source.SelectedIndex()], current()))
	}
	sel := 0
	for i, s := range e.sources {
		if s.res != nil && s.res == u.seg.res {
			sel = i
		}
	}
	e.source.SetSelectedIndex(sel)

	e.exportBtn = widget.NewButton("Export", nil)
	e.cancelBtn = widget.NewButton("Cancel", nil)
	form := widget.NewForm(
		widget.NewFormItem("Mask", e.source),
		widget.NewFormItem("Format", e.format),
		widget.NewFormItem("Folder", container.NewBorder(nil, nil, nil, choose, e.folder)),
		widget.NewFormItem("File name", e.name),
	)
	d := u.formDialog("Export segmentation", form, e.segNote, e.cancelBtn, e.exportBtn,
		fyne.NewSize(720, 250), func() { e.dlg = nil })
	e.dlg = d
	e.exportBtn.OnTapped = func() {
		folder, name := strings.TrimSpace(e.folder.Text), strings.TrimSpace(e.name.Text)
		if err := checkTarget(folder, name); err != nil {
			u.exportFailed(filepath.Join(folder, name), err)
			return
		}
		d.Hide()
		e.dlg = nil
		u.Export(e.sources[e.source.SelectedIndex()], current(), filepath.Join(folder, name))
	}
	d.Show()
}

// checkTarget refuses a target before any work: no name, or a folder that
// does not exist (we do not create folders the user did not make).
func checkTarget(folder, name string) error {
	switch {
	case name == "":
		return errors.New("give a file name")
	case strings.ContainsRune(name, filepath.Separator):
		return errors.New("the file name must not contain a folder separator; choose the folder above")
	case folder == "":
		return errors.New("choose a folder")
	}
	st, err := os.Stat(folder)
	if err != nil {
		return fmt.Errorf("folder %s: %w", folder, err)
	}
	if !st.IsDir() {
		return fmt.Errorf("%s is not a folder", folder)
	}
	return nil
}

// chooseFolderInto lets the user pick a folder for entry.
func (u *UI) chooseFolderInto(entry *widget.Entry) {
	d := dialog.NewFolderOpen(func(l fyne.ListableURI, err error) {
		if err == nil && l != nil {
			entry.SetText(l.Path())
		}
	}, u.win)
	startAt(d, entry.Text)
	d.Resize(fyne.NewSize(900, 600))
	d.Show()
}

// Export writes src's mask to path in format (FormatSEG or FormatNIfTI)
// in the background. An existing file is replaced only after the user
// confirms. Must run on the Fyne goroutine.
func (u *UI) Export(src maskSource, format, path string) {
	e := &u.exp
	if st, err := os.Lstat(path); err == nil {
		if st.IsDir() {
			u.exportFailed(path, errors.New("a folder of that name exists"))
			return
		}
		u.confirmReplace(path, func(ok bool) {
			if !ok {
				u.setStatus("Export cancelled: " + shortPath(path, statusPathChars) + " was kept as it was.")
				if e.onDone != nil {
					e.onDone(path, errDeclined)
				}
				return
			}
			u.writeExport(src, format, path, true)
		})
		return
	}
	u.writeExport(src, format, path, false)
}

// confirmReplace asks before an existing file is replaced.
func (u *UI) confirmReplace(path string, answer func(bool)) {
	e := &u.exp
	msg := widget.NewLabel(fmt.Sprintf("%s already exists.\nReplace it? The old file is lost.", path))
	msg.Wrapping = fyne.TextWrapWord
	e.replaceBtn = widget.NewButton("Replace", nil)
	e.replaceBtn.Importance = widget.DangerImportance
	e.keepBtn = widget.NewButton("Keep the old file", nil)
	d := dialog.NewCustomWithoutButtons("Replace the file?", container.NewVBox(msg,
		container.NewHBox(layout.NewSpacer(), e.keepBtn, e.replaceBtn)), u.win)
	d.Resize(fyne.NewSize(560, 180))
	done := func(ok bool) {
		d.Hide()
		e.confirm, e.replaceBtn, e.keepBtn = nil, nil, nil
		answer(ok)
	}
	e.replaceBtn.OnTapped = func() { done(true) }
	e.keepBtn.OnTapped = func() { done(false) }
	e.confirm = d
	d.Show()
}

// writeExport builds the mask and writes it off the Fyne goroutine; a
// progress dialog appears when it takes longer than a moment.
func (u *UI) writeExport(src maskSource, format, path string, overwrite bool) {
	e := &u.exp
	vol := u.vol
	what := src.Label
	ctx, cancel := context.WithCancel(context.Background())
	done := u.startProgress("Exporting", fmt.Sprintf("Writing %s as %s to %s…", what, formatLabels[format], path), cancel)
	t0 := time.Now()
	// The write has its own context: Cancel stops it, and the export
	// still reports (as cancelled), which a superseded task would not.
	task.Go(u.do, func(*task.Task) (struct{}, error) {
		defer cancel()
		return struct{}{}, func() error {
			m, err := src.build(vol)
			if err != nil {
				return err
			}
			if testHookBeforeWrite != nil {
				testHookBeforeWrite(cancel)
			}
			// Cancel works during the write too: the temporary file
			// is removed and nothing is placed.
			if err := ctx.Err(); err != nil {
				return err
			}
			switch format {
			case FormatSEG:
				o := src.segOptions(overwrite)
				o.Context = ctx
				return dicomseg.WriteSEG(path, vol, m, o)
			default:
				return nifti.WriteMask(path, m, nifti.WriteOptions{NoOverwrite: !overwrite, Context: ctx})
			}
		}()
	}, func(_ struct{}, err error) {
		done()
		switch {
		case errors.Is(err, context.Canceled):
			u.setStatus("Export cancelled: nothing was written.")
		case err != nil:
			if errors.Is(err, fs.ErrExist) {
				err = errors.New("the file appeared while exporting; it was not replaced")
			}
			u.exportFailed(path, err)
		default:
			u.prefs().SetString(prefExportDir, filepath.Dir(path))
			if src.edited != nil && src.edited == u.edit.ed {
				u.editExported()
			}
			u.setStatus(fmt.Sprintf("Exported %s as %s to %s (%.0f ms).", what, formatLabels[format], shortPath(path, statusPathChars), msSince(t0)))
		}
		if e.onDone != nil {
			e.onDone(path, err)
		}
	})
}

// segOptions names the algorithm (model, role and file digest) or marks a
// reference as manual.
func (src maskSource) segOptions(overwrite bool) dicomseg.SEGOptions {
	o := dicomseg.SEGOptions{SoftwareVersions: "LiverSeg " + SoftwareVersion(), Overwrite: overwrite}
	if ed := src.edited; ed != nil {
		// Corrected by a person: SEMIAUTOMATIC with the model named, or
		// MANUAL when it was drawn from nothing (PS3.3 C.8.20.2).
		o.SemiAutomatic = ed.Source() != ""
		o.Manual = ed.Source() == ""
		o.AlgorithmName = "LiverSeg " + ed.Source() + ", edited by hand"
		o.SeriesDescription = "Liver (" + ed.Name() + ")"
		return o
	}
	if src.ref != nil {
		o.Manual = true
		o.AlgorithmName = "Reference " + src.name
		o.SeriesDescription = "Liver reference (" + src.name + ")"
		return o
	}
	o.AlgorithmName = "LiverSeg " + src.Model
	if src.card != nil {
		o.AlgorithmName = fmt.Sprintf("LiverSeg %s %.8s", src.card.Name, src.card.SHA256)
	}
	if src.post.Edge != nil {
		o.AlgorithmName += " + " + inference.EdgeTag
	}
	return o
}

// exportFailed shows an error naming the file; the writers have removed
// their temporary file, so nothing is left behind.
func (u *UI) exportFailed(path string, err error) {
	e := fmt.Errorf("Could not write %s:\n%w", path, err)
	u.exp.lastErr = e
	u.setStatus("Error: " + strings.ReplaceAll(e.Error(), "\n", " "))
	dialog.NewError(e, u.win).Show()
}

// startProgress shows a progress dialog if the work is still running after
// a moment (most exports finish before it would flash up), with a Cancel
// button that calls cancel, and returns the function that ends it.
func (u *UI) startProgress(title, text string, cancel func()) (done func()) {
	var delay task.Slot
	var d dialog.Dialog
	var bar *busyBar
	task.After(&delay, u.do, 300*time.Millisecond, func() {
		l := widget.NewLabel(text)
		l.Wrapping = fyne.TextWrapWord
		bar = newBusyBar()
		bar.Run()
		stop := widget.NewButton("Cancel", cancel)
		d = dialog.NewCustomWithoutButtons(title, container.NewVBox(l, bar, container.NewCenter(stop)), u.win)
		d.Resize(fyne.NewSize(520, 150))
		u.exp.progress = d
		d.Show()
	})
	return func() {
		delay.Cancel() // finished before the dialog showed: it never will
		if bar != nil {
			bar.Halt()
		}
		if d != nil {
			d.Hide()
			u.exp.progress = nil
		}
	}
}
