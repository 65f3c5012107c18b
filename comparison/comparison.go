// Package comparison runs several liver models on one study, caches their
// results, and measures them against each other and a reference.
//
// A Set belongs to one study. Run fills it with model results (each model
// runs once; a second Run of the same name is a cache hit), Put adds a
// result computed elsewhere (the viewer's own student run), SetReference
// loads a reference mask, and Table measures every model against the
// teacher and the reference, caching each pair's metrics. WriteCSV,
// WriteJSON and Chart export the table; Disagree finds where two masks
// differ.
//
// Missing values: a Row's VsTeacher / VsReference is nil when there is
// nothing to compare with; in a metrics.Report the surface distances are
// meaningful only when SurfaceOK (both masks non-empty). The exports write
// such values as an empty CSV cell or JSON null, never NaN.
package comparison

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/liverseg/liverseg/inference"
	"github.com/liverseg/liverseg/metrics"
	"github.com/liverseg/liverseg/volume"
)

// Entry is one finished model run on the study.
type Entry struct {
	Name    string  // card name (teacher, assistant, student, student100k)
	Role    string  // from the card (teacher, assistant, student)
	Params  int64   // trainable parameters, from the card
	InferMS float64 // network time, measured now on this machine
	TotalMS float64 // whole run: load + preprocess + network + postprocess
	// Mask is the segmentation on the study's own grid. It must not be
	// changed once the entry is in a Set (metrics are cached per mask).
	Mask     *volume.Mask
	VolumeML float64
	// Result is the full inference result (probability map, timings) when
	// the entry came from Run or a Put that supplied it; nil otherwise.
	Result *inference.Result
}

// EntryFromResult builds an Entry from a finished inference run and its
// card (for Put of a run made elsewhere).
func EntryFromResult(c *inference.Card, r *inference.Result) *Entry {
	e := &Entry{
		Name:    c.Name,
		Role:    c.Role,
		Params:  c.Params,
		InferMS: ms(r.Timings.Infer),
		TotalMS: ms(r.Timings.Total),
		Mask:    r.Mask,
		Result:  r,
	}
	if r.Mask != nil {
		e.VolumeML = r.Mask.VolumeML()
	}
	return e
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// Progress reports a model starting or finishing inside Run.
type Progress struct {
	Model string
	Index int // position of Model in Run's names, 0-based
	Total int // len(names)
	Done  bool
	// Cached is set (with Done) for a model that was already in the set
	// and did not run again.
	Cached bool
	// Stage is the inference stage the model has reached (reported at each
	// stage start while it runs; StageDone with Done).
	Stage inference.Stage
}

// Set is the comparison of one study: the model results, the optional
// reference, and the metrics between them. It is safe for concurrent use;
// Runs are serialised (a second Run waits for the first, then finds its
// results cached).
type Set struct {
	study *volume.Volume

	run chan struct{} // one Run at a time; a buffered slot

	mu      sync.Mutex
	entries map[string]*Entry
	order   []string // names, in the order they were added
	ref     *volume.Mask
	cache   map[pair]metrics.Report
	misses  int           // pairs compare computed rather than found cached (the tests' hit counter)
	dis     *Disagreement // the last pair Disagree computed
	disKey  pair
}

// pair keys the metrics cache: the masks themselves, so that replacing an
// entry or the reference invalidates exactly the affected pairs.
type pair struct{ a, b *volume.Mask }

// NewSet starts an empty comparison of study.
func NewSet(study *volume.Volume) *Set {
	return &Set{
		study:   study,
		run:     make(chan struct{}, 1),
		entries: map[string]*Entry{},
		cache:   map[pair]metrics.Report{},
	}
}

// Study is the volume the set compares models on.
func (s *Set) Study() *volume.Volume { return s.study }

// Run runs the named models that are not cached yet, in order, calling
// progress (from Run's goroutine; nil for none) as each starts, passes an
// inference stage, and finishes. Models already in the set are reported
// once with Done and Cached and do not run again.
//
// opts gives per-model options; nil means the card's defaults. A
// ProbabilityOnly option is ignored (a comparison needs the mask), and a
// Progress callback in the options is called besides progress.
//
// Cancellation through ctx stops the running model within about one
// network layer; that model is not cached, the ones finished before stay,
// and ctx's error is returned. A model that fails for another reason (a
// broken file, an unknown name) does not stop the others: Run goes on and
// returns every such error joined, each naming its model.
func (s *Set) Run(ctx context.Context, reg Runner, names []string,
	opts func(*inference.Card) inference.Options, progress func(Progress)) error {
	if r, ok := reg.(*inference.Registry); reg == nil || ok && r == nil {
		return errors.New("comparison: no model registry")
	}
	if s.study == nil {
		return errors.New("comparison: no study")
	}
	select {
	case s.run <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-s.run }()
	report := func(p Progress) {
		if progress != nil {
			progress(p)
		}
	}
	var errs []error
	for i, name := range names {
		if err := ctx.Err(); err != nil {
			return err
		}
		if _, ok := s.Entry(name); ok {
			report(Progress{Model: name, Index: i, Total: len(names), Done: true, Cached: true, Stage: inference.StageDone})
			continue
		}
		c, err := reg.Lookup(name)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		o := c.DefaultOptions()
		if opts != nil {
			o = opts(c)
		}
		o.ProbabilityOnly = false
		inner := o.Progress
		o.Progress = func(st inference.Stage) {
			if inner != nil {
				inner(st)
			}
			if st != inference.StageDone {
				report(Progress{Model: name, Index: i, Total: len(names), Stage: st})
			}
		}
		res, err := reg.Run(ctx, s.study, name, o)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			errs = append(errs, fmt.Errorf("model %s: %w", name, err))
			continue
		}
		s.Put(EntryFromResult(c, res))
		report(Progress{Model: name, Index: i, Total: len(names), Done: true, Stage: inference.StageDone})
	}
	return errors.Join(errs...)
}

// Runner runs the models of a comparison: an *inference.Registry, or
// what wraps one (the window's tests count the runs through it).
type Runner interface {
	Lookup(name string) (*inference.Card, error)
	Run(ctx context.Context, v *volume.Volume, name string, o inference.Options) (*inference.Result, error)
}

// Entry returns the cached result of a model.
func (s *Set) Entry(name string) (*Entry, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.entries[name]
	return e, ok
}

// Entries returns the cached results in the order they were added.
func (s *Set) Entries() []*Entry {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*Entry, len(s.order))
	for i, n := range s.order {
		out[i] = s.entries[n]
	}
	return out
}

// Put adds a result computed elsewhere (the viewer's own student run), or
// replaces the entry of the same name (keeping its place in the order).
// The mask must lie on the study's grid; a nil entry or mask is ignored.
func (s *Set) Put(e *Entry) {
	if e == nil || e.Mask == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.entries[e.Name]; ok {
		s.forget(old.Mask)
	} else {
		s.order = append(s.order, e.Name)
	}
	s.entries[e.Name] = e
}

// Remove drops a model's result (a no-op when absent).
func (s *Set) Remove(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.entries[name]
	if !ok {
		return
	}
	s.forget(e.Mask)
	delete(s.entries, name)
	s.order = slices.DeleteFunc(s.order, func(n string) bool { return n == name })
}

// SetReference sets the reference mask (a manual segmentation on the
// study's grid); nil clears it.
func (s *Set) SetReference(m *volume.Mask) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ref != nil && s.ref != m {
		s.forget(s.ref)
	}
	s.ref = m
}

// Reference returns the reference mask, or nil.
func (s *Set) Reference() *volume.Mask {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ref
}

// forget drops the cached metrics and disagreement involving m. s.mu is
// held.
func (s *Set) forget(m *volume.Mask) {
	if s.disKey.a == m || s.disKey.b == m {
		s.dis, s.disKey = nil, pair{}
	}
	for k := range s.cache {
		if k.a == m || k.b == m {
			delete(s.cache, k)
		}
	}
}

// Row is one model's line of the comparison table.
type Row struct {
	Name     string
	Role     string
	Params   int64
	InferMS  float64
	TotalMS  float64
	VolumeML float64
	// VsTeacher is nil for the teacher itself or when there is no teacher
	// result; VsReference is nil without a reference. In both, the
	// model's mask is the prediction (Report.VolumeML) and the other the
	// reference (Report.RefVolumeML).
	VsTeacher   *metrics.Report
	VsReference *metrics.Report
}

// TeacherName is the name of the entry the others are compared with: the
// first entry whose role is "teacher", else one named "teacher"; "" when
// there is none.
func (s *Set) TeacherName() string {
	for _, e := range s.Entries() {
		if e.Role == "teacher" {
			return e.Name
		}
	}
	if _, ok := s.Entry("teacher"); ok {
		return "teacher"
	}
	return ""
}

// Table measures every entry (in Entries order) against the teacher and
// the reference. Each pair's metrics are computed once and cached until
// either mask is replaced; ctx is checked between pairs (one pair on a
// 512×512×150 study takes a few hundred ms at most).
func (s *Set) Table(ctx context.Context) ([]Row, error) {
	entries := s.Entries()
	ref := s.Reference()
	var teacher *Entry
	if t := s.TeacherName(); t != "" {
		teacher, _ = s.Entry(t)
	}
	rows := make([]Row, 0, len(entries))
	for _, e := range entries {
		r := Row{Name: e.Name, Role: e.Role, Params: e.Params, InferMS: e.InferMS, TotalMS: e.TotalMS, VolumeML: e.VolumeML}
		if teacher != nil && teacher != e {
			rep, err := s.compare(ctx, e.Mask, teacher.Mask)
			if err != nil {
				return nil, fmt.Errorf("%s against teacher %s: %w", e.Name, teacher.Name, err)
			}
			r.VsTeacher = &rep
		}
		if ref != nil {
			rep, err := s.compare(ctx, e.Mask, ref)
			if err != nil {
				return nil, fmt.Errorf("%s against the reference: %w", e.Name, err)
			}
			r.VsReference = &rep
		}
		rows = append(rows, r)
	}
	return rows, nil
}

// Compare measures model a (as prediction) against model b (as
// reference), through the same cache as Table: for the "any chosen pair"
// of a disagreement view. ReferenceName names the reference mask.
func (s *Set) Compare(ctx context.Context, a, b string) (metrics.Report, error) {
	ma, err := s.maskOf(a)
	if err != nil {
		return metrics.Report{}, err
	}
	mb, err := s.maskOf(b)
	if err != nil {
		return metrics.Report{}, err
	}
	return s.compare(ctx, ma, mb)
}

// compare returns the cached metrics of (pred, ref) or computes them. The
// lock is not held while computing, so two callers may both compute a
// pair the first time; both get the same numbers.
func (s *Set) compare(ctx context.Context, pred, ref *volume.Mask) (metrics.Report, error) {
	if err := ctx.Err(); err != nil {
		return metrics.Report{}, err
	}
	k := pair{pred, ref}
	s.mu.Lock()
	rep, ok := s.cache[k]
	s.mu.Unlock()
	if ok {
		return rep, nil
	}
	rep, err := metrics.Compare(pred, ref)
	if err != nil {
		return metrics.Report{}, err
	}
	s.mu.Lock()
	s.cache[k] = rep
	s.misses++
	s.mu.Unlock()
	return rep, nil
}

// ModelOrder lists the registry's models from the largest to the smallest
// (by parameters; by name on a tie): teacher, assistant, student100k,
// student for the shipped ones, the order to run and show them in.
func ModelOrder(reg *inference.Registry) []string {
	cards := slices.Clone(reg.Cards())
	slices.SortStableFunc(cards, func(a, b *inference.Card) int {
		switch {
		case a.Params > b.Params:
			return -1
		case a.Params < b.Params:
			return 1
		}
		return strings.Compare(a.Name, b.Name)
	})
	names := make([]string, len(cards))
	for i, c := range cards {
		names[i] = c.Name
	}
	return names
}

// Disagree is Disagree on the masks of models a and b (a's voxels are
// OnlyA), cached for the last pair asked (switching the disagreement view
// back and forth between two models is instant; older pairs are dropped
// to bound memory, a label map being as large as a mask). ReferenceName
// names the reference mask.
func (s *Set) Disagree(a, b string) (*Disagreement, error) {
	ma, err := s.maskOf(a)
	if err != nil {
		return nil, err
	}
	mb, err := s.maskOf(b)
	if err != nil {
		return nil, err
	}
	k := pair{ma, mb}
	s.mu.Lock()
	if s.dis != nil && s.disKey == k {
		d := s.dis
		s.mu.Unlock()
		return d, nil
	}
	s.mu.Unlock()
	d, err := Disagree(ma, mb)
	if err != nil {
		return nil, fmt.Errorf("%s against %s: %w", a, b, err)
	}
	s.mu.Lock()
	s.dis, s.disKey = d, k
	s.mu.Unlock()
	return d, nil
}

// maskOf is the mask of a model, or the reference for ReferenceName.
func (s *Set) maskOf(name string) (*volume.Mask, error) {
	if name == ReferenceName {
		if r := s.Reference(); r != nil {
			return r, nil
		}
		return nil, errors.New("no reference mask loaded")
	}
	e, ok := s.Entry(name)
	if !ok {
		return nil, fmt.Errorf("no result for model %s", name)
	}
	return e.Mask, nil
}
