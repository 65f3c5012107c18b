package dicomio

/*
#cgo CFLAGS: -O2 -I/usr/include/gdcm-3.0 -I/usr/include/gdcm-3.0/gdcmjpeg
#cgo pkg-config: libopenjp2 charls
#cgo LDFLAGS: -lgdcmjpeg8 -lgdcmjpeg12 -lgdcmjpeg16
#include <stdlib.h>
#include "codec_c.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"unsafe"
)

// Compressed frames are decoded by well-kept C libraries through cgo:
//
//   - JPEG baseline (8-bit), extended (12-bit), the retired spectral
//     selection and progressive processes, and lossless (process 14, any
//     predictor, and SV1): GDCM's IJG libraries libgdcmjpeg8/12/16
//     (IJG 6b with the lossless patches, what GDCM and ITK decode DICOM
//     JPEG with), chosen by the precision in the frame's SOF marker;
//   - JPEG-LS lossless and near-lossless: CharLS;
//   - JPEG 2000 lossless and lossy, and High-Throughput JPEG 2000 (HTJ2K,
//     decoded by OpenJPEG since 2.5): OpenJPEG;
//   - RLE Lossless: pure Go (rle.go).
//
// Every decoder checks the frame's own dimensions against Rows/Columns
// before it allocates anything, and turns library errors into Go errors:
// none of them exits, aborts or prints.

// errCodec marks errors from the compressed-frame decoders.
var errCodec = errors.New("cannot decode compressed frame")

// maxFrameBytes bounds one compressed frame handed to a decoder.
const maxFrameBytes = 1 << 30

// decodeFrame decodes one compressed frame of a greyscale image into out
// (Rows×Columns stored values, as unsigned bit patterns). It returns the
// precision the stream declares (bits per sample).
func decodeFrame(ts string, data []byte, cols, rows, bitsAllocated int, out []uint16) (prec int, err error) {
	if cols <= 0 || rows <= 0 || len(out) != cols*rows {
		return 0, fmt.Errorf("%w: bad frame size %dx%d", errCodec, cols, rows)
	}
	if len(data) == 0 {
		return 0, fmt.Errorf("%w: empty frame", errCodec)
	}
	if len(data) > maxFrameBytes {
		return 0, fmt.Errorf("%w: frame of %d bytes is larger than %d", errCodec, len(data), maxFrameBytes)
	}
	if ts == tsRLE {
		return decodeRLE(data, cols, rows, bitsAllocated, out)
	}
	var errBuf [256]C.char
	var cprec, csgnd C.int
	in := (*C.uchar)(unsafe.Pointer(&data[0]))
	n := C.size_t(len(data))
	o := (*C.uint16_t)(unsafe.Pointer(&out[0]))
	var rc C.int
	switch ts {
	case tsJPEGBaseline, tsJPEGExtended, tsJPEGSpectral, tsJPEGProgress, tsJPEGLossless, tsJPEGLosslessSV:
		p, err := jpegPrecision(data)
		if err != nil {
			return 0, err
		}
		switch {
		case p <= 8:
			rc = C.lsg_jpeg8(in, n, C.int(cols), C.int(rows), o, &cprec, &errBuf[0], C.int(len(errBuf)))
		case p <= 12:
			rc = C.lsg_jpeg12(in, n, C.int(cols), C.int(rows), o, &cprec, &errBuf[0], C.int(len(errBuf)))
		default:
			rc = C.lsg_jpeg16(in, n, C.int(cols), C.int(rows), o, &cprec, &errBuf[0], C.int(len(errBuf)))
		}
	case tsJPEGLSLossless, tsJPEGLSNear:
		rc = C.lsg_jls(in, n, C.int(cols), C.int(rows), o, &cprec, &errBuf[0], C.int(len(errBuf)))
	case tsJ2KLossless, tsJ2K, tsHTJ2KLossless, tsHTJ2KRPCL, tsHTJ2K:
		rc = C.lsg_j2k(in, n, C.int(cols), C.int(rows), o, &cprec, &csgnd, &errBuf[0], C.int(len(errBuf)))
	default:
		return 0, fmt.Errorf("%w: no decoder for transfer syntax %s (%s)", errCodec, ts, TransferSyntaxName(ts))
	}
	if rc != 0 {
		return 0, fmt.Errorf("%w: %s: %s", errCodec, TransferSyntaxName(ts), C.GoString(&errBuf[0]))
	}
	return int(cprec), nil
}

// jpegPrecision reads the sample precision from the first SOF marker of a
// JPEG stream, which decides the IJG library (8, 12 or 16 bits) to use.
func jpegPrecision(b []byte) (int, error) {
	if len(b) < 4 || b[0] != 0xFF || b[1] != 0xD8 {
		return 0, fmt.Errorf("%w: JPEG frame does not start with an SOI marker", errCodec)
	}
	i := 2
	for i+4 <= len(b) {
		if b[i] != 0xFF {
			return 0, fmt.Errorf("%w: JPEG marker expected at byte %d", errCodec, i)
		}
		m := b[i+1]
		if m == 0xFF { // fill byte
			i++
			continue
		}
		if m == 0x01 || m >= 0xD0 && m <= 0xD7 {
			i += 2
			continue
		}
		l := int(b[i+2])<<8 | int(b[i+3])
		if l < 2 {
			return 0, fmt.Errorf("%w: JPEG marker segment of length %d", errCodec, l)
		}
		// SOF0..SOF15 except DHT (C4), JPG (C8) and DAC (CC).
		if m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC {
			if i+4 >= len(b) {
				break
			}
			p := int(b[i+4])
			if p < 2 || p > 16 {
				return 0, fmt.Errorf("%w: JPEG precision %d", errCodec, p)
			}
			return p, nil
		}
		if m == 0xDA || m == 0xD9 {
			break
		}
		i += 2 + l
	}
	return 0, fmt.Errorf("%w: no SOF marker in the JPEG frame", errCodec)
}
