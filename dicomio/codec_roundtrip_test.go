package dicomio

import (
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/liverseg/liverseg/internal/testsupport/shareddata"
)

// synthCT is a greyscale test image with smooth anatomy-like structure,
// edges and noise at the given bit depth, so that every JPEG predictor,
// the DCT and the JPEG-LS run mode all see real work.
func synthCT(bits, pixRep int) synthSlice {
	s := defaultSlice()
	s.rows, s.cols = 61, 77 // odd sizes: no block-aligned shortcuts
	s.bitsAlloc, s.bitsStored, s.highBit, s.pixRep = 16, bits, bits-1, pixRep
	if bits <= 8 {
		s.bitsAlloc = 8
	}
	max := float64(int(1)<<bits - 1)
	seed := uint32(12345)
	s.words = make([]uint32, s.rows*s.cols)
	for y := 0; y < s.rows; y++ {
		for x := 0; x < s.cols; x++ {
			seed = seed*1664525 + 1013904223
			dx, dy := float64(x-38)/30, float64(y-30)/25
			v := 0.15 + 0.25*math.Exp(-(dx*dx+dy*dy))
			if dx*dx+dy*dy < 0.3 {
				v += 0.4 // a sharp-edged organ
			}
			v += float64(seed>>24) / 255 * 0.05
			w := uint32(math.Round(v * max))
			if pixRep == 1 {
				// Signed: centre the range on zero, keep the bit pattern.
				w = uint32(int32(w)-int32(max+1)/2) & uint32(max)
			}
			s.words[y*s.cols+x] = w
		}
	}
	return s
}

// TestCodecsRoundTripThroughDcmtk compresses synthetic images and a real
// two-frame enhanced CT with dcmtk's encoders in every mode the DICOM
// syntaxes allow (baseline, extended 12-bit, spectral, progressive, lossless
// with each predictor 1..7 and a point transform, JPEG-LS lossless and
// near-lossless, RLE; one fragment per frame or 1 KiB fragments; Basic Offset
// Table present or empty; an Extended Offset Table built here) and checks
// that our decoder gives the dcmtk decompression byte for byte, and the
// original samples exactly for the lossless modes.
func TestCodecsRoundTripThroughDcmtk(t *testing.T) {
	for _, tool := range []string{"dcmcjpeg", "dcmdjpeg", "dcmcjpls", "dcmdjpls", "dcmcrle", "dcmdrle"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed", tool)
		}
	}
	dir := t.TempDir()
	srcs := map[string]string{
		"8bit":     writeSynth(t, dir, "u8.dcm", synthCT(8, 0)),
		"12bit":    writeSynth(t, dir, "u12.dcm", synthCT(12, 0)),
		"16bit":    writeSynth(t, dir, "u16.dcm", synthCT(16, 0)),
		"12signed": writeSynth(t, dir, "s12.dcm", synthCT(12, 1)),
		"enhanced": shareddata.Path(t, "dicom", "cornerstone-dicomParser", "encapsulated", "multi-frame", "CT0012.explicit_little_endian.dcm"),
	}
	type tc struct {
		src, enc, dec string
		args          []string
		lossless      bool
	}
	var cases []tc
	for _, s := range []string{"8bit"} {
		for _, m := range []string{"+eb", "+es", "+ep"} {
			cases = append(cases, tc{s, "dcmcjpeg", "dcmdjpeg", []string{m}, false})
		}
	}
	for _, s := range []string{"12bit", "12signed"} {
		cases = append(cases, tc{s, "dcmcjpeg", "dcmdjpeg", []string{"+ee"}, false})
	}
	for _, s := range []string{"8bit", "12bit", "16bit", "12signed", "enhanced"} {
		for sv := 1; sv <= 7; sv++ {
			cases = append(cases, tc{s, "dcmcjpeg", "dcmdjpeg", []string{"+el", "+sv", strconv.Itoa(sv)}, true})
		}
		cases = append(cases,
			tc{s, "dcmcjpeg", "dcmdjpeg", []string{"+e1"}, true},
			tc{s, "dcmcjpeg", "dcmdjpeg", []string{"+e1", "+fs", "1", "-ot"}, true},
			tc{s, "dcmcjpeg", "dcmdjpeg", []string{"+e1", "+fs", "1", "+ot"}, true},
			tc{s, "dcmcjpls", "dcmdjpls", []string{"+el"}, true},
			tc{s, "dcmcjpls", "dcmdjpls", []string{"+el", "+fs", "1", "-ot"}, true},
			tc{s, "dcmcrle", "dcmdrle", nil, true},
		)
		if s != "12signed" { // dcmcjpls refuses signed near-lossless
			cases = append(cases, tc{s, "dcmcjpls", "dcmdjpls", []string{"+en", "+md", "3"}, false})
		}
	}
	cases = append(cases, tc{"16bit", "dcmcjpeg", "dcmdjpeg", []string{"+el", "+sv", "1", "+pt", "2"}, false})
	for i, c := range cases {
		name := c.src + " " + c.enc + " " + strings.Join(c.args, " ")
		comp := filepath.Join(dir, "c"+strconv.Itoa(i)+".dcm")
		if out, err := exec.Command(c.enc, append(append([]string{}, c.args...), srcs[c.src], comp)...).CombinedOutput(); err != nil {
			t.Errorf("%s: encoder: %v\n%s", name, err, out)
			continue
		}
		variants := []string{comp}
		if strings.Contains(strings.Join(c.args, " "), "+fs 1 +ot") && c.src == "enhanced" {
			variants = append(variants, withExtendedOffsetTable(t, comp))
		}
		ref := filepath.Join(dir, "d"+strconv.Itoa(i)+".dcm")
		if out, err := exec.Command(c.dec, comp, ref).CombinedOutput(); err != nil {
			t.Errorf("%s: decoder: %v\n%s", name, err, out)
			continue
		}
		_, want, err := rawFrames(ref)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		_, orig, err := rawFrames(srcs[c.src])
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range variants {
			fi, got, err := rawFrames(v)
			if err != nil {
				t.Errorf("%s: %v", name, err)
				continue
			}
			if fi.lay.pixLen >= 0 {
				t.Errorf("%s: output is not encapsulated", name)
			}
			if d := framesDiff(got, want); d != "" {
				t.Errorf("%s (%s): against %s: %s", name, filepath.Base(v), c.dec, d)
			}
			if c.lossless {
				if d := framesDiff(got, orig); d != "" {
					t.Errorf("%s (%s): against the original: %s", name, filepath.Base(v), d)
				}
			}
		}
	}
}

func framesDiff(got, want [][]uint16) string {
	if len(got) != len(want) {
		return strconv.Itoa(len(got)) + " frames, want " + strconv.Itoa(len(want))
	}
	n, maxd := 0, 0
	for k := range got {
		if len(got[k]) != len(want[k]) {
			return "frame sizes differ"
		}
		for i := range got[k] {
			if d := int(got[k][i]) - int(want[k][i]); d != 0 {
				n++
				maxd = max(maxd, d, -d)
			}
		}
	}
	if n > 0 {
		return strconv.Itoa(n) + " samples differ, by up to " + strconv.Itoa(maxd)
	}
	return ""
}

// withExtendedOffsetTable rewrites an encapsulated file that has a Basic
// Offset Table into one with an empty BOT and an Extended Offset Table
// (7FE0,0001)/(7FE0,0002), as PS3.5 A.4 allows since 2018.
func withExtendedOffsetTable(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lay, _, err := readLayout(bytes.NewReader(b), int64(len(b)))
	if err != nil || lay.pixLen >= 0 {
		t.Fatalf("%s: %v", path, err)
	}
	enc, err := readFragments(newWindow(bytes.NewReader(b), int64(len(b))), lay.pixOff)
	if err != nil || len(enc.bot) < 2 {
		t.Fatalf("%s: %v, BOT %v", path, err, enc.bot)
	}
	var offs, lens []byte
	base := enc.items[0].tagOff
	for k, o := range enc.bot {
		offs = binary.LittleEndian.AppendUint64(offs, uint64(o))
		end := int64(len(b))
		if k+1 < len(enc.bot) {
			end = base + int64(enc.bot[k+1])
		} else {
			end = enc.items[len(enc.items)-1].off + enc.items[len(enc.items)-1].n
		}
		var n int64
		for _, it := range enc.items {
			if it.tagOff >= base+int64(o) && it.tagOff < end {
				n += it.n
			}
		}
		lens = binary.LittleEndian.AppendUint64(lens, uint64(n))
	}
	elem := func(e uint16, v []byte) []byte {
		out := []byte{0xE0, 0x7F, byte(e), byte(e >> 8), 'O', 'V', 0, 0}
		out = binary.LittleEndian.AppendUint32(out, uint32(len(v)))
		return append(out, v...)
	}
	var nb []byte
	nb = append(nb, b[:lay.pixTagOff]...)
	nb = append(nb, elem(1, offs)...)
	nb = append(nb, elem(2, lens)...)
	nb = append(nb, b[lay.pixTagOff:lay.pixOff]...)
	nb = append(nb, 0xFE, 0xFF, 0x00, 0xE0, 0, 0, 0, 0) // empty BOT
	nb = append(nb, b[base:]...)
	out := strings.TrimSuffix(path, ".dcm") + "_eot.dcm"
	if err := os.WriteFile(out, nb, 0o644); err != nil {
		t.Fatal(err)
	}
	return out
}
