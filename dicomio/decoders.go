package dicomio

import (
	"errors"
	"fmt"
	"sync"
)

// Compressed pixel data is decoded by decoders registered per transfer
// syntax, the way image/png registers itself with image: the cgo decoders
// (JPEG, JPEG-LS, JPEG 2000) live in dicomio/codec, which the programs
// import for its side effect; packages that only need volumes do not, so
// they build without cgo or the C libraries. RLE Lossless is pure Go and
// always registered here.

// Decoder decodes one compressed frame of a greyscale image into out
// (cols×rows stored values, as unsigned bit patterns) and returns the
// precision the stream declares (bits per sample). dicomio calls it only
// with a non-empty frame of at most 1 GiB and len(out) == cols*rows; it
// must check the frame's own dimensions against cols and rows before it
// allocates, and must not panic, exit or print on bad input.
type Decoder func(data []byte, cols, rows, bitsAllocated int, out []uint16) (prec int, err error)

var decoders = struct {
	sync.RWMutex
	m map[string]Decoder
}{m: map[string]Decoder{tsRLE: decodeRLE}}

// RegisterDecoder makes Load decode pixel data in transfer syntax ts with
// dec. It is meant to be called from an init function; a second decoder
// for the same syntax replaces the first.
func RegisterDecoder(ts string, dec Decoder) {
	decoders.Lock()
	defer decoders.Unlock()
	decoders.m[ts] = dec
}

// decoderFor is the decoder registered for ts, or nil.
func decoderFor(ts string) Decoder {
	decoders.RLock()
	defer decoders.RUnlock()
	return decoders.m[ts]
}

// errCodec marks errors from the compressed-frame decoders.
var errCodec = errors.New("cannot decode compressed frame")

// maxFrameBytes bounds one compressed frame handed to a decoder.
const maxFrameBytes = 1 << 30

// decodeFrame decodes one compressed frame of a greyscale image into out
// (Rows×Columns stored values, as unsigned bit patterns) with the decoder
// registered for ts. It returns the precision the stream declares (bits
// per sample).
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
	dec := decoderFor(ts)
	if dec == nil {
		return 0, fmt.Errorf("%w: %s", errCodec, noDecoder(ts))
	}
	prec, err = dec(data, cols, rows, bitsAllocated, out)
	if err != nil {
		if ts == tsRLE { // decodeRLE's errors already say what they are
			return 0, err
		}
		return 0, fmt.Errorf("%w: %s: %v", errCodec, TransferSyntaxName(ts), err)
	}
	return prec, nil
}
