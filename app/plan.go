package app

// The 3D view and the resection plan (issue 17): the "3D" tab beside
// the segmentation panel. The controller planUI owns the surfaces, the plan
// and its volumetry; app.go only creates it (u.plan), puts its content in
// the fourth cell and calls studyChanged / liverMaskChanged, and the 2D
// views draw its overlay.

import (
	"fmt"
	"image/color"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/liverseg/liverseg/internal/task"
	"github.com/liverseg/liverseg/render3d"
	"github.com/liverseg/liverseg/resection"
	"github.com/liverseg/liverseg/surface"
	"github.com/liverseg/liverseg/viewer"
	"github.com/liverseg/liverseg/viewer/sliceview"
	"github.com/liverseg/liverseg/volume"
)

// LiverMaskProvider offers a liver mask the plan can use, on the displayed
// (canonical) grid, or nil when it has none now. The model's result and
// the reference are built in; another feature (an edited mask) registers
// its own with RegisterLiverMask.
type LiverMaskProvider struct {
	Name string
	Mask func(u *UI) *volume.Mask
}

var liverMaskProviders = []LiverMaskProvider{
	{"Model result", func(u *UI) *volume.Mask {
		if u.seg.res == nil || u.seg.res.Mask == nil {
			return nil
		}
		return u.seg.res.Mask // file order; canonicalised by the plan
	}},
	{"Reference", func(u *UI) *volume.Mask { return u.seg.ref }},
	{editedMaskSource, func(u *UI) *volume.Mask { return u.EditedMask() }},
}

// editedMaskSource names the mask being edited (edit.go) in the 3D view's
// picker.
const editedMaskSource = "Edited segmentation"

// editedMaskChanged rebuilds the surfaces after an edit step when the 3D
// view shows the edited mask (picked, or as the other mask).
func (p *planUI) editedMaskChanged() {
	if p == nil || p.sourceSel == nil {
		return
	}
	if p.sourceSel.Selected == editedMaskSource || p.otherChk.Checked {
		p.liverMaskChanged()
	}
}

// RegisterLiverMask adds a source of liver masks for the 3D view and the
// plan (call it from an init function).
func RegisterLiverMask(p LiverMaskProvider) { liverMaskProviders = append(liverMaskProviders, p) }

// Colours of the 3D view: the liver in Slicer's liver colour (the
// remnant), the resected part blue, the other mask translucent green.
var (
	colRemnant  = color.NRGBA{221, 130, 101, 255}
	colResected = color.NRGBA{86, 146, 230, 255}
	colOther    = color.NRGBA{80, 200, 120, 255}
	colLesion   = color.NRGBA{240, 220, 60, 255}
	colCut      = color.NRGBA{250, 250, 250, 255}
	colCursor   = color.NRGBA{255, 255, 0, 255}
)

// planUI is the 3D view and resection-plan controller.
type planUI struct {
	u     *UI
	view  *view3D
	win3D *view3D // the 3D window's view, nil while closed

	// The surfaces (set on the Fyne goroutine).
	maskGen     int       // bumped per mask and study: volumetry of an older mask is dropped
	surf        task.Slot // building the surfaces of the chosen mask
	lesionRead  task.Slot // reading a lesion mask: the newer file wins
	source      string
	liverCanon  *volume.Mask
	mesh        *surface.Mesh // display detail
	normals     [][3]float32
	coarse      *surface.Mesh // while turning
	coarseN     [][3]float32
	colors      []color.NRGBA // per display vertex: remnant/resected
	coarseCol   []color.NRGBA
	other       *surface.Mesh
	otherN      [][3]float32
	lesion      *volume.Mask // canonical
	lesionName  string
	lesionMesh  *surface.Mesh
	lesionN     [][3]float32
	liver       *resection.Liver
	surfaceTime time.Duration

	plan         resection.Plan
	sel          int     // selected cut
	shiftApplied float64 // mm the shift slider has moved the selected cut
	selCP        [2]int  // selected control point
	vols         *resection.Volumes
	margin       *resection.Margin

	// The background volumetry: latest plan wins.
	mu      sync.Mutex
	pending *planJob
	busy    bool

	// Widgets.
	content     fyne.CanvasObject
	newCutBtn   *widget.Button
	threeBtn    *widget.Button  // a plane through three crosshair positions
	marks       []resection.Vec // the positions marked so far
	form        *widget.Form    // refreshed so its labels follow the sliders' enabled state
	sourceSel   *widget.Select
	otherChk    *widget.Check
	cutSel      *widget.Select
	combineSel  *widget.Select
	azimuth     *widget.Slider
	elevation   *widget.Slider
	shift       *widget.Slider
	cpSel       *widget.Select
	cpOffset    *widget.Slider
	bendChk     *widget.Check
	height      *widget.Entry
	weight      *widget.Entry
	minSel      *widget.Select
	minMargin   *widget.Entry
	results     *widget.Label
	marker      *canvas.Rectangle
	markerText  *widget.Label
	info        *widget.Label
	lesionLabel *widget.Label
	setting     bool   // widgets being set from the plan: ignore their callbacks
	onUpdated   func() // test hook: volumes shown
}

type planJob struct {
	plan  resection.Plan
	liver *resection.Liver
	mesh  *surface.Mesh
	gen   int
}

func newPlanUI(u *UI) *planUI {
	p := &planUI{u: u, selCP: [2]int{1, 1}}
	p.view = newView3D(p)
	p.build()
	return p
}

// Content is the tab's content.
func (p *planUI) Content() fyne.CanvasObject { return p.content }

// views are the 3D views: the tab's and the window's when open.
func (p *planUI) views() []*view3D {
	if p.win3D != nil {
		return []*view3D{p.view, p.win3D}
	}
	return []*view3D{p.view}
}

// refresh3D redraws the 3D views.
func (p *planUI) refresh3D() {
	for _, v := range p.views() {
		v.raster.Refresh()
	}
}

// viewButtons are the A P L R S I and reset buttons of a 3D view.
func viewButtons(v *view3D) *fyne.Container {
	row := container.NewHBox()
	for d := render3d.Anterior; d <= render3d.Inferior; d++ {
		d := d
		row.Add(widget.NewButton(d.Letter(), func() { v.SetView(d) }))
	}
	row.Add(widget.NewButtonWithIcon("", theme.ViewRestoreIcon(), v.Reset))
	return row
}

// openWindow shows a large 3D view in its own window (same plan, own
// camera).
func (p *planUI) openWindow() {
	if p.win3D != nil {
		return
	}
	p.u.win.SetMaster() // closing the main window quits, this one too
	v := newView3D(p)
	w := p.u.app.NewWindow("LiverSeg — 3D view and resection plan")
	w.SetContent(container.NewBorder(viewButtons(v), nil, nil, nil, v))
	w.Resize(fyne.NewSize(900, 760))
	w.SetOnClosed(func() { p.win3D = nil })
	p.win3D = v
	w.Show()
}

func (p *planUI) build() {
	// Setting the widgets' first values fires their callbacks: ignore them
	// until everything exists.
	p.setting = true
	views := viewButtons(p.view)
	views.Add(widget.NewButtonWithIcon("", theme.ViewFullScreenIcon(), p.openWindow))
	p.info = widget.NewLabel("No surface yet: segment the liver or load a reference.")
	p.info.Wrapping = fyne.TextWrapWord
	left := container.NewBorder(views, p.info, nil, nil, p.view)

	names := make([]string, len(liverMaskProviders))
	for i, m := range liverMaskProviders {
		names[i] = m.Name
	}
	p.sourceSel = widget.NewSelect(names, func(string) {
		if !p.setting {
			p.liverMaskChanged()
		}
	})
	p.sourceSel.SetSelectedIndex(0)
	p.otherChk = widget.NewCheck("Other mask (green)", func(bool) { p.liverMaskChanged() })

	p.cutSel = widget.NewSelect(nil, func(s string) {
		if p.setting {
			return
		}
		if n, err := strconv.Atoi(strings.TrimPrefix(s, "Cut ")); err == nil && n >= 1 && n <= len(p.plan.Cuts) {
			p.sel = n - 1
			p.showCut()
			p.redraw()
		}
	})
	newCut := widget.NewButtonWithIcon("Plane at crosshair", theme.ContentAddIcon(), p.addCutAtCrosshair)
	p.newCutBtn = newCut
	delCut := widget.NewButtonWithIcon("", theme.DeleteIcon(), p.removeCut)
	p.threeBtn = widget.NewButton("Point 1 of 3", p.markPoint)
	p.combineSel = widget.NewSelect([]string{"any: separate resections", "all: one piece"}, func(s string) {
		if p.setting {
			return
		}
		p.plan.Combine = resection.Any
		if strings.HasPrefix(s, "all") {
			p.plan.Combine = resection.All
		}
		p.changed()
	})
	p.combineSel.SetSelectedIndex(0)
	p.azimuth = widget.NewSlider(-180, 180)
	p.azimuth.Step = 1
	p.elevation = widget.NewSlider(-89, 89)
	p.elevation.Step = 1
	p.shift = widget.NewSlider(-100, 100)
	p.shift.Step = 0.5
	orient := func(float64) { p.orientationChanged() }
	p.azimuth.OnChanged, p.elevation.OnChanged, p.shift.OnChanged = orient, orient, orient

	var cps []string
	for i := 0; i < resection.Grid; i++ {
		for j := 0; j < resection.Grid; j++ {
			cps = append(cps, fmt.Sprintf("%d,%d", i+1, j+1))
		}
	}
	p.cpSel = widget.NewSelect(cps, func(s string) {
		if p.setting {
			return
		}
		var i, j int
		if _, err := fmt.Sscanf(s, "%d,%d", &i, &j); err == nil {
			p.selCP = [2]int{i - 1, j - 1}
			p.showCut()
			p.redraw()
		}
	})
	p.cpOffset = widget.NewSlider(-80, 80)
	p.cpOffset.Step = 0.5
	p.cpOffset.OnChanged = func(x float64) {
		if p.setting || len(p.plan.Cuts) == 0 {
			return
		}
		p.plan.Cuts[p.sel].Offsets[p.selCP[0]][p.selCP[1]] = x
		p.changed()
	}
	flatten := widget.NewButton("Flatten", func() {
		if len(p.plan.Cuts) > 0 {
			p.plan.Cuts[p.sel].Offsets = [resection.Grid][resection.Grid]float64{}
			p.showCut()
			p.changed()
		}
	})
	p.bendChk = widget.NewCheck("Bend with the mouse", nil)

	p.lesionLabel = widget.NewLabel("No lesion.")
	p.lesionLabel.Wrapping = fyne.TextWrapWord
	lesionBtn := widget.NewButton("Lesion mask…", p.chooseLesion)
	p.minMargin = widget.NewEntry()
	p.minMargin.SetText(fmt.Sprint(resection.DefaultMinMarginMM))
	p.minMargin.OnChanged = func(string) { p.showResults() }

	p.height = widget.NewEntry()
	p.height.SetPlaceHolder("cm")
	p.weight = widget.NewEntry()
	p.weight.SetPlaceHolder("kg")
	p.height.OnChanged = func(string) { p.showResults() }
	p.weight.OnChanged = func(string) { p.showResults() }
	var mins []string
	for _, t := range resection.Thresholds {
		mins = append(mins, fmt.Sprintf("%.0f %% %s", t.Percent, shortLiver[t.Percent]))
	}
	p.minSel = widget.NewSelect(mins, func(string) {
		if !p.setting {
			p.showResults()
		}
	})
	p.minSel.SetSelectedIndex(1)

	p.results = widget.NewLabel("")
	p.results.TextStyle.Monospace = true
	p.results.Wrapping = fyne.TextWrapWord
	p.marker = canvas.NewRectangle(color.NRGBA{90, 90, 90, 255})
	p.marker.SetMinSize(fyne.NewSize(28, 28))
	p.marker.CornerRadius = 4
	p.markerText = widget.NewLabelWithStyle("FLR: no plan yet", fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
	p.markerText.Wrapping = fyne.TextWrapWord

	save := widget.NewButtonWithIcon("Save…", theme.DocumentSaveIcon(), p.chooseSave)
	load := widget.NewButtonWithIcon("Load…", theme.FolderOpenIcon(), p.chooseLoad)
	export := widget.NewButtonWithIcon("Export…", theme.UploadIcon(), p.chooseExport)

	bold := func(s string) *widget.Label {
		return widget.NewLabelWithStyle(s, fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
	}
	form := widget.NewForm(
		widget.NewFormItem("Liver", p.sourceSel),
		widget.NewFormItem("Cut", container.NewBorder(nil, nil, nil, delCut, p.cutSel)),
		widget.NewFormItem("", container.NewHBox(newCut, p.threeBtn)),
		widget.NewFormItem("Cuts", p.combineSel),
		widget.NewFormItem("Azimuth °", p.azimuth),
		widget.NewFormItem("Elevation °", p.elevation),
		widget.NewFormItem("Shift mm", p.shift),
		widget.NewFormItem("Point", container.NewBorder(nil, nil, nil, flatten, p.cpSel)),
		widget.NewFormItem("Offset mm", p.cpOffset),
		widget.NewFormItem("cm / kg", container.NewGridWithColumns(2, p.height, p.weight)),
		widget.NewFormItem("Min FLR", p.minSel),
		widget.NewFormItem("Margin mm", p.minMargin),
	)
	conv := widget.NewLabel("Patient LPS mm. A cut's normal (azimuth from L towards P, elevation towards S; 180°/0° = towards the patient's right) points into the resected part (blue); the remnant is the side it points away from. Bend: drag the cut's line in a 2D view, or a control point in 3D.")
	conv.Wrapping = fyne.TextWrapWord
	right := container.NewVScroll(container.NewVBox(
		bold("Resection plan"), form, container.NewHBox(p.bendChk, p.otherChk),
		container.NewBorder(nil, nil, lesionBtn, nil, p.lesionLabel),
		widget.NewSeparator(),
		container.NewBorder(nil, nil, p.marker, nil, p.markerText),
		p.results,
		container.NewHBox(save, load, export),
		conv,
	))
	split := container.NewHSplit(left, right)
	split.Offset = 0.55
	p.content = split
	p.form = form
	p.setting = false
	p.showCut()
}

// studyChanged forgets the surfaces and the plan of the previous study and
// follows the new scene's crosshair.
func (p *planUI) studyChanged() {
	p.maskGen++
	p.surf.Cancel()
	p.liverCanon, p.mesh, p.coarse, p.other, p.liver = nil, nil, nil, nil, nil
	p.lesion, p.lesionMesh, p.lesionName = nil, nil, ""
	p.lesionLabel.SetText("No lesion.")
	p.plan = resection.Plan{Combine: resection.Any}
	p.sel, p.vols, p.margin = 0, nil, nil
	for _, v := range p.views() {
		v.camOK = false
	}
	p.showCut()
	p.showResults()
	p.info.SetText("No surface yet: segment the liver or load a reference.")
	p.u.scene.Listen(func(c viewer.Change) {
		if c&viewer.ChangeCursor != 0 {
			p.refresh3D()
		}
	})
	for _, v := range p.u.views {
		v.DragHook = p.dragHook
	}
	p.refresh3D()
}

// liverMaskChanged rebuilds the surfaces from the chosen mask in the
// background (a new model result, a threshold, a reference).
func (p *planUI) liverMaskChanged() {
	if p.u.vol == nil || p.u.scene == nil {
		return
	}
	p.maskGen++
	idx := max(p.sourceSel.SelectedIndex(), 0)
	src := liverMaskProviders[idx]
	m := src.Mask(p.u)
	var other *volume.Mask
	if p.otherChk.Checked {
		for i, o := range liverMaskProviders {
			if i != idx {
				if om := o.Mask(p.u); om != nil {
					other = om
					break
				}
			}
		}
	}
	if m == nil {
		p.info.SetText(fmt.Sprintf("%s: none yet.", src.Name))
		return
	}
	disp := p.u.scene.Slicer().Volume().Geometry
	// What follows the surface shown first: the turning mesh, the
	// liver for the volumetry and the other mask.
	type surfaces struct {
		coarse     *surface.Mesh
		cn, on     [][3]float32
		liver      *resection.Liver
		om         *surface.Mesh
		liverError error
	}
	task.Start(&p.surf, p.u.do, func(t *task.Task) (surfaces, error) {
		t0 := time.Now()
		c := canonicalOn(m, disp)
		mesh, err := surface.Extract(c, surface.Options{Smooth: -1, Factor: [3]int{2, 2, 1}})
		took := time.Since(t0)
		if err != nil {
			return surfaces{}, err
		}
		mn := mesh.Normals()
		// Show the surface at once; the turning mesh, the volumetry and the
		// other mask follow.
		t.Post(func() {
			p.source, p.liverCanon = src.Name, c
			p.mesh, p.normals, p.coarse, p.coarseN = mesh, mn, nil, nil
			p.liver, p.vols, p.margin = nil, nil, nil
			p.surfaceTime = took
			p.info.SetText(fmt.Sprintf("%s: %.1f mL, surface of %d triangles ready in %.2f s. Drag = turn, wheel = zoom, click = crosshair.",
				src.Name, c.VolumeML(), len(mesh.Triangles), took.Seconds()))
			p.refresh3D()
		})
		coarse, _ := surface.Extract(c, surface.Options{Smooth: -1, Factor: [3]int{4, 4, 2}})
		var cn [][3]float32
		if coarse != nil {
			cn = coarse.Normals()
		}
		liver, lerr := resection.NewLiver(c, nil)
		var om *surface.Mesh
		var on [][3]float32
		if other != nil {
			if om, _ = surface.Extract(canonicalOn(other, disp), surface.Options{Smooth: -1, Factor: [3]int{2, 2, 1}}); om != nil {
				on = om.Normals()
			}
		}
		return surfaces{coarse: coarse, cn: cn, liver: liver, om: om, on: on, liverError: lerr}, nil
	}, func(r surfaces, err error) {
		if err == nil {
			err = r.liverError
		}
		if err != nil {
			p.info.SetText(fmt.Sprintf("%s: %v", src.Name, err))
			return
		}
		p.coarse, p.coarseN = r.coarse, r.cn
		p.other, p.otherN = r.om, r.on
		p.liver = r.liver
		if p.lesion != nil {
			p.setLesion(p.lesion, p.lesionName)
		}
		p.changed()
	})
}

// canonicalOn returns m in canonical order, with the display grid's exact
// positions when it lies on the same voxels.
func canonicalOn(m *volume.Mask, disp volume.Geometry) *volume.Mask {
	c := m.Canonical()
	if c.SameGrid(disp) {
		return &volume.Mask{Geometry: disp, Voxels: c.Voxels}
	}
	return c
}

// addCutAtCrosshair adds a plane through the crosshair, its normal towards
// the patient's right (a right hemihepatectomy's usual start).
func (p *planUI) addCutAtCrosshair() {
	if p.u.scene == nil {
		return
	}
	c, _ := resection.NewPlane(p.crosshair(), resection.Vec{-1, 0, 0})
	c.Name = fmt.Sprintf("cut %d", len(p.plan.Cuts)+1)
	p.plan.Cuts = append(p.plan.Cuts, c)
	p.sel = len(p.plan.Cuts) - 1
	p.showCut()
	p.changed()
}

// markPoint records the crosshair as one of three points; the third makes
// a plane through them (normal by the right-hand rule, flipped if needed
// so that it points towards the patient's right like a new plane's).
func (p *planUI) markPoint() {
	if p.u.scene == nil {
		return
	}
	p.marks = append(p.marks, p.crosshair())
	if len(p.marks) < 3 {
		p.threeBtn.SetText(fmt.Sprintf("Point %d of 3", len(p.marks)+1))
		p.u.setStatus(fmt.Sprintf("Plane point %d marked at the crosshair; move the crosshair and mark the next.", len(p.marks)))
		return
	}
	c, err := resection.PlaneFromPoints(p.marks[0], p.marks[1], p.marks[2])
	p.marks = nil
	p.threeBtn.SetText("Point 1 of 3")
	if err != nil {
		p.u.setStatus("No plane: " + err.Error())
		return
	}
	if c.Normal[0] > 0 {
		c.Normal = resection.Vec{-c.Normal[0], -c.Normal[1], -c.Normal[2]}
	}
	c.Name = fmt.Sprintf("cut %d", len(p.plan.Cuts)+1)
	p.plan.Cuts = append(p.plan.Cuts, c)
	p.sel = len(p.plan.Cuts) - 1
	p.showCut()
	p.changed()
	p.u.setStatus("Plane through the three marked points added.")
}

func (p *planUI) removeCut() {
	if len(p.plan.Cuts) == 0 {
		return
	}
	p.plan.Cuts = append(p.plan.Cuts[:p.sel], p.plan.Cuts[p.sel+1:]...)
	p.sel = max(0, min(p.sel, len(p.plan.Cuts)-1))
	p.showCut()
	p.changed()
}

// crosshair is the crosshair's position in LPS mm.
func (p *planUI) crosshair() resection.Vec {
	c := p.u.scene.Cursor()
	return p.u.scene.Slicer().Patient([3]float64{float64(c[0]), float64(c[1]), float64(c[2])})
}

// moveCrosshair puts the crosshair at the voxel nearest to the LPS point.
func (p *planUI) moveCrosshair(at resection.Vec) {
	if p.u.scene == nil {
		return
	}
	f := p.u.scene.Slicer().Volume().PatientToIndex(at)
	if idx, ok := p.u.scene.Slicer().RoundIndex(f); ok {
		p.u.scene.SetCursor(idx)
	}
}

// showCut sets the cut widgets from the plan.
func (p *planUI) showCut() {
	if p.setting {
		return // called back from a widget being set below
	}
	p.setting = true
	defer func() { p.setting = false }()
	var names []string
	for i := range p.plan.Cuts {
		names = append(names, fmt.Sprintf("Cut %d", i+1))
	}
	p.cutSel.Options = names
	if len(p.plan.Cuts) == 0 {
		p.cutSel.ClearSelected()
		p.cutSel.PlaceHolder = "no cut: add a plane"
		p.cutSel.Refresh()
		for _, s := range []*widget.Slider{p.azimuth, p.elevation, p.shift, p.cpOffset} {
			s.Disable()
		}
		if p.form != nil {
			p.form.Refresh()
		}
		return
	}
	for _, s := range []*widget.Slider{p.azimuth, p.elevation, p.shift, p.cpOffset} {
		s.Enable()
	}
	if p.form != nil {
		p.form.Refresh()
	}
	p.cutSel.SetSelected(names[p.sel])
	c := p.plan.Cuts[p.sel]
	az := math.Atan2(c.Normal[1], c.Normal[0]) * 180 / math.Pi
	el := math.Asin(math.Max(-1, math.Min(1, c.Normal[2]))) * 180 / math.Pi
	p.azimuth.SetValue(math.Round(az))
	p.elevation.SetValue(math.Round(el))
	p.shift.SetValue(0)
	p.shiftApplied = 0
	p.cpSel.SetSelected(fmt.Sprintf("%d,%d", p.selCP[0]+1, p.selCP[1]+1))
	p.cpOffset.SetValue(c.Offsets[p.selCP[0]][p.selCP[1]])
	if p.plan.Combine == resection.All {
		p.combineSel.SetSelectedIndex(1)
	} else {
		p.combineSel.SetSelectedIndex(0)
	}
}

// orientationChanged applies the sliders to the selected cut: the normal
// from azimuth/elevation (LPS: azimuth from +x (left) towards +y
// (posterior), elevation towards +z (superior)) and a shift of the origin
// along it.
func (p *planUI) orientationChanged() {
	if p.setting || len(p.plan.Cuts) == 0 {
		return
	}
	c := &p.plan.Cuts[p.sel]
	az, el := p.azimuth.Value*math.Pi/180, p.elevation.Value*math.Pi/180
	n := resection.Vec{math.Cos(el) * math.Cos(az), math.Cos(el) * math.Sin(az), math.Sin(el)}
	// The shift slider is relative to the plane as selected (showCut sets
	// it to 0).
	d := p.shift.Value - p.shiftApplied
	c.Origin = resection.Vec{c.Origin[0] + d*n[0], c.Origin[1] + d*n[1], c.Origin[2] + d*n[2]}
	c.Normal = n
	p.shiftApplied = p.shift.Value
	p.changed()
}

// bending reports whether mouse drags bend the selected cut.
func (p *planUI) bending() bool { return p.bendChk.Checked && len(p.plan.Cuts) > 0 }

func (p *planUI) selectedNormal() [3]float64 {
	if len(p.plan.Cuts) == 0 {
		return [3]float64{}
	}
	return p.plan.Cuts[p.sel].Normal
}

// controlPointAt is the selected cut's control point drawn within 14
// pixels of (x, y) in the 3D view, or (-1,-1).
func (p *planUI) controlPointAt(cam render3d.Camera, w, h int, x, y float64) [2]int {
	best, bd := [2]int{-1, -1}, 14.0
	if len(p.plan.Cuts) == 0 {
		return best
	}
	c := p.plan.Cuts[p.sel]
	for i := 0; i < resection.Grid; i++ {
		for j := 0; j < resection.Grid; j++ {
			sx, sy, _ := cam.Project(c.ControlPoint(i, j), w, h)
			if d := math.Hypot(sx-x, sy-y); d < bd {
				best, bd = [2]int{i, j}, d
			}
		}
	}
	if best[0] >= 0 {
		p.selCP = best
		p.showCut()
	}
	return best
}

// nudgeControlPoint moves control point cp of the selected cut by mm along
// the normal.
func (p *planUI) nudgeControlPoint(cp [2]int, mm float64) {
	c := &p.plan.Cuts[p.sel]
	c.Offsets[cp[0]][cp[1]] += mm
	p.selCP = cp
	p.setting = true
	p.cpOffset.SetValue(c.Offsets[cp[0]][cp[1]])
	p.setting = false
	p.changed()
}

// dragHook bends the selected cut from a 2D view: a drag that starts
// within a few millimetres of the cut's line pulls the control point that
// weighs most there along the normal, following the pointer.
func (p *planUI) dragHook(v *sliceview.SliceView, at [3]float64, start, end bool) bool {
	if !p.bending() || p.u.scene == nil {
		return false
	}
	if end {
		return true
	}
	pt := p.u.scene.Slicer().Patient(at)
	c := &p.plan.Cuts[p.sel]
	if start {
		if math.Abs(c.Side(pt)) > 4 { // mm: not on the cut
			return false
		}
		u, vv := c.Basis()
		d := [3]float64{pt[0] - c.Origin[0], pt[1] - c.Origin[1], pt[2] - c.Origin[2]}
		gu := (dot3(d, u)/c.HalfSize + 1) / 2 * (resection.Grid - 1)
		gv := (dot3(d, vv)/c.HalfSize + 1) / 2 * (resection.Grid - 1)
		p.selCP = [2]int{clampInt(int(math.Round(gu)), 0, resection.Grid-1), clampInt(int(math.Round(gv)), 0, resection.Grid-1)}
		p.showCut()
		return true
	}
	// Move the control point by the surface's distance from the pointer.
	if s := c.Side(pt); !math.IsNaN(s) {
		p.nudgeControlPoint(p.selCP, s*0.5) // half a step per event: smooth, no overshoot
	}
	return true
}

func clampInt(x, lo, hi int) int { return max(lo, min(hi, x)) }

// changed starts the volumetry of the current plan and redraws.
func (p *planUI) changed() {
	p.redraw()
	if p.liver == nil || len(p.plan.Cuts) == 0 {
		p.vols, p.margin = nil, nil
		p.colors, p.coarseCol = nil, nil
		p.showResults()
		return
	}
	job := &planJob{plan: clonePlan(p.plan), liver: p.liver, mesh: p.mesh, gen: p.maskGen}
	p.mu.Lock()
	p.pending = job
	if p.busy {
		p.mu.Unlock()
		return
	}
	p.busy = true
	p.mu.Unlock()
	task.Go(p.u.do, func(*task.Task) (struct{}, error) {
		p.worker()
		return struct{}{}, nil
	}, func(_ struct{}, err error) {
		if err != nil { // a panic: the next change starts a new worker
			p.mu.Lock()
			p.busy, p.pending = false, nil
			p.mu.Unlock()
			p.results.SetText("Error: " + err.Error())
		}
	})
}

func clonePlan(pl resection.Plan) resection.Plan {
	return resection.Plan{Combine: pl.Combine, Cuts: append([]resection.Cut(nil), pl.Cuts...)}
}

// worker evaluates plans until none is pending.
func (p *planUI) worker() {
	for {
		p.mu.Lock()
		job := p.pending
		p.pending = nil
		if job == nil {
			p.busy = false
			p.mu.Unlock()
			return
		}
		p.mu.Unlock()
		vols, err := job.liver.Evaluate(job.plan)
		var margin *resection.Margin
		if err == nil {
			if m, ok := job.liver.Margin(job.plan, vols); ok {
				margin = &m
			}
		}
		colors := vertexColors(job.mesh, job.plan)
		var coarseCol []color.NRGBA
		p.u.do(func() {
			if job.gen != p.maskGen {
				return
			}
			if err != nil {
				p.results.SetText("Error: " + err.Error())
				return
			}
			p.vols, p.margin, p.colors = &vols, margin, colors
			if p.coarse != nil {
				coarseCol = vertexColors(p.coarse, job.plan)
			}
			p.coarseCol = coarseCol
			p.showResults()
			p.refresh3D()
			if p.onUpdated != nil {
				p.onUpdated()
			}
		})
	}
}

// vertexColors colours each vertex by the part it falls in.
func vertexColors(m *surface.Mesh, pl resection.Plan) []color.NRGBA {
	if m == nil {
		return nil
	}
	out := make([]color.NRGBA, len(m.Vertices))
	for i, v := range m.Vertices {
		if pl.Resected(resection.Vec{float64(v[0]), float64(v[1]), float64(v[2])}) {
			out[i] = colResected
		} else {
			out[i] = colRemnant
		}
	}
	return out
}

// redraw refreshes the 3D view and the 2D views' plan overlay.
func (p *planUI) redraw() {
	p.refresh3D()
	if p.u.scene != nil {
		p.u.updateOverlays() // adds or drops the plan's overlay and redraws
	}
}

// minFLR is the chosen minimum FLR %.
func (p *planUI) minFLR() float64 {
	i := p.minSel.SelectedIndex()
	if i < 0 {
		return resection.DefaultThreshold
	}
	return resection.Thresholds[i].Percent
}

// showResults writes the volumes, the FLR against the minimum (the
// coloured marker), BSA/SLV with the formulas and the margin.
func (p *planUI) showResults() {
	if p.vols == nil {
		p.marker.FillColor = color.NRGBA{90, 90, 90, 255}
		p.marker.Refresh()
		if len(p.plan.Cuts) == 0 {
			p.markerText.SetText("FLR: no plan yet. Put the crosshair where the cut should pass and press 'Plane at crosshair'.")
		} else {
			p.markerText.SetText("FLR: waiting for the liver surface…")
		}
		p.results.SetText("")
		return
	}
	v := *p.vols
	ok, verdict := resection.Verdict(v.FLRPercent, p.minFLR())
	p.marker.FillColor = color.NRGBA{40, 170, 80, 255}
	if !ok {
		p.marker.FillColor = color.NRGBA{220, 50, 40, 255}
	}
	p.marker.Refresh()
	p.markerText.SetText("FLR " + verdict)
	p.results.SetText(strings.Join(p.resultLines(), "\n"))
}

// resultLines are the plan's figures as the panel and the report show them.
func (p *planUI) resultLines() []string {
	v := *p.vols
	lines := []string{
		fmt.Sprintf("Total liver   %8.1f mL  (%s)", v.TotalML, p.source),
	}
	if p.lesion != nil {
		lines = append(lines, fmt.Sprintf("Lesion        %8.1f mL  (%.1f mL resected; excluded from the FLR)", v.LesionML, v.LesionResectedML))
	}
	lines = append(lines,
		fmt.Sprintf("Resected      %8.1f mL", v.ResectedML),
		fmt.Sprintf("Remnant (FLR) %8.1f mL", v.RemnantML),
		fmt.Sprintf("FLR           %8.1f %% of the total liver volume", v.FLRPercent))
	h, errH := strconv.ParseFloat(strings.TrimSpace(p.height.Text), 64)
	w, errW := strconv.ParseFloat(strings.TrimSpace(p.weight.Text), 64)
	if errH == nil && errW == nil {
		if b, err := resection.BodyFigures(h, w, v.RemnantML); err == nil {
			_, vs := resection.Verdict(b.FLRSLVPercent, p.minFLR())
			lines = append(lines,
				fmt.Sprintf("BSA           %8.2f m²   %s", b.BSA, resection.BSAFormula),
				fmt.Sprintf("SLV           %8.1f mL  %s", b.SLVML, resection.SLVFormula),
				fmt.Sprintf("FLR / SLV     %8.1f %%: %s", b.FLRSLVPercent, vs))
		} else {
			lines = append(lines, "BSA/SLV: "+err.Error())
		}
	} else if strings.TrimSpace(p.height.Text+p.weight.Text) != "" {
		lines = append(lines, "BSA/SLV: enter height (cm) and weight (kg) as numbers")
	}
	if m := p.margin; m != nil {
		minM, err := strconv.ParseFloat(strings.TrimSpace(p.minMargin.Text), 64)
		if err != nil {
			minM = resection.DefaultMinMarginMM
		}
		switch {
		case m.Crosses:
			lines = append(lines, "Margin        0 mm: a cut runs THROUGH the lesion")
		case math.IsInf(m.MinMM, 1):
			lines = append(lines, "Margin        no cut runs through the liver")
		case m.MinMM < minM:
			lines = append(lines, fmt.Sprintf("Margin        %.1f mm (cut %d): BELOW the %.0f mm minimum", m.MinMM, m.Cut+1, minM))
		default:
			lines = append(lines, fmt.Sprintf("Margin        %.1f mm (cut %d) ≥ %.0f mm", m.MinMM, m.Cut+1, minM))
		}
		if m.InRemnant {
			lines = append(lines, "Warning: the lesion lies wholly in the remnant: this plan does not remove it.")
		}
	}
	return lines
}

// scene3D lists what the 3D view draws: the liver coloured by the plan,
// the other mask, the lesion, the cutting surfaces and the markers.
func (p *planUI) scene3D(turning bool) ([]render3d.Layer, []render3d.Marker) {
	var layers []render3d.Layer
	if p.mesh == nil {
		return nil, nil
	}
	liver := render3d.Layer{Mesh: p.mesh, Normals: p.normals, Color: colRemnant}
	if len(p.colors) == len(p.mesh.Vertices) {
		liver.Colors = p.colors
	}
	if turning && p.coarse != nil {
		liver = render3d.Layer{Mesh: p.coarse, Normals: p.coarseN, Color: colRemnant}
		if len(p.coarseCol) == len(p.coarse.Vertices) {
			liver.Colors = p.coarseCol
		}
	}
	if p.lesionMesh != nil {
		layers = append(layers, render3d.Layer{Mesh: p.lesionMesh, Normals: p.lesionN, Color: colLesion})
		liver.Alpha = 0.55 // the lesion inside must show
	}
	layers = append(layers, liver)
	if p.other != nil && !turning {
		layers = append(layers, render3d.Layer{Mesh: p.other, Normals: p.otherN, Color: colOther, Alpha: 0.35})
	}
	var markers []render3d.Marker
	lo, hi := p.mesh.Bounds()
	for i, c := range p.plan.Cuts {
		if m := cutMesh(c, lo, hi); m != nil {
			l := render3d.Layer{Mesh: m, Color: colCut, Alpha: 0.3, TwoSided: true}
			if p.liver != nil && p.liver.HasLesion() {
				l.Colors, l.Alpha = p.marginColors(m), 0.5
			}
			layers = append(layers, l)
		}
		if i == p.sel {
			for a := 0; a < resection.Grid; a++ {
				for b := 0; b < resection.Grid; b++ {
					col := color.NRGBA{120, 220, 255, 255}
					if [2]int{a, b} == p.selCP {
						col = color.NRGBA{255, 80, 200, 255}
					}
					markers = append(markers, render3d.Marker{At: c.ControlPoint(a, b), Radius: 5, Color: col})
				}
			}
		}
	}
	if p.margin != nil && p.margin.Cut >= 0 && !math.IsInf(p.margin.MinMM, 1) {
		markers = append(markers, render3d.Marker{At: p.margin.At, Radius: 6, Color: colLesion, Ring: true})
	}
	if p.u.scene != nil {
		markers = append(markers, render3d.Marker{At: p.crosshair(), Radius: 5, Color: colCursor})
	}
	return layers, markers
}

// cutMesh is the cut's surface as a grid of triangles, clipped to the
// liver's box grown by 10 mm.
func cutMesh(c resection.Cut, lo, hi [3]float64) *surface.Mesh {
	const n = 40
	m := &surface.Mesh{}
	idx := make([]int32, (n+1)*(n+1))
	for i := 0; i <= n; i++ {
		for j := 0; j <= n; j++ {
			u := -c.HalfSize + 2*c.HalfSize*float64(i)/n
			v := -c.HalfSize + 2*c.HalfSize*float64(j)/n
			q := c.At(u, v)
			in := true
			for a := 0; a < 3; a++ {
				in = in && q[a] >= lo[a]-10 && q[a] <= hi[a]+10
			}
			idx[i*(n+1)+j] = -1
			if in {
				idx[i*(n+1)+j] = int32(len(m.Vertices))
				m.Vertices = append(m.Vertices, [3]float32{float32(q[0]), float32(q[1]), float32(q[2])})
			}
		}
	}
	for i := 0; i < n; i++ {
		for j := 0; j < n; j++ {
			a, b, cc, d := idx[i*(n+1)+j], idx[(i+1)*(n+1)+j], idx[(i+1)*(n+1)+j+1], idx[i*(n+1)+j+1]
			if a < 0 || b < 0 || cc < 0 || d < 0 {
				continue
			}
			m.Triangles = append(m.Triangles, [3]uint32{uint32(a), uint32(b), uint32(cc)}, [3]uint32{uint32(a), uint32(cc), uint32(d)})
		}
	}
	if len(m.Triangles) == 0 {
		return nil
	}
	return m
}

// shortLiver labels the thresholds in the picker.
var shortLiver = map[float64]string{20: "normal", 25: "normal (cautious)", 30: "chemotherapy", 40: "cirrhosis"}

// marginColors colours a cutting surface by its distance to the lesion:
// red under the minimum margin, orange under twice it, green beyond.
func (p *planUI) marginColors(m *surface.Mesh) []color.NRGBA {
	minM, err := strconv.ParseFloat(strings.TrimSpace(p.minMargin.Text), 64)
	if err != nil || minM <= 0 {
		minM = resection.DefaultMinMarginMM
	}
	out := make([]color.NRGBA, len(m.Vertices))
	for i, v := range m.Vertices {
		d := p.liver.LesionDistance(resection.Vec{float64(v[0]), float64(v[1]), float64(v[2])})
		switch {
		case d < minM:
			out[i] = color.NRGBA{235, 60, 50, 255}
		case d < 2*minM:
			out[i] = color.NRGBA{245, 170, 40, 255}
		default:
			out[i] = color.NRGBA{90, 200, 110, 255}
		}
	}
	return out
}

// hasCuts reports whether the plan has a cut to draw on the 2D views.
func (p *planUI) hasCuts() bool { return p != nil && len(p.plan.Cuts) > 0 }
