package app

import (
	"sync"
	"testing"
	"time"

	"github.com/liverseg/liverseg/internal/task"
)

// The tests emulate Fyne's main thread. Fyne's test driver runs fyne.Do at
// once on the calling goroutine, so the app's background goroutines
// (loading, inference, the post-processing worker, comparison, export,
// reference reading) would update widgets while the test goroutine reads
// and taps them. Instead UI.do posts to mainQueue here, and the test
// goroutine, playing the main thread, runs what was posted, in order,
// whenever it waits (waitFor, sleepPumping, pump). Callbacks such as
// onRunDone fire inside those closures, so they fire only while the test
// pumps; every wait therefore pumps, and fails with a message after its
// timeout rather than hang.
var mainQueue = struct {
	mu    sync.Mutex
	fns   []posted
	ended map[*UI]bool // windows whose test is over: what they post is dropped
	wake  chan struct{}
}{ended: map[*UI]bool{}, wake: make(chan struct{}, 1)}

type posted struct {
	u  *UI
	fn func()
}

func init() {
	uiDo = func(u *UI, fn func()) {
		mainQueue.mu.Lock()
		mainQueue.fns = append(mainQueue.fns, posted{u, fn})
		mainQueue.mu.Unlock()
		select {
		case mainQueue.wake <- struct{}{}:
		default:
		}
	}
}

// endUI drops whatever u's late background goroutines post from now on:
// its test is over, and a later test must not run them (their callbacks
// would send to channels nobody reads).
func endUI(u *UI) {
	mainQueue.mu.Lock()
	mainQueue.ended[u] = true
	mainQueue.mu.Unlock()
}

// runOne runs the oldest posted closure of a live window on the calling
// (test) goroutine and reports whether there was one.
func runOne() bool {
	mainQueue.mu.Lock()
	for len(mainQueue.fns) > 0 {
		p := mainQueue.fns[0]
		mainQueue.fns[0] = posted{}
		mainQueue.fns = mainQueue.fns[1:]
		if mainQueue.ended[p.u] {
			continue
		}
		mainQueue.mu.Unlock()
		p.fn()
		return true
	}
	mainQueue.mu.Unlock()
	return false
}

// pump runs everything posted so far (and what that posts in turn).
func pump() {
	for runOne() {
	}
}

// waitFor returns the next value from ch, running what the background
// goroutines post meanwhile; it fails the test after timeout. It returns as
// soon as ch is ready, before the closures posted after the one that made
// it so, as the main thread would hand control back to the test's event.
func waitFor[T any](t testing.TB, ch <-chan T, timeout time.Duration, what string) T {
	t.Helper()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		select {
		case v := <-ch:
			return v
		default:
		}
		if runOne() {
			continue
		}
		select {
		case v := <-ch:
			return v
		case <-mainQueue.wake:
		case <-timer.C:
			t.Fatalf("%s: not done after %v", what, timeout)
		}
	}
}

// waitUntil runs what is posted until cond holds, checking it after each
// closure; it fails the test after timeout (a guard against a hang, not a
// measure of speed).
func waitUntil(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	if !settleWithin(timeout, cond) {
		t.Fatalf("%s: not done after %v", what, timeout)
	}
}

// settleWithin runs what is posted until cond holds (true) or timeout
// passes (cond's last answer).
func settleWithin(timeout time.Duration, cond func() bool) bool {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for !cond() {
		if runOne() {
			continue
		}
		select {
		case <-mainQueue.wake:
		case <-timer.C:
			return cond()
		}
	}
	return true
}

// waitIdle waits until the slot's latest task is over and its result
// handed over: it waits for that task's work to return, runs what was
// posted (the result included), and does so again when that started a
// newer task in the slot meanwhile.
func waitIdle(t testing.TB, s *task.Slot, what string) {
	t.Helper()
	for {
		tk := s.Last()
		if tk == nil {
			t.Fatalf("%s: never started", what)
		}
		waitFor(t, tk.Done(), 3*time.Minute, what)
		pump()
		if s.Last() == tk {
			return
		}
	}
}

// sleepPumping waits for d, running what is posted meanwhile.
func sleepPumping(d time.Duration) {
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		pump()
		select {
		case <-mainQueue.wake:
		case <-timer.C:
			pump()
			return
		}
	}
}
