// Package task runs a window's background work. One kind of work (a
// model run, a load, a table's measurement) has one Slot; starting a task
// in a slot supersedes the task before it there: the older task's context
// is cancelled and whatever it still hands to the UI thread is dropped.
// Everything a task hands over (its progress, its result) runs later on
// the UI thread, through the post function the window gives (fyne.Do in
// the app, a queue the tests pump). A panic in the work becomes an error
// handed to done, so a bug in one task is reported to the user instead of
// taking the window down.
//
// Slots are safe for use from any goroutine, but they are meant to be
// started and cancelled from the UI thread, where done runs too: then a
// task that done sees as current is the slot's latest, and nothing newer
// can start between that check and done.
package task

import (
	"context"
	"fmt"
	"os"
	"runtime/debug"
	"sync"
	"time"
)

// Post runs fn later on the UI thread.
type Post func(fn func())

// Slot holds the one current task of a kind. The zero Slot is ready.
type Slot struct {
	mu      sync.Mutex
	gen     uint64 // bumped by every Start and Cancel: a task is current while its gen is the slot's
	cancel  context.CancelFunc
	running bool  // the current task's done has not run yet
	last    *Task // the task started last
}

// Task is a started task, as its work and its starter see it.
type Task struct {
	ctx  context.Context
	slot *Slot
	gen  uint64
	post Post
	done chan struct{} // closed when the work has returned and its result is posted
}

// PanicError is what done receives when the work panicked.
type PanicError struct {
	Value any
	Stack []byte
}

func (e *PanicError) Error() string { return fmt.Sprintf("internal error: %v", e.Value) }

// Start runs work on a new goroutine as the slot's current task,
// superseding the task before it (its context is cancelled, its late
// hand-offs are dropped). When work returns, done gets its result on the
// UI thread, unless a newer task started or the slot was cancelled
// meanwhile. A panic in work reaches done as a *PanicError. done may be
// nil.
func Start[T any](s *Slot, post Post, work func(t *Task) (T, error), done func(T, error)) *Task {
	ctx, cancel := context.WithCancel(context.Background())
	s.mu.Lock()
	if s.cancel != nil {
		s.cancel()
	}
	s.gen++
	s.cancel = cancel
	s.running = true
	t := &Task{ctx: ctx, slot: s, gen: s.gen, post: post, done: make(chan struct{})}
	s.last = t
	s.mu.Unlock()
	go func() {
		defer close(t.done)
		v, err := protect(t, work)
		t.Post(func() {
			s.mu.Lock()
			if s.gen == t.gen {
				s.running = false
				s.cancel = nil
			}
			s.mu.Unlock()
			cancel() // the work is over: release the context
			if done != nil {
				done(v, err)
			}
		})
		// A superseded task's done is dropped; its context was cancelled
		// by the Start or Cancel that superseded it.
	}()
	return t
}

// Go runs work as a task of its own kind, which nothing supersedes (a
// file written where the user asked: a second one is not a newer version
// of the first). done gets the result on the UI thread, as with Start.
func Go[T any](post Post, work func(t *Task) (T, error), done func(T, error)) *Task {
	return Start(new(Slot), post, work, done)
}

// After runs fn on the UI thread after d, as the slot's task: a newer
// task in the slot or Cancel before then drops it, so the last of several
// calls in a row is the one that runs (a debounce), and a delay that is
// no longer wanted is called off with Cancel.
func After(s *Slot, post Post, d time.Duration, fn func()) *Task {
	return Start(s, post, func(t *Task) (struct{}, error) {
		timer := time.NewTimer(d)
		defer timer.Stop()
		select {
		case <-timer.C:
			return struct{}{}, nil
		case <-t.Context().Done():
			return struct{}{}, t.Context().Err()
		}
	}, func(struct{}, error) { fn() })
}

// protect runs work, turning a panic into a *PanicError.
func protect[T any](t *Task, work func(t *Task) (T, error)) (v T, err error) {
	defer func() {
		if r := recover(); r != nil {
			stack := debug.Stack()
			// The stack goes to stderr for whoever reports the bug; the
			// user sees the error's message.
			fmt.Fprintf(os.Stderr, "liverseg: panic in a background task: %v\n%s", r, stack)
			err = &PanicError{Value: r, Stack: stack}
		}
	}()
	return work(t)
}

// Cancel cancels the current task, if any, and drops what it hands over
// from now on. It reports whether a task was running.
func (s *Slot) Cancel() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	was := s.running
	s.gen++
	s.running = false
	if s.cancel != nil {
		s.cancel()
		s.cancel = nil
	}
	return was
}

// Last is the task started last in the slot (current or not), nil before
// the first.
func (s *Slot) Last() *Task {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last
}

// Running reports whether the slot's current task has not finished (its
// done has not run and it was not cancelled).
func (s *Slot) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.running
}

// Context is cancelled when the task is superseded or cancelled, and
// after its done has run.
func (t *Task) Context() context.Context { return t.ctx }

// Done is closed when the work has returned and its result (if still
// wanted) has been posted to the UI thread: what waits for a task to be
// over, such as a window closing, waits on it.
func (t *Task) Done() <-chan struct{} { return t.done }

// Current reports whether the task is still its slot's current one.
func (t *Task) Current() bool {
	t.slot.mu.Lock()
	defer t.slot.mu.Unlock()
	return t.slot.gen == t.gen
}

// Post runs fn on the UI thread, unless the task is no longer current
// by then: it is how work reports progress.
func (t *Task) Post(fn func()) {
	t.post(func() {
		if t.Current() {
			fn()
		}
	})
}

// PostAfter runs fn on the UI thread after d, unless the task is no
// longer current by then (a progress bar that shows only when work
// lasts).
func (t *Task) PostAfter(d time.Duration, fn func()) {
	time.AfterFunc(d, func() { t.Post(fn) })
}

// Cancel cancels t if it is still its slot's current task.
func (t *Task) Cancel() {
	s := t.slot
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.gen != t.gen {
		return
	}
	s.gen++
	s.running = false
	if s.cancel != nil {
		s.cancel()
		s.cancel = nil
	}
}
