package dicomio

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"sync"

	"github.com/liverseg/liverseg/volume"
)

// streamAhead is how many slices ReadSlices keeps in flight: enough for
// every reader to have work while the consumer handles one slice, few
// enough (8 MiB for 512×512 slices) to stay in the processor's cache.
const streamAhead = 16

// NeedsResampling reports whether the slices of s do not lie on a regular
// grid (gantry tilt, uneven spacing): Load then resamples the stack at the
// end, and ReadSlices refuses the series.
func (s *Series) NeedsResampling() bool { return s.geo.plan != nil }

// Info is the volume Info Load gives the series, known from its headers.
func (s *Series) Info() volume.Info { return seriesInfo(s) }

// SliceReader reads the slices of a series in HU (as Load does), in
// slice order, with runtime.NumCPU() readers a few slices ahead of the
// consumer. It is for a consumer that needs each slice once, such as a
// converter: no volume is allocated, so no memory is faulted in, and the
// pixels are copied once, from the file into a buffer that stays in the
// processor's cache while the consumer uses it.
type SliceReader struct {
	n, plane int
	bufs     [][]int16
	cancel   context.CancelFunc
	ctx      context.Context
	wg       sync.WaitGroup

	mu     sync.Mutex
	cond   *sync.Cond
	next   int   // next slice a reader takes
	used   int   // slices the consumer has finished with
	want   int   // the slice Slice must be asked for next
	filled []int // slot i holds slice filled[i]-1 (0: none yet)
	err    error
	// lohi is the range of each slot's slice, worked out by the reader
	// while the slice is in its core's cache; lo, hi of the slices handed
	// out so far.
	lohi   [][2]int16
	lo, hi int16
}

// ReadSlices starts reading s for a consumer that calls Slice(0),
// Slice(1)... in order, and Close at the end. A series that needs
// resampling is refused (use Load).
func ReadSlices(ctx context.Context, s *Series) (*SliceReader, error) {
	if s == nil || len(s.files) == 0 {
		return nil, errors.New("dicomio: read: empty series (was it built by Scan?)")
	}
	if err := s.LoadError(); err != nil {
		return nil, err
	}
	if s.geo.plan != nil {
		return nil, fmt.Errorf("dicomio: series %s: slices are not on a regular grid and must be resampled: use Load", s.Key)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	n := len(s.files)
	ahead := min(streamAhead, n)
	r := &SliceReader{n: n, plane: s.files[0].Cols * s.files[0].Rows, bufs: make([][]int16, ahead), filled: make([]int, ahead), lohi: make([][2]int16, ahead), ctx: ctx, lo: math.MaxInt16, hi: math.MinInt16}
	r.cond = sync.NewCond(&r.mu)
	for i := range r.bufs {
		r.bufs[i] = make([]int16, r.plane)
	}
	rctx, cancel := context.WithCancel(ctx)
	r.cancel = cancel
	cache := &loadCache{}
	for w := 0; w < min(runtime.NumCPU(), n); w++ {
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			for {
				k, ok := r.take()
				if !ok {
					return
				}
				if err := rctx.Err(); err != nil {
					r.stop(err)
					return
				}
				if err := readSliceBounded(s.files[k], r.bufs[k%ahead], cache); err != nil {
					r.stop(err)
					return
				}
				lo, hi := int16Range(r.bufs[k%ahead])
				r.mu.Lock()
				r.lohi[k%ahead] = [2]int16{lo, hi}
				r.filled[k%ahead] = k + 1
				r.cond.Broadcast()
				r.mu.Unlock()
			}
		}()
	}
	return r, nil
}

// take hands a reader the next slice once its buffer is free (the
// consumer is done with the slice len(bufs) before it).
func (r *SliceReader) take() (int, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	k := r.next
	if k >= r.n || r.err != nil {
		return 0, false
	}
	r.next++
	for k-r.used >= len(r.bufs) && r.err == nil {
		r.cond.Wait()
	}
	return k, r.err == nil
}

func (r *SliceReader) stop(err error) {
	r.mu.Lock()
	if r.err == nil {
		r.err = err
	}
	r.cond.Broadcast()
	r.mu.Unlock()
	r.cancel()
}

// Slice returns the voxels of slice k (Rows×Cols, in HU), waiting for
// them. Slices must be asked for in order, 0 first; the buffer returned is
// valid until the next call of Slice or Close. After an error (a file that
// cannot be read, a cancelled ctx) every call returns it.
func (r *SliceReader) Slice(k int) ([]int16, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if k != r.want || k >= r.n {
		return nil, fmt.Errorf("dicomio: slice %d asked for when slice %d of %d comes next", k, r.want, r.n)
	}
	// The previous slice is done with: its buffer may be refilled.
	r.used = k
	r.cond.Broadcast()
	slot := k % len(r.bufs)
	for r.filled[slot] != k+1 && r.err == nil {
		r.cond.Wait()
	}
	if r.err != nil {
		if cerr := r.ctx.Err(); cerr != nil {
			return nil, cerr
		}
		return nil, r.err
	}
	r.want = k + 1
	r.lo, r.hi = min(r.lo, r.lohi[slot][0]), max(r.hi, r.lohi[slot][1])
	return r.bufs[slot], nil
}

// Range is the lowest and highest HU of the slices Slice has returned.
func (r *SliceReader) Range() (lo, hi int16) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.lo, r.hi
}

// int16Range is the lowest and highest of vox (not empty), four lanes at
// a time: with one pair of accumulators each step waits for the previous.
func int16Range(vox []int16) (lo, hi int16) {
	l0, l1, l2, l3 := vox[0], vox[0], vox[0], vox[0]
	h0, h1, h2, h3 := l0, l0, l0, l0
	i := 0
	for ; i+4 <= len(vox); i += 4 {
		v := vox[i : i+4 : i+4]
		l0, h0 = min(l0, v[0]), max(h0, v[0])
		l1, h1 = min(l1, v[1]), max(h1, v[1])
		l2, h2 = min(l2, v[2]), max(h2, v[2])
		l3, h3 = min(l3, v[3]), max(h3, v[3])
	}
	for ; i < len(vox); i++ {
		l0, h0 = min(l0, vox[i]), max(h0, vox[i])
	}
	return min(l0, l1, l2, l3), max(h0, h1, h2, h3)
}

// Close stops the readers and waits for them.
func (r *SliceReader) Close() {
	r.stop(context.Canceled)
	r.wg.Wait()
}
