package app

import (
	"errors"
	"fmt"
	"image"
	"image/draw"
	"io"
	"os"
	"path/filepath"
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/dialog"

	"github.com/liverseg/liverseg/comparison"
)

// compareFiles are the names an export writes into the chosen folder: the
// table (CSV, JSON), the chart and the views of the current mode.
func compareFiles(mode string) []string {
	m := strings.ReplaceAll(strings.ToLower(mode), " ", "_")
	return []string{"comparison.csv", "comparison.json", "comparison_chart.png", "comparison_" + m + ".png"}
}

// chooseCompareExport asks for a folder, then for confirmation when files
// of the same names are there already.
func (u *UI) chooseCompareExport() {
	c := &u.cmp
	if len(c.rows) == 0 {
		u.setStatus("Nothing to export yet: the comparison has no results.")
		return
	}
	d := dialog.NewFolderOpen(func(dir fyne.ListableURI, err error) {
		if err != nil {
			u.showRefError(fmt.Errorf("export: %w", err))
			return
		}
		if dir == nil {
			return
		}
		path := dir.Path()
		if clash := existing(path, compareFiles(c.mode)); len(clash) > 0 {
			dialog.NewConfirm("Replace files?",
				fmt.Sprintf("%s already holds %s.\nReplace them?", path, strings.Join(clash, ", ")),
				func(ok bool) {
					if ok {
						u.ExportComparison(path, true)
					}
				}, u.win).Show()
			return
		}
		u.ExportComparison(path, false)
	}, u.win)
	d.Resize(fyne.NewSize(900, 600))
	d.Show()
}

func existing(dir string, names []string) []string {
	var out []string
	for _, n := range names {
		if _, err := os.Lstat(filepath.Join(dir, n)); err == nil {
			out = append(out, n)
		}
	}
	return out
}

// ErrExists is returned by ExportComparison when a file would be replaced
// without permission.
var ErrExists = errors.New("file exists")

// ExportComparison writes the table (comparison.csv, comparison.json), the
// chart (comparison_chart.png) and what the current mode's views show
// (comparison_<mode>.png) into dir, each atomically (a temporary file
// renamed into place). Existing files are replaced only when overwrite is
// set; otherwise nothing is written and the error wraps ErrExists. The
// views are captured here (on the Fyne goroutine); the files are written in
// the background, and the result is reported in the status line (and to
// the test hook).
func (u *UI) ExportComparison(dir string, overwrite bool) {
	c := &u.cmp
	done := func(paths []string, err error) {
		if err != nil {
			u.showRefError(fmt.Errorf("export of the comparison: %w", err))
		} else {
			u.setStatus(fmt.Sprintf("Comparison exported to %s: %s.", dir, strings.Join(baseNames(paths), ", ")))
		}
		if c.onExport != nil {
			c.onExport(paths, err)
		}
	}
	if len(c.rows) == 0 {
		done(nil, errors.New("the comparison has no results yet"))
		return
	}
	names := compareFiles(c.mode)
	if !overwrite {
		if clash := existing(dir, names); len(clash) > 0 {
			done(nil, fmt.Errorf("%s in %s: %w (not replaced)", strings.Join(clash, ", "), dir, ErrExists))
			return
		}
	}
	views := u.captureCompareViews()
	rows, chart := c.rows, c.chartImg
	meta := comparison.NewMeta(u.vol)
	if u.seg.refName != "" && c.set.Reference() != nil {
		meta.Reference = u.seg.refName
	}
	go func() {
		paths := make([]string, len(names))
		for i, n := range names {
			paths[i] = filepath.Join(dir, n)
		}
		err := func() error {
			if err := comparison.WriteFile(paths[0], func(w io.Writer) error { return comparison.WriteCSV(w, rows) }); err != nil {
				return err
			}
			if err := comparison.WriteFile(paths[1], func(w io.Writer) error { return comparison.WriteJSON(w, rows, meta) }); err != nil {
				return err
			}
			if chart == nil {
				var err error
				if chart, err = comparison.Chart(rows, chartW, chartH); err != nil {
					return err
				}
			}
			if err := comparison.WritePNG(paths[2], chart); err != nil {
				return err
			}
			if views == nil {
				return errors.New("the views could not be captured")
			}
			return comparison.WritePNG(paths[3], views)
		}()
		fyne.Do(func() { done(paths, err) })
	}()
}

func baseNames(paths []string) []string {
	out := make([]string, len(paths))
	for i, p := range paths {
		out[i] = filepath.Base(p)
	}
	return out
}

// captureCompareViews is what the current mode's views show on screen, at
// the screen's resolution (the legend and controls left out).
func (u *UI) captureCompareViews() image.Image {
	c := &u.cmp
	if c.viewsBox == nil || !c.area.Visible() {
		return nil
	}
	img := u.win.Canvas().Capture()
	pos := fyne.CurrentApp().Driver().AbsolutePositionForObject(c.viewsBox)
	s := u.win.Canvas().Scale()
	size := c.viewsBox.Size()
	r := image.Rect(int(pos.X*s), int(pos.Y*s), int((pos.X+size.Width)*s), int((pos.Y+size.Height)*s)).Intersect(img.Bounds())
	if r.Empty() {
		return nil
	}
	out := image.NewRGBA(image.Rect(0, 0, r.Dx(), r.Dy()))
	draw.Draw(out, out.Rect, img, r.Min, draw.Src)
	return out
}
