package app

import (
	"fmt"
	"image/color"
	"math"
	"slices"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/layout"
	"fyne.io/fyne/v2/widget"

	"github.com/liverseg/liverseg/comparison"
	"github.com/liverseg/liverseg/internal/task"
	"github.com/liverseg/liverseg/viewer"
	"github.com/liverseg/liverseg/viewer/sliceview"
	"github.com/liverseg/liverseg/volume"
)

// Label of the disagreement map for voxels both models call liver (the
// comparison package's map has only Agree, OnlyA and OnlyB).
const bothLiver uint8 = 3

// Overlay styles of the comparison views.
var (
	outlineStyle = func(c color.NRGBA) viewer.Style { return viewer.Style{Color: c, Outline: 1, Width: 2} }
	panelStyle   = func(c color.NRGBA) viewer.Style { return viewer.Style{Color: c, Fill: 0.3, Outline: 1} }
	bothStyle    = viewer.Style{Color: color.NRGBA{R: 255, G: 255, B: 255, A: 255}, Outline: 0.85, Width: 1, Halo: 1}
	onlyStyle    = func(c color.NRGBA) viewer.Style { return viewer.Style{Color: c, Fill: 0.6, Outline: 1, Width: 1.5} }
)

// showMode puts the current mode's views and controls on screen and
// pauses the others.
func (c *cmpController) showMode() {
	u := c.u
	if c.area == nil || u.scene == nil {
		return
	}
	on := c.area.Visible()
	tri := c.mode != ModeSideBySide
	setVisible(c.ovlSide, c.mode == ModeOverlay)
	setVisible(c.sbsSide, c.mode == ModeSideBySide)
	setVisible(c.disSide, c.mode == ModeDisagreement)
	setVisible(c.triBox, tri)
	setVisible(c.sbsBox, !tri)
	for _, v := range c.tri {
		if v.Scene() != u.scene {
			v.SetScene(u.scene)
		}
	}
	if c.listening != u.scene {
		sc := u.scene
		c.listening = sc
		sc.Listen(func(ch viewer.Change) {
			if ch&viewer.ChangeCursor != 0 && u.scene == sc && c.mode == ModeSideBySide && c.area.Visible() {
				c.showSideBySideSlice()
			}
		})
	}
	switch c.mode {
	case ModeOverlay:
		for _, v := range c.tri {
			v.SetTitle(v.Plane().String(), nil)
		}
		c.applyTriOverlays()
	case ModeDisagreement:
		c.updateDisagreement()
	}
	for _, v := range c.tri {
		v.SetPaused(!on || !tri)
	}
	for _, v := range c.sbs {
		v.SetPaused(!on || tri)
	}
	if on {
		if tri {
			u.active = c.tri[0]
		} else if len(c.sbs) > 0 {
			u.active = c.sbs[0]
		}
	}
}

func setVisible(o fyne.CanvasObject, on bool) {
	if on {
		o.Show()
	} else {
		o.Hide()
	}
}

// lookupModel is a shown model or the reference.
func (c *cmpController) lookupModel(name string) *cmpModel {
	if name == refName && c.refDisp != nil {
		return c.refDisp
	}
	return c.models[name]
}

// applyTriOverlays shows the ticked models' outlines on the three views,
// the reference underneath and the smallest model on top.
func (c *cmpController) applyTriOverlays() {
	models := c.displayModels()
	var list []viewer.Overlay
	if r := c.refDisp; r != nil && c.shown[r.name] {
		if o := c.triOverlayOf(r); o != nil {
			list = append(list, o)
		}
	}
	for _, m := range models {
		if m == c.refDisp || !c.shown[m.name] {
			continue
		}
		if o := c.triOverlayOf(m); o != nil {
			list = append(list, o)
		}
	}
	for _, v := range c.tri {
		v.SetOverlays(list...)
	}
	c.setTriLegend()
}

// triStyle is how the overlay mode draws a model: a solid outline, the
// reference dashed.
func (c *cmpController) triStyle(m *cmpModel) viewer.Style {
	if m == c.refDisp {
		return referenceStyle(m.color)
	}
	return outlineStyle(m.color)
}

// setTriLegend puts the shown models' legend on the three views of the
// overlay mode (and so on its exported picture).
func (c *cmpController) setTriLegend() {
	var es []sliceview.LegendEntry
	for _, m := range c.displayModels() {
		if c.shown[m.name] {
			es = append(es, legendEntry(m.name, c.triStyle(m)))
		}
	}
	for _, v := range c.tri {
		v.SetLegend(es...)
	}
}

func (c *cmpController) triOverlayOf(m *cmpModel) viewer.Overlay {
	u := c.u
	if o, ok := c.triOverlay[m.name]; ok {
		return o
	}
	o, err := m.overlay(u.scene.Slicer(), c.triStyle(m))
	if err != nil {
		u.seg.showSegError(fmt.Errorf("comparison: %s: %w", m.name, err), false)
		return nil
	}
	c.triOverlay[m.name] = o
	return o
}

// styleSwatch is a legend sample of an overlay style, drawn as the views
// draw it.
func styleSwatch(st viewer.Style) fyne.CanvasObject {
	img := canvas.NewImageFromImage(viewer.Swatch(st, sliceview.SwatchWidth, sliceview.SwatchHeight))
	img.ScaleMode = canvas.ImageScalePixels
	return container.NewCenter(container.NewGridWrap(fyne.NewSize(sliceview.SwatchWidth, sliceview.SwatchHeight), img))
}

// rebuildLegend lists the models with a colour and a tick box each.
func (c *cmpController) rebuildLegend() {
	c.ovlChecks.RemoveAll()
	for _, m := range c.displayModels() {
		name := m.name
		ck := widget.NewCheck(fmt.Sprintf("%s  %.0f mL", name, m.entry.VolumeML), func(on bool) {
			c.shown[name] = on
			c.applyTriOverlays()
		})
		if _, ok := c.shown[name]; !ok {
			c.shown[name] = true
		}
		ck.Checked = c.shown[name]
		c.ovlChecks.Add(container.NewBorder(nil, nil, styleSwatch(c.triStyle(m)), nil, ck))
	}
	c.ovlChecks.Refresh()
}

// SetModelShown ticks or unticks a model's outline in the overlay mode.
func (c *cmpController) SetModelShown(name string, on bool) {
	c.shown[name] = on
	c.rebuildLegend()
	c.applyTriOverlays()
}

// planeByName maps the axis picker's choice to a plane.
func planeByName(s string) viewer.Plane {
	for _, p := range viewer.Planes {
		if p.String() == s {
			return p
		}
	}
	return viewer.Axial
}

// rebuildSideBySide makes one panel per shown model on the chosen plane,
// all on the main scene (so slice, crosshair and window are shared) with
// zoom and pan linked.
func (c *cmpController) rebuildSideBySide() {
	u := c.u
	if c.sbsBox == nil {
		return
	}
	models := c.displayModels()
	plane := planeByName(c.sbsAxis.Selected)
	names := make([]string, len(models))
	for i, m := range models {
		names[i] = m.name
	}
	if slices.Equal(names, c.sbsNames) && len(c.sbs) > 0 && c.sbs[0].Plane() == plane && c.sbs[0].Scene() == u.scene {
		return
	}
	paused := !(c.area.Visible() && c.mode == ModeSideBySide)
	var zoom float32 = 1
	var pan fyne.Position
	if len(c.sbs) > 0 && c.sbs[0].Plane() == plane {
		zoom, pan = c.sbs[0].ViewState() // a model added: keep the reader's zoom
	}
	for _, v := range c.sbs {
		v.SetScene(nil) // stop listening
	}
	c.sbs, c.sbsNames = nil, names
	objs := make([]fyne.CanvasObject, 0, len(models))
	for _, m := range models {
		v := c.newCompareView(plane)
		// The model's name only: the plane is in the picker, and narrow
		// panels have no room for more before the orientation letter.
		v.SetTitle(m.name, m.color)
		// The same slice everywhere: said once, in the side panel, not
		// over each narrow panel's orientation letter.
		v.SetLabelShown(false)
		v.OnViewChanged = c.linkPanels
		if u.scene != nil {
			v.SetScene(u.scene)
			if o := c.sbsOverlayOf(m); o != nil {
				v.SetOverlays(o)
			}
			v.SetViewState(zoom, pan)
		}
		v.SetPaused(paused)
		c.sbs = append(c.sbs, v)
		objs = append(objs, v)
	}
	c.sbsBox.Layout = layout.NewGridLayoutWithColumns(max(1, len(objs)))
	c.sbsBox.Objects = objs
	c.sbsBox.Refresh()
	if !paused && len(c.sbs) > 0 {
		u.active = c.sbs[0]
	}
	c.showSideBySideSlice()
}

// showSideBySideSlice writes the panels' common slice in the side panel.
func (c *cmpController) showSideBySideSlice() {
	if c.sbsSlice == nil {
		return
	}
	if len(c.sbs) == 0 || c.sbs[0].Scene() == nil {
		c.sbsSlice.SetText("")
		return
	}
	c.sbsSlice.SetText("Slice " + c.sbs[0].Label())
}

func (c *cmpController) sbsOverlayOf(m *cmpModel) viewer.Overlay {
	u := c.u
	if o, ok := c.sbsOverlay[m.name]; ok {
		return o
	}
	st := panelStyle(m.color)
	if m == c.refDisp {
		st = referenceStyle(m.color)
	}
	o, err := m.overlay(u.scene.Slicer(), st)
	if err != nil {
		u.seg.showSegError(fmt.Errorf("comparison: %s: %w", m.name, err), false)
		return nil
	}
	c.sbsOverlay[m.name] = o
	return o
}

// linkPanels gives every side-by-side panel the zoom and pan the user just
// set on one of them (slice, crosshair and window are shared through the
// scene already).
func (c *cmpController) linkPanels(src *sliceview.SliceView) {
	zoom, pan := src.ViewState()
	ss := src.Size()
	for _, v := range c.sbs {
		if v == src {
			continue
		}
		p := pan
		if vs := v.Size(); ss.Width > 0 && ss.Height > 0 && vs.Width > 0 {
			p = fyne.NewPos(pan.X*vs.Width/ss.Width, pan.Y*vs.Height/ss.Height)
		}
		v.SetViewState(zoom, p)
	}
}

// SideBySide are the side-by-side panels and the model each shows.
func (c *cmpController) SideBySide() ([]*sliceview.SliceView, []string) { return c.sbs, c.sbsNames }

// SetSideBySideAxis chooses the plane of the side-by-side panels.
func (c *cmpController) SetSideBySideAxis(p viewer.Plane) { c.sbsAxis.SetSelected(p.String()) }

// updatePairChoices offers the shown models (and the reference) for the
// disagreement pair: by default the smallest student against the teacher.
func (c *cmpController) updatePairChoices() {
	if c.pairA == nil {
		return
	}
	var names []string
	for _, m := range c.displayModels() {
		names = append(names, m.name)
	}
	c.pairA.Options, c.pairB.Options = names, names
	pick := func(sel *widget.Select, want ...string) {
		if slices.Contains(names, sel.Selected) {
			return
		}
		sel.Selected = ""
		for _, w := range want {
			if slices.Contains(names, w) {
				sel.Selected = w
				return
			}
		}
	}
	teacher := ""
	if c.set != nil {
		teacher = c.set.TeacherName()
	}
	last := ""
	if n := len(c.compareNames()); n > 0 {
		last = c.compareNames()[n-1] // the smallest model
	}
	pick(c.pairA, AutoModel, last)
	pick(c.pairB, teacher, "teacher")
	c.pairA.Refresh()
	c.pairB.Refresh()
}

// SetDisagreementPair chooses the two models of the disagreement map.
func (c *cmpController) SetDisagreementPair(a, b string) {
	c.pairA.Selected, c.pairB.Selected = a, b
	c.pairA.Refresh()
	c.pairB.Refresh()
	c.updateDisagreement()
}

// disResult is a disagreement map ready for display.
type disResult struct {
	d                *comparison.Disagreement
	both, onlyA, onB int
	jump             [3]int
	ok               bool // there is a disagreeing voxel to jump to
}

// updateDisagreement shows the map of the chosen pair, computing it in the
// background the first time (tens of ms on a CT).
func (c *cmpController) updateDisagreement() {
	u := c.u
	if c.pairA == nil || c.mode != ModeDisagreement || c.set == nil {
		return
	}
	a, b := c.pairA.Selected, c.pairB.Selected
	ma, mb := c.lookupModel(a), c.lookupModel(b)
	c.disLegend.RemoveAll()
	switch {
	case ma == nil || mb == nil:
		c.disText.SetText("Choose two models.")
		c.clearDisagreement()
		return
	case a == b:
		c.disText.SetText("Choose two different models.")
		c.clearDisagreement()
		return
	}
	ca, cb := ma.color, mb.color
	if ca == cb {
		cb = nrgba(comparison.DisagreeColors[2])
	}
	c.disLegend.Add(container.NewBorder(nil, nil, styleSwatch(onlyStyle(ca)), nil, widget.NewLabel("liver in "+a+" only")))
	c.disLegend.Add(container.NewBorder(nil, nil, styleSwatch(onlyStyle(cb)), nil, widget.NewLabel("liver in "+b+" only")))
	c.disLegend.Add(container.NewBorder(nil, nil, styleSwatch(bothStyle), nil, widget.NewLabel("outline of liver in both")))
	c.disLegend.Refresh()
	// The plane alone in the title: the pair is in the legend, and a
	// longer title ran into the top orientation letter.
	for _, v := range c.tri {
		v.SetTitle(v.Plane().String(), nil)
	}
	if c.dis != nil && c.disPair == [2]string{a, b} {
		c.installDisagreement(ma, mb)
		return
	}
	c.clearDisagreement()
	c.disText.SetText("Computing…")
	task.Start(&c.disRun, u.do, func(*task.Task) (disResult, error) {
		return disagreement(ma.canon, mb.canon)
	}, func(r disResult, err error) {
		if err != nil {
			c.disText.SetText(err.Error())
			return
		}
		c.dis, c.disPair = r.d, [2]string{a, b}
		c.disRes = r
		// Drawn only if still wanted: the reader may have left the
		// mode or chosen another pair meanwhile (then it stays cached).
		if c.mode == ModeDisagreement && c.pairA.Selected == a && c.pairB.Selected == b {
			c.installDisagreement(ma, mb)
		}
	})
}

// disagreement compares two canonical masks and adds the both-liver label.
// It does not use Set.Disagree, whose map lies on the study's own grid:
// the views draw on the canonical grid, and the jump needs canonical
// slices.
func disagreement(a, b *volume.Mask) (disResult, error) {
	d, err := comparison.Disagree(a, b)
	if err != nil {
		return disResult{}, err
	}
	r := disResult{d: d, onlyA: d.OnlyA, onB: d.OnlyB}
	lab := d.Labels.Voxels
	for i, x := range a.Voxels {
		if x != 0 && b.Voxels[i] != 0 {
			lab[i] = bothLiver
			r.both++
		}
	}
	// The jump target: the axial slice with the most disagreement, and on
	// it the disagreeing voxel nearest to their centroid, so that the
	// coronal and sagittal views cut through it too.
	k := d.Most[2]
	if k < 0 {
		return r, nil
	}
	n := d.Labels.Size
	var sx, sy, cnt float64
	for j := 0; j < n[1]; j++ {
		row := lab[(k*n[1]+j)*n[0] : (k*n[1]+j+1)*n[0]]
		for i, l := range row {
			if l == comparison.OnlyA || l == comparison.OnlyB {
				sx += float64(i)
				sy += float64(j)
				cnt++
			}
		}
	}
	cx, cy := sx/cnt, sy/cnt
	best := math.Inf(1)
	for j := 0; j < n[1]; j++ {
		row := lab[(k*n[1]+j)*n[0] : (k*n[1]+j+1)*n[0]]
		for i, l := range row {
			if l == comparison.OnlyA || l == comparison.OnlyB {
				if dd := (float64(i)-cx)*(float64(i)-cx) + (float64(j)-cy)*(float64(j)-cy); dd < best {
					best, r.jump = dd, [3]int{i, j, k}
				}
			}
		}
	}
	r.ok = true
	return r, nil
}

func (c *cmpController) clearDisagreement() {
	c.jumpBtn.Disable()
	for _, v := range c.tri {
		v.SetOverlays()
		v.SetLegend()
	}
}

// installDisagreement draws the computed map of (ma, mb) on the three views.
func (c *cmpController) installDisagreement(ma, mb *cmpModel) {
	u := c.u
	r := c.disRes
	s := u.scene.Slicer()
	ca, cb := ma.color, mb.color
	if ca == cb {
		cb = nrgba(comparison.DisagreeColors[2])
	}
	both, err1 := viewer.NewLabelOverlay(s, r.d.Labels, bothLiver, bothStyle)
	oa, err2 := viewer.NewLabelOverlay(s, r.d.Labels, comparison.OnlyA, onlyStyle(ca))
	ob, err3 := viewer.NewLabelOverlay(s, r.d.Labels, comparison.OnlyB, onlyStyle(cb))
	if err := firstErr(err1, err2, err3); err != nil {
		c.disText.SetText(err.Error())
		return
	}
	for _, v := range c.tri {
		v.SetOverlays(both, oa, ob)
		v.SetLegend(legendEntry(ma.name+" only", onlyStyle(ca)), legendEntry(mb.name+" only", onlyStyle(cb)), legendEntry("both", bothStyle))
	}
	vox := r.d.Labels.VoxelVolume() / 1000
	dice := 1.0
	if den := 2*r.both + r.onlyA + r.onB; den > 0 {
		dice = 2 * float64(r.both) / float64(den)
	}
	txt := fmt.Sprintf("Only %s: %.1f mL\nOnly %s: %.1f mL\nBoth: %.1f mL · Dice %.3f",
		ma.name, float64(r.onlyA)*vox, mb.name, float64(r.onB)*vox, float64(r.both)*vox, dice)
	if r.ok {
		_, _, n := s.Dims(viewer.Axial)
		txt += fmt.Sprintf("\nMost disagreement: axial slice %d/%d (%s voxels)", r.jump[2]+1, n, groupThousands(int64(r.d.PerSlice[2][r.jump[2]])))
		c.jumpBtn.Enable()
	} else {
		txt += "\nThe two masks agree everywhere."
		c.jumpBtn.Disable()
	}
	c.disText.SetText(txt)
}

func firstErr(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

// JumpToDisagreement moves the crosshair to the axial slice where the pair
// disagrees most (on a disagreeing voxel near the middle of that slice's
// disagreement), which all views follow.
func (c *cmpController) JumpToDisagreement() {
	u := c.u
	if c.dis == nil || !c.disRes.ok || u.scene == nil {
		return
	}
	u.scene.SetCursor(c.disRes.jump)
	_, _, n := u.scene.Slicer().Dims(viewer.Axial)
	u.setStatus(fmt.Sprintf("Most disagreement between %s and %s: axial slice %d/%d.", c.disPair[0], c.disPair[1], c.disRes.jump[2]+1, n))
}
