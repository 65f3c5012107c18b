package thumbnail

// TestReadSliceCodecs reads JPEG-LS and JPEG 2000 files: link the cgo
// decoders, as the programs that show thumbnails do.
import _ "github.com/liverseg/liverseg/dicomio/codec"
