package viewer

import (
	"image"
	"image/color"
	"math"
	"testing"

	"github.com/liverseg/liverseg/volume"
)

var red = color.NRGBA{R: 255, A: 255}

// blockMask is a 6×6×3 volume with a 4×4 mask block at i, j in 1..4 on slice 1.
func blockMask(t *testing.T) (*Slicer, *volume.Mask) {
	t.Helper()
	v := volume.New(volume.Identity([3]int{6, 6, 3}, [3]float64{1, 1, 1}))
	s, err := NewSlicer(v)
	if err != nil {
		t.Fatal(err)
	}
	m := volume.NewMask(v.Geometry)
	for j := 1; j <= 4; j++ {
		for i := 1; i <= 4; i++ {
			m.Voxels[m.Offset(i, j, 1)] = 1
		}
	}
	return s, m
}

func alphaAt(img *image.RGBA, x, y int) uint8 { return img.RGBAAt(x, y).A }

func TestMaskOverlayStyles(t *testing.T) {
	s, m := blockMask(t)
	// Voxel resolution: pixel (2,2) is deep inside the block, (1,2) on its
	// edge, (0,0) a voxel away from it, (5,5) far outside.
	tests := []struct {
		name      string
		st        Style
		inner     [2]uint8 // alpha range at (2,2)... (3,2) is as deep; use both
		edge      [2]uint8 // at (1,2) (left edge, mid-side)
		outside   uint8    // at (5,5)
		gapBefore uint8    // max alpha at (0,0)
	}{
		{"fill only", Style{Color: red, Fill: 0.5}, [2]uint8{126, 129}, [2]uint8{126, 129}, 0, 0},
		{"outline only", Style{Color: red, Outline: 1}, [2]uint8{0, 140}, [2]uint8{250, 255}, 0, 255},
		{"both", Style{Color: red, Fill: 0.25, Outline: 1}, [2]uint8{63, 170}, [2]uint8{250, 255}, 0, 255},
	}
	for _, tc := range tests {
		o, err := NewMaskOverlay(s, m, tc.st)
		if err != nil {
			t.Fatal(err)
		}
		sc := NewScene(s)
		sc.SetOverlays(o)
		sc.SetSlice(Axial, 1)
		img := sc.RenderOverlays(nil, Axial)
		if a := alphaAt(img, 2, 2); a < tc.inner[0] || a > tc.inner[1] {
			t.Errorf("%s: alpha inside = %d, want %v", tc.name, a, tc.inner)
		}
		if a := alphaAt(img, 1, 2); a < tc.edge[0] || a > tc.edge[1] {
			t.Errorf("%s: alpha on the edge = %d, want %v", tc.name, a, tc.edge)
		}
		if a := alphaAt(img, 5, 5); a != tc.outside {
			t.Errorf("%s: alpha far outside = %d, want %d", tc.name, a, tc.outside)
		}
		if a := alphaAt(img, 0, 0); a > tc.gapBefore {
			t.Errorf("%s: alpha next to the corner = %d, want ≤ %d", tc.name, a, tc.gapBefore)
		}
		sc.SetSlice(Axial, 0)
		img = sc.RenderOverlays(img, Axial)
		for _, b := range img.Pix {
			if b != 0 {
				t.Errorf("%s: empty slice has overlay pixels", tc.name)
				break
			}
		}
	}
	other := volume.NewMask(volume.Identity([3]int{6, 6, 4}, [3]float64{1, 1, 1}))
	if _, err := NewMaskOverlay(s, other, Style{Color: red, Fill: 1}); err == nil {
		t.Error("mask on another grid accepted")
	}
	if NewScene(s).RenderOverlays(nil, Axial) != nil {
		t.Error("no overlays should give a nil layer")
	}
}

// TestOutlineKeepsScreenWidth draws the block magnified 10× and 40×: the
// outline must stay about DefaultOutlineWidth device pixels wide instead
// of growing with the voxels, and the fill edge must lie at the voxel
// boundary to within a pixel.
func TestOutlineKeepsScreenWidth(t *testing.T) {
	s, m := blockMask(t)
	o, _ := NewMaskOverlay(s, m, Style{Color: red, Outline: 1})
	sc := NewScene(s)
	sc.SetOverlays(o)
	sc.SetSlice(Axial, 1)
	for _, zoom := range []int{10, 40} {
		vp := Viewport{DX: 1 / float64(zoom), DY: 1 / float64(zoom)}
		img := sc.RenderOverlaysAt(nil, Axial, vp, 6*zoom, 6*zoom)
		y := 3 * zoom // a row through the middle of the block
		var painted []int
		for x := 0; x < 6*zoom; x++ {
			if alphaAt(img, x, y) > 0 {
				painted = append(painted, x)
			}
		}
		// Two outline crossings (left and right edges), each ≤ 4 px wide.
		var left, right []int
		for _, x := range painted {
			if x < 3*zoom {
				left = append(left, x)
			} else {
				right = append(right, x)
			}
		}
		if len(left) == 0 || len(left) > 4 || len(right) == 0 || len(right) > 4 {
			t.Fatalf("zoom %d: outline pixels %v, want two runs of 1–4 pixels", zoom, painted)
		}
		// Centred on the voxel boundaries at plane x = 1 and x = 5.
		mid := func(xs []int) float64 { return float64(xs[0]+xs[len(xs)-1]+1) / 2 }
		if d := math.Abs(mid(left) - float64(zoom)); d > 1 {
			t.Errorf("zoom %d: left outline centred at %.1f, want %d", zoom, mid(left), zoom)
		}
		if d := math.Abs(mid(right) - float64(5*zoom)); d > 1 {
			t.Errorf("zoom %d: right outline centred at %.1f, want %d", zoom, mid(right), 5*zoom)
		}
	}
}

// rampMap is a probability map on a 5 mm grid over a 40×30×12 volume of
// 1×1×2.5 mm voxels: p rises linearly along x from 0 to 1, times a bump
// along z so that slices differ.
func rampMap(t *testing.T) (*Slicer, volume.Geometry, []float32) {
	t.Helper()
	v := volume.New(volume.Identity([3]int{40, 30, 12}, [3]float64{1, 1, 2.5}))
	s, err := NewSlicer(v)
	if err != nil {
		t.Fatal(err)
	}
	g := volume.Identity([3]int{8, 6, 6}, [3]float64{5, 5, 5})
	data := make([]float32, g.NumVoxels())
	for k := 0; k < 6; k++ {
		for j := 0; j < 6; j++ {
			for i := 0; i < 8; i++ {
				data[g.Offset(i, j, k)] = float32(i) / 7 * float32(1-math.Abs(float64(k)-2.5)/5)
			}
		}
	}
	return s, g, data
}

// TestProbOverlaySubvoxelContour checks that the drawn contour lies where
// the trilinear probability crosses the threshold, at the display's
// resolution: at 20 overlay pixels per voxel the outline must be centred
// within a pixel of the exact crossing, which falls between voxel centres.
func TestProbOverlaySubvoxelContour(t *testing.T) {
	s, g, data := rampMap(t)
	o, err := NewProbOverlay(s, g, data, 0.37, Style{Color: red, Outline: 1})
	if err != nil {
		t.Fatal(err)
	}
	sc := NewScene(s)
	sc.SetOverlays(o)
	sc.SetCursor([3]int{0, 10, 5}) // display z = 5 → map z = 2.5
	const zoom = 20
	img := sc.RenderOverlaysAt(nil, Axial, Viewport{DX: 1.0 / zoom, DY: 1.0 / zoom}, 40*zoom, 30*zoom)
	// At map z = 2.5 (halfway between samples scaled by 0.9) p = 0.9·x/7:
	// the crossing is at map x = 0.37·7/0.9, display index 5× that, plane
	// x half a pixel further.
	want := (0.37*7/0.9*5 + 0.5) * zoom
	y := 15 * zoom
	best, at := uint8(0), -1
	for x := 0; x < 40*zoom; x++ {
		if a := alphaAt(img, x, y); a > best {
			best, at = a, x
		}
	}
	if best < 200 || math.Abs(float64(at)+0.5-want) > 1.5 {
		t.Errorf("outline peak %d at overlay x %d, want ≈%.1f", best, at, want)
	}
	// A threshold change moves it without touching the map.
	if err := o.SetThreshold(0.6, nil); err != nil {
		t.Fatal(err)
	}
	img2 := sc.RenderOverlaysAt(nil, Axial, Viewport{DX: 1.0 / zoom, DY: 1.0 / zoom}, 40*zoom, 30*zoom)
	if alphaAt(img2, at, y) != 0 {
		t.Error("outline still at the old position after a threshold change")
	}
	if err := o.SetThreshold(1.2, nil); err == nil {
		t.Error("threshold 1.2 accepted")
	}
}

// TestProbOverlayVolumeMatchesSampling compares the closed-form count with
// sampling the trilinear map at every displayed voxel.
func TestProbOverlayVolumeMatchesSampling(t *testing.T) {
	s, g, data := rampMap(t)
	// Put the map off the voxel grid and partly outside it, as an ROI run.
	g.Origin = [3]float64{2.3, -1.7, 3.1}
	for _, thr := range []float64{0.1, 0.37, 0.5, 0.8} {
		o, err := NewProbOverlay(s, g, data, thr, Style{})
		if err != nil {
			t.Fatal(err)
		}
		v := s.Volume()
		n := 0
		for k := 0; k < v.Size[2]; k++ {
			for j := 0; j < v.Size[1]; j++ {
				for i := 0; i < v.Size[0]; i++ {
					c := g.PatientToIndex(v.IndexToPatient([3]float64{float64(i), float64(j), float64(k)}))
					if p, ok := trilinear(g, data, c); ok && p > thr {
						n++
					}
				}
			}
		}
		want := float64(n) * 2.5 / 1000
		if got := o.VolumeML(); math.Abs(got-want) > 2*2.5/1000 {
			t.Errorf("threshold %v: VolumeML %.4f, sampled %.4f (%d voxels)", thr, got, want, n)
		}
	}
}

func trilinear(g volume.Geometry, d []float32, c [3]float64) (float64, bool) {
	var i0 [3]int
	var w [3]float64
	for a := 0; a < 3; a++ {
		hi := float64(g.Size[a] - 1)
		if c[a] < -1e-6 || c[a] > hi+1e-6 {
			return 0, false
		}
		x := min(max(c[a], 0), hi)
		i0[a] = min(int(x), g.Size[a]-2)
		w[a] = x - float64(i0[a])
	}
	p := 0.0
	for dz := 0; dz < 2; dz++ {
		for dy := 0; dy < 2; dy++ {
			for dx := 0; dx < 2; dx++ {
				f := (1 - w[0] + float64(dx)*(2*w[0]-1)) * (1 - w[1] + float64(dy)*(2*w[1]-1)) * (1 - w[2] + float64(dz)*(2*w[2]-1))
				p += f * float64(d[g.Offset(i0[0]+dx, i0[1]+dy, i0[2]+dz)])
			}
		}
	}
	return p, true
}

// TestProbOverlayCleanup: voxels the cleaned mask drops are not drawn.
func TestProbOverlayCleanup(t *testing.T) {
	s, g, data := rampMap(t)
	o, _ := NewProbOverlay(s, g, data, 0.3, Style{Color: red, Fill: 1})
	sc := NewScene(s)
	sc.SetOverlays(o)
	sc.SetCursor([3]int{0, 10, 5})
	full := sc.RenderOverlays(nil, Axial)
	if alphaAt(full, 38, 15) == 0 {
		t.Fatal("high-probability side not drawn")
	}
	keep := make([]uint8, len(data)) // the clean-up dropped everything
	if err := o.SetThreshold(0.3, keep); err != nil {
		t.Fatal(err)
	}
	img := sc.RenderOverlays(nil, Axial)
	for _, b := range img.Pix {
		if b != 0 {
			t.Fatal("dropped voxels still drawn")
		}
	}
	if v := o.VolumeML(); v != 0 {
		t.Errorf("volume of an all-dropped map = %v", v)
	}
	if err := o.SetThreshold(0.3, keep[:3]); err == nil {
		t.Error("clean-up mask of the wrong size accepted")
	}
}

func TestProbOverlayRejectsRotatedMap(t *testing.T) {
	s, g, data := rampMap(t)
	c, sn := math.Cos(0.3), math.Sin(0.3)
	g.Direction = [3][3]float64{{c, -sn, 0}, {sn, c, 0}, {0, 0, 1}}
	if _, err := NewProbOverlay(s, g, data, 0.5, Style{}); err == nil {
		t.Error("rotated map accepted")
	}
	if _, err := NewProbOverlay(s, volume.Identity([3]int{8, 6, 6}, [3]float64{5, 5, 5}), data[:5], 0.5, Style{}); err == nil {
		t.Error("short map accepted")
	}
}

func TestBoxOverlay(t *testing.T) {
	s, _ := blockMask(t)
	sc := NewScene(s)
	sc.SetOverlays(NewBoxOverlay(s, [3]int{1, 1, 1}, [3]int{5, 4, 2}, red))
	sc.SetSlice(Axial, 1)
	img := sc.RenderOverlaysAt(nil, Axial, Viewport{DX: 0.1, DY: 0.1}, 60, 60)
	if alphaAt(img, 10, 25) == 0 || alphaAt(img, 30, 25) != 0 || alphaAt(img, 30, 10) == 0 {
		t.Error("box outline not where the box is")
	}
	sc.SetSlice(Axial, 2)
	img = sc.RenderOverlaysAt(img, Axial, Viewport{DX: 0.1, DY: 0.1}, 60, 60)
	for _, b := range img.Pix {
		if b != 0 {
			t.Fatal("box drawn on a slice outside it")
		}
	}
}

// TestVolumeAtConcurrentWithDraw: the background volume may be computed
// while the UI goroutine changes the threshold and style and draws (run
// with -race).
func TestVolumeAtConcurrentWithDraw(t *testing.T) {
	s, g, data := rampMap(t)
	o, _ := NewProbOverlay(s, g, data, 0.5, Style{Color: red, Fill: 0.5, Outline: 1})
	sc := NewScene(s)
	sc.SetOverlays(o)
	want := o.VolumeAt(0.4, nil)
	done := make(chan float64)
	go func() {
		v := 0.0
		for i := 0; i < 20; i++ {
			v = o.VolumeAt(0.4, nil)
		}
		done <- v
	}()
	var img *image.RGBA
	for i := 0; i < 20; i++ {
		_ = o.SetThreshold(0.3+0.02*float64(i), nil)
		o.Style.Fill = float64(i) / 20
		img = sc.RenderOverlaysAt(img, Axial, Viewport{DX: 0.5, DY: 0.5}, 80, 60)
	}
	if got := <-done; got != want {
		t.Errorf("VolumeAt %v while drawing, %v alone", got, want)
	}
}

func TestLabelOverlayDrawsOneLabel(t *testing.T) {
	s, m := blockMask(t)
	// Label 2 on the block's right half (i = 3, 4); label 1 on the left.
	for j := 1; j <= 4; j++ {
		m.Voxels[m.Offset(3, j, 1)] = 2
		m.Voxels[m.Offset(4, j, 1)] = 2
	}
	for _, tc := range []struct {
		label   uint8
		in, out [2]int // a pixel that must be painted, one that must not
	}{
		{1, [2]int{1, 2}, [2]int{4, 2}},
		{2, [2]int{4, 2}, [2]int{1, 2}},
	} {
		o, err := NewLabelOverlay(s, m, tc.label, Style{Color: red, Fill: 1})
		if err != nil {
			t.Fatal(err)
		}
		sc := NewScene(s)
		sc.SetOverlays(o)
		sc.SetSlice(Axial, 1)
		img := sc.RenderOverlays(nil, Axial)
		if a := alphaAt(img, tc.in[0], tc.in[1]); a < 250 {
			t.Errorf("label %d: alpha %d at %v, want opaque", tc.label, a, tc.in)
		}
		if a := alphaAt(img, tc.out[0], tc.out[1]); a != 0 {
			t.Errorf("label %d: alpha %d at %v (the other label), want 0", tc.label, a, tc.out)
		}
	}
	if _, err := NewLabelOverlay(s, m, 0, Style{}); err == nil {
		t.Error("label 0 accepted")
	}
}

// TestDashAndHalo: a dashed outline alternates between its colour and
// gaps along an edge, a dark edge (halo) lines it on both sides and fills
// the gaps, and a swatch draws a style as the overlays do.
func TestDashAndHalo(t *testing.T) {
	s, m := blockMask(t)
	const zoom = 20
	vp := Viewport{DX: 1.0 / zoom, DY: 1.0 / zoom}
	render := func(st Style) *image.RGBA {
		o, err := NewMaskOverlay(s, m, st)
		if err != nil {
			t.Fatal(err)
		}
		sc := NewScene(s)
		sc.SetOverlays(o)
		sc.SetSlice(Axial, 1)
		return sc.RenderOverlaysAt(nil, Axial, vp, 6*zoom, 6*zoom)
	}
	isRed := func(c color.RGBA) bool { return c.A > 200 && c.R > 200 && c.G < 60 }
	isDark := func(c color.RGBA) bool { return c.A > 150 && c.R < 40 && c.G < 40 && c.B < 40 }
	// Along the top edge of the block (plane y = 1, overlay row 20),
	// between its corners.
	edge := func(img *image.RGBA) (red, dark int) {
		for x := 2 * zoom; x < 4*zoom; x++ {
			c := img.RGBAAt(x, zoom)
			switch {
			case isRed(c):
				red++
			case isDark(c):
				dark++
			}
		}
		return
	}
	solid := render(Style{Color: red, Outline: 1, Width: 2})
	if r, d := edge(solid); r < 2*zoom-2 || d != 0 {
		t.Errorf("solid outline: %d red, %d dark pixels along the edge, want all red", r, d)
	}
	dashed := render(Style{Color: red, Outline: 1, Width: 2, Dash: 5})
	r, _ := edge(dashed)
	if r < zoom/2 || r > 3*zoom/2 {
		t.Errorf("dashed outline: %d of %d edge pixels red, want about half", r, 2*zoom)
	}
	haloed := render(Style{Color: red, Outline: 1, Width: 2, Dash: 5, Halo: 1})
	r, d := edge(haloed)
	if r < zoom/2 || d < zoom/2 {
		t.Errorf("dashed outline with a dark edge: %d red, %d dark along the edge, want dashes and dark gaps", r, d)
	}
	// The dark edge lies beside the 2-pixel line (rows zoom−1 and zoom,
	// on either side of the contour), one pixel out and in.
	for _, y := range []int{zoom - 2, zoom + 1} {
		if c := haloed.RGBAAt(3*zoom, y); !isDark(c) {
			t.Errorf("row %d beside the edge: %v, want the dark edge", y, c)
		}
	}
	if c := solid.RGBAAt(3*zoom, zoom-3); c.A != 0 {
		t.Errorf("without a halo, outside the line: %v, want clear", c)
	}

	sw := Swatch(Style{Color: red, Fill: 0.5, Outline: 1}, 20, 14)
	if b := sw.Bounds(); b.Dx() != 20 || b.Dy() != 14 {
		t.Fatalf("swatch %v", b)
	}
	if c := sw.RGBAAt(10, 7); c.A < 120 || c.A > 135 {
		t.Errorf("swatch centre %v: want the fill at half opacity", c)
	}
	if c := sw.RGBAAt(0, 0); c.A != 0 {
		t.Errorf("swatch corner %v: want clear", c)
	}
	outline := 0
	for x := 0; x < 20; x++ {
		if isRed(sw.RGBAAt(x, 7)) {
			outline++
		}
	}
	if outline < 2 || outline > 6 {
		t.Errorf("swatch middle row: %d outline pixels, want the two sides' lines", outline)
	}
}

// TestMaskOverlayChanged: an edited mask's overlay shows the edit after
// Changed, or after ChangedIn with a box holding the slice; a box that
// misses the slice keeps the cached slice (nothing to redo there).
func TestMaskOverlayChanged(t *testing.T) {
	s, m := blockMask(t)
	o, err := NewMaskOverlay(s, m, Style{Color: red, Fill: 1})
	if err != nil {
		t.Fatal(err)
	}
	draw := func() uint8 {
		img := image.NewRGBA(image.Rect(0, 0, 6, 6))
		o.Draw(img, Axial, 1, VoxelViewport)
		return alphaAt(img, 2, 2)
	}
	full := draw()
	if full < 250 {
		t.Fatalf("block drawn with alpha %d", full)
	}
	m.Voxels[m.Offset(2, 2, 1)] = 0 // erased in place, as the editor does
	m.Voxels[m.Offset(2, 3, 1)] = 0
	m.Voxels[m.Offset(3, 2, 1)] = 0
	m.Voxels[m.Offset(3, 3, 1)] = 0
	if draw() != full {
		t.Fatal("the cache was not used: the test proves nothing")
	}
	o.ChangedIn([3]int{0, 0, 2}, [3]int{6, 6, 3}) // other slices only
	if draw() != full {
		t.Fatal("ChangedIn of other slices dropped this slice's cache")
	}
	o.ChangedIn([3]int{2, 2, 1}, [3]int{4, 4, 2})
	if a := draw(); a > full/2 {
		t.Fatalf("after ChangedIn the erased voxel still draws (alpha %d)", a)
	}
	m.Voxels[m.Offset(2, 2, 1)] = 1
	m.Voxels[m.Offset(2, 3, 1)] = 1
	m.Voxels[m.Offset(3, 2, 1)] = 1
	m.Voxels[m.Offset(3, 3, 1)] = 1
	o.Changed()
	if draw() != full {
		t.Fatal("after Changed the repainted voxels do not draw")
	}
}
