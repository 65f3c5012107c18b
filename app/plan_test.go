package app

import (
	"context"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"

	"github.com/liverseg/liverseg/dicomio"
	"github.com/liverseg/liverseg/dicomio/dicomseg"
	"github.com/liverseg/liverseg/internal/testsupport/testct"
	"github.com/liverseg/liverseg/nifti"
	"github.com/liverseg/liverseg/resection"
	"github.com/liverseg/liverseg/segedit"
	"github.com/liverseg/liverseg/volume"
)

// planStudy opens the abdominal test CT (the real CHAOS case, or the
// phantom) with its reference liver chosen as the plan's liver, and waits
// for the surface.
func planStudy(t *testing.T) (*UI, *planUI, testct.Study) {
	return planStudyOf(t, false)
}

// planStudyOf is planStudy on the study's DICOM series when dicom is set.
func planStudyOf(t *testing.T, dicom bool) (*UI, *planUI, testct.Study) {
	t.Helper()
	s := testct.Abdomen(t)
	u := newUI(t)
	u.win.Resize(fyne.NewSize(1400, 900))
	v := abdomenVolume(t, s)
	if dicom {
		var err error
		if v, _, err = dicomio.LoadPath(context.Background(), s.DICOM, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := u.ShowVolume(v); err != nil {
		t.Fatal(err)
	}
	p := u.plan
	refDone := make(chan error, 1)
	u.seg.onRefDone = func(err error) { refDone <- err }
	p.sourceSel.SetSelected("Reference")
	u.LoadReference(s.Liver)
	if err := waitFor(t, refDone, 60*time.Second, "reference"); err != nil {
		t.Fatal(err)
	}
	waitIdle(t, &p.surf, "surface")
	return u, p, s
}

func TestPlanFromCrosshairShowsVolumesAndColours(t *testing.T) {
	u, p, s := planStudy(t)
	if p.mesh == nil || !strings.Contains(p.info.Text, "Reference") {
		t.Fatalf("no surface: %q", p.info.Text)
	}
	if err := p.mesh.CheckClosed(); err != nil {
		t.Errorf("display surface: %v", err)
	}
	updated := make(chan struct{}, 16)
	p.onUpdated = func() { updated <- struct{}{} }

	// A plane through the crosshair (the centre of the volume).
	test.Tap(p.newCutBtn)
	waitFor(t, updated, 30*time.Second, "volumes")
	if len(p.plan.Cuts) != 1 || p.cutSel.Selected != "Cut 1" {
		t.Fatalf("cuts %d, selected %q", len(p.plan.Cuts), p.cutSel.Selected)
	}
	v := *p.vols
	// The same numbers from the resection package (what `liverseg plan`
	// runs) for the same plan and mask.
	ref, err := nifti.ReadMask(s.Liver)
	if err != nil {
		t.Fatal(err)
	}
	l, err := resection.NewLiver(ref, nil)
	if err != nil {
		t.Fatal(err)
	}
	want, err := l.Evaluate(p.plan)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(v.TotalML-want.TotalML) > 1e-6 || math.Abs(v.ResectedML-want.ResectedML) > 1e-6 || math.Abs(v.FLRPercent-want.FLRPercent) > 1e-9 {
		t.Errorf("app %+v, package on the file's grid %+v", v, want)
	}
	if !strings.Contains(p.results.Text, "Remnant (FLR)") || !strings.Contains(p.markerText.Text, "minimum") {
		t.Errorf("results %q, marker %q", p.results.Text, p.markerText.Text)
	}
	green := color.NRGBA{40, 170, 80, 255}
	red := color.NRGBA{220, 50, 40, 255}
	if ok, _ := resection.Verdict(v.FLRPercent, p.minFLR()); (ok && p.marker.FillColor != green) || (!ok && p.marker.FillColor != red) {
		t.Errorf("FLR %.1f %% against %.0f %%: marker %v", v.FLRPercent, p.minFLR(), p.marker.FillColor)
	}
	// Height and weight give BSA and SLV with the formulas named.
	p.height.SetText("170")
	p.weight.SetText("70")
	if !strings.Contains(p.results.Text, "Mosteller") || !strings.Contains(p.results.Text, "Vauthey") || !strings.Contains(p.results.Text, "1.82 m²") {
		t.Errorf("results without BSA/SLV: %q", p.results.Text)
	}
	// The strictest minimum turns the marker red when the FLR is below it.
	p.minSel.SetSelectedIndex(3)
	if v.FLRPercent < 40 && p.marker.FillColor != red {
		t.Errorf("FLR %.1f %% under 40 %%: marker %v", v.FLRPercent, p.marker.FillColor)
	}

	// Both colours on the surface, and the cut's line on the axial view.
	nRes, nRem := 0, 0
	for _, c := range p.colors {
		switch c {
		case colResected:
			nRes++
		case colRemnant:
			nRem++
		}
	}
	if nRes == 0 || nRem == 0 {
		t.Errorf("surface colours: %d resected, %d remnant vertices", nRes, nRem)
	}
	img := p.view.draw(400, 300)
	lit := 0
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			if r, g, bb, _ := img.At(x, y).RGBA(); r>>8 != uint32(bg3D.R) || g>>8 != uint32(bg3D.G) || bb>>8 != uint32(bg3D.B) {
				lit++
			}
		}
	}
	if lit < 400*300/20 {
		t.Errorf("3D frame: only %d of %d pixels drawn", lit, 400*300)
	}

	// Turning the orientation changes the volumes.
	before := v.ResectedML
	p.azimuth.SetValue(90) // normal towards posterior
	waitFor(t, updated, 30*time.Second, "volumes after turning")
	if p.vols.ResectedML == before {
		t.Error("turning the plane left the resected volume unchanged")
	}
	// Bending from a 2D view: a drag that starts on the cut's line pulls
	// the nearest control point along the normal; one that starts away
	// from it is left to the crosshair.
	p.bendChk.SetChecked(true)
	cur := u.scene.Cursor()
	at := [3]float64{float64(cur[0]), float64(cur[1]), float64(cur[2])}
	far := at
	far[1] += 40 // 40 voxels along the (posterior) normal
	if p.dragHook(u.views[0], far, true, false) {
		t.Error("a drag 40 voxels off the cut was taken")
	}
	if !p.dragHook(u.views[0], at, true, false) {
		t.Fatal("a drag starting on the cut was not taken")
	}
	before = p.vols.ResectedML
	moved := at
	moved[1] += 10
	for i := 0; i < 5; i++ {
		p.dragHook(u.views[0], moved, false, false)
	}
	p.dragHook(u.views[0], [3]float64{}, false, true)
	waitFor(t, updated, 30*time.Second, "volumes after a 2D bend")
	sleepPumping(200 * time.Millisecond)
	if p.plan.Cuts[0].Flat() || p.vols.ResectedML == before {
		t.Errorf("2D bend: flat %v, resected %.1f → %.1f mL", p.plan.Cuts[0].Flat(), before, p.vols.ResectedML)
	}
	p.bendChk.SetChecked(false)

	// Bending a control point changes them too.
	sleepPumping(300 * time.Millisecond) // let the 2D bend's last update land
	before = p.vols.ResectedML
	p.cpOffset.SetValue(p.cpOffset.Value + 30)
	if !settle(func() bool { return p.vols.ResectedML != before }) {
		t.Errorf("bending by the offset slider left the resected volume at %.1f mL", before)
	}

	// Save, change, load: the plan comes back.
	dir := t.TempDir()
	path := filepath.Join(dir, "plan.json")
	if err := p.SavePlan(path); err != nil {
		t.Fatal(err)
	}
	saved := p.plan.Cuts[0]
	p.removeCut()
	if len(p.plan.Cuts) != 0 {
		t.Fatal("remove left a cut")
	}
	if err := p.LoadPlan(path); err != nil {
		t.Fatal(err)
	}
	if !settle(func() bool { return p.vols != nil }) {
		t.Fatal("no volumes after loading the plan")
	}
	got := p.plan.Cuts[0]
	if math.Abs(got.Offsets[1][1]-saved.Offsets[1][1]) > 1e-9 || math.Abs(got.Normal[1]-saved.Normal[1]) > 1e-9 || p.height.Text != "170" {
		t.Errorf("loaded %+v (height %q), saved %+v", got, p.height.Text, saved)
	}

	// The report carries the plan: a 3D picture, the figures, the formulas.
	repDone := make(chan error, 1)
	u.rep.onDone = func(_ string, err error) { repDone <- err }
	shot, err := u.CaptureViews()
	if err != nil {
		t.Fatal(err)
	}
	html := filepath.Join(dir, "report.html")
	u.SaveReport(u.reportInput(shot), html)
	if err := waitFor(t, repDone, 120*time.Second, "report"); err != nil {
		t.Fatal(err)
	}
	rb, _ := os.ReadFile(html)
	for _, want := range []string{"Resection plan", "Remnant (FLR)", "Vauthey", "Mosteller", "pointing into the resected part"} {
		if !strings.Contains(string(rb), want) {
			t.Errorf("report lacks %q", want)
		}
	}
	if i := strings.Index(string(rb), "Resection plan"); i >= 0 && testing.Verbose() {
		t.Log(string(rb)[max(0, i-200):min(len(rb), i+600)])
	}
	if n := strings.Count(string(rb), "data:image/png;base64,"); n != 2 {
		t.Errorf("report has %d embedded pictures, want the views and the 3D view", n)
	}

	// Clicking the 3D surface moves the crosshair onto the liver surface.
	p.view.draw(400, 300)
	p.view.Resize(fyne.NewSize(400, 300))
	before3 := u.scene.Cursor()
	p.view.Tapped(&fyne.PointEvent{Position: fyne.NewPos(200, 150)})
	if c := u.scene.Cursor(); c == before3 {
		t.Errorf("click on the 3D surface left the crosshair at %v", c)
	}

	// Export the parts: STL always, DICOM SEG for a DICOM study.
	out := t.TempDir()
	done := make(chan error, 1)
	p.exportParts(out, func(_ []string, err error) { done <- err })
	if err := waitFor(t, done, 120*time.Second, "export"); err != nil {
		t.Fatal(err)
	}
	ents, _ := os.ReadDir(out)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if !strings.Contains(strings.Join(names, " "), "_remnant.stl") || !strings.Contains(strings.Join(names, " "), "_resected.stl") {
		t.Errorf("exported %q", names)
	}
	// A second export refuses to replace them.
	p.exportParts(out, func(_ []string, err error) { done <- err })
	if err := waitFor(t, done, 120*time.Second, "second export"); err == nil || !strings.Contains(err.Error(), "exists") {
		t.Errorf("second export: %v", err)
	}
}

// settle runs the main queue until cond holds (true) or 30 s pass.
func settle(cond func() bool) bool { return settleWithin(30*time.Second, cond) }

// A lesion loaded as a mask is excluded from the FLR and measured against
// the cut; three marked crosshair positions make a plane.
func TestPlanLesionMarginAndThreePoints(t *testing.T) {
	u, p, s := planStudy(t)
	updated := make(chan struct{}, 64)
	p.onUpdated = func() { updated <- struct{}{} }

	// A 10 mm lesion deep in the liver, written on the CT's grid.
	ref, err := nifti.ReadMask(s.Liver)
	if err != nil {
		t.Fatal(err)
	}
	cIdx := insideVoxel(t, ref)
	canon := ref.Canonical()
	centre := canon.IndexToPatient([3]float64{float64(cIdx[0]), float64(cIdx[1]), float64(cIdx[2])})
	les := volume.NewMask(ref.Geometry)
	for k := 0; k < ref.Size[2]; k++ {
		for j := 0; j < ref.Size[1]; j++ {
			for i := 0; i < ref.Size[0]; i++ {
				q := ref.IndexToPatient([3]float64{float64(i), float64(j), float64(k)})
				if math.Hypot(math.Hypot(q[0]-centre[0], q[1]-centre[1]), q[2]-centre[2]) <= 10 {
					les.Voxels[ref.Offset(i, j, k)] = 1
				}
			}
		}
	}
	lesPath := filepath.Join(t.TempDir(), "lesion.nii.gz")
	if err := nifti.WriteMask(lesPath, les); err != nil {
		t.Fatal(err)
	}
	// A plane 30 mm from the lesion's centre, along an axis on which the
	// liver goes on that far, its normal towards the lesion: the lesion is
	// resected with a ~20 mm margin.
	var foot, normal resection.Vec
	found := false
	for _, d := range []resection.Vec{{-1, 0, 0}, {1, 0, 0}, {0, -1, 0}, {0, 1, 0}, {0, 0, 1}, {0, 0, -1}} {
		foot = resection.Vec{centre[0] + 30*d[0], centre[1] + 30*d[1], centre[2] + 30*d[2]}
		f := canon.PatientToIndex(foot)
		i, j, k := int(math.Round(f[0])), int(math.Round(f[1])), int(math.Round(f[2]))
		if canon.Contains(i, j, k) && canon.Voxels[canon.Offset(i, j, k)] != 0 {
			normal, found = resection.Vec{-d[0], -d[1], -d[2]}, true
			break
		}
	}
	if !found {
		t.Skip("no axis with liver 30 mm from the lesion")
	}
	idx, _ := u.scene.Slicer().RoundIndex(u.scene.Slicer().Volume().PatientToIndex(foot))
	u.scene.SetCursor(idx)
	test.Tap(p.newCutBtn)
	p.plan.Cuts[0].Normal = normal
	p.showCut()
	p.changed()
	waitFor(t, updated, 30*time.Second, "volumes")
	p.LoadLesion(lesPath)
	if !settle(func() bool { return p.margin != nil && p.vols != nil && p.vols.LesionML > 0 }) {
		t.Fatalf("no margin after loading the lesion: %q", p.lesionLabel.Text)
	}
	m, v := *p.margin, *p.vols
	t.Logf("lesion %.1f mL, margin %.1f mm, FLR %.1f %%", v.LesionML, m.MinMM, v.FLRPercent)
	if math.Abs(v.LesionML-les.VolumeML()) > 0.5 || v.LesionResectedML < v.LesionML-1e-6 {
		t.Errorf("lesion %.2f mL (%.2f resected), mask %.2f", v.LesionML, v.LesionResectedML, les.VolumeML())
	}
	// The plane sits 30 mm from the centre (give or take the crosshair's
	// voxel rounding): 20 mm to the sphere, up to a voxel more to its
	// voxel centres.
	if m.MinMM < 18 || m.MinMM > 23 || m.Crosses || m.InRemnant {
		t.Errorf("margin %+v, want about 20 mm", m)
	}
	if want := 100 * v.RemnantML / (v.TotalML - v.LesionML); math.Abs(v.FLRPercent-want) > 1e-9 {
		t.Errorf("FLR %.3f, want remnant over the liver without the lesion, %.3f", v.FLRPercent, want)
	}
	if !strings.Contains(p.results.Text, "Margin") || !strings.Contains(p.results.Text, "Lesion") {
		t.Errorf("results %q", p.results.Text)
	}
	// Raising the minimum above the margin warns.
	p.minMargin.SetText("25")
	if !strings.Contains(p.results.Text, "BELOW the 25 mm minimum") {
		t.Errorf("no warning under the minimum margin: %q", p.results.Text)
	}

	// Three points: an axial plane through three crosshair positions.
	n := len(p.plan.Cuts)
	c := u.scene.Cursor()
	for _, d := range [][3]int{{0, 0, 0}, {20, 0, 0}, {0, 20, 0}} {
		u.scene.SetCursor([3]int{c[0] + d[0], c[1] + d[1], c[2] + d[2]})
		test.Tap(p.threeBtn)
	}
	if len(p.plan.Cuts) != n+1 {
		t.Fatalf("three points made %d cuts, want %d", len(p.plan.Cuts), n+1)
	}
	if nz := p.plan.Cuts[n].Normal; math.Abs(math.Abs(nz[2])-1) > 1e-6 {
		t.Errorf("plane through three axial points: normal %v, want ±z", nz)
	}
}

// On a DICOM study the parts are exported as DICOM SEG too, one segment
// each, on the CT's grid, matching the plan's masks voxel for voxel.
func TestPlanExportsSEGForDICOM(t *testing.T) {
	u, p, _ := planStudyOf(t, true)
	updated := make(chan struct{}, 16)
	p.onUpdated = func() { updated <- struct{}{} }
	test.Tap(p.newCutBtn)
	waitFor(t, updated, 30*time.Second, "volumes")
	out := t.TempDir()
	done := make(chan []string, 1)
	p.exportParts(out, func(w []string, err error) {
		if err != nil {
			t.Error(err)
		}
		done <- w
	})
	wrote := waitFor(t, done, 120*time.Second, "export")
	res, rem, err := p.liver.Masks(p.plan)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int{"Liver remnant": rem.Count(), "Liver resected": res.Count()}
	segs := 0
	for _, path := range wrote {
		if !strings.HasSuffix(path, "_seg.dcm") {
			continue
		}
		segs++
		seg, err := dicomseg.ReadSEG(path)
		if err != nil {
			t.Fatal(err)
		}
		if len(seg.Segments) != 1 || seg.FrameOfReference != u.vol.Info.FrameOfReference {
			t.Fatalf("%s: segments %+v, frame %s", path, seg.Segments, seg.FrameOfReference)
		}
		m, err := seg.OnGrid(u.vol.Geometry)
		if err != nil {
			t.Fatal(err)
		}
		if n, ok := want[seg.Segments[0].Label]; !ok || m.Count() != n {
			t.Errorf("%s: segment %q with %d voxels, want %v", path, seg.Segments[0].Label, m.Count(), want)
		}
	}
	if segs != 2 {
		t.Errorf("wrote %q: want two SEG files", wrote)
	}
}

// TestPlanShowsEditedMask: the 3D view offers the mask being edited, and an
// edit step rebuilds its surface (a half of the liver erased halves it).
func TestPlanShowsEditedMask(t *testing.T) {
	u, p, _ := planStudy(t)
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	n := -1
	for i, src := range u.editSources() {
		if src.Model == "" && src.ref != nil {
			n = i
		}
	}
	if n < 0 {
		t.Fatal("the reference is not offered for editing")
	}
	startEdit(t, u, n)
	p.sourceSel.SetSelected(editedMaskSource)
	waitIdle(t, &p.surf, "surface of the edited mask")
	if !strings.HasPrefix(p.info.Text, editedMaskSource) || p.mesh == nil {
		t.Fatalf("3D view: %q", p.info.Text)
	}
	before := p.mesh.VolumeMM3()

	// Erase everything on the patient's right of the grid's middle column
	// (canonical x grows towards the patient's left; most liver is right).
	ed := u.Editor()
	sz := ed.CanonicalMask().Size
	mid := float64(sz[0]) / 2
	poly := [][3]float64{{-1, -1, 0}, {mid, -1, 0}, {mid, float64(sz[1]) + 1, 0}, {-1, float64(sz[1]) + 1, 0}}
	if _, err := ed.Scissors(segedit.Scissors{Axis: 2, Points: poly, Shape: segedit.EraseInside}); err != nil {
		t.Fatal(err)
	}
	u.editChanged(true)
	waitIdle(t, &p.surf, "surface after the edit")
	after := p.mesh.VolumeMM3()
	if !(after < 0.9*before) || after <= 0 {
		t.Errorf("surface volume %.0f mm³ before the cut, %.0f after: the 3D view did not follow the edit", before, after)
	}
	want := ed.Stats().VolumeML * 1000
	if math.Abs(after-want) > 0.05*want {
		t.Errorf("surface encloses %.0f mm³, the edited mask holds %.0f", after, want)
	}
}
