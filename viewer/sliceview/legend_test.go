package sliceview

import (
	"image"
	"image/color"
	"testing"

	"fyne.io/fyne/v2"

	"github.com/liverseg/liverseg/viewer"
)

func annotation(v *SliceView, name string) (AnnotationRect, bool) {
	for _, a := range v.Annotations() {
		if a.Name == name {
			return a, true
		}
	}
	return AnnotationRect{}, false
}

// TestLegendAndTitleNeverCoverLetters: a legend sits in the top right
// corner with its samples drawn, a title too long for the room beside the
// top letter moves below it, nothing covers anything at any view width,
// and a copy made with MatchView (a report's picture) has the same legend.
func TestLegendAndTitleNeverCoverLetters(t *testing.T) {
	r := newRig(t)
	green := color.NRGBA{G: 255, A: 255}
	sw := image.NewRGBA(image.Rect(0, 0, SwatchWidth, SwatchHeight))
	for i := 0; i < len(sw.Pix); i += 4 {
		sw.Pix[i+1], sw.Pix[i+3] = 255, 255
	}
	entries := []LegendEntry{{Label: "model: student", Swatch: sw}, {Label: "reference: liver.nii.gz", Swatch: sw}}
	cor := r.views[1]
	cor.SetLegend(entries...)
	for _, width := range []float32{900, 600, 420} {
		r.win.Resize(fyne.NewSize(width, 320))
		for _, title := range []string{"Coronal", "Coronal · student100k vs reference"} {
			cor.SetTitle(title, nil)
			if o := cor.Overlapping(); len(o) > 0 {
				t.Errorf("width %v, title %q: %v", cor.Size().Width, title, o)
			}
			lg, ok := annotation(cor, "legend")
			if !ok {
				t.Fatal("no legend shown")
			}
			if right := lg.Pos.X + lg.Size.Width; right < cor.Size().Width-10 || lg.Pos.Y > cor.Size().Height/3 {
				t.Errorf("width %v: legend at %v %v, want the top right corner", cor.Size().Width, lg.Pos, lg.Size)
			}
		}
	}
	// Its samples are on screen.
	r.win.Resize(fyne.NewSize(900, 320))
	cor.SetTitle("Coronal", nil)
	img := r.win.Canvas().Capture()
	lg, _ := annotation(cor, "legend")
	at := fyne.CurrentApp().Driver().AbsolutePositionForObject(cor).Add(lg.Pos)
	n := 0
	for y := int(at.Y); y < int(at.Y+lg.Size.Height); y++ {
		for x := int(at.X); x < int(at.X+lg.Size.Width); x++ {
			if c := color.NRGBAModel.Convert(img.At(x, y)).(color.NRGBA); c == green {
				n++
			}
		}
	}
	if n < SwatchWidth*SwatchHeight {
		t.Errorf("%d sample pixels in the legend, want two samples", n)
	}
	cp := New(viewer.Coronal)
	cp.SetScene(r.scene)
	cp.MatchView(cor)
	if len(cp.Legend()) != 2 || cp.Title() != cor.Title() {
		t.Errorf("copy: legend %v, title %q", cp.Legend(), cp.Title())
	}
	cor.SetLegend()
	if _, ok := annotation(cor, "legend"); ok {
		t.Error("the legend stays after SetLegend()")
	}
}
