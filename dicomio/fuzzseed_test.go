package dicomio

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestWriteFuzzSeeds (re)writes the seed corpora of the fuzz targets into
// testdata/fuzz from small synthetic images compressed by dcmtk and GDCM
// in every syntax. It runs only when asked:
//
//	LIVERSEG_WRITE_FUZZ_SEEDS=1 go test ./dicomio/ -run TestWriteFuzzSeeds
func TestWriteFuzzSeeds(t *testing.T) {
	if os.Getenv("LIVERSEG_WRITE_FUZZ_SEEDS") == "" {
		t.Skip("set LIVERSEG_WRITE_FUZZ_SEEDS=1 to rewrite testdata/fuzz seeds")
	}
	dir := t.TempDir()
	small := func(bits, pixRep int) synthSlice {
		s := synthCT(bits, pixRep)
		s.rows, s.cols = 12, 16
		s.words = s.words[:12*16]
		return s
	}
	native := map[string]string{
		"u8":  writeSynth(t, dir, "u8.dcm", small(8, 0)),
		"u16": writeSynth(t, dir, "u16.dcm", small(16, 0)),
		"s12": writeSynth(t, dir, "s12.dcm", small(12, 1)),
	}
	be := small(16, 0)
	be.ts = tsExplicitBE
	native["be"] = writeSynth(t, dir, "be.dcm", be)
	encodings := []struct {
		name, src, tool string
		args            []string
	}{
		{"jpeg_baseline", "u8", "dcmcjpeg", []string{"+eb"}},
		{"jpeg_extended12", "s12", "dcmcjpeg", []string{"+ee"}},
		{"jpeg_lossless_sv1", "u16", "dcmcjpeg", []string{"+e1"}},
		{"jpeg_lossless_sv7_frag", "u16", "dcmcjpeg", []string{"+el", "+sv", "7", "+fs", "1", "-ot"}},
		{"jpegls_lossless", "s12", "dcmcjpls", []string{"+el"}},
		{"jpegls_near", "u16", "dcmcjpls", []string{"+en"}},
		{"rle", "u16", "dcmcrle", nil},
		{"j2k_lossless", "u16", "gdcmconv", []string{"--j2k"}},
		{"j2k_lossy", "u16", "gdcmconv", []string{"--j2k", "--lossy", "-q", "30"}},
	}
	files := map[string]string{}
	for k, p := range native {
		files["native_"+k] = p
	}
	for _, e := range encodings {
		out := filepath.Join(dir, e.name+".dcm")
		args := append(append([]string{}, e.args...), native[e.src], out)
		if b, err := exec.Command(e.tool, args...).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", e.name, err, b)
		}
		files[e.name] = out
	}
	for name, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		writeSeed(t, "FuzzHeader", name, fmt.Sprintf("[]byte(%q)", b))
		fi, err := readHeaderAt(bytes.NewReader(b), int64(len(b)), 0, p)
		if err != nil || fi.lay.pixLen >= 0 {
			continue
		}
		fx, err := indexFrames(bytes.NewReader(b), int64(len(b)), fi.lay, fi.lay.ts, 1)
		if err != nil {
			t.Fatal(err)
		}
		frame, err := fx.frameBytes(bytes.NewReader(b), 0)
		if err != nil {
			t.Fatal(err)
		}
		tsi := -1
		for i, ts := range fuzzSyntaxes {
			if ts == fi.lay.ts {
				tsi = i
			}
		}
		if tsi < 0 {
			t.Fatalf("%s: %s not in fuzzSyntaxes", name, fi.lay.ts)
		}
		writeSeed(t, "FuzzDecodeFrame", name, fmt.Sprintf("[]byte(%q)\nuint8(%d)\nuint16(%d)\nuint16(%d)\nbool(%v)", frame, tsi, fi.Cols, fi.Rows, fi.BitsAllocated == 16))
		if fi.lay.ts == tsRLE {
			writeSeed(t, "FuzzRLE", name, fmt.Sprintf("[]byte(%q)\nuint8(%d)\nuint8(%d)\nbool(%v)", frame, fi.Cols, fi.Rows, fi.BitsAllocated == 16))
		}
	}
}

func writeSeed(t *testing.T, target, name, body string) {
	t.Helper()
	d := filepath.Join("testdata", "fuzz", target)
	if err := os.MkdirAll(d, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(d, "seed_"+name), []byte("go test fuzz v1\n"+body+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}
