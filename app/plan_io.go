package app

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"image"
	"image/png"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/dialog"

	"github.com/liverseg/liverseg/dicomio/dicomseg"
	"github.com/liverseg/liverseg/internal/buildinfo"
	"github.com/liverseg/liverseg/internal/task"
	"github.com/liverseg/liverseg/render3d"
	"github.com/liverseg/liverseg/resection"
	"github.com/liverseg/liverseg/surface"
	"github.com/liverseg/liverseg/volume"
)

// chooseLesion asks for a lesion mask (NIfTI, DICOM SEG or a mask series
// of this CT, as for the reference).
func (p *planUI) chooseLesion() {
	if p.u.vol == nil {
		return
	}
	p.openFile(filepath.Dir(inputFolder(p.u.vol)), p.LoadLesion)
}

// openFile asks for a file to read, starting in dir, and passes its path
// to fn.
func (p *planUI) openFile(dir string, fn func(path string)) {
	d := dialog.NewFileOpen(func(r fyne.URIReadCloser, err error) {
		if err != nil || r == nil {
			return
		}
		path := r.URI().Path()
		r.Close()
		fn(path)
	}, p.u.win)
	startAt(d, dir)
	d.Resize(fyne.NewSize(900, 600))
	d.Show()
}

// LoadLesion reads a lesion mask in the background and adds it to the plan.
func (p *planUI) LoadLesion(path string) {
	vol := p.u.vol
	disp := p.u.scene.Slicer().Volume().Geometry
	p.lesionLabel.SetText("Reading " + filepath.Base(path) + "…")
	task.Start(&p.lesionRead, p.u.do, func(*task.Task) (*volume.Mask, error) {
		m, _, err := readReference(path, vol, disp)
		return m, err
	}, func(m *volume.Mask, err error) {
		if vol != p.u.vol {
			return
		}
		if err != nil {
			err = fmt.Errorf("lesion mask %s: %w", path, err)
			p.lesionLabel.SetText("No lesion: " + err.Error())
			dialog.NewError(err, p.u.win).Show()
			return
		}
		p.setLesion(m, filepath.Base(path))
	})
}

// setLesion uses m (canonical, display grid) as the lesion: the volumetry
// excludes it and measures the margin to it.
func (p *planUI) setLesion(m *volume.Mask, name string) {
	p.lesion, p.lesionName = m, name
	p.lesionLabel.SetText(fmt.Sprintf("Lesion %s: %.1f mL (yellow).", name, m.VolumeML()))
	if p.liverCanon == nil {
		return
	}
	l, err := resection.NewLiver(p.liverCanon, m)
	if err != nil {
		p.lesionLabel.SetText("Lesion " + name + ": " + err.Error())
		return
	}
	p.liver = l
	if mesh, err := surface.Extract(m, surface.Options{Smooth: -1}); err == nil {
		p.lesionMesh, p.lesionN = mesh, mesh.Normals()
	}
	p.changed()
}

// planFile describes the current plan for saving.
func (p *planUI) planFile() resection.File {
	sum := ""
	if p.liverCanon != nil {
		sum = resection.MaskChecksum(p.liverCanon)
	}
	f := resection.NewFile(p.plan, p.u.vol.Info, sum)
	f.MaskSource = p.source
	f.MinFLRPercent = p.minFLR()
	if m, err := strconv.ParseFloat(strings.TrimSpace(p.minMargin.Text), 64); err == nil {
		f.MinMarginMM = m
	}
	f.HeightCM, _ = strconv.ParseFloat(strings.TrimSpace(p.height.Text), 64)
	f.WeightKG, _ = strconv.ParseFloat(strings.TrimSpace(p.weight.Text), 64)
	return f
}

func (p *planUI) chooseSave() {
	if p.u.vol == nil || len(p.plan.Cuts) == 0 {
		dialog.NewInformation("Save plan", "There is no cut to save: add a plane first.", p.u.win).Show()
		return
	}
	d := dialog.NewFileSave(func(w fyne.URIWriteCloser, err error) {
		if err != nil || w == nil {
			return
		}
		path := w.URI().Path()
		w.Close()
		os.Remove(path) // the dialog created it empty; the atomic write replaces it
		p.SavePlan(path)
	}, p.u.win)
	d.SetFileName(p.u.studyTag() + "_plan.json")
	startAt(d, p.u.defaultExportFolder())
	d.Resize(fyne.NewSize(900, 600))
	d.Show()
}

// SavePlan writes the plan JSON to path (replacing it: the save dialog has
// asked).
func (p *planUI) SavePlan(path string) error {
	err := p.planFile().Save(path, true)
	if err != nil {
		p.u.setStatus("Error: " + err.Error())
		dialog.NewError(err, p.u.win).Show()
		return err
	}
	p.u.setStatus("Plan saved to " + path)
	return nil
}

func (p *planUI) chooseLoad() {
	if p.u.vol == nil {
		return
	}
	p.openFile(p.u.defaultExportFolder(), func(path string) { p.LoadPlan(path) })
}

// LoadPlan reads a plan, checks it belongs to this study and shows it.
func (p *planUI) LoadPlan(path string) error {
	f, pl, err := resection.Load(path)
	if err == nil {
		sum := ""
		if p.liverCanon != nil {
			sum = resection.MaskChecksum(p.liverCanon)
		}
		var warns []string
		if warns, err = f.CheckStudy(p.u.vol.Info, sum); err == nil {
			if len(warns) > 0 {
				dialog.NewInformation("Plan loaded with warnings", strings.Join(warns, "\n"), p.u.win).Show()
			}
		} else {
			err = fmt.Errorf("plan %s: %w", path, err)
		}
	}
	if err != nil {
		p.u.setStatus("Error: " + err.Error())
		dialog.NewError(err, p.u.win).Show()
		return err
	}
	p.plan, p.sel = pl, 0
	if f.HeightCM > 0 && f.WeightKG > 0 {
		p.height.SetText(strconv.FormatFloat(f.HeightCM, 'f', -1, 64))
		p.weight.SetText(strconv.FormatFloat(f.WeightKG, 'f', -1, 64))
	}
	if f.MinMarginMM > 0 {
		p.minMargin.SetText(strconv.FormatFloat(f.MinMarginMM, 'f', -1, 64))
	}
	for i, t := range resection.Thresholds {
		if t.Percent == f.MinFLRPercent {
			p.minSel.SetSelectedIndex(i)
		}
	}
	p.showCut()
	p.changed()
	p.u.setStatus("Plan loaded from " + path)
	return nil
}

func (p *planUI) chooseExport() {
	if p.liver == nil || len(p.plan.Cuts) == 0 {
		dialog.NewInformation("Export parts", "There is no plan to export: add a cut on a liver surface first.", p.u.win).Show()
		return
	}
	d := dialog.NewFolderOpen(func(l fyne.ListableURI, err error) {
		if err == nil && l != nil {
			p.ExportParts(l.Path())
		}
	}, p.u.win)
	startAt(d, p.u.defaultExportFolder())
	d.Resize(fyne.NewSize(900, 600))
	d.Show()
}

// ExportParts writes the remnant and the resected part into dir, in the
// background: <tag>_remnant.stl and _resected.stl (closed surfaces, LPS
// mm) and, for a DICOM study, _remnant_seg.dcm and _resected_seg.dcm
// (DICOM SEG, one segment each). Existing files are never replaced; the
// study's own folder is refused. done, when not nil, gets the outcome on
// the Fyne goroutine.
func (p *planUI) ExportParts(dir string) {
	p.exportParts(dir, nil)
}

func (p *planUI) exportParts(dir string, done func([]string, error)) {
	vol, liver, plan := p.u.vol, p.liver, clonePlan(p.plan)
	if in := inputFolder(vol); within(dir, in) {
		err := fmt.Errorf("%s is inside the study's own folder %s: choose another folder (LiverSeg never writes into its input)", dir, in)
		dialog.NewError(err, p.u.win).Show()
		if done != nil {
			done(nil, err)
		}
		return
	}
	tag := p.u.studyTag()
	p.u.setStatus("Exporting the plan's parts…")
	task.Go(p.u.do, func(*task.Task) ([]string, error) {
		var wrote []string
		err := func() error {
			res, rem, err := liver.Masks(plan)
			if err != nil {
				return err
			}
			parts := []struct {
				name string
				m    *volume.Mask
			}{{"remnant", rem}, {"resected", res}}
			for _, part := range parts {
				if part.m.Count() == 0 {
					continue
				}
				mesh, err := surface.Extract(part.m, surface.Options{Smooth: -1})
				if err != nil {
					return fmt.Errorf("%s: %w", part.name, err)
				}
				path := filepath.Join(dir, tag+"_"+part.name+".stl")
				if err := surface.Write(path, mesh, surface.WriteOptions{Name: "liver " + part.name + " (resection plan)"}); err != nil {
					return err
				}
				wrote = append(wrote, path)
				if vol.Info.StudyInstanceUID == "" || vol.Info.FrameOfReference == "" {
					continue // not a DICOM study: no SEG
				}
				onCT, err := volume.MaskFromCanonical(part.m, vol.Geometry)
				if err != nil {
					return err
				}
				path = filepath.Join(dir, tag+"_"+part.name+"_seg.dcm")
				if err := dicomseg.WriteSEG(path, vol, onCT, dicomseg.SEGOptions{
					AlgorithmName:      "LiverSeg resection plan",
					SoftwareVersions:   buildinfo.Software(),
					SegmentLabel:       "Liver " + part.name,
					ContentLabel:       strings.ToUpper(part.name),
					ContentDescription: "Liver " + part.name + " of a resection plan",
					SeriesDescription:  "Liver " + part.name + " (LiverSeg resection plan)",
				}); err != nil {
					return err
				}
				wrote = append(wrote, path)
			}
			return nil
		}()
		return wrote, err
	}, func(wrote []string, err error) {
		if err != nil {
			if errors.Is(err, fs.ErrExist) {
				err = fmt.Errorf("%w (nothing was replaced)", err)
			}
			p.u.setStatus("Error: " + err.Error())
			dialog.NewError(err, p.u.win).Show()
		} else {
			p.u.setStatus("Exported " + strings.Join(wrote, ", "))
		}
		if done != nil {
			done(wrote, err)
		}
	})
}

// planReport is the plan's section of the saved report, nil without a
// plan: a 3D picture, the figures and the formulas.
type planReport struct {
	Image    template.URL // data: URI of the 3D picture
	Lines    []string
	Cuts     []string
	Formulas []string
}

// reportSection renders the 3D view at report size and collects the
// figures. Must run on the Fyne goroutine.
func (p *planUI) reportSection() *planReport {
	if p.vols == nil || p.mesh == nil {
		return nil
	}
	img := image.NewRGBA(image.Rect(0, 0, 640, 480))
	cam := p.view.cam
	if !p.view.camOK || p.view.w == 0 {
		lo, hi := p.mesh.Bounds()
		cam.SetView(render3d.Anterior)
		cam.Fit(lo, hi, 640, 480)
	} else {
		cam.Scale *= float64(480) / float64(min(p.view.w, p.view.h))
	}
	var rd render3d.Renderer
	layers, markers := p.scene3D(false)
	rd.Render(img, cam, bg3D, layers, markers)
	var buf bytes.Buffer
	png.Encode(&buf, img)
	r := &planReport{Image: template.URL("data:image/png;base64," + base64Std(buf.Bytes())), Lines: p.resultLines(),
		Formulas: []string{resection.BSAFormula, resection.SLVFormula, "FLR % = remnant / (total liver − lesion) × 100 (CT volumetry)"}}
	for i, c := range p.plan.Cuts {
		kind := "plane"
		if !c.Flat() {
			kind = "bent surface (bicubic Bézier) on the plane"
		}
		r.Cuts = append(r.Cuts, fmt.Sprintf("Cut %d: %s through (%.1f, %.1f, %.1f) mm, normal (%.3f, %.3f, %.3f) LPS, pointing into the resected part", i+1, kind,
			c.Origin[0], c.Origin[1], c.Origin[2], c.Normal[0], c.Normal[1], c.Normal[2]))
	}
	return r
}

func base64Std(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
