package parallel

import (
	"context"
	"runtime"
	"sync/atomic"
	"testing"
)

// TestEveryIndexOnce: each loop form visits every index of [0,n) exactly
// once, for sizes below, at and above the worker count.
func TestEveryIndexOnce(t *testing.T) {
	w := Workers()
	forms := []struct {
		name string
		run  func(n int, visit func(i int))
	}{
		{"For", func(n int, visit func(int)) {
			For(n, 0, func(lo, hi int) {
				for i := lo; i < hi; i++ {
					visit(i)
				}
			})
		}},
		{"For below minN", func(n int, visit func(int)) {
			For(n, n+1, func(lo, hi int) {
				for i := lo; i < hi; i++ {
					visit(i)
				}
			})
		}},
		{"ForN(3)", func(n int, visit func(int)) {
			ForN(3, n, func(lo, hi int) {
				for i := lo; i < hi; i++ {
					visit(i)
				}
			})
		}},
		{"Each", Each},
	}
	for _, f := range forms {
		for _, n := range []int{0, 1, 2, w - 1, w, w + 1, 7*w + 3, 1000} {
			if n < 0 {
				continue
			}
			seen := make([]atomic.Int32, n)
			f.run(n, func(i int) { seen[i].Add(1) })
			for i := range seen {
				if c := seen[i].Load(); c != 1 {
					t.Errorf("%s(n=%d): index %d visited %d times", f.name, n, i, c)
				}
			}
		}
	}
}

// TestWorkersFollowsGOMAXPROCS: the worker count is the scheduler's, so a
// run that lowers GOMAXPROCS gets no more goroutines than it asked for.
func TestWorkersFollowsGOMAXPROCS(t *testing.T) {
	old := runtime.GOMAXPROCS(1)
	defer runtime.GOMAXPROCS(old)
	if w := Workers(); w != 1 {
		t.Fatalf("Workers() = %d with GOMAXPROCS 1", w)
	}
	calls := 0 // not atomic: with one worker fn runs on one goroutine
	For(100, 0, func(lo, hi int) { calls++ })
	if calls != 1 {
		t.Errorf("For split 100 elements into %d chunks with GOMAXPROCS 1", calls)
	}
}

// TestEachContextStops: after cancellation no new index is handed out and
// the error is the context's.
func TestEachContextStops(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var ran atomic.Int64
	const n = 100000
	err := EachContext(ctx, n, func(i int) {
		if ran.Add(1) == 10 {
			cancel()
		}
	})
	if err != context.Canceled {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	// Each worker may finish the call it is in and no more.
	if got := ran.Load(); got > 10+int64(Workers()) {
		t.Errorf("%d calls ran, more than 10 + %d workers after cancel", got, Workers())
	}
}
