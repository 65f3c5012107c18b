package sliceview

import (
	"fmt"
	"image"
	"image/color"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/theme"
)

// LegendEntry is one line of a view's legend: a sample of how something is
// drawn over the image and what it is.
type LegendEntry struct {
	Label  string
	Swatch image.Image // e.g. viewer.Swatch of the overlay's style
}

// SwatchWidth and SwatchHeight are the size of a legend sample in widget
// units: draw samples at this size (one pixel per unit) so that their
// lines have the overlays' widths.
const SwatchWidth, SwatchHeight = 20, 14

// SetLegend shows entries in the view's top right corner (none: no
// legend), on a dark box so that they stay legible over any anatomy. The
// legend is part of the view, so a picture of the view (a report) carries
// it too.
func (v *SliceView) SetLegend(entries ...LegendEntry) {
	v.legend = append([]LegendEntry(nil), entries...)
	if v.r != nil {
		v.r.legend.set(v.legend)
		v.r.layoutLegend(v.Size())
		v.Refresh()
	}
}

// Legend is the legend shown.
func (v *SliceView) Legend() []LegendEntry { return v.legend }

// AnnotationRect is where one annotation of the view lies, in widget
// coordinates.
type AnnotationRect struct {
	Name string // "title", "legend", "slice label", or the letter
	Pos  fyne.Position
	Size fyne.Size
}

// Annotations are the visible annotations drawn over the image: title,
// orientation letters, slice label and legend, each with its dark box.
func (v *SliceView) Annotations() []AnnotationRect {
	r := v.r
	if r == nil || v.scene == nil {
		return nil
	}
	var out []AnnotationRect
	add := func(name string, o fyne.CanvasObject) {
		if o.Visible() {
			out = append(out, AnnotationRect{Name: name, Pos: o.Position(), Size: o.Size()})
		}
	}
	add("title", r.titleBg)
	for n, t := range r.letters {
		add("letter "+t.Text, r.letterBg[n])
	}
	add("slice label", r.labelBg)
	if len(r.legend.rows) > 0 {
		add("legend", r.legend.bg)
	}
	return out
}

// Overlapping lists the pairs of annotations that cover each other
// (empty when every one is readable).
func (v *SliceView) Overlapping() []string {
	as := v.Annotations()
	var out []string
	for i := range as {
		for j := i + 1; j < len(as); j++ {
			a, b := as[i], as[j]
			if a.Pos.X < b.Pos.X+b.Size.Width && b.Pos.X < a.Pos.X+a.Size.Width &&
				a.Pos.Y < b.Pos.Y+b.Size.Height && b.Pos.Y < a.Pos.Y+a.Size.Height {
				out = append(out, fmt.Sprintf("%s (%v %v) over %s (%v %v)", a.Name, a.Pos, a.Size, b.Name, b.Pos, b.Size))
			}
		}
	}
	return out
}

// legendObjects are the canvas objects of a legend.
type legendObjects struct {
	bg   *canvas.Rectangle
	rows []legendRow
}

type legendRow struct {
	swatch *canvas.Image
	text   *canvas.Text
}

func (l *legendObjects) set(entries []LegendEntry) {
	if l.bg == nil {
		l.bg = canvas.NewRectangle(color.NRGBA{A: 170})
		l.bg.CornerRadius = 3
	}
	l.rows = l.rows[:0]
	for _, e := range entries {
		img := canvas.NewImageFromImage(e.Swatch)
		img.FillMode = canvas.ImageFillStretch
		img.ScaleMode = canvas.ImageScalePixels
		t := canvas.NewText(e.Label, LabelColor)
		t.TextSize = theme.TextSize() * 0.9
		l.rows = append(l.rows, legendRow{swatch: img, text: t})
	}
}

func (l *legendObjects) objects() []fyne.CanvasObject {
	if len(l.rows) == 0 {
		return nil
	}
	out := []fyne.CanvasObject{l.bg}
	for _, r := range l.rows {
		out = append(out, r.swatch, r.text)
	}
	return out
}

// layoutLegend puts the legend in the top right corner, below the top
// orientation letter and the title when it would cover them.
func (r *renderer) layoutLegend(size fyne.Size) {
	l := &r.legend
	if len(l.rows) == 0 {
		return
	}
	show := r.v.scene != nil
	for _, o := range l.objects() {
		if show {
			o.Show()
		} else {
			o.Hide()
		}
	}
	if !show {
		return
	}
	const pad, gap, inner = 4, 4, 3
	w, h := float32(0), float32(0)
	rowH := make([]float32, len(l.rows))
	for i, row := range l.rows {
		ts := row.text.MinSize()
		row.text.Resize(ts)
		rowH[i] = max(ts.Height, SwatchHeight)
		w = max(w, SwatchWidth+gap+ts.Width)
		h += rowH[i]
	}
	bw, bh := w+2*inner, h+2*inner
	x := size.Width - bw - pad
	y := float32(pad / 2)
	for _, o := range []*canvas.Rectangle{r.letterBg[2], r.titleBg} {
		if !o.Visible() {
			continue
		}
		p, s := o.Position(), o.Size()
		if x < p.X+s.Width+2 && p.X < x+bw+2 && y < p.Y+s.Height+2 && p.Y < y+bh {
			y = p.Y + s.Height + 3
		}
	}
	l.bg.Move(fyne.NewPos(x, y))
	l.bg.Resize(fyne.NewSize(bw, bh))
	cy := y + inner
	for i, row := range l.rows {
		row.swatch.Move(fyne.NewPos(x+inner, cy+(rowH[i]-SwatchHeight)/2))
		row.swatch.Resize(fyne.NewSize(SwatchWidth, SwatchHeight))
		row.text.Move(fyne.NewPos(x+inner+SwatchWidth+gap, cy+(rowH[i]-row.text.Size().Height)/2))
		cy += rowH[i]
	}
}
