package cli

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/liverseg/liverseg/internal/testsupport/testct"
	"github.com/liverseg/liverseg/nifti"
	"github.com/liverseg/liverseg/resection"
	"github.com/liverseg/liverseg/volume"
)

// TestMeshRealLiver writes the real liver's surface as STL and OBJ and
// checks the files against the mask: the STL's triangles enclose the mask's
// volume within 2 %.
func TestMeshRealLiver(t *testing.T) {
	study := testct.Abdomen(t)
	dir := t.TempDir()
	stl := filepath.Join(dir, "liver.stl")
	code, out, errOut := runCLI("mesh", "--mask", study.Liver, "--out", stl, study.CT)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if !strings.Contains(out, "wrote "+stl) || !strings.Contains(out, "LPS") {
		t.Errorf("output %q", out)
	}
	b, err := os.ReadFile(stl)
	if err != nil {
		t.Fatal(err)
	}
	n := int(binary.LittleEndian.Uint32(b[80:]))
	if len(b) != 84+50*n || n < 10000 {
		t.Fatalf("STL of %d bytes with %d triangles", len(b), n)
	}
	var vol float64
	for i := 0; i < n; i++ {
		var p [3][3]float64
		for v := 0; v < 3; v++ {
			for a := 0; a < 3; a++ {
				p[v][a] = float64(math.Float32frombits(binary.LittleEndian.Uint32(b[84+50*i+12+12*v+4*a:])))
			}
		}
		vol += p[0][0]*(p[1][1]*p[2][2]-p[1][2]*p[2][1]) - p[0][1]*(p[1][0]*p[2][2]-p[1][2]*p[2][0]) + p[0][2]*(p[1][0]*p[2][1]-p[1][1]*p[2][0])
	}
	vol /= 6000
	m, err := nifti.ReadMask(study.Liver)
	if err != nil {
		t.Fatal(err)
	}
	if rel := (vol - m.VolumeML()) / m.VolumeML(); math.Abs(rel) > 0.02 {
		t.Errorf("STL encloses %.1f mL, mask %.1f mL", vol, m.VolumeML())
	}
	obj := filepath.Join(dir, "liver.obj")
	if code, _, errOut := runCLI("mesh", "--mask", study.Liver, "--out", obj, "--raw", study.CT); code != 0 {
		t.Fatalf("obj: exit %d: %s", code, errOut)
	}
	if head, _ := os.ReadFile(obj); !strings.Contains(string(head[:200]), "SPACE=LPS") {
		t.Errorf("OBJ header %q lacks the coordinate system", head[:200])
	}
}

func TestMeshAndPlanBadInput(t *testing.T) {
	study := testct.Abdomen(t)
	dir := t.TempDir()
	exists := filepath.Join(dir, "x.stl")
	os.WriteFile(exists, []byte("x"), 0o644)
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"mesh", "--mask", study.Liver, study.CT}, "--out is required"},
		{[]string{"mesh", "--mask", study.Liver, "--out", filepath.Join(dir, "a.ply"), study.CT}, "must end in .stl"},
		{[]string{"mesh", "--mask", study.Liver, "--out", exists, study.CT}, "already exists"},
		{[]string{"mesh", "--mask", study.Liver, "--model", "student", "--out", filepath.Join(dir, "b.stl"), study.CT}, "not both"},
		{[]string{"mesh", "--mask", filepath.Join(dir, "none.nii.gz"), "--out", filepath.Join(dir, "c.stl"), study.CT}, "none.nii.gz"},
		{[]string{"plan", "--mask", study.Liver, study.CT}, "exactly one of --plane and --plan"},
		{[]string{"plan", "--mask", study.Liver, "--plane", "1,2,3", study.CT}, "six comma-separated"},
		{[]string{"plan", "--mask", study.Liver, "--plane", "1,2,3,0,0,0", study.CT}, "no direction"},
		{[]string{"plan", "--mask", study.Liver, "--plane", "0,0,0,1,0,0", "--height-cm", "170", study.CT}, "both --height-cm and --weight-kg"},
		{[]string{"plan", "--mask", study.Liver, "--plane", "0,0,0,1,0,0", "--height-cm", "17", "--weight-kg", "70", study.CT}, "height 17 cm"},
		{[]string{"plan", "--mask", study.Liver, "--plan", filepath.Join(dir, "none.json"), study.CT}, "none.json"},
	}
	for _, tc := range cases {
		code, _, errOut := runCLI(tc.args...)
		if code != 2 || !strings.Contains(errOut, tc.want) || !isReasonThenUsage(errOut, tc.want) {
			t.Errorf("%q: exit %d, stderr %q; want 2 and %q", tc.args, code, errOut, tc.want)
		}
	}
	if b, _ := os.ReadFile(exists); string(b) != "x" {
		t.Error("the existing file was changed")
	}
}

// TestPlanRealLiver cuts the real liver with a plane through its centre and
// checks the figures against the resection package, then saves the plane
// as a plan file and checks that --plan gives the same numbers.
func TestPlanRealLiver(t *testing.T) {
	study := testct.Abdomen(t)
	m, err := nifti.ReadMask(study.Liver)
	if err != nil {
		t.Fatal(err)
	}
	// The liver's centroid in LPS.
	c, _, _ := m.Centroid()
	plane := fmt.Sprintf("%g,%g,%g,-1,0.3,0", c[0], c[1], c[2])
	code, out, errOut := runCLI("plan", "--json", "--mask", study.Liver, "--plane", plane, "--height-cm", "170", "--weight-kg", "70", study.CT)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var rep planReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	v := rep.Volumes
	if math.Abs(v.TotalML-m.VolumeML()) > 1e-6 || math.Abs(v.ResectedML+v.RemnantML-v.TotalML) > 1e-6 || v.ResectedML < 0.2*v.TotalML || v.RemnantML < 0.2*v.TotalML {
		t.Errorf("volumes %+v, mask %.1f mL", v, m.VolumeML())
	}
	if rep.Body == nil || math.Abs(rep.Body.BSA-1.818119) > 1e-5 || math.Abs(rep.Body.FLRSLVPercent-100*v.RemnantML/rep.Body.SLVML) > 1e-9 {
		t.Errorf("body %+v", rep.Body)
	}
	t.Logf("plane %s through the centroid: total %.1f, resected %.1f, remnant %.1f mL, FLR %.1f %%, FLR/SLV %.1f %%", plane, v.TotalML, v.ResectedML, v.RemnantML, v.FLRPercent, rep.Body.FLRSLVPercent)

	// The same plane as a plan file (as the app saves it).
	cut, _ := parsePlane(plane)
	f := resection.NewFile(resection.Plan{Cuts: []resection.Cut{cut}}, volume.Info{}, resection.MaskChecksum(m))
	pf := filepath.Join(t.TempDir(), "plan.json")
	if err := f.Save(pf, false); err != nil {
		t.Fatal(err)
	}
	code, out2, errOut := runCLI("plan", "--json", "--mask", study.Liver, "--plan", pf, study.CT)
	if code != 0 {
		t.Fatalf("--plan: exit %d: %s", code, errOut)
	}
	var rep2 planReport
	json.Unmarshal([]byte(out2), &rep2)
	if rep2.Volumes != v || len(rep2.Warnings) != 0 {
		t.Errorf("--plan gives %+v (warnings %q), --plane %+v", rep2.Volumes, rep2.Warnings, v)
	}
	// Human-readable output names the convention's figures.
	_, text, _ := runCLI("plan", "--mask", study.Liver, "--plane", plane, study.CT)
	for _, want := range []string{"total liver", "resected", "remnant (FLR)", "FLR", "pointing into the resected part"} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}

}
