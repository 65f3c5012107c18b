package app

// Edit mode: correct a segmentation by hand (segedit.Editor) on the three
// views. The controller lives here; app.go, segment.go and open.go call it
// through a handful of one-line hooks (panel, overlays, volume shown, open
// guard, close guard).

import (
	"errors"
	"fmt"
	"image/color"
	"math"
	"strconv"
	"strings"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/driver/desktop"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/liverseg/liverseg/comparison"
	"github.com/liverseg/liverseg/internal/task"
	"github.com/liverseg/liverseg/segedit"
	"github.com/liverseg/liverseg/viewer"
	"github.com/liverseg/liverseg/viewer/sliceview"
	"github.com/liverseg/liverseg/volume"
)

// Edit tools, in palette order.
const (
	ToolCrosshair    = "Crosshair"
	ToolPaint        = "Paint"
	ToolErase        = "Erase"
	ToolKeepIsland   = "Keep island"
	ToolRemoveIsland = "Remove island"
	ToolScissors     = "Scissors"
	ToolRemoveLeak   = "Remove leak"
)

var editTools = []string{ToolCrosshair, ToolPaint, ToolErase, ToolKeepIsland, ToolRemoveIsland, ToolRemoveLeak, ToolScissors}

// Scissors shapes offered.
var scissorsShapes = []string{"Cut along the line", "Erase inside", "Erase outside"}

// Smoothing offered.
var smoothKinds = []string{"Closing", "Opening", "Median"}

// EditColor is the edited mask's overlay colour (yellow: none of the
// models' Okabe–Ito colours, and visible over liver and fat).
var EditColor = color.NRGBA{R: 255, G: 225, B: 40, A: 255}

// autosaveDelay is how long after the last edit the autosave is written.
const autosaveDelay = 2 * time.Second

// editState is the edit mode's controller state.
type editState struct {
	ed  *segedit.Editor
	ovl *viewer.MaskOverlay
	vol *volume.Volume // the study the editor belongs to

	stroke *segedit.Stroke
	path   [][3]float64 // scissors points while drawing
	busy   bool         // a source mask is being built, or a step computed in the background

	// Widgets.
	from     *widget.Select
	fromSrcs []maskSource
	// fromUser: the user chose the start (kept while offered);
	// settingFrom: the program is changing the selection.
	fromUser, settingFrom bool
	startBtn              *widget.Button
	stopBtn               *widget.Button
	title                 *widget.Label
	figures               *widget.Label
	tool                  string // the tool selected
	toolBtns              map[string]*widget.Button
	radius                *widget.Slider
	radiusLbl             *widget.Label
	sphere                *widget.Check
	huOn                  *widget.Check
	huLo                  *widget.Entry
	huHi                  *widget.Entry
	shape                 *widget.Select
	slab                  *widget.Entry
	smoothSel             *widget.Select
	smoothR               *widget.Entry
	neck                  *widget.Entry
	fillBtn               *widget.Button
	smoothBtn             *widget.Button
	undoBtn               *widget.Button
	redoBtn               *widget.Button
	saveBtn               *widget.Button
	hist                  *widget.List
	histItems             []segedit.StepInfo
	msg                   *widget.Label
	tools                 *fyne.Container // shown while editing
	box                   *fyne.Container // the whole edit panel
	scroll                *container.Scroll

	// Autosave.
	store    *segedit.Autosave
	saveWait task.Slot // the delay before an autosave: each step restarts it
	saveGen  int
	study    string // path the study was opened from
	recovery *segedit.Record

	cmpName string // the edited entry put in the comparison, "" for none

	// Test hooks (Fyne goroutine).
	onStarted  func(err error)
	onAutosave func(err error)
	onSmoothed func(err error)
}

// editPanel builds the edit controls (the hook in the side panel).
func (u *UI) editPanel() fyne.CanvasObject {
	s := &u.edit
	if dir, err := segedit.AutosaveDir(); err == nil {
		s.store = &segedit.Autosave{Dir: dir}
	}
	s.from = widget.NewSelect(nil, func(string) {
		if !s.settingFrom {
			s.fromUser = true
		}
	})
	s.from.PlaceHolder = "Start from…"
	s.startBtn = widget.NewButtonWithIcon("Edit", theme.DocumentCreateIcon(), func() { u.StartEdit(s.from.SelectedIndex()) })
	s.stopBtn = widget.NewButton("Stop editing", func() { u.StopEdit(true) })
	s.title = widget.NewLabel("")
	s.title.TextStyle.Bold = true
	s.figures = widget.NewLabel("")
	s.figures.Wrapping = fyne.TextWrapWord
	s.msg = widget.NewLabel("")
	s.msg.Wrapping = fyne.TextWrapWord
	s.msg.Importance = widget.WarningImportance
	s.msg.Hide()

	// The palette: one button per tool, the selected one highlighted, three
	// to a row so that the side panel keeps its width.
	s.tool = ToolPaint
	s.toolBtns = map[string]*widget.Button{}
	palette := container.NewGridWithColumns(4)
	for _, t := range editTools {
		b := widget.NewButton(t, func() { u.SetTool(t) })
		s.toolBtns[t] = b
		palette.Add(b)
	}
	s.radius = widget.NewSlider(0.5, 50)
	s.radius.Step = 0.5
	s.radius.Value = 5
	s.radiusLbl = widget.NewLabel("")
	s.radiusLbl.TextStyle.Monospace = true
	s.radius.OnChanged = func(float64) { u.applyTool() }
	s.radius.OnChangeEnded = func(float64) {
		if c := u.win.Canvas(); c.Focused() != nil {
			c.Unfocus()
		}
	}
	// Checks and sliders give the keyboard back at once, so that [ ] X
	// keep working after a click on them (keys reach the views only when
	// no widget has focus).
	release := func() {
		if c := u.win.Canvas(); c != nil && c.Focused() != nil {
			c.Unfocus()
		}
	}
	s.sphere = widget.NewCheck("3D (sphere)", func(bool) { release() })
	s.huOn = widget.NewCheck("Only HU", func(bool) { release() })
	s.huLo = widget.NewEntry()
	s.huLo.SetText("60")
	s.huHi = widget.NewEntry()
	s.huHi.SetText("200")
	s.shape = widget.NewSelect(scissorsShapes, nil)
	s.shape.Selected = scissorsShapes[0]
	s.slab = widget.NewEntry()
	s.slab.SetText("0")
	s.smoothSel = widget.NewSelect(smoothKinds, nil)
	s.smoothSel.Selected = smoothKinds[0]
	s.smoothR = widget.NewEntry()
	s.smoothR.SetText("3")
	s.neck = widget.NewEntry()
	s.neck.SetText("3")
	s.fillBtn = widget.NewButton("Fill between slices", u.FillBetween)
	s.smoothBtn = widget.NewButton("Smooth", u.SmoothEdit)
	s.undoBtn = widget.NewButtonWithIcon("Undo", theme.ContentUndoIcon(), u.Undo)
	s.redoBtn = widget.NewButtonWithIcon("Redo", theme.ContentRedoIcon(), u.Redo)
	s.saveBtn = widget.NewButtonWithIcon("Export…", theme.DocumentSaveIcon(), u.ShowExport)
	s.hist = widget.NewList(
		func() int { return len(s.histItems) },
		func() fyne.CanvasObject { return widget.NewLabel("") },
		func(id widget.ListItemID, o fyne.CanvasObject) {
			it := s.histItems[id]
			t := fmt.Sprintf("%d. %s (%d voxels)", id+1, it.Name, it.Voxels)
			if !it.Applied {
				t += " — undone"
			}
			l := o.(*widget.Label)
			l.Importance = widget.MediumImportance
			if !it.Applied {
				l.Importance = widget.LowImportance
			}
			l.SetText(t)
		})
	s.hist.OnSelected = func(id widget.ListItemID) {
		s.hist.UnselectAll()
		u.GoToStep(id + 1)
	}

	s.tools = container.NewVBox(
		s.title, s.figures, s.msg,
		palette,
		container.NewBorder(nil, nil, widget.NewLabel("Brush"), s.radiusLbl, s.radius),
		container.NewHBox(s.sphere, s.huOn, container.NewGridWrap(fyne.NewSize(60, s.huLo.MinSize().Height), s.huLo), widget.NewLabel("…"),
			container.NewGridWrap(fyne.NewSize(60, s.huHi.MinSize().Height), s.huHi)),
		container.NewHBox(s.undoBtn, s.redoBtn, s.saveBtn, s.stopBtn),
		container.NewBorder(nil, nil, widget.NewLabel("History"), nil, container.NewGridWrap(fyne.NewSize(420, 110), s.hist)),
		container.NewHBox(widget.NewLabel("Remove leak: cut necks up to 2 ×"), container.NewGridWrap(fyne.NewSize(50, s.neck.MinSize().Height), s.neck), widget.NewLabel("mm")),
		container.NewHBox(widget.NewLabel("Scissors"), s.shape, widget.NewLabel("± slices"),
			container.NewGridWrap(fyne.NewSize(50, s.slab.MinSize().Height), s.slab), widget.NewLabel("(0 = all)")),
		container.NewHBox(s.fillBtn, s.smoothBtn, s.smoothSel, container.NewGridWrap(fyne.NewSize(50, s.smoothR.MinSize().Height), s.smoothR), widget.NewLabel("mm")),
	)
	s.tools.Hide()
	u.updateEditControls()
	s.box = container.NewVBox(
		widget.NewLabelWithStyle("Edit segmentation", fyne.TextAlignLeading, fyne.TextStyle{Bold: true}),
		container.NewBorder(nil, nil, nil, s.startBtn, s.from),
		s.tools)
	return s.box
}

// editSetup wires what the edit mode needs from the window: keys, the
// views' edit gestures and the close guard (called once from New).
func (u *UI) editSetup() {
	for _, v := range u.views {
		v.OnEdit = u.onEdit
		v.OnRune = u.editRune
	}
	c := u.win.Canvas()
	undo := &desktop.CustomShortcut{KeyName: fyne.KeyZ, Modifier: fyne.KeyModifierShortcutDefault}
	redo := &desktop.CustomShortcut{KeyName: fyne.KeyZ, Modifier: fyne.KeyModifierShortcutDefault | fyne.KeyModifierShift}
	redoY := &desktop.CustomShortcut{KeyName: fyne.KeyY, Modifier: fyne.KeyModifierShortcutDefault}
	// The desktop driver turns Ctrl+Z into fyne.ShortcutUndo and
	// Ctrl+Shift+Z / Ctrl+Y into fyne.ShortcutRedo; the custom ones catch
	// drivers that do not.
	c.AddShortcut(&fyne.ShortcutUndo{}, func(fyne.Shortcut) { u.Undo() })
	c.AddShortcut(&fyne.ShortcutRedo{}, func(fyne.Shortcut) { u.Redo() })
	c.AddShortcut(undo, func(fyne.Shortcut) { u.Undo() })
	c.AddShortcut(redo, func(fyne.Shortcut) { u.Redo() })
	c.AddShortcut(redoY, func(fyne.Shortcut) { u.Redo() })
	u.win.SetCloseIntercept(func() {
		u.ConfirmDiscardEdits("Quit", func() { u.win.Close() })
	})
}

// EditedMask is a copy of the mask being edited, on the CT's own grid, or
// nil when nothing is being edited: what other features (3D view,
// resection planning) take as "the current mask" when the user edited one.
func (u *UI) EditedMask() *volume.Mask {
	if ed := u.edit.ed; ed != nil && u.edit.vol == u.vol {
		return ed.Mask()
	}
	return nil
}

// Editor is the segmentation being edited, or nil.
func (u *UI) Editor() *segedit.Editor { return u.edit.ed }

// editSources lists what editing can start from: every model result and
// the reference (as export offers them), compared models, and an empty
// mask (drawn by hand).
func (u *UI) editSources() []maskSource {
	srcs := u.resultSources()
	have := map[string]bool{}
	for _, s := range srcs {
		have[s.Model] = true
	}
	if u.cmp.set != nil {
		for _, e := range u.cmp.set.Entries() {
			if !have[e.Name] && e.Mask != nil {
				srcs = append(srcs, maskSource{Label: e.Name + " (compared)", Model: e.Name, mask: e.Mask})
			}
		}
	}
	return append(srcs, maskSource{Label: "Empty (draw from nothing)", Model: "", name: "empty"})
}

// refreshEditSources updates the "Start from" choices.
func (u *UI) refreshEditSources() {
	s := &u.edit
	if s.from == nil {
		return
	}
	s.fromSrcs = u.editSources()
	opts := make([]string, len(s.fromSrcs))
	for i, src := range s.fromSrcs {
		opts[i] = src.Label
	}
	// Keep the user's choice while it is offered; otherwise the first
	// (the shown model's result, once there is one).
	sel := s.from.Selected
	pick := opts[0]
	for _, o := range opts {
		if o == sel && s.fromUser {
			pick = o
		}
	}
	s.settingFrom = true
	s.from.Options = opts
	s.from.ClearSelected()
	s.from.SetSelected(pick)
	s.settingFrom = false
	s.from.Refresh()
}

// StartEdit begins editing the source at index n of editSources (the
// "Start from" list; −1 = the first). The source's mask is built in the
// background (a model's full-resolution mask takes a moment); the original
// stays as it is.
func (u *UI) StartEdit(n int) {
	s := &u.edit
	if u.vol == nil || s.busy {
		return
	}
	if s.ed != nil && s.ed.Dirty() {
		u.ConfirmDiscardEdits("Start a new edit", func() {
			u.StopEdit(false)
			u.StartEdit(n)
		})
		return
	}
	u.refreshEditSources()
	if n < 0 || n >= len(s.fromSrcs) {
		n = 0
	}
	src := s.fromSrcs[n]
	vol := u.vol
	ref := u.seg.ref
	s.busy = true
	s.startBtn.Disable()
	u.setStatus("Preparing " + src.Label + " for editing…")
	task.Go(u.do, func(*task.Task) (*segedit.Editor, error) {
		var m *volume.Mask
		var err error
		if src.name != "empty" {
			m, err = src.build(vol)
		}
		var ed *segedit.Editor
		if err == nil {
			name := "edited"
			switch {
			case src.ref != nil:
				name = "reference"
			case src.Model != "":
				name = src.Model
			}
			srcName := name
			if src.name == "empty" {
				srcName = ""
			}
			var o segedit.Options
			o.Reference = ref
			if src.name == "empty" {
				o.Name = "drawn by hand"
			}
			ed, err = segedit.New(vol, m, srcName, o)
		}
		return ed, err
	}, func(ed *segedit.Editor, err error) {
		s.busy = false
		s.startBtn.Enable()
		if vol != u.vol {
			return // another study was opened meanwhile
		}
		if err != nil {
			u.seg.showSegError(fmt.Errorf("cannot edit %s: %w", src.Label, err), true)
		} else {
			u.installEditor(ed)
		}
		if s.onStarted != nil {
			s.onStarted(err)
		}
	})
}

// installEditor shows ed's mask and the edit tools.
func (u *UI) installEditor(ed *segedit.Editor) {
	s := &u.edit
	o, err := viewer.NewMaskOverlay(u.scene.Slicer(), ed.CanonicalMask(), styleFrom(true, true, 0.35, EditColor))
	if err != nil {
		u.seg.showSegError(err, true)
		return
	}
	s.ed, s.ovl, s.vol, s.path, s.stroke = ed, o, u.vol, nil, nil
	// The edited mask is drawn on top; the model's own overlay is hidden
	// (Show) so that the edit is what one sees; it stays comparable.
	if u.seg.show.Checked {
		u.seg.show.SetChecked(false)
	}
	s.tools.Show()
	if s.scroll != nil {
		// Bring the tools into view: the side panel scrolls.
		s.scroll.Refresh()
		s.scroll.ScrollToOffset(fyne.NewPos(0, s.box.Position().Y))
	}
	u.updateOverlays()
	u.applyTool()
	u.editChanged(false)
	u.setStatus("Editing " + ed.Name() + ": " + editHint)
}

const editHint = "left drag paints/erases · [ ] brush size · X paint/erase · Ctrl+Z / Ctrl+Shift+Z undo/redo"

// StopEdit leaves edit mode. With ask, unsaved edits are confirmed first.
func (u *UI) StopEdit(ask bool) {
	s := &u.edit
	if s.ed == nil {
		return
	}
	if ask && s.ed.Dirty() {
		u.ConfirmDiscardEdits("Stop editing", func() { u.StopEdit(false) })
		return
	}
	u.dropAutosave()
	u.resetEdit()
}

// resetEdit forgets the editor (another study was shown, or editing
// stopped).
func (u *UI) resetEdit() {
	s := &u.edit
	if s.stroke != nil {
		s.stroke.Cancel()
	}
	s.ed, s.ovl, s.vol, s.stroke, s.path = nil, nil, nil, nil, nil
	s.saveGen++
	s.saveWait.Cancel()
	for _, v := range u.views {
		v.EditMode, v.EditTrail = false, false
		v.SetBrushRadius(0)
	}
	if s.tools != nil {
		s.tools.Hide()
	}
	s.histItems = nil
	u.dropEditedCompare()
	u.updateOverlays()
	u.updateEditControls()
	u.plan.editedMaskChanged()
}

// dropEditedCompare takes the edited mask out of the comparison when
// editing ends.
func (u *UI) dropEditedCompare() {
	s, c := &u.edit, u.cmp
	name := s.cmpName
	s.cmpName = ""
	if name == "" || c.set == nil || c.area == nil {
		return
	}
	c.set.Remove(name)
	delete(c.models, name)
	delete(c.triOverlay, name)
	delete(c.sbsOverlay, name)
	if c.disPair[0] == name || c.disPair[1] == name {
		c.dis, c.disPair = nil, [2]string{}
	}
	c.rows = nil
	u.cmp.rebuildLegend()
	u.cmp.rebuildSideBySide()
	u.cmp.updatePairChoices()
	u.cmp.showMode()
	u.cmp.refreshTable()
}

// editOverlays is the edited mask's overlay for the scene (the hook in
// updateOverlays).
func (u *UI) editOverlays() []viewer.Overlay {
	if u.edit.ovl == nil {
		return nil
	}
	return []viewer.Overlay{u.edit.ovl}
}

// editVolumeShown is the hook at the end of ShowVolume: the old study's
// editor is gone; a recovery waiting for this study is installed.
func (u *UI) editVolumeShown(v *volume.Volume) {
	s := &u.edit
	u.resetEdit()
	s.study, s.fromUser = v.Info.Source, false
	// A folder with several series asks which to open: the recovery waits
	// for the series it was saved on.
	if r := s.recovery; r != nil && s.store != nil && (r.SeriesUID == "" || r.SeriesUID == v.Info.SeriesInstanceUID) {
		s.recovery = nil
		m, err := s.store.Load(*r)
		var ed *segedit.Editor
		if err == nil {
			ed, err = segedit.New(v, m, r.Source, segedit.Options{Name: r.Name + " (recovered)", Reference: u.seg.ref})
		}
		if err != nil {
			u.showError(r.Study, fmt.Errorf("the autosaved edit could not be recovered: %w", err))
			return
		}
		u.installEditor(ed)
		u.setStatus(fmt.Sprintf("Recovered %s (autosaved %s)", r.Name, r.Saved.Local().Format("2006-01-02 15:04:05")))
	}
	u.refreshEditSources()
}

// applyTool puts the views in the chosen tool's mode.
func (u *UI) applyTool() {
	s := &u.edit
	if s.radiusLbl != nil {
		s.radiusLbl.SetText(fmt.Sprintf("%4.1f mm", s.radius.Value))
	}
	editing := s.ed != nil
	tool := s.tool
	for t, b := range s.toolBtns {
		imp := widget.MediumImportance
		if t == tool {
			imp = widget.HighImportance
		}
		if b.Importance != imp {
			b.Importance = imp
			b.Refresh()
		}
	}
	for _, v := range u.views {
		v.EditMode = editing && tool != ToolCrosshair
		v.EditTrail = editing && tool == ToolScissors
		r := 0.0
		if editing && (tool == ToolPaint || tool == ToolErase) {
			r = s.radius.Value
		}
		v.SetBrushRadius(r)
	}
}

// SetTool selects an edit tool (one of the Tool constants).
func (u *UI) SetTool(t string) {
	u.edit.tool = t
	u.applyTool()
}

// Tool is the edit tool selected.
func (u *UI) Tool() string { return u.edit.tool }

// SetBrushRadius sets the brush radius in mm.
func (u *UI) SetBrushRadius(mm float64) { u.edit.radius.SetValue(mm) }

// editRune handles the edit keys when editing: [ and ] change the brush
// size, X toggles paint and erase.
func (u *UI) editRune(r rune) bool {
	s := &u.edit
	if s.ed == nil {
		return false
	}
	switch r {
	case '[':
		s.radius.SetValue(math.Max(s.radius.Min, brushStep(s.radius.Value, -1)))
	case ']':
		s.radius.SetValue(math.Min(s.radius.Max, brushStep(s.radius.Value, 1)))
	case 'x', 'X':
		if s.tool == ToolErase {
			u.SetTool(ToolPaint)
		} else {
			u.SetTool(ToolErase)
		}
	default:
		return false
	}
	return true
}

// brushStep is the next brush size: 0.5 mm steps below 5 mm, 1 mm to
// 20 mm, 2.5 mm above (fine control where it matters).
func brushStep(r float64, dir int) float64 {
	step := 0.5
	switch {
	case r > 20 || r == 20 && dir > 0:
		step = 2.5
	case r > 5 || r == 5 && dir > 0:
		step = 1
	}
	return math.Round((r+float64(dir)*step)/step) * step
}

// brush is the brush the controls describe for a view.
func (u *UI) brush(v *sliceview.SliceView) (segedit.Brush, error) {
	s := &u.edit
	b := segedit.Brush{RadiusMM: s.radius.Value, Sphere: s.sphere.Checked, Axis: v.Plane().NormalAxis()}
	if s.huOn.Checked {
		lo, err1 := strconv.Atoi(strings.TrimSpace(s.huLo.Text))
		hi, err2 := strconv.Atoi(strings.TrimSpace(s.huHi.Text))
		if err := errors.Join(err1, err2); err != nil || lo < math.MinInt16 || hi > math.MaxInt16 {
			return b, fmt.Errorf("HU range %q…%q: enter two whole numbers", s.huLo.Text, s.huHi.Text)
		}
		b.HU = &segedit.HURange{Lo: int16(lo), Hi: int16(hi)}
	}
	return b, b.Validate()
}

// onEdit receives the views' edit gestures.
func (u *UI) onEdit(v *sliceview.SliceView, phase sliceview.EditPhase, idx [3]float64) {
	s := &u.edit
	if s.ed == nil {
		return
	}
	if s.busy && s.stroke == nil {
		if phase == sliceview.EditBegin {
			u.editError(errors.New("wait for the operation in progress to finish"))
		}
		return
	}
	switch s.tool {
	case ToolPaint, ToolErase:
		switch phase {
		case sliceview.EditBegin:
			b, err := u.brush(v)
			if err != nil {
				u.editError(err)
				return
			}
			st, err := s.ed.BeginStroke(b, s.tool == ToolErase)
			if err != nil {
				u.editError(err)
				return
			}
			s.stroke = st
			st.To(idx)
			u.strokeRedraw()
		case sliceview.EditMove:
			if s.stroke != nil {
				s.stroke.To(idx)
				u.strokeRedraw()
			}
		case sliceview.EditEnd:
			if s.stroke != nil {
				st := s.stroke
				s.stroke = nil
				st.End()
				u.editChanged(true)
			}
		}
	case ToolKeepIsland, ToolRemoveIsland:
		if phase != sliceview.EditBegin {
			return
		}
		seed := [3]int{int(math.Round(idx[0])), int(math.Round(idx[1])), int(math.Round(idx[2]))}
		var err error
		if s.tool == ToolKeepIsland {
			_, err = s.ed.KeepIsland(seed)
		} else {
			_, err = s.ed.RemoveIsland(seed)
		}
		if errors.Is(err, segedit.ErrNoIsland) {
			err = errors.New("click inside the segmentation to choose an island")
		}
		u.editDone(err)
	case ToolRemoveLeak:
		if phase != sliceview.EditBegin {
			return
		}
		r, err := strconv.ParseFloat(strings.TrimSpace(s.neck.Text), 64)
		if err != nil {
			u.editError(fmt.Errorf("leak neck %q: enter millimetres", s.neck.Text))
			return
		}
		seed := [3]int{int(math.Round(idx[0])), int(math.Round(idx[1])), int(math.Round(idx[2]))}
		p, err := s.ed.PrepareRemoveLeak(seed, r)
		if errors.Is(err, segedit.ErrNoIsland) {
			err = errors.New("click inside the leak to remove it")
		}
		if err != nil {
			u.editError(err)
			return
		}
		u.runPending(p, "Removing the leak…")
	case ToolScissors:
		switch phase {
		case sliceview.EditBegin:
			s.path = [][3]float64{idx}
		case sliceview.EditMove:
			s.path = append(s.path, idx)
		case sliceview.EditEnd:
			pts := s.path
			s.path = nil
			if len(pts) < 2 {
				return // a click, not a line
			}
			sc := segedit.Scissors{Axis: v.Plane().NormalAxis(), Points: pts, Shape: segedit.ScissorsShape(s.shape.SelectedIndex())}
			if n, err := strconv.Atoi(strings.TrimSpace(s.slab.Text)); err == nil && n > 0 {
				c := v.Slice()
				sc.Slab = &[2]int{c - n, c + n}
			} else if err != nil {
				u.editError(fmt.Errorf("slab %q: enter a number of slices (0 = all)", s.slab.Text))
				return
			}
			_, err := s.ed.Scissors(sc)
			u.editDone(err)
		}
	}
}

// FillBetween fills the axial slices between those edited with the 2D
// brush on the axial view.
func (u *UI) FillBetween() {
	if u.edit.ed == nil || u.edit.busy {
		return
	}
	_, err := u.edit.ed.FillBetween(nil)
	u.editDone(err)
}

// SmoothEdit applies the chosen smoothing with the radius in mm. The
// distance transforms run in the background (up to a few seconds for a
// whole liver on a busy machine); editing waits meanwhile.
func (u *UI) SmoothEdit() {
	s := &u.edit
	if s.ed == nil || s.busy {
		return
	}
	r, err := strconv.ParseFloat(strings.TrimSpace(s.smoothR.Text), 64)
	if err != nil {
		u.editError(fmt.Errorf("smoothing radius %q: enter millimetres", s.smoothR.Text))
		return
	}
	p, err := s.ed.PrepareSmooth(segedit.SmoothKind(s.smoothSel.SelectedIndex()), r)
	if err != nil {
		u.editError(err)
		return
	}
	u.runPending(p, "Smoothing…")
}

// runPending computes p in the background (editing waits; the window does
// not) and records it as one step when done.
func (u *UI) runPending(p *segedit.Pending, what string) {
	s := &u.edit
	ed := s.ed
	s.busy = true
	s.smoothBtn.Disable()
	u.setStatus(what)
	task.Go(u.do, func(*task.Task) (struct{}, error) {
		p.Compute()
		return struct{}{}, nil
	}, func(_ struct{}, err error) {
		s.busy = false
		s.smoothBtn.Enable()
		if s.ed != ed {
			return // editing stopped or another study opened
		}
		if err == nil {
			_, err = p.Apply()
		}
		u.editDone(err)
		if err == nil {
			u.setStatus(strings.TrimSuffix(what, "…") + ": done.")
		}
		if s.onSmoothed != nil {
			s.onSmoothed(err)
		}
	})
}

// Undo and Redo step through the edit history (Ctrl+Z, Ctrl+Shift+Z).
func (u *UI) Undo() {
	if ed := u.edit.ed; ed != nil && ed.CanUndo() && !u.edit.busy {
		ed.Undo()
		u.editChanged(true)
	}
}

// Redo re-applies the last undone step.
func (u *UI) Redo() {
	if ed := u.edit.ed; ed != nil && ed.CanRedo() && !u.edit.busy {
		ed.Redo()
		u.editChanged(true)
	}
}

// GoToStep undoes or redoes until n steps of the history are applied
// (a click in the history list).
func (u *UI) GoToStep(n int) {
	ed := u.edit.ed
	if ed == nil || u.edit.busy {
		return
	}
	for ed.Position() > n && ed.CanUndo() {
		ed.Undo()
	}
	for ed.Position() < n && ed.CanRedo() {
		ed.Redo()
	}
	u.editChanged(true)
}

func (u *UI) editDone(err error) {
	if err != nil {
		u.editError(err)
		return
	}
	u.editChanged(true)
}

func (u *UI) editError(err error) {
	u.edit.msg.SetText(err.Error())
	u.edit.msg.Show()
	u.setStatus("Edit: " + err.Error())
}

// editRedraw redraws the edited mask on the three views (a stroke in
// progress).
func (u *UI) editRedraw() {
	if u.edit.ovl != nil && u.scene != nil {
		u.edit.ovl.Changed()
		u.scene.OverlaysChanged()
	}
	u.showEditFigures()
}

// strokeRedraw redraws, during a stroke, only the views whose slice holds
// voxels the stroke just changed (a 2D stroke on the axial view leaves the
// coronal and sagittal layers alone unless the crosshair crosses it).
func (u *UI) strokeRedraw() {
	s := &u.edit
	if s.stroke == nil || s.ovl == nil || u.scene == nil {
		return
	}
	b := s.stroke.Dirty()
	if !b.Empty() {
		s.ovl.ChangedIn(b.Min, b.Max)
		for _, v := range u.views {
			if n, k := v.Plane().NormalAxis(), v.Slice(); k >= b.Min[n] && k < b.Max[n] {
				v.OverlaysChanged()
			}
		}
	}
	u.showEditFigures()
}

// editChanged follows a finished step: redraw, figures, history, buttons
// and the autosave.
func (u *UI) editChanged(stepped bool) {
	s := &u.edit
	s.msg.Hide()
	u.editRedraw()
	if s.ed != nil {
		s.histItems, _, _ = s.ed.History()
	}
	s.hist.Refresh()
	if n := len(s.histItems); n > 0 {
		s.hist.ScrollToBottom()
	}
	u.updateEditControls()
	if stepped {
		u.scheduleAutosave()
	}
	u.plan.editedMaskChanged()
}

// showEditFigures writes the live volume and Dice.
func (u *UI) showEditFigures() {
	s := &u.edit
	ed := s.ed
	if ed == nil {
		return
	}
	if ref := u.seg.ref; ref != nil && ed.Reference() == nil {
		_ = ed.SetReference(ref) // loaded after editing began
	}
	st := ed.Stats()
	dirty := ""
	if ed.Dirty() {
		dirty = " •"
	}
	s.title.SetText(ed.Name() + dirty)
	parts := []string{fmt.Sprintf("Volume %.1f mL", st.VolumeML)}
	if !math.IsNaN(st.DiceSource) {
		parts = append(parts, fmt.Sprintf("Dice vs %s %.4f", ed.Source(), st.DiceSource))
	}
	if !math.IsNaN(st.DiceRef) {
		parts = append(parts, fmt.Sprintf("vs reference %.4f", st.DiceRef))
	}
	s.figures.SetText(strings.Join(parts, " · "))
}

// EditFigures is the live figures line (for tests).
func (u *UI) EditFigures() string { return u.edit.figures.Text }

func (u *UI) updateEditControls() {
	s := &u.edit
	if s.undoBtn == nil {
		return
	}
	ed := s.ed
	set := func(b *widget.Button, on bool) {
		if on {
			b.Enable()
		} else {
			b.Disable()
		}
	}
	set(s.undoBtn, ed != nil && ed.CanUndo())
	set(s.redoBtn, ed != nil && ed.CanRedo())
	set(s.startBtn, u.vol != nil && !s.busy)
}

// ConfirmDiscardEdits runs then at once when there are no unsaved edits;
// otherwise it asks first (what: the action that would lose them) and
// runs then only when the user agrees. A study's autosave is dropped with
// its discarded edits.
func (u *UI) ConfirmDiscardEdits(what string, then func()) {
	ed := u.edit.ed
	if ed == nil || !ed.Dirty() {
		then()
		return
	}
	steps, _, _ := ed.History()
	msg := fmt.Sprintf("%q has %d edit steps that were not exported.\n%s and discard them?", ed.Name(), len(steps), what)
	d := dialog.NewConfirm("Unsaved edits", msg, func(ok bool) {
		if ok {
			u.dropAutosave()
			u.resetEdit()
			then()
		}
	}, u.win)
	d.SetConfirmText("Discard edits")
	d.SetDismissText("Keep editing")
	d.Show()
}

// scheduleAutosave writes the edited mask to the cache autosaveDelay after
// the last step (in the background, from a copy).
func (u *UI) scheduleAutosave() {
	s := &u.edit
	if s.store == nil || s.ed == nil {
		return
	}
	s.saveGen++
	gen := s.saveGen
	task.After(&s.saveWait, u.do, autosaveDelay, func() { u.autosaveNow(gen) })
}

// autosaveNow copies the mask (on the UI goroutine) and writes it in the
// background.
func (u *UI) autosaveNow(gen int) {
	s := &u.edit
	if gen != s.saveGen || s.ed == nil || s.stroke != nil {
		return
	}
	ed := s.ed
	if !ed.Dirty() {
		u.dropAutosave()
		return
	}
	st := ed.Stats()
	steps, _, _ := ed.History()
	rec := u.autosaveRecord()
	rec.Name, rec.Source, rec.Saved, rec.Steps, rec.VolumeML = ed.Name(), ed.Source(), time.Now().UTC(), len(steps), st.VolumeML
	m := ed.Mask()
	store := *s.store
	task.Go(u.do, func(*task.Task) (struct{}, error) {
		return struct{}{}, store.Save(rec, m)
	}, func(_ struct{}, err error) {
		if err != nil {
			u.setStatus("Autosave failed: " + err.Error())
		}
		if s.onAutosave != nil {
			s.onAutosave(err)
		}
	})
}

// AutosaveNow writes the autosave at once (tests, and before quitting).
func (u *UI) AutosaveNow() { u.edit.saveGen++; u.autosaveNow(u.edit.saveGen) }

func (u *UI) autosaveRecord() segedit.Record {
	r := segedit.Record{Study: u.edit.study}
	if v := u.edit.vol; v != nil {
		r.SeriesUID = v.Info.SeriesInstanceUID
	}
	return r
}

// dropAutosave removes the open study's autosave (edits kept or
// discarded).
func (u *UI) dropAutosave() {
	s := &u.edit
	s.saveGen++
	s.saveWait.Cancel()
	if s.store != nil && s.vol != nil {
		_ = s.store.Remove(u.autosaveRecord())
	}
}

// editExported is called after the edited mask was exported: the edits
// are kept, so nothing is lost on closing and the autosave goes.
func (u *UI) editExported() {
	if ed := u.edit.ed; ed != nil {
		ed.MarkSaved()
		u.dropAutosave()
		u.showEditFigures()
	}
}

// OfferRecovery looks for autosaved edits left by a run that ended without
// saving them and offers to reopen the newest (called at start-up).
// It reports whether a question was shown.
func (u *UI) OfferRecovery() bool {
	s := &u.edit
	if s.store == nil {
		return false
	}
	recs, err := s.store.List()
	if err != nil {
		u.setStatus(err.Error())
	}
	if len(recs) == 0 {
		return false
	}
	r := recs[0]
	msg := fmt.Sprintf("LiverSeg closed with unsaved edits:\n%q (%d steps, %.1f mL)\nof %s\nautosaved %s.\n\nRecover them (the study is opened again)?",
		r.Name, r.Steps, r.VolumeML, r.Study, r.Saved.Local().Format("2006-01-02 15:04:05"))
	d := dialog.NewConfirm("Recover edits", msg, func(ok bool) {
		if !ok {
			_ = s.store.Remove(r)
			return
		}
		s.recovery = &r
		u.Open(r.Study)
	}, u.win)
	d.SetConfirmText("Recover")
	d.SetDismissText("Discard")
	d.Show()
	return true
}

// editExportSource is the edited mask as an export choice (nil when not
// editing).
func (u *UI) editExportSource() []maskSource {
	ed := u.edit.ed
	if ed == nil || u.edit.vol != u.vol {
		return nil
	}
	steps, _, _ := ed.History()
	from := ed.Source()
	if from == "" {
		from = "nothing (drawn by hand)"
	}
	note := fmt.Sprintf("whole volume; %d edit steps from %s", ed.Position(), from)
	if len(steps) > ed.Position() {
		note += fmt.Sprintf(" (%d undone)", len(steps)-ed.Position())
	}
	return []maskSource{{Label: ed.Name() + " (edited by hand)", Model: fileSafe(ed.Name()), edited: ed, mask: ed.Mask(), editNote: note}}
}

// quitItem replaces Fyne's own Quit so that unsaved edits are asked
// about first.
func (u *UI) quitItem() *fyne.MenuItem {
	it := fyne.NewMenuItem("Quit", func() { u.ConfirmDiscardEdits("Quit", u.app.Quit) })
	it.IsQuit = true
	return it
}

// editMenu is the window's Edit menu.
func (u *UI) editMenu() *fyne.Menu {
	return fyne.NewMenu("Edit",
		fyne.NewMenuItem("Edit segmentation", func() { u.StartEdit(u.edit.from.SelectedIndex()) }),
		fyne.NewMenuItem("Undo (Ctrl+Z)", u.Undo),
		fyne.NewMenuItem("Redo (Ctrl+Shift+Z)", u.Redo),
		fyne.NewMenuItem("Fill between slices", u.FillBetween),
		fyne.NewMenuItem("Stop editing", func() { u.StopEdit(true) }),
	)
}

// syncEditedCompare puts the edited mask, as it is now, in the comparison
// (a first-class result beside the models: overlay, side by side,
// disagreement, table), or takes a stale one out (hook in Compare).
func (u *UI) syncEditedCompare() {
	s, c := &u.edit, u.cmp
	if c.set == nil {
		return
	}
	ed := s.ed
	if s.cmpName != "" && (ed == nil || ed.Name() != s.cmpName) {
		c.set.Remove(s.cmpName)
		delete(c.models, s.cmpName)
		s.cmpName = ""
		c.rows = nil
	}
	if ed == nil || s.vol != c.set.Study() {
		return
	}
	m := ed.Mask()
	// No network ran: its times are undefined ("—" in the table), and it
	// stays out of the speed chart (timedRows).
	c.set.Put(&comparison.Entry{Name: ed.Name(), Role: "edited by hand", Mask: m, VolumeML: m.VolumeML(), InferMS: math.NaN(), TotalMS: math.NaN()})
	s.cmpName = ed.Name()
	c.rows = nil // re-measure: the mask may have changed since the last Compare
}

// editedCompareModels is the edited mask's display in the comparison.
func (u *UI) editedCompareModels() []*cmpModel {
	if m, ok := u.cmp.models[u.edit.cmpName]; ok && u.edit.cmpName != "" {
		return []*cmpModel{m}
	}
	return nil
}

// timedRows are the rows of results a network produced (the chart plots
// Dice against network time).
func timedRows(rows []comparison.Row) []comparison.Row {
	out := make([]comparison.Row, 0, len(rows))
	for _, r := range rows {
		if !math.IsNaN(r.InferMS) {
			out = append(out, r)
		}
	}
	return out
}
