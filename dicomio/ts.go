package dicomio

import "fmt"

// Transfer syntax UIDs this package knows by name.
const (
	tsImplicitLE     = "1.2.840.10008.1.2"
	tsExplicitLE     = "1.2.840.10008.1.2.1"
	tsDeflatedLE     = "1.2.840.10008.1.2.1.99"
	tsExplicitBE     = "1.2.840.10008.1.2.2"
	tsJPEGBaseline   = "1.2.840.10008.1.2.4.50"
	tsJPEGExtended   = "1.2.840.10008.1.2.4.51"
	tsJPEGSpectral   = "1.2.840.10008.1.2.4.53" // retired
	tsJPEGProgress   = "1.2.840.10008.1.2.4.55" // retired
	tsJPEGLossless   = "1.2.840.10008.1.2.4.57"
	tsJPEGLosslessSV = "1.2.840.10008.1.2.4.70"
	tsJPEGLSLossless = "1.2.840.10008.1.2.4.80"
	tsJPEGLSNear     = "1.2.840.10008.1.2.4.81"
	tsJ2KLossless    = "1.2.840.10008.1.2.4.90"
	tsJ2K            = "1.2.840.10008.1.2.4.91"
	tsHTJ2KLossless  = "1.2.840.10008.1.2.4.201"
	tsHTJ2KRPCL      = "1.2.840.10008.1.2.4.202"
	tsHTJ2K          = "1.2.840.10008.1.2.4.203"
	tsRLE            = "1.2.840.10008.1.2.5"
)

var tsNames = map[string]string{
	tsImplicitLE:              "Implicit VR Little Endian",
	tsExplicitLE:              "Explicit VR Little Endian",
	tsDeflatedLE:              "Deflated Explicit VR Little Endian",
	tsExplicitBE:              "Explicit VR Big Endian",
	tsJPEGBaseline:            "JPEG Baseline (Process 1)",
	tsJPEGExtended:            "JPEG Extended (Process 2 & 4)",
	tsJPEGSpectral:            "JPEG Spectral Selection (Process 6 & 8, retired)",
	tsJPEGProgress:            "JPEG Full Progression (Process 10 & 12, retired)",
	tsJPEGLossless:            "JPEG Lossless (Process 14)",
	tsJPEGLosslessSV:          "JPEG Lossless SV1",
	tsJPEGLSLossless:          "JPEG-LS Lossless",
	tsJPEGLSNear:              "JPEG-LS Near-Lossless",
	tsJ2KLossless:             "JPEG 2000 Lossless",
	tsJ2K:                     "JPEG 2000",
	tsHTJ2KLossless:           "High-Throughput JPEG 2000 Lossless",
	tsHTJ2KRPCL:               "High-Throughput JPEG 2000 RPCL Lossless",
	tsHTJ2K:                   "High-Throughput JPEG 2000",
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
	tsJPEGBaseline: true, tsJPEGExtended: true, tsJPEGSpectral: true, tsJPEGProgress: true,
	tsJPEGLossless: true, tsJPEGLosslessSV: true, tsJPEGLSLossless: true, tsJPEGLSNear: true,
	tsJ2KLossless: true, tsJ2K: true, tsHTJ2KLossless: true, tsHTJ2KRPCL: true, tsHTJ2K: true,
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
