package app

// File → Save report: a PNG of the three views as the window shows them
// (captured from the real canvas, overlays included) and a small
// self-contained HTML summary with that picture embedded: the study's
// identifiers, every model run with its version, threshold, liver volume
// and timings, the agreement with the reference when one is loaded, and the
// software version. Everything that comes from the DICOM files goes
// through html/template, which escapes it.

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/driver/software"
	"fyne.io/fyne/v2/widget"

	"github.com/liverseg/liverseg/inference"
	"github.com/liverseg/liverseg/internal/atomicfile"
	"github.com/liverseg/liverseg/internal/task"
	"github.com/liverseg/liverseg/metrics"
	"github.com/liverseg/liverseg/viewer/sliceview"
	"github.com/liverseg/liverseg/volume"
)

// reportState holds the report dialog's controls (nil while it is closed).
type reportState struct {
	dlg     dialog.Dialog
	folder  *widget.Entry
	name    *widget.Entry
	saveBtn *widget.Button

	// Test hooks, called on the Fyne goroutine.
	onDone  func(htmlPath string, err error)
	lastErr error
}

// CaptureViews draws the axial, coronal and sagittal views side by side as
// the window shows them (same size, slice, window, zoom, pan, overlays,
// crosshair and labels). The views are drawn by Fyne's software painter
// from copies of the real view widgets on the same scene: reading the
// window back through OpenGL (Canvas.Capture) returns a blank front buffer
// on some systems (Xvfb with Mesa among them), and the software painter
// gives the same picture everywhere. Must run on the Fyne goroutine.
func (u *UI) CaptureViews() (*image.RGBA, error) {
	if u.vol == nil || u.scene == nil {
		return nil, errors.New("no study is open")
	}
	const gap = 4
	c := software.NewCanvas()
	c.SetPadded(false)
	c.SetScale(u.win.Canvas().Scale())
	var copies []fyne.CanvasObject
	x, h := float32(0), float32(0)
	for _, v := range u.views {
		sz := v.Size()
		if sz.Width < 1 || sz.Height < 1 {
			return nil, errors.New("the views are not on screen")
		}
		cp := sliceview.New(v.Plane())
		cp.SetScene(u.scene)
		cp.Resize(sz)
		cp.Move(fyne.NewPos(x, 0))
		cp.MatchView(v)
		copies = append(copies, cp)
		x += sz.Width + gap
		h = max(h, sz.Height)
	}
	defer func() {
		for _, cp := range copies {
			cp.(*sliceview.SliceView).SetScene(nil) // stop following the scene
		}
	}()
	bg := canvas.NewRectangle(color.Black)
	bg.Resize(fyne.NewSize(x-gap, h))
	c.SetContent(container.NewWithoutLayout(append([]fyne.CanvasObject{bg}, copies...)...))
	c.Resize(fyne.NewSize(x-gap, h))
	shot := c.Capture()
	out := image.NewRGBA(shot.Bounds())
	draw.Draw(out, out.Rect, shot, shot.Bounds().Min, draw.Src)
	return out, nil
}

// reportModel is one model's row of the report.
type reportModel struct {
	Name, Role, SHA256, Region string
	// Edge says whether the outline was refined from the scan.
	Edge                    string
	Params                  int64
	Threshold               float64
	VolumeML                float64
	Preprocess, Infer, Post float64 // ms
	Total                   float64 // ms
	// Against the reference (HasRef).
	HasRef                bool
	Dice, IoU, HD95, ASSD float64
	SurfaceOK             bool
	VolDiffPct            float64
}

// reportData is what the HTML template shows.
type reportData struct {
	Title                                       string
	Patient, PatientID, StudyDate, StudyDesc    string
	StudyUID, SeriesDesc, SeriesUID, Modality   string
	FrameOfRef, Source, Grid                    string
	Warnings                                    []string
	Assumed                                     []string     // volume.Info.Assumed: the volumes rest on it
	Image                                       template.URL // data: URI of the PNG
	PNGName                                     string
	ViewW, ViewH                                int
	Models                                      []reportModel
	RefName                                     string
	RefML                                       float64
	HasRef                                      bool
	Software, Runtime, ModelsDir, Threads, Date string
	GoVersion                                   string
	Plan                                        *planReport
}

// reportInput is what the report needs from the UI, taken on the Fyne
// goroutine; the rest (masks, volumes, metrics) is computed in the
// background.
type reportInput struct {
	vol       *volume.Volume
	disp      volume.Geometry
	sources   []maskSource
	ref       *volume.Mask
	refName   string
	img       *image.RGBA
	modelsDir string
	threads   int
	plan      *planReport // the resection plan (plan_io.go), nil without one
}

// ShowReport captures the views at once (before any dialog covers them)
// and asks where to save the report. Must run on the Fyne goroutine.
func (u *UI) ShowReport() {
	if u.stillLoading() {
		return
	}
	if u.vol == nil {
		dialog.NewInformation("Save report", "Open a study first: there is nothing to report yet.", u.win).Show()
		return
	}
	img, err := u.CaptureViews()
	if err != nil {
		u.reportFailed("the report", err)
		return
	}
	in := u.reportInput(img)
	r := &u.rep
	r.folder = widget.NewEntry()
	r.folder.SetText(u.defaultExportFolder())
	r.name = widget.NewEntry()
	r.name.SetText(u.defaultReportName())
	choose := widget.NewButton("Choose…", func() { u.chooseFolderInto(r.folder) })
	note := widget.NewLabel("Writes NAME.html (a self-contained summary with the picture embedded) and NAME.png (the three views as shown now).")
	note.Wrapping = fyne.TextWrapWord
	r.saveBtn = widget.NewButton("Save", nil)
	cancel := widget.NewButton("Cancel", nil)
	form := widget.NewForm(
		widget.NewFormItem("Folder", container.NewBorder(nil, nil, nil, choose, r.folder)),
		widget.NewFormItem("Name", r.name),
	)
	d := u.formDialog("Save report", form, note, cancel, r.saveBtn, fyne.NewSize(720, 230), func() { r.dlg = nil })
	r.dlg = d
	r.saveBtn.OnTapped = func() {
		folder := strings.TrimSpace(r.folder.Text)
		name := strings.TrimSpace(r.name.Text)
		name = strings.TrimSuffix(strings.TrimSuffix(name, ".html"), ".png")
		if err := checkTarget(folder, name); err != nil {
			u.reportFailed(filepath.Join(folder, name+".html"), err)
			return
		}
		d.Hide()
		r.dlg = nil
		u.SaveReport(in, filepath.Join(folder, name+".html"))
	}
	d.Show()
}

// reportInput gathers what the report shows from the UI.
func (u *UI) reportInput(img *image.RGBA) reportInput {
	in := reportInput{vol: u.vol, disp: u.scene.Slicer().Volume().Geometry, img: img, threads: u.threads(), plan: u.plan.reportSection()}
	for _, src := range u.exportSources() {
		if src.ref == nil { // the reference has its own section
			in.sources = append(in.sources, src)
		}
	}
	if u.seg.ref != nil {
		in.ref, in.refName = u.seg.ref, u.seg.refName
	}
	if u.seg.reg != nil {
		in.modelsDir = u.seg.reg.Dir()
	}
	return in
}

// defaultReportName is "<patient>_liverseg_report_<date>".
func (u *UI) defaultReportName() string {
	return u.studyTag() + "_liverseg_report_" + time.Now().Format("20060102-1504")
}

// SaveReport writes the report to htmlPath and the views' PNG beside it
// (same name, .png), asking before it replaces either. Must run on the
// Fyne goroutine.
func (u *UI) SaveReport(in reportInput, htmlPath string) {
	pngPath := strings.TrimSuffix(htmlPath, filepath.Ext(htmlPath)) + ".png"
	var existing []string
	for _, p := range []string{htmlPath, pngPath} {
		if _, err := os.Lstat(p); err == nil {
			existing = append(existing, p)
		}
	}
	if len(existing) > 0 {
		u.confirmReplace(strings.Join(existing, "\nand "), func(ok bool) {
			if !ok {
				u.setStatus("Report not saved: " + strings.Join(existing, " and ") + " kept as they were.")
				if u.rep.onDone != nil {
					u.rep.onDone(htmlPath, errDeclined)
				}
				return
			}
			u.writeReport(in, htmlPath, pngPath, true)
		})
		return
	}
	u.writeReport(in, htmlPath, pngPath, false)
}

func (u *UI) writeReport(in reportInput, htmlPath, pngPath string, overwrite bool) {
	ctx, cancel := context.WithCancel(context.Background())
	done := u.startProgress("Saving report", "Computing volumes and agreement, writing "+htmlPath+"…", cancel)
	// The write has its own context: Cancel stops it, and the report
	// still reports (as cancelled).
	task.Go(u.do, func(*task.Task) (struct{}, error) {
		defer cancel()
		return struct{}{}, func() error {
			var pngBuf bytes.Buffer
			if err := png.Encode(&pngBuf, in.img); err != nil {
				return fmt.Errorf("encode the picture: %w", err)
			}
			data, err := buildReport(ctx, in, pngBuf.Bytes(), filepath.Base(pngPath))
			if err != nil {
				return err
			}
			var htmlBuf bytes.Buffer
			if err := reportTemplate.Execute(&htmlBuf, data); err != nil {
				return fmt.Errorf("render the HTML: %w", err)
			}
			if err := ctx.Err(); err != nil {
				return err
			}
			return writeReportFiles(ctx, pngPath, pngBuf.Bytes(), htmlPath, htmlBuf.Bytes(), overwrite)
		}()
	}, func(_ struct{}, err error) {
		done()
		switch {
		case errors.Is(err, context.Canceled):
			u.setStatus("Report cancelled: nothing was written.")
		case err != nil:
			u.reportFailed(htmlPath, err)
		default:
			u.prefs().SetString(prefExportDir, filepath.Dir(htmlPath))
			u.setStatus("Report saved: " + shortPath(htmlPath, statusPathChars) + " and " + filepath.Base(pngPath) + ".")
		}
		if u.rep.onDone != nil {
			u.rep.onDone(htmlPath, err)
		}
	})
}

func (u *UI) reportFailed(path string, err error) {
	e := fmt.Errorf("Could not save %s:\n%w", path, err)
	u.rep.lastErr = e
	u.setStatus("Error: " + strings.ReplaceAll(e.Error(), "\n", " "))
	dialog.NewError(e, u.win).Show()
}

// buildReport computes each model's full-resolution mask, volume and
// agreement with the reference, and fills the template's data.
func buildReport(ctx context.Context, in reportInput, pngData []byte, pngName string) (*reportData, error) {
	v, info := in.vol, in.vol.Info
	date := info.StudyDate
	if len(date) == 8 {
		date = date[:4] + "-" + date[4:6] + "-" + date[6:]
	}
	threads := "automatic (all cores)"
	if in.threads > 0 {
		threads = fmt.Sprint(in.threads)
	}
	b := in.img.Bounds()
	d := &reportData{
		Title:   strings.Join(nonEmpty(info.PatientName, info.PatientID, info.SeriesDescription), " — "),
		Patient: info.PatientName, PatientID: info.PatientID, StudyDate: date, StudyDesc: info.StudyDescription,
		StudyUID: info.StudyInstanceUID, SeriesDesc: info.SeriesDescription, SeriesUID: info.SeriesInstanceUID,
		Modality: info.Modality, FrameOfRef: info.FrameOfReference, Source: info.Source,
		Grid: fmt.Sprintf("%d × %d × %d voxels, %.3g × %.3g × %.3g mm", v.Size[0], v.Size[1], v.Size[2],
			v.Spacing[0], v.Spacing[1], v.Spacing[2]),
		Warnings:  info.Warnings,
		Assumed:   info.Assumed,
		Image:     template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(pngData)),
		PNGName:   pngName,
		ViewW:     b.Dx(),
		ViewH:     b.Dy(),
		Software:  "LiverSeg " + SoftwareVersion(),
		Runtime:   inference.RuntimeInfo(),
		ModelsDir: in.modelsDir,
		Threads:   threads,
		Date:      time.Now().UTC().Format("2006-01-02 15:04:05 UTC"),
		GoVersion: runtime.Version(),
		Plan:      in.plan,
	}
	if d.Title == "" {
		d.Title = "study"
	}
	if in.ref != nil {
		d.HasRef, d.RefName, d.RefML = true, in.refName, in.ref.VolumeML()
	}
	msOf := func(t time.Duration) float64 { return float64(t.Microseconds()) / 1000 }
	for _, src := range in.sources {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		t0 := time.Now()
		m, err := src.build(v)
		if err != nil {
			return nil, fmt.Errorf("mask of %s: %w", src.Model, err)
		}
		t := src.times
		if src.mask == nil {
			// No mask at this threshold yet: the report's own build is this
			// model's postprocessing.
			post := time.Since(t0)
			t.Total += post - t.Postprocess
			t.Postprocess = post
		}
		row := reportModel{
			Name: src.Model, Threshold: src.post.Threshold, VolumeML: m.VolumeML(),
			Preprocess: msOf(t.Preprocess), Infer: msOf(t.Infer), Post: msOf(t.Postprocess), Total: msOf(t.Total),
			Region: "whole volume", Edge: "network's outline",
		}
		if src.post.Edge != nil {
			row.Edge = inference.EdgeTag
			if e := src.res.Edge; e.Applied && src.mask != nil {
				row.Edge = fmt.Sprintf("%s (liver %.0f ± %.0f HU)", inference.EdgeTag, e.LiverHU, e.SpreadHU)
			}
		}
		if src.edited != nil {
			// An edited mask: no network, no threshold; say what it is.
			row.Name, row.Role, row.Region = src.Label, "edited by hand", src.editNote
		} else if src.res.ROI != (inference.Box{Max: v.CanonicalGeometry().Size}) {
			bx := src.res.ROI
			row.Region = fmt.Sprintf("box %d–%d, %d–%d, %d–%d (canonical voxels)", bx.Min[0], bx.Max[0], bx.Min[1], bx.Max[1], bx.Min[2], bx.Max[2])
		}
		if c := src.card; c != nil {
			row.Role, row.SHA256, row.Params = c.Role, c.SHA256, c.Params
		}
		if in.ref != nil {
			r, err := metrics.Compare(m.Canonical(), in.ref)
			if err != nil {
				return nil, fmt.Errorf("compare %s with the reference: %w", src.Model, err)
			}
			row.HasRef = true
			row.Dice, row.IoU, row.HD95, row.ASSD, row.SurfaceOK = r.Dice, r.IoU, r.HD95MM, r.ASSDMM, r.SurfaceOK
			if r.RefVolumeML > 0 {
				row.VolDiffPct = 100 * (r.VolumeML - r.RefVolumeML) / r.RefVolumeML
			}
		}
		d.Models = append(d.Models, row)
	}
	return d, nil
}

var reportTemplate = template.Must(template.New("report").Funcs(template.FuncMap{
	"f1": func(x float64) string { return fmt.Sprintf("%.1f", x) },
	"f2": func(x float64) string { return fmt.Sprintf("%.2f", x) },
	"f3": func(x float64) string { return fmt.Sprintf("%.3f", x) },
	"short": func(s string) string {
		if len(s) > 12 {
			return s[:12]
		}
		return s
	},
	"group": groupThousands,
	"dash": func(s string) string {
		if strings.TrimSpace(s) == "" {
			return "–"
		}
		return s
	},
}).Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>LiverSeg report — {{.Title}}</title>
<style>
body { font-family: sans-serif; margin: 2em; color: #222; max-width: 1200px; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; }
th, td { border: 1px solid #bbb; padding: 0.3em 0.6em; text-align: left; vertical-align: top; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
th { background: #eee; }
img { max-width: 100%; border: 1px solid #888; }
.note { color: #a33; }
code { font-size: 0.9em; }
</style>
</head>
<body>
<h1>Liver segmentation report</h1>
<p class="note">Research software, not a medical device: not for diagnosis.</p>

<h2>Study</h2>
<table id="study">
<tr><th>Patient name</th><td>{{dash .Patient}}</td></tr>
<tr><th>Patient ID</th><td>{{dash .PatientID}}</td></tr>
<tr><th>Study date</th><td>{{dash .StudyDate}}</td></tr>
<tr><th>Study description</th><td>{{dash .StudyDesc}}</td></tr>
<tr><th>Study Instance UID</th><td><code>{{dash .StudyUID}}</code></td></tr>
<tr><th>Series description</th><td>{{dash .SeriesDesc}}</td></tr>
<tr><th>Series Instance UID</th><td><code>{{dash .SeriesUID}}</code></td></tr>
<tr><th>Modality</th><td>{{dash .Modality}}</td></tr>
<tr><th>Frame of reference</th><td><code>{{dash .FrameOfRef}}</code></td></tr>
<tr><th>Grid</th><td>{{.Grid}}</td></tr>
<tr><th>Read from</th><td><code>{{.Source}}</code></td></tr>
{{range .Warnings}}<tr><th>Warning</th><td>{{.}}</td></tr>
{{end}}</table>

<h2>Views</h2>
<p><img src="{{.Image}}" width="{{.ViewW}}" height="{{.ViewH}}" alt="Axial, coronal and sagittal views as shown in LiverSeg"></p>
<p>Axial, coronal and sagittal views as shown when the report was made (also saved as <a href="{{.PNGName}}">{{.PNGName}}</a>).</p>

<h2>Segmentations</h2>
{{range .Assumed}}<p class="note" id="assumed">Volumes below are on ASSUMED GEOMETRY: {{.}}.</p>
{{end}}{{if .Models}}<table id="models">
<tr><th>Model</th><th>Role</th><th>Parameters</th><th>SHA-256 (model file)</th><th>Threshold</th><th>Edge</th><th>Region</th><th>Liver volume (mL)</th><th>Preprocess (ms)</th><th>Network (ms)</th><th>Postprocess (ms)</th><th>Total (ms)</th></tr>
{{range .Models}}<tr><td>{{.Name}}</td><td>{{dash .Role}}</td><td class="n">{{group .Params}}</td><td><code title="{{.SHA256}}">{{short .SHA256}}</code></td><td class="n">{{f2 .Threshold}}</td><td>{{dash .Edge}}</td><td>{{.Region}}</td><td class="n">{{f1 .VolumeML}}</td><td class="n">{{f1 .Preprocess}}</td><td class="n">{{f1 .Infer}}</td><td class="n">{{f1 .Post}}</td><td class="n">{{f1 .Total}}</td></tr>
{{end}}</table>
<p>Timings are those of each model's run in this session (the window draws the overlay from the network's probability map at once; postprocessing is the building of the full-resolution mask at the threshold shown, which follows in the background and is included in the total); the volume is that of the full-resolution mask at the threshold shown.</p>
{{else}}<p>No model was run on this study.</p>
{{end}}
{{if .HasRef}}<h2>Agreement with the reference</h2>
<p>Reference <code>{{.RefName}}</code>: {{f1 .RefML}} mL.</p>
{{if .Models}}<table id="agreement">
<tr><th>Model</th><th>Dice</th><th>IoU</th><th>HD95 (mm)</th><th>ASSD (mm)</th><th>Volume difference</th></tr>
{{range .Models}}<tr><td>{{.Name}}</td><td class="n">{{f3 .Dice}}</td><td class="n">{{f3 .IoU}}</td>{{if .SurfaceOK}}<td class="n">{{f1 .HD95}}</td><td class="n">{{f2 .ASSD}}</td>{{else}}<td>–</td><td>–</td>{{end}}<td class="n">{{f1 .VolDiffPct}} %</td></tr>
{{end}}</table>{{end}}
{{end}}
{{with .Plan}}<h2>Resection plan</h2>
<p><img src="{{.Image}}" width="640" height="480" alt="3D view of the liver with the resection plan"></p>
<p>3D view: remnant in the liver colour, resected part blue, cutting surfaces white; patient LPS millimetres, each cut's normal pointing into the resected part.</p>
<ul>{{range .Cuts}}<li>{{.}}</li>
{{end}}</ul>
<pre>{{range .Lines}}{{.}}
{{end}}</pre>
<p>Formulas: {{range $i, $f := .Formulas}}{{if $i}}; {{end}}{{$f}}{{end}}.</p>
{{end}}
<h2>Software</h2>
<table id="software">
<tr><th>LiverSeg</th><td>{{.Software}}</td></tr>
<tr><th>Inference</th><td>{{.Runtime}}, threads: {{.Threads}}</td></tr>
<tr><th>Models folder</th><td><code>{{dash .ModelsDir}}</code></td></tr>
<tr><th>Go</th><td>{{.GoVersion}}</td></tr>
<tr><th>Report made</th><td>{{.Date}}</td></tr>
</table>
</body>
</html>
`))

// writeReportFiles writes the picture, then the page that shows it, each
// through atomicfile (a temporary sibling, synced, then put in place), so
// neither is ever seen half-written and the page never points at a
// picture not yet there. When overwrite is false both must be new (a file
// that appeared meanwhile makes it fail); a picture placed for a page that
// then failed is removed again, so a failure adds no file. (When
// replacing, a failure of the page's write leaves the old page beside the
// new picture.)
func writeReportFiles(ctx context.Context, pngPath string, pngData []byte, htmlPath string, htmlData []byte, overwrite bool) error {
	o := atomicfile.Options{NoOverwrite: !overwrite, Context: ctx}
	put := func(path string, data []byte) error {
		return atomicfile.Write(path, o, func(w io.Writer) error {
			_, err := w.Write(data)
			return err
		})
	}
	if err := put(pngPath, pngData); err != nil {
		return err
	}
	if err := put(htmlPath, htmlData); err != nil {
		if !overwrite {
			os.Remove(pngPath) // created a moment ago by this write
		}
		return err
	}
	return nil
}
