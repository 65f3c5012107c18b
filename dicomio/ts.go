package dicomio

import "fmt"

// Transfer syntax UIDs this package knows by name (PS3.6 Annex A); the
// compressed ones are exported for the decoders that register for them
// (package dicomio/codec).
const (
	tsImplicitLE     = "1.2.840.10008.1.2"
	tsExplicitLE     = "1.2.840.10008.1.2.1"
	tsDeflatedLE     = "1.2.840.10008.1.2.1.99"
	tsExplicitBE     = "1.2.840.10008.1.2.2"
	TSJPEGBaseline   = "1.2.840.10008.1.2.4.50"
	TSJPEGExtended   = "1.2.840.10008.1.2.4.51"
	TSJPEGSpectral   = "1.2.840.10008.1.2.4.53" // retired
	TSJPEGProgress   = "1.2.840.10008.1.2.4.55" // retired
	TSJPEGLossless   = "1.2.840.10008.1.2.4.57"
	TSJPEGLosslessSV = "1.2.840.10008.1.2.4.70"
	TSJPEGLSLossless = "1.2.840.10008.1.2.4.80"
	TSJPEGLSNear     = "1.2.840.10008.1.2.4.81"
	TSJ2KLossless    = "1.2.840.10008.1.2.4.90"
	TSJ2K            = "1.2.840.10008.1.2.4.91"
	TSHTJ2KLossless  = "1.2.840.10008.1.2.4.201"
	TSHTJ2KRPCL      = "1.2.840.10008.1.2.4.202"
	TSHTJ2K          = "1.2.840.10008.1.2.4.203"
	tsRLE            = "1.2.840.10008.1.2.5"
)

var tsNames = map[string]string{
	tsImplicitLE:              "Implicit VR Little Endian",
	tsExplicitLE:              "Explicit VR Little Endian",
	tsDeflatedLE:              "Deflated Explicit VR Little Endian",
	tsExplicitBE:              "Explicit VR Big Endian",
	TSJPEGBaseline:            "JPEG Baseline (Process 1)",
	TSJPEGExtended:            "JPEG Extended (Process 2 & 4)",
	TSJPEGSpectral:            "JPEG Spectral Selection (Process 6 & 8, retired)",
	TSJPEGProgress:            "JPEG Full Progression (Process 10 & 12, retired)",
	TSJPEGLossless:            "JPEG Lossless (Process 14)",
	TSJPEGLosslessSV:          "JPEG Lossless SV1",
	TSJPEGLSLossless:          "JPEG-LS Lossless",
	TSJPEGLSNear:              "JPEG-LS Near-Lossless",
	TSJ2KLossless:             "JPEG 2000 Lossless",
	TSJ2K:                     "JPEG 2000",
	TSHTJ2KLossless:           "High-Throughput JPEG 2000 Lossless",
	TSHTJ2KRPCL:               "High-Throughput JPEG 2000 RPCL Lossless",
	TSHTJ2K:                   "High-Throughput JPEG 2000",
	tsRLE:                     "RLE Lossless",
	"1.2.840.10008.1.2.8.1":   "Deflated Image Frame Compression",
	"1.2.840.10008.1.2.4.100": "MPEG2 Main Profile",
	"1.2.840.10008.1.2.4.102": "MPEG-4 AVC/H.264",
}

// TransferSyntaxName is the human name of a transfer syntax UID, or the UID
// itself when unknown.
func TransferSyntaxName(uid string) string {
	if n, ok := tsNames[uid]; ok {
		return n
	}
	if uid == "" {
		return "unspecified (inferred)"
	}
	return "unknown"
}

// tsSupported tells whether Load can decode pixels in this transfer syntax.
// Native syntaxes are read directly, compressed ones by the decoder
// registered for them (decoders.go).
func tsSupported(uid string) bool {
	switch uid {
	case "", tsImplicitLE, tsExplicitLE, tsDeflatedLE, tsExplicitBE:
		return true
	}
	return decoderFor(uid) != nil
}

// tsCodec lists the compressed syntaxes dicomio/codec decodes: a file in
// one of them, read by a program that did not link that package, is told
// so rather than called unsupported.
var tsCodec = map[string]bool{
	TSJPEGBaseline: true, TSJPEGExtended: true, TSJPEGSpectral: true, TSJPEGProgress: true,
	TSJPEGLossless: true, TSJPEGLosslessSV: true, TSJPEGLSLossless: true, TSJPEGLSNear: true,
	TSJ2KLossless: true, TSJ2K: true, TSHTJ2KLossless: true, TSHTJ2KRPCL: true, TSHTJ2K: true,
}

// noDecoder says why no decoder is registered for uid.
func noDecoder(uid string) string {
	if tsCodec[uid] {
		return fmt.Sprintf("transfer syntax %s (%s) needs a decoder this program does not link (import github.com/liverseg/liverseg/dicomio/codec)", uid, TransferSyntaxName(uid))
	}
	return fmt.Sprintf("transfer syntax %s (%s) is not supported", uid, TransferSyntaxName(uid))
}

// unsupportedTS is the error Load returns for a transfer syntax with no
// decoder: one LiverSeg does not support, or one whose decoder is not
// linked into this program.
func unsupportedTS(path, uid string) error {
	return fmt.Errorf("%s: %s", path, noDecoder(uid))
}
