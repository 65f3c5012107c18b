package metrics

import (
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/liverseg/liverseg/internal/testsupport/shareddata"
	"github.com/liverseg/liverseg/nifti"
	"github.com/liverseg/liverseg/volume"
)

// scipyRef is meta.json of testdata/scipy_reference.py.
type scipyRef struct {
	Size                                     [3]int
	Spacing                                  [3]float64
	Dice, IoU, HD95MM, ASSDMM, PredML, RefML float64
}

func (s *scipyRef) UnmarshalJSON(b []byte) error {
	var m struct {
		Size    [3]int     `json:"size"`
		Spacing [3]float64 `json:"spacing"`
		Dice    float64    `json:"dice"`
		IoU     float64    `json:"iou"`
		HD95    float64    `json:"hd95_mm"`
		ASSD    float64    `json:"assd_mm"`
		PredML  float64    `json:"pred_ml"`
		RefML   float64    `json:"ref_ml"`
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	*s = scipyRef{m.Size, m.Spacing, m.Dice, m.IoU, m.HD95, m.ASSD, m.PredML, m.RefML}
	return nil
}

// TestAgainstScipyOnRealLiver compares with scipy's exact EDT on the CHAOS
// case's manual liver label and a shifted, eroded copy of it (python3 with
// nibabel and scipy is installed by make setup).
func TestAgainstScipyOnRealLiver(t *testing.T) {
	liver := shareddata.Path(t, "cases", "chaos_ct01", "liver.nii.gz")
	out := t.TempDir()
	cmd := exec.Command("/usr/bin/python3", "testdata/scipy_reference.py", liver, out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("scipy reference failed (make setup installs python3-scipy and python3-nibabel): %v\n%s", err, b)
	}
	b, err := os.ReadFile(filepath.Join(out, "meta.json"))
	if err != nil {
		t.Fatal(err)
	}
	var want scipyRef
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	g := volume.Identity(want.Size, want.Spacing)
	load := func(name string) *volume.Mask {
		v, err := os.ReadFile(filepath.Join(out, name))
		if err != nil {
			t.Fatal(err)
		}
		if len(v) != g.NumVoxels() {
			t.Fatalf("%s: %d voxels for %v", name, len(v), want.Size)
		}
		return &volume.Mask{Geometry: g, Voxels: v}
	}
	pred, ref := load("pred.u8"), load("ref.u8")

	// The same label read by package nifti: the same voxels (in file
	// order, as nibabel gives them) on a grid of the same spacing.
	nm, err := nifti.ReadMask(liver)
	if err != nil {
		t.Fatal(err)
	}
	if nm.Size != want.Size || math.Abs(nm.Spacing[0]-want.Spacing[0]) > 1e-6 || math.Abs(nm.Spacing[2]-want.Spacing[2]) > 1e-6 {
		t.Fatalf("nifti.ReadMask grid %v %v, nibabel %v %v", nm.Size, nm.Spacing, want.Size, want.Spacing)
	}
	for i := range nm.Voxels {
		if (nm.Voxels[i] != 0) != (ref.Voxels[i] != 0) {
			t.Fatalf("nifti.ReadMask and nibabel differ at voxel %d", i)
		}
	}
	// Metrics on the nifti-read reference (its own LPS geometry) agree.
	pred2 := &volume.Mask{Geometry: nm.Geometry, Voxels: pred.Voxels}
	if r2, err := Compare(pred2, nm); err != nil {
		t.Fatal(err)
	} else if math.Abs(r2.Dice-want.Dice) > 1e-3 || math.Abs(r2.HD95MM-want.HD95MM) > 0.5 {
		t.Errorf("with nifti.ReadMask: Dice %v HD95 %v, scipy %v %v", r2.Dice, r2.HD95MM, want.Dice, want.HD95MM)
	}
	got, err := Compare(pred, ref)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("Go:    Dice %.6f IoU %.6f HD95 %.6f mm ASSD %.6f mm volumes %.2f / %.2f mL", got.Dice, got.IoU, got.HD95MM, got.ASSDMM, got.VolumeML, got.RefVolumeML)
	t.Logf("scipy: Dice %.6f IoU %.6f HD95 %.6f mm ASSD %.6f mm volumes %.2f / %.2f mL", want.Dice, want.IoU, want.HD95MM, want.ASSDMM, want.PredML, want.RefML)
	if math.Abs(got.Dice-want.Dice) > 1e-3 || math.Abs(got.IoU-want.IoU) > 1e-3 {
		t.Errorf("Dice/IoU differ from scipy")
	}
	if math.Abs(got.HD95MM-want.HD95MM) > 0.5 || math.Abs(got.ASSDMM-want.ASSDMM) > 0.05 {
		t.Errorf("surface distances differ from scipy")
	}
	if math.Abs(got.VolumeML-want.PredML) > 1e-6 || math.Abs(got.RefVolumeML-want.RefML) > 1e-6 {
		t.Errorf("volumes differ from scipy")
	}
	if !got.SurfaceOK || got.Dice > 0.99 || got.Dice < 0.5 {
		t.Errorf("implausible comparison: %+v", got)
	}
}
