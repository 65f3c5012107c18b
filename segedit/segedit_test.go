package segedit

import (
	"bytes"
	"math"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/liverseg/liverseg/metrics"
	"github.com/liverseg/liverseg/volume"
)

// Grids the tests run on: canonical, flipped as a nibabel RAS NIfTI, axes
// permuted as a sagittal acquisition, and a tilted (oblique) one.
func testGrids() []struct {
	name string
	g    volume.Geometry
} {
	tilt := 12 * math.Pi / 180
	return []struct {
		name string
		g    volume.Geometry
	}{
		{"canonical LPS", volume.Geometry{Size: [3]int{40, 36, 20}, Spacing: [3]float64{0.7, 0.8, 2.5},
			Origin: [3]float64{-10, 5, 30}, Direction: [3][3]float64{{1, 0, 0}, {0, 1, 0}, {0, 0, 1}}}},
		{"RAS (x, y flipped)", volume.Geometry{Size: [3]int{36, 40, 18}, Spacing: [3]float64{0.9, 0.6, 3},
			Origin: [3]float64{20, 12, -40}, Direction: [3][3]float64{{-1, 0, 0}, {0, -1, 0}, {0, 0, 1}}}},
		{"sagittal PIL", volume.Geometry{Size: [3]int{30, 24, 40}, Spacing: [3]float64{0.75, 0.75, 2}, // i→P, j→I, k→L
			Origin: [3]float64{-30, -12, 25}, Direction: [3][3]float64{{0, 0, 1}, {1, 0, 0}, {0, -1, 0}}}},
		{"oblique 12°", volume.Geometry{Size: [3]int{40, 40, 20}, Spacing: [3]float64{0.8, 0.8, 2.5},
			Direction: [3][3]float64{{1, 0, 0}, {0, math.Cos(tilt), math.Sin(tilt)}, {0, -math.Sin(tilt), math.Cos(tilt)}}}},
	}
}

func ctOn(g volume.Geometry, fill func(p [3]float64) int16) *volume.Volume {
	v := volume.New(g)
	for k := 0; k < g.Size[2]; k++ {
		for j := 0; j < g.Size[1]; j++ {
			for i := 0; i < g.Size[0]; i++ {
				v.Voxels[g.Offset(i, j, k)] = fill(g.IndexToPatient([3]float64{float64(i), float64(j), float64(k)}))
			}
		}
	}
	return v
}

func dist(a, b [3]float64) float64 {
	return math.Sqrt((a[0]-b[0])*(a[0]-b[0]) + (a[1]-b[1])*(a[1]-b[1]) + (a[2]-b[2])*(a[2]-b[2]))
}

// TestBrushPhysicalRadius paints one dab at a voxel centre and checks, on
// the CT's own grid and voxel order, that exactly the voxels whose centres
// lie within the radius in patient millimetres were painted: for a sphere,
// and for a disc on the axial, coronal and sagittal slices through it.
func TestBrushPhysicalRadius(t *testing.T) {
	for _, tg := range testGrids() {
		for _, tc := range []struct {
			name   string
			sphere bool
			axis   int
			r      float64
		}{
			{"sphere 4 mm", true, 0, 4},
			{"sphere 6.3 mm", true, 0, 6.3},
			{"axial disc 5 mm", false, 2, 5},
			{"coronal disc 5 mm", false, 1, 5},
			{"sagittal disc 3.1 mm", false, 0, 3.1},
		} {
			t.Run(tg.name+"/"+tc.name, func(t *testing.T) {
				g := tg.g
				ct := volume.New(g)
				e, err := New(ct, nil, "", Options{})
				if err != nil {
					t.Fatal(err)
				}
				// The centre voxel in the CT's own order, and its canonical index.
				cv := [3]float64{float64(g.Size[0] / 2), float64(g.Size[1] / 2), float64(g.Size[2] / 2)}
				P := g.IndexToPatient(cv)
				c := e.Geometry().PatientToIndex(P)
				for a := range c {
					c[a] = math.Round(c[a])
				}
				ch, err := e.Stroke([][3]float64{c}, Brush{RadiusMM: tc.r, Sphere: tc.sphere, Axis: tc.axis}, false)
				if err != nil {
					t.Fatal(err)
				}
				m := e.Mask()
				if m.Geometry != g {
					t.Fatalf("result geometry %+v, want the CT's %+v", m.Geometry, g)
				}
				// The slice of the canonical axis through the centre, in
				// the CT's order: the voxels whose canonical index along
				// that axis equals c's.
				cg := e.Geometry()
				want := 0
				for k := 0; k < g.Size[2]; k++ {
					for j := 0; j < g.Size[1]; j++ {
						for i := 0; i < g.Size[0]; i++ {
							X := g.IndexToPatient([3]float64{float64(i), float64(j), float64(k)})
							ci := cg.PatientToIndex(X)
							d := dist(X, P)
							if !tc.sphere && math.Abs(ci[tc.axis]-c[tc.axis]) > 0.01 {
								d = math.Inf(1)
							}
							if math.Abs(d-tc.r) < 1e-6 {
								continue // on the sphere: either is right
							}
							in := d < tc.r
							if in {
								want++
							}
							if got := m.Voxels[g.Offset(i, j, k)] != 0; got != in {
								t.Fatalf("voxel (%d,%d,%d) at %.3f mm from the centre: painted %v, want %v", i, j, k, d, got, in)
							}
						}
					}
				}
				if want < 7 || ch.Voxels < want {
					t.Fatalf("painted %d voxels, expected %d (and a real brush)", ch.Voxels, want)
				}
				if got := e.Stats().Voxels; got != ch.Voxels {
					t.Fatalf("stats count %d, stroke changed %d", got, ch.Voxels)
				}
			})
		}
	}
}

// TestBrushStrokeHasNoGaps drags a small brush fast across the slice: the
// painted band must be connected along the whole path.
func TestBrushStrokeHasNoGaps(t *testing.T) {
	g := volume.Identity([3]int{100, 60, 5}, [3]float64{0.5, 0.5, 3})
	e, _ := New(volume.New(g), nil, "", Options{})
	if _, err := e.Stroke([][3]float64{{5, 30, 2}, {95, 30, 2}}, Brush{RadiusMM: 1, Axis: 2}, false); err != nil {
		t.Fatal(err)
	}
	for i := 5; i <= 95; i++ {
		if e.mask.Voxels[g.Offset(i, 30, 2)] == 0 {
			t.Fatalf("gap at x=%d", i)
		}
	}
	if e.mask.Voxels[g.Offset(50, 30, 1)] != 0 {
		t.Fatal("a 2D stroke painted another slice")
	}
}

// TestHURange paints and erases with an intensity window: voxels outside
// it are never taken.
func TestHURange(t *testing.T) {
	g := volume.Identity([3]int{40, 40, 10}, [3]float64{1, 1, 2})
	// Liver (120 HU) on the left half, fat (−100) on the right, air above k=7.
	ct := ctOn(g, func(p [3]float64) int16 {
		switch {
		case p[2] > 14:
			return -1000
		case p[0] < 20:
			return 120
		}
		return -100
	})
	e, _ := New(ct, nil, "", Options{})
	hu := &HURange{Lo: 60, Hi: 200}
	ch, err := e.Stroke([][3]float64{{20, 20, 5}}, Brush{RadiusMM: 12, Sphere: true, HU: hu}, false)
	if err != nil || ch.Voxels == 0 {
		t.Fatalf("stroke: %v, %d voxels", err, ch.Voxels)
	}
	for o, v := range e.mask.Voxels {
		if v != 0 && (ct.Voxels[o] < 60 || ct.Voxels[o] > 200) {
			t.Fatalf("voxel %d with %d HU painted", o, ct.Voxels[o])
		}
	}
	// Without the range the same stroke takes fat and air too.
	e2, _ := New(ct, nil, "", Options{})
	ch2, _ := e2.Stroke([][3]float64{{20, 20, 5}}, Brush{RadiusMM: 12, Sphere: true}, false)
	if ch2.Voxels <= ch.Voxels {
		t.Fatalf("without a range %d voxels, with %d", ch2.Voxels, ch.Voxels)
	}
	// Erasing with a fat window leaves the liver voxels.
	src := volume.NewMask(g)
	for o := range src.Voxels {
		src.Voxels[o] = 1
	}
	e3, _ := New(ct, src, "all", Options{})
	if _, err := e3.Stroke([][3]float64{{20, 20, 5}}, Brush{RadiusMM: 12, Sphere: true, HU: &HURange{Lo: -150, Hi: -50}}, true); err != nil {
		t.Fatal(err)
	}
	for o, v := range e3.mask.Voxels {
		if v == 0 && ct.Voxels[o] != -100 {
			t.Fatalf("erase took a %d HU voxel", ct.Voxels[o])
		}
	}
	if _, err := e3.BeginStroke(Brush{RadiusMM: 1, HU: &HURange{Lo: 10, Hi: 0}}, false); err == nil {
		t.Fatal("an empty HU range was accepted")
	}
}

func boxMask(g volume.Geometry, boxes ...[2][3]int) *volume.Mask {
	m := volume.NewMask(g)
	for _, b := range boxes {
		for k := b[0][2]; k < b[1][2]; k++ {
			for j := b[0][1]; j < b[1][1]; j++ {
				for i := b[0][0]; i < b[1][0]; i++ {
					m.Voxels[g.Offset(i, j, k)] = 1
				}
			}
		}
	}
	return m
}

func TestIslands(t *testing.T) {
	g := volume.Identity([3]int{30, 30, 10}, [3]float64{1, 1, 2.5})
	ct := volume.New(g)
	liver := [2][3]int{{2, 2, 1}, {14, 20, 9}}
	leak := [2][3]int{{20, 5, 2}, {26, 12, 6}}
	corner := [2][3]int{{14, 20, 9}, {16, 22, 10}} // touches the liver at a corner only
	src := boxMask(g, liver, leak, corner)
	orig := bytes.Clone(src.Voxels)
	count := func(b [2][3]int) int { return (b[1][0] - b[0][0]) * (b[1][1] - b[0][1]) * (b[1][2] - b[0][2]) }
	for _, tc := range []struct {
		name  string
		keep  bool
		seed  [3]int
		left  int
		empty [][2][3]int
	}{
		{"remove the leak", false, [3]int{22, 8, 3}, count(liver) + count(corner), [][2][3]int{leak}},
		{"remove the corner island", false, [3]int{15, 21, 9}, count(liver) + count(leak), [][2][3]int{corner}},
		{"keep the liver", true, [3]int{5, 5, 5}, count(liver), [][2][3]int{leak, corner}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, _ := New(ct, src, "model", Options{})
			var err error
			if tc.keep {
				_, err = e.KeepIsland(tc.seed)
			} else {
				_, err = e.RemoveIsland(tc.seed)
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := e.Stats().Voxels; got != tc.left {
				t.Fatalf("%d voxels left, want %d", got, tc.left)
			}
			for _, b := range tc.empty {
				if e.mask.Voxels[g.Offset(b[0][0], b[0][1], b[0][2])] != 0 {
					t.Fatalf("island %v still there", b)
				}
			}
			if !bytes.Equal(src.Voxels, orig) {
				t.Fatal("the source mask was modified")
			}
			e.Undo()
			if !bytes.Equal(e.mask.Voxels, orig) {
				t.Fatal("undo did not restore the islands")
			}
		})
	}
	e, _ := New(ct, src, "model", Options{})
	if _, err := e.RemoveIsland([3]int{0, 0, 0}); err != ErrNoIsland {
		t.Fatalf("background click: %v, want ErrNoIsland", err)
	}
}

// TestScissorsCutThenIsland: a leak joined to the liver by a neck is cut
// along a line through all slices, then removed with one click; within a
// slab the cut leaves the other slices alone.
func TestScissorsCutThenIsland(t *testing.T) {
	g := volume.Identity([3]int{40, 20, 12}, [3]float64{0.8, 0.8, 2})
	liver := [2][3]int{{2, 2, 0}, {18, 18, 12}}
	neck := [2][3]int{{18, 8, 0}, {24, 11, 12}}
	leak := [2][3]int{{24, 4, 2}, {36, 16, 10}}
	src := boxMask(g, liver, neck, leak)
	e, _ := New(volume.New(g), src, "model", Options{})
	if _, err := e.RemoveIsland([3]int{30, 10, 5}); err != nil {
		t.Fatal(err)
	}
	if e.Stats().Voxels != 0 {
		t.Fatal("the leak is joined to the liver: removing it should remove everything")
	}
	e.Undo()
	// A vertical line across the neck at x = 21 on the axial view.
	cut := Scissors{Axis: 2, Points: [][3]float64{{21, 0, 0}, {21.2, 19, 0}}, Shape: CutLine, WidthMM: 1.5}
	if _, err := e.Scissors(cut); err != nil {
		t.Fatal(err)
	}
	if _, err := e.RemoveIsland([3]int{30, 10, 5}); err != nil {
		t.Fatal(err)
	}
	if e.mask.Voxels[g.Offset(10, 10, 5)] == 0 || e.mask.Voxels[g.Offset(30, 10, 5)] != 0 {
		t.Fatal("the cut did not separate the leak from the liver")
	}
	// Within a slab only.
	e2, _ := New(volume.New(g), src, "model", Options{})
	cut.Slab = &[2]int{3, 5}
	if _, err := e2.Scissors(cut); err != nil {
		t.Fatal(err)
	}
	for k := 0; k < 12; k++ {
		on := e2.mask.Voxels[g.Offset(21, 9, k)] != 0
		if on == (k >= 3 && k <= 5) {
			t.Fatalf("slice %d: neck voxel present %v with the slab 3–5", k, on)
		}
	}
	// Polygons: erase inside and outside.
	for _, shape := range []ScissorsShape{EraseInside, EraseOutside} {
		e3, _ := New(volume.New(g), src, "model", Options{})
		poly := [][3]float64{{0, 0, 0}, {19, 0, 0}, {19, 19, 0}, {0, 19, 0}}
		if _, err := e3.Scissors(Scissors{Axis: 2, Points: poly, Shape: shape}); err != nil {
			t.Fatal(err)
		}
		inLiver := e3.mask.Voxels[g.Offset(10, 10, 5)] != 0
		inLeak := e3.mask.Voxels[g.Offset(30, 10, 5)] != 0
		if inLiver != (shape == EraseOutside) || inLeak != (shape == EraseInside) {
			t.Fatalf("%s: liver %v leak %v", shape, inLiver, inLeak)
		}
	}
	if _, err := e.Scissors(Scissors{Axis: 2, Points: [][3]float64{{1, 1, 0}}}); err == nil {
		t.Fatal("a one-point cut was accepted")
	}
}

// TestFillBetween paints a 10 mm disc on axial slice 4 and a 20 mm disc on
// slice 14 with the 2D brush and fills between: slice 9 must hold a disc of
// about 15 mm.
func TestFillBetween(t *testing.T) {
	g := volume.Identity([3]int{80, 80, 20}, [3]float64{0.7, 0.7, 2.5})
	e, _ := New(volume.New(g), nil, "", Options{})
	c := [3]float64{40, 40, 4}
	if _, err := e.Stroke([][3]float64{c}, Brush{RadiusMM: 10, Axis: 2}, false); err != nil {
		t.Fatal(err)
	}
	c[2] = 14
	if _, err := e.Stroke([][3]float64{c}, Brush{RadiusMM: 20, Axis: 2}, false); err != nil {
		t.Fatal(err)
	}
	if ks := e.AxialKeySlices(); len(ks) != 2 || ks[0] != 4 || ks[1] != 14 {
		t.Fatalf("key slices %v, want [4 14]", ks)
	}
	before := bytes.Clone(e.mask.Voxels)
	ch, err := e.FillBetween(nil)
	if err != nil {
		t.Fatal(err)
	}
	nxy := 80 * 80
	for k := 5; k < 14; k++ {
		want := 10 + 10*float64(k-4)/10 // radius in mm
		n := 0
		for i, v := range e.mask.Voxels[k*nxy : (k+1)*nxy] {
			if v == 0 {
				continue
			}
			n++
			x, y := float64(i%80), float64(i/80)
			if r := math.Hypot((x-40)*0.7, (y-40)*0.7); r > want+1 {
				t.Fatalf("slice %d: voxel at %.1f mm, disc radius should be %.1f", k, r, want)
			}
		}
		area := float64(n) * 0.49
		if wantA := math.Pi * want * want; math.Abs(area-wantA) > 0.12*wantA {
			t.Fatalf("slice %d: area %.0f mm², want about %.0f (radius %.1f mm)", k, area, wantA, want)
		}
	}
	for _, k := range []int{0, 3, 4, 14, 15, 19} {
		if !bytes.Equal(e.mask.Voxels[k*nxy:(k+1)*nxy], before[k*nxy:(k+1)*nxy]) {
			t.Fatalf("slice %d outside the gap changed", k)
		}
	}
	if ch.Voxels == 0 {
		t.Fatal("nothing filled")
	}
	e.Undo()
	if !bytes.Equal(e.mask.Voxels, before) {
		t.Fatal("undo of fill between did not restore the mask")
	}
	if _, err := New(volume.New(g), nil, "", Options{}); err != nil {
		t.Fatal(err)
	}
	e2, _ := New(volume.New(g), nil, "", Options{})
	if _, err := e2.FillBetween(nil); err == nil {
		t.Fatal("fill between with no key slices was accepted")
	}
}

func TestSmooth(t *testing.T) {
	g := volume.Identity([3]int{40, 40, 16}, [3]float64{0.8, 0.8, 2})
	cube := [2][3]int{{8, 8, 3}, {30, 30, 13}}
	src := boxMask(g, cube)
	// A 1-voxel notch, and a 1-voxel spur.
	src.Voxels[g.Offset(8, 15, 8)] = 0
	src.Voxels[g.Offset(18, 8, 8)] = 0
	spur := g.Offset(30, 20, 8)
	src.Voxels[spur] = 1
	src.Voxels[g.Offset(31, 20, 8)] = 1
	for _, tc := range []struct {
		kind              SmoothKind
		r                 float64
		notchFilled, spur bool
	}{
		{Closing, 2, true, true},
		{Opening, 2, false, false},
		{Median, 1.7, true, false},
	} {
		t.Run(tc.kind.String(), func(t *testing.T) {
			e, _ := New(volume.New(g), src, "m", Options{})
			if _, err := e.Smooth(tc.kind, tc.r); err != nil {
				t.Fatal(err)
			}
			v := e.mask.Voxels
			if got := v[g.Offset(8, 15, 8)] != 0; got != tc.notchFilled {
				t.Fatalf("notch filled %v, want %v", got, tc.notchFilled)
			}
			if got := v[spur] != 0; got != tc.spur {
				t.Fatalf("spur kept %v, want %v", got, tc.spur)
			}
			if v[g.Offset(19, 19, 8)] == 0 {
				t.Fatal("the cube's centre was lost")
			}
			checkStats(t, e)
		})
	}
}

// checkStats recomputes the live figures from scratch.
func checkStats(t *testing.T, e *Editor) {
	t.Helper()
	s := e.Stats()
	n := 0
	for _, v := range e.mask.Voxels {
		if v > 1 {
			t.Fatalf("mask holds %d", v)
		}
		n += int(v)
	}
	if s.Voxels != n {
		t.Fatalf("live count %d, recount %d", s.Voxels, n)
	}
	cm := &volume.Mask{Geometry: e.geom, Voxels: e.mask.Voxels}
	if e.src != nil {
		d, _ := metrics.Dice(cm, &volume.Mask{Geometry: e.geom, Voxels: e.src})
		if math.Abs(d-s.DiceSource) > 1e-12 {
			t.Fatalf("live Dice vs source %.9f, recomputed %.9f", s.DiceSource, d)
		}
	}
	if e.ref != nil {
		d, _ := metrics.Dice(cm, &volume.Mask{Geometry: e.geom, Voxels: e.ref})
		if math.Abs(d-s.DiceRef) > 1e-12 {
			t.Fatalf("live Dice vs reference %.9f, recomputed %.9f", s.DiceRef, d)
		}
	}
}

// TestUndoRedoBitForBit runs a random sequence of every kind of edit on a
// non-canonical grid, then undoes and redoes it all, comparing the mask
// with the snapshot after each step, and the live figures with a recount.
func TestUndoRedoBitForBit(t *testing.T) {
	for _, tg := range testGrids()[:3] {
		t.Run(tg.name, func(t *testing.T) {
			g := tg.g
			rng := rand.New(rand.NewSource(7))
			ct := ctOn(g, func(p [3]float64) int16 { return int16(rng.Intn(400) - 100) })
			src := volume.NewMask(g)
			ref := volume.NewMask(g)
			for o := range src.Voxels {
				if rng.Intn(3) == 0 {
					src.Voxels[o] = 1
				}
				if rng.Intn(4) == 0 {
					ref.Voxels[o] = 2 // labels are binarised
				}
			}
			srcCopy := bytes.Clone(src.Voxels)
			e, err := New(ct, src, "student", Options{Reference: ref})
			if err != nil {
				t.Fatal(err)
			}
			if e.Name() != "student, edited" || e.Dirty() {
				t.Fatalf("name %q dirty %v", e.Name(), e.Dirty())
			}
			n := e.Geometry().Size
			rp := func() [3]float64 {
				return [3]float64{rng.Float64() * float64(n[0]-1), rng.Float64() * float64(n[1]-1), float64(rng.Intn(n[2]))}
			}
			snaps := [][]uint8{bytes.Clone(e.mask.Voxels)}
			for s := 0; s < 40; s++ {
				var err error
				switch s % 6 {
				case 0, 1:
					_, err = e.Stroke([][3]float64{rp(), rp(), rp()}, Brush{RadiusMM: 1 + rng.Float64()*4, Sphere: s%4 == 0, Axis: rng.Intn(3), HU: &HURange{Lo: -50, Hi: 250}}, s%2 == 1)
				case 2:
					p := rp()
					_, err = e.RemoveIsland([3]int{int(p[0]), int(p[1]), int(p[2])})
					if err == ErrNoIsland {
						err = nil
					}
				case 3:
					_, err = e.Scissors(Scissors{Axis: rng.Intn(3), Points: [][3]float64{rp(), rp(), rp()}, Shape: ScissorsShape(rng.Intn(3)), Slab: &[2]int{2, 6}})
				case 4:
					_, err = e.Smooth(SmoothKind(rng.Intn(3)), 1.5)
				case 5:
					_, err = e.FillBetween([]int{1, 5, 9})
				}
				if err != nil {
					t.Fatalf("step %d: %v", s, err)
				}
				if e.Position() == len(snaps) {
					snaps = append(snaps, bytes.Clone(e.mask.Voxels))
				}
				checkStats(t, e)
			}
			if !e.Dirty() {
				t.Fatal("edited but not dirty")
			}
			if !bytes.Equal(src.Voxels, srcCopy) {
				t.Fatal("the source mask was modified")
			}
			for p := len(snaps) - 1; p > 0; p-- {
				if !bytes.Equal(e.mask.Voxels, snaps[p]) {
					t.Fatalf("state %d differs before undo", p)
				}
				e.Undo()
				checkStats(t, e)
			}
			if !bytes.Equal(e.mask.Voxels, snaps[0]) || e.CanUndo() || e.Dirty() {
				t.Fatal("undoing everything did not restore the start")
			}
			for p := 1; p < len(snaps); p++ {
				e.Redo()
				if !bytes.Equal(e.mask.Voxels, snaps[p]) {
					t.Fatalf("redo to state %d differs", p)
				}
			}
			if e.CanRedo() {
				t.Fatal("redo left over")
			}
			checkStats(t, e)
		})
	}
}

// TestHistoryBounds: at least 50 steps undo; beyond MaxSteps the oldest
// drop off, and the memory kept is the runs, not volumes.
func TestHistoryBounds(t *testing.T) {
	g := volume.Identity([3]int{128, 128, 40}, [3]float64{0.7, 0.7, 2.5})
	e, _ := New(volume.New(g), nil, "", Options{MaxSteps: 50})
	for s := 0; s < 60; s++ {
		if _, err := e.Stroke([][3]float64{{float64(10 + s), 60, 20}, {float64(10 + s), 80, 20}}, Brush{RadiusMM: 4, Sphere: true}, false); err != nil {
			t.Fatal(err)
		}
	}
	steps, bytes, dropped := e.History()
	if len(steps) != 50 || dropped != 10 {
		t.Fatalf("%d steps kept, %d dropped; want 50 and 10", len(steps), dropped)
	}
	if vol := g.NumVoxels(); bytes > vol/10 {
		t.Fatalf("history uses %d bytes for a %d-voxel grid", bytes, vol)
	}
	undone := 0
	for e.CanUndo() {
		e.Undo()
		undone++
	}
	if undone != 50 {
		t.Fatalf("undid %d steps", undone)
	}
	if e.Stats().Voxels == 0 {
		t.Fatal("the dropped steps' voxels should remain")
	}
	if !e.Dirty() {
		t.Fatal("the start state is gone, so the mask is dirty")
	}
	// A new step after undo drops the redo branch.
	e.Redo()
	e.Stroke([][3]float64{{5, 5, 5}}, Brush{RadiusMM: 2, Sphere: true}, false)
	if e.CanRedo() {
		t.Fatal("redo branch survived a new step")
	}
	e.MarkSaved()
	if e.Dirty() {
		t.Fatal("dirty right after MarkSaved")
	}
}

func TestNewRejectsOtherGrids(t *testing.T) {
	g := volume.Identity([3]int{10, 10, 5}, [3]float64{1, 1, 2})
	other := volume.Identity([3]int{10, 10, 5}, [3]float64{1, 1, 3})
	if _, err := New(volume.New(g), volume.NewMask(other), "x", Options{}); err == nil {
		t.Fatal("a mask on another grid was accepted")
	}
	if _, err := New(volume.New(g), nil, "", Options{Reference: volume.NewMask(other)}); err == nil {
		t.Fatal("a reference on another grid was accepted")
	}
	e, _ := New(volume.New(g), nil, "", Options{})
	s, _ := e.BeginStroke(Brush{RadiusMM: 2, Axis: 2}, false)
	s.To([3]float64{5, 5, 2})
	if _, err := e.RemoveIsland([3]int{5, 5, 2}); err != ErrStrokeOpen {
		t.Fatalf("island during a stroke: %v", err)
	}
	s.Cancel()
	if e.Stats().Voxels != 0 || e.CanUndo() {
		t.Fatal("a cancelled stroke left voxels or a step")
	}
}

// TestPendingSmoothRefusesAChangedMask: a smoothing computed in the
// background is not applied over an edit made meanwhile.
func TestPendingSmoothRefusesAChangedMask(t *testing.T) {
	g := volume.Identity([3]int{30, 30, 10}, [3]float64{1, 1, 2})
	e, _ := New(volume.New(g), boxMask(g, [2][3]int{{5, 5, 2}, {20, 20, 8}}), "m", Options{})
	p, err := e.PrepareSmooth(Opening, 2)
	if err != nil {
		t.Fatal(err)
	}
	p.Compute()
	if _, err := e.Stroke([][3]float64{{25, 25, 5}}, Brush{RadiusMM: 2, Axis: 2}, false); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Apply(); err != ErrChanged {
		t.Fatalf("Apply after an edit: %v, want ErrChanged", err)
	}
	p, _ = e.PrepareSmooth(Opening, 2)
	p.Compute()
	if ch, err := p.Apply(); err != nil || !ch.Step {
		t.Fatalf("Apply: %v %+v", err, ch)
	}
}

func TestAutosave(t *testing.T) {
	a := Autosave{Dir: filepath.Join(t.TempDir(), "edits")}
	if recs, err := a.List(); err != nil || len(recs) != 0 {
		t.Fatalf("empty folder: %v %v", recs, err)
	}
	g := volume.Geometry{Size: [3]int{12, 10, 6}, Spacing: [3]float64{0.8, 0.8, 2}, Direction: [3][3]float64{{-1, 0, 0}, {0, -1, 0}, {0, 0, 1}}, Origin: [3]float64{5, 6, 7}}
	m := boxMask(g, [2][3]int{{2, 2, 1}, {7, 6, 4}})
	r1 := Record{Study: "/data/a", SeriesUID: "1.2.3", Name: "student, edited", Source: "student", Saved: time.Unix(100, 0).UTC(), Steps: 3, VolumeML: m.VolumeML()}
	r2 := Record{Study: "/data/b", Name: "drawn by hand", Saved: time.Unix(200, 0).UTC()}
	for _, r := range []Record{r1, r2, r1} { // saving again replaces
		if err := a.Save(r, m); err != nil {
			t.Fatal(err)
		}
	}
	recs, err := a.List()
	if err != nil || len(recs) != 2 || recs[0].Study != "/data/b" {
		t.Fatalf("records %+v (%v): want two, newest first", recs, err)
	}
	got, err := a.Load(recs[1])
	if err != nil || !bytes.Equal(got.Voxels, m.Voxels) || !got.SameGridWithin(g, 1e-3) {
		t.Fatalf("loaded mask differs (%v)", err)
	}
	// A damaged record is named and skipped; the others still list.
	if err := os.WriteFile(filepath.Join(a.Dir, "broken.json"), []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	recs, err = a.List()
	if len(recs) != 2 || err == nil || !strings.Contains(err.Error(), "broken.json") {
		t.Fatalf("with a damaged record: %d records, %v", len(recs), err)
	}
	if err := a.Remove(r1); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(a.Dir, r1.Key()+".nii.gz")); !os.IsNotExist(err) {
		t.Fatal("mask left after Remove")
	}
	if err := a.Remove(r1); err != nil {
		t.Fatalf("removing twice: %v", err)
	}
}

// TestRemoveLeak: a leak joined to the liver by a 2.4 mm neck is removed
// with one click (neck 2 mm) without a cut; the liver keeps every voxel.
func TestRemoveLeak(t *testing.T) {
	g := volume.Identity([3]int{44, 24, 14}, [3]float64{0.8, 0.8, 2})
	liver := [2][3]int{{2, 2, 1}, {18, 22, 13}}
	neck := [2][3]int{{18, 10, 5}, {24, 13, 9}}
	leak := [2][3]int{{24, 4, 2}, {40, 20, 12}}
	src := boxMask(g, liver, neck, leak)
	e, _ := New(volume.New(g), src, "model", Options{})
	p, err := e.PrepareRemoveLeak([3]int{32, 12, 7}, 2)
	if err != nil {
		t.Fatal(err)
	}
	p.Compute()
	ch, err := p.Apply()
	if err != nil {
		t.Fatal(err)
	}
	m := e.CanonicalMask().Voxels
	for k := liver[0][2]; k < liver[1][2]; k++ {
		for j := liver[0][1]; j < liver[1][1]; j++ {
			for i := liver[0][0]; i < liver[1][0]; i++ {
				if m[g.Offset(i, j, k)] == 0 {
					t.Fatalf("liver voxel (%d,%d,%d) removed", i, j, k)
				}
			}
		}
	}
	for k := leak[0][2]; k < leak[1][2]; k++ {
		for j := leak[0][1]; j < leak[1][1]; j++ {
			for i := leak[0][0] + 3; i < leak[1][0]; i++ {
				if m[g.Offset(i, j, k)] != 0 {
					t.Fatalf("leak voxel (%d,%d,%d) kept", i, j, k)
				}
			}
		}
	}
	if !strings.HasPrefix(ch.Name, "Remove leak") {
		t.Fatalf("step %q", ch.Name)
	}
	checkStats(t, e)
	// A click on the neck itself (thinner than the erosion) is refused.
	e.Undo()
	if _, err := e.PrepareRemoveLeak([3]int{21, 11, 7}, 2); err != nil {
		t.Fatal(err)
	}
	p, _ = e.PrepareRemoveLeak([3]int{21, 11, 7}, 2)
	p.Compute()
	if _, err := p.Apply(); err == nil || !strings.Contains(err.Error(), "thinner") {
		t.Fatalf("click on the neck: %v", err)
	}
}
