// Package codec links the compressed-pixel decoders that need C libraries
// into a program: importing it (for its side effect) registers them with
// dicomio, as importing image/png registers PNG with image. The programs
// (main, cli, app) import it; packages that only need volumes (phantom,
// inference, metrics, ...) do not, so they build and test without cgo and
// without libgdcm, CharLS or OpenJPEG. RLE Lossless is pure Go and always
// available in dicomio itself.
package codec

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

	"github.com/liverseg/liverseg/dicomio"
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
//   - RLE Lossless: pure Go (dicomio/rle.go), not here.
//
// Every decoder checks the frame's own dimensions against Rows/Columns
// before it allocates anything, and turns library errors into Go errors:
// none of them exits, aborts or prints. dicomio checks the frame size and
// length before it calls a decoder, and names the file and the transfer
// syntax in the errors.

func init() {
	for _, ts := range []string{dicomio.TSJPEGBaseline, dicomio.TSJPEGExtended, dicomio.TSJPEGSpectral, dicomio.TSJPEGProgress, dicomio.TSJPEGLossless, dicomio.TSJPEGLosslessSV} {
		dicomio.RegisterDecoder(ts, decodeJPEG)
	}
	for _, ts := range []string{dicomio.TSJPEGLSLossless, dicomio.TSJPEGLSNear} {
		dicomio.RegisterDecoder(ts, decodeJPEGLS)
	}
	for _, ts := range []string{dicomio.TSJ2KLossless, dicomio.TSJ2K, dicomio.TSHTJ2KLossless, dicomio.TSHTJ2KRPCL, dicomio.TSHTJ2K} {
		dicomio.RegisterDecoder(ts, decodeJ2K)
	}
}

// decodeJPEG decodes a JPEG frame (any DICOM JPEG process) with the IJG
// library that matches the precision in its SOF marker.
func decodeJPEG(data []byte, cols, rows, _ int, out []uint16) (int, error) {
	p, err := jpegPrecision(data)
	if err != nil {
		return 0, err
	}
	switch {
	case p <= 8:
		return call(data, cols, rows, out, "IJG 8-bit", lsgJPEG8)
	case p <= 12:
		return call(data, cols, rows, out, "IJG 12-bit", lsgJPEG12)
	default:
		return call(data, cols, rows, out, "IJG 16-bit", lsgJPEG16)
	}
}

// decodeJPEGLS decodes a JPEG-LS frame with CharLS.
func decodeJPEGLS(data []byte, cols, rows, _ int, out []uint16) (int, error) {
	return call(data, cols, rows, out, "CharLS", lsgJLS)
}

// decodeJ2K decodes a JPEG 2000 or HTJ2K frame with OpenJPEG.
func decodeJ2K(data []byte, cols, rows, _ int, out []uint16) (int, error) {
	return call(data, cols, rows, out, "OpenJPEG", lsgJ2K)
}

// Which C entry point call runs.
const (
	lsgJPEG8 = iota
	lsgJPEG12
	lsgJPEG16
	lsgJLS
	lsgJ2K
)

// call runs one C decoder on a frame dicomio has already checked (non-empty
// data, len(out) == cols*rows) and returns the precision it reports.
func call(data []byte, cols, rows int, out []uint16, lib string, which int) (prec int, err error) {
	if cols <= 0 || rows <= 0 || len(out) != cols*rows || len(data) == 0 {
		return 0, fmt.Errorf("bad frame (%d bytes, %dx%d into %d samples)", len(data), cols, rows, len(out))
	}
	var errBuf [256]C.char
	var cprec, csgnd C.int
	in := (*C.uchar)(unsafe.Pointer(&data[0]))
	n := C.size_t(len(data))
	o := (*C.uint16_t)(unsafe.Pointer(&out[0]))
	var rc C.int
	switch which {
	case lsgJPEG8:
		rc = C.lsg_jpeg8(in, n, C.int(cols), C.int(rows), o, &cprec, &errBuf[0], C.int(len(errBuf)))
	case lsgJPEG12:
		rc = C.lsg_jpeg12(in, n, C.int(cols), C.int(rows), o, &cprec, &errBuf[0], C.int(len(errBuf)))
	case lsgJPEG16:
		rc = C.lsg_jpeg16(in, n, C.int(cols), C.int(rows), o, &cprec, &errBuf[0], C.int(len(errBuf)))
	case lsgJLS:
		rc = C.lsg_jls(in, n, C.int(cols), C.int(rows), o, &cprec, &errBuf[0], C.int(len(errBuf)))
	case lsgJ2K:
		rc = C.lsg_j2k(in, n, C.int(cols), C.int(rows), o, &cprec, &csgnd, &errBuf[0], C.int(len(errBuf)))
	}
	if rc != 0 {
		return 0, fmt.Errorf("%s: %s", lib, C.GoString(&errBuf[0]))
	}
	return int(cprec), nil
}

// jpegPrecision reads the sample precision from the first SOF marker of a
// JPEG stream, which decides the IJG library (8, 12 or 16 bits) to use.
func jpegPrecision(b []byte) (int, error) {
	if len(b) < 4 || b[0] != 0xFF || b[1] != 0xD8 {
		return 0, errors.New("JPEG frame does not start with an SOI marker")
	}
	i := 2
	for i+4 <= len(b) {
		if b[i] != 0xFF {
			return 0, fmt.Errorf("JPEG marker expected at byte %d", i)
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
			return 0, fmt.Errorf("JPEG marker segment of length %d", l)
		}
		// SOF0..SOF15 except DHT (C4), JPG (C8) and DAC (CC).
		if m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC {
			if i+4 >= len(b) {
				break
			}
			p := int(b[i+4])
			if p < 2 || p > 16 {
				return 0, fmt.Errorf("JPEG precision %d", p)
			}
			return p, nil
		}
		if m == 0xDA || m == 0xD9 {
			break
		}
		i += 2 + l
	}
	return 0, errors.New("no SOF marker in the JPEG frame")
}
