package dicomio

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"sync"
	"time"
	"unsafe"

	"github.com/liverseg/liverseg/volume"
)

// Load reads the pixels of a scanned series into an int16 volume in
// Hounsfield units (RescaleSlope/Intercept applied, rounded and clamped to
// int16; PixelRepresentation and BitsStored honoured).
//
// Slices are decoded by parallel.Workers() (GOMAXPROCS) goroutines; progress, when not nil,
// is called from those worker goroutines (concurrently, done counting up to
// total) and must be safe for that, e.g. use fyne.Do for UI updates.
// Cancelling ctx stops the load between files and returns ctx.Err().
//
// The geometry problems found by Scan (Series.Warnings) are copied into
// Info.Warnings; they must be shown to the user.
func Load(ctx context.Context, s *Series, progress func(done, total int)) (*volume.Volume, error) {
	l, err := StartLoad(ctx, s, LoadOptions{Progress: progress})
	if err != nil {
		return nil, err
	}
	return l.Wait()
}

// LoadPath scans path (a file or a folder) and loads its largest
// non-localizer image series. It is the convenience entry for the CLI and
// tests; progress is called for the scan, then for the load (total
// changes), from worker goroutines.
func LoadPath(ctx context.Context, path string, progress func(done, total int)) (*volume.Volume, *Catalog, error) {
	l, cat, err := StartLoadPath(ctx, path, progress)
	if err != nil {
		return nil, cat, err
	}
	v, err := l.Wait()
	if err != nil {
		return nil, cat, err
	}
	return v, cat, nil
}

// StartLoadPath is LoadPath that returns as soon as the reading has
// started (see StartLoad), so that a caller can use the first slices
// while the others are being read.
func StartLoadPath(ctx context.Context, path string, progress func(done, total int)) (*Loading, *Catalog, error) {
	cat, err := Scan(ctx, []string{path}, progress)
	if err != nil {
		return nil, nil, err
	}
	var pick *Series
	for _, s := range cat.Series {
		if !s.IsLocalizer {
			pick = s // Series are sorted largest first
			break
		}
	}
	if pick == nil {
		why := "no image files"
		if len(cat.Series) > 0 {
			why = "only localizer images"
		} else if len(cat.Skipped) > 0 {
			why = fmt.Sprintf("no image files (%d file(s) skipped, first: %s: %s)", len(cat.Skipped), cat.Skipped[0].Path, cat.Skipped[0].Reason)
		}
		return nil, cat, fmt.Errorf("dicomio: %s: no loadable image series: %s", path, why)
	}
	l, err := StartLoad(ctx, pick, LoadOptions{Progress: progress, Source: path})
	if err != nil {
		return nil, cat, err
	}
	return l, cat, nil
}

// perSliceTimeout bounds decoding one slice; a frame that makes a codec
// spin fails the load with a clear error instead of hanging it.
var perSliceTimeout = 60 * time.Second

// readSliceBounded is readSlice with a time bound. On timeout the decoding
// goroutine is abandoned and writes, when it ends, into a volume that Load
// has already discarded.
func readSliceBounded(fi *fileInfo, dst []int16, cache *loadCache) error {
	ch := make(chan error, 1)
	go func() {
		// The goroutine owns its buffer: after a timeout it may still be
		// using it, so it goes back to the pool only from here.
		buf := sliceBufs.Get().(*[]byte)
		defer sliceBufs.Put(buf)
		ch <- safely(fi.label(), func() error { return readSlice(fi, dst, buf, cache) })
	}()
	t := time.NewTimer(perSliceTimeout)
	defer t.Stop()
	select {
	case err := <-ch:
		return err
	case <-t.C:
		return fmt.Errorf("dicomio: %s: decoding took more than %v: given up", fi.label(), perSliceTimeout)
	}
}

// sliceBufs holds per-worker byte buffers for 8- and 32-bit slices (16-bit
// slices are read straight into the volume).
var sliceBufs = sync.Pool{New: func() any { return new([]byte) }}

// fileCache holds what the slices of one file share during a Load: the
// inflated dataset of a deflated file and the frame index of encapsulated
// pixel data, worked out once however many frames the file has.
type fileCache struct {
	once sync.Once
	ds   []byte
	fx   *frameIndex
	err  error
}

type loadCache struct {
	mu sync.Mutex
	m  map[string]*fileCache
}

func (c *loadCache) get(path string) *fileCache {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]*fileCache{}
	}
	fc := c.m[path]
	if fc == nil {
		fc = &fileCache{}
		c.m[path] = fc
	}
	return fc
}

// readSlice decodes one file's (or frame's) pixels into dst (Rows×Cols int16 HU).
func readSlice(fi *fileInfo, dst []int16, buf *[]byte, cache *loadCache) error {
	f, err := os.Open(fi.Path)
	if err != nil {
		return fmt.Errorf("dicomio: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("dicomio: %w", err)
	}
	if st.Size() != fi.size || st.ModTime().UnixNano() != fi.modTime {
		return fmt.Errorf("dicomio: %s changed on disk since it was scanned; scan again", fi.Path)
	}
	lay := fi.lay
	var src io.ReaderAt = f
	size := st.Size()
	var fc *fileCache
	if lay.deflated || lay.pixLen < 0 {
		fc = cache.get(fi.Path)
		fc.once.Do(func() {
			if lay.deflated {
				_, fc.ds, fc.err = readLayout(f, size)
				if fc.err != nil {
					return
				}
			}
			if lay.pixLen < 0 {
				var s io.ReaderAt = f
				n := size
				if fc.ds != nil {
					s, n = bytes.NewReader(fc.ds), int64(len(fc.ds))
				}
				fc.fx, fc.err = indexFrames(s, n, lay, lay.ts, max(fi.Frames, 1))
			}
		})
		if fc.err != nil {
			return fmt.Errorf("dicomio: %s: %w", fi.Path, fc.err)
		}
		if fc.ds != nil {
			src, size = bytes.NewReader(fc.ds), int64(len(fc.ds))
		}
	}
	if lay.pixLen < 0 {
		return readEncapsulated(fi, src, fc.fx, dst)
	}
	frameLen := int64(fi.Rows) * int64(fi.Cols) * int64(fi.BitsAllocated/8)
	n := int(frameLen)
	if int64(fi.frame+1)*frameLen > lay.pixLen {
		return fmt.Errorf("dicomio: %s: pixel data holds %d bytes, %d frame(s) of %d×%d×%d bits need %d", fi.label(), lay.pixLen, max(fi.Frames, 1), fi.Cols, fi.Rows, fi.BitsAllocated, int64(max(fi.Frames, 1))*frameLen)
	}
	pixOff := lay.pixOff + int64(fi.frame)*frameLen
	// Check the Pixel Data tag is still where Scan saw it: a cheap guard
	// against a file rewritten in place with the same size and time.
	var tagb [4]byte
	if _, err := src.ReadAt(tagb[:], lay.pixTagOff); err != nil {
		return fmt.Errorf("dicomio: %s: reading pixel data: %w", fi.Path, err)
	}
	if t := uint32(lay.sx.bo.Uint16(tagb[:]))<<16 | uint32(lay.sx.bo.Uint16(tagb[2:])); t != tagPixelData {
		return fmt.Errorf("dicomio: %s: pixel data not found where Scan saw it; scan again", fi.Path)
	}
	if fi.BitsAllocated == 16 {
		// Read the words straight into the volume and convert in place:
		// no intermediate buffer, one pass over memory.
		raw := unsafe.Slice((*byte)(unsafe.Pointer(&dst[0])), 2*len(dst))
		if err := readFull(src, raw, pixOff, size); err != nil {
			return fmt.Errorf("dicomio: %s: reading pixel data: %w", fi.label(), err)
		}
		convert16InPlace(fi, dst, lay.sx.bo != hostOrder)
		return nil
	}
	if cap(*buf) < n {
		*buf = make([]byte, n)
	}
	b := (*buf)[:n]
	if err := readFull(src, b, pixOff, size); err != nil {
		return fmt.Errorf("dicomio: %s: reading pixel data: %w", fi.label(), err)
	}
	convertNative(fi, b, lay.sx.bo, dst)
	return nil
}

// readFull fills b from off; io.EOF exactly at the end of the file is fine.
func readFull(src io.ReaderAt, b []byte, off, size int64) error {
	n, err := src.ReadAt(b, off)
	if n == len(b) && (err == nil || errors.Is(err, io.EOF)) {
		return nil
	}
	if err == nil || errors.Is(err, io.EOF) {
		err = fmt.Errorf("file ends after %d of %d pixel bytes (file size %d)", n, len(b), size)
	}
	return err
}

// hostOrder is the byte order of this machine, for reading words in place.
var hostOrder binary.ByteOrder = func() binary.ByteOrder {
	x := uint16(1)
	if *(*byte)(unsafe.Pointer(&x)) == 1 {
		return binary.LittleEndian
	}
	return binary.BigEndian
}()

var (
	lutMu    sync.Mutex
	lutCache = map[pixelMap]*[65536]int16{}
)

// lut16 is the stored-value → HU table of a pixel map, cached because a
// series normally has one or a few distinct maps.
func lut16(m pixelMap) *[65536]int16 {
	lutMu.Lock()
	defer lutMu.Unlock()
	if t, ok := lutCache[m]; ok {
		return t
	}
	if len(lutCache) >= 64 {
		clear(lutCache) // bound the cache: 128 KiB per table
	}
	t := new([65536]int16)
	for w := range t {
		t[w] = m.value(uint32(w))
	}
	lutCache[m] = t
	return t
}

// convert16InPlace turns raw 16-bit words (already in dst, byte-swapped
// when swap) into HU.
func convert16InPlace(fi *fileInfo, dst []int16, swap bool) {
	m := newPixelMap(fi)
	u := unsafe.Slice((*uint16)(unsafe.Pointer(&dst[0])), len(dst))
	if swap {
		for i, w := range u {
			u[i] = w>>8 | w<<8
		}
	}
	if m.signed && m.fastInt && m.intICP == 0 && m.shift == 0 && m.mask == 0xFFFF {
		return // signed 16-bit HU stored as is: nothing to do
	}
	// One table lookup per pixel: branch-free and the same speed whatever
	// the masking, sign and rescale are.
	lut := lut16(m)
	for i, w := range u {
		dst[i] = lut[w]
	}
}

// pixelMap turns a stored value into HU: masking to BitsStored, sign
// extension for PixelRepresentation 1, then slope/intercept.
type pixelMap struct {
	shift      uint
	mask       uint32
	signBit    uint32
	signed     bool
	slope, icp float64
	intICP     int32 // intercept when slope == 1 and the intercept is whole
	fastInt    bool
}

func newPixelMap(fi *fileInfo) pixelMap {
	bs := fi.BitsStored
	if bs <= 0 || bs > fi.BitsAllocated {
		bs = fi.BitsAllocated
	}
	hb := fi.HighBit
	if hb < bs-1 || hb >= fi.BitsAllocated {
		hb = bs - 1
	}
	m := pixelMap{
		shift:   uint(hb + 1 - bs),
		mask:    uint32(uint64(1)<<uint(bs) - 1),
		signBit: uint32(1) << uint(bs-1),
		signed:  fi.PixelRepresentation == 1,
		slope:   fi.Slope,
		icp:     fi.Intercept,
	}
	if fi.Slope == 1 && fi.Intercept == math.Trunc(fi.Intercept) && math.Abs(fi.Intercept) < 1<<20 {
		m.fastInt, m.intICP = true, int32(fi.Intercept)
	}
	return m
}

func (m *pixelMap) value(raw uint32) int16 {
	u := (raw >> m.shift) & m.mask
	var x int64
	if m.signed && u&m.signBit != 0 {
		x = int64(u) - int64(m.mask) - 1
	} else {
		x = int64(u)
	}
	if m.fastInt {
		return clamp16(x + int64(m.intICP))
	}
	return clampF(float64(x)*m.slope + m.icp)
}

func clamp16(x int64) int16 {
	if x < math.MinInt16 {
		return math.MinInt16
	}
	if x > math.MaxInt16 {
		return math.MaxInt16
	}
	return int16(x)
}

func clampF(x float64) int16 {
	x = math.Round(x)
	if x < math.MinInt16 {
		return math.MinInt16
	}
	if x > math.MaxInt16 {
		return math.MaxInt16
	}
	return int16(x)
}

// convertNative converts native (uncompressed) samples into dst.
func convertNative(fi *fileInfo, b []byte, bo binary.ByteOrder, dst []int16) {
	m := newPixelMap(fi)
	switch fi.BitsAllocated {
	case 8:
		for i := range dst {
			dst[i] = m.value(uint32(b[i]))
		}
	case 16:
		for i := range dst {
			dst[i] = m.value(uint32(bo.Uint16(b[2*i:])))
		}
	case 32:
		for i := range dst {
			dst[i] = m.value(bo.Uint32(b[4*i:]))
		}
	}
}

// readEncapsulated decodes one compressed frame into dst.
func readEncapsulated(fi *fileInfo, src io.ReaderAt, fx *frameIndex, dst []int16) error {
	if fi.BitsAllocated > 16 {
		return fmt.Errorf("dicomio: %s: compressed pixel data with %d bits allocated is not supported", fi.Path, fi.BitsAllocated)
	}
	data, err := fx.frameBytes(src, fi.frame)
	if err != nil {
		return fmt.Errorf("dicomio: %s: %w", fi.label(), err)
	}
	raw := make([]uint16, len(dst))
	if _, err := decodeFrame(fi.lay.ts, data, fi.Cols, fi.Rows, fi.BitsAllocated, raw); err != nil {
		return fmt.Errorf("dicomio: %s: %w", fi.label(), err)
	}
	lut := lut16(newPixelMap(fi))
	for i, w := range raw {
		dst[i] = lut[w]
	}
	return nil
}
