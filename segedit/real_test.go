package segedit

import (
	"context"
	"testing"

	"github.com/liverseg/liverseg/inference"
	"github.com/liverseg/liverseg/internal/testsupport/shareddata"
	"github.com/liverseg/liverseg/metrics"
	"github.com/liverseg/liverseg/nifti"
	"github.com/liverseg/liverseg/volume"
)

// loadP07 reads ircad_p07 (512×512×151, 0.78×0.78×1.6 mm: the largest real
// case) and its reference liver.
func loadP07(tb testing.TB) (*volume.Volume, *volume.Mask) {
	tb.Helper()
	ct, err := nifti.Read(shareddata.Path(tb, "cases", "ircad_p07", "ct.nii.gz"))
	if err != nil {
		tb.Fatal(err)
	}
	ref, err := nifti.ReadMask(shareddata.Path(tb, "cases", "ircad_p07", "liver.nii.gz"))
	if err != nil {
		tb.Fatal(err)
	}
	return ct, ref
}

// p07Correction is the scripted correction of the student's mask on
// ircad_p07: six edits a reader would make, in canonical voxel indices
// (axial slice k is the view's slice k+1).
var p07Correction = []struct {
	what string
	do   func(e *Editor) (Change, error)
}{
	{"brush pass: erase 3D, 60 mm, only voxels below 75 HU (fat, unenhanced bowel), along the liver", func(e *Editor) (Change, error) {
		path := [][3]float64{{95, 272, 50}, {107, 284, 66}, {110, 291, 76}, {119, 294, 86}, {159, 284, 95}, {190, 263, 100}, {205, 273, 114}, {239, 261, 120}, {180, 252, 130}, {173, 240, 141}}
		return e.Stroke(path, Brush{RadiusMM: 60, Sphere: true, HU: &HURange{Lo: -1024, Hi: 75}}, true)
	}},
	{"islands: keep the liver (click in the right lobe)", func(e *Editor) (Change, error) { return e.KeepIsland([3]int{200, 280, 110}) }},
	{"smooth: opening 4 mm (removes the rim and thin bridges)", func(e *Editor) (Change, error) { return e.Smooth(Opening, 4) }},
	{"scissors: erase inside a box around the IVC on axial slices 89–99", func(e *Editor) (Change, error) {
		return e.Scissors(Scissors{Axis: 2, Shape: EraseInside, Points: [][3]float64{{195, 265, 0}, {225, 265, 0}, {225, 305, 0}, {195, 305, 0}}, Slab: &[2]int{88, 98}})
	}},
	{"brush: paint 3D 16 mm at the dome, 95–160 HU only", func(e *Editor) (Change, error) {
		return e.Stroke([][3]float64{{143, 254, 143}, {143, 254, 145}}, Brush{RadiusMM: 16, Sphere: true, HU: &HURange{Lo: 95, Hi: 160}}, false)
	}},
	{"brush: paint 3D 16 mm at the inferior tip, 95–160 HU only", func(e *Editor) (Change, error) {
		return e.Stroke([][3]float64{{90, 258, 49}, {92, 256, 53}}, Brush{RadiusMM: 16, Sphere: true, HU: &HURange{Lo: 95, Hi: 160}}, false)
	}},
}

// TestScriptedCorrectionIRCADp07 runs the shipped student on ircad_p07 (the
// case where it errs most) with the real ONNX Runtime, applies the scripted
// correction, and requires every step's Dice against the reference to be
// measured correctly (live figure = recomputation) and the whole sequence
// to raise Dice by at least 0.03; undoing it all gives the student's mask
// back bit for bit.
func TestScriptedCorrectionIRCADp07(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the student on a 512×512×151 CT")
	}
	ct, ref := loadP07(t)
	if err := inference.InitRuntime(); err != nil {
		t.Fatalf("this test runs the real ONNX Runtime: %v", err)
	}
	dir, err := inference.FindModelsDir()
	if err != nil {
		t.Fatal(err)
	}
	reg, err := inference.OpenRegistry(dir, inference.RegistryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	card, err := reg.Lookup("student")
	if err != nil {
		t.Fatal(err)
	}
	// The network's own outline, as the scripted correction was designed
	// on (the edge refinement from the scan already does part of it).
	o := card.DefaultOptions()
	o.Edge = nil
	res, err := reg.Run(context.Background(), ct, "student", o)
	if err != nil {
		t.Fatal(err)
	}
	start, err := metrics.Dice(res.Mask, ref)
	if err != nil {
		t.Fatal(err)
	}
	e, err := New(ct, res.Mask, "student", Options{Reference: ref})
	if err != nil {
		t.Fatal(err)
	}
	if d := e.Stats().DiceRef; d != start {
		t.Fatalf("live Dice at the start %.6f, metrics.Dice %.6f", d, start)
	}
	t.Logf("student on ircad_p07: Dice %.4f, %.1f mL (reference %.1f mL)", start, e.Stats().VolumeML, ref.VolumeML())
	if len(p07Correction) > 10 {
		t.Fatalf("%d edits; the script allows 10", len(p07Correction))
	}
	for n, s := range p07Correction {
		ch, err := s.do(e)
		if err != nil {
			t.Fatalf("edit %d (%s): %v", n+1, s.what, err)
		}
		st := e.Stats()
		t.Logf("%d. %s: %d voxels changed → %.1f mL, Dice vs reference %.4f, vs student %.4f", n+1, s.what, ch.Voxels, st.VolumeML, st.DiceRef, st.DiceSource)
	}
	final := e.Stats().DiceRef
	got, err := metrics.Dice(e.Mask(), ref)
	if err != nil {
		t.Fatal(err)
	}
	if got != final {
		t.Fatalf("live Dice %.6f, recomputed on the exported mask %.6f", final, got)
	}
	t.Logf("Dice vs reference %.4f → %.4f (+%.4f) in %d edits", start, final, final-start, len(p07Correction))
	if final < start+0.03 {
		t.Fatalf("the correction raised Dice only from %.4f to %.4f", start, final)
	}
	for e.CanUndo() {
		e.Undo()
	}
	m := e.Mask()
	for o, v := range res.Mask.Voxels {
		if (v != 0) != (m.Voxels[o] != 0) {
			t.Fatalf("after undoing everything voxel %d differs from the student's mask", o)
		}
	}
}
