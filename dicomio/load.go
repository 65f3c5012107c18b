package dicomio

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"io"
	"math"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"

	"github.com/liverseg/liverseg/volume"
)

// Load reads the pixels of a scanned series into an int16 volume in
// Hounsfield units (RescaleSlope/Intercept applied, rounded and clamped to
// int16; PixelRepresentation and BitsStored honoured).
//
// Slices are decoded by runtime.NumCPU() goroutines; progress, when not nil,
// is called from those worker goroutines (concurrently, done counting up to
// total) and must be safe for that, e.g. use fyne.Do for UI updates.
// Cancelling ctx stops the load between files and returns ctx.Err().
//
// The geometry problems found by Scan (Series.Warnings) are copied into
// Info.Warnings; they must be shown to the user.
func Load(ctx context.Context, s *Series, progress func(done, total int)) (*volume.Volume, error) {
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
	v := &volume.Volume{Geometry: g, Voxels: make([]int16, g.NumVoxels())}
	plane := g.Size[0] * g.Size[1]
	var (
		done     atomic.Int64
		errOnce  sync.Once
		firstErr error
	)
	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	bufs := sync.Pool{New: func() any { return new([]byte) }}
	perr := parallel(lctx, len(s.files), func(k int) {
		buf := bufs.Get().(*[]byte)
		defer bufs.Put(buf)
		if err := readSlice(s.files[k], v.Voxels[k*plane:(k+1)*plane], buf); err != nil {
			errOnce.Do(func() { firstErr = err; cancel() })
			return
		}
		if progress != nil {
			progress(int(done.Add(1)), len(s.files))
		}
	})
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if firstErr != nil {
		return nil, firstErr
	}
	if perr != nil {
		return nil, perr
	}
	f0 := s.files[0]
	v.Info = volume.Info{
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
	}
	for k, f := range s.files {
		v.Info.SOPInstanceUIDs[k] = f.SOPInstanceUID
	}
	return v, nil
}

// LoadPath scans path (a file or a folder) and loads its largest
// non-localizer image series. It is the convenience entry for the CLI and
// tests; progress is called for the scan, then for the load (total
// changes), from worker goroutines.
func LoadPath(ctx context.Context, path string, progress func(done, total int)) (*volume.Volume, *Catalog, error) {
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
	v, err := Load(ctx, pick, progress)
	if err != nil {
		return nil, cat, err
	}
	v.Info.Source = path
	return v, cat, nil
}

// readSlice decodes one file's pixels into dst (Rows×Cols int16 HU).
func readSlice(fi *fileInfo, dst []int16, buf *[]byte) error {
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
	if lay.deflated {
		_, ds, err := readLayout(f, size)
		if err != nil {
			return fmt.Errorf("dicomio: %s: %w", fi.Path, err)
		}
		src, size = bytes.NewReader(ds), int64(len(ds))
	}
	if lay.pixLen < 0 {
		return readEncapsulated(fi, src, size, dst)
	}
	n := fi.Rows * fi.Cols * (fi.BitsAllocated / 8)
	if int64(n) > lay.pixLen {
		return fmt.Errorf("dicomio: %s: pixel data holds %d bytes, %d×%d×%d bits need %d", fi.Path, lay.pixLen, fi.Cols, fi.Rows, fi.BitsAllocated, n)
	}
	// Read the element header with the pixels and check the tag is still
	// there: a cheap guard against a file rewritten in place.
	hl := int(lay.pixOff - lay.pixTagOff)
	if cap(*buf) < hl+n {
		*buf = make([]byte, hl+n)
	}
	b := (*buf)[:hl+n]
	if _, err := src.ReadAt(b, lay.pixTagOff); err != nil && !(errors.Is(err, io.EOF) && lay.pixTagOff+int64(len(b)) == size) {
		return fmt.Errorf("dicomio: %s: reading pixel data: %w", fi.Path, err)
	}
	if t := uint32(lay.sx.bo.Uint16(b))<<16 | uint32(lay.sx.bo.Uint16(b[2:])); t != tagPixelData {
		return fmt.Errorf("dicomio: %s: pixel data not found where Scan saw it; scan again", fi.Path)
	}
	convertNative(fi, b[hl:], lay.sx.bo, dst)
	return nil
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
		b = b[:2*len(dst)]
		if m.fastInt && m.shift == 0 && m.mask == 0xFFFF {
			// The common CT case, kept branch-light: 16 stored bits, whole
			// intercept, slope 1.
			icp := m.intICP
			le := bo == binary.LittleEndian
			for i := range dst {
				var u uint16
				if le {
					u = uint16(b[2*i]) | uint16(b[2*i+1])<<8
				} else {
					u = uint16(b[2*i])<<8 | uint16(b[2*i+1])
				}
				var x int32
				if m.signed {
					x = int32(int16(u))
				} else {
					x = int32(u)
				}
				x += icp
				if x < math.MinInt16 {
					x = math.MinInt16
				} else if x > math.MaxInt16 {
					x = math.MaxInt16
				}
				dst[i] = int16(x)
			}
			return
		}
		for i := range dst {
			dst[i] = m.value(uint32(bo.Uint16(b[2*i:])))
		}
	case 32:
		for i := range dst {
			dst[i] = m.value(bo.Uint32(b[4*i:]))
		}
	}
}

// readEncapsulated decodes one compressed frame. Only baseline JPEG is
// decodable here (the standard library decoder, 8-bit); other syntaxes were
// refused before any file was opened.
func readEncapsulated(fi *fileInfo, src io.ReaderAt, size int64, dst []int16) error {
	if fi.lay.ts != tsJPEGBaseline {
		return unsupportedTS(fi.Path, fi.lay.ts)
	}
	w := newWindow(src, size)
	offs, lens, err := fragments(w, fi.lay.pixOff)
	if err != nil {
		return fmt.Errorf("dicomio: %s: %w", fi.Path, err)
	}
	var data []byte
	for i := range offs {
		frag := make([]byte, lens[i])
		if _, err := src.ReadAt(frag, offs[i]); err != nil {
			return fmt.Errorf("dicomio: %s: reading JPEG fragment: %w", fi.Path, err)
		}
		data = append(data, frag...)
	}
	img, err := jpeg.Decode(bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("dicomio: %s: decoding baseline JPEG: %w", fi.Path, err)
	}
	gray, ok := img.(*image.Gray)
	if !ok || gray.Rect.Dx() != fi.Cols || gray.Rect.Dy() != fi.Rows {
		return fmt.Errorf("dicomio: %s: JPEG frame is %T %v, expected %d×%d greyscale", fi.Path, img, img.Bounds(), fi.Cols, fi.Rows)
	}
	m := newPixelMap(fi)
	for y := 0; y < fi.Rows; y++ {
		row := gray.Pix[y*gray.Stride : y*gray.Stride+fi.Cols]
		for x, p := range row {
			dst[y*fi.Cols+x] = m.value(uint32(p))
		}
	}
	return nil
}
