package dicomio

import (
	"encoding/binary"
	"fmt"
	"io"
)

// frameIndex tells which fragments make each frame of encapsulated pixel
// data: frame k is items[start[k]:start[k+1]], concatenated.
type frameIndex struct {
	enc   *encapsulated
	start []int
	how   string // how the frames were found, for error messages
}

// indexFrames works out the frame boundaries of encapsulated pixel data
// (PS3.5 A.4), in order of preference:
//  1. the Extended Offset Table, when the file has one;
//  2. the Basic Offset Table, when it is not empty;
//  3. one frame: all fragments belong to it;
//  4. as many fragments as frames: one fragment each;
//  5. otherwise, a frame starts at each fragment that begins with the
//     codec's start marker (JPEG/JPEG-LS SOI, JPEG 2000 SOC or a JP2
//     signature). RLE frames are one fragment each by definition.
func indexFrames(src io.ReaderAt, size int64, lay layout, ts string, nFrames int) (*frameIndex, error) {
	w := newWindow(src, size)
	enc, err := readFragments(w, lay.pixOff)
	if err != nil {
		return nil, err
	}
	n := len(enc.items)
	if n == 0 {
		return nil, fmt.Errorf("encapsulated pixel data has no fragments")
	}
	fx := &frameIndex{enc: enc}
	byOffset := func(offs []uint64, what string) error {
		if len(offs) != nFrames {
			return fmt.Errorf("%s has %d entries for %d frames", what, len(offs), nFrames)
		}
		base := enc.items[0].tagOff
		k := 0
		for i, it := range enc.items {
			for k < nFrames && uint64(it.tagOff-base) == offs[k] {
				if k > 0 && len(fx.start) > 0 && fx.start[len(fx.start)-1] == i {
					return fmt.Errorf("%s gives frames %d and %d the same start", what, k, k+1)
				}
				fx.start = append(fx.start, i)
				k++
			}
		}
		if k != nFrames || fx.start[0] != 0 {
			fx.start = nil
			return fmt.Errorf("%s does not point at fragment starts", what)
		}
		fx.start = append(fx.start, n)
		fx.how = what
		return nil
	}
	if lay.eotLen > 0 {
		if lay.eotLen%8 != 0 || lay.eotLen/8 > maxFragments {
			return nil, fmt.Errorf("extended offset table of %d bytes", lay.eotLen)
		}
		b, err := w.bytes(lay.eotOff, int(lay.eotLen))
		if err != nil {
			return nil, fmt.Errorf("reading the extended offset table: %w", err)
		}
		offs := make([]uint64, len(b)/8)
		for i := range offs {
			offs[i] = binary.LittleEndian.Uint64(b[8*i:])
		}
		if err := byOffset(offs, "extended offset table"); err != nil {
			return nil, err
		}
		return fx, nil
	}
	if len(enc.bot) > 0 {
		offs := make([]uint64, len(enc.bot))
		for i, o := range enc.bot {
			offs[i] = uint64(o)
		}
		if err := byOffset(offs, "basic offset table"); err == nil {
			return fx, nil
		}
		// A wrong offset table is common enough (e.g. 32-bit overflow
		// past 4 GiB): fall back to the rules below.
	}
	switch {
	case nFrames == 1:
		fx.start, fx.how = []int{0, n}, "single frame"
		return fx, nil
	case n == nFrames:
		fx.how = "one fragment per frame"
		for i := 0; i <= n; i++ {
			fx.start = append(fx.start, i)
		}
		return fx, nil
	case ts == tsRLE:
		return nil, fmt.Errorf("RLE pixel data has %d fragments for %d frames", n, nFrames)
	}
	var head [12]byte
	for i, it := range enc.items {
		m := int64(len(head))
		if it.n < m {
			m = it.n
		}
		if _, err := src.ReadAt(head[:m], it.off); err != nil && err != io.EOF {
			return nil, fmt.Errorf("reading fragment %d: %w", i+1, err)
		}
		if frameStart(head[:m]) {
			fx.start = append(fx.start, i)
		}
	}
	if len(fx.start) != nFrames || fx.start[0] != 0 {
		return nil, fmt.Errorf("%d fragments for %d frames without an offset table, and %d of them start a codestream", n, nFrames, len(fx.start))
	}
	fx.start = append(fx.start, n)
	fx.how = "codestream start markers"
	return fx, nil
}

// frameStart tells whether a fragment begins a JPEG, JPEG-LS or JPEG 2000
// codestream.
func frameStart(b []byte) bool {
	switch {
	case len(b) >= 2 && b[0] == 0xFF && b[1] == 0xD8: // SOI
		return true
	case len(b) >= 4 && b[0] == 0xFF && b[1] == 0x4F && b[2] == 0xFF && b[3] == 0x51: // SOC SIZ
		return true
	case len(b) >= 12 && string(b[:12]) == "\x00\x00\x00\x0cjP  \r\n\x87\n":
		return true
	}
	return false
}

// frameBytes reads frame k (0-based) into one buffer.
func (fx *frameIndex) frameBytes(src io.ReaderAt, k int) ([]byte, error) {
	if k < 0 || k+1 >= len(fx.start) {
		return nil, fmt.Errorf("frame %d of %d", k+1, len(fx.start)-1)
	}
	items := fx.enc.items[fx.start[k]:fx.start[k+1]]
	var total int64
	for _, it := range items {
		total += it.n
	}
	if total > maxFrameBytes {
		return nil, fmt.Errorf("frame %d holds %d compressed bytes, more than %d", k+1, total, maxFrameBytes)
	}
	out := make([]byte, total)
	o := int64(0)
	for _, it := range items {
		if err := readFull(src, out[o:o+it.n], it.off, -1); err != nil {
			return nil, fmt.Errorf("frame %d: %w", k+1, err)
		}
		o += it.n
	}
	return out, nil
}
