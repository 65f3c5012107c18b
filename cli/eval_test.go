package cli

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/liverseg/liverseg/dicomio"
	"github.com/liverseg/liverseg/dicomio/dicomseg"
	"github.com/liverseg/liverseg/inference"
	"github.com/liverseg/liverseg/internal/testsupport/shareddata"
	"github.com/liverseg/liverseg/internal/testsupport/testct"
	"github.com/liverseg/liverseg/metrics"
	"github.com/liverseg/liverseg/nifti"
	"github.com/liverseg/liverseg/refmask"
	"github.com/liverseg/liverseg/volume"
)

func TestEvalJSONAgreesWithSegmentAndMetrics(t *testing.T) {
	// The real CHAOS case, or the synthetic phantom and its true liver
	// where ../shared/data is absent.
	study := testct.Abdomen(t)
	ct, ref := study.CT, study.Liver
	code, stdout, stderr := runCLI("eval", "--json", "--models", tinyModels, "--model", "tiny", "--ref", ref, ct)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var rep evalReport
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, stdout)
	}
	if len(rep.Models) != 1 || rep.Models[0].Name != "tiny" || rep.Models[0].HD95MM == nil || rep.Models[0].Params != 122 {
		t.Fatalf("report %+v", rep)
	}
	got := rep.Models[0]

	// The same numbers from the segment command's file and package metrics.
	out := filepath.Join(t.TempDir(), "m.nii.gz")
	if code, _, stderr := runCLI("segment", "--models", tinyModels, "--model", "tiny", "--out", out, ct); code != 0 {
		t.Fatalf("segment: exit %d: %s", code, stderr)
	}
	pred, err := nifti.ReadMask(out)
	if err != nil {
		t.Fatal(err)
	}
	refMask, err := nifti.ReadMask(ref)
	if err != nil {
		t.Fatal(err)
	}
	refMask.Geometry = pred.Geometry
	want, err := metrics.Compare(pred, refMask)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(got.Dice-want.Dice) > 1e-12 || math.Abs(*got.HD95MM-want.HD95MM) > 1e-9 ||
		math.Abs(got.VolumeML-want.VolumeML) > 1e-9 || math.Abs(got.RefVolumeML-want.RefVolumeML) > 1e-9 {
		t.Errorf("eval %+v, segment + metrics %+v", got, want)
	}
	// The reference volume is the label's voxel count times the voxel size.
	if v := float64(refMask.Count()) * refMask.VoxelVolume() / 1000; math.Abs(got.RefVolumeML-v) > 1e-9 {
		t.Errorf("ref volume %v mL, want %v", got.RefVolumeML, v)
	}
	if got.InferMS <= 0 || got.TotalMS < got.InferMS {
		t.Errorf("times %v / %v ms", got.InferMS, got.TotalMS)
	}

	// The same reference stored with the x axis reversed (voxel order
	// R→L instead of L→R, same voxel centres) gives the same figures.
	flipped := refMask.Geometry
	flipped.Origin = refMask.IndexToPatient([3]float64{float64(refMask.Size[0] - 1), 0, 0})
	for r := 0; r < 3; r++ {
		flipped.Direction[r][0] = -flipped.Direction[r][0]
	}
	fm := volume.NewMask(flipped)
	for k := 0; k < flipped.Size[2]; k++ {
		for j := 0; j < flipped.Size[1]; j++ {
			for i := 0; i < flipped.Size[0]; i++ {
				fm.Voxels[flipped.Offset(flipped.Size[0]-1-i, j, k)] = refMask.Voxels[refMask.Offset(i, j, k)]
			}
		}
	}
	fref := filepath.Join(t.TempDir(), "ref_flipped.nii.gz")
	if err := nifti.WriteMask(fref, fm); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr = runCLI("eval", "--json", "--models", tinyModels, "--model", "tiny", "--ref", fref, ct)
	var rep2 evalReport
	if code != 0 || json.Unmarshal([]byte(stdout), &rep2) != nil {
		t.Fatalf("flipped reference: exit %d: %s", code, stderr)
	}
	if d := rep2.Models[0].Dice; math.Abs(d-got.Dice) > 1e-12 {
		t.Errorf("flipped reference: Dice %v, want %v", d, got.Dice)
	}

	// The table names the model and prints the same Dice.
	code, table, stderr := runCLI("eval", "--models", tinyModels, "--ref", ref, ct)
	if code != 0 || !strings.Contains(table, "tiny") || !strings.Contains(table, "HD95 mm") {
		t.Fatalf("table: exit %d %q %q", code, table, stderr)
	}
}

func TestEvalErrors(t *testing.T) {
	ct := shareddata.Path(t, "cases", "chaos_ct01", "ct.nii.gz")
	otherRef := shareddata.Path(t, "cases", "ircad_p01", "liver.nii.gz")
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"no ref", []string{"--models", tinyModels, ct}, "--ref is required"},
		{"other patient space", []string{"--models", tinyModels, "--ref", otherRef, ct}, "mask " + otherRef + ": it does not overlap the CT"},
		{"unknown model", []string{"--models", tinyModels, "--model", "nope", "--ref", otherRef, ct}, `unknown model "nope"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, _, stderr := runCLI(append([]string{"eval"}, c.args...)...)
			if code != 2 || !strings.Contains(stderr, c.want) {
				t.Fatalf("exit %d, stderr %q; want 2 and %q", code, stderr, c.want)
			}
		})
	}
}

// TestEvalDiceAsInApp checks that `liverseg eval --ref` gives, for every
// form of reference, the Dice the app shows for the same study and
// reference: the app reads the reference with refmask.Read onto its
// display (canonical) grid and compares it with the segmentation in
// canonical order (app/reference.go, app/segment.go).
func TestEvalDiceAsInApp(t *testing.T) {
	chaos := shareddata.Path(t, "cases", "chaos_ct01")
	dir := t.TempDir()
	load := func(path string) *volume.Volume {
		v, _, err := dicomio.LoadPath(context.Background(), path, nil)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	chaosCT := load(filepath.Join(chaos, "dicom"))
	chaosRef, err := nifti.ReadMask(filepath.Join(chaos, "liver.nii.gz"))
	if err != nil {
		t.Fatal(err)
	}
	// The reference on a coarser grid of the same space: both paths
	// resample it.
	coarse := chaosRef.Geometry
	coarse.Spacing = [3]float64{1.3 * coarse.Spacing[0], 1.3 * coarse.Spacing[1], 3.1}
	coarse.Size = [3]int{coarse.Size[0] * 10 / 13, coarse.Size[1] * 10 / 13, coarse.Size[2] * 2 / 3}
	cm, _, err := chaosRef.OnGrid(coarse)
	if err != nil {
		t.Fatal(err)
	}
	coarseRef := filepath.Join(dir, "coarse.nii.gz")
	if err := nifti.WriteMask(coarseRef, cm); err != nil {
		t.Fatal(err)
	}
	// The reference as a DICOM series of labels in the CT's frame.
	lv := volume.New(chaosCT.Geometry)
	on, _, err := chaosRef.OnGrid(chaosCT.Geometry)
	if err != nil {
		t.Fatal(err)
	}
	for i, x := range on.Voxels {
		lv.Voxels[i] = int16(x)
	}
	seriesRef := filepath.Join(dir, "series")
	if err := dicomio.WriteSeries(seriesRef, lv, dicomio.SeriesOptions{FrameOfReferenceUID: chaosCT.Info.FrameOfReference, UIDSeed: "eval test"}); err != nil {
		t.Fatal(err)
	}
	// The reference as a DICOM SEG made on the CT (the three-slice CT with
	// dcmqi's SEG is too thin for a model).
	segRef := filepath.Join(dir, "liver.dcm")
	if err := dicomseg.WriteSEG(segRef, chaosCT, on, dicomseg.SEGOptions{UIDSeed: "eval test"}); err != nil {
		t.Fatal(err)
	}

	chaosRes := tinyResult(t, chaosCT)
	tests := []struct {
		name, ct, ref string
		v             *volume.Volume // ct, loaded
		res           *inference.Result
		resampled     bool
	}{
		{"NIfTI reference of a DICOM CT", filepath.Join(chaos, "dicom"), filepath.Join(chaos, "liver.nii.gz"), chaosCT, chaosRes, false},
		{"NIfTI reference on a coarser grid", filepath.Join(chaos, "dicom"), coarseRef, chaosCT, chaosRes, true},
		{"DICOM series reference", filepath.Join(chaos, "dicom"), seriesRef, chaosCT, chaosRes, false},
		{"DICOM SEG reference", filepath.Join(chaos, "dicom"), segRef, chaosCT, chaosRes, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v, res := tc.v, tc.res
			// The app's path.
			disp := v.CanonicalGeometry()
			ref, err := refmask.Read(context.Background(), tc.ref, v, disp)
			if err != nil {
				t.Fatal(err)
			}
			if ref.Resampled != tc.resampled {
				t.Errorf("resampled %v, want %v", ref.Resampled, tc.resampled)
			}
			appDice, err := metrics.Dice(res.Mask.Canonical(), ref.Mask)
			if err != nil {
				t.Fatal(err)
			}
			// The command line's.
			code, stdout, stderr := runCLI("eval", "--json", "--threads", "2", "--models", tinyModels, "--model", "tiny", "--ref", tc.ref, tc.ct)
			var rep evalReport
			if code != 0 || json.Unmarshal([]byte(stdout), &rep) != nil || len(rep.Models) != 1 {
				t.Fatalf("eval: exit %d: %s\n%s", code, stderr, stdout)
			}
			if got := rep.Models[0].Dice; math.Abs(got-appDice) > 1e-12 || appDice <= 0 {
				t.Errorf("eval Dice %.6f, app Dice %.6f", got, appDice)
			}
			if tc.resampled != strings.Contains(strings.Join(rep.RefNotes, " "), "Resampled") {
				t.Errorf("eval's notes on the reference %q (resampled: %v)", rep.RefNotes, tc.resampled)
			}
			t.Logf("Dice %.4f (eval and app), notes %q", appDice, rep.RefNotes)
		})
	}
}

// TestEvalNoEdge: eval refines the edge from the scan by default, as the
// app does, and --no-edge gives the network's own outline: on the real case
// the two differ and the refined one scores higher (the held-out
// measurement is models/training/refine.py's).
func TestEvalNoEdge(t *testing.T) {
	study := testct.Abdomen(t)
	models := filepath.Join("..", "models")
	if _, err := os.Stat(filepath.Join(models, "student.onnx")); err != nil || !study.Real {
		t.Skip("needs the shipped student and the real chaos_ct01 (../shared/data)")
	}
	dice := func(extra ...string) float64 {
		t.Helper()
		args := append([]string{"eval", "--json", "--models", models, "--model", "student", "--ref", study.Liver}, extra...)
		code, stdout, stderr := runCLI(append(args, study.CT)...)
		var rep evalReport
		if code != 0 || json.Unmarshal([]byte(stdout), &rep) != nil || len(rep.Models) != 1 {
			t.Fatalf("eval %v: exit %d: %s", extra, code, stderr)
		}
		return rep.Models[0].Dice
	}
	refined, plain := dice(), dice("--no-edge")
	t.Logf("student on chaos_ct01: Dice %.4f refined, %.4f the network's own outline", refined, plain)
	if refined <= plain {
		t.Errorf("Dice %.4f with the edge refined, %.4f without: the refinement should help here", refined, plain)
	}
}
