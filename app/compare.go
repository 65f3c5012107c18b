package app

// The comparison of models (Compare in the segmentation panel): every
// model of the models folder runs on the study in the background through
// comparison.Set, which keeps the results for the study, and the window
// shows them in one of three ways (compare_views.go) above a metrics table
// and a chart (compare_table.go); compare_export.go writes them out.

import (
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"slices"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/liverseg/liverseg/comparison"
	"github.com/liverseg/liverseg/inference"
	"github.com/liverseg/liverseg/internal/task"
	"github.com/liverseg/liverseg/viewer"
	"github.com/liverseg/liverseg/viewer/sliceview"
	"github.com/liverseg/liverseg/volume"
)

// Display modes of the comparison.
const (
	ModeOverlay      = "Overlay"
	ModeSideBySide   = "Side by side"
	ModeDisagreement = "Disagreement"
)

var compareModes = []string{ModeOverlay, ModeSideBySide, ModeDisagreement}

// refName is the name the reference mask goes by in the comparison views.
const refName = comparison.ReferenceName

// refColor is the reference's colour in the views: the palette's black
// (comparison.Colors) is invisible on CT and white vanished on an enhanced
// liver, so the views draw the reference as a dashed Okabe–Ito yellow
// outline with a dark edge (referenceStyle), which no model uses and
// which stays visible on bright and dark anatomy.
var refColor = nrgba(comparison.OkabeYellow)

// cmpModel is one model's result prepared for display: its mask in
// canonical order (for the disagreement map) and its probability map with
// the clean-up mask (for smooth contours, as the single-model view draws).
type cmpModel struct {
	name  string
	color color.NRGBA
	entry *comparison.Entry
	canon *volume.Mask
	res   *inference.Result // nil when the entry has no map
	keep  []uint8
}

// overlay draws the model in style st over the volume of s.
func (m *cmpModel) overlay(s *viewer.Slicer, st viewer.Style) (viewer.Overlay, error) {
	if m.res != nil {
		o, err := viewer.NewProbOverlay(s, m.res.Prob.Geometry, m.res.Prob.Data, m.res.Post.Threshold, st)
		if err == nil {
			err = o.SetThreshold(m.res.Post.Threshold, m.keep)
		}
		if err == nil {
			return o, nil
		}
	}
	return viewer.NewMaskOverlay(s, m.canon, st)
}

// cmpController is the comparison side of the window.
type cmpController struct {
	u *UI

	btn *widget.Button // "Compare models" in the segmentation panel

	// The study's results; nil until Compare is first pressed on it.
	set     *comparison.Set
	models  map[string]*cmpModel
	ref     *volume.Mask // reference shown (canonical), as given to the set
	refDisp *cmpModel

	// The run in progress: Cancel or another study supersedes it.
	run     task.Slot
	running bool

	// Widgets, built on first use.
	area       *fyne.Container // in the viewer area, instead of the grid
	modeSel    *widget.RadioGroup
	mode       string
	bar        *widget.ProgressBar
	stage      *widget.Label
	cancelBtn  *widget.Button
	exportBtn  *widget.Button
	viewsBox   *fyne.Container // the views of the current mode (exported as PNG)
	sideBox    *fyne.Container // the legend/controls of the current mode
	tri        [3]*sliceview.SliceView
	triBox     *fyne.Container
	sbsBox     *fyne.Container
	sbs        []*sliceview.SliceView
	sbsNames   []string
	sbsAxis    *widget.Select
	sbsSlice   *widget.Label
	listening  *viewer.Scene // the scene the comparison listens to
	ovlSide    *fyne.Container
	sbsSide    *fyne.Container
	disSide    *fyne.Container
	shown      map[string]bool
	ovlChecks  *fyne.Container
	pairA      *widget.Select
	pairB      *widget.Select
	disLegend  *fyne.Container
	disText    *widget.Label
	jumpBtn    *widget.Button
	table      *widget.Table
	tableBox   *fyne.Container // the table and its note, as wide as the columns
	bottom     *fyne.Container // tableBox and the chart
	colsWidth  float32         // the columns' total width
	tableNote  *widget.Label
	chart      *canvas.Image
	rows       []comparison.Row
	cols       []tableCol
	tableRef   *volume.Mask // the reference the rows were measured with
	chartImg   image.Image
	tableRun   task.Slot // measuring the table
	disRes     disResult
	dis        *comparison.Disagreement
	disPair    [2]string
	disRun     task.Slot                 // computing a disagreement map
	triOverlay map[string]viewer.Overlay // overlay mode: outlines
	sbsOverlay map[string]viewer.Overlay // side by side: fill + outline

	// Test hooks, called on the Fyne goroutine.
	onDone     func(err error) // a Compare request finished (run or cache hit)
	onProgress func(p comparison.Progress)
	onExport   func(paths []string, err error)
}

// newCmpController makes the comparison's controller and the button that
// starts it, which the segmentation panel places; the comparison area is
// built on first use (buildCompare).
func newCmpController(u *UI) *cmpController {
	c := &cmpController{u: u}
	c.btn = widget.NewButtonWithIcon("Compare models…", theme.ViewRestoreIcon(), c.Compare)
	return c
}

// Compare shows the comparison of every model on the open study, running
// in the background those not run on it yet (with progress and Cancel).
// Results stay cached for the study: a second Compare, or switching
// modes, runs nothing.
func (c *cmpController) Compare() {
	u := c.u
	if u.stillLoading() {
		return
	}
	if u.vol == nil || u.scene == nil {
		u.setStatus("Open a study first.")
		return
	}
	if u.seg.reg == nil {
		err := u.seg.regErr
		if err == nil {
			err = errors.New("no models folder is configured")
		}
		u.seg.showSegError(fmt.Errorf("comparison is unavailable: %w", err), true)
		return
	}
	c.buildCompare()
	if c.set == nil || c.set.Study() != u.vol {
		c.resetCompare()
		c.set = comparison.NewSet(u.vol)
	}
	c.syncReference()
	u.syncEditedCompare()
	c.showCompareArea(true)
	if c.running {
		return
	}
	names := c.compareNames()
	var missing []string
	for _, n := range names {
		if _, ok := c.set.Entry(n); !ok {
			missing = append(missing, n)
		}
	}
	if len(missing) == 0 {
		// Everything is cached: only the displays that lack a model are
		// brought up to date, nothing runs.
		c.installModels()
		if c.rows == nil || c.tableStale() {
			c.refreshTable()
		}
		u.setStatus(fmt.Sprintf("Comparison of %d models (cached for this study).", len(names)))
		if c.onDone != nil {
			c.onDone(nil)
		}
		return
	}
	c.startCompareRun(names)
}

// compareNames are the models compared, largest first (the teacher leads).
func (c *cmpController) compareNames() []string { return comparison.ModelOrder(c.u.seg.reg) }

// syncReference gives the set the reference mask the panel shows (on the
// study's own grid, like the models' masks).
func (c *cmpController) syncReference() {
	u := c.u
	s, c := u.seg, u.cmp
	if s.ref == c.ref {
		return
	}
	c.ref = s.ref
	c.refDisp = nil
	// Whatever showed the previous reference goes.
	delete(c.triOverlay, refName)
	delete(c.sbsOverlay, refName)
	if c.disPair[0] == refName || c.disPair[1] == refName {
		c.dis, c.disPair = nil, [2]string{}
	}
	defer func() {
		c.rebuildLegend()
		c.rebuildSideBySide()
		c.updatePairChoices()
	}()
	if s.ref == nil {
		c.set.SetReference(nil)
		return
	}
	m, err := volume.MaskFromCanonical(s.ref, u.vol.Geometry)
	if err != nil {
		u.seg.showSegError(fmt.Errorf("reference for the comparison: %w", err), false)
		c.set.SetReference(nil)
		return
	}
	c.set.SetReference(m)
	c.refDisp = &cmpModel{name: refName, color: refColor, canon: s.ref, entry: &comparison.Entry{Name: refName, Mask: m, VolumeML: m.VolumeML()}}
}

// startCompareRun runs the missing models in the background.
func (c *cmpController) startCompareRun(names []string) {
	u := c.u
	c.running = true
	c.bar.SetValue(0)
	c.bar.Show()
	c.stage.SetText("Starting…")
	c.stage.Show()
	c.cancelBtn.Enable()
	c.cancelBtn.Show()
	set, runner, slicer := c.set, u.seg.runner, u.scene.Slicer()
	// The models run as the single run does: with the edge refined from
	// the scan unless the switch is off (changing it clears the set).
	edge := u.seg.edge.Checked
	opts := func(card *inference.Card) inference.Options {
		o := card.DefaultOptions()
		if !edge {
			o.Edge = nil
		}
		return o
	}
	frac := map[inference.Stage]float64{inference.StageLoad: 0.05, inference.StagePreprocess: 0.15, inference.StageInfer: 0.3, inference.StagePostprocess: 0.8}
	t0 := time.Now()
	task.Start(&c.run, u.do, func(t *task.Task) (time.Duration, error) {
		progress := func(p comparison.Progress) {
			f := float64(p.Index)
			if p.Done {
				f++
			} else {
				f += frac[p.Stage]
			}
			f /= float64(p.Total)
			var m *cmpModel
			if p.Done {
				// Prepared here, off the UI goroutine: the canonical
				// mask and the clean-up of the map cost tens of ms.
				if e, ok := set.Entry(p.Model); ok {
					m = prepareModel(e, slicer)
				}
			}
			t.Post(func() {
				c.bar.SetValue(f)
				switch {
				case p.Done && p.Cached:
					c.stage.SetText(fmt.Sprintf("%s: cached (%d/%d)", p.Model, p.Index+1, p.Total))
				case p.Done:
					c.stage.SetText(fmt.Sprintf("%s: done (%d/%d)", p.Model, p.Index+1, p.Total))
				default:
					c.stage.SetText(fmt.Sprintf("%s: %s… (%d/%d)", p.Model, p.Stage, p.Index+1, p.Total))
				}
				if m != nil && set == c.set {
					c.addModel(m)
				}
				if c.onProgress != nil {
					c.onProgress(p)
				}
			})
		}
		err := set.Run(t.Context(), runner, names, opts, progress)
		return time.Since(t0), err
	}, func(elapsed time.Duration, err error) {
		// Dropped when cancelled (reported then) or on another study.
		c.compareRunDone(err, elapsed)
	})
}

// compareRunDone ends a run: the table follows in the background.
func (c *cmpController) compareRunDone(err error, elapsed time.Duration) {
	u := c.u
	c.endCompareRun()
	c.installModels()
	if err != nil {
		u.seg.showSegError(fmt.Errorf("comparison: %w", err), false)
	} else {
		u.setStatus(fmt.Sprintf("Comparison: %d models in %.1f s.", len(c.set.Entries()), elapsed.Seconds()))
	}
	c.refreshTable()
	if c.onDone != nil {
		c.onDone(err)
	}
}

func (c *cmpController) endCompareRun() {
	c.running = false
	c.run.Cancel()
	c.bar.Hide()
	c.stage.Hide()
	c.cancelBtn.Disable()
	c.cancelBtn.Hide()
}

// CancelCompare stops the comparison run; the models finished so far stay
// cached and shown.
func (c *cmpController) CancelCompare() {
	u := c.u
	if !c.running {
		return
	}
	c.run.Cancel() // first, so that the run's late reports are dropped
	c.endCompareRun()
	done := len(c.set.Entries())
	u.setStatus(fmt.Sprintf("Comparison cancelled; %d of %d models done and kept.", done, len(c.compareNames())))
	c.installModels()
	c.refreshTable()
	if c.onDone != nil {
		c.onDone(context.Canceled)
	}
}

// prepareModel makes an entry ready for display (any goroutine).
func prepareModel(e *comparison.Entry, s *viewer.Slicer) *cmpModel {
	m := &cmpModel{name: e.Name, color: nrgba(comparison.Color(e.Name)), entry: e, canon: e.Mask.Canonical()}
	if r := e.Result; r != nil && r.Prob != nil {
		if keep, err := cleanMap(r, r.Post); err == nil {
			m.res, m.keep = r, keep
		}
	}
	return m
}

func nrgba(c color.RGBA) color.NRGBA { return color.NRGBA{R: c.R, G: c.G, B: c.B, A: 255} }

// installModels prepares (on this goroutine) any entry of the set not yet
// shown (a cancelled run's finished models).
func (c *cmpController) installModels() {
	u := c.u
	for _, e := range c.set.Entries() {
		if m, ok := c.models[e.Name]; !ok || m.entry != e {
			c.addModel(prepareModel(e, u.scene.Slicer()))
		}
	}
}

// addModel shows one more model in every mode.
func (c *cmpController) addModel(m *cmpModel) {
	if c.models == nil {
		c.models = map[string]*cmpModel{}
	}
	c.models[m.name] = m
	delete(c.triOverlay, m.name)
	delete(c.sbsOverlay, m.name)
	if _, ok := c.shown[m.name]; !ok {
		c.shown[m.name] = true
	}
	c.rebuildLegend()
	c.rebuildSideBySide()
	c.updatePairChoices()
	c.showMode()
}

// displayModels are the models shown, in comparison order, then the
// reference when one is loaded.
func (c *cmpController) displayModels() []*cmpModel {
	u := c.u
	var out []*cmpModel
	for _, n := range c.compareNames() {
		if m, ok := c.models[n]; ok {
			out = append(out, m)
		}
	}
	out = append(out, u.editedCompareModels()...)
	if c.refDisp != nil {
		out = append(out, c.refDisp)
	}
	return out
}

// resetCompare forgets the comparison of the previous study (a new study
// is shown): cancels its run, drops its cache and returns to the normal
// views.
func (c *cmpController) resetCompare() {
	if c.area == nil {
		c.set = nil
		return
	}
	if c.running {
		c.endCompareRun()
	}
	c.run.Cancel()
	c.tableRun.Cancel()
	c.disRun.Cancel()
	c.set, c.models, c.ref, c.refDisp, c.rows, c.dis = nil, nil, nil, nil, nil, nil
	c.triOverlay, c.sbsOverlay = map[string]viewer.Overlay{}, map[string]viewer.Overlay{}
	c.shown = map[string]bool{}
	c.disPair = [2]string{}
	c.table.Refresh()
	c.tableNote.SetText("")
	c.chart.Image = nil
	c.chart.Refresh()
	c.rebuildLegend()
	c.rebuildSideBySide()
	c.updatePairChoices()
	for _, v := range c.tri {
		v.SetOverlays()
		v.SetScene(nil)
	}
	c.showCompareArea(false)
}

// buildCompare creates the comparison area on first use and puts it in
// the viewer area, hidden, on top of the three views' grid.
func (c *cmpController) buildCompare() {
	u := c.u
	if c.area != nil {
		return
	}
	c.shown = map[string]bool{}
	c.triOverlay, c.sbsOverlay = map[string]viewer.Overlay{}, map[string]viewer.Overlay{}
	c.mode = ModeOverlay
	c.modeSel = widget.NewRadioGroup(compareModes, func(m string) {
		if m != "" {
			c.SetCompareMode(m)
		}
	})
	c.modeSel.Horizontal = true
	c.modeSel.Required = true
	c.modeSel.Selected = c.mode
	c.bar = widget.NewProgressBar()
	c.bar.Hide()
	c.stage = widget.NewLabel("")
	c.stage.Hide()
	c.cancelBtn = widget.NewButtonWithIcon("Cancel", theme.CancelIcon(), c.CancelCompare)
	c.cancelBtn.Hide()
	c.exportBtn = widget.NewButtonWithIcon("Export…", theme.DocumentSaveIcon(), c.chooseCompareExport)
	back := widget.NewButtonWithIcon("Back to segmentation", theme.NavigateBackIcon(), func() { c.showCompareArea(false) })
	top := container.NewBorder(nil, nil,
		container.NewHBox(widget.NewLabelWithStyle("Compare", fyne.TextAlignLeading, fyne.TextStyle{Bold: true}), c.modeSel),
		container.NewHBox(c.exportBtn, back),
		container.NewBorder(nil, nil, nil, c.cancelBtn, container.NewHBox(container.NewGridWrap(fyne.NewSize(180, c.bar.MinSize().Height), c.bar), c.stage)))

	for n, p := range viewer.Planes {
		v := c.newCompareView(p)
		c.tri[n] = v
	}
	c.triBox = container.NewGridWithColumns(3, c.tri[0], c.tri[1], c.tri[2])
	c.sbsBox = container.NewGridWithColumns(1)
	c.viewsBox = container.NewStack(c.triBox, c.sbsBox)

	c.ovlChecks = container.NewVBox()
	c.ovlSide = container.NewVBox(boldLabel("Outlines"), c.ovlChecks,
		hint("Each model's liver contour on the same three views. Untick a model to hide it."))

	c.sbsAxis = widget.NewSelect([]string{"Axial", "Coronal", "Sagittal"}, func(string) { c.rebuildSideBySide() })
	c.sbsAxis.Selected = "Axial"
	c.sbsSlice = widget.NewLabel("")
	c.sbsSlice.TextStyle.Monospace = true
	c.sbsSide = container.NewVBox(boldLabel("Side by side"), widget.NewLabel("Plane"), c.sbsAxis, c.sbsSlice,
		hint("One panel per model on the same slice. Scrolling, zoom, pan, the crosshair and window/level move all panels together."))

	c.pairA = widget.NewSelect(nil, func(string) { c.updateDisagreement() })
	c.pairB = widget.NewSelect(nil, func(string) { c.updateDisagreement() })
	c.disLegend = container.NewVBox()
	c.disText = widget.NewLabel("")
	c.disText.Wrapping = fyne.TextWrapWord
	c.jumpBtn = widget.NewButtonWithIcon("Jump to most disagreement", theme.SearchIcon(), c.JumpToDisagreement)
	c.jumpBtn.Disable()
	c.disSide = container.NewVBox(boldLabel("Disagreement"),
		container.NewBorder(nil, nil, widget.NewLabel("A"), nil, c.pairA),
		container.NewBorder(nil, nil, widget.NewLabel("B"), nil, c.pairB),
		c.disLegend, c.jumpBtn, c.disText)
	c.sideBox = container.NewStack(c.ovlSide, c.sbsSide, c.disSide)
	side := container.New(fixedWidth(230), container.NewVScroll(c.sideBox))
	modeArea := container.NewBorder(nil, nil, nil, side, c.viewsBox)

	bottom := c.buildTable()
	split := container.NewVSplit(modeArea, bottom)
	split.Offset = 0.67
	c.area = container.NewBorder(top, nil, nil, nil, split)
	c.area.Hide()
	u.viewerArea.Add(c.area)
	c.showMode()
}

func boldLabel(t string) *widget.Label {
	return widget.NewLabelWithStyle(t, fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
}

// hint is an explanation beside the comparison's controls, in the normal
// text colour: the theme's low-importance grey was too faint to read on
// the dark background.
func hint(t string) *widget.Label {
	l := widget.NewLabel(t)
	l.Wrapping = fyne.TextWrapWord
	return l
}

// newCompareView is a view of the comparison on the main scene: the
// status line and the keys work as in the three views.
func (c *cmpController) newCompareView(p viewer.Plane) *sliceview.SliceView {
	u := c.u
	v := sliceview.New(p)
	v.OnHover = u.hover
	v.OnFocus = func(v *sliceview.SliceView) { u.active = v }
	v.SetPaused(true)
	return v
}

// showCompareArea shows the comparison instead of the three views (or
// back). Hidden views are paused, so that only what is on screen renders.
func (c *cmpController) showCompareArea(on bool) {
	u := c.u
	if c.area == nil {
		return
	}
	grid := u.viewerArea.Objects[0]
	if on {
		grid.Hide()
		for _, v := range u.views {
			v.SetPaused(true)
		}
		c.area.Show()
		c.showMode()
		return
	}
	c.area.Hide()
	for _, v := range c.tri {
		v.SetPaused(true)
	}
	for _, v := range c.sbs {
		v.SetPaused(true)
	}
	for _, v := range u.views {
		v.SetPaused(false)
	}
	u.active = u.views[0]
	grid.Show()
}

// CompareShown reports whether the comparison area is on screen.
func (c *cmpController) CompareShown() bool { return c.area != nil && c.area.Visible() }

// SetCompareMode switches between ModeOverlay, ModeSideBySide and
// ModeDisagreement. Nothing is recomputed: the views of the new mode are
// drawn from the cached results.
func (c *cmpController) SetCompareMode(m string) {
	if !slices.Contains(compareModes, m) {
		return
	}
	c.mode = m
	if c.modeSel != nil && c.modeSel.Selected != m {
		c.modeSel.SetSelected(m) // calls back here once more, then returns early below
		return
	}
	c.showMode()
}

// CompareMode is the mode shown.
func (c *cmpController) CompareMode() string { return c.mode }

// widthLayout lays its objects out over the whole container and asks for
// the width it returns (and their height): a side panel whose wrapped
// labels would otherwise shrink it to nothing, a table as wide as its
// columns.
type widthLayout func() float32

// fixedWidth is a widthLayout of w units.
func fixedWidth(w float32) widthLayout { return func() float32 { return w } }

func (w widthLayout) Layout(objs []fyne.CanvasObject, size fyne.Size) {
	for _, o := range objs {
		o.Move(fyne.Position{})
		o.Resize(size)
	}
}

func (w widthLayout) MinSize(objs []fyne.CanvasObject) fyne.Size {
	h := float32(0)
	for _, o := range objs {
		h = max(h, o.MinSize().Height)
	}
	return fyne.NewSize(w(), h)
}
