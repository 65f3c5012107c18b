package app

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/liverseg/liverseg/dicomio"
	"github.com/liverseg/liverseg/inference"
	"github.com/liverseg/liverseg/viewer"
)

// A thin-slice series (400–1000 slices, 200–500 MB) takes seconds to read.
// Instead of a modal dialog until the last slice, the series is shown as
// soon as its middle slice has arrived and fills in while the rest is read:
//
//  1. the middle slice is read first, then the slices the automatic model
//     reads (inference.SlicesRead: on a 0.6 mm study resampled to 5 mm,
//     one in eight), then the others in order;
//  2. once the middle slice is there, the progress dialog gives way to the
//     three views and a loading strip (progress and Cancel) under the
//     toolbar; the axial view shows every slice that has arrived and
//     scrolls through all of them, marking the others "loading…";
//     coronal and sagittal cross every slice and say "loading…" until all
//     are there (never stale pixels from another study);
//  3. once the model's slices are there, the student runs (on exactly the
//     voxels it would read from the whole series, so its outline is the
//     final one) while the rest is still being read;
//  4. when the last slice arrives the strip goes and the study is complete.
//
// Cancel closes the partly shown study and drops everything it held. Runs
// of other models, Compare, export and reports wait for the whole study.

// shownState is the window's side of a series shown while it loads.
type shownState struct {
	l     *dicomio.Loading // the load on screen; nil when none
	strip *fyne.Container
	bar   *widget.ProgressBar
	text  *widget.Label

	// Test hooks: beforeRead paces the reader (called from its worker
	// goroutines before each slice; set before Open); onShown runs on the
	// Fyne goroutine when the first image is on screen.
	beforeRead func(k int)
	onShown    func()
}

// shownLoad is one series being read to be shown while it loads.
type shownLoad struct {
	l        *dicomio.Loading
	gen      int // the load generation (loadState.gen) it belongs to
	where    string
	mid      int
	need     atomic.Int64 // slices of the automatic model still to arrive
	shown    bool         // the views show it
	ended    bool         // shownDone ran: later ticks do nothing
	ran      bool         // the automatic run was started
	count    int          // slices the views were last refreshed for
	chosenAt time.Time
}

// loadStrip is the non-modal progress shown under the toolbar while a
// shown series fills in; it is hidden otherwise.
func (u *UI) loadStrip() fyne.CanvasObject {
	p := &u.shown
	p.text = widget.NewLabel("")
	p.bar = widget.NewProgressBar()
	cancel := widget.NewButtonWithIcon("Cancel", theme.CancelIcon(), u.CancelLoad)
	p.strip = container.NewBorder(nil, nil, p.text, cancel, p.bar)
	p.strip.Hide()
	return p.strip
}

// loadShown reads s, showing it while it loads when its slices land
// directly in the displayed grid; otherwise (gantry tilt, uneven spacing,
// slices stored against the display order) it loads as a whole behind the
// progress dialog. It runs on the loading goroutine.
func (u *UI) loadShown(ctx context.Context, gen int, s *dicomio.Series, pre *inference.Preprocessing) {
	where := s.Key
	if len(s.Files) > 0 {
		where = filepath.Dir(s.Files[0])
	}
	chosen := time.Now()
	g := s.Geometry()
	mid := g.Size[2] / 2
	var model []int
	if pre != nil {
		model = inference.SlicesRead(g, *pre)
	}
	p := &shownLoad{gen: gen, where: where, mid: mid, chosenAt: chosen}
	p.need.Store(int64(len(model)))
	inModel := make([]bool, g.Size[2])
	for _, k := range model {
		inModel[k] = true
	}
	// Workers only signal; this goroutine posts the ticks, so that a tick
	// never sees p before p.l is set.
	wake := make(chan struct{}, 1)
	signal := func() {
		select {
		case wake <- struct{}{}:
		default:
		}
	}
	trace("load %s: reading order ready %.0f ms after the series was chosen", where, msSince(chosen))
	l, err := dicomio.StartLoad(ctx, s, dicomio.LoadOptions{
		First:      append([]int{mid}, model...),
		Source:     where,
		Progress:   u.progress,
		BeforeRead: u.shown.beforeRead,
		OnSlice: func(k int) {
			if k == mid {
				signal()
			}
			if inModel[k] && p.need.Add(-1) == 0 {
				signal()
			}
		},
	})
	if err != nil {
		u.finish(gen, where, nil, err)
		return
	}
	if !l.Direct() || !g.NearestOrientation().IsCanonical() {
		v, err := l.Wait()
		if v != nil {
			v.Info.Source = where
		}
		u.finish(gen, where, v, err)
		return
	}
	p.l = l
	trace("load %s: %d slices, reading started %.0f ms after the series was chosen", where, g.Size[2], msSince(chosen))
	// Refresh the views and the strip ten times a second while loading,
	// and at once when the first image or the model's slices are there.
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-l.Done():
			u.do(func() { u.shownTick(p) })
			return
		case <-wake:
		case <-t.C:
		}
		u.do(func() { u.shownTick(p) })
	}
}

// shownTick moves a shown load along; it runs on the Fyne goroutine, is
// idempotent, and does nothing for a superseded or cancelled load.
func (u *UI) shownTick(p *shownLoad) {
	if p.gen != u.load.gen || p.l == nil || p.ended {
		return
	}
	l := p.l
	done, total := l.Count()
	select {
	case <-l.Done():
		u.shownDone(p)
		return
	default:
	}
	if !p.shown {
		if !l.Ready(p.mid) {
			return
		}
		if err := u.showLoading(p); err != nil {
			l.Cancel()
			u.finishUI(p.gen, p.where, nil, err)
			return
		}
	}
	if done != p.count {
		p.count = done
		u.scene.VoxelsChanged()
		u.showCursor()
	}
	u.shown.bar.SetValue(float64(done) / float64(total))
	u.shown.text.SetText(fmt.Sprintf("Loading %d/%d slices", done, total))
	if !p.ran && p.need.Load() <= 0 {
		p.ran = true
		trace("load %s: the model's slices arrived %.0f ms after the series was chosen", p.where, msSince(p.chosenAt))
		u.autoRun()
	}
}

// showLoading replaces the progress dialog by the views of the series
// being read.
func (u *UI) showLoading(p *shownLoad) error {
	v := p.l.Volume()
	if v == nil {
		return errors.New("the series could not be read")
	}
	if err := u.showVolume(v, loadingSlices{p.l}); err != nil {
		return err
	}
	u.seg.shownAt = time.Now()
	p.shown = true
	p.count = -1
	u.shown.l = p.l
	u.endProgress()
	u.shown.strip.Show()
	u.setStatus(fmt.Sprintf("Loading %s: the slices appear as they arrive.", p.where))
	trace("load %s: first image on screen %.0f ms after the series was chosen", p.where, msSince(p.chosenAt))
	if u.shown.onShown != nil {
		u.shown.onShown()
	}
	return nil
}

// shownDone ends a shown load: the full study, or the error.
func (u *UI) shownDone(p *shownLoad) {
	p.ended = true
	v, err := p.l.Wait()
	if !p.shown {
		// It ended before its first image (a failure, or a series read
		// faster than the first tick): the usual ending.
		if v != nil {
			v.Info.Source = p.where
		}
		u.finishUI(p.gen, p.where, v, err)
		return
	}
	u.shown.l = nil
	u.shown.strip.Hide()
	if err != nil {
		// The partly shown study is incomplete: close it, then say why.
		u.closeStudy()
		u.finishUI(p.gen, p.where, nil, err)
		return
	}
	u.scene.Slicer().SetAvailability(nil)
	u.scene.VoxelsChanged()
	u.showCursor()
	trace("load %s: complete %.0f ms after the series was chosen", p.where, msSince(p.chosenAt))
	if !p.ran {
		p.ran = true
		u.autoRun()
	}
	u.load.run.Cancel()
	u.setStatus(fmt.Sprintf("Opened %s (%d slices).", v.Info.Source, v.Size[2]))
	if ref := u.load.thenRef; ref != "" {
		u.load.thenRef = ""
		u.LoadReference(ref)
	}
	if u.load.onDone != nil {
		u.load.onDone(nil)
	}
}

// cancelShown stops a shown load (CancelLoad): the partly read study is
// closed and nothing of it is kept.
func (u *UI) cancelShown() {
	if u.shown.l == nil {
		return
	}
	trace("load: cancelled while shown")
	u.shown.l.Cancel()
	u.shown.l = nil
	u.shown.strip.Hide()
	u.closeStudy()
}

// closeStudy empties the views and forgets the study and everything
// computed on it.
func (u *UI) closeStudy() {
	u.seg.resetSegmentation()
	for _, v := range u.views {
		v.SetScene(nil)
	}
	u.scene, u.vol = nil, nil
	u.viewerArea.Hide()
	u.empty.Show()
	u.win.SetTitle("LiverSeg")
}

// stillLoading tells the user to wait, and reports true, while the shown
// study has not finished loading: models other than the automatic one,
// Compare, export and reports need every slice.
func (u *UI) stillLoading() bool {
	if u.shown.l == nil {
		return false
	}
	u.setStatus("The study is still loading: wait until every slice has arrived.")
	return true
}

// autoRun starts the automatic model on the shown study (no-op without
// models); the overlay appears when it is done.
func (u *UI) autoRun() {
	if u.seg.reg != nil {
		trace("series shown")
		u.seg.runModel(u.seg.autoModel(), true)
	}
}

// autoPreprocessing is the automatic model's preprocessing, or nil when
// there are no models: it decides which slices are read first.
func (u *UI) autoPreprocessing() *inference.Preprocessing {
	if u.seg.reg == nil || len(u.seg.reg.Cards()) == 0 {
		return nil
	}
	c, ok := u.seg.reg.Card(u.seg.autoModel())
	if !ok {
		return nil
	}
	p := c.Preprocessing
	return &p
}

// loadingSlices tells the viewer which slices of a loading series have
// arrived (the series is shown only when its order is the display order).
type loadingSlices struct{ l *dicomio.Loading }

func (a loadingSlices) SliceReady(k int) bool { return a.l.Ready(k) }

func (a loadingSlices) Complete() bool {
	done, total := a.l.Count()
	return done == total
}

var _ viewer.Availability = loadingSlices{}
