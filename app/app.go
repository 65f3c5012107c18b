// Package app is LiverSeg's desktop window: a toolbar, the linked axial,
// coronal and sagittal views, a segmentation panel, a study/warnings panel
// and a status line, plus the dialogs that open studies (progress with
// Cancel, series picker, errors). main.go calls Main.
//
// Segmentation: when a study opens, the student model runs in the
// background (inference.Registry.Run without the full-resolution mask) and
// its low-resolution probability map is shown as a contour overlay on the
// three views (viewer.ProbOverlay). The threshold slider re-contours that
// map at once; the liver volume and the full-resolution mask follow on a
// background goroutine, latest threshold winning. Any model of the models
// folder can be run or cancelled, restricted to a box drawn on a view, and
// a reference mask can be shown beside it with its Dice. Failures (no
// runtime, a damaged model) are reported in the panel and the status line;
// the viewer keeps working without segmentation.
//
// The File menu exports any model's mask or the reference as DICOM SEG or
// NIfTI (export.go), saves a report (report.go) and opens the settings;
// a DICOM SEG can be shown as the reference; preferences persist between
// runs (prefs.go).
package app

import (
	"errors"
	"fmt"
	"math"
	"os"
	"strings"
	"time"

	"fyne.io/fyne/v2"
	fyneapp "fyne.io/fyne/v2/app"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/layout"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/liverseg/liverseg/dicomio/dicomseg"
	"github.com/liverseg/liverseg/inference"
	"github.com/liverseg/liverseg/nifti"
	"github.com/liverseg/liverseg/viewer"
	"github.com/liverseg/liverseg/viewer/sliceview"
	"github.com/liverseg/liverseg/volume"
)

// AppID is the Fyne application ID (as in FyneApp.toml).
const AppID = "io.github.liverseg.liverseg"

// Main runs the GUI for `liverseg [PATH]`: args are the command-line
// arguments after the program name (none, or one DICOM folder/file or NIfTI
// file). It blocks until the window closes and returns the exit status.
func Main(args []string) int {
	if len(args) > 1 || (len(args) == 1 && strings.HasPrefix(args[0], "-")) {
		fmt.Fprintf(os.Stderr, "liverseg: unexpected arguments %q\nusage: liverseg [PATH]   (a DICOM folder or file, or a NIfTI file)\n", args)
		return 2
	}
	if os.Getenv("DISPLAY") == "" && os.Getenv("WAYLAND_DISPLAY") == "" {
		// Without this check GLFW panics with a stack trace.
		fmt.Fprintln(os.Stderr, "liverseg: no display to open the window on (DISPLAY and WAYLAND_DISPLAY are unset); run it in a desktop session, or see `liverseg --help` for the command-line tools")
		return 2
	}
	path := ""
	if len(args) == 1 {
		path = args[0]
		if _, err := os.Stat(path); err != nil {
			fmt.Fprintf(os.Stderr, "liverseg: %v\n", err)
			return 2
		}
	}
	Run(path)
	return 0
}

// Run opens the main window, starts loading path when it is not empty, and
// blocks until the window is closed.
func Run(path string) {
	quietFyneLog()
	a := fyneapp.NewWithID(AppID)
	st := openSettings(a)
	defer st.Flush()
	u := newWithSettings(a, st)
	if dir, err := inference.FindModelsDir(); err != nil {
		u.seg.regErr = err
		u.seg.showSegError(fmt.Errorf("segmentation is unavailable: %w; the viewer works without it", err), false)
	} else {
		u.seg.UseModels(dir) // a failure is shown in the panel
	}
	u.win.Show()
	if path != "" {
		u.rememberOpenDir(path)
		u.Open(path)
	} else {
		u.OpenDemo()
	}
	u.OfferRecovery()
	a.Run()
}

// UI is the main window and its state.
type UI struct {
	app fyne.App
	win fyne.Window

	views  [3]*sliceview.SliceView
	active *sliceview.SliceView
	scene  *viewer.Scene
	vol    *volume.Volume // as loaded (original index order)

	empty, viewerArea *fyne.Container
	presets           *widget.Select
	settingPreset     bool
	wlLabel           *widget.Label
	wlDrag            *widget.Check
	status            *widget.Label
	cursorInfo        *widget.Label
	banner            *fyne.Container
	bannerText        *widget.Label
	infoText          *widget.Label
	warnText          *widget.Label

	load     loadState
	seg      *segController
	exp      exportState
	rep      reportState
	settings settingsState
	cmp      *cmpController
	wl       wlState
	shown    shownState // a series shown while it loads (progressive.go)
	edit     editState
	plan     *planUI         // the 3D view and resection plan (plan.go)
	pacs     *pacsController // File → PACS (pacs.go); nil until first used
}

const customPreset = "Custom"

// New builds the main window of a (possibly test) Fyne app, empty.
func New(a fyne.App) *UI { return newWithSettings(a, nil) }

// newWithSettings is New with the preferences kept in st (nil: the app's).
func newWithSettings(a fyne.App, st settings) *UI {
	u := &UI{app: a, win: a.NewWindow("LiverSeg")}
	u.settings.store = st
	u.win.Resize(fyne.NewSize(1400, 900))
	// The features' controllers build their own controls, which the
	// window then places; they exist before anything calls into them.
	u.cmp = newCmpController(u)
	u.seg = newSegController(u)

	for n, p := range viewer.Planes {
		v := sliceview.New(p)
		v.OnHover = u.hover
		v.OnFocus = func(v *sliceview.SliceView) { u.active = v }
		v.OnBox = u.seg.onBox
		u.views[n] = v
	}
	u.active = u.views[0]

	// Toolbar.
	openDir := widget.NewButtonWithIcon("Open folder…", theme.FolderOpenIcon(), u.chooseFolder)
	openFile := widget.NewButtonWithIcon("Open file…", theme.FileIcon(), u.chooseFile)
	u.presets = widget.NewSelect(u.windowLabels(), u.presetChosen)
	u.presets.PlaceHolder = "Window preset"
	u.wlLabel = widget.NewLabel("")
	u.wlLabel.TextStyle.Monospace = true
	u.wlDrag = widget.NewCheck("W/L drag", func(on bool) {
		for _, v := range u.views {
			v.WindowDrag = on
		}
	})
	zoomIn := widget.NewButtonWithIcon("", theme.ZoomInIcon(), func() { u.active.TypedRune('+') })
	zoomOut := widget.NewButtonWithIcon("", theme.ZoomOutIcon(), func() { u.active.TypedRune('-') })
	reset := widget.NewButtonWithIcon("Reset view", theme.ViewRestoreIcon(), u.ResetView)
	toolbar := container.NewHBox(openDir, openFile, widget.NewSeparator(),
		widget.NewLabel("Window"), container.NewGridWrap(fyne.NewSize(265, u.presets.MinSize().Height), u.presets), widestText(u.wlLabel, "W 65536 L -32768"), u.wlDrag, widget.NewSeparator(),
		zoomIn, zoomOut, reset)

	u.bannerText = widget.NewLabel("")
	u.bannerText.Wrapping = fyne.TextWrapWord
	u.bannerText.Importance = widget.WarningImportance
	u.banner = container.NewBorder(nil, nil, widget.NewIcon(theme.WarningIcon()), nil, u.bannerText)
	u.banner.Hide()

	// Study panel (fourth cell of the grid).
	u.infoText = widget.NewLabel("")
	u.infoText.Wrapping = fyne.TextWrapWord
	u.warnText = widget.NewLabel("")
	u.warnText.Wrapping = fyne.TextWrapWord
	u.warnText.Importance = widget.WarningImportance
	help := widget.NewLabel(helpText)
	help.Wrapping = fyne.TextWrapWord
	panel := container.NewVScroll(container.NewVBox(
		u.seg.panel, widget.NewSeparator(),
		u.editPanel(), widget.NewSeparator(),
		widget.NewLabelWithStyle("Study", fyne.TextAlignLeading, fyne.TextStyle{Bold: true}),
		u.infoText, u.warnText, widget.NewSeparator(), help))
	u.edit.scroll = panel
	u.loadPrefs()
	u.bindPrefs()

	u.plan = newPlanUI(u)
	grid := container.NewGridWithRows(2,
		container.NewGridWithColumns(2, u.views[0], u.views[1]),
		container.NewGridWithColumns(2, u.views[2], sideTabs(panel, u.plan.Content())))
	u.viewerArea = container.NewStack(grid)
	u.viewerArea.Hide()
	u.empty = u.emptyState()

	u.status = widget.NewLabel("")
	u.status.TextStyle.Monospace = true
	u.status.Truncation = fyne.TextTruncateEllipsis
	u.cursorInfo = widget.NewLabel("")
	u.cursorInfo.TextStyle.Monospace = true
	statusBar := container.NewBorder(nil, nil, nil, container.NewHBox(u.seg.diceStatus, u.cursorInfo), u.status)

	u.win.SetContent(container.NewBorder(
		container.NewVBox(toolbar, u.loadStrip(), u.banner), statusBar, nil, nil,
		container.NewStack(u.empty, u.viewerArea)))

	// Keys reach the last used view even before any view has focus.
	u.win.Canvas().SetOnTypedKey(func(ev *fyne.KeyEvent) { u.active.TypedKey(ev) })
	u.win.Canvas().SetOnTypedRune(func(r rune) { u.active.TypedRune(r) })
	u.win.SetOnDropped(u.dropped)
	u.win.SetMainMenu(u.mainMenu())
	u.editSetup()
	u.setStatus("Open a DICOM folder or file, or a NIfTI file (.nii, .nii.gz), or drop one on this window.")
	u.win.SetOnClosed(func() {
		u.seg.stopWorker()
		u.seg.run.Cancel()
	})
	return u
}

// mainMenu is the window's menu bar: File holds opening, export, the
// report and the settings (Fyne adds Quit).
func (u *UI) mainMenu() *fyne.MainMenu {
	file := fyne.NewMenu("File",
		fyne.NewMenuItem("Open folder…", u.chooseFolder),
		fyne.NewMenuItem("Open file…", u.chooseFile),
		fyne.NewMenuItem("Reference mask or DICOM SEG…", u.chooseReference),
		fyne.NewMenuItemSeparator(),
		fyne.NewMenuItem("Export segmentation…", u.ShowExport),
		fyne.NewMenuItem("Save report…", u.ShowReport),
		fyne.NewMenuItem("Compare models…", u.cmp.Compare),
		fyne.NewMenuItem("Export comparison…", u.cmp.chooseCompareExport),
		fyne.NewMenuItemSeparator(),
		fyne.NewMenuItem("Find on PACS…", u.ShowPACSFind),
		fyne.NewMenuItem("Send to PACS…", u.ShowPACSSend),
		fyne.NewMenuItem("PACS servers…", u.ShowPACSServers),
		fyne.NewMenuItemSeparator(),
		fyne.NewMenuItem("Settings…", u.ShowSettings),
	)
	file.Items = append(file.Items, fyne.NewMenuItemSeparator(), u.quitItem())
	return fyne.NewMainMenu(file, u.editMenu())
}

// dropped opens files and folders dropped on the window (several DICOM
// files dropped together are scanned as one set); see openOrOverlay.
func (u *UI) dropped(_ fyne.Position, uris []fyne.URI) {
	paths := make([]string, 0, len(uris))
	for _, uri := range uris {
		if uri.Scheme() == "file" {
			paths = append(paths, uri.Path())
		}
	}
	u.openOrOverlay(paths)
}

// openOrOverlay opens paths as a study, except one DICOM Segmentation file,
// which is not an image: it is shown over the open study as its reference
// (or, with no study open, the user is told to open its CT first). Both the
// drop target and File → Open file… go through here.
func (u *UI) openOrOverlay(paths []string) {
	if len(paths) == 0 {
		return
	}
	if len(paths) == 1 && !nifti.IsNIfTI(paths[0]) && dicomseg.IsSEG(paths[0]) {
		if u.vol == nil {
			u.showError(paths[0], errors.New("this is a DICOM Segmentation (SEG), not an image: open its CT first, then open or drop the SEG to show it over the CT"))
			return
		}
		u.LoadReference(paths[0])
		return
	}
	u.rememberOpenDir(paths[0])
	u.Open(paths...)
}

const helpText = `Segmentation: the student runs when a study opens; pick another model and Run, or Cancel. Compare models runs all four and shows them as outlines, side by side or as a disagreement map, with a metrics table and a chart. The threshold slider re-contours the kept probability map without re-running. Box: drag a rectangle on a view to segment only that region (the third axis comes from a box drawn on another view, else the whole extent).
Mouse: wheel = slice · click/drag = crosshair (all views follow) · right drag or ctrl+drag = window/level (→ wider, ↓ higher level) · middle or shift+drag = pan · ctrl+wheel = zoom.
Keys (view under focus): Page Up/Down, ↑/↓ = slice · Home/End = first/last · + / − = zoom · 0 = reset.
Edit (Edit segmentation in this panel, or the Edit menu): start from any model, the reference or nothing; tools Crosshair · Paint · Erase · Keep/Remove island (click) · Remove leak (click a leak joined by a thin neck) · Scissors (drag a line: cut along it, or erase inside/outside, through all slices or ± a slab) · Fill between slices (axial slices painted with the 2D brush) · Smooth. Keys: [ / ] = brush size · X = paint/erase · Ctrl+Z = undo · Ctrl+Shift+Z or Ctrl+Y = redo. The brush radius is in mm (circle around the pointer); "3D" paints a sphere; "Only HU" limits paint and erase to an intensity range.
Slices step towards S, P and L (index +1). Views are radiological: patient right on screen left.`

func (u *UI) emptyState() *fyne.Container {
	title := canvas.NewText("LiverSeg", theme.Color(theme.ColorNameForeground))
	title.TextSize = 32
	title.TextStyle.Bold = true
	msg := widget.NewLabel("Open a CT study: a DICOM folder (searched recursively), a DICOM file, or a NIfTI file (.nii, .nii.gz).\nYou can also drop it on this window.")
	msg.Alignment = fyne.TextAlignCenter
	btns := container.NewHBox(layout.NewSpacer(),
		widget.NewButtonWithIcon("Open folder…", theme.FolderOpenIcon(), u.chooseFolder),
		widget.NewButtonWithIcon("Open file…", theme.FileIcon(), u.chooseFile),
		widget.NewButtonWithIcon("Demo study", theme.MediaPlayIcon(), u.OpenDemo),
		layout.NewSpacer())
	return container.NewCenter(container.NewVBox(container.NewCenter(title), msg, btns))
}

// Window is the main window.
func (u *UI) Window() fyne.Window { return u.win }

// Views are the axial, coronal and sagittal views.
func (u *UI) Views() [3]*sliceview.SliceView { return u.views }

// Scene is the scene shown, or nil before a volume is open.
func (u *UI) Scene() *viewer.Scene { return u.scene }

// ShowVolume displays v in the three views, replacing what was shown. It
// must run on the Fyne goroutine.
func (u *UI) ShowVolume(v *volume.Volume) error {
	if err := u.showVolume(v, nil); err != nil {
		return err
	}
	u.seg.shownAt = time.Now()
	u.autoRun()
	return nil
}

// showVolume shows v, which may still be loading (avail: see
// progressive.go), without segmenting it.
func (u *UI) showVolume(v *volume.Volume, avail viewer.Availability) error {
	s, err := viewer.NewSlicer(v)
	if err != nil {
		return err
	}
	s.SetAvailability(avail)
	wl := u.initialWindow() // the preset chosen in an earlier run
	if u.scene != nil {
		wl = u.scene.Window() // keep the reader's window across studies
	}
	u.seg.resetSegmentation()
	u.vol = v
	u.scene = viewer.NewScene(s)
	u.scene.SetWindow(wl)
	u.scene.Listen(func(c viewer.Change) {
		if c&viewer.ChangeWindow != 0 {
			u.showWindow()
		}
		if c&viewer.ChangeCursor != 0 {
			u.showCursor()
		}
	})
	for _, view := range u.views {
		view.SetScene(u.scene)
	}
	u.plan.studyChanged()
	u.empty.Hide()
	u.viewerArea.Show()
	u.showInfo()
	u.showWindow()
	u.showCursor()
	title := "LiverSeg"
	if d := strings.Join(nonEmpty(v.Info.PatientName, v.Info.SeriesDescription), " — "); d != "" {
		title += " — " + d
	}
	u.win.SetTitle(title)
	u.setStatus("Opened " + v.Info.Source)
	u.editVolumeShown(v)
	return nil
}

// SetWindow changes the window/level of the shown volume.
func (u *UI) SetWindow(wl viewer.WindowLevel) {
	if u.scene != nil {
		u.scene.SetWindow(wl)
	}
}

// ResetView restores zoom and pan in all three views.
func (u *UI) ResetView() {
	for _, v := range u.views {
		v.ResetView()
	}
}

func (u *UI) presetChosen(name string) { u.chooseWindow(name) }

// showWindow updates the W/L label and the preset shown.
func (u *UI) showWindow() {
	wl := u.scene.Window()
	u.windowChanged(wl)
	u.wlLabel.SetText(wl.String())
	sel := u.selectedWindow(wl)
	u.settingPreset = true
	if sel == "" {
		u.presets.ClearSelected()
		u.presets.PlaceHolder = "Custom"
		u.presets.Refresh()
	} else {
		u.presets.SetSelected(sel)
	}
	u.settingPreset = false
}

// showCursor writes the crosshair's voxel in the right half of the status line.
func (u *UI) showCursor() {
	c := u.scene.Cursor()
	r := u.scene.ReadAt([3]float64{float64(c[0]), float64(c[1]), float64(c[2])})
	parts := make([]string, 0, 4)
	for _, v := range u.views {
		_, _, n := u.scene.Slicer().Dims(v.Plane())
		parts = append(parts, fmt.Sprintf("%s %d/%d", v.Plane().String()[:3], v.Slice()+1, n))
	}
	u.cursorInfo.SetText(fmt.Sprintf("Crosshair %s HU  |  %s", fmtHU(r), strings.Join(parts, "  ")))
}

// hover writes the voxel under the pointer in the status line.
func (u *UI) hover(v *sliceview.SliceView, r viewer.Readout, inside bool) {
	if !inside {
		u.setStatus(fmt.Sprintf("%s  %s", v.Plane(), v.Label()))
		return
	}
	u.setStatus(fmt.Sprintf("%s %s  |  HU %s  |  LPS (%.1f, %.1f, %.1f) mm  |  voxel %s",
		v.Plane(), v.Label(), fmtHU(r), r.Patient[0], r.Patient[1], r.Patient[2], u.fileIndex(r.Patient)))
}

func fmtHU(r viewer.Readout) string {
	if !r.Inside {
		return "–"
	}
	return fmt.Sprintf("%d", r.HU)
}

// fileIndex is the voxel index in the volume's own (file) order, which is
// what other tools show, rather than the canonical display order.
func (u *UI) fileIndex(p [3]float64) string {
	f := u.vol.PatientToIndex(p)
	return fmt.Sprintf("(%d, %d, %d)", int(math.Round(f[0])), int(math.Round(f[1])), int(math.Round(f[2])))
}

func (u *UI) setStatus(s string) { u.status.SetText(s) }

// showInfo fills the study panel and the warnings banner.
func (u *UI) showInfo() {
	v, in := u.vol, u.vol.Info
	date := in.StudyDate
	if len(date) == 8 {
		date = date[:4] + "-" + date[4:6] + "-" + date[6:]
	}
	lines := []string{
		"Patient: " + orDash(in.PatientName) + "   ID: " + orDash(in.PatientID),
		"Study: " + orDash(date) + "  " + in.StudyDescription,
		"Series: " + orDash(in.SeriesDescription) + "   Modality: " + orDash(in.Modality),
		fmt.Sprintf("Grid: %d × %d × %d voxels, %.3g × %.3g × %.3g mm", v.Size[0], v.Size[1], v.Size[2], v.Spacing[0], v.Spacing[1], v.Spacing[2]),
		"Orientation (index axes): " + v.NearestOrientation().Code(),
		"Source: " + in.Source,
	}
	u.infoText.SetText(strings.Join(lines, "\n"))
	warns := append([]string(nil), in.Warnings...)
	if n := u.scene.Slicer().Note(); n != "" {
		warns = append(warns, n)
	}
	if len(warns) == 0 {
		u.warnText.SetText("")
		u.warnText.Hide()
		u.banner.Hide()
		return
	}
	u.warnText.SetText("Warnings:\n• " + strings.Join(warns, "\n• "))
	u.warnText.Show()
	b := warns[0]
	if len(warns) > 1 {
		b += fmt.Sprintf("  (+%d more in the study panel)", len(warns)-1)
	}
	u.bannerText.SetText(b)
	u.banner.Show()
}

func orDash(s string) string {
	if s == "" {
		return "–"
	}
	return s
}

func nonEmpty(ss ...string) []string {
	var out []string
	for _, s := range ss {
		if strings.TrimSpace(s) != "" {
			out = append(out, strings.TrimSpace(s))
		}
	}
	return out
}

// do runs fn on the UI (main) goroutine, later: every widget update from a
// background goroutine goes through it. It is fyne.Do, which queues fn for
// the main thread; see uiDo.
func (u *UI) do(fn func()) { uiDo(u, fn) }

// uiDo is what UI.do calls. The tests replace it with a queue that the
// test goroutine, playing the main thread, runs while it waits: Fyne's test
// driver runs fyne.Do at once on the calling goroutine instead, which would
// let background goroutines update widgets concurrently with the test.
var uiDo = func(_ *UI, fn func()) { fyne.Do(fn) }

// sideTabs puts the controls and the 3D view in one grid cell. The tabs sit
// on the cell's left edge: a tab bar on top would take the height the
// segmentation panel needs to show everything at 1400×900 without
// scrolling.
func sideTabs(controls, plan fyne.CanvasObject) *container.AppTabs {
	t := container.NewAppTabs(container.NewTabItem("Tools", controls), container.NewTabItem("3D", plan))
	t.SetTabLocation(container.TabLocationLeading)
	return t
}
