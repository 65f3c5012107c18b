package app

import (
	"fmt"
	"image"
	"math"
	"slices"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/liverseg/liverseg/comparison"
	"github.com/liverseg/liverseg/internal/task"
	"github.com/liverseg/liverseg/metrics"
	"github.com/liverseg/liverseg/volume"
)

// Size of the chart image drawn for the window and the export (pixels).
const chartW, chartH = 960, 440

// undefined is shown for a value that does not exist (no teacher or
// reference to compare with, a distance to an empty mask): never NaN.
const undefined = "—"

// tableCol is one column of the metrics table.
type tableCol struct {
	title string
	chars int // widest value, in characters
	cell  func(r comparison.Row) string
}

func fmtRatio(r *metrics.Report, f func(*metrics.Report) float64) string {
	if r == nil {
		return undefined
	}
	v := f(r)
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return undefined
	}
	return fmt.Sprintf("%.3f", v)
}

func fmtDist(r *metrics.Report, f func(*metrics.Report) float64) string {
	if r == nil || !r.SurfaceOK {
		return undefined
	}
	v := f(r)
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return undefined
	}
	return fmt.Sprintf("%.1f", v)
}

func fmtNum(v float64, format string) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return undefined
	}
	return fmt.Sprintf(format, v)
}

var (
	dice = func(r *metrics.Report) float64 { return r.Dice }
	iou  = func(r *metrics.Report) float64 { return r.IoU }
	hd95 = func(r *metrics.Report) float64 { return r.HD95MM }
	assd = func(r *metrics.Report) float64 { return r.ASSDMM }
)

// tableCols are the metrics table's columns: "T" compares with the
// teacher, "ref" with the reference mask.
var tableCols = []tableCol{
	{"Model", 11, func(r comparison.Row) string { return r.Name }},
	{"Params", 9, func(r comparison.Row) string {
		if r.Params == 0 {
			return undefined // not a network (an edited mask)
		}
		return groupThousands(r.Params)
	}},
	{"Net ms", 5, func(r comparison.Row) string { return fmtNum(r.InferMS, "%.0f") }},
	{"Total ms", 5, func(r comparison.Row) string { return fmtNum(r.TotalMS, "%.0f") }},
	{"Vol mL", 6, func(r comparison.Row) string { return fmtNum(r.VolumeML, "%.1f") }},
	{"Dice T", 5, func(r comparison.Row) string { return fmtRatio(r.VsTeacher, dice) }},
	{"IoU T", 5, func(r comparison.Row) string { return fmtRatio(r.VsTeacher, iou) }},
	{"HD95 T", 5, func(r comparison.Row) string { return fmtDist(r.VsTeacher, hd95) }},
	{"ASSD T", 5, func(r comparison.Row) string { return fmtDist(r.VsTeacher, assd) }},
	{"Dice ref", 5, func(r comparison.Row) string { return fmtRatio(r.VsReference, dice) }},
	{"IoU ref", 5, func(r comparison.Row) string { return fmtRatio(r.VsReference, iou) }},
	{"HD95 ref", 5, func(r comparison.Row) string { return fmtDist(r.VsReference, hd95) }},
	{"ASSD ref", 5, func(r comparison.Row) string { return fmtDist(r.VsReference, assd) }},
}

// refCols is how many of tableCols compare with the reference (the last
// ones, left out while no reference is loaded).
const refCols = 4

// columnsFor are the columns shown: without a reference, its columns
// would only hold dashes.
func columnsFor(ref bool) []tableCol {
	if ref {
		return tableCols
	}
	return tableCols[:len(tableCols)-refCols]
}

// setColumns shows cols with widths that fit their header and widest
// value (chars is that value's length in monospace characters).
func (c *cmpController) setColumns(cols []tableCol) {
	c.cols = cols
	mono := fyne.MeasureText("0", theme.TextSize(), fyne.TextStyle{Monospace: true}).Width
	pad := 2 * theme.InnerPadding()
	c.colsWidth = 0
	for i, col := range cols {
		h := fyne.MeasureText(col.title, theme.TextSize(), fyne.TextStyle{Bold: true}).Width
		w := max(h, mono*float32(col.chars)) + pad
		c.table.SetColumnWidth(i, w)
		c.colsWidth += w + theme.Padding() // the table puts a padding between columns
	}
	c.table.Refresh()
	if c.bottom != nil {
		c.bottom.Refresh() // lays the table out again at its columns' new width
	}
}

// tableWidth is the width that shows all the table's columns: theirs, the
// table's scroll bar and a little air. The table is laid out at it, so
// that none is cut off while the window is wide enough; the chart beside
// it takes the rest.
func (c *cmpController) tableWidth() float32 {
	return c.colsWidth + theme.ScrollBarSize() + 2*theme.Padding()
}

// buildTable makes the metrics table and the chart beside it.
func (c *cmpController) buildTable() fyne.CanvasObject {
	t := widget.NewTableWithHeaders(
		func() (int, int) { return len(c.rows), len(c.cols) },
		func() fyne.CanvasObject {
			l := widget.NewLabel("")
			l.TextStyle.Monospace = true
			return l
		},
		func(id widget.TableCellID, o fyne.CanvasObject) {
			l := o.(*widget.Label)
			if id.Row >= len(c.rows) || id.Col >= len(c.cols) {
				l.SetText("")
				return
			}
			// Names bold, numbers monospace (aligned digits); never both:
			// not every theme has a bold monospace face.
			if id.Col == 0 {
				l.TextStyle = fyne.TextStyle{Bold: true}
				l.Alignment = fyne.TextAlignLeading
			} else {
				l.TextStyle = fyne.TextStyle{Monospace: true}
				l.Alignment = fyne.TextAlignTrailing
			}
			l.SetText(c.cols[id.Col].cell(c.rows[id.Row]))
		})
	t.ShowHeaderColumn = false
	t.CreateHeader = func() fyne.CanvasObject {
		l := widget.NewLabel("")
		l.TextStyle.Bold = true
		return l
	}
	t.UpdateHeader = func(id widget.TableCellID, o fyne.CanvasObject) {
		l := o.(*widget.Label)
		if id.Row < 0 && id.Col >= 0 && id.Col < len(c.cols) {
			l.SetText(c.cols[id.Col].title)
			l.Alignment = fyne.TextAlignTrailing
			if id.Col == 0 {
				l.Alignment = fyne.TextAlignLeading
			}
		}
	}
	c.table = t
	c.setColumns(columnsFor(false))
	// The note in the normal text colour: the theme's low-importance grey
	// on the dark background was too faint to read.
	c.tableNote = widget.NewLabel("")
	c.tableNote.Wrapping = fyne.TextWrapWord
	c.chart = canvas.NewImageFromImage(nil)
	c.chart.FillMode = canvas.ImageFillContain
	c.chart.ScaleMode = canvas.ImageScaleSmooth
	c.chart.SetMinSize(fyne.NewSize(300, 170))
	c.tableBox = container.New(widthLayout(c.tableWidth), container.NewBorder(nil, c.tableNote, nil, nil, t))
	c.bottom = container.NewBorder(nil, nil, c.tableBox, nil, c.chart)
	return c.bottom
}

// tableStale says whether the table misses a model or the reference.
func (c *cmpController) tableStale() bool {
	return len(c.rows) != len(c.set.Entries()) || c.tableRef != c.set.Reference()
}

// refreshTable measures the models in the background (each pair once; the
// set caches it) and then shows the table and the chart.
func (c *cmpController) refreshTable() {
	u := c.u
	if c.set == nil {
		return
	}
	set := c.set
	if len(set.Entries()) == 0 {
		c.tableRun.Cancel()
		c.rows = nil
		c.table.Refresh()
		return
	}
	c.tableNote.SetText("Measuring…")
	type measured struct {
		ref   *volume.Mask
		rows  []comparison.Row
		chart image.Image
		cerr  error
	}
	task.Start(&c.tableRun, u.do, func(t *task.Task) (measured, error) {
		m := measured{ref: set.Reference()}
		var err error
		m.rows, err = set.Table(t.Context())
		if err == nil {
			m.chart, m.cerr = comparison.Chart(timedRows(m.rows), chartW, chartH)
		}
		return m, err
	}, func(m measured, err error) {
		rows, ref, chart, cerr := m.rows, m.ref, m.chart, m.cerr
		if set != c.set {
			return
		}
		if err != nil {
			c.tableNote.SetText("Metrics failed: " + err.Error())
			return
		}
		order := c.compareNames()
		slices.SortStableFunc(rows, func(a, b comparison.Row) int {
			return slices.Index(order, a.Name) - slices.Index(order, b.Name)
		})
		c.rows, c.tableRef, c.chartImg = rows, ref, chart
		c.setColumns(columnsFor(ref != nil))
		c.tableNote.SetText(tableNote(rows, set.TeacherName(), ref, cerr))
		c.chart.Image = chart
		c.chart.Refresh()
	})
}

// tableNote explains the columns under the table.
func tableNote(rows []comparison.Row, teacher string, ref *volume.Mask, chartErr error) string {
	t := "T: against the " + teacher + "'s mask"
	if teacher == "" {
		t = "T: no teacher result"
	}
	r := "ref: against the reference mask"
	if ref == nil {
		r = "ref: no reference loaded (Reference mask… in the segmentation panel)"
	}
	s := fmt.Sprintf("%s · %s · HD95, ASSD in mm · Net = network alone, Total = whole run, in ms, measured now on this machine · — = undefined", t, r)
	if chartErr != nil {
		s += "\nChart: " + chartErr.Error()
	}
	return s
}

// CompareRows are the metrics table's rows as shown.
func (c *cmpController) CompareRows() []comparison.Row { return c.rows }

// CompareCell is the text of a table cell as shown (for tests).
func (c *cmpController) CompareCell(row, col int) string {
	return c.cols[col].cell(c.rows[row])
}
