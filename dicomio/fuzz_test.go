package dicomio

import (
	"bytes"
	"os"
	"testing"
)

// Fuzz targets for the parser entry points. Their seed corpora live in
// testdata/fuzz/<Target>/ (synthetic files built by this package's tests and
// compressed by dcmtk, see TestWriteFuzzSeeds) and run in the normal suite;
// run one for real with, e.g.:
//
//	nice -n 19 go test -run '^$' -fuzz FuzzHeader -fuzztime 10m -parallel 1 ./dicomio/
//
// LIVERSEG_FUZZ_SKIP_JPEGLS=1 keeps FuzzDecodeFrame off JPEG-LS, whose
// library (CharLS 2.4.1) has known slow inputs that stop a campaign.
//
// guardPanics is off inside them: a panic in this package is a finding,
// not something to turn into an error.

// fuzzMaxSamples keeps the decoded size of one fuzz input small, so that
// the fuzzer explores code rather than allocation.
const fuzzMaxSamples = 1 << 16

// FuzzHeader drives a whole file through the header walker, the
// third-party parser, the multi-frame expansion, the frame index and every
// codec: the path of `liverseg info` and Load for one file.
func FuzzHeader(f *testing.F) {
	f.Add([]byte("DICM"))
	f.Fuzz(func(t *testing.T, b []byte) {
		guardPanics = false
		defer func() { guardPanics = true }()
		r := bytes.NewReader(b)
		fi, err := readHeaderAt(r, int64(len(b)), 0, "fuzz.dcm")
		if err != nil {
			return
		}
		if why, frames := imageFrames(fi); why == "" && len(frames) > 1 {
			_ = analyseStack(frames)
		}
		if fi.notPixels() != "" || int64(fi.Rows)*int64(fi.Cols)*int64(max(fi.Frames, 1)) > fuzzMaxSamples {
			return
		}
		src, size := bytes.NewReader(b), int64(len(b))
		if fi.lay.deflated {
			_, ds, err := readLayout(r, size)
			if err != nil {
				return
			}
			src, size = bytes.NewReader(ds), int64(len(ds))
		}
		frames, err := decodeAllFrames(fi, src, size)
		if err == nil && len(frames) != max(fi.Frames, 1) {
			t.Fatalf("%d frames decoded, NumberOfFrames %d", len(frames), fi.Frames)
		}
	})
}

// fuzzSyntaxes are the compressed syntaxes FuzzDecodeFrame picks from.
var fuzzSyntaxes = []string{TSJPEGBaseline, TSJPEGExtended, TSJPEGLossless, TSJPEGLosslessSV, TSJPEGLSLossless, TSJPEGLSNear, TSJ2KLossless, TSJ2K, TSHTJ2K, tsRLE}

// FuzzDecodeFrame feeds one compressed frame straight to a codec (JPEG
// 8/12/16-bit, JPEG-LS, JPEG 2000, RLE) with a claimed size.
func FuzzDecodeFrame(f *testing.F) {
	f.Add([]byte{0xFF, 0xD8, 0xFF, 0xD9}, uint8(0), uint16(8), uint16(8), true)
	skipJLS := os.Getenv("LIVERSEG_FUZZ_SKIP_JPEGLS") != ""
	f.Fuzz(func(t *testing.T, data []byte, tsi uint8, cols, rows uint16, wide bool) {
		ts := fuzzSyntaxes[int(tsi)%len(fuzzSyntaxes)]
		if skipJLS && (ts == TSJPEGLSLossless || ts == TSJPEGLSNear) {
			// CharLS 2.4.1 spends seconds on some small invalid
			// frames (see TestSlowCodecIsBounded), which the fuzzer
			// reports as hangs; this lets the other codecs be fuzzed.
			return
		}
		if cols == 0 || rows == 0 || int(cols)*int(rows) > fuzzMaxSamples {
			return
		}
		bits := 8
		if wide {
			bits = 16
		}
		out := make([]uint16, int(cols)*int(rows))
		prec, err := decodeFrame(ts, data, int(cols), int(rows), bits, out)
		if err == nil && (prec < 1 || prec > 16) {
			t.Fatalf("%s: decoded with precision %d", ts, prec)
		}
	})
}

// FuzzRLE checks the pure-Go RLE decoder against its own invariants: it
// fills the frame exactly or fails.
func FuzzRLE(f *testing.F) {
	f.Add([]byte{}, uint8(4), uint8(4), false)
	f.Fuzz(func(t *testing.T, data []byte, cols, rows uint8, wide bool) {
		if cols == 0 || rows == 0 {
			return
		}
		bits := 8
		if wide {
			bits = 16
		}
		out := make([]uint16, int(cols)*int(rows))
		if _, err := decodeRLE(data, int(cols), int(rows), bits, out); err == nil && bits == 8 {
			for _, v := range out {
				if v > 255 {
					t.Fatalf("8-bit RLE produced %d", v)
				}
			}
		}
	})
}
