package app

// What the window shows must be readable where it is shown (issue 13,
// items 5–7): the segmentation panel fits a 1400×900 window, text has
// contrast, annotations do not cover each other, the table is not cut.

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"
	"golang.org/x/net/html"

	"github.com/liverseg/liverseg/inference"
)

// menuBarHeight is what the real window's menu bar takes from a window's
// height under Xvfb (the test canvas has none): the sizes below are the
// real window's sizes less it.
const menuBarHeight = 30

// screens are the window sizes checked: the default and a larger screen.
var screens = []fyne.Size{{Width: 1400, Height: 900}, {Width: 1600, Height: 1000}}

func resizeContent(u *UI, s fyne.Size) {
	u.win.Resize(fyne.NewSize(s.Width, s.Height-menuBarHeight))
}

// scrollOf finds the scroll container under root whose content holds
// target, directly or deeper.
func scrollOf(root fyne.CanvasObject, target fyne.CanvasObject) *container.Scroll {
	var holds func(o fyne.CanvasObject) bool
	holds = func(o fyne.CanvasObject) bool {
		if o == target {
			return true
		}
		if c, ok := o.(*fyne.Container); ok {
			for _, ch := range c.Objects {
				if holds(ch) {
					return true
				}
			}
		}
		if s, ok := o.(*container.Scroll); ok {
			return holds(s.Content)
		}
		if t, ok := o.(*container.AppTabs); ok {
			for _, it := range t.Items {
				if holds(it.Content) {
					return true
				}
			}
		}
		return false
	}
	var find func(o fyne.CanvasObject) *container.Scroll
	find = func(o fyne.CanvasObject) *container.Scroll {
		if s, ok := o.(*container.Scroll); ok && holds(s.Content) {
			if inner := find(s.Content); inner != nil {
				return inner
			}
			return s
		}
		if c, ok := o.(*fyne.Container); ok {
			for _, ch := range c.Objects {
				if s := find(ch); s != nil {
					return s
				}
			}
		}
		if t, ok := o.(*container.AppTabs); ok {
			// The side panel is a tab beside the 3D view.
			for _, it := range t.Items {
				if s := find(it.Content); s != nil {
					return s
				}
			}
		}
		return nil
	}
	return find(root)
}

// describe names a widget for a failure message.
func describe(o fyne.CanvasObject) string {
	switch w := o.(type) {
	case *widget.Label:
		return fmt.Sprintf("label %q", w.Text)
	case *widget.Button:
		return fmt.Sprintf("button %q", w.Text)
	case *widget.Check:
		return fmt.Sprintf("check %q", w.Text)
	}
	return fmt.Sprintf("%T", o)
}

// cutOff lists the visible widgets under o that do not lie wholly inside
// the scroll's visible area.
func cutOff(s *container.Scroll, o fyne.CanvasObject) []string {
	d := fyne.CurrentApp().Driver()
	sp := d.AbsolutePositionForObject(s)
	top, bottom := sp.Y, sp.Y+s.Size().Height
	var out []string
	var walk func(o fyne.CanvasObject)
	walk = func(o fyne.CanvasObject) {
		if !o.Visible() {
			return
		}
		if c, ok := o.(*fyne.Container); ok {
			for _, ch := range c.Objects {
				walk(ch)
			}
			return
		}
		p := d.AbsolutePositionForObject(o)
		if o.Size().Height > 0 && (p.Y < top-0.5 || p.Y+o.Size().Height > bottom+0.5) {
			out = append(out, fmt.Sprintf("%s at y %.0f–%.0f (visible %.0f–%.0f)", describe(o), p.Y, p.Y+o.Size().Height, top, bottom))
		}
	}
	walk(o)
	return out
}

// TestSegPanelFitsWindow checks issue 13 item 5: after a run in a box,
// with a reference loaded, everything the segmentation panel says (the
// result, the box, Whole volume, the reference and its Dice) is on screen
// without scrolling in a 1400×900 window, and the Dice is in the status
// line too.
func TestSegPanelFitsWindow(t *testing.T) {
	u, runDone, postDone, _, study := openAbdomen(t)
	waitPost(t, postDone)
	size := u.scene.Slicer().Size()
	u.seg.SetBox(&inference.Box{Min: [3]int{size[0] / 8, size[1] / 8, 0}, Max: [3]int{size[0] * 3 / 4, size[1] * 3 / 4, size[2]}})
	if err := waitRun(t, runDone); err != nil {
		t.Fatal(err)
	}
	waitPost(t, postDone)
	refDone := make(chan error, 1)
	u.seg.onRefDone = func(err error) { refDone <- err }
	u.LoadReference(study.Liver)
	if err := waitFor(t, refDone, time.Minute, "reference"); err != nil {
		t.Fatal(err)
	}
	waitPost(t, postDone) // the Dice
	s := u.seg
	if !strings.Contains(s.refLabel.Text, "Dice with "+s.res.Model) || !s.boxLabel.Visible() || s.clearBox.Disabled() {
		t.Fatalf("panel after the run: reference %q, box shown %v, Whole volume enabled %v", s.refLabel.Text, s.boxLabel.Visible(), !s.clearBox.Disabled())
	}
	if st := u.status.Text; !strings.Contains(st, "Dice "+s.res.Model+" vs reference") {
		t.Errorf("status line %q: want the Dice against the reference", st)
	}
	// It stays in the status bar when the status line says something else
	// (the pointer over a view).
	u.setStatus("Axial 40/78  |  HU 120")
	if !s.diceStatus.Visible() || !strings.Contains(s.diceStatus.Text, "Dice "+s.res.Model+"/ref 0.") {
		t.Errorf("status bar Dice %q (shown %v): want the Dice with the reference", s.diceStatus.Text, s.diceStatus.Visible())
	}
	for _, sz := range screens {
		resizeContent(u, sz)
		p := fyne.CurrentApp().Driver().AbsolutePositionForObject(s.diceStatus)
		if p.X < 0 || p.X+s.diceStatus.Size().Width > sz.Width || p.Y+s.diceStatus.Size().Height > sz.Height-menuBarHeight {
			t.Errorf("%v window: the status bar's Dice lies at %v %v, off the window", sz, p, s.diceStatus.Size())
		}
	}
	scroll := scrollOf(u.win.Content(), s.panel)
	if scroll == nil {
		t.Fatal("the segmentation panel is not in a scroll container")
	}
	for _, sz := range screens {
		resizeContent(u, sz)
		scroll.ScrollToTop()
		if cut := cutOff(scroll, s.panel); len(cut) > 0 {
			t.Errorf("%v window: the segmentation panel is cut off:\n  %s", sz, strings.Join(cut, "\n  "))
		}
	}
}

// luminance is the WCAG relative luminance of an sRGB colour.
func luminance(c color.Color) float64 {
	r, g, b, _ := c.RGBA()
	lin := func(v uint32) float64 {
		x := float64(v) / 0xffff
		if x <= 0.03928 {
			return x / 12.92
		}
		return math.Pow((x+0.055)/1.055, 2.4)
	}
	return 0.2126*lin(r) + 0.7152*lin(g) + 0.0722*lin(b)
}

// textContrast is the WCAG contrast ratio between the label's background
// (its most common pixel on the canvas) and its text (the pixel that
// differs most from it), as drawn.
func textContrast(u *UI, img image.Image, l *widget.Label) float64 {
	d := fyne.CurrentApp().Driver()
	p := d.AbsolutePositionForObject(l)
	sc := u.win.Canvas().Scale()
	r := image.Rect(int(p.X*sc), int(p.Y*sc), int((p.X+l.Size().Width)*sc), int((p.Y+l.Size().Height)*sc)).Intersect(img.Bounds())
	count := map[color.RGBA]int{}
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			count[color.RGBAModel.Convert(img.At(x, y)).(color.RGBA)]++
		}
	}
	var bg color.RGBA
	best := -1
	for c, n := range count {
		if n > best {
			bg, best = c, n
		}
	}
	lb := luminance(bg)
	ratio := 1.0
	for c := range count {
		lc := luminance(c)
		hi, lo := max(lb, lc), min(lb, lc)
		ratio = max(ratio, (hi+0.05)/(lo+0.05))
	}
	return ratio
}

// labelsUnder are the visible labels with text under o.
func labelsUnder(o fyne.CanvasObject) []*widget.Label {
	var out []*widget.Label
	var walk func(o fyne.CanvasObject)
	walk = func(o fyne.CanvasObject) {
		if !o.Visible() {
			return
		}
		switch w := o.(type) {
		case *fyne.Container:
			for _, ch := range w.Objects {
				walk(ch)
			}
		case *container.Scroll:
			walk(w.Content)
		case *container.Split:
			walk(w.Leading)
			walk(w.Trailing)
		case *widget.Label:
			if strings.TrimSpace(w.Text) != "" {
				out = append(out, w)
			}
		}
	}
	walk(o)
	return out
}

// TestCompareReadable checks issue 13 items 7 and 8 on the four shipped
// models with the study's reference: at 1400×900 and 1600×1000 every
// table column is on screen, the hints and the footnote have readable
// contrast, no view title covers an orientation letter (Disagreement
// included), the reference is a dashed line with a dark edge that shows
// on the bright liver; then Export segmentation offers every compared
// model and the reference, and the report lists every compared model.
func TestCompareReadable(t *testing.T) {
	u, h, study := openCompare(t)
	c := u.cmp
	// The window's size from now on: the reference's columns must widen
	// the table without the help of a resize.
	resizeContent(u, screens[0])
	refDone := make(chan error, 1)
	u.seg.onRefDone = func(err error) { refDone <- err }
	u.LoadReference(study.Liver)
	if err := wait(t, refDone, "reference"); err != nil {
		t.Fatal(err)
	}
	u.cmp.Compare() // measures the cached models against the reference
	if err := wait(t, h.done, "comparison"); err != nil {
		t.Fatal(err)
	}
	waitIdle(t, &u.cmp.tableRun, "table with the reference")
	if len(c.cols) != len(tableCols) {
		t.Fatalf("%d columns, want %d with a reference", len(c.cols), len(tableCols))
	}
	for _, sz := range screens {
		resizeContent(u, sz)
		for _, mode := range compareModes {
			u.cmp.SetCompareMode(mode)
			if mode == ModeDisagreement && c.disText.Text == "Computing…" {
				waitIdle(t, &u.cmp.disRun, "disagreement map")
			}
			// Every column fits the table's width, none is cut off: the
			// table cannot scroll sideways, so scrolling to its trailing
			// edge changes nothing on screen.
			before := u.win.Canvas().Capture()
			c.table.ScrollToTrailing()
			if after := u.win.Canvas().Capture(); !bytes.Equal(before.(*image.NRGBA).Pix, after.(*image.NRGBA).Pix) {
				t.Errorf("%v, %s: the table scrolls sideways (%.0f wide): a column is cut off", sz, mode, c.table.Size().Width)
				c.table.ScrollToLeading()
			}
			if w := c.chart.Size().Width; w < 250 {
				t.Errorf("%v, %s: chart squeezed to %.0f", sz, mode, w)
			}
			views := c.tri[:]
			if mode == ModeSideBySide {
				views = c.sbs
			}
			for _, v := range views {
				if o := v.Overlapping(); len(o) > 0 {
					t.Errorf("%v, %s, %s view: annotations cover each other: %v", sz, mode, v.Title(), o)
				}
			}
			img := u.win.Canvas().Capture()
			for _, l := range labelsUnder(c.area) {
				if r := textContrast(u, img, l); r < 4.5 {
					t.Errorf("%v, %s: %s has contrast %.1f:1, want ≥ 4.5:1", sz, mode, describe(l), r)
				}
			}
		}
	}

	// The reference in the side-by-side panel: dashed yellow with a dark
	// edge, visible over the liver.
	resizeContent(u, screens[0])
	u.cmp.SetCompareMode(ModeSideBySide)
	panels, names := u.cmp.SideBySide()
	var refPanel = panels[len(panels)-1]
	if names[len(names)-1] != refName {
		t.Fatalf("panels %v: the reference is not last", names)
	}
	st := c.sbsOverlay[refName]
	if st == nil {
		t.Fatal("no reference overlay in its panel")
	}
	img := viewImage(u, refPanel)
	yellow, edged := 0, 0
	b := img.Bounds()
	for y := b.Min.Y + 1; y < b.Max.Y-1; y++ {
		for x := b.Min.X + 1; x < b.Max.X-1; x++ {
			if !near(img.RGBAAt(x, y), refColor, 40) {
				continue
			}
			yellow++
			for _, d := range [][2]int{{-1, 0}, {1, 0}, {0, -1}, {0, 1}, {-1, -1}, {1, 1}, {-1, 1}, {1, -1}} {
				if q := img.RGBAAt(x+2*d[0], y+2*d[1]); luminance(q) < 0.03 {
					edged++
					break
				}
			}
		}
	}
	t.Logf("reference panel: %d yellow pixels, %d of them next to the dark edge", yellow, edged)
	if yellow < 100 || float64(edged) < 0.5*float64(yellow) {
		t.Errorf("reference outline: %d yellow pixels, %d beside a dark edge: want a visible line with a dark edge", yellow, edged)
	}

	// Item 8: export and report cover every compared model.
	u.ShowExport()
	if u.exp.source == nil {
		t.Fatal("no export dialog")
	}
	opts := u.exp.source.Options
	for _, n := range append(u.cmp.compareNames(), "Reference") {
		if !slices.ContainsFunc(opts, func(o string) bool { return strings.HasPrefix(o, n+" ") }) {
			t.Errorf("export offers %q: %s is missing", opts, n)
		}
	}
	u.exp.dlg.Hide()
	u.cmp.showCompareArea(false)
	done := make(chan error, 1)
	u.rep.onDone = func(_ string, err error) { done <- err }
	u.ShowReport()
	out := t.TempDir()
	u.rep.folder.SetText(out)
	u.rep.name.SetText("report")
	test.Tap(u.rep.saveBtn)
	if err := waitFor(t, done, 2*time.Minute, "report"); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(out, "report.html"))
	if err != nil {
		t.Fatal(err)
	}
	doc, err := html.Parse(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	tables := htmlTables(doc)
	for _, n := range u.cmp.compareNames() {
		if rowOf(tables["models"], n) == nil || rowOf(tables["agreement"], n) == nil {
			t.Errorf("the report does not list %s (models %v)", n, tables["models"])
		}
	}
}

// near says whether c is within tol of want in every channel.
func near(c color.RGBA, want color.NRGBA, tol int) bool {
	d := func(a, b uint8) bool { return int(a)-int(b) <= tol && int(b)-int(a) <= tol }
	return c.A == 255 && d(c.R, want.R) && d(c.G, want.G) && d(c.B, want.B)
}
