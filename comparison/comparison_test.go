package comparison

import (
	"context"
	"errors"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/liverseg/liverseg/inference"
	"github.com/liverseg/liverseg/internal/testsupport/shareddata"
	"github.com/liverseg/liverseg/metrics"
	"github.com/liverseg/liverseg/nifti"
	"github.com/liverseg/liverseg/phantom"
	"github.com/liverseg/liverseg/volume"
)

// allModels is the order the UI runs them in.
var allModels = []string{"teacher", "assistant", "student", "student100k"}

// registry opens the shipped models in the real ONNX Runtime.
func registry(tb testing.TB) *inference.Registry {
	tb.Helper()
	if err := inference.InitRuntime(); err != nil {
		tb.Fatalf("these tests run the real ONNX Runtime: %v", err)
	}
	dir, err := inference.FindModelsDir()
	if err != nil {
		tb.Fatal(err)
	}
	reg, err := inference.OpenRegistry(dir, inference.RegistryOptions{})
	if err != nil {
		tb.Fatal(err)
	}
	for _, n := range allModels {
		if _, err := reg.Lookup(n); err != nil {
			tb.Fatalf("shipped model missing: %v", err)
		}
	}
	return reg
}

// study is chaos_ct01 with its manual liver label, or the phantom and its
// exact liver where ../shared/data is absent.
type study struct {
	name string
	ct   *volume.Volume
	ref  *volume.Mask
}

func loadStudy(tb testing.TB) study {
	tb.Helper()
	if shareddata.Root() == "" {
		tb.Log("../shared/data is absent: using the synthetic phantom (seed 1) instead of chaos_ct01")
		p := phantom.Generate(1)
		return study{"phantom-1", p.CT, p.Liver}
	}
	ct, err := nifti.Read(shareddata.Path(tb, "cases", "chaos_ct01", "ct.nii.gz"))
	if err != nil {
		tb.Fatal(err)
	}
	ref, err := nifti.ReadMask(shareddata.Path(tb, "cases", "chaos_ct01", "liver.nii.gz"))
	if err != nil {
		tb.Fatal(err)
	}
	if !ref.SameGridWithin(ct.Geometry, 1e-3) {
		tb.Fatalf("chaos_ct01 label and CT are on different grids")
	}
	ref.Geometry = ct.Geometry
	return study{"chaos_ct01", ct, ref}
}

// fixture is one Set with all four models run on the study, shared by the
// tests that only read it (running the four networks takes seconds).
var fixture struct {
	once  sync.Once
	st    study
	reg   *inference.Registry
	set   *Set
	first time.Duration // wall time of the Run that computed everything
	err   error
}

func fullSet(t *testing.T) (*Set, study, *inference.Registry) {
	t.Helper()
	fixture.once.Do(func() {
		fixture.st = loadStudy(t)
		fixture.reg = registry(t)
		fixture.set = NewSet(fixture.st.ct)
		t0 := time.Now()
		fixture.err = fixture.set.Run(context.Background(), fixture.reg, allModels, nil, nil)
		fixture.first = time.Since(t0)
	})
	if fixture.set == nil || fixture.err != nil {
		t.Fatalf("running the models: %v", fixture.err)
	}
	return fixture.set, fixture.st, fixture.reg
}

// TestRunCachesResults runs the four real models once, then again: the
// second Run must not run anything (every model reported Cached, the
// same entries, a fraction of the time).
func TestRunCachesResults(t *testing.T) {
	st := loadStudy(t)
	reg := registry(t)
	s := NewSet(st.ct)
	var events []Progress
	rec := func(p Progress) { events = append(events, p) }
	t0 := time.Now()
	if err := s.Run(context.Background(), reg, allModels, nil, rec); err != nil {
		t.Fatal(err)
	}
	first := time.Since(t0)

	// Every model started (inference stages) and finished, in order.
	var done []string
	for _, e := range events {
		if e.Total != len(allModels) || allModels[e.Index] != e.Model {
			t.Fatalf("bad progress %+v", e)
		}
		if e.Cached {
			t.Errorf("first run reports %s as cached", e.Model)
		}
		if e.Done {
			done = append(done, e.Model)
		}
	}
	if !slices.Equal(done, allModels) {
		t.Fatalf("models finished %v, want %v", done, allModels)
	}
	if !slices.ContainsFunc(events, func(p Progress) bool { return p.Model == "teacher" && p.Stage == inference.StageInfer && !p.Done }) {
		t.Errorf("no 'running network' progress for the teacher: %+v", events)
	}

	entries := s.Entries()
	if len(entries) != len(allModels) {
		t.Fatalf("%d entries", len(entries))
	}
	for i, e := range entries {
		c, _ := reg.Card(allModels[i])
		switch {
		case e.Name != c.Name || e.Role != c.Role || e.Params != c.Params:
			t.Errorf("entry %d: %s %s %d, card %s %s %d", i, e.Name, e.Role, e.Params, c.Name, c.Role, c.Params)
		case e.Mask == nil || !e.Mask.SameGridWithin(st.ct.Geometry, 1e-6) || len(e.Mask.Voxels) != st.ct.NumVoxels():
			t.Errorf("%s: mask not on the study's grid", e.Name)
		case !(e.InferMS > 0) || !(e.TotalMS >= e.InferMS):
			t.Errorf("%s: times network %.1f ms, total %.1f ms", e.Name, e.InferMS, e.TotalMS)
		case math.Abs(e.VolumeML-e.Mask.VolumeML()) > 1e-9 || e.VolumeML < 300 || e.VolumeML > 4000:
			t.Errorf("%s: volume %.1f mL (mask %.1f mL)", e.Name, e.VolumeML, e.Mask.VolumeML())
		}
		t.Logf("%-11s %8d params  network %6.1f ms  total %6.1f ms  %7.1f mL", e.Name, e.Params, e.InferMS, e.TotalMS, e.VolumeML)
	}

	events = nil
	t0 = time.Now()
	if err := s.Run(context.Background(), reg, allModels, nil, rec); err != nil {
		t.Fatal(err)
	}
	second := time.Since(t0)
	// Logged only (speed is shown by benchmarks): the events and entries
	// below say whether it was a cache hit.
	t.Logf("first Run %v, second Run %v (all cached)", first.Round(time.Millisecond), second)
	if len(events) != len(allModels) {
		t.Fatalf("second run: %d progress events, want one per model: %+v", len(events), events)
	}
	for _, e := range events {
		if !e.Cached || !e.Done {
			t.Errorf("second run: %+v is not a cache hit", e)
		}
	}
	for i, e := range s.Entries() {
		if e != entries[i] {
			t.Errorf("%s was replaced by the second run", e.Name)
		}
	}
}

// TestRunCancel cancels while the second model runs its network: the
// first stays cached, the second is not cached, and a later Run finishes
// the job without running the first again.
func TestRunCancel(t *testing.T) {
	st := loadStudy(t)
	reg := registry(t)
	s := NewSet(st.ct)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	names := []string{"student", "teacher", "assistant"}
	err := s.Run(ctx, reg, names, nil, func(p Progress) {
		if p.Model == "teacher" && p.Stage == inference.StageInfer {
			cancel()
		}
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled Run returned %v", err)
	}
	got := []string{}
	for _, e := range s.Entries() {
		got = append(got, e.Name)
	}
	if !slices.Equal(got, []string{"student"}) {
		t.Fatalf("after cancelling during the teacher: entries %v, want [student]", got)
	}
	student, _ := s.Entry("student")

	var ran []string
	if err := s.Run(context.Background(), reg, names, nil, func(p Progress) {
		if p.Done && !p.Cached {
			ran = append(ran, p.Model)
		}
	}); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ran, []string{"teacher", "assistant"}) {
		t.Errorf("resumed Run ran %v, want [teacher assistant]", ran)
	}
	if e, _ := s.Entry("student"); e != student {
		t.Error("the finished student was run again")
	}

	// A context cancelled before the start runs nothing.
	s2 := NewSet(st.ct)
	done, stop := context.WithCancel(context.Background())
	stop()
	if err := s2.Run(done, reg, names, nil, nil); !errors.Is(err, context.Canceled) || len(s2.Entries()) != 0 {
		t.Errorf("Run with a cancelled context: %v, %d entries", err, len(s2.Entries()))
	}
}

// TestRunErrors: an unknown model is reported by name and does not stop
// the others.
func TestRunErrors(t *testing.T) {
	st := loadStudy(t)
	reg := registry(t)
	s := NewSet(st.ct)
	err := s.Run(context.Background(), reg, []string{"nosuchmodel", "student"}, nil, nil)
	if err == nil || !strings.Contains(err.Error(), "nosuchmodel") {
		t.Fatalf("error %v does not name the unknown model", err)
	}
	if _, ok := s.Entry("student"); !ok {
		t.Error("the student did not run after the unknown model")
	}
	if err := NewSet(nil).Run(context.Background(), reg, []string{"student"}, nil, nil); err == nil {
		t.Error("Run without a study succeeded")
	}
}

// TestRunOptions: per-model options reach the run (a higher threshold
// gives a smaller liver than the card's default).
func TestRunOptions(t *testing.T) {
	set, st, reg := fullSet(t)
	s := NewSet(st.ct)
	err := s.Run(context.Background(), reg, []string{"student"}, func(c *inference.Card) inference.Options {
		o := c.DefaultOptions()
		o.Threshold = 0.9
		o.ProbabilityOnly = true // ignored: a comparison needs the mask
		return o
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	hi, _ := s.Entry("student")
	def, _ := set.Entry("student")
	if hi.Mask == nil || !(hi.VolumeML < def.VolumeML) {
		t.Errorf("threshold 0.9 gives %.1f mL, the default %.1f mL", hi.VolumeML, def.VolumeML)
	}
}

// TestTableMatchesMetrics: every Table value is the metrics package's
// answer for that pair, the teacher has no row against itself, and the
// reference columns come and go with SetReference.
func TestTableMatchesMetrics(t *testing.T) {
	set, st, _ := fullSet(t)
	ctx := context.Background()
	teacher, ok := set.Entry("teacher")
	if !ok || set.TeacherName() != "teacher" {
		t.Fatal("no teacher in the set")
	}
	rows, err := set.Table(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != len(allModels) {
		t.Fatalf("%d rows", len(rows))
	}
	for i, r := range rows {
		e, _ := set.Entry(allModels[i])
		if r.Name != e.Name || r.Role != e.Role || r.Params != e.Params || r.InferMS != e.InferMS || r.TotalMS != e.TotalMS || r.VolumeML != e.VolumeML {
			t.Errorf("row %d %+v does not describe entry %+v", i, r, e)
		}
		if r.VsReference != nil {
			t.Errorf("%s: reference metrics without a reference", r.Name)
		}
		if r.Name == "teacher" {
			if r.VsTeacher != nil {
				t.Error("the teacher is compared with itself")
			}
			continue
		}
		want, err := metrics.Compare(e.Mask, teacher.Mask)
		if err != nil {
			t.Fatal(err)
		}
		if r.VsTeacher == nil || *r.VsTeacher != want {
			t.Errorf("%s vs teacher: table %+v, metrics.Compare %+v", r.Name, r.VsTeacher, want)
		}
	}

	set.SetReference(st.ref)
	defer set.SetReference(nil)
	before := set.cacheMisses()
	rows, err = set.Table(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Every model against the new reference is a new pair; the pairs
	// against the teacher were computed above.
	if n := set.cacheMisses() - before; n != len(rows) {
		t.Errorf("Table with a new reference computed %d pairs, want %d (one per model)", n, len(rows))
	}
	for _, r := range rows {
		e, _ := set.Entry(r.Name)
		want, _ := metrics.Compare(e.Mask, st.ref)
		if r.VsReference == nil || *r.VsReference != want {
			t.Errorf("%s vs reference: table %+v, metrics.Compare %+v", r.Name, r.VsReference, want)
		}
		t.Logf("%-11s vs %s reference: Dice %.4f HD95 %.2f mm ASSD %.2f mm", r.Name, st.name, want.Dice, want.HD95MM, want.ASSDMM)
	}
	// Cached per pair: the same table again computes no metric.
	before = set.cacheMisses()
	again, err := set.Table(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n := set.cacheMisses() - before; n != 0 {
		t.Errorf("the same Table again computed %d pairs instead of reading the cache", n)
	}
	for i := range again {
		if *again[i].VsReference != *rows[i].VsReference {
			t.Errorf("%s: cached value differs", again[i].Name)
		}
	}

	set.SetReference(nil)
	rows, _ = set.Table(ctx)
	for _, r := range rows {
		if r.VsReference != nil {
			t.Errorf("%s: reference metrics after clearing the reference", r.Name)
		}
	}

	// A cancelled context stops a Table that has metrics to compute.
	s := NewSet(st.ct)
	for _, e := range set.Entries() {
		s.Put(e)
	}
	c, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.Table(c); !errors.Is(err, context.Canceled) {
		t.Errorf("Table with a cancelled context: %v", err)
	}
}

// TestPutReplaces: Put adds the app's own run and replacing an entry
// recomputes exactly its metrics.
func TestPutReplaces(t *testing.T) {
	set, st, reg := fullSet(t)
	ctx := context.Background()
	s := NewSet(st.ct)
	for _, e := range set.Entries() {
		s.Put(e)
	}
	if got := len(s.Entries()); got != len(allModels) {
		t.Fatalf("%d entries after Put", got)
	}
	before, err := s.Table(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// The app's student run at another threshold replaces the entry.
	card, _ := reg.Card("student")
	o := card.DefaultOptions()
	o.Threshold = 0.8
	res, err := reg.Run(ctx, st.ct, "student", o)
	if err != nil {
		t.Fatal(err)
	}
	s.Put(EntryFromResult(card, res))
	after, err := s.Table(ctx)
	if err != nil {
		t.Fatal(err)
	}
	teacher, _ := s.Entry("teacher")
	want, _ := metrics.Compare(res.Mask, teacher.Mask)
	for i := range after {
		if after[i].Name != before[i].Name {
			t.Fatalf("order changed: %s at %d, was %s", after[i].Name, i, before[i].Name)
		}
		if after[i].Name == "student" {
			if *after[i].VsTeacher != want || *after[i].VsTeacher == *before[i].VsTeacher {
				t.Errorf("student after Put: %+v, want %+v (before %+v)", after[i].VsTeacher, want, before[i].VsTeacher)
			}
		} else if after[i].VsTeacher != nil && *after[i].VsTeacher != *before[i].VsTeacher {
			t.Errorf("%s changed although its mask did not", after[i].Name)
		}
	}
	s.Remove("student")
	if _, ok := s.Entry("student"); ok || len(s.Entries()) != len(allModels)-1 {
		t.Error("Remove left the student")
	}
	// A mask on another grid is an error naming the model, not a panic.
	bad := volume.NewMask(volume.Identity([3]int{8, 8, 8}, [3]float64{1, 1, 1}))
	s.Put(&Entry{Name: "broken", Role: "student", Mask: bad})
	if _, err := s.Table(ctx); err == nil || !strings.Contains(err.Error(), "broken") {
		t.Errorf("a mask on another grid: %v", err)
	}
}

// TestConcurrentUse exercises the Set from several goroutines at once
// (run with -race): readers, Put, SetReference, Table and Disagree.
func TestConcurrentUse(t *testing.T) {
	set, st, _ := fullSet(t)
	s := NewSet(st.ct)
	entries := set.Entries()
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 3; i++ {
				e := entries[(g+i)%len(entries)]
				s.Put(e)
				if g%2 == 0 {
					s.SetReference(st.ref)
				} else {
					s.SetReference(nil)
				}
				if _, err := s.Table(context.Background()); err != nil {
					t.Error(err)
				}
				if _, err := s.Disagree(e.Name, e.Name); err != nil {
					t.Error(err)
				}
				_ = s.Entries()
				_, _ = s.Entry("teacher")
			}
		}(g)
	}
	wg.Wait()
	if got := len(s.Entries()); got != len(entries) {
		t.Errorf("%d entries after concurrent Puts of %d models", got, len(entries))
	}
}

// cacheMisses is how many metric pairs s has computed rather than read
// from its cache.
func (s *Set) cacheMisses() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.misses
}
