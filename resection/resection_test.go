package resection

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/liverseg/liverseg/internal/testsupport/cputime"
	"github.com/liverseg/liverseg/internal/testsupport/masktest"
	"github.com/liverseg/liverseg/internal/testsupport/shareddata"
	"github.com/liverseg/liverseg/nifti"
	"github.com/liverseg/liverseg/volume"
)

// sphere is a mask of the voxel centres within r mm of c.
func sphere(g volume.Geometry, c Vec, r float64) *volume.Mask {
	m := volume.NewMask(g)
	for k := 0; k < g.Size[2]; k++ {
		for j := 0; j < g.Size[1]; j++ {
			for i := 0; i < g.Size[0]; i++ {
				p := g.IndexToPatient([3]float64{float64(i), float64(j), float64(k)})
				if norm(sub(p, c)) <= r {
					m.Voxels[g.Offset(i, j, k)] = 1
				}
			}
		}
	}
	return m
}

// capML is the volume of a sphere's cap of height h (mL).
func capML(r, h float64) float64 { return math.Pi * h * h * (3*r - h) / 3 / 1000 }

func mustPlane(t *testing.T, p, n Vec) Cut {
	t.Helper()
	c, err := NewPlane(p, n)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestVolumesAgainstAnalyticShapes(t *testing.T) {
	g := volume.Identity([3]int{110, 110, 50}, [3]float64{0.8, 0.8, 2})
	g.Origin = Vec{-44, -44, -50}
	const r = 40.0
	ball := sphere(g, Vec{0, 0, 0}, r)
	boxG := volume.Identity([3]int{120, 100, 80}, [3]float64{1, 1, 1})
	box := masktest.Box(boxG, [3]int{10, 10, 10}, [3]int{110, 90, 70}) // 100 × 80 × 60 mm from (10,10,10)
	oblique := Vec{1, 2, -2}                                           // |n| = 3
	bent := mustPlane(t, Vec{0, 0, 0}, Vec{0, 0, 1})
	for i := range bent.Offsets {
		for j := range bent.Offsets[i] {
			bent.Offsets[i][j] = 15 // Bernstein weights sum to one: the plane z = 15
		}
	}
	cases := []struct {
		name         string
		m            *volume.Mask
		plan         Plan
		wantResected float64 // mL
		wantTotal    float64
	}{
		{"sphere, axial plane 20 mm above the centre, normal up", ball,
			Plan{Cuts: []Cut{mustPlane(t, Vec{0, 0, 20}, Vec{0, 0, 1})}}, capML(r, 20), 4.0 / 3 * math.Pi * r * r * r / 1000},
		{"sphere, plane through the centre, normal down", ball,
			Plan{Cuts: []Cut{mustPlane(t, Vec{0, 0, 0}, Vec{0, 0, -1})}}, capML(r, r), 4.0 / 3 * math.Pi * r * r * r / 1000},
		{"sphere, oblique plane 10 mm from the centre", ball,
			Plan{Cuts: []Cut{mustPlane(t, scale(oblique, 10.0/3), oblique)}}, capML(r, r-10), 4.0 / 3 * math.Pi * r * r * r / 1000},
		{"sphere, a Bézier surface raised 15 mm everywhere", ball,
			Plan{Cuts: []Cut{bent}}, capML(r, r-15), 4.0 / 3 * math.Pi * r * r * r / 1000},
		{"box, sagittal plane 30 mm in, normal to the right (−x)", box,
			Plan{Cuts: []Cut{mustPlane(t, Vec{39.5, 50, 40}, Vec{-1, 0, 0})}}, 30 * 80 * 60 / 1000.0, 480},
		{"box, two planes, any side (union)", box,
			Plan{Combine: Any, Cuts: []Cut{mustPlane(t, Vec{59.5, 0, 0}, Vec{1, 0, 0}), mustPlane(t, Vec{0, 49.5, 0}, Vec{0, 1, 0})}}, 480 - 50*40*60/1000.0, 480},
		{"box, two planes, both sides (a quarter)", box,
			Plan{Combine: All, Cuts: []Cut{mustPlane(t, Vec{59.5, 0, 0}, Vec{1, 0, 0}), mustPlane(t, Vec{0, 49.5, 0}, Vec{0, 1, 0})}}, 50 * 40 * 60 / 1000.0, 480},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			l, err := NewLiver(tc.m, nil)
			if err != nil {
				t.Fatal(err)
			}
			v, err := l.Evaluate(tc.plan)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("total %.2f mL (analytic %.2f), resected %.2f (analytic %.2f), remnant %.2f, FLR %.2f %%",
				v.TotalML, tc.wantTotal, v.ResectedML, tc.wantResected, v.RemnantML, v.FLRPercent)
			if rel := math.Abs(v.ResectedML-tc.wantResected) / tc.wantResected; rel > 0.01 {
				t.Errorf("resected %.3f mL, analytic %.3f: off by %.2f%%", v.ResectedML, tc.wantResected, 100*rel)
			}
			wantRem := tc.wantTotal - tc.wantResected
			if rel := math.Abs(v.RemnantML-wantRem) / wantRem; rel > 0.01 {
				t.Errorf("remnant %.3f mL, analytic %.3f: off by %.2f%%", v.RemnantML, wantRem, 100*rel)
			}
			if math.Abs(v.ResectedML+v.RemnantML-v.TotalML) > 1e-9 {
				t.Errorf("resected + remnant = %.3f, total %.3f", v.ResectedML+v.RemnantML, v.TotalML)
			}
			if want := 100 * v.RemnantML / v.TotalML; math.Abs(v.FLRPercent-want) > 1e-9 {
				t.Errorf("FLR %.4f %%, want %.4f", v.FLRPercent, want)
			}
			// The per-voxel table lookup agrees with the exact surface test.
			res, rem, err := l.Masks(tc.plan)
			if err != nil {
				t.Fatal(err)
			}
			if res.Count()+rem.Count() != len(l.offsets) {
				t.Errorf("masks hold %d + %d voxels, the liver %d", res.Count(), rem.Count(), len(l.offsets))
			}
			differ := 0
			for _, o := range l.offsets {
				i, j, k := int(o)%tc.m.Size[0], int(o)/tc.m.Size[0]%tc.m.Size[1], int(o)/(tc.m.Size[0]*tc.m.Size[1])
				p := tc.m.IndexToPatient([3]float64{float64(i), float64(j), float64(k)})
				if tc.plan.Resected(p) != (res.Voxels[o] != 0) && !nearSurface(tc.plan, p, 0.01) {
					differ++
				}
			}
			if differ > len(l.offsets)/10000 {
				t.Errorf("%d of %d voxels classified differently by the table and by Plan.Resected", differ, len(l.offsets))
			}
		})
	}
}

func TestLesionMarginAndFLR(t *testing.T) {
	g := volume.Identity([3]int{100, 100, 60}, [3]float64{0.8, 0.8, 1.5})
	liver := masktest.Box(g, [3]int{5, 5, 5}, [3]int{95, 95, 55})
	c := g.IndexToPatient([3]float64{30, 50, 30})
	const lr = 8.0
	lesion := sphere(g, c, lr)
	l, err := NewLiver(liver, lesion)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []float64{12, 20, 30} {
		// A plane d mm from the lesion's centre towards +x, resecting -x
		// (the lesion's side).
		plan := Plan{Cuts: []Cut{mustPlane(t, add(c, Vec{d, 0, 0}), Vec{-1, 0, 0})}}
		v, err := l.Evaluate(plan)
		if err != nil {
			t.Fatal(err)
		}
		m, ok := l.Margin(plan, v)
		if !ok {
			t.Fatal("no margin with a lesion")
		}
		want := d - lr // to the lesion's surface; the map measures to voxel centres
		t.Logf("plane %g mm from the centre: margin %.2f mm (surface of the sphere %.2f mm), lesion %.2f mL resected %.2f", d, m.MinMM, want, v.LesionML, v.LesionResectedML)
		if m.MinMM < want-0.01 || m.MinMM > want+1.0 {
			t.Errorf("margin %.2f mm, want %.2f (+ up to one voxel)", m.MinMM, want)
		}
		if m.Crosses || m.InRemnant {
			t.Errorf("crosses %v, in remnant %v: the lesion lies wholly in the resected part", m.Crosses, m.InRemnant)
		}
		if math.Abs(v.LesionResectedML-v.LesionML) > 1e-9 || math.Abs(v.LesionML-lesion.VolumeML()) > 1e-9 {
			t.Errorf("lesion %.3f mL, resected part of it %.3f, mask %.3f", v.LesionML, v.LesionResectedML, lesion.VolumeML())
		}
		if want := 100 * v.RemnantML / (v.TotalML - v.LesionML); math.Abs(v.FLRPercent-want) > 1e-9 {
			t.Errorf("FLR %.3f %%, want the remnant over the liver without the lesion, %.3f", v.FLRPercent, want)
		}
	}
	// A plane through the lesion: margin 0 and flagged.
	plan := Plan{Cuts: []Cut{mustPlane(t, c, Vec{-1, 0, 0})}}
	v, _ := l.Evaluate(plan)
	if m, _ := l.Margin(plan, v); m.MinMM != 0 || !m.Crosses {
		t.Errorf("plane through the lesion: margin %.2f, crosses %v; want 0 and true", m.MinMM, m.Crosses)
	}
	// The lesion on the remnant side.
	plan = Plan{Cuts: []Cut{mustPlane(t, add(c, Vec{20, 0, 0}), Vec{1, 0, 0})}}
	v, _ = l.Evaluate(plan)
	if m, _ := l.Margin(plan, v); !m.InRemnant || m.MinMM < 11.99 {
		t.Errorf("lesion left in the remnant: in remnant %v, margin %.2f", m.InRemnant, m.MinMM)
	}
}

func TestFormulas(t *testing.T) {
	cases := []struct {
		h, w, remnant      float64
		bsa, slv, flrOfSLV float64
	}{
		// √(170·70/3600) = 1.8181 m²; −794.41 + 1267.28·1.8181 = 1509.66 mL.
		{170, 70, 500, 1.818119, 1509.655, 33.1201},
		{180, 90, 800, 2.121320, 1893.897, 42.2408},
	}
	for _, tc := range cases {
		b, err := BodyFigures(tc.h, tc.w, tc.remnant)
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(b.BSA-tc.bsa) > 1e-6 || math.Abs(b.SLVML-tc.slv) > 1e-3 || math.Abs(b.FLRSLVPercent-tc.flrOfSLV) > 1e-3 {
			t.Errorf("%g cm, %g kg: BSA %.6f, SLV %.3f, FLR/SLV %.4f; want %.6f, %.3f, %.4f", tc.h, tc.w, b.BSA, b.SLVML, b.FLRSLVPercent, tc.bsa, tc.slv, tc.flrOfSLV)
		}
	}
	for _, bad := range [][2]float64{{0, 70}, {170, -1}, {math.NaN(), 70}, {400, 70}} {
		if _, err := BodyFigures(bad[0], bad[1], 100); err == nil {
			t.Errorf("height %g, weight %g: no error", bad[0], bad[1])
		}
	}
	// FLR of a worked volumetry: total 1500 mL with a 100 mL lesion, 500 mL
	// remnant → 500 / 1400 = 35.7 %.
	if ok, s := Verdict(100*500/1400.0, 40); ok || !strings.Contains(s, "BELOW") || !strings.Contains(s, "35.7") {
		t.Errorf("35.7 %% against 40 %%: %v %q", ok, s)
	}
	if ok, s := Verdict(35.7, 30); !ok || !strings.Contains(s, "chemotherapy") {
		t.Errorf("35.7 %% against 30 %%: %v %q", ok, s)
	}
}

func TestPlanFileRoundTrip(t *testing.T) {
	c1, err := PlaneFromPoints(Vec{0, 0, 0}, Vec{10, 0, 0}, Vec{0, 10, 0})
	if err != nil {
		t.Fatal(err)
	}
	if c1.Normal != (Vec{0, 0, 1}) || math.Abs(c1.Origin[0]-10.0/3) > 1e-12 {
		t.Fatalf("plane from points: origin %v normal %v", c1.Origin, c1.Normal)
	}
	c1.Offsets[1][2] = 12.5
	c1.Offsets[3][0] = -4
	c1.Name = "right hemihepatectomy"
	c2 := mustPlane(t, Vec{-20, 30, 5}, Vec{1, 1, 0.2})
	plan := Plan{Combine: All, Cuts: []Cut{c1, c2}}
	info := volume.Info{StudyInstanceUID: "1.2.3", SeriesInstanceUID: "1.2.3.4", FrameOfReference: "1.2.3.5"}
	f := NewFile(plan, info, "abc")
	f.MinFLRPercent = 30
	path := filepath.Join(t.TempDir(), "plan.json")
	if err := f.Save(path, false); err != nil {
		t.Fatal(err)
	}
	if err := f.Save(path, false); err == nil {
		t.Error("saving over an existing plan without overwrite succeeded")
	}
	back, p, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if back.MinFLRPercent != 30 || back.StudyInstanceUID != "1.2.3" || back.MaskSHA256 != "abc" || p.Combine != All || len(p.Cuts) != 2 {
		t.Fatalf("read back %+v", back)
	}
	for n := range plan.Cuts {
		a, b := plan.Cuts[n], p.Cuts[n]
		for i := 0; i < Grid; i++ {
			for j := 0; j < Grid; j++ {
				if math.Abs(a.Offsets[i][j]-b.Offsets[i][j]) > 1e-9 {
					t.Errorf("cut %d offset %d,%d: %g, saved %g", n, i, j, b.Offsets[i][j], a.Offsets[i][j])
				}
			}
		}
		if norm(sub(a.Normal, b.Normal)) > 1e-12 || a.Name != b.Name {
			t.Errorf("cut %d: %+v, saved %+v", n, b, a)
		}
	}
	raw, _ := os.ReadFile(path)
	for _, want := range []string{`"control_points_lps_mm"`, "LPS", "points into the resected part", `"mask_sha256": "abc"`} {
		if !strings.Contains(string(raw), want) {
			t.Errorf("plan file lacks %s", want)
		}
	}

	// A control point moved sideways is refused, naming the cut.
	f.Cuts[0].ControlPoints[5][0] += 3
	bad := filepath.Join(t.TempDir(), "bad.json")
	f.Save(bad, false)
	if _, _, err := Load(bad); err == nil || !strings.Contains(err.Error(), "cut 1") || !strings.Contains(err.Error(), "bad.json") {
		t.Errorf("sideways control point: %v", err)
	}
	os.WriteFile(bad, []byte(`{"format":"something else"}`), 0o644)
	if _, _, err := Load(bad); err == nil || !strings.Contains(err.Error(), "not a LiverSeg resection plan") {
		t.Errorf("other JSON: %v", err)
	}
	if _, err := back.CheckStudy(volume.Info{FrameOfReference: "9.9"}, ""); err == nil {
		t.Error("another frame of reference was accepted")
	}
	if w, err := back.CheckStudy(info, "other"); err != nil || len(w) != 1 {
		t.Errorf("other mask: warnings %q, err %v; want one warning", w, err)
	}
}

func TestMaskChecksumIgnoresIndexOrder(t *testing.T) {
	g := volume.Identity([3]int{8, 7, 6}, [3]float64{1, 1, 2})
	m := masktest.Box(g, [3]int{1, 2, 3}, [3]int{5, 6, 5})
	f := g
	f.Direction = [3][3]float64{{-1, 0, 0}, {0, 1, 0}, {0, 0, 1}}
	f.Origin[0] = 7 // the same voxel centres, x index reversed
	fm := volume.NewMask(f)
	for k := 0; k < 6; k++ {
		for j := 0; j < 7; j++ {
			for i := 0; i < 8; i++ {
				fm.Voxels[f.Offset(7-i, j, k)] = m.Voxels[g.Offset(i, j, k)]
			}
		}
	}
	if a, b := MaskChecksum(m), MaskChecksum(fm); a != b {
		t.Errorf("checksums differ for the same mask in two index orders: %s %s", a, b)
	}
	fm.Voxels[0] ^= 1
	if MaskChecksum(m) == MaskChecksum(fm) {
		t.Error("checksum unchanged by a changed voxel")
	}
}

func realLiver(tb testing.TB) *volume.Mask {
	m, err := nifti.ReadMask(shareddata.Path(tb, "cases", "ircad_p01", "liver.nii.gz"))
	if err != nil {
		tb.Fatal(err)
	}
	return m
}

// BenchmarkControlPointMove is the live update while a surgeon drags one
// control point of a bent cut on a real liver: the volumes for the new
// surface (the plane's frame is cached after the first call).
func BenchmarkControlPointMove(b *testing.B) {
	m := realLiver(b)
	l, err := NewLiver(m, nil)
	if err != nil {
		b.Fatal(err)
	}
	cut, _ := NewPlane(Vec{-20, 0, 0}, Vec{1, 0, 0}) // placed off-centre; the liver's own coordinates
	lo, hi := bounds(l)
	cut.Origin = scale(add(lo, hi), 0.5)
	plan := Plan{Cuts: []Cut{cut}}
	if _, err := l.Evaluate(plan); err != nil {
		b.Fatal(err)
	}
	done := cputime.Measure(b)
	for i := 0; i < b.N; i++ {
		plan.Cuts[0].Offsets[1][2] = float64(i%20) - 10
		if _, err := l.Evaluate(plan); err != nil {
			b.Fatal(err)
		}
	}
	done()
}

func bounds(l *Liver) (lo, hi Vec) {
	lo = Vec{math.Inf(1), math.Inf(1), math.Inf(1)}
	hi = Vec{math.Inf(-1), math.Inf(-1), math.Inf(-1)}
	for _, p := range l.pos {
		for a := 0; a < 3; a++ {
			lo[a] = math.Min(lo[a], float64(p[a]))
			hi[a] = math.Max(hi[a], float64(p[a]))
		}
	}
	return lo, hi
}

func nearSurface(p Plan, x Vec, tol float64) bool {
	for _, c := range p.Cuts {
		if math.Abs(c.Side(x)) < tol {
			return true
		}
	}
	return false
}
