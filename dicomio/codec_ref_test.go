package dicomio

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/liverseg/liverseg/internal/shareddata"
)

// refTool is the independent decompressor a transfer syntax is checked
// against: dcmtk for JPEG, JPEG-LS and RLE (its own IJG and CharLS copies),
// GDCM for JPEG 2000 (dcmtk 3.6.7 has no JPEG 2000 decoder).
func refTool(ts string) (string, []string, bool) {
	switch ts {
	case tsJPEGBaseline, tsJPEGExtended, tsJPEGLossless, tsJPEGLosslessSV:
		return "dcmdjpeg", nil, true
	case tsJPEGLSLossless, tsJPEGLSNear:
		return "dcmdjpls", nil, true
	case tsRLE:
		return "dcmdrle", nil, true
	case tsJ2KLossless, tsJ2K:
		return "gdcmconv", []string{"--raw"}, true
	}
	return "", nil, false
}

func lossless(ts string) bool {
	switch ts {
	case tsJPEGLossless, tsJPEGLosslessSV, tsJPEGLSLossless, tsJ2KLossless, tsRLE, tsHTJ2KLossless, tsHTJ2KRPCL:
		return true
	}
	return false
}

// compressedCorpus lists the greyscale compressed files of the corpus.
func compressedCorpus(t *testing.T) []string {
	var out []string
	for _, r := range corpusRoots {
		root := shareddata.Path(t, r...)
		_ = filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
			if err != nil || !d.Type().IsRegular() {
				return err
			}
			fi, err := readHeader(p)
			if err != nil || fi.lay.pixLen >= 0 || fi.notPixels() != "" {
				return nil
			}
			out = append(out, p)
			return nil
		})
	}
	return out
}

// TestCodecsMatchReferenceDecoders decodes every greyscale compressed file
// of the corpus and compares each frame's stored values with the native
// file that dcmtk (dcmdjpeg, dcmdjpls, dcmdrle) or GDCM (gdcmconv --raw)
// writes for it, in this test's temporary folder. Lossless syntaxes must
// match byte for byte; so must the lossy ones, since the reference tools use
// the same reference algorithms (IJG islow IDCT, CharLS, OpenJPEG).
func TestCodecsMatchReferenceDecoders(t *testing.T) {
	files := compressedCorpus(t)
	if len(files) < 20 {
		t.Fatalf("only %d compressed greyscale files in the corpus", len(files))
	}
	tmp := t.TempDir()
	seen := map[string]int{}
	for i, f := range files {
		fi, got, err := rawFrames(f)
		ts := ""
		if fi != nil {
			ts = fi.lay.ts
		}
		tool, args, ok := refTool(ts)
		name := strings.TrimPrefix(f, filepath.Dir(filepath.Dir(f))+"/")
		if !ok {
			t.Logf("%s: %s has no reference decompressor here (decode: %v)", name, TransferSyntaxName(ts), err)
			continue
		}
		bin, lerr := exec.LookPath(tool)
		if lerr != nil {
			t.Skipf("%s is not installed: cannot cross-check", tool)
		}
		ref := filepath.Join(tmp, strings.ReplaceAll(name, "/", "_")+".ref.dcm")
		out, rerr := exec.Command(bin, append(append(args, f), ref)...).CombinedOutput()
		if rerr != nil {
			// Files the reference tool cannot decode either must at
			// least fail cleanly here (they did: err is a value).
			t.Logf("%s: %s cannot decompress it (%v: %s); ours: %v", name, tool, rerr, strings.TrimSpace(string(out)), err)
			continue
		}
		if err != nil {
			t.Errorf("%s (%s): %s decodes it, we fail: %v", name, TransferSyntaxName(ts), tool, err)
			continue
		}
		_, want, err := rawFrames(ref)
		if err != nil {
			t.Fatalf("%s: reading %s output: %v", name, tool, err)
		}
		if len(want) != len(got) {
			t.Errorf("%s: %d frames, %s gives %d", name, len(got), tool, len(want))
			continue
		}
		diff, maxd := 0, 0
		for k := range got {
			for j := range got[k] {
				if d := int(got[k][j]) - int(want[k][j]); d != 0 {
					diff++
					maxd = max(maxd, d, -d)
				}
			}
		}
		if diff > 0 {
			t.Errorf("%s (%s): %d samples differ from %s (max %d)", name, TransferSyntaxName(ts), diff, tool, maxd)
		}
		seen[TransferSyntaxName(ts)]++
		_ = i
	}
	t.Logf("byte-exact against the reference per syntax: %v", seen)
	for _, ts := range []string{tsJPEGBaseline, tsJPEGExtended, tsJPEGLossless, tsJPEGLosslessSV, tsJPEGLSLossless, tsJPEGLSNear, tsJ2KLossless, tsJ2K, tsRLE} {
		if seen[TransferSyntaxName(ts)] == 0 {
			t.Errorf("no corpus file of %s was checked against a reference", TransferSyntaxName(ts))
		}
	}
}
