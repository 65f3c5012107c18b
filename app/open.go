package app

import (
	"context"
	"errors"
	"fmt"
	"image"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/widget"

	"github.com/liverseg/liverseg/dicomio"
	"github.com/liverseg/liverseg/inference"
	"github.com/liverseg/liverseg/internal/task"
	"github.com/liverseg/liverseg/nifti"
	"github.com/liverseg/liverseg/thumbnail"
	"github.com/liverseg/liverseg/volume"
)

// loadState is the one load that may run at a time.
type loadState struct {
	gen    int       // bumped per load, so a superseded load's result is dropped
	run    task.Slot // the load's background work (scan, read, retrieve)
	dlg    dialog.Dialog
	bar    *widget.ProgressBar
	barInf *busyBar
	phase  *widget.Label
	done   atomic.Int64
	total  atomic.Int64
	ticker task.Slot // moves the progress bar while the dialog shows
	// thenRef is a reference mask to show once this load succeeds (the
	// demo study's true liver). Every new load clears it.
	thenRef string

	// Test hooks, called on the Fyne goroutine.
	onDone   func(err error) // after a load finished, failed or was cancelled
	onPicker func()          // after the series picker is shown
	lastErr  error           // the last error shown in a dialog
	picker   dialog.Dialog
	pickRow  int
	pickList *widget.List
	// thumbs makes the picker's thumbnails, one series after the other,
	// while the picker shows; closing it cancels the rest.
	thumbs   task.Slot
	thumbImg map[*dicomio.Series]image.Image
}

func (u *UI) chooseFolder() {
	d := dialog.NewFolderOpen(func(l fyne.ListableURI, err error) {
		if err != nil {
			u.showError("", err)
			return
		}
		if l != nil {
			u.rememberOpenDir(l.Path())
			u.Open(l.Path())
		}
	}, u.win)
	startAt(d, u.prefs().String(prefOpenDir))
	d.Resize(fyne.NewSize(900, 600))
	d.Show()
}

func (u *UI) chooseFile() {
	d := dialog.NewFileOpen(func(r fyne.URIReadCloser, err error) {
		if err != nil {
			u.showError("", err)
			return
		}
		if r != nil {
			p := r.URI().Path()
			r.Close()
			u.openOrOverlay([]string{p})
		}
	}, u.win)
	startAt(d, u.prefs().String(prefOpenDir))
	d.Resize(fyne.NewSize(900, 600))
	d.Show()
}

// Open loads a study in the background: one NIfTI file, or DICOM files and
// folders (scanned recursively). A progress dialog with Cancel shows while it
// runs; several series lead to a series picker; failures to an error dialog
// naming the file. Must be called on the Fyne goroutine.
func (u *UI) Open(paths ...string) {
	if ed := u.edit.ed; ed != nil && ed.Dirty() {
		u.ConfirmDiscardEdits("Open another study", func() { u.Open(paths...) })
		return
	}
	u.startLoad("Opening " + describePaths(paths))
	gen := u.load.gen
	pre := u.autoPreprocessing()
	u.loadTask(func(ctx context.Context) {
		if len(paths) == 1 && nifti.IsNIfTI(paths[0]) {
			u.setPhase(gen, "Reading "+filepath.Base(paths[0]), false)
			v, err := nifti.Read(paths[0])
			if err == nil && ctx.Err() != nil {
				err = ctx.Err()
			}
			u.finish(gen, paths[0], v, err)
			return
		}
		u.setPhase(gen, "Scanning "+describePaths(paths), true)
		cat, err := dicomio.Scan(ctx, paths, u.progress)
		if err != nil {
			u.finish(gen, describePaths(paths), nil, err)
			return
		}
		var series []*dicomio.Series
		localizers := 0
		for _, s := range cat.Series {
			if s.IsLocalizer {
				localizers++
				continue
			}
			series = append(series, s)
		}
		switch len(series) {
		case 0:
			u.finish(gen, describePaths(paths), nil, noSeriesError(paths, cat, localizers))
		case 1:
			u.loadSeries(ctx, gen, series[0], pre)
		default:
			u.do(func() {
				if gen != u.load.gen {
					return
				}
				u.endProgress()
				u.pickSeries(series, localizers, func(s *dicomio.Series) {
					if s == nil {
						u.finishUI(gen, "", nil, context.Canceled)
						return
					}
					u.showProgress("Loading " + s.SeriesDescription)
					u.loadTask(func(ctx context.Context) { u.loadSeries(ctx, gen, s, pre) })
				})
			})
		}
	})
}

// loadTask runs a load's background work as the load slot's task, which
// the next load or Cancel supersedes. The work reports through setPhase
// and finish, which drop what a superseded load posts; only a panic is
// reported here.
func (u *UI) loadTask(work func(ctx context.Context)) {
	gen := u.load.gen
	task.Start(&u.load.run, u.do, func(t *task.Task) (struct{}, error) {
		work(t.Context())
		return struct{}{}, nil
	}, func(_ struct{}, err error) {
		if err != nil {
			u.finishUI(gen, "", nil, err)
		}
	})
}

func (u *UI) loadSeries(ctx context.Context, gen int, s *dicomio.Series, pre *inference.Preprocessing) {
	u.setPhase(gen, fmt.Sprintf("Loading %d slices", s.NumSlices()), true)
	u.loadShown(ctx, gen, s, pre) // shown as it arrives: progressive.go
}

func describePaths(paths []string) string {
	if len(paths) == 1 {
		return paths[0]
	}
	return fmt.Sprintf("%d files (%s, …)", len(paths), paths[0])
}

func noSeriesError(paths []string, cat *dicomio.Catalog, localizers int) error {
	var b strings.Builder
	fmt.Fprintf(&b, "no image series found in %s", describePaths(paths))
	if localizers > 0 {
		fmt.Fprintf(&b, " (%d localizer series are not shown as volumes)", localizers)
	}
	if n := len(cat.Skipped); n > 0 {
		fmt.Fprintf(&b, "; %d file(s) skipped:", n)
		for i, s := range cat.Skipped {
			if i == 5 {
				fmt.Fprintf(&b, "\n… and %d more", n-5)
				break
			}
			fmt.Fprintf(&b, "\n%s: %s", s.Path, s.Reason)
		}
	}
	return errors.New(b.String())
}

// startLoad cancels any running load and opens the progress dialog; the
// new load's work then starts through loadTask.
func (u *UI) startLoad(title string) {
	u.load.run.Cancel()
	u.cancelShown()
	u.endProgress()
	u.load.gen++
	u.load.thenRef = ""
	u.showProgress(title)
}

func (u *UI) showProgress(title string) {
	u.load.done.Store(0)
	u.load.total.Store(0)
	u.load.phase = widget.NewLabel(title)
	u.load.phase.Truncation = fyne.TextTruncateEllipsis
	u.load.bar = widget.NewProgressBar()
	u.load.barInf = newBusyBar()
	u.load.barInf.Run()
	u.load.bar.Hide()
	cancel := widget.NewButton("Cancel", u.CancelLoad)
	content := container.NewVBox(u.load.phase, container.NewStack(u.load.bar, u.load.barInf), container.NewCenter(cancel))
	d := dialog.NewCustomWithoutButtons("Opening study", content, u.win)
	d.Resize(fyne.NewSize(520, 160))
	u.load.dlg = d
	d.Show()
	// Workers report progress through atomics; a ticker moves the bar ten
	// times a second instead of queueing one UI update per file.
	bar := u.load.bar
	barInf := u.load.barInf
	task.Start(&u.load.ticker, u.do, func(tk *task.Task) (struct{}, error) {
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-tk.Context().Done():
				return struct{}{}, nil
			case <-t.C:
				done, total := u.load.done.Load(), u.load.total.Load()
				if total <= 0 {
					continue
				}
				tk.Post(func() { // dropped once endProgress stopped the ticker
					barInf.Halt()
					bar.Show()
					bar.SetValue(float64(done) / float64(total))
				})
			}
		}
	}, nil)
}

// progress is passed to dicomio; it runs on worker goroutines, which may
// report out of order, so done only grows.
func (u *UI) progress(done, total int) {
	u.load.total.Store(int64(total))
	for {
		old := u.load.done.Load()
		if int64(done) <= old || u.load.done.CompareAndSwap(old, int64(done)) {
			return
		}
	}
}

// setPhase names the current step in the progress dialog; resetCount
// restarts the bar for a step that reports its own progress. It runs on the
// loading goroutine, before that step's workers start.
func (u *UI) setPhase(gen int, text string, resetCount bool) {
	if resetCount {
		u.load.done.Store(0)
		u.load.total.Store(0)
	}
	u.do(func() {
		if gen != u.load.gen || u.load.phase == nil {
			return
		}
		u.load.phase.SetText(text)
	})
}

func (u *UI) endProgress() {
	u.load.ticker.Cancel()
	if u.load.barInf != nil {
		u.load.barInf.Halt()
	}
	if u.load.dlg != nil {
		u.load.dlg.Hide()
		u.load.dlg = nil
	}
}

// CancelLoad stops the running load; the view keeps what it showed before.
func (u *UI) CancelLoad() {
	u.load.gen++ // first, so that the cancelled load's late result is dropped
	u.load.run.Cancel()
	u.cancelShown()
	u.endProgress()
	u.setStatus("Opening cancelled.")
	if u.load.onDone != nil {
		u.load.onDone(context.Canceled)
	}
}

func (u *UI) finish(gen int, where string, v *volume.Volume, err error) {
	u.do(func() { u.finishUI(gen, where, v, err) })
}

func (u *UI) finishUI(gen int, where string, v *volume.Volume, err error) {
	if gen != u.load.gen {
		return
	}
	u.endProgress()
	u.load.run.Cancel()
	switch {
	case errors.Is(err, context.Canceled):
		u.setStatus("Opening cancelled.")
	case err != nil:
		u.showError(where, err)
	default:
		if serr := u.ShowVolume(v); serr != nil {
			err = serr
			u.showError(where, serr)
		} else if ref := u.load.thenRef; ref != "" {
			u.load.thenRef = ""
			u.LoadReference(ref)
		}
	}
	if u.load.onDone != nil {
		u.load.onDone(err)
	}
}

// showError shows a dialog naming the file and the reason.
func (u *UI) showError(where string, err error) {
	msg := err.Error()
	if where != "" && !strings.Contains(msg, where) {
		msg = where + ":\n" + msg
	}
	e := errors.New("Could not open the study.\n" + msg)
	u.load.lastErr = e
	u.setStatus("Error: " + strings.ReplaceAll(msg, "\n", " "))
	d := dialog.NewError(e, u.win)
	d.Show()
}

// pickSeries asks which of several series to open; chosen is called with
// nil when the user cancels.
func (u *UI) pickSeries(series []*dicomio.Series, localizers int, chosen func(*dicomio.Series)) {
	// Column 0 is the thumbnail (the middle slice in the abdomen window,
	// as Weasis and OHIF show one per series); the rest are labels.
	cols := []string{"", "Patient", "Study date", "Series", "Modality", "Slices", "Thickness", "Matrix"}
	widths := []float32{pickThumb + 8, 160, 100, 260, 80, 60, 85, 90}
	cell := func(s *dicomio.Series, c int) string {
		switch c - 1 {
		case 0:
			return orDash(strings.Join(nonEmpty(s.PatientName, s.PatientID), " / "))
		case 1:
			if d := s.StudyDate; len(d) == 8 {
				return d[:4] + "-" + d[4:6] + "-" + d[6:]
			}
			return orDash(s.StudyDate)
		case 2:
			d := orDash(strings.Join(nonEmpty(s.StudyDescription, s.SeriesDescription), " / "))
			if s.SeriesNumber != 0 {
				d = fmt.Sprintf("#%d %s", s.SeriesNumber, d)
			}
			if len(s.Warnings) > 0 {
				d += fmt.Sprintf(" ⚠%d", len(s.Warnings))
			}
			return d
		case 3:
			return orDash(s.Modality)
		case 4:
			return fmt.Sprint(s.NumSlices())
		case 5:
			if s.SliceThickness > 0 {
				return fmt.Sprintf("%g mm", s.SliceThickness)
			}
			return "–"
		case 6:
			return fmt.Sprintf("%d×%d", s.Cols, s.Rows)
		}
		return ""
	}
	row := func(thumb bool) *fyne.Container {
		objs := make([]fyne.CanvasObject, len(cols))
		if thumb {
			img := canvas.NewImageFromImage(nil)
			img.FillMode = canvas.ImageFillContain
			img.SetMinSize(fyne.NewSize(pickThumb, pickThumb))
			objs[0] = img
		} else {
			objs[0] = widget.NewLabel("")
		}
		for c := 1; c < len(cols); c++ {
			l := widget.NewLabel("")
			l.Truncation = fyne.TextTruncateEllipsis
			objs[c] = l
		}
		return container.New(columns(widths), objs...)
	}
	header := row(false)
	for c, o := range header.Objects {
		o.(*widget.Label).SetText(cols[c])
		o.(*widget.Label).TextStyle.Bold = true
	}
	u.load.thumbImg = map[*dicomio.Series]image.Image{}
	list := widget.NewList(
		func() int { return len(series) },
		func() fyne.CanvasObject { return row(true) },
		func(id widget.ListItemID, o fyne.CanvasObject) {
			objs := o.(*fyne.Container).Objects
			img := objs[0].(*canvas.Image)
			if th := u.load.thumbImg[series[id]]; img.Image != th {
				img.Image = th
				img.Refresh()
			}
			for c := 1; c < len(objs); c++ {
				objs[c].(*widget.Label).SetText(cell(series[id], c))
			}
		})
	u.load.pickRow = 0
	list.OnSelected = func(id widget.ListItemID) { u.load.pickRow = id }
	list.Select(0)
	u.load.pickList = list
	note := fmt.Sprintf("%d image series found. Choose one and press Open.", len(series))
	if localizers > 0 {
		note += fmt.Sprintf(" (%d localizer series are not offered as volumes.)", localizers)
	}
	content := container.NewBorder(container.NewVBox(widget.NewLabel(note), header, widget.NewSeparator()), nil, nil, nil, list)
	d := dialog.NewCustomConfirm("Choose a series", "Open", "Cancel", content, func(ok bool) {
		u.load.thumbs.Cancel()
		u.load.picker = nil
		if !ok {
			chosen(nil)
			return
		}
		chosen(series[u.load.pickRow])
	}, u.win)
	d.Resize(fyne.NewSize(960, 560))
	u.load.picker = d
	d.Show()
	u.makeThumbnails(series, list)
	if u.load.onPicker != nil {
		u.load.onPicker()
	}
}

// pickThumb is the edge of the picker's thumbnails.
const pickThumb = 64

// makeThumbnails renders the picker's thumbnails in the background, one
// series after the other (one file read each), and shows each as it
// comes. A series whose slice cannot be read keeps an empty cell: the
// picker is still usable, and opening it reports the reason.
func (u *UI) makeThumbnails(series []*dicomio.Series, list *widget.List) {
	task.Start(&u.load.thumbs, u.do, func(t *task.Task) (struct{}, error) {
		for i, s := range series {
			if t.Context().Err() != nil {
				return struct{}{}, t.Context().Err()
			}
			img, err := thumbnail.Series(s, 2*pickThumb) // 2×: sharp on a HiDPI screen
			if err != nil {
				continue
			}
			t.Post(func() {
				u.load.thumbImg[s] = img
				list.RefreshItem(i)
			})
		}
		return struct{}{}, nil
	}, nil)
}

// columns lays out a row of cells at fixed widths, so that the picker's
// header and rows line up.
type columns []float32

func (c columns) MinSize(objs []fyne.CanvasObject) fyne.Size {
	var w, h float32
	for i, o := range objs {
		w += c[i]
		h = max(h, o.MinSize().Height)
	}
	return fyne.NewSize(w, h)
}

func (c columns) Layout(objs []fyne.CanvasObject, size fyne.Size) {
	x := float32(0)
	for i, o := range objs {
		o.Move(fyne.NewPos(x, 0))
		o.Resize(fyne.NewSize(c[i], size.Height))
		x += c[i]
	}
}
