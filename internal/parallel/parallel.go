// Package parallel splits a loop over the CPUs: the surface extraction,
// the volumetry and the 3D renderer all run per-element work that is
// independent from element to element.
package parallel

import (
	"runtime"
	"sync"
)

// For runs fn over [0,n) in GOMAXPROCS contiguous chunks, each on its own
// goroutine, and waits for them; below minN elements (where starting
// goroutines costs more than it saves) it calls fn(0, n) directly.
func For(n, minN int, fn func(lo, hi int)) {
	w := runtime.GOMAXPROCS(0)
	if n < minN || w == 1 {
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
