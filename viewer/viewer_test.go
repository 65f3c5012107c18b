package viewer

import (
	"math"
	"math/rand"
	"strings"
	"testing"

	"github.com/liverseg/liverseg/volume"
)

func TestLUT(t *testing.T) {
	tests := []struct {
		wl   WindowLevel
		v    int16
		want uint8
	}{
		{WindowLevel{400, 40}, -1000, 0},
		{WindowLevel{400, 40}, -160, 0},
		{WindowLevel{400, 40}, 40, 128},
		{WindowLevel{400, 40}, 240, 255},
		{WindowLevel{400, 40}, 3000, 255},
		{WindowLevel{1500, -600}, -600, 128},
		{WindowLevel{1500, -600}, -1350, 0},
		{WindowLevel{150, 30}, 30 + 75, 255},
		{WindowLevel{150, 30}, 30 - 75, 0},
		{WindowLevel{0, 0}, 0, 128}, // width clamped to 1
		{WindowLevel{400, 40}, math.MinInt16, 0},
		{WindowLevel{400, 40}, math.MaxInt16, 255},
	}
	for _, tc := range tests {
		if got := NewLUT(tc.wl).Map(tc.v); got != tc.want {
			t.Errorf("%v: Map(%d) = %d, want %d", tc.wl, tc.v, got, tc.want)
		}
	}
	// Monotonic over the whole range.
	l := NewLUT(WindowLevel{400, 40})
	prev := uint8(0)
	for v := math.MinInt16; v <= math.MaxInt16; v++ {
		g := l.Map(int16(v))
		if g < prev {
			t.Fatalf("LUT not monotonic at %d", v)
		}
		prev = g
	}
}

func TestPresetsFromFieldNotes(t *testing.T) {
	want := map[string]WindowLevel{"Abdomen": {400, 40}, "Liver, unenhanced": {150, 30}, "Bone": {1800, 400}, "Lung": {1500, -600}}
	for _, p := range Presets {
		if w, ok := want[p.Name]; !ok || w != p.WL || p.Source == "" {
			t.Errorf("preset %s = %v (source %q), want %v with a source", p.Name, p.WL, p.Source, w)
		}
		delete(want, p.Name)
	}
	if len(want) != 0 {
		t.Errorf("missing presets %v", want)
	}
}

// signedPerm builds a direction matrix whose column c is sign[c] times the
// unit vector of patient axis axis[c].
func signedPerm(axis, sign [3]int) [3][3]float64 {
	var d [3][3]float64
	for c := 0; c < 3; c++ {
		d[axis[c]][c] = float64(sign[c])
	}
	return d
}

// TestRadiologicalConvention places a bright voxel at the patient's
// right-anterior-superior corner of volumes stored in many orientations and
// checks that every plane shows it in its top-left pixel: R (axial,
// coronal) or A (sagittal) on screen left, A (axial) or S up.
func TestRadiologicalConvention(t *testing.T) {
	tests := []struct {
		name       string
		axis, sign [3]int
	}{
		{"LPS axial DICOM", [3]int{0, 1, 2}, [3]int{1, 1, 1}},
		{"RAS NIfTI", [3]int{0, 1, 2}, [3]int{-1, -1, 1}},
		{"LPI feet-first", [3]int{0, 1, 2}, [3]int{1, 1, -1}},
		{"coronal acquisition", [3]int{0, 2, 1}, [3]int{1, -1, 1}},
		{"sagittal acquisition", [3]int{1, 2, 0}, [3]int{1, -1, -1}},
		{"PIR", [3]int{1, 2, 0}, [3]int{1, -1, -1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := volume.Geometry{Size: [3]int{4, 5, 6}, Spacing: [3]float64{1, 2, 3}, Origin: [3]float64{10, -20, 30},
				Direction: signedPerm(tc.axis, tc.sign)}
			v := volume.New(g)
			for n := range v.Voxels {
				v.Voxels[n] = -1000
			}
			// Find the voxel with min x (Right), min y (Anterior), max z (Superior).
			best, bestIdx := math.Inf(-1), [3]int{}
			for k := 0; k < 6; k++ {
				for j := 0; j < 5; j++ {
					for i := 0; i < 4; i++ {
						p := g.IndexToPatient([3]float64{float64(i), float64(j), float64(k)})
						if s := -p[0] - p[1] + p[2]; s > best {
							best, bestIdx = s, [3]int{i, j, k}
						}
					}
				}
			}
			v.Voxels[g.Offset(bestIdx[0], bestIdx[1], bestIdx[2])] = 1000
			s, err := NewSlicer(v)
			if err != nil {
				t.Fatal(err)
			}
			if s.Note() != "" {
				t.Errorf("axis-aligned volume got an oblique note: %s", s.Note())
			}
			sc := NewScene(s)
			sc.SetCursor([3]int{0, 0, 1 << 20}) // clamps to the superior-most slice
			for _, p := range Planes {
				img := sc.Render(nil, p)
				if got := img.RGBAAt(0, 0).R; got != 255 {
					t.Errorf("%v: top-left pixel = %d, want the RAS corner voxel (255)", p, got)
				}
				bright := 0
				for n := 0; n < len(img.Pix); n += 4 {
					if img.Pix[n] != 0 {
						bright++
					}
				}
				if bright != 1 {
					t.Errorf("%v: %d bright pixels, want 1", p, bright)
				}
				// Pixel spacing follows patient axes: axial x is the L axis (1 mm etc.).
				wantSp := map[int]float64{}
				for c := 0; c < 3; c++ {
					wantSp[tc.axis[c]] = g.Spacing[c]
				}
				sx, sy := s.PixelSpacing(p)
				ax, ay, _ := p.axes()
				if sx != wantSp[ax] || sy != wantSp[ay] {
					t.Errorf("%v: pixel spacing %v×%v, want %v×%v", p, sx, sy, wantSp[ax], wantSp[ay])
				}
			}
		})
	}
}

func TestObliqueNote(t *testing.T) {
	for _, deg := range []float64{0, 0.2, 10, 30} {
		r := deg * math.Pi / 180
		g := volume.Geometry{Size: [3]int{8, 8, 8}, Spacing: [3]float64{1, 1, 1},
			Direction: [3][3]float64{{1, 0, 0}, {0, math.Cos(r), -math.Sin(r)}, {0, math.Sin(r), math.Cos(r)}}}
		s, err := NewSlicer(volume.New(g))
		if err != nil {
			t.Fatal(err)
		}
		if got, want := s.Note() != "", deg > obliqueTolerance; got != want {
			t.Errorf("%v°: note %q, want present=%v", deg, s.Note(), want)
		}
		if deg == 30 && !strings.Contains(s.Note(), "30.0°") {
			t.Errorf("note does not give the angle: %s", s.Note())
		}
	}
}

func TestNewSlicerRejectsBadInput(t *testing.T) {
	if _, err := NewSlicer(nil); err == nil {
		t.Error("nil volume accepted")
	}
	v := volume.New(volume.Identity([3]int{2, 2, 2}, [3]float64{1, 1, 1}))
	v.Voxels = v.Voxels[:3]
	if _, err := NewSlicer(v); err == nil {
		t.Error("short voxel slice accepted")
	}
	v = volume.New(volume.Identity([3]int{2, 2, 2}, [3]float64{1, 0, 1}))
	if _, err := NewSlicer(v); err == nil {
		t.Error("zero spacing accepted")
	}
}

func randomVolume(size [3]int, seed int64) *volume.Volume {
	v := volume.New(volume.Identity(size, [3]float64{0.7, 0.8, 2.5}))
	r := rand.New(rand.NewSource(seed))
	for n := range v.Voxels {
		v.Voxels[n] = int16(r.Intn(4000) - 2000)
	}
	return v
}

// TestRenderMatchesVoxels checks every pixel of every plane against the voxel
// it should show, computed independently from the plane definitions.
func TestRenderMatchesVoxels(t *testing.T) {
	v := randomVolume([3]int{7, 5, 4}, 1)
	s, _ := NewSlicer(v)
	lut := NewLUT(WindowLevel{2000, 0})
	for _, p := range Planes {
		w, h, n := s.Dims(p)
		for slice := 0; slice < n; slice++ {
			img := s.Render(nil, p, slice, lut)
			for y := 0; y < h; y++ {
				for x := 0; x < w; x++ {
					var i, j, k int
					switch p {
					case Axial:
						i, j, k = x, y, slice
					case Coronal:
						i, j, k = x, slice, 3-y
					case Sagittal:
						i, j, k = slice, x, 3-y
					}
					if got, want := img.Pix[img.PixOffset(x, y)], lut.Map(v.At(i, j, k)); got != want {
						t.Fatalf("%v slice %d pixel (%d,%d) = %d, want %d", p, slice, x, y, got, want)
					}
				}
			}
			// PlaneToIndex/IndexToPlane invert each other on pixel centres.
			f := s.PlaneToIndex(p, slice, 2.5, 1.5)
			idx, ok := s.RoundIndex(f)
			px, py, sl := s.IndexToPlane(p, idx)
			if !ok || px != 2.5 || py != 1.5 || sl != slice {
				t.Errorf("%v: round trip (2.5,1.5,%d) → %v → (%v,%v,%d)", p, slice, idx, px, py, sl)
			}
		}
	}
}

func TestRenderReusesBuffer(t *testing.T) {
	s, _ := NewSlicer(randomVolume([3]int{6, 4, 3}, 2))
	lut := NewLUT(DefaultWindow)
	a := s.Render(nil, Axial, 0, lut)
	if b := s.Render(a, Axial, 1, lut); b != a {
		t.Error("same-size buffer not reused")
	}
	if c := s.Render(a, Coronal, 0, lut); c == a || c.Rect.Dy() != 3 {
		t.Errorf("coronal image %v, want a new 6×3 image", c.Rect)
	}
	// Out-of-range slices clamp instead of panicking.
	s.Render(nil, Sagittal, 99, lut)
	s.Render(nil, Sagittal, -5, lut)
}

func TestSceneLinksAndNotifies(t *testing.T) {
	s, _ := NewSlicer(randomVolume([3]int{10, 8, 6}, 3))
	sc := NewScene(s)
	var got []Change
	sc.Listen(func(c Change) { got = append(got, c) })
	if sc.Cursor() != [3]int{5, 4, 3} {
		t.Errorf("initial cursor %v, want the centre", sc.Cursor())
	}
	sc.Step(Axial, 2)
	if sc.Slice(Axial) != 5 || sc.Slice(Coronal) != 4 {
		t.Errorf("after step: axial %d coronal %d", sc.Slice(Axial), sc.Slice(Coronal))
	}
	sc.Step(Axial, 100)
	if sc.Slice(Axial) != 5 {
		t.Errorf("step past the end: axial %d, want 5 (last)", sc.Slice(Axial))
	}
	before := sc.Render(nil, Axial)
	sc.SetWindow(Presets[3].WL)
	after := sc.Render(nil, Axial)
	if string(before.Pix) == string(after.Pix) {
		t.Error("window change did not change the pixels")
	}
	want := []Change{ChangeCursor, ChangeWindow} // the clamped no-op step is silent
	if len(got) != len(want) {
		t.Fatalf("notifications %v, want %v", got, want)
	}
	for n := range want {
		if got[n] != want[n] {
			t.Errorf("notification %d = %v, want %v", n, got[n], want[n])
		}
	}
	r := sc.ReadAt([3]float64{1.2, 2.8, 4.4})
	if !r.Inside || r.Index != [3]int{1, 3, 4} || r.HU != s.Volume().At(1, 3, 4) {
		t.Errorf("readout %+v", r)
	}
	if r.Patient != [3]float64{0.7, 2.4000000000000004, 10} && math.Abs(r.Patient[1]-2.4) > 1e-9 {
		t.Errorf("patient position %v", r.Patient)
	}
	if r := sc.ReadAt([3]float64{-1, 0, 0}); r.Inside {
		t.Error("outside point read as inside")
	}
	if got := sc.SlicePosition(Axial); got != 5*2.5 {
		t.Errorf("axial slice position %v, want 12.5", got)
	}
}
