package cli

// The compressed-pixel decoders (JPEG, JPEG-LS, JPEG 2000 through cgo)
// register themselves with dicomio when linked: every program that opens
// DICOM files from users links them through this package.
import _ "github.com/liverseg/liverseg/dicomio/codec"
