package app

import (
	"image"
	"image/color"
	"image/draw"
	"slices"
	"testing"
	"time"

	"fyne.io/fyne/v2/test"

	"github.com/liverseg/liverseg/viewer/sliceview"
)

// legendRect is the legend's box in the view v, in canvas pixels of an
// image whose origin is the view's top left corner.
func legendRect(t *testing.T, v *sliceview.SliceView, scale float32) image.Rectangle {
	t.Helper()
	for _, a := range v.Annotations() {
		if a.Name == "legend" {
			return image.Rect(int(a.Pos.X*scale), int(a.Pos.Y*scale), int((a.Pos.X+a.Size.Width)*scale), int((a.Pos.Y+a.Size.Height)*scale))
		}
	}
	t.Fatalf("the %s view shows no legend", v.Plane())
	return image.Rectangle{}
}

// countNear counts the pixels of img inside r within tol of c.
func countNear(img *image.RGBA, r image.Rectangle, c color.NRGBA, tol int) int {
	n := 0
	r = r.Intersect(img.Bounds())
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			if near(img.RGBAAt(x, y), c, tol) {
				n++
			}
		}
	}
	return n
}

// TestViewLegend checks issue 13 item 6: with a model's result and a
// reference shown, the three views carry a legend saying which colour is
// the model and which the reference (also in the report's picture), the
// reference is drawn as a dashed outline over the model (inside the
// overlap the model's fill is untouched, so no muddy mix), and the legend
// follows what is shown.
func TestViewLegend(t *testing.T) {
	u, _, postDone, _, study := openAbdomen(t)
	waitPost(t, postDone)
	refDone := make(chan error, 1)
	u.seg.onRefDone = func(err error) { refDone <- err }
	u.LoadReference(study.Liver)
	if err := waitFor(t, refDone, time.Minute, "reference"); err != nil {
		t.Fatal(err)
	}
	waitPost(t, postDone)
	resizeContent(u, screens[0])
	s := u.seg
	want := []string{"model: " + s.res.Model, "reference: liver.nii.gz"}
	for _, v := range u.views {
		var got []string
		for _, e := range v.Legend() {
			got = append(got, e.Label)
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s legend %q, want %q", v.Plane(), got, want)
		}
		if o := v.Overlapping(); len(o) > 0 {
			t.Errorf("%s view: annotations cover each other: %v", v.Plane(), o)
		}
	}
	if st := s.refOvl.Style; st.Fill != 0 || st.Dash <= 0 || st.Halo <= 0 {
		t.Errorf("reference style %+v: want a dashed outline with a dark edge, no fill", st)
	}
	list := u.scene.Overlays()
	if len(list) < 2 || list[0] != s.modelOverlay() || list[1] != s.refOvl {
		t.Errorf("overlay order %v: want the model, then the reference over it", list)
	}

	// The legend's samples are drawn in the overlays' colours.
	ax := u.views[0]
	sc := u.win.Canvas().Scale()
	img := viewImage(u, ax)
	lr := legendRect(t, ax, sc)
	model, ref := colorByName(s.color.Selected), colorByName(s.refColor.Selected)
	if n := countNear(img, lr, model, 50); n < 10 {
		t.Errorf("the legend shows %d pixels of the model's colour %v", n, model)
	}
	if n := countNear(img, lr, ref, 50); n < 10 {
		t.Errorf("the legend shows %d pixels of the reference's colour %v", n, ref)
	}

	// Inside the overlap the reference adds nothing: the pixels with and
	// without it are the same there, and differ on its outline.
	with := viewImage(u, ax)
	test.Tap(s.refShow) // off
	without := viewImage(u, ax)
	c := u.scene.Cursor()
	inside, diff := 0, 0
	n := s.ref.Size
	mc := s.res.Mask.Canonical()
	for j := 8; j < n[1]-8; j += 3 {
		for i := 8; i < n[0]-8; i += 3 {
			all := true
			for dj := -8; dj <= 8 && all; dj += 2 {
				for di := -8; di <= 8 && all; di += 2 {
					o := (c[2]*n[1]+j+dj)*n[0] + i + di
					all = s.ref.Voxels[o] != 0 && mc.Voxels[o] != 0
				}
			}
			if !all {
				continue
			}
			p := ax.ScreenPosition([3]int{i, j, c[2]})
			x, y := int(p.X*sc), int(p.Y*sc)
			if image.Pt(x, y).In(lr.Inset(-8)) {
				continue // under the legend
			}
			inside++
			if with.RGBAAt(x, y) != without.RGBAAt(x, y) {
				diff++
			}
		}
	}
	if inside < 20 || diff > 0 {
		t.Errorf("%d pixels inside both masks differ with the reference shown, of %d: want none", diff, inside)
	}
	if slices.Equal(with.Pix, without.Pix) {
		t.Error("hiding the reference changed nothing: its outline is not drawn")
	}
	if got := len(ax.Legend()); got != 1 {
		t.Errorf("legend with the reference hidden has %d lines, want 1 (the model)", got)
	}
	test.Tap(s.refShow) // on again

	// The reference can be filled on request; the legend follows.
	sample := ax.Legend()[1].Swatch
	test.Tap(s.refFill)
	if st := s.refOvl.Style; st.Fill <= 0 || st.Dash <= 0 {
		t.Errorf("reference style after Fill %+v: want a fill and the dashed line", st)
	}
	if got := ax.Legend()[1].Swatch; got == sample {
		t.Error("the legend's reference sample did not follow the fill")
	}
	test.Tap(s.refFill) // off again

	// The report's picture carries the legends.
	shot, err := u.CaptureViews()
	if err != nil {
		t.Fatal(err)
	}
	rgba := image.NewRGBA(shot.Bounds())
	draw.Draw(rgba, rgba.Rect, shot, image.Point{}, draw.Src)
	x := float32(0)
	for _, v := range u.views {
		r := legendRect(t, v, sc).Add(image.Pt(int(x*sc), 0))
		if countNear(rgba, r, model, 50) < 10 || countNear(rgba, r, ref, 50) < 10 {
			t.Errorf("the report picture's %s view has no legend with the model's and the reference's colours at %v", v.Plane(), r)
		}
		x += v.Size().Width + 4
	}
}
