package comparison

import (
	"fmt"
	"image"
	"image/color"
	"math"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// Smallest chart Chart draws: below this the text no longer fits.
const (
	MinChartWidth  = 320
	MinChartHeight = 200
)

// Chart draws the comparison as one width×height image with two panels:
// left, each model's Dice (against the reference when the rows have one,
// else against the teacher, which then sits at Dice 1 by definition)
// against its network time on a log scale; right, each model's liver
// volume as a bar, with the reference volume as a dashed line. A legend
// row below names the models in their Colors.
func Chart(rows []Row, width, height int) (image.Image, error) {
	if width < MinChartWidth || height < MinChartHeight {
		return nil, fmt.Errorf("chart: %d×%d is too small (at least %d×%d)", width, height, MinChartWidth, MinChartHeight)
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("chart: no model results to draw")
	}
	// One point is one pixel (72 dpi): text sizes below are in pixels,
	// scaled with the image so that a small chart stays readable.
	img := image.NewRGBA(image.Rect(0, 0, width, height))
	cv := vgimg.NewWith(vgimg.UseImage(img), vgimg.UseDPI(72))
	dc := draw.New(cv)
	fs := vg.Length(math.Max(10, math.Min(18, float64(min(width/2, height))/26)))

	dice, err := dicePanel(rows, fs)
	if err != nil {
		return nil, err
	}
	vol, err := volumePanel(rows, fs)
	if err != nil {
		return nil, err
	}

	legendH := fs * 2.4
	top := dc
	top.Min.Y += legendH
	tiles := draw.Tiles{
		Rows: 1, Cols: 2,
		PadX: fs * 2, PadTop: fs * 0.6, PadBottom: fs * 0.3, PadLeft: fs * 0.6, PadRight: fs * 1.2,
	}
	cs := plot.Align([][]*plot.Plot{{dice, vol}}, tiles, top)
	fitNames(vol, cs[0][1], len(rows))
	dice.Draw(cs[0][0])
	vol.Draw(cs[0][1])

	leg := dc
	leg.Max.Y = dc.Min.Y + legendH
	drawLegend(leg, rows, fs)
	return cv.Image(), nil
}

// style sets the fonts and grid of a panel.
func style(p *plot.Plot, fs vg.Length) {
	p.Title.TextStyle.Font = sans(fs * 1.15)
	p.Title.Padding = fs * 0.6
	for _, a := range []*plot.Axis{&p.X, &p.Y} {
		a.Label.TextStyle.Font = sans(fs)
		a.Tick.Label.Font = sans(fs * 0.9)
		a.Label.Padding = fs * 0.3
	}
	p.Add(&plotter.Grid{
		Horizontal: draw.LineStyle{Color: color.Gray{0xDD}, Width: 1},
		Vertical:   draw.LineStyle{Color: color.Gray{0xDD}, Width: 1},
	})
}

// sans is Liberation Sans (embedded in gonum/plot) at size fs: easier to
// read on screen than the library's default serif.
func sans(fs vg.Length) font.Font {
	return font.Font{Typeface: "Liberation", Variant: "Sans", Size: fs}
}

func textStyle(fs vg.Length, c color.Color) text.Style {
	return text.Style{Font: sans(fs), Color: c, Handler: plot.DefaultTextHandler}
}

// dicePanel is Dice against network time, one point per model.
func dicePanel(rows []Row, fs vg.Length) (*plot.Plot, error) {
	vsRef := false
	for _, r := range rows {
		if r.VsReference != nil {
			vsRef = true
		}
	}
	p := plot.New()
	style(p, fs)
	against := "teacher"
	if vsRef {
		against = "reference"
	}
	p.Title.Text = "Agreement with the " + against + " vs speed"
	p.Y.Label.Text = "Dice vs " + against
	p.X.Label.Text = "Network time on this machine (ms, log scale)"
	p.X.Scale = plot.LogScale{}
	p.X.Tick.Marker = logTicks{}

	lo, hi := math.Inf(1), math.Inf(-1)
	tmin, tmax := math.Inf(1), math.Inf(-1)
	labels := &pointLabels{style: textStyle(fs*0.85, color.Black), radius: fs * 0.5}
	for _, r := range rows {
		var d float64
		switch {
		case vsRef:
			if r.VsReference == nil {
				continue
			}
			d = r.VsReference.Dice
		case r.VsTeacher != nil:
			d = r.VsTeacher.Dice
		case r.Role == "teacher" || r.Name == "teacher":
			d = 1 // the teacher against itself
		default:
			continue
		}
		t := math.Max(r.InferMS, 0.1) // a log axis needs a positive time
		lo, hi = math.Min(lo, d), math.Max(hi, d)
		tmin, tmax = math.Min(tmin, t), math.Max(tmax, t)
		c := Color(r.Name)
		s, err := plotter.NewScatter(plotter.XYs{{X: t, Y: d}})
		if err != nil {
			return nil, err
		}
		s.GlyphStyle = draw.GlyphStyle{Color: c, Radius: fs * 0.5, Shape: draw.CircleGlyph{}}
		ring, _ := plotter.NewScatter(plotter.XYs{{X: t, Y: d}})
		ring.GlyphStyle = draw.GlyphStyle{Color: color.Black, Radius: fs * 0.5, Shape: draw.RingGlyph{}}
		labels.add(t, d, fmt.Sprintf("%s %.3f", r.Name, d))
		p.Add(s, ring)
	}
	if math.IsInf(lo, 1) {
		// Nothing to compare with yet: an empty, labelled frame.
		p.Title.Text = "Dice: no teacher or reference result yet"
		p.X.Min, p.X.Max, p.Y.Min, p.Y.Max = 10, 1000, 0, 1
		return p, nil
	}
	p.Add(labels)
	// Room for the labels around the points and at the ends of the axis.
	span := math.Max(hi-lo, 0.02)
	p.Y.Min = math.Max(0, lo-span*0.25)
	p.Y.Max = math.Min(1, hi) + span*0.35
	p.X.Min, p.X.Max = tmin/2.2, tmax*2.2
	return p, nil
}

// volumePanel is one bar per model, plus the reference as a dashed line.
func volumePanel(rows []Row, fs vg.Length) (*plot.Plot, error) {
	p := plot.New()
	style(p, fs)
	p.Title.Text = "Liver volume"
	p.Y.Label.Text = "Volume (mL)"
	names := make([]string, len(rows))
	top := 0.0
	ref := math.NaN()
	for i, r := range rows {
		names[i] = r.Name
		b, err := plotter.NewBarChart(plotter.Values{r.VolumeML}, fs*2.6)
		if err != nil {
			return nil, err
		}
		b.XMin = float64(i)
		b.Color = Color(r.Name)
		b.LineStyle = draw.LineStyle{Color: color.Black, Width: 0.8}
		lab, err := plotter.NewLabels(plotter.XYLabels{XYs: plotter.XYs{{X: float64(i), Y: r.VolumeML}}, Labels: []string{fmt.Sprintf("%.0f", r.VolumeML)}})
		if err != nil {
			return nil, err
		}
		ts := textStyle(fs*0.85, color.Black)
		ts.XAlign, ts.YAlign = draw.XCenter, draw.YBottom
		lab.TextStyle[0] = ts
		lab.Offset = vg.Point{Y: fs * 0.25}
		p.Add(b, lab)
		top = math.Max(top, r.VolumeML)
		if r.VsReference != nil {
			ref = r.VsReference.RefVolumeML
		}
	}
	p.NominalX(names...)
	if !math.IsNaN(ref) {
		l, err := plotter.NewLine(plotter.XYs{{X: -0.5, Y: ref}, {X: float64(len(rows)) - 0.5, Y: ref}})
		if err != nil {
			return nil, err
		}
		l.LineStyle = draw.LineStyle{Color: Color(ReferenceName), Width: 1.6, Dashes: []vg.Length{fs * 0.5, fs * 0.3}}
		p.Add(l)
		top = math.Max(top, ref)
	}
	p.X.Min, p.X.Max = -0.6, float64(len(rows))-0.4
	p.Y.Min, p.Y.Max = 0, math.Max(top*1.15, 1)
	p.Y.Tick.Marker = linearTicks{}
	return p, nil
}

// fitNames shrinks the model names under the bars when the widest would
// run into its neighbour on the canvas c the panel is drawn on.
func fitNames(p *plot.Plot, c draw.Canvas, n int) {
	slot := (p.DataCanvas(c).Max.X - p.DataCanvas(c).Min.X) / vg.Length(float64(n)+0.2)
	widest := vg.Length(0)
	for _, t := range p.X.Tick.Marker.Ticks(p.X.Min, p.X.Max) {
		widest = max(widest, p.X.Tick.Label.Width(t.Label))
	}
	if widest > slot*0.9 {
		p.X.Tick.Label.Font.Size *= slot * 0.9 / widest
	}
}

// drawLegend writes the models (and the reference, when there is one) in
// a centred row: a swatch in the model's colour, then its name.
func drawLegend(c draw.Canvas, rows []Row, fs vg.Length) {
	type item struct {
		name, label string
		dash        bool
	}
	var items []item
	ref := math.NaN()
	for _, r := range rows {
		items = append(items, item{name: r.Name, label: r.Name})
		if r.VsReference != nil {
			ref = r.VsReference.RefVolumeML
		}
	}
	if !math.IsNaN(ref) {
		items = append(items, item{name: ReferenceName, label: fmt.Sprintf("reference (%.0f mL)", ref), dash: true})
	}
	ts := textStyle(fs, color.Black)
	ts.YAlign = draw.YCenter
	sw, gap := fs*1.6, fs*0.5
	total := vg.Length(0)
	for _, it := range items {
		total += sw + gap + ts.Width(it.label) + fs*1.5
	}
	x := c.Center().X - total/2
	y := c.Center().Y
	for _, it := range items {
		col := Color(it.name)
		if it.dash {
			c.StrokeLine2(draw.LineStyle{Color: col, Width: 1.6, Dashes: []vg.Length{fs * 0.5, fs * 0.3}}, x, y, x+sw, y)
		} else {
			h := fs * 0.45
			c.FillPolygon(col, []vg.Point{{X: x, Y: y - h}, {X: x + sw, Y: y - h}, {X: x + sw, Y: y + h}, {X: x, Y: y + h}})
		}
		x += sw + gap
		c.FillText(ts, vg.Point{X: x, Y: y}, it.label)
		x += ts.Width(it.label) + fs*1.5
	}
}

// logTicks labels a log axis at 1-2-5 steps, which suits a range of
// network times of one or two decades better than powers of ten alone.
type logTicks struct{}

func (logTicks) Ticks(lo, hi float64) []plot.Tick {
	var ts []plot.Tick
	for e := math.Floor(math.Log10(lo)); e <= math.Ceil(math.Log10(hi)); e++ {
		for _, m := range []float64{1, 2, 5} {
			v := m * math.Pow(10, e)
			if v < lo || v > hi {
				continue
			}
			ts = append(ts, plot.Tick{Value: v, Label: fmt.Sprintf("%g", v)})
		}
		for _, m := range []float64{3, 4, 6, 7, 8, 9} {
			if v := m * math.Pow(10, e); v >= lo && v <= hi {
				ts = append(ts, plot.Tick{Value: v}) // minor
			}
		}
	}
	return ts
}

// pointLabels names the points of a scatter plot, each label placed
// beside its point where it overlaps no other label, no point and no
// edge of the data area (above, below, right or left, in that order of
// preference; above when nothing fits). It is not a GlyphBoxer: the axis
// ranges leave room for the labels instead.
type pointLabels struct {
	x, y   []float64
	text   []string
	style  text.Style
	radius vg.Length // of the point glyphs
}

func (l *pointLabels) add(x, y float64, s string) {
	l.x, l.y, l.text = append(l.x, x), append(l.y, y), append(l.text, s)
}

// Plot implements plot.Plotter.
func (l *pointLabels) Plot(c draw.Canvas, p *plot.Plot) {
	trX, trY := p.Transforms(&c)
	pts := make([]vg.Point, len(l.x))
	for i := range pts {
		pts[i] = vg.Point{X: trX(l.x[i]), Y: trY(l.y[i])}
	}
	// overlap is the area two rectangles share.
	overlap := func(a, b vg.Rectangle) float64 {
		w := min(a.Max.X, b.Max.X) - max(a.Min.X, b.Min.X)
		h := min(a.Max.Y, b.Max.Y) - max(a.Min.Y, b.Min.Y)
		if w <= 0 || h <= 0 {
			return 0
		}
		return float64(w * h)
	}
	var placed []vg.Rectangle
	gap := l.radius * 1.3
	for i, pt := range pts {
		w, h := l.style.Width(l.text[i]), l.style.Height(l.text[i])
		// Lower-left corners of the candidate boxes, in order of
		// preference; the first that overlaps nothing wins, else the one
		// that overlaps least.
		cands := []vg.Point{
			{X: pt.X - w/2, Y: pt.Y + gap},         // above
			{X: pt.X - w/2, Y: pt.Y - gap - h},     // below
			{X: pt.X + gap, Y: pt.Y - h/2},         // right
			{X: pt.X - gap - w, Y: pt.Y - h/2},     // left
			{X: pt.X + gap*0.7, Y: pt.Y + gap*0.7}, // above right
			{X: pt.X - gap*0.7 - w, Y: pt.Y + gap*0.7},
			{X: pt.X + gap*0.7, Y: pt.Y - gap*0.7 - h}, // below right
			{X: pt.X - gap*0.7 - w, Y: pt.Y - gap*0.7 - h},
			{X: pt.X - w/2, Y: pt.Y + gap + h*1.1}, // further above
			{X: pt.X - w/2, Y: pt.Y - gap - h*2.1}, // further below
		}
		best, bestCost := cands[0], math.Inf(1)
		for _, cd := range cands {
			r := vg.Rectangle{Min: cd, Max: vg.Point{X: cd.X + w, Y: cd.Y + h}}
			cost := float64(w*h) - overlap(r, c.Rectangle) // the part outside the area
			cost *= 4
			for _, o := range placed {
				cost += overlap(r, o)
			}
			for _, q := range pts {
				cost += overlap(r, vg.Rectangle{Min: vg.Point{X: q.X - l.radius, Y: q.Y - l.radius}, Max: vg.Point{X: q.X + l.radius, Y: q.Y + l.radius}})
			}
			if cost < bestCost {
				best, bestCost = cd, cost
			}
			if cost <= 0 {
				break
			}
		}
		placed = append(placed, vg.Rectangle{Min: best, Max: vg.Point{X: best.X + w, Y: best.Y + h}})
		sty := l.style
		sty.XAlign, sty.YAlign = draw.XLeft, draw.YBottom
		c.FillText(sty, best, l.text[i])
	}
}

// linearTicks labels a linear axis at a round step (1, 2 or 5 × 10ⁿ) that
// gives four to eight labels, with a minor tick between labels.
type linearTicks struct{}

func (linearTicks) Ticks(lo, hi float64) []plot.Tick {
	if !(hi > lo) {
		return nil
	}
	e := math.Pow(10, math.Floor(math.Log10((hi-lo)/4)))
	step := e
	for _, m := range []float64{1, 2, 5, 10} {
		if (hi-lo)/(m*e) <= 8 {
			step = m * e
			break
		}
	}
	var ts []plot.Tick
	for v := math.Ceil(lo/step) * step; v <= hi; v += step {
		ts = append(ts, plot.Tick{Value: v, Label: strconv.FormatFloat(v, 'f', -1, 64)})
		if m := v + step/2; m <= hi {
			ts = append(ts, plot.Tick{Value: m})
		}
	}
	return ts
}
