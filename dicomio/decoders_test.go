package dicomio

import (
	"context"
	"strings"
	"testing"
)

// withoutDecoder runs f as a program that did not link the decoder for ts
// would: dicomio/codec is linked into this test binary (codecs_test.go).
func withoutDecoder(t *testing.T, ts string, f func()) {
	t.Helper()
	decoders.Lock()
	dec, ok := decoders.m[ts]
	delete(decoders.m, ts)
	decoders.Unlock()
	if !ok {
		t.Fatalf("no decoder registered for %s; dicomio/codec is not linked into the test", ts)
	}
	defer RegisterDecoder(ts, dec)
	f()
}

func TestUnlinkedCodecNamesFileAndSyntax(t *testing.T) {
	for _, ts := range []string{TSJPEGBaseline, TSJPEGLSLossless, TSJ2KLossless, TSHTJ2K} {
		t.Run(TransferSyntaxName(ts), func(t *testing.T) {
			s := defaultSlice()
			s.ts = ts
			s.jpegFrame = []byte{1, 2, 3, 4}
			p := writeSynth(t, t.TempDir(), "c.dcm", s)
			withoutDecoder(t, ts, func() {
				_, _, err := LoadPath(context.Background(), p, nil)
				if err == nil {
					t.Fatalf("%s loaded without its decoder", p)
				}
				for _, want := range []string{p, ts, TransferSyntaxName(ts), "dicomio/codec"} {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("error %q does not name %q", err, want)
					}
				}
				// A frame handed straight to decodeFrame says the same.
				_, err = decodeFrame(ts, []byte{1}, 1, 1, 8, make([]uint16, 1))
				if err == nil || !strings.Contains(err.Error(), "does not link") {
					t.Errorf("decodeFrame without a decoder: %v", err)
				}
			})
		})
	}
}

// TestRLEIsAlwaysRegistered: RLE is pure Go and needs no codec package.
func TestRLEIsAlwaysRegistered(t *testing.T) {
	if decoderFor(tsRLE) == nil || !tsSupported(tsRLE) {
		t.Fatal("no RLE decoder registered in dicomio")
	}
}
