package dicomio

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"

	"github.com/liverseg/liverseg/internal/parallel"
	"github.com/liverseg/liverseg/volume"
)

// LoadOptions controls StartLoad.
type LoadOptions struct {
	// First lists slices (indices into Series.Files) to read before all
	// others, in this order: a viewer puts the slice it shows first, then
	// the slices a segmentation model reads. Out-of-range and repeated
	// indices are ignored; the rest follow in slice order.
	First []int
	// Progress, when not nil, is called from worker goroutines as in Load.
	Progress func(done, total int)
	// OnSlice, when not nil, is called from a worker goroutine right after
	// slice k has been stored (Loading.Ready(k) is then true).
	OnSlice func(k int)
	// BeforeRead, when not nil, is called from a worker goroutine before
	// slice k is read. It lets a caller pace the reader (a viewer's test
	// slows it down to watch a series fill in).
	BeforeRead func(k int)
	// Source, when not empty, replaces the volume's Info.Source (the path
	// the user opened). It is set before the reader starts: a load that
	// fails at once releases its volume, so Volume() may already be nil
	// when StartLoad returns.
	Source string
}

// Loading is a series being read in the background (StartLoad). Its
// volume exists from the start, with its final geometry and Info; when
// Direct is true the slices land in it one by one and slice k's voxels may
// be read once Ready(k) reports true, while other slices are still being
// written. Until then a slice holds whatever the memory held (the volume
// is not cleared first: see uninitialisedInt16s), so nothing may read it.
// Otherwise (gantry tilt or uneven spacing: the stack is resampled at the
// end) the voxels are valid only after Wait.
type Loading struct {
	s      *Series
	vol    atomic.Pointer[volume.Volume]
	direct bool
	ready  []atomic.Bool
	count  atomic.Int64
	mu     sync.Mutex
	cond   *sync.Cond // broadcast when a slice is stored and when the load ends
	done   chan struct{}
	cancel context.CancelFunc
	err    error // set before done is closed
}

// StartLoad allocates the volume of s and starts reading its slices in
// parallel (parallel.Workers() goroutines) in the order o asks for. It
// returns at once; Wait returns the volume or the first error. Cancelling
// ctx (or Cancel) stops the reading between slices.
func StartLoad(ctx context.Context, s *Series, o LoadOptions) (*Loading, error) {
	if s == nil || len(s.files) == 0 {
		return nil, errors.New("dicomio: load: empty series (was it built by Scan?)")
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := s.LoadError(); err != nil {
		return nil, err
	}
	g := s.geo.geom
	if err := g.Validate(); err != nil {
		return nil, fmt.Errorf("dicomio: series %s: %w", s.Key, err)
	}
	if int64(g.NumVoxels())*2 > maxVolumeBytes {
		return nil, fmt.Errorf("dicomio: series %s: %d×%d×%d voxels need more than the %d GiB limit per volume", s.Key, g.Size[0], g.Size[1], g.Size[2], maxVolumeBytes>>30)
	}
	plan := s.geo.plan
	if plan != nil {
		in := plan.inSize
		if int64(in[0])*int64(in[1])*int64(in[2])*2 > maxVolumeBytes {
			return nil, fmt.Errorf("dicomio: series %s: the slices as read exceed the %d GiB limit per volume", s.Key, maxVolumeBytes>>30)
		}
	}
	// Every voxel of a direct load is written by the slice read into it
	// (a failed load drops the volume): it needs no clearing first, which
	// for a large series would delay the first image (see
	// uninitialisedInt16s). A resampled volume is cleared as usual.
	var vox []int16
	if plan == nil {
		vox = uninitialisedInt16s(g.NumVoxels())
	} else {
		vox = make([]int16, g.NumVoxels())
	}
	adviseHuge(vox)
	v := &volume.Volume{Geometry: g, Voxels: vox, Info: seriesInfo(s)}
	if o.Source != "" {
		v.Info.Source = o.Source
	}
	lctx, cancel := context.WithCancel(ctx)
	l := &Loading{s: s, direct: plan == nil, ready: make([]atomic.Bool, len(s.files)), done: make(chan struct{}), cancel: cancel}
	l.cond = sync.NewCond(&l.mu)
	l.vol.Store(v)
	go l.run(lctx, ctx, o)
	return l, nil
}

// Geometry is the grid Load will return for the series (known from the
// headers, before any pixel is read).
func (s *Series) Geometry() volume.Geometry { return s.geo.geom }

// seriesInfo is the volume Info of a series, from its headers.
func seriesInfo(s *Series) volume.Info {
	f0 := s.files[0]
	in := volume.Info{
		Source:            filepath.Dir(f0.Path),
		PatientName:       s.PatientName,
		PatientID:         s.PatientID,
		StudyDate:         s.StudyDate,
		StudyDescription:  s.StudyDescription,
		SeriesDescription: s.SeriesDescription,
		Modality:          s.Modality,
		StudyInstanceUID:  f0.StudyUID,
		SeriesInstanceUID: f0.SeriesUID,
		FrameOfReference:  f0.FrameOfRefUID,
		SOPClassUID:       f0.SOPClassUID,
		SOPInstanceUIDs:   make([]string, len(s.files)),
		Warnings:          append([]string(nil), s.Warnings...),
		Assumed:           append([]string(nil), s.geo.assumed...),
	}
	for k, f := range s.files {
		in.SOPInstanceUIDs[k] = f.SOPInstanceUID
	}
	if p := s.geo.plan; p != nil && p.eq {
		// Interpolated slices come from no single image.
		in.SOPInstanceUIDs = nil
	}
	return in
}

// readOrder is First (valid, unrepeated) followed by every other slice.
func readOrder(n int, first []int) []int {
	order := make([]int, 0, n)
	taken := make([]bool, n)
	for _, k := range first {
		if k >= 0 && k < n && !taken[k] {
			taken[k] = true
			order = append(order, k)
		}
	}
	for k := 0; k < n; k++ {
		if !taken[k] {
			order = append(order, k)
		}
	}
	return order
}

func (l *Loading) run(lctx, ctx context.Context, o LoadOptions) {
	defer func() {
		l.mu.Lock()
		close(l.done)
		l.cond.Broadcast()
		l.mu.Unlock()
	}()
	defer l.cancel()
	s := l.s
	vol := l.vol.Load()
	stackVox := vol.Voxels
	plan := s.geo.plan
	if plan != nil {
		in := plan.inSize
		stackVox = uninitialisedInt16s(in[0] * in[1] * in[2]) // every slice is read into it
		adviseHuge(stackVox)
	}
	plane := s.files[0].Cols * s.files[0].Rows
	order := readOrder(len(s.files), o.First)
	var (
		errOnce  sync.Once
		firstErr error
	)
	cache := &loadCache{}
	perr := parallel.EachContext(lctx, len(order), func(i int) {
		k := order[i]
		if o.BeforeRead != nil {
			o.BeforeRead(k)
			if lctx.Err() != nil {
				return
			}
		}
		if err := readSliceBounded(s.files[k], stackVox[k*plane:(k+1)*plane], cache); err != nil {
			errOnce.Do(func() { firstErr = err; l.cancel() })
			return
		}
		if l.direct {
			l.mu.Lock()
			l.ready[k].Store(true)
			l.cond.Broadcast()
			l.mu.Unlock()
		}
		n := int(l.count.Add(1))
		if o.OnSlice != nil {
			o.OnSlice(k)
		}
		if o.Progress != nil {
			o.Progress(n, len(s.files))
		}
	})
	switch {
	case ctx.Err() != nil:
		l.err = ctx.Err()
	case firstErr != nil:
		l.err = firstErr
	case perr != nil:
		l.err = perr
	}
	if l.err != nil {
		l.vol.Store(nil) // a failed or cancelled load keeps nothing
		return
	}
	if plan != nil {
		plan.apply(stackVox, vol.Voxels, vol.Size)
		for k := range l.ready {
			l.ready[k].Store(true)
		}
	}
}

// Volume is the volume being filled: final geometry and Info at once,
// voxels as Direct and Ready say. It is nil after a failed or cancelled
// load has ended.
func (l *Loading) Volume() *volume.Volume { return l.vol.Load() }

// Direct reports whether slices land in Volume one by one (false when the
// stack is resampled onto a regular grid at the end).
func (l *Loading) Direct() bool { return l.direct }

// Ready reports whether slice k (Series.Files order, which is the volume's
// k) holds its final voxels.
func (l *Loading) Ready(k int) bool { return k >= 0 && k < len(l.ready) && l.ready[k].Load() }

// WaitSlice blocks until slice k (of the slices as read: for a Direct
// load, the volume's slice k) holds its final voxels (at once for a
// Direct load, at the end otherwise) and returns nil, or returns the
// load's error when it fails or is cancelled first. A writer uses it to
// write slice k while later slices are still being read.
func (l *Loading) WaitSlice(k int) error {
	if k < 0 || k >= len(l.ready) {
		return fmt.Errorf("dicomio: slice %d of a %d-slice series", k, len(l.ready))
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for !l.ready[k].Load() {
		select {
		case <-l.done:
			if l.err != nil {
				return l.err
			}
			if !l.ready[k].Load() {
				return fmt.Errorf("dicomio: slice %d was not read", k)
			}
			return nil
		default:
		}
		l.cond.Wait()
	}
	return nil
}

// Count is how many slices have been read, of how many.
func (l *Loading) Count() (done, total int) { return int(l.count.Load()), len(l.ready) }

// Done is closed when the load has finished, failed or been cancelled.
func (l *Loading) Done() <-chan struct{} { return l.done }

// Cancel stops the load; Wait then returns context.Canceled.
func (l *Loading) Cancel() { l.cancel() }

// Wait blocks until the load ends and returns the volume, or the first
// error (ctx.Err() when cancelled).
func (l *Loading) Wait() (*volume.Volume, error) {
	<-l.done
	if l.err != nil {
		return nil, l.err
	}
	return l.vol.Load(), nil
}
