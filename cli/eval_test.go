package cli

import (
	"encoding/json"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/liverseg/liverseg/internal/testsupport/shareddata"
	"github.com/liverseg/liverseg/internal/testsupport/testct"
	"github.com/liverseg/liverseg/metrics"
	"github.com/liverseg/liverseg/nifti"
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
		{"other grid", []string{"--models", tinyModels, "--ref", otherRef, ct}, "is not on the grid"},
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
