package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"image"
	"image/color"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/liverseg/liverseg/inference"
	"github.com/liverseg/liverseg/viewer"
	"github.com/liverseg/liverseg/volume"
)

func init() {
	Register(Command{
		Name:  "bench",
		Usage: "[--json] [--runs N] [--no-edge] [--models DIR] [--threads N] PATH   time loading, preprocessing, every model's network, postprocessing and the overlay (median of N runs, default 5) and report peak memory",
		Run:   runBench,
		// The window keeps Go's default collector setting; the command
		// line's GOGC 25 (gctune) made each run's 20 MB mask allocation
		// wait on collections (postprocessing 10-30 ms slower on chaos_ct01).
		WindowGC: true,
	})
}

// PaperStudentGPUms is the student's inference time per volume on a GPU
// reported by the paper this project reproduces; the bench reports how far
// the CPU student is from it.
const PaperStudentGPUms = 13.0

// benchReport is what `liverseg bench --json` prints.
type benchReport struct {
	Input     string        `json:"input"`
	Grid      [3]int        `json:"grid"`
	SpacingMM [3]float64    `json:"spacing_mm"`
	Runs      int           `json:"runs"`
	Threads   int           `json:"threads"`
	CPUs      int           `json:"cpus"`
	GOGC      int           `json:"gogc"`    // the collector setting measured under (the window's)
	LoadMS    float64       `json:"load_ms"` // reading the study, median
	Models    []benchModel  `json:"models"`
	Ratios    *benchRatios  `json:"ratios,omitempty"`
	Memory    benchMemory   `json:"memory"`
	Overlay   *benchOverlay `json:"overlay,omitempty"`
	// GeometryAssumed: what the liver volumes rest on that the input does
	// not validly state (volume.Info.Assumed).
	GeometryAssumed []string `json:"geometry_assumed,omitempty"`
}

type benchModel struct {
	Name          string  `json:"name"`
	Params        int64   `json:"params"`
	SessionMS     float64 `json:"session_ms"` // verify + create the ORT session (once)
	PreprocessMS  float64 `json:"preprocess_ms"`
	InferMS       float64 `json:"infer_ms"`
	PostprocessMS float64 `json:"postprocess_ms"`
	EdgeMS        float64 `json:"edge_ms"`  // the part of postprocess_ms refining the edge from the scan
	TotalMS       float64 `json:"total_ms"` // one warm Run, median
	OverlayMS     float64 `json:"overlay_ms"`
	VolumeML      float64 `json:"liver_ml"`
	ProbGrid      [3]int  `json:"prob_grid"`
	Error         string  `json:"error,omitempty"`
}

type benchRatios struct {
	StudentVsPaperGPU    float64 `json:"student_vs_paper_gpu"`     // student infer ms / 13 ms
	TeacherOverStudent   float64 `json:"teacher_over_student"`     // network time
	TeacherOverStudentE2 float64 `json:"teacher_over_student_e2e"` // whole Run
}

type benchMemory struct {
	PeakRSSMB float64 `json:"peak_rss_mb"` // VmHWM: Go heap + ONNX Runtime + code
	// Stages is the peak resident memory of each stage in order (the
	// kernel's high-water mark is reset before each; what earlier stages
	// keep, e.g. the volume and earlier models' results, counts in later
	// ones, as in the viewer's Compare).
	Stages        []benchStage `json:"stages,omitempty"`
	VolumeMB      float64      `json:"volume_mb"`       // the study's int16 voxels
	GoHeapPeakMB  float64      `json:"go_heap_peak_mb"` // largest HeapInuse sampled between stages
	GoSysMB       float64      `json:"go_sys_mb"`       // memory the Go runtime obtained from the OS
	ModelsInBench int          `json:"models_in_bench"` // sessions alive at the end
}

// benchStage is one stage's peak resident memory.
type benchStage struct {
	Stage     string  `json:"stage"`
	PeakRSSMB float64 `json:"peak_rss_mb"`
}

// stagePeaks measures the peak resident memory stage by stage: the
// kernel's high-water mark (VmHWM) is reset at the start of each stage
// (writing 5 to /proc/self/clear_refs, Linux ≥ 4.0) and read at its end.
// Where the reset is refused, every stage reports the peak so far.
type stagePeaks struct {
	stages []benchStage
	max    float64
}

func (p *stagePeaks) start() {
	os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
}

func (p *stagePeaks) end(name string) {
	m := vmHWM()
	p.stages = append(p.stages, benchStage{Stage: name, PeakRSSMB: m})
	p.max = max(p.max, m)
}

// benchOverlay is the viewer side, for the student: what a threshold
// slider step and the first overlay after a series loads cost.
type benchOverlay struct {
	Model             string    `json:"model"`
	ThresholdStepMS   float64   `json:"threshold_step_ms"`    // clean-up + three views (the synchronous part), median
	ThreeViewsMS      float64   `json:"three_views_ms"`       // the three overlay layers only
	VolumeMS          float64   `json:"volume_ms"`            // closed-form volume at the new threshold (background)
	RunToMapMS        float64   `json:"run_to_map_ms"`        // warm Run without the full-resolution mask
	FirstOverlayMS    float64   `json:"first_overlay_ms"`     // clean-up + first three views
	SeriesToOverlayMS float64   `json:"series_to_overlay_ms"` // the two: series shown → overlay on screen
	ViewPixels        [3][2]int `json:"view_pixels"`
}

func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fset := flag.NewFlagSet("bench", flag.ContinueOnError)
	fset.SetOutput(io.Discard)
	asJSON := fset.Bool("json", false, "print the report as JSON")
	runs := fset.Int("runs", 5, "timed runs per stage (the median is reported)")
	mf := addModelFlags(fset)
	pos, err := parseInterspersed(fset, args)
	if err != nil {
		return &UsageError{Msg: err.Error()}
	}
	if len(pos) != 1 {
		return &UsageError{Msg: fmt.Sprintf("expected one PATH, got %d arguments", len(pos))}
	}
	if *runs < 1 || *runs > 1000 {
		return &UsageError{Msg: fmt.Sprintf("--runs %d: must be between 1 and 1000", *runs)}
	}
	reg, err := mf.openRegistry()
	if err != nil {
		return err
	}
	defer reg.Close()
	if len(reg.Cards()) == 0 {
		return fmt.Errorf("the models folder %s holds no model cards", reg.Dir())
	}
	var mem memSampler
	rep := benchReport{Input: pos[0], Runs: *runs, Threads: *mf.threads, CPUs: runtime.NumCPU(), GOGC: gcPercent()}
	if rep.Threads == 0 {
		rep.Threads = inference.DefaultThreads()
	}

	// Load: the first read warms the page cache like a second open in
	// the viewer; all runs count.
	var v *volume.Volume
	var loads []time.Duration
	var peaks stagePeaks
	peaks.end("start (models folder read)")
	peaks.start()
	for i := 0; i < *runs; i++ {
		t0 := time.Now()
		nv, _, err := openImage(ctx, pos[0], nil)
		if err != nil {
			return err
		}
		loads = append(loads, time.Since(t0))
		v = nv
		mem.sample()
	}
	rep.LoadMS = median(loads)
	peaks.end("load study")
	rep.Grid, rep.SpacingMM = v.Size, v.Spacing
	rep.GeometryAssumed = v.Info.Assumed
	fmt.Fprintf(stderr, "liverseg bench: %s: %d × %d × %d, load %.0f ms\n", pos[0], v.Size[0], v.Size[1], v.Size[2], rep.LoadMS)
	slicer, err := viewer.NewSlicer(v)
	if err != nil {
		return err
	}

	results := map[string]*inference.Result{}
	for _, c := range reg.Cards() {
		if err := ctx.Err(); err != nil {
			return err
		}
		bm := benchModel{Name: c.Name, Params: c.Params}
		fmt.Fprintf(stderr, "liverseg bench: %s…\n", c.Name)
		peaks.start()
		t0 := time.Now()
		if err := reg.Load(c.Name); err != nil {
			bm.Error = err.Error()
			rep.Models = append(rep.Models, bm)
			fmt.Fprintf(stderr, "liverseg bench: %s: %v\n", c.Name, err)
			continue
		}
		bm.SessionMS = ms(time.Since(t0))
		mem.sample()
		var pre, inf, post, tot, edge []time.Duration
		var res *inference.Result
		// One untimed warm-up run: ORT plans memory and picks kernels on
		// the first call with a shape.
		for i := 0; i <= *runs; i++ {
			r, err := reg.Run(ctx, v, c.Name, mf.options(c))
			if err != nil {
				return fmt.Errorf("model %s: %w", c.Name, err)
			}
			mem.sample()
			if i == 0 {
				continue
			}
			res = r
			t := r.Timings
			pre, inf, post, tot = append(pre, t.Preprocess), append(inf, t.Infer), append(post, t.Postprocess), append(tot, t.Total)
			edge = append(edge, t.Edge)
		}
		bm.PreprocessMS, bm.InferMS, bm.PostprocessMS, bm.TotalMS = median(pre), median(inf), median(post), median(tot)
		bm.EdgeMS = median(edge)
		bm.VolumeML = res.VolumeML()
		bm.ProbGrid = res.Prob.Size
		ov, err := benchOverlayFor(slicer, res, *runs)
		if err != nil {
			return fmt.Errorf("model %s: overlay: %w", c.Name, err)
		}
		bm.OverlayMS = ov.ThreeViewsMS
		mem.sample()
		if c.Name == "student" || (rep.Overlay == nil && len(reg.Cards()) == 1) {
			// The viewer runs without the full-resolution mask (it
			// follows in the background) and draws the map's contour.
			var probOnly []time.Duration
			for i := 0; i < *runs; i++ {
				o := c.DefaultOptions()
				o.ProbabilityOnly = true
				r, err := reg.Run(ctx, v, c.Name, o)
				if err != nil {
					return fmt.Errorf("model %s: %w", c.Name, err)
				}
				probOnly = append(probOnly, r.Timings.Total)
			}
			ov.Model = c.Name
			ov.RunToMapMS = median(probOnly)
			ov.FirstOverlayMS = ov.firstMS
			ov.SeriesToOverlayMS = ov.RunToMapMS + ov.firstMS
			rep.Overlay = &ov.benchOverlay
		}
		results[c.Name] = res
		rep.Models = append(rep.Models, bm)
		peaks.end(fmt.Sprintf("%s (kept with the results before it)", c.Name))
	}
	byName := map[string]benchModel{}
	for _, m := range rep.Models {
		byName[m.Name] = m
	}
	if s, ok := byName["student"]; ok && s.Error == "" {
		r := &benchRatios{StudentVsPaperGPU: s.InferMS / PaperStudentGPUms}
		if t, ok := byName["teacher"]; ok && t.Error == "" && s.InferMS > 0 {
			r.TeacherOverStudent = t.InferMS / s.InferMS
			r.TeacherOverStudentE2 = t.TotalMS / s.TotalMS
		}
		rep.Ratios = r
	}
	mem.sample()
	rep.Memory = benchMemory{
		PeakRSSMB:     max(peaks.max, vmHWM()),
		Stages:        peaks.stages,
		VolumeMB:      float64(len(v.Voxels)*2) / (1 << 20),
		GoHeapPeakMB:  float64(mem.heapPeak) / (1 << 20),
		GoSysMB:       float64(mem.sys) / (1 << 20),
		ModelsInBench: len(results),
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return err
		}
	} else {
		printBench(stdout, &rep)
	}
	// A model that could not be timed is a bench not done (exit 2), even
	// though the others are reported.
	for _, m := range rep.Models {
		if m.Error != "" {
			return fmt.Errorf("model %s could not be run: %s", m.Name, m.Error)
		}
	}
	return nil
}

type overlayTimes struct {
	benchOverlay
	firstMS float64
}

// benchOverlayFor times what the viewer does with a result: the first
// three overlay layers, then threshold steps (clean-up on the map grid,
// three layers, volume), at the sizes the views have in a 1400×900 window.
func benchOverlayFor(s *viewer.Slicer, res *inference.Result, runs int) (overlayTimes, error) {
	var out overlayTimes
	size := [3][2]int{{660, 660}, {660, 300}, {660, 300}}
	out.ViewPixels = size
	sc := viewer.NewScene(s)
	st := viewer.Style{Color: color.NRGBA{R: 255, G: 60, B: 60, A: 255}, Fill: 0.35, Outline: 0.8}
	var dst [3]*image.RGBA
	draw := func() {
		for n, p := range viewer.Planes {
			w, h, _ := s.Dims(p)
			// Fit the plane's physical size into the view.
			sx, sy := s.PixelSpacing(p)
			k := min(float64(size[n][0])/(float64(w)*sx), float64(size[n][1])/(float64(h)*sy))
			pw, ph := max(int(float64(w)*sx*k), 1), max(int(float64(h)*sy*k), 1)
			vp := viewer.Viewport{DX: float64(w) / float64(pw), DY: float64(h) / float64(ph)}
			dst[n] = sc.RenderOverlaysAt(dst[n], p, vp, pw, ph)
		}
	}
	clean := func(t float64) ([]uint8, error) {
		o := res.Post
		o.Threshold = t
		return inference.MaskFromProb(res.Prob, res.Prob.Size, res.Prob.Spacing, o)
	}
	t0 := time.Now()
	keep, err := clean(res.Post.Threshold)
	if err != nil {
		return out, err
	}
	o, err := viewer.NewProbOverlay(s, res.Prob.Geometry, res.Prob.Data, res.Post.Threshold, st)
	if err != nil {
		return out, err
	}
	if err := o.SetThreshold(res.Post.Threshold, keep); err != nil {
		return out, err
	}
	sc.SetOverlays(o)
	// Put the crosshair in the liver when there is one, as a reader would.
	if c, ok := centroid(res.Mask); ok {
		sc.SetCursor(c)
	}
	draw()
	out.firstMS = ms(time.Since(t0))
	var steps, views, vols []time.Duration
	for i := 0; i < max(runs, 5)*4; i++ {
		t := 0.3 + 0.4*float64(i%9)/8
		t0 := time.Now()
		keep, err := clean(t)
		if err != nil {
			return out, err
		}
		if err := o.SetThreshold(t, keep); err != nil {
			return out, err
		}
		t1 := time.Now()
		draw()
		t2 := time.Now()
		_ = o.VolumeML() // in the viewer this runs on a background goroutine
		t3 := time.Now()
		steps, views, vols = append(steps, t2.Sub(t0)), append(views, t2.Sub(t1)), append(vols, t3.Sub(t2))
	}
	out.ThresholdStepMS, out.ThreeViewsMS, out.VolumeMS = median(steps), median(views), median(vols)
	return out, nil
}

// centroid is the canonical voxel index at the centre of a mask's voxels.
func centroid(m *volume.Mask) ([3]int, bool) {
	if m == nil {
		return [3]int{}, false
	}
	c := m.Canonical()
	var s [3]float64
	n := 0
	for k := 0; k < c.Size[2]; k++ {
		for j := 0; j < c.Size[1]; j++ {
			row := c.Voxels[c.Offset(0, j, k):][:c.Size[0]]
			for i, x := range row {
				if x != 0 {
					s[0] += float64(i)
					s[1] += float64(j)
					s[2] += float64(k)
					n++
				}
			}
		}
	}
	if n == 0 {
		return [3]int{}, false
	}
	return [3]int{int(s[0] / float64(n)), int(s[1] / float64(n)), int(s[2] / float64(n))}, true
}

func printBench(w io.Writer, r *benchReport) {
	fmt.Fprintf(w, "input %s: %d × %d × %d voxels, %.3g × %.3g × %.3g mm; %d CPUs, %d ORT threads, GOGC %d as in the window; median of %d runs\n",
		r.Input, r.Grid[0], r.Grid[1], r.Grid[2], r.SpacingMM[0], r.SpacingMM[1], r.SpacingMM[2], r.CPUs, r.Threads, r.GOGC, r.Runs)
	fmt.Fprintf(w, "load study            %8.1f ms\n", r.LoadMS)
	if len(r.GeometryAssumed) > 0 {
		fmt.Fprintf(w, "liver volumes are ON ASSUMED GEOMETRY: %s\n", strings.Join(r.GeometryAssumed, "; "))
	}
	fmt.Fprintf(w, "%-12s %9s %9s %10s %9s %10s %9s %9s %9s %10s\n", "model", "params", "session", "preprocess", "network", "postproc", "(edge)", "total", "overlay", "liver mL")
	for _, m := range r.Models {
		if m.Error != "" {
			fmt.Fprintf(w, "%-12s FAILED: %s\n", m.Name, m.Error)
			continue
		}
		fmt.Fprintf(w, "%-12s %9d %6.1f ms %7.1f ms %6.1f ms %7.1f ms %6.1f ms %6.1f ms %6.1f ms %10.1f\n",
			m.Name, m.Params, m.SessionMS, m.PreprocessMS, m.InferMS, m.PostprocessMS, m.EdgeMS, m.TotalMS, m.OverlayMS, m.VolumeML)
	}
	if o := r.Overlay; o != nil {
		fmt.Fprintf(w, "viewer (%s): threshold step %.1f ms (three views %.1f ms) + volume %.1f ms in the background; series loaded → overlay %.0f ms (run to probability map %.0f ms + first overlay %.0f ms)\n",
			o.Model, o.ThresholdStepMS, o.ThreeViewsMS, o.VolumeMS, o.SeriesToOverlayMS, o.RunToMapMS, o.FirstOverlayMS)
	}
	if q := r.Ratios; q != nil {
		fmt.Fprintf(w, "student network vs the paper's %.0f ms GPU figure: %.2f×", PaperStudentGPUms, q.StudentVsPaperGPU)
		if q.TeacherOverStudent > 0 {
			fmt.Fprintf(w, "; teacher/student: %.1f× (network), %.1f× (whole run)", q.TeacherOverStudent, q.TeacherOverStudentE2)
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "peak memory: %.0f MB resident (VmHWM), Go heap peak %.0f MB, Go runtime %.0f MB from the OS; the volume is %.0f MB of int16\n",
		r.Memory.PeakRSSMB, r.Memory.GoHeapPeakMB, r.Memory.GoSysMB, r.Memory.VolumeMB)
	for _, st := range r.Memory.Stages {
		fmt.Fprintf(w, "  peak during %-45s %6.0f MB\n", st.Stage+":", st.PeakRSSMB)
	}
}

func median(d []time.Duration) float64 {
	if len(d) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	n := len(s)
	if n%2 == 1 {
		return ms(s[n/2])
	}
	return (ms(s[n/2-1]) + ms(s[n/2])) / 2
}

// memSampler keeps the largest Go heap seen; the Go runtime has no peak
// counter of its own, so it is sampled after every stage.
type memSampler struct{ heapPeak, sys uint64 }

func (m *memSampler) sample() {
	var st runtime.MemStats
	runtime.ReadMemStats(&st)
	m.heapPeak = max(m.heapPeak, st.HeapInuse)
	m.sys = max(m.sys, st.Sys)
}

// vmHWM is the process's peak resident set in MB from /proc/self/status
// (0 where there is no such file): it includes ONNX Runtime's own memory,
// which the Go runtime does not see.
func vmHWM() float64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			fields := strings.Fields(rest)
			if len(fields) >= 1 {
				kb, err := strconv.ParseFloat(fields[0], 64)
				if err == nil {
					return kb / 1024
				}
			}
		}
	}
	return 0
}

// gcPercent is the collector's current GOGC (reading it means setting it:
// it is set back at once).
func gcPercent() int {
	p := debug.SetGCPercent(100)
	debug.SetGCPercent(p)
	return p
}
