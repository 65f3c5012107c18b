package dicomio_test

// The tests of dicomio decode compressed files: link the cgo decoders into
// the test binary. An external test package may import dicomio/codec
// (which imports dicomio); its init registers the decoders before any test,
// internal ones included, runs.
import _ "github.com/liverseg/liverseg/dicomio/codec"
