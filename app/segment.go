package app

import (
	"context"
	"errors"
	"fmt"
	"image/color"
	"math"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/widget"

	"github.com/liverseg/liverseg/comparison"
	"github.com/liverseg/liverseg/inference"
	"github.com/liverseg/liverseg/internal/task"
	"github.com/liverseg/liverseg/metrics"
	"github.com/liverseg/liverseg/viewer"
	"github.com/liverseg/liverseg/viewer/sliceview"
	"github.com/liverseg/liverseg/volume"
)

// AutoModel is the model run automatically when a study is opened: the
// distilled student, fast enough to segment before the reader has found
// the liver.
const AutoModel = "student"

// Colours offered for overlays, in menu order.
var overlayColors = []struct {
	Name string
	C    color.NRGBA
}{
	{"Red", color.NRGBA{R: 255, G: 60, B: 50, A: 255}},
	{"Orange", color.NRGBA{R: 255, G: 150, B: 0, A: 255}},
	{"Yellow", color.NRGBA{R: 255, G: 230, B: 0, A: 255}},
	{"Green", color.NRGBA{R: 40, G: 220, B: 80, A: 255}},
	{"Cyan", color.NRGBA{R: 0, G: 210, B: 255, A: 255}},
	{"Blue", color.NRGBA{R: 60, G: 110, B: 255, A: 255}},
	{"Magenta", color.NRGBA{R: 255, G: 60, B: 220, A: 255}},
}

func colorByName(name string) color.NRGBA {
	for _, c := range overlayColors {
		if c.Name == name {
			return c.C
		}
	}
	return overlayColors[0].C
}

// segController is the segmentation side of the window: the models, the
// run in progress, the result shown and its overlay controls.
type segController struct {
	u *UI

	reg    *inference.Registry
	regErr error
	// runner runs the models (segmentation and comparison): reg, or in
	// tests a wrapper of it that counts the runs.
	runner modelRunner
	// checked is closed when the start-up check of the registry's
	// automatic model (load, then a warm-up run) has finished; the error
	// it reports is posted through u.do before. Tests wait on it (and run
	// what was posted) so that a late report cannot land in the middle of
	// what they check.
	checked chan struct{}

	// Controls.
	panel     *fyne.Container // all of them
	model     *widget.Select
	cardInfo  *widget.Label
	runBtn    *widget.Button
	cancelBtn *widget.Button
	bar       *busyBar
	stage     *widget.Label
	result    *widget.Label
	errText   *widget.Label
	thr       *widget.Slider
	thrLabel  *widget.Label
	show      *widget.Check
	// edge: refine the outline from the scan's own HU (inference.RefineEdge).
	edge     *widget.Check
	fill     *widget.Check
	outline  *widget.Check
	opacity  *widget.Slider
	color    *widget.Select
	boxMode  *widget.Check
	clearBox *widget.Button
	boxLabel *widget.Label
	refBtn   *widget.Button
	refShow  *widget.Check
	refFill  *widget.Check // off by default: an outline keeps the model's fill readable
	refColor *widget.Select
	refLabel *widget.Label
	// diceStatus is the Dice with the reference in the status bar, where
	// it stays in view whatever the panel or the status line show.
	diceStatus *widget.Label
	settingThr bool

	// The run in progress: a newer run or Cancel supersedes it, and its
	// late result is dropped.
	run     task.Slot
	running string    // model name, "" when idle
	check   task.Slot // the start-up check of the automatic model

	// What is shown.
	res *inference.Result
	ovl *viewer.ProbOverlay
	// maskOvl is the full-resolution mask with its edge refined from the
	// scan, shown instead of ovl once the background worker has built it
	// for the current threshold (nil while dragging, or without the
	// refinement: ovl, the map's own contour, is then what the mask is).
	maskOvl  *viewer.MaskOverlay
	box      *inference.Box // canonical ROI, nil for the whole volume
	boxOvl   *viewer.BoxOverlay
	ref      *volume.Mask // canonical, on the displayed grid
	refOvl   *viewer.MaskOverlay
	refName  string
	shownAt  time.Time // when the volume was shown, for "loaded → overlay"
	firstRun bool      // the next result is the automatic one after opening

	// Background mask and volume updates, latest threshold winning.
	post    chan postJob
	postGen atomic.Int64
	worker  task.Slot

	// Test hooks, called on the Fyne goroutine.
	onRunDone  func(err error)
	onPostDone func()
	onRefDone  func(err error)
	lastErr    error
}

// modelRunner is what runs a model on a volume: the registry's Lookup
// and Run, as comparison.Set.Run needs them too.
type modelRunner = comparison.Runner

// postJob is a threshold whose volume and full-resolution mask are to be
// computed in the background.
type postJob struct {
	gen  int64
	res  *inference.Result
	ovl  *viewer.ProbOverlay
	post inference.PostOptions
	keep []uint8
	ref  *volume.Mask
	vol  *volume.Volume // the study the result was computed on
	// delay: wait for the threshold to rest before the full mask (a
	// slider step); a new result's mask starts at once.
	delay bool
}

// barDelay is how long a run goes before its progress bar shows.
const barDelay = 400 * time.Millisecond

// maskDelay is how long a threshold must rest before the full-resolution
// mask is rebuilt for it.
const maskDelay = 250 * time.Millisecond

// newSegController builds the segmentation controls (s.panel, which the
// window places) and wires them to the controller.
func newSegController(u *UI) *segController {
	s := &segController{u: u}
	s.cardInfo = widget.NewLabel("")
	s.cardInfo.Wrapping = fyne.TextWrapWord
	s.model = widget.NewSelect(nil, func(name string) { s.showCard(name) })
	s.model.PlaceHolder = "Model"
	s.runBtn = widget.NewButton("Run", func() { s.RunModel(s.model.Selected) })
	s.runBtn.Importance = widget.HighImportance
	s.cancelBtn = widget.NewButton("Cancel", s.CancelSegmentation)
	s.cancelBtn.Disable()
	s.bar = newBusyBar()
	s.stage = widget.NewLabel("")
	s.stage.Hide()
	s.result = widget.NewLabel("No segmentation yet.")
	s.result.Wrapping = fyne.TextWrapWord
	s.errText = widget.NewLabel("")
	s.errText.Wrapping = fyne.TextWrapWord
	s.errText.Importance = widget.DangerImportance
	s.errText.Hide()

	s.thr = widget.NewSlider(0.01, 0.99)
	s.thr.Step = 0.01
	s.thr.Value = 0.5
	s.thr.OnChanged = func(v float64) {
		if !s.settingThr {
			s.SetThreshold(v)
		}
	}
	s.thrLabel = widget.NewLabel("0.50")
	s.thrLabel.TextStyle.Monospace = true

	s.show = widget.NewCheck("Show", func(bool) { u.updateOverlays() })
	s.show.Checked = true
	s.edge = widget.NewCheck("Edge from scan", func(bool) { s.edgeChanged() })
	s.edge.Checked = true
	s.fill = widget.NewCheck("Fill", func(bool) { s.applyStyle() })
	s.fill.Checked = true
	s.outline = widget.NewCheck("Outline", func(bool) { s.applyStyle() })
	s.outline.Checked = true
	s.opacity = widget.NewSlider(0, 1)
	s.opacity.Step = 0.05
	s.opacity.Value = 0.35
	s.opacity.OnChanged = func(float64) { s.applyStyle() }
	names := make([]string, len(overlayColors))
	for i, c := range overlayColors {
		names[i] = c.Name
	}
	s.color = widget.NewSelect(names, func(string) { s.applyStyle() })
	s.color.Selected = "Red"

	s.boxMode = widget.NewCheck("Box: drag on a view", func(on bool) {
		for _, v := range u.views {
			v.BoxMode = on
		}
	})
	s.clearBox = widget.NewButton("Whole volume", s.ClearBox)
	s.clearBox.Disable()
	s.boxLabel = widget.NewLabel("")
	s.boxLabel.Wrapping = fyne.TextWrapWord
	s.boxLabel.Hide()

	s.refBtn = widget.NewButton("Reference mask…", u.chooseReference)
	s.refShow = widget.NewCheck("Show", func(bool) { u.updateOverlays() })
	s.refShow.Checked = true
	s.refFill = widget.NewCheck("Fill", func(bool) { s.applyStyle() })
	s.refColor = widget.NewSelect(names, func(string) { s.applyStyle() })
	s.refColor.Selected = "Green"
	s.refLabel = widget.NewLabel("")
	s.refLabel.Wrapping = fyne.TextWrapWord
	s.refLabel.Hide()
	s.diceStatus = widget.NewLabel("")
	s.diceStatus.TextStyle = fyne.TextStyle{Monospace: true} // not bold too: not every theme has a bold monospace face
	s.diceStatus.Hide()

	bold := func(t string) *widget.Label {
		return widget.NewLabelWithStyle(t, fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
	}
	// Two controls share a row wherever they fit, so that everything the
	// panel says after a run (result, box, reference and its Dice) is on
	// screen without scrolling in a 1400×900 window.
	colorSel := func(sel *widget.Select) fyne.CanvasObject {
		return container.NewGridWrap(fyne.NewSize(110, sel.MinSize().Height), sel)
	}
	s.panel = container.NewVBox(
		container.NewBorder(nil, nil, bold("Liver segmentation"), container.NewHBox(s.runBtn, s.cancelBtn), s.model),
		s.cardInfo,
		container.NewBorder(nil, nil, nil, nil, container.NewStack(s.bar)), s.stage,
		s.result, s.errText,
		container.NewBorder(nil, nil, u.cmp.btn, s.clearBox, s.boxMode), s.boxLabel,
		container.NewGridWithColumns(2,
			container.NewBorder(nil, nil, widget.NewLabel("Threshold"), s.thrLabel, s.thr),
			container.NewBorder(nil, nil, widget.NewLabel("Opacity"), nil, s.opacity)),
		container.NewHBox(widget.NewLabel("Model"), s.show, s.fill, s.outline, colorSel(s.color), s.edge),
		container.NewHBox(widget.NewLabel("Reference"), s.refBtn, s.refShow, s.refFill, colorSel(s.refColor)),
		s.refLabel,
	)
	return s
}

// UseModels opens the models folder dir (the model cards and their
// networks) for segmentation and starts loading the automatic model in the
// background so that the first run does not pay for it. A folder that
// cannot be used leaves the viewer working, with the reason in the panel.
func (s *segController) UseModels(dir string) error {
	u := s.u
	if s.reg != nil {
		s.reg.Close()
		s.reg, s.runner = nil, nil
	}
	reg, err := inference.OpenRegistry(dir, inference.RegistryOptions{Threads: u.threads()})
	if err == nil && len(reg.Cards()) == 0 {
		err = fmt.Errorf("the models folder %s holds no model cards", dir)
	}
	if err != nil {
		s.regErr = err
		s.model.Options = nil
		s.model.ClearSelected()
		s.model.Disable()
		s.runBtn.Disable()
		s.showSegError(fmt.Errorf("segmentation is unavailable: %w; the viewer works without it", err), false)
		return err
	}
	s.reg, s.regErr, s.runner = reg, nil, reg
	names := make([]string, 0, len(reg.Cards()))
	for _, c := range reg.Cards() {
		names = append(names, c.Name)
	}
	s.model.Options = names
	s.model.Enable()
	s.runBtn.Enable()
	auto := s.autoModel()
	s.model.SetSelected(auto)
	s.errText.Hide()
	// Verify and load the automatic model now: a broken file is reported
	// at start-up, and the first segmentation is faster.
	checked := make(chan struct{})
	s.checked = checked
	task.Start(&s.check, u.do, func(t *task.Task) (struct{}, error) {
		if err := reg.Load(auto); err != nil {
			return struct{}{}, err
		}
		// One run on a small blank volume: ONNX Runtime sets up its
		// kernels and threads on the first run, which would otherwise
		// delay the first study's overlay.
		t0 := time.Now()
		_, err := reg.Run(t.Context(), warmupVolume(), auto, inference.Options{Threshold: 0.5, ProbabilityOnly: true})
		trace("warm-up run of %s: %.0f ms (err %v)", auto, msSince(t0), err)
		return struct{}{}, nil // a failed warm-up only costs the first run its set-up
	}, func(_ struct{}, err error) {
		defer close(checked)
		if err != nil && s.reg == reg && s.running == "" && s.res == nil {
			s.showSegError(fmt.Errorf("model %s cannot be used: %w", auto, err), false)
		}
	})
	return nil
}

// warmupVolume is a blank 96×96×48 mm CT (water) for the warm-up run.
func warmupVolume() *volume.Volume {
	v := volume.New(volume.Identity([3]int{48, 48, 24}, [3]float64{2, 2, 4}))
	return v
}

// showCard describes the chosen model under the picker.
func (s *segController) showCard(name string) {
	if s.reg == nil {
		s.cardInfo.SetText("")
		return
	}
	c, ok := s.reg.Card(name)
	if !ok {
		s.cardInfo.SetText("")
		return
	}
	sp := c.Preprocessing.SpacingMM[0]
	g := c.MACsGrid
	s.cardInfo.SetText(fmt.Sprintf("Role %s · %s parameters · %.3g GMACs on %d×%d×%d · %g mm input", c.Role, groupThousands(c.Params), c.MACs/1e9, g[0], g[1], g[2], sp))
}

// groupThousands writes n with thin spaces between groups of three digits.
func groupThousands(n int64) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "\u2009" + s[i:]
	}
	return s
}

// autoModel is AutoModel when the folder has it, else its first model.
func (s *segController) autoModel() string {
	if _, ok := s.reg.Card(AutoModel); ok {
		return AutoModel
	}
	return s.reg.Cards()[0].Name
}

// RunModel segments the shown volume with the named model in the
// background (inside the box when one is drawn), replacing any run in
// progress. The viewer stays usable; Cancel stops the run.
func (s *segController) RunModel(name string) { s.runModel(name, false) }

// runModel starts a run; auto marks the automatic run after opening,
// whose failure is reported without a dialog.
func (s *segController) runModel(name string, auto bool) {
	u := s.u
	if !auto && u.stillLoading() {
		return
	}
	s.firstRun = auto
	if u.vol == nil || u.scene == nil {
		u.setStatus("Open a study first.")
		return
	}
	if s.reg == nil {
		err := s.regErr
		if err == nil {
			err = errors.New("no models folder is configured")
		}
		s.showSegError(fmt.Errorf("segmentation is unavailable: %w", err), true)
		return
	}
	if name == "" {
		name = s.autoModel()
	}
	card, err := s.runner.Lookup(name)
	if err != nil {
		s.showSegError(err, true)
		return
	}
	s.running = name
	s.errText.Hide()
	s.stage.SetText(name + ": starting…")
	s.stage.Show()
	s.cancelBtn.Enable()
	opts := card.DefaultOptions()
	opts.ProbabilityOnly = true // the overlay comes from the map; the mask follows in the background
	if !s.edge.Checked {
		opts.Edge = nil
	}
	if s.box != nil {
		b := *s.box
		opts.ROI = &b
	}
	runner, vol := s.runner, u.vol
	queued := time.Now()
	var ret time.Time
	t := task.Start(&s.run, u.do, func(t *task.Task) (*inference.Result, error) {
		trace("run %s: goroutine started %.0f ms after the request", name, msSince(queued))
		opts.Progress = func(st inference.Stage) {
			t.Post(func() {
				if st != inference.StageDone {
					s.stage.SetText(fmt.Sprintf("%s: %s…", name, st))
				}
			})
		}
		res, err := runner.Run(t.Context(), vol, name, opts)
		ret = time.Now()
		trace("run %s: returned %.0f ms after the request (err %v)", name, msSince(queued), err)
		return res, err
	}, func(res *inference.Result, err error) {
		trace("run %s: result reached the UI goroutine %.0f ms after returning", name, msSince(ret))
		s.runDone(vol, name, res, err)
		trace("run %s: overlay installed %.0f ms after returning", name, msSince(ret))
	})
	// The animated bar appears only when a run lasts: the student is
	// usually done before it would have moved, and an animation repaints
	// the window every frame, which costs the run CPU time on machines
	// without a GPU.
	t.PostAfter(barDelay, func() {
		if s.running != "" {
			s.bar.Run()
		}
	})
}

// CancelSegmentation stops the run in progress; what was shown stays.
func (s *segController) CancelSegmentation() {
	u := s.u
	if s.running == "" {
		return
	}
	s.run.Cancel() // first, so that the cancelled run's late result is dropped
	name := s.running
	s.endRun()
	u.setStatus("Segmentation with " + name + " cancelled.")
	if s.onRunDone != nil {
		s.onRunDone(context.Canceled)
	}
}

func (s *segController) endRun() {
	s.running = ""
	s.bar.Halt()
	s.stage.Hide()
	s.cancelBtn.Disable()
}

func (s *segController) runDone(vol *volume.Volume, name string, res *inference.Result, err error) {
	u := s.u
	if vol != u.vol {
		return
	}
	auto := s.firstRun
	s.firstRun = false
	s.endRun()
	if err == nil {
		err = s.showResult(res)
	}
	if err == nil {
		u.rememberResult(res) // exportable and reported later, whatever is shown
	}
	switch {
	case errors.Is(err, context.Canceled):
		u.setStatus("Segmentation with " + name + " cancelled.")
	case err != nil:
		s.showSegError(fmt.Errorf("segmentation with %s failed: %w", name, err), !auto)
	case auto:
		u.setStatus(fmt.Sprintf("%s: liver overlay on screen %.2f s after the series was shown.", name, time.Since(s.shownAt).Seconds()))
	default:
		u.setStatus(fmt.Sprintf("%s: done in %.0f ms.", name, float64(res.Timings.Total.Microseconds())/1000))
	}
	if s.onRunDone != nil {
		s.onRunDone(err)
	}
}

// showResult installs a new result: its probability overlay at the
// model's threshold, the slider, and the background mask.
func (s *segController) showResult(res *inference.Result) error {
	u := s.u
	keep, err := cleanMap(res, res.Post)
	if err != nil {
		return err
	}
	o, err := viewer.NewProbOverlay(u.scene.Slicer(), res.Prob.Geometry, res.Prob.Data, res.Post.Threshold, s.predStyle())
	if err != nil {
		return err
	}
	if err := o.SetThreshold(res.Post.Threshold, keep); err != nil {
		return err
	}
	s.res, s.ovl, s.maskOvl = res, o, nil
	s.settingThr = true
	s.thr.SetValue(res.Post.Threshold)
	s.settingThr = false
	s.thrLabel.SetText(fmt.Sprintf("%.2f", res.Post.Threshold))
	u.updateOverlays()
	s.showResultText(math.NaN(), true)
	s.queuePost(keep, false)
	return nil
}

// cleanMap is the clean-up (largest component, holes) of the map on its
// own grid at o's threshold: what the overlay draws.
func cleanMap(res *inference.Result, o inference.PostOptions) ([]uint8, error) {
	if !o.LargestComponent && !o.FillHoles {
		return nil, nil
	}
	return inference.MaskFromProb(res.Prob, res.Prob.Size, res.Prob.Spacing, o)
}

// SetThreshold changes the threshold of the shown segmentation: the three
// overlay layers are redrawn at once from the kept probability map (no
// network run); the volume and the full-resolution mask follow from a
// background goroutine, latest threshold winning.
func (s *segController) SetThreshold(t float64) {
	u := s.u
	s.thrLabel.SetText(fmt.Sprintf("%.2f", t))
	if s.res == nil || s.ovl == nil || !(t > 0 && t < 1) {
		return
	}
	post := s.res.Post
	post.Threshold = t
	keep, err := cleanMap(s.res, post)
	if err != nil {
		s.showSegError(err, false)
		return
	}
	if err := s.ovl.SetThreshold(t, keep); err != nil {
		s.showSegError(err, false)
		return
	}
	if s.maskOvl != nil {
		// The refined mask was for the old threshold: the map's contour
		// stands in until the worker has refined the new one.
		s.maskOvl = nil
		u.updateOverlays()
	}
	u.scene.OverlaysChanged()
	s.showResultText(math.NaN(), true)
	s.queuePost(keep, true)
}

// modelOverlay is the model's overlay on screen: the refined mask once
// built, else the map's contour (nil before a result).
func (s *segController) modelOverlay() viewer.Overlay {
	switch {
	case s.maskOvl != nil:
		return s.maskOvl
	case s.ovl != nil:
		return s.ovl
	}
	return nil
}

// edgeChanged rebuilds the shown result's mask with or without the edge
// refinement (no network run): the map's contour stands in meanwhile.
func (s *segController) edgeChanged() {
	u := s.u
	if u.cmp.set != nil && len(u.cmp.models) > 0 {
		// The compared masks were made with the other setting: clear
		// them rather than show a mix.
		u.cmp.resetCompare()
		u.setStatus("Edge from scan switched: the comparison was cleared (its masks were made with the other setting); run Compare again.")
	}
	if s.res == nil || s.ovl == nil {
		return
	}
	s.maskOvl = nil
	u.updateOverlays()
	post := s.res.Post
	post.Threshold = s.ovl.Threshold()
	keep, err := cleanMap(s.res, post)
	if err != nil {
		s.showSegError(err, false)
		return
	}
	s.showResultText(math.NaN(), true)
	s.queuePost(keep, false)
}

// queuePost asks the background worker for the volume and the mask at the
// overlay's current threshold, replacing any request not yet started.
func (s *segController) queuePost(keep []uint8, delay bool) {
	u := s.u
	if s.post == nil {
		s.post = make(chan postJob, 1)
		jobs := s.post
		task.Start(&s.worker, u.do, func(t *task.Task) (struct{}, error) {
			s.postWorker(t, jobs)
			return struct{}{}, nil
		}, func(_ struct{}, err error) {
			if err != nil { // a panic: the masks stop following the threshold
				s.showSegError(fmt.Errorf("the background mask worker stopped: %w", err), false)
			}
		})
	}
	post := s.res.Post
	post.Threshold = s.ovl.Threshold()
	post.Edge = nil
	if s.edge.Checked {
		e := inference.DefaultEdge
		post.Edge = &e
	}
	job := postJob{gen: s.postGen.Add(1), res: s.res, ovl: s.ovl, post: post, keep: keep, ref: s.ref, vol: u.vol, delay: delay}
	select {
	case <-s.post: // superseded before it started
	default:
	}
	s.post <- job
}

// stopWorker ends the background worker (when the window closes).
func (s *segController) stopWorker() { s.worker.Cancel() }

// postWorker computes volumes and masks one job at a time. It first
// reports the overlay's volume (a few ms), then, unless a newer threshold
// arrived meanwhile, builds the full-resolution mask (hundreds of ms for a
// CT) and its Dice with the reference.
func (s *segController) postWorker(t *task.Task, jobs <-chan postJob) {
	u := s.u
	stop := t.Context().Done()
	closed := func() bool {
		select {
		case <-stop:
			return true
		default:
			return false
		}
	}
	var job postJob
	have := false
	for {
		if !have {
			select {
			case <-stop:
				return
			case job = <-jobs:
			}
		}
		have = false
		ml := job.ovl.VolumeAt(job.post.Threshold, job.keep)
		if closed() {
			return // the window is gone
		}
		// The closures below run later, on the UI goroutine, while this
		// loop may already have read the next job into job: they use cur,
		// this iteration's copy.
		cur := job
		t.Post(func() {
			if s.res == cur.res && cur.gen == s.postGen.Load() {
				s.showResultText(ml, true)
			}
		})
		// The full-resolution mask costs hundreds of ms of CPU: wait until
		// the slider has rested for maskDelay, so that a drag does not
		// compete with its own redraws.
		if job.delay {
			select {
			case <-stop:
				return
			case job = <-jobs:
				have = true
				continue
			case <-time.After(maskDelay):
			}
		}
		if job.gen != s.postGen.Load() {
			continue
		}
		t0 := time.Now()
		m, edge, err := job.res.ApplyEdge(job.post)
		took := time.Since(t0)
		dice := math.NaN()
		if err == nil && job.ref != nil {
			if d, derr := metrics.Dice(m.Canonical(), job.ref); derr == nil {
				dice = d
			}
		}
		// The liver's CT values, for the liver window (a few ms).
		var liver *viewer.LiverStats
		if err == nil {
			if st, lerr := viewer.LiverHU(job.vol, m); lerr == nil {
				liver = &st
			}
		}
		if closed() {
			return
		}
		t.Post(func() {
			if s.res != cur.res || cur.gen != s.postGen.Load() {
				return
			}
			if err != nil {
				s.showSegError(err, false)
				return
			}
			cur.res.Mask, cur.res.Post, cur.res.Edge = m, cur.post, edge
			s.maskOvl = nil
			if edge.Applied {
				if o, oerr := viewer.NewMaskOverlay(u.scene.Slicer(), m, s.predStyle()); oerr == nil {
					s.maskOvl = o
				}
			}
			u.updateOverlays()
			u.plan.liverMaskChanged()
			// The run kept probabilities only: this mask is its
			// postprocessing, so the run's timings include it.
			tm := &cur.res.Timings
			tm.Total += took - tm.Postprocess
			tm.Postprocess = took
			s.showResultText(m.VolumeML(), false)
			if liver != nil && cur.vol == u.vol {
				u.setLiverStats(*liver, cur.res.Model)
			}
			s.showDice(dice)
			if s.onPostDone != nil {
				s.onPostDone()
			}
		})
	}
}

// showResultText writes the result line: model, volume (approximate while
// the mask is being rebuilt), threshold and timings.
func (s *segController) showResultText(ml float64, approx bool) {
	u := s.u
	r := s.res
	if r == nil {
		s.result.SetText("No segmentation yet.")
		return
	}
	vol := "…"
	if !math.IsNaN(ml) {
		vol = fmt.Sprintf("%.1f mL", ml)
		if approx {
			vol = "≈ " + vol
		}
		if u.vol != nil && len(u.vol.Info.Assumed) > 0 {
			// The grid's spacing is not what the files state validly
			// (see the warnings): the number must not pass for a
			// measurement.
			vol += " ON ASSUMED GEOMETRY (see the warnings)"
		}
	}
	where := "whole volume"
	if u.vol != nil && r.ROI != (inference.Box{Max: u.vol.CanonicalGeometry().Size}) {
		where = "in the box"
	}
	t := r.Timings
	msOf := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	edge := ""
	if r.Edge.Applied && !approx && r.Post.Edge != nil {
		edge = fmt.Sprintf(", edge from the scan (liver %.0f ± %.0f HU)", r.Edge.LiverHU, r.Edge.SpreadHU)
	}
	s.result.SetText(fmt.Sprintf("%s (%s): liver %s at threshold %.2f%s\nnetwork %.0f ms · total %.0f ms (preprocess %.0f ms)",
		r.Model, where, vol, s.ovl.Threshold(), edge, msOf(t.Infer), msOf(t.Total), msOf(t.Preprocess)))
}

// VolumeText is the result line shown in the panel (for tests).
func (s *segController) VolumeText() string { return s.result.Text }

// predStyle is the prediction's overlay style from the controls.
func (s *segController) predStyle() viewer.Style {
	return styleFrom(s.fill.Checked, s.outline.Checked, s.opacity.Value, colorByName(s.color.Selected))
}

func styleFrom(fill, outline bool, opacity float64, c color.NRGBA) viewer.Style {
	st := viewer.Style{Color: c}
	if fill {
		st.Fill = opacity
	}
	if outline {
		// The outline stays more opaque than the fill: it is what marks
		// the edge when the fill is faint.
		st.Outline = min(1, 0.4+opacity*1.5)
	}
	return st
}

// applyStyle copies the overlay controls into the overlays and redraws
// the overlay layers (never the CT images).
func (s *segController) applyStyle() {
	u := s.u
	if s.ovl != nil {
		s.ovl.Style = s.predStyle()
	}
	if s.maskOvl != nil {
		s.maskOvl.Style = s.predStyle()
	}
	if s.refOvl != nil {
		st := referenceStyle(colorByName(s.refColor.Selected))
		if s.refFill.Checked {
			st.Fill = s.opacity.Value
		}
		s.refOvl.Style = st
	}
	if u.scene != nil {
		u.scene.OverlaysChanged()
	}
	u.updateLegend()
}

// updateOverlays puts the visible overlays in the scene: the prediction,
// the reference's dashed outline over it (so that neither hides the
// other where they overlap), the box on top.
func (u *UI) updateOverlays() {
	s := u.seg
	if u.scene == nil {
		return
	}
	var list []viewer.Overlay
	if o := s.modelOverlay(); o != nil && s.show.Checked {
		list = append(list, o)
	}
	list = append(list, u.editOverlays()...)
	u.refreshEditSources()
	if s.refOvl != nil && s.refShow.Checked {
		list = append(list, s.refOvl)
	}
	if s.boxOvl != nil {
		list = append(list, s.boxOvl)
	}
	if u.plan.hasCuts() {
		list = append(list, planOverlay{u.plan})
	}
	u.scene.SetOverlays(list...)
	u.updateLegend()
}

// showSegError reports a segmentation failure in the panel and the status
// line, and in a dialog when the user asked for the run.
func (s *segController) showSegError(err error, dialogToo bool) {
	u := s.u
	s.lastErr = err
	msg := err.Error()
	s.errText.SetText(msg)
	s.errText.Show()
	u.setStatus("Error: " + strings.ReplaceAll(msg, "\n", " "))
	if dialogToo {
		dialog.NewError(err, u.win).Show()
	}
}

// resetSegmentation forgets the previous study's segmentation, box and
// reference when another volume is shown, and cancels a run on it.
func (s *segController) resetSegmentation() {
	u := s.u
	if s.running != "" {
		s.run.Cancel()
		s.endRun()
	}
	s.postGen.Add(1) // drop pending background work
	u.cmp.resetCompare()
	u.forgetLiverStats()
	s.res, s.ovl, s.maskOvl, s.box, s.boxOvl, s.ref, s.refOvl, s.refName = nil, nil, nil, nil, nil, nil, nil, ""
	s.result.SetText("No segmentation yet.")
	s.boxLabel.Hide()
	s.clearBox.Disable()
	s.refLabel.Hide()
	s.diceStatus.Hide()
}

// onBox turns a rectangle drawn on one view into the region of interest:
// its two in-plane axes from the rectangle, the third from the box drawn
// before on another view, or the whole extent. The selected model then runs
// inside it.
func (s *segController) onBox(v *sliceview.SliceView, a, b [3]int) {
	u := s.u
	if u.stillLoading() {
		return
	}
	if u.scene == nil {
		return
	}
	size := u.scene.Slicer().Size()
	n := v.Plane().NormalAxis()
	var box inference.Box
	for ax := 0; ax < 3; ax++ {
		box.Min[ax], box.Max[ax] = min(a[ax], b[ax]), max(a[ax], b[ax])+1
	}
	if s.box != nil {
		box.Min[n], box.Max[n] = s.box.Min[n], s.box.Max[n]
	} else {
		box.Min[n], box.Max[n] = 0, size[n]
	}
	s.SetBox(&box)
}

// SetBox restricts segmentation to a canonical voxel box (nil: the whole
// volume) and re-runs the selected model. A box smaller than the model can
// work on (one tile of its input grid) is enlarged around its centre.
func (s *segController) SetBox(b *inference.Box) {
	u := s.u
	if u.scene == nil {
		return
	}
	if b == nil {
		s.ClearBox()
		return
	}
	size := u.scene.Slicer().Size()
	box := *b
	name := s.model.Selected
	if s.reg != nil {
		if name == "" {
			name = s.autoModel()
		}
		if c, ok := s.reg.Card(name); ok {
			box = fitBox(box, size, u.vol.CanonicalGeometry().Spacing, c.Preprocessing)
		}
	}
	for a := 0; a < 3; a++ {
		box.Min[a] = min(max(box.Min[a], 0), size[a])
		box.Max[a] = min(max(box.Max[a], box.Min[a]), size[a])
	}
	if box.Empty() {
		return
	}
	s.box = &box
	s.boxOvl = viewer.NewBoxOverlay(u.scene.Slicer(), box.Min, box.Max, sliceview.BoxColor)
	sp := u.vol.CanonicalGeometry().Spacing
	s.boxLabel.SetText(fmt.Sprintf("Box %d × %d × %d voxels (%.0f × %.0f × %.0f mm)",
		box.Max[0]-box.Min[0], box.Max[1]-box.Min[1], box.Max[2]-box.Min[2],
		float64(box.Max[0]-box.Min[0])*sp[0], float64(box.Max[1]-box.Min[1])*sp[1], float64(box.Max[2]-box.Min[2])*sp[2]))
	s.boxLabel.Show()
	s.clearBox.Enable()
	u.updateOverlays()
	if s.reg != nil {
		s.RunModel(name)
	}
}

// ClearBox removes the region of interest and re-runs the selected model
// on the whole volume.
func (s *segController) ClearBox() {
	u := s.u
	if s.box == nil {
		return
	}
	s.box, s.boxOvl = nil, nil
	s.boxLabel.Hide()
	s.clearBox.Disable()
	u.updateOverlays()
	if s.reg != nil && u.vol != nil {
		s.RunModel(s.model.Selected)
	}
}

// fitBox enlarges b around its centre so that every axis spans at least
// one tile of the model's input grid (SizeMultiple voxels at its spacing),
// within a volume of the given size.
func fitBox(b inference.Box, size [3]int, spacing [3]float64, p inference.Preprocessing) inference.Box {
	for a := 0; a < 3; a++ {
		need := int(math.Ceil(float64(p.SizeMultiple)*p.SpacingMM[a]/spacing[a])) + 1
		if need > size[a] {
			b.Min[a], b.Max[a] = 0, size[a]
			continue
		}
		if w := b.Max[a] - b.Min[a]; w < need {
			c := (b.Min[a] + b.Max[a]) / 2
			lo := min(max(c-need/2, 0), size[a]-need)
			b.Min[a], b.Max[a] = lo, lo+need
		}
	}
	return b
}

// showDice writes the prediction's Dice with the reference next to it.
func (s *segController) showDice(d float64) {
	u := s.u
	if s.ref == nil {
		return
	}
	txt := fmt.Sprintf("Reference %s: %.1f mL", s.refName, s.ref.VolumeML())
	s.diceStatus.Hide()
	if !math.IsNaN(d) && s.res != nil {
		txt += fmt.Sprintf(" · Dice with %s %.3f", s.res.Model, d)
		s.diceStatus.SetText(fmt.Sprintf("Dice %s/ref %.3f", s.res.Model, d))
		s.diceStatus.Show()
		// Also in the status line, which is never scrolled away.
		u.setStatus(fmt.Sprintf("Dice %s vs reference %s: %.3f · %.1f vs %.1f mL",
			s.res.Model, s.refName, d, s.res.Mask.VolumeML(), s.ref.VolumeML()))
	}
	s.refLabel.SetText(txt)
	s.refLabel.Show()
}

// traceOn enables timing lines on stderr (LIVERSEG_TRACE=1), for measuring
// where the time between opening and the overlay goes.
var traceOn = os.Getenv("LIVERSEG_TRACE") != ""

func trace(format string, args ...any) {
	if traceOn {
		fmt.Fprintf(os.Stderr, "liverseg: "+format+"\n", args...)
	}
}

func msSince(t time.Time) float64 { return float64(time.Since(t).Microseconds()) / 1000 }
