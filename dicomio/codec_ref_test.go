package dicomio

import (
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/liverseg/liverseg/internal/testsupport/shareddata"
)

// refTool is the independent decompressor a transfer syntax is checked
// against: dcmtk for JPEG, JPEG-LS and RLE (its own IJG and CharLS copies),
// GDCM for JPEG 2000 (dcmtk 3.6.7 has no JPEG 2000 decoder).
func refTool(ts string) (string, []string, bool) {
	switch ts {
	case TSJPEGBaseline, TSJPEGExtended, TSJPEGLossless, TSJPEGLosslessSV:
		return "dcmdjpeg", nil, true
	case TSJPEGLSLossless, TSJPEGLSNear:
		return "dcmdjpls", nil, true
	case tsRLE:
		return "dcmdrle", nil, true
	case TSJ2KLossless, TSJ2K:
		// gdcmraw -P writes the decompressed Pixel Data value alone
		// (gdcmconv refuses to write the totalseg files, which lack UIDs).
		return "gdcmraw", nil, true
	}
	return "", nil, false
}

func lossless(ts string) bool {
	switch ts {
	case TSJPEGLossless, TSJPEGLosslessSV, TSJPEGLSLossless, TSJ2KLossless, tsRLE, TSHTJ2KLossless, TSHTJ2KRPCL:
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
		cmd := exec.Command(bin, append(append(args, f), ref)...)
		if tool == "gdcmraw" {
			cmd = exec.Command(bin, "-P", "-i", f, "-o", ref)
		}
		out, rerr := cmd.CombinedOutput()
		if st, serr := os.Stat(ref); rerr == nil && (serr != nil || st.Size() == 0) {
			rerr = fmt.Errorf("no output") // gdcmraw exits 0 when it cannot decode
		}
		if rerr != nil {
			// Files the reference tool cannot decode either must at
			// least fail cleanly here (they did: err is a value).
			t.Logf("%s: %s cannot decompress it (%v: %s); ours: %v", name, tool, rerr, strings.TrimSpace(string(out)), err)
			continue
		}
		if err != nil && tool == "gdcmraw" {
			if w, werr := rawWords(ref, fi); werr == nil && allZero(w) {
				// GDCM writes zeros when it cannot decode (and exits 0).
				t.Logf("%s: gdcmraw gives an all-zero image, we refuse: %v", name, err)
				continue
			}
		}
		if err != nil {
			if strings.Contains(err.Error(), "truncated") || strings.Contains(err.Error(), "too short") {
				// We refuse truncated codestreams that the reference
				// tool decodes partially (OpenJPEG's lenient mode).
				t.Logf("%s: %v", name, err)
				continue
			}
			if fi.BitsAllocated > 16 {
				// RT dose: compressed 32-bit samples are outside what a
				// CT loader needs; the refusal is clean and named.
				t.Logf("%s: %v", name, err)
				continue
			}
			t.Errorf("%s (%s): %s decodes it, we fail: %v", name, TransferSyntaxName(ts), tool, err)
			continue
		}
		var want [][]uint16
		if sib, ok := nativeSibling[filepath.Base(f)]; ok {
			// GDCM gives zeros for this file because its Pixel Data lacks
			// the Sequence Delimitation Item; the frames themselves are
			// complete, so the uncompressed original is the reference.
			ref, tool = filepath.Join(filepath.Dir(f), sib), "the uncompressed original"
			_, want, err = rawFrames(ref)
		} else if tool == "gdcmraw" {
			want, err = rawWords(ref, fi)
		} else {
			_, want, err = rawFrames(ref)
		}
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
	// Greyscale baseline JPEG is absent from the corpus (its baseline files
	// are colour): TestCodecsRoundTripThroughDcmtk covers it.
	for _, ts := range []string{TSJPEGExtended, TSJPEGLossless, TSJPEGLosslessSV, TSJPEGLSLossless, TSJPEGLSNear, TSJ2KLossless, TSJ2K, tsRLE} {
		if seen[TransferSyntaxName(ts)] == 0 {
			t.Errorf("no corpus file of %s was checked against a reference", TransferSyntaxName(ts))
		}
	}
}

// rawWords reads a gdcmraw -P dump: the frames' samples one after the
// other, little-endian words (bytes when BitsAllocated is 8).
func rawWords(path string, fi *fileInfo) ([][]uint16, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	np := fi.Rows * fi.Cols
	bpp := fi.BitsAllocated / 8
	n := max(fi.Frames, 1)
	if len(b) < n*np*bpp {
		return nil, fmt.Errorf("%d bytes for %d frames of %d samples", len(b), n, np)
	}
	out := make([][]uint16, n)
	for k := range out {
		out[k] = make([]uint16, np)
		for i := range out[k] {
			o := (k*np + i) * bpp
			if bpp == 1 {
				out[k][i] = uint16(b[o])
			} else {
				out[k][i] = binary.LittleEndian.Uint16(b[o:])
			}
		}
	}
	return out, nil
}

// nativeSibling names, for corpus files the reference tool mis-decodes, the
// same image stored uncompressed.
var nativeSibling = map[string]string{
	"emri_small_jpeg_2k_lossless_too_short.dcm": "emri_small.dcm",
}

func allZero(frames [][]uint16) bool {
	for _, f := range frames {
		for _, v := range f {
			if v != 0 {
				return false
			}
		}
	}
	return true
}
