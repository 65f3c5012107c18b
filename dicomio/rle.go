package dicomio

import (
	"encoding/binary"
	"fmt"
)

// decodeRLE decodes one DICOM RLE Lossless frame (PS3.5 Annex G) of a
// greyscale image: a 64-byte header with up to 15 segment offsets, then one
// PackBits segment per byte plane, most significant byte first.
func decodeRLE(b []byte, cols, rows, bitsAllocated int, out []uint16) (int, error) {
	if len(b) < 64 {
		return 0, fmt.Errorf("%w: RLE frame of %d bytes has no 64-byte header", errCodec, len(b))
	}
	planes := bitsAllocated / 8
	if planes != 1 && planes != 2 {
		return 0, fmt.Errorf("%w: RLE with %d bits allocated (8 or 16 are supported)", errCodec, bitsAllocated)
	}
	nseg := int(binary.LittleEndian.Uint32(b))
	if nseg != planes {
		return 0, fmt.Errorf("%w: RLE frame has %d segments, a %d-bit greyscale image needs %d", errCodec, nseg, bitsAllocated, planes)
	}
	np := cols * rows
	seg := make([]byte, np)
	for s := 0; s < nseg; s++ {
		start := int64(binary.LittleEndian.Uint32(b[4+4*s:]))
		end := int64(len(b))
		if s+1 < nseg {
			end = int64(binary.LittleEndian.Uint32(b[8+4*s:]))
		}
		if start < 64 || start > end || end > int64(len(b)) {
			return 0, fmt.Errorf("%w: RLE segment %d spans bytes %d..%d of %d", errCodec, s+1, start, end, len(b))
		}
		if err := unpackBits(b[start:end], seg); err != nil {
			return 0, fmt.Errorf("%w: RLE segment %d: %v", errCodec, s+1, err)
		}
		// Segment 1 is the most significant byte of each sample.
		shift := uint(8 * (planes - 1 - s))
		if s == 0 {
			for i, v := range seg {
				out[i] = uint16(v) << shift
			}
		} else {
			for i, v := range seg {
				out[i] |= uint16(v) << shift
			}
		}
	}
	return 8 * planes, nil
}

// unpackBits decodes a PackBits byte segment into dst, which it must fill
// exactly (trailing padding in the source is allowed).
func unpackBits(src, dst []byte) error {
	o := 0
	for i := 0; i < len(src) && o < len(dst); {
		n := int(int8(src[i]))
		i++
		switch {
		case n >= 0: // literal run of n+1 bytes
			c := n + 1
			if i+c > len(src) {
				return fmt.Errorf("literal run of %d bytes at byte %d runs past the segment", c, i-1)
			}
			if o+c > len(dst) {
				return fmt.Errorf("decodes to more than %d bytes", len(dst))
			}
			copy(dst[o:], src[i:i+c])
			o += c
			i += c
		case n > -128: // the next byte repeated 1-n times
			c := 1 - n
			if i >= len(src) {
				return fmt.Errorf("replicate run without its byte at the end")
			}
			if o+c > len(dst) {
				return fmt.Errorf("decodes to more than %d bytes", len(dst))
			}
			v := src[i]
			for k := 0; k < c; k++ {
				dst[o+k] = v
			}
			o += c
			i++
		}
		// n == -128 is a no-op.
	}
	if o != len(dst) {
		return fmt.Errorf("decodes to %d bytes, the frame needs %d", o, len(dst))
	}
	return nil
}
