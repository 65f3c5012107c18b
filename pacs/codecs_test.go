package pacs

// TestCompressedTransferSyntaxes retrieves JPEG 2000 and JPEG-LS images and
// loads them: link the cgo decoders, as the programs that use pacs do.
import _ "github.com/liverseg/liverseg/dicomio/codec"
