// Package parallel is the one way LiverSeg spreads a loop over the CPUs:
// contiguous chunks (For, ForN) for loops whose elements cost about the
// same (voxels, rows, slices of a resampling), and indices handed out one at
// a time (Each, EachContext) for elements of uneven cost (files to parse,
// phantom slices). Users: volumetry, surfaces, the 3D renderer, the
// phantom, inference pre- and post-processing, the distance transform of
// metrics, dicomio's scan and progressive load.
package parallel

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
)

// Workers is how many goroutines a loop runs: runtime.GOMAXPROCS(0).
//
// GOMAXPROCS rather than runtime.NumCPU: it is how many goroutines Go runs
// at once. By default it equals the CPUs this process may use (NumCPU, or
// a container's CPU limit since Go 1.25), and it is what a user or a test
// lowers to bound the process (GOMAXPROCS=1, go test -cpu); goroutines
// beyond it only wait for a turn, and a loop that ignores it would
// oversubscribe exactly the runs that asked for less.
func Workers() int { return runtime.GOMAXPROCS(0) }

// For runs fn over [0,n) in Workers() contiguous chunks, each on its own
// goroutine, and waits for them; below minN elements (where starting
// goroutines costs more than it saves) it calls fn(0, n) directly.
func For(n, minN int, fn func(lo, hi int)) {
	if n < minN {
		fn(0, n)
		return
	}
	ForN(Workers(), n, fn)
}

// ForN is For on at most workers goroutines, for a caller that shares the
// cores between loops running side by side (metrics runs two distance
// transforms at once, each on half). The chunks are [p·n/w, (p+1)·n/w).
func ForN(workers, n int, fn func(lo, hi int)) {
	w := min(workers, n)
	if w <= 1 {
		fn(0, n)
		return
	}
	var wg sync.WaitGroup
	for p := 0; p < w; p++ {
		lo, hi := p*n/w, (p+1)*n/w
		wg.Add(1)
		go func() { defer wg.Done(); fn(lo, hi) }()
	}
	wg.Wait()
}

// Each runs fn(i) for every i in [0,n) on Workers() goroutines, handing
// out indices one at a time so that uneven elements balance, and waits.
func Each(n int, fn func(i int)) { _ = EachContext(context.Background(), n, fn) }

// EachContext is Each that stops handing out indices once ctx is done (the
// calls already running finish) and then returns ctx.Err().
func EachContext(ctx context.Context, n int, fn func(i int)) error {
	w := min(Workers(), n)
	var next atomic.Int64
	var wg sync.WaitGroup
	for p := 0; p < w; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				fn(i)
			}
		}()
	}
	wg.Wait()
	return ctx.Err()
}
