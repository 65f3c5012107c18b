package task

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// uiThread plays the UI thread: posted closures queue up and run only
// when the test pumps them, on the test goroutine.
type uiThread struct{ q chan func() }

func newUIThread() *uiThread { return &uiThread{q: make(chan func(), 100)} }

func (u *uiThread) post(fn func()) { u.q <- fn }

// runUntil runs posted closures until cond holds; it fails after a long
// timeout so that a bug fails the test instead of hanging it.
func (u *uiThread) runUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	timeout := time.After(time.Minute)
	for !cond() {
		select {
		case fn := <-u.q:
			fn()
		case <-timeout:
			t.Fatalf("%s: never happened", what)
		}
	}
}

// drain runs what was posted until the queue stays empty for a moment
// (used to show that something is never delivered).
func (u *uiThread) drain() {
	for {
		select {
		case fn := <-u.q:
			fn()
		case <-time.After(50 * time.Millisecond):
			return
		}
	}
}

func TestStart(t *testing.T) {
	type outcome struct {
		done     bool
		v        int
		err      error
		progress []int
		onUI     bool
	}
	tests := []struct {
		name string
		// run starts tasks in s (the UI thread's queue is ui) and returns
		// what the test's own task delivered once settled.
		run   func(t *testing.T, s *Slot, ui *uiThread) outcome
		check func(t *testing.T, o outcome)
	}{
		{
			name: "result handed to the UI thread",
			run: func(t *testing.T, s *Slot, ui *uiThread) outcome {
				var o outcome
				pumping := false
				Start(s, ui.post, func(*Task) (int, error) { return 42, nil }, func(v int, err error) {
					o.done, o.v, o.err, o.onUI = true, v, err, pumping
				})
				pumping = true
				ui.runUntil(t, "done", func() bool { return o.done })
				return o
			},
			check: func(t *testing.T, o outcome) {
				if o.v != 42 || o.err != nil || !o.onUI {
					t.Errorf("done got %d, %v (on the UI thread: %v); want 42, nil, true", o.v, o.err, o.onUI)
				}
			},
		},
		{
			name: "panic becomes an error",
			run: func(t *testing.T, s *Slot, ui *uiThread) outcome {
				var o outcome
				Start(s, ui.post, func(*Task) (int, error) {
					var m map[string]int
					m["x"] = 1 // a nil-map write: a runtime panic
					return 1, nil
				}, func(v int, err error) { o.done, o.v, o.err = true, v, err })
				ui.runUntil(t, "done", func() bool { return o.done })
				return o
			},
			check: func(t *testing.T, o outcome) {
				var pe *PanicError
				if !errors.As(o.err, &pe) || !strings.Contains(o.err.Error(), "nil map") || len(pe.Stack) == 0 {
					t.Errorf("done got error %v; want a *PanicError naming the nil map, with a stack", o.err)
				}
			},
		},
		{
			name: "progress delivered in order, then the result",
			run: func(t *testing.T, s *Slot, ui *uiThread) outcome {
				var o outcome
				Start(s, ui.post, func(tk *Task) (int, error) {
					for i := range 5 {
						tk.Post(func() { o.progress = append(o.progress, i) })
					}
					return 5, nil
				}, func(v int, err error) {
					o.done, o.v = true, v
					o.progress = append(o.progress, -1) // marks where done ran
				})
				ui.runUntil(t, "done", func() bool { return o.done })
				return o
			},
			check: func(t *testing.T, o outcome) {
				want := []int{0, 1, 2, 3, 4, -1}
				if len(o.progress) != len(want) {
					t.Fatalf("progress %v, want %v", o.progress, want)
				}
				for i := range want {
					if o.progress[i] != want[i] {
						t.Fatalf("progress %v, want %v", o.progress, want)
					}
				}
			},
		},
		{
			name: "PostAfter delivers while current, not after Cancel",
			run: func(t *testing.T, s *Slot, ui *uiThread) outcome {
				var o outcome
				block := make(chan struct{})
				tk := Start(s, ui.post, func(*Task) (int, error) { <-block; return 0, nil }, nil)
				tk.PostAfter(time.Millisecond, func() { o.progress = append(o.progress, 1) })
				ui.runUntil(t, "the delayed post", func() bool { return len(o.progress) == 1 })
				tk.PostAfter(time.Millisecond, func() { o.progress = append(o.progress, 2) })
				s.Cancel()
				close(block)
				ui.drain()
				return o
			},
			check: func(t *testing.T, o outcome) {
				if len(o.progress) != 1 || o.progress[0] != 1 {
					t.Errorf("delayed posts delivered %v, want [1]", o.progress)
				}
			},
		},
		{
			name: "After: the last of several in a row runs, a cancelled one never",
			run: func(t *testing.T, s *Slot, ui *uiThread) outcome {
				var o outcome
				for i := range 3 {
					After(s, ui.post, 20*time.Millisecond, func() { o.progress = append(o.progress, i) })
				}
				ui.runUntil(t, "the last delayed call", func() bool { return len(o.progress) > 0 })
				After(s, ui.post, time.Millisecond, func() { o.progress = append(o.progress, 9) })
				s.Cancel()
				ui.drain()
				return o
			},
			check: func(t *testing.T, o outcome) {
				if len(o.progress) != 1 || o.progress[0] != 2 {
					t.Errorf("delayed calls that ran: %v, want [2]", o.progress)
				}
			},
		},
		{
			name: "cancel: context cancelled, result and progress dropped",
			run: func(t *testing.T, s *Slot, ui *uiThread) outcome {
				var o outcome
				started, stopped := make(chan struct{}), make(chan error, 1)
				tk := Start(s, ui.post, func(tk *Task) (int, error) {
					close(started)
					<-tk.Context().Done()
					tk.Post(func() { o.progress = append(o.progress, 1) })
					stopped <- tk.Context().Err()
					return 0, tk.Context().Err()
				}, func(int, error) { o.done = true })
				<-started
				if !s.Running() {
					t.Error("Running is false while the task runs")
				}
				if !s.Cancel() {
					t.Error("Cancel reported no running task")
				}
				if err := <-stopped; !errors.Is(err, context.Canceled) {
					t.Errorf("the work's context ended with %v, want context.Canceled", err)
				}
				<-tk.Done() // closed once the cancelled work has returned
				if s.Last() != tk {
					t.Error("Last is not the task started last")
				}
				ui.drain()
				if s.Running() {
					t.Error("Running is true after Cancel")
				}
				return o
			},
			check: func(t *testing.T, o outcome) {
				if o.done || len(o.progress) > 0 {
					t.Errorf("a cancelled task delivered: done %v, progress %v", o.done, o.progress)
				}
			},
		},
		{
			name: "a newer task supersedes an older one",
			run: func(t *testing.T, s *Slot, ui *uiThread) outcome {
				var o outcome
				var oldDone bool
				release, oldCtx := make(chan struct{}), make(chan context.Context, 1)
				old := Start(s, ui.post, func(tk *Task) (int, error) {
					oldCtx <- tk.Context()
					<-release
					tk.Post(func() { o.progress = append(o.progress, 1) })
					return 1, nil
				}, func(int, error) { oldDone = true })
				ctx := <-oldCtx
				Start(s, ui.post, func(*Task) (int, error) { return 2, nil }, func(v int, err error) { o.done, o.v = true, v })
				if ctx.Err() == nil {
					t.Error("the older task's context was not cancelled by the newer Start")
				}
				if old.Current() {
					t.Error("the older task still reports itself current")
				}
				close(release)
				ui.runUntil(t, "the newer task's done", func() bool { return o.done })
				ui.drain()
				if oldDone {
					t.Error("the older task's result was delivered")
				}
				return o
			},
			check: func(t *testing.T, o outcome) {
				if o.v != 2 || len(o.progress) > 0 {
					t.Errorf("delivered %d and progress %v; want only the newer task's 2", o.v, o.progress)
				}
			},
		},
		{
			name: "Task.Cancel of a superseded task leaves the newer one alone",
			run: func(t *testing.T, s *Slot, ui *uiThread) outcome {
				var o outcome
				block := make(chan struct{})
				old := Start(s, ui.post, func(tk *Task) (int, error) { <-block; return 1, nil }, nil)
				Start(s, ui.post, func(tk *Task) (int, error) { <-block; return 2, nil }, func(v int, err error) { o.done, o.v = true, v })
				old.Cancel()
				if !s.Running() {
					t.Error("cancelling the superseded task stopped the newer one")
				}
				close(block)
				ui.runUntil(t, "done", func() bool { return o.done })
				return o
			},
			check: func(t *testing.T, o outcome) {
				if o.v != 2 {
					t.Errorf("delivered %d, want 2", o.v)
				}
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var s Slot
			tc.check(t, tc.run(t, &s, newUIThread()))
		})
	}
}
