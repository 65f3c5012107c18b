package dicomio

import (
	"compress/flate"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
)

// This file is a small, allocation-light walker over the DICOM byte stream.
// It does not decode values: it finds where the dataset starts, which
// transfer syntax it uses and where the top-level Pixel Data element lies.
// Header values are decoded by github.com/suyashkumar/dicom (header.go) on
// the bytes before Pixel Data only, and pixels are read straight from the
// file at the offset found here (pixels.go): the library reads native pixels
// one io.ReadFull per sample into []int, which is far too slow for CT.

const (
	undefinedLength   = 0xFFFFFFFF
	tagPixelData      = 0x7FE00010
	tagExtOffsetTable = 0x7FE00001
	tagExtOffsetLens  = 0x7FE00002
	tagItem           = 0xFFFEE000
	tagItemDelim      = 0xFFFEE00D
	tagSeqDelim       = 0xFFFEE0DD
	maxNesting        = 64
	windowSize        = 16 << 10
	// maxInflatedBytes bounds a deflated dataset once inflated.
	maxInflatedBytes = 2 << 30
)

// errNotDICOM marks files that are not DICOM at all (text, archives...).
var errNotDICOM = errors.New("not a DICOM file")

// window serves small reads from a ReaderAt through a 16 KiB buffer, so that
// walking a header costs one or two system calls.
type window struct {
	r     io.ReaderAt
	size  int64
	start int64
	buf   []byte
}

func newWindow(r io.ReaderAt, size int64) *window { return &window{r: r, size: size} }

// windows recycles the windows (and their 16 KiB buffers) of header reads:
// a scan of 1000 files otherwise allocates 16 MiB, and the collector's
// work for it was a fifth of the scan's CPU time.
var windows = sync.Pool{New: func() any { return new(window) }}

func getWindow(r io.ReaderAt, size int64) *window {
	w := windows.Get().(*window)
	w.r, w.size, w.start, w.buf = r, size, 0, w.buf[:0]
	return w
}

// putWindow returns w to the pool; nothing it returned may be used after.
func putWindow(w *window) {
	w.r = nil
	windows.Put(w)
}

// bytesView is a window over bytes already in memory (no reads, no copy).
func bytesView(b []byte) *window { return &window{size: int64(len(b)), buf: b} }

// cached returns the n bytes at off when the window already holds them.
func (w *window) cached(off int64, n int) ([]byte, bool) {
	if off >= w.start && n >= 0 && off+int64(n) <= w.start+int64(len(w.buf)) {
		return w.buf[off-w.start : off-w.start+int64(n)], true
	}
	return nil, false
}

// bytes returns n bytes at off, valid until the next call.
func (w *window) bytes(off int64, n int) ([]byte, error) {
	if off < 0 || n < 0 || off+int64(n) > w.size {
		return nil, io.ErrUnexpectedEOF
	}
	if off >= w.start && off+int64(n) <= w.start+int64(len(w.buf)) {
		return w.buf[off-w.start : off-w.start+int64(n)], nil
	}
	m := int64(n)
	if m < windowSize {
		m = windowSize
	}
	if off+m > w.size {
		m = w.size - off
	}
	if int64(cap(w.buf)) < m {
		w.buf = make([]byte, m)
	}
	w.buf = w.buf[:m]
	if _, err := w.r.ReadAt(w.buf, off); err != nil && !(errors.Is(err, io.EOF) && off+m == w.size) {
		w.buf = w.buf[:0]
		return nil, err
	}
	w.start = off
	return w.buf[:n], nil
}

// rawElem is one element as found by the walker.
type rawElem struct {
	tag    uint32 // group<<16 | element
	vr     string // "" in implicit VR
	vl     uint32
	off    int64 // offset of the tag
	valOff int64 // offset of the value
	next   int64 // offset of the following element
}

func tagString(t uint32) string { return fmt.Sprintf("(%04X,%04X)", t>>16, t&0xFFFF) }

// longVR lists the explicit VRs with a 2-byte reserved field and 4-byte length.
func longVR(vr string) bool {
	switch vr {
	case "OB", "OD", "OF", "OL", "OV", "OW", "SQ", "UC", "UN", "UR", "UT", "SV", "UV":
		return true
	}
	return false
}

func validVR(b []byte) bool {
	if len(b) < 2 || b[0] < 'A' || b[0] > 'Z' || b[1] < 'A' || b[1] > 'Z' {
		return false
	}
	switch string(b[:2]) {
	case "AE", "AS", "AT", "CS", "DA", "DS", "DT", "FL", "FD", "IS", "LO", "LT", "OB", "OD", "OF", "OL", "OV", "OW",
		"PN", "SH", "SL", "SQ", "SS", "ST", "SV", "TM", "UC", "UI", "UL", "UN", "UR", "US", "UT", "UV":
		return true
	}
	return false
}

// syntax is how a dataset is encoded.
type syntax struct {
	bo       binary.ByteOrder
	implicit bool
}

// readElem reads the element header at off and computes where the next
// element starts, skipping sequences of undefined length item by item.
func readElem(w *window, off int64, sx syntax, depth int) (rawElem, error) {
	b, err := w.bytes(off, 8)
	if err != nil {
		return rawElem{}, fmt.Errorf("truncated element header at byte %d", off)
	}
	e := rawElem{off: off}
	e.tag = uint32(sx.bo.Uint16(b[0:]))<<16 | uint32(sx.bo.Uint16(b[2:]))
	switch {
	case sx.implicit || e.tag>>16 == 0xFFFE:
		e.vl = sx.bo.Uint32(b[4:])
		e.valOff = off + 8
	default:
		e.vr = string(b[4:6])
		if longVR(e.vr) {
			b, err = w.bytes(off, 12)
			if err != nil {
				return rawElem{}, fmt.Errorf("truncated element header %s at byte %d", tagString(e.tag), off)
			}
			e.vl = sx.bo.Uint32(b[8:])
			e.valOff = off + 12
		} else {
			if !validVR(b[4:6]) {
				return rawElem{}, fmt.Errorf("element %s at byte %d has invalid VR %q", tagString(e.tag), off, b[4:6])
			}
			e.vl = uint32(sx.bo.Uint16(b[6:]))
			e.valOff = off + 8
		}
	}
	if e.vl == undefinedLength {
		if e.tag == tagPixelData {
			// Encapsulated pixel data: the caller walks its fragments.
			e.next = -1
			return e, nil
		}
		inner := sx
		if e.vr == "UN" {
			// UN of undefined length holds implicit VR little endian items (PS3.5 6.2.2).
			inner = syntax{bo: binary.LittleEndian, implicit: true}
		}
		next, err := skipItems(w, e.valOff, inner, depth+1)
		if err != nil {
			return rawElem{}, fmt.Errorf("sequence %s: %w", tagString(e.tag), err)
		}
		e.next = next
		return e, nil
	}
	e.next = e.valOff + int64(e.vl)
	if e.next > w.size {
		return rawElem{}, fmt.Errorf("element %s at byte %d claims %d bytes, past the end of the file (%d bytes)", tagString(e.tag), off, e.vl, w.size)
	}
	return e, nil
}

// skipItems walks the items of an undefined-length sequence starting at off
// and returns the offset after its Sequence Delimitation Item.
func skipItems(w *window, off int64, sx syntax, depth int) (int64, error) {
	if depth > maxNesting {
		return 0, errors.New("sequences nested too deeply")
	}
	for {
		b, err := w.bytes(off, 8)
		if err != nil {
			return 0, fmt.Errorf("truncated sequence at byte %d", off)
		}
		t := uint32(sx.bo.Uint16(b[0:]))<<16 | uint32(sx.bo.Uint16(b[2:]))
		vl := sx.bo.Uint32(b[4:])
		switch t {
		case tagSeqDelim:
			return off + 8, nil
		case tagItem:
			if vl != undefinedLength {
				off += 8 + int64(vl)
				if off > w.size {
					return 0, errors.New("item runs past the end of the file")
				}
				continue
			}
			off += 8
			for {
				e, err := readElem(w, off, sx, depth+1)
				if err != nil {
					return 0, err
				}
				off = e.next
				if e.tag == tagItemDelim {
					break
				}
			}
		default:
			return 0, fmt.Errorf("unexpected tag %s inside a sequence at byte %d", tagString(t), off)
		}
	}
}

// layout is what the walker learns about a file.
type layout struct {
	ts            string // transfer syntax UID ("" when absent and inferred)
	sx            syntax
	deflated      bool
	metaAtZero    bool   // a File Meta group without the 128-byte preamble
	mediaSOPClass string // (0002,0002), used when (0008,0016) is missing
	dsOff         int64  // where the dataset (after File Meta) starts, in the (inflated) stream
	// dsEnd is where the walk stopped: Pixel Data, the first element after
	// it (trailing padding, private groups) or the end of the stream.
	// Only the bytes before it were checked, so only they go to the
	// header parser.
	dsEnd     int64
	hasPixels bool
	pixTagOff int64 // offset of the (7FE0,0010) tag
	pixOff    int64 // offset of its value
	pixLen    int64 // value length; -1 when encapsulated
	// Extended Offset Table (7FE0,0001) and its lengths (7FE0,0002):
	// value offsets and lengths, 0 when absent.
	eotOff, eotLen, eotLensOff, eotLensLen int64
}

// readLayout finds the transfer syntax and the top-level Pixel Data element.
// For deflated files it returns the inflated dataset too (ds != nil), and the
// offsets refer to it.
func readLayout(r io.ReaderAt, size int64) (lay layout, ds []byte, err error) {
	return readLayoutWith(newWindow(r, size))
}

// readLayoutWith is readLayout through w; for a file that is not deflated,
// w then holds the last bytes walked (for a header, usually all of it).
func readLayoutWith(w *window) (lay layout, ds []byte, err error) {
	r, size := w.r, w.size
	var metaOff int64 = -1
	if b, err := w.bytes(128, 4); err == nil && string(b) == "DICM" {
		metaOff = 132
	} else if b, err := w.bytes(0, 6); err == nil && binary.LittleEndian.Uint16(b) == 0x0002 && validVR(b[4:6]) {
		metaOff = 0
		lay.metaAtZero = true
	}
	off := int64(0)
	if metaOff >= 0 {
		off = metaOff
		le := syntax{bo: binary.LittleEndian}
		for off < size {
			b, err := w.bytes(off, 2)
			if err != nil || binary.LittleEndian.Uint16(b) != 0x0002 {
				break
			}
			e, err := readElem(w, off, le, 0)
			if err != nil {
				return lay, nil, fmt.Errorf("file meta information: %w", err)
			}
			if e.tag == 0x00020010 {
				v, err := w.bytes(e.valOff, int(e.vl))
				if err != nil {
					return lay, nil, fmt.Errorf("file meta information: %w", err)
				}
				lay.ts = strings.TrimRight(string(v), " \x00")
			}
			if e.tag == 0x00020002 {
				v, err := w.bytes(e.valOff, int(e.vl))
				if err == nil {
					lay.mediaSOPClass = strings.TrimRight(string(v), " \x00")
				}
			}
			off = e.next
		}
	}
	lay.dsOff = off
	switch lay.ts {
	case "":
		// No meta or no transfer syntax: infer it from the first element.
		b, err := w.bytes(off, 8)
		if err != nil {
			return lay, nil, fmt.Errorf("%w: too short", errNotDICOM)
		}
		gLE, gBE := binary.LittleEndian.Uint16(b), binary.BigEndian.Uint16(b)
		switch {
		case plausibleFirstGroup(gLE) && validVR(b[4:6]):
			lay.sx = syntax{bo: binary.LittleEndian}
		case plausibleFirstGroup(gLE):
			lay.sx = syntax{bo: binary.LittleEndian, implicit: true}
		case plausibleFirstGroup(gBE) && validVR(b[4:6]):
			lay.sx = syntax{bo: binary.BigEndian}
		default:
			if metaOff < 0 {
				return lay, nil, fmt.Errorf("%w: no DICM marker and no recognisable first element", errNotDICOM)
			}
			return lay, nil, errors.New("cannot infer the transfer syntax of the dataset")
		}
	case tsImplicitLE:
		lay.sx = syntax{bo: binary.LittleEndian, implicit: true}
	case tsExplicitBE:
		lay.sx = syntax{bo: binary.BigEndian}
	case tsDeflatedLE:
		lay.sx = syntax{bo: binary.LittleEndian}
		lay.deflated = true
	default:
		// Every other syntax, compressed ones included, encodes the
		// dataset itself as explicit VR little endian.
		lay.sx = syntax{bo: binary.LittleEndian}
	}
	if lay.deflated {
		// Bound what a small file may inflate to (deflate can expand
		// about 1000-fold): real datasets compress a few times at most.
		limit := min(int64(maxInflatedBytes), 64<<20+64*(size-off))
		zr := flate.NewReader(io.NewSectionReader(r, off, size-off))
		ds, err = io.ReadAll(io.LimitReader(zr, limit+1))
		if err != nil {
			return lay, nil, fmt.Errorf("inflating deflated dataset: %w", err)
		}
		if int64(len(ds)) > limit {
			return lay, nil, fmt.Errorf("deflated dataset of %d bytes inflates to more than %d bytes", size-off, limit)
		}
		w = bytesView(ds)
		off = 0
		lay.dsOff = 0
	}
	for off < w.size {
		e, err := readElem(w, off, lay.sx, 0)
		if err != nil {
			if metaOff < 0 {
				return lay, ds, fmt.Errorf("%w (or damaged): %v", errNotDICOM, err)
			}
			return lay, ds, err
		}
		if e.tag == tagPixelData {
			lay.dsEnd = e.off
			lay.hasPixels = true
			lay.pixTagOff = e.off
			lay.pixOff = e.valOff
			lay.pixLen = int64(e.vl)
			if e.vl == undefinedLength {
				lay.pixLen = -1
			}
			return lay, ds, nil
		}
		switch e.tag {
		case tagExtOffsetTable:
			lay.eotOff, lay.eotLen = e.valOff, int64(e.vl)
		case tagExtOffsetLens:
			lay.eotLensOff, lay.eotLensLen = e.valOff, int64(e.vl)
		}
		if e.tag > tagPixelData {
			// Elements are in ascending tag order: no Pixel Data follows
			// (trailing padding, private groups).
			break
		}
		off = e.next
	}
	lay.dsEnd = min(off, w.size)
	return lay, ds, nil
}

func plausibleFirstGroup(g uint16) bool {
	// ACR-NEMA style files and meta-less DICOM start with group 0008.
	return g == 0x0008
}

// maxFragments bounds the items of one encapsulated Pixel Data element.
const maxFragments = 1 << 20

// encapsulated is the item structure of encapsulated Pixel Data.
type encapsulated struct {
	bot   []uint32 // Basic Offset Table (empty when absent)
	items []frag   // fragments after the offset table
}

// frag is one fragment: where its Item tag is and where its bytes are.
type frag struct {
	tagOff, off, n int64
}

// readFragments walks encapsulated pixel data starting at the value offset
// of Pixel Data: the Basic Offset Table item, then the fragments up to the
// Sequence Delimitation Item (or, leniently, the end of the file).
func readFragments(w *window, off int64) (*encapsulated, error) {
	enc := &encapsulated{}
	first := true
	for {
		b, err := w.bytes(off, 8)
		if err != nil {
			if !first && len(enc.items) > 0 && off >= w.size {
				return enc, nil // no delimiter at the end of the file: keep what is there
			}
			return nil, fmt.Errorf("truncated encapsulated pixel data at byte %d", off)
		}
		t := uint32(binary.LittleEndian.Uint16(b[0:]))<<16 | uint32(binary.LittleEndian.Uint16(b[2:]))
		vl := int64(binary.LittleEndian.Uint32(b[4:]))
		switch t {
		case tagSeqDelim:
			return enc, nil
		case tagItem:
			if vl == undefinedLength || off+8+vl > w.size {
				return nil, fmt.Errorf("pixel data fragment at byte %d (%d bytes) runs past the end of the file", off, vl)
			}
			if first {
				if vl%4 != 0 || vl/4 > maxFragments {
					return nil, fmt.Errorf("basic offset table of %d bytes", vl)
				}
				if vl > 0 {
					tb, err := w.bytes(off+8, int(vl))
					if err != nil {
						return nil, fmt.Errorf("reading the basic offset table: %w", err)
					}
					enc.bot = make([]uint32, vl/4)
					for i := range enc.bot {
						enc.bot[i] = binary.LittleEndian.Uint32(tb[4*i:])
					}
				}
				first = false
			} else {
				if len(enc.items) >= maxFragments {
					return nil, fmt.Errorf("more than %d pixel data fragments", maxFragments)
				}
				enc.items = append(enc.items, frag{tagOff: off, off: off + 8, n: vl})
			}
			off += 8 + vl
		default:
			return nil, fmt.Errorf("unexpected tag %s in encapsulated pixel data at byte %d", tagString(t), off)
		}
	}
}
