package app

import (
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/driver/software"

	"github.com/liverseg/liverseg/comparison"
	"github.com/liverseg/liverseg/inference"
	"github.com/liverseg/liverseg/internal/task"
	"github.com/liverseg/liverseg/viewer/sliceview"
)

// compareFiles are the names an export writes into the chosen folder: the
// table (CSV, JSON), the chart and the views of the current mode.
func compareFiles(mode string) []string {
	m := strings.ReplaceAll(strings.ToLower(mode), " ", "_")
	return []string{"comparison.csv", "comparison.json", "comparison_chart.png", "comparison_" + m + ".png"}
}

// chooseCompareExport asks for a folder, then for confirmation when files
// of the same names are there already.
func (c *cmpController) chooseCompareExport() {
	u := c.u
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
						c.ExportComparison(path, true)
					}
				}, u.win).Show()
			return
		}
		c.ExportComparison(path, false)
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
func (c *cmpController) ExportComparison(dir string, overwrite bool) {
	u := c.u
	done := func(paths []string, err error) {
		if err != nil {
			u.showRefError(fmt.Errorf("export of the comparison: %w", err))
		} else {
			u.setStatus(fmt.Sprintf("Comparison exported to %s: %s.", shortPath(dir, statusPathChars), strings.Join(baseNames(paths), ", ")))
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
	views := c.captureCompareViews()
	rows, chart := c.rows, c.chartImg
	meta := comparison.NewMeta(u.vol)
	if u.seg.refName != "" && c.set.Reference() != nil {
		meta.Reference = u.seg.refName
	}
	paths := make([]string, len(names))
	task.Go(u.do, func(*task.Task) ([]string, error) {
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
		return paths, err
	}, done)
}

func baseNames(paths []string) []string {
	out := make([]string, len(paths))
	for i, p := range paths {
		out[i] = filepath.Base(p)
	}
	return out
}

// captureCompareViews draws what the current mode's views show (the legend
// and controls left out), as the window shows them: slice, window, zoom,
// pan, each view's overlays, crosshair and titles. Like CaptureViews, it
// paints copies of the views with Fyne's software painter, because reading
// the window back through OpenGL is blank on some systems (Xvfb with Mesa).
// Must run on the Fyne goroutine.
func (c *cmpController) captureCompareViews() image.Image {
	u := c.u
	if c.viewsBox == nil || !c.area.Visible() || u.scene == nil {
		return nil
	}
	views := c.tri[:]
	if c.mode == ModeSideBySide {
		views = c.sbs
	}
	box := c.viewsBox.Size()
	if len(views) == 0 || box.Width < 1 || box.Height < 1 {
		return nil
	}
	d := fyne.CurrentApp().Driver()
	origin := d.AbsolutePositionForObject(c.viewsBox)
	cv := software.NewCanvas()
	cv.SetPadded(false)
	cv.SetScale(u.win.Canvas().Scale())
	bg := canvas.NewRectangle(color.Black)
	bg.Resize(box)
	objs := []fyne.CanvasObject{bg}
	var copies []*sliceview.SliceView
	for _, v := range views {
		cp := sliceview.New(v.Plane())
		cp.SetScene(u.scene)
		if list, own := v.Overlays(); own {
			cp.SetOverlays(list...)
		}
		cp.SetTitle(v.Title(), v.TitleColor())
		cp.Resize(v.Size())
		cp.Move(d.AbsolutePositionForObject(v).Subtract(origin))
		cp.MatchView(v)
		copies = append(copies, cp)
		objs = append(objs, cp)
	}
	defer func() {
		for _, cp := range copies {
			cp.SetScene(nil) // stop following the scene
		}
	}()
	cv.SetContent(container.NewWithoutLayout(objs...))
	cv.Resize(box)
	shot := cv.Capture()
	out := image.NewRGBA(shot.Bounds())
	draw.Draw(out, out.Rect, shot, shot.Bounds().Min, draw.Src)
	return out
}

// compareSources are the comparison's results on the open study as export
// (and report) sources, leaving out those that listed already holds: the
// same result, or the same model on the same region at the same
// threshold, which gives the same mask.
func (c *cmpController) compareSources(listed []maskSource) []maskSource {
	u := c.u
	if c.set == nil || c.set.Study() != u.vol || u.vol == nil {
		return nil
	}
	whole := inference.Box{Max: u.vol.CanonicalGeometry().Size}
	var out []maskSource
	for _, name := range c.compareNames() {
		e, ok := c.set.Entry(name)
		if !ok || e.Result == nil {
			continue
		}
		r := e.Result
		if slices.ContainsFunc(listed, func(s maskSource) bool {
			return s.res == r || (s.res != nil && s.Model == r.Model && s.res.ROI == r.ROI && s.post == r.Post)
		}) {
			continue
		}
		src := maskSource{Model: r.Model, res: r, post: r.Post, mask: r.Mask, times: r.Timings}
		if u.seg.reg != nil {
			src.card, _ = u.seg.reg.Card(r.Model)
		}
		what := "whole volume"
		if r.ROI != whole {
			what = "in a box"
		}
		src.Label = fmt.Sprintf("%s (threshold %.2f, %s, from Compare)", r.Model, r.Post.Threshold, what)
		out = append(out, src)
	}
	return out
}
