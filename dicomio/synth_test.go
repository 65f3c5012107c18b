package dicomio

import (
	"bytes"
	"compress/flate"
	"context"
	"encoding/binary"
	"fmt"
	"image"
	"image/jpeg"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// This file builds small DICOM files in a temporary folder, byte by byte,
// to test decoding paths the real data set lacks (deflate with geometry,
// baseline JPEG greyscale, BitsStored masking, sign extension) and
// grouping/sorting rules with exactly known answers.

type synthElem struct {
	g, e uint16
	vr   string
	val  []byte
}

func strVal(s string, pad byte) []byte {
	b := []byte(s)
	if len(b)%2 == 1 {
		b = append(b, pad)
	}
	return b
}

type byteOrder interface {
	binary.ByteOrder
	binary.AppendByteOrder
}

func us(bo byteOrder, v uint16) []byte { return bo.AppendUint16(nil, v) }

// synthSlice describes one synthetic image file.
type synthSlice struct {
	ts                    string
	seriesUID, studyUID   string
	sopUID                string
	instance              int
	imageType             string
	ipp                   [3]float64
	iop                   [6]float64
	rows, cols            int
	bitsAlloc, bitsStored int
	highBit, pixRep       int
	slope, intercept      float64
	words                 []uint32 // native samples, rows*cols
	jpegFrame             []byte   // for baseline JPEG
	noSlope               bool
}

func (s synthSlice) bytes() []byte {
	var bo byteOrder = binary.LittleEndian
	if s.ts == tsExplicitBE {
		bo = binary.BigEndian
	}
	ds := func(v ...float64) []byte {
		var p []string
		for _, x := range v {
			p = append(p, fmt.Sprintf("%g", x))
		}
		return strVal(strings.Join(p, `\`), ' ')
	}
	elems := []synthElem{
		{0x0008, 0x0008, "CS", strVal(s.imageType, ' ')},
		{0x0008, 0x0016, "UI", strVal("1.2.840.10008.5.1.4.1.1.2", 0)},
		{0x0008, 0x0018, "UI", strVal(s.sopUID, 0)},
		{0x0008, 0x0060, "CS", strVal("CT", ' ')},
		{0x0010, 0x0010, "PN", strVal("Synthetic^Test", ' ')},
		{0x0020, 0x000D, "UI", strVal(s.studyUID, 0)},
		{0x0020, 0x000E, "UI", strVal(s.seriesUID, 0)},
		{0x0020, 0x0013, "IS", strVal(fmt.Sprint(s.instance), ' ')},
		{0x0020, 0x0032, "DS", ds(s.ipp[:]...)},
		{0x0020, 0x0037, "DS", ds(s.iop[:]...)},
		{0x0028, 0x0002, "US", us(bo, 1)},
		{0x0028, 0x0004, "CS", strVal("MONOCHROME2", ' ')},
		{0x0028, 0x0010, "US", us(bo, uint16(s.rows))},
		{0x0028, 0x0011, "US", us(bo, uint16(s.cols))},
		{0x0028, 0x0030, "DS", ds(0.5, 0.75)},
		{0x0028, 0x0100, "US", us(bo, uint16(s.bitsAlloc))},
		{0x0028, 0x0101, "US", us(bo, uint16(s.bitsStored))},
		{0x0028, 0x0102, "US", us(bo, uint16(s.highBit))},
		{0x0028, 0x0103, "US", us(bo, uint16(s.pixRep))},
	}
	if !s.noSlope {
		elems = append(elems, synthElem{0x0028, 0x1052, "DS", ds(s.intercept)}, synthElem{0x0028, 0x1053, "DS", ds(s.slope)})
	}
	var body bytes.Buffer
	for _, e := range elems {
		if e.vr == "UI" && len(e.val) == 0 {
			continue // no UID: leave the attribute out
		}
		body.Write(bo.AppendUint16(nil, e.g))
		body.Write(bo.AppendUint16(nil, e.e))
		if s.ts == tsImplicitLE {
			body.Write(bo.AppendUint32(nil, uint32(len(e.val))))
		} else {
			body.WriteString(e.vr)
			body.Write(bo.AppendUint16(nil, uint16(len(e.val))))
		}
		body.Write(e.val)
	}
	// Pixel Data.
	body.Write(bo.AppendUint16(nil, 0x7FE0))
	body.Write(bo.AppendUint16(nil, 0x0010))
	if s.jpegFrame != nil {
		body.WriteString("OB\x00\x00")
		body.Write([]byte{0xFF, 0xFF, 0xFF, 0xFF})
		item := func(b []byte) {
			body.Write([]byte{0xFE, 0xFF, 0x00, 0xE0})
			body.Write(binary.LittleEndian.AppendUint32(nil, uint32(len(b))))
			body.Write(b)
		}
		item(nil) // empty Basic Offset Table
		frame := s.jpegFrame
		if len(frame)%2 == 1 {
			frame = append(frame, 0)
		}
		half := len(frame) / 2 &^ 1
		item(frame[:half]) // two fragments, as some writers do
		item(frame[half:])
		body.Write([]byte{0xFE, 0xFF, 0xDD, 0xE0, 0, 0, 0, 0})
	} else {
		var px []byte
		for _, w := range s.words {
			switch s.bitsAlloc {
			case 8:
				px = append(px, byte(w))
			case 16:
				px = bo.AppendUint16(px, uint16(w))
			case 32:
				px = bo.AppendUint32(px, w)
			}
		}
		if len(px)%2 == 1 {
			px = append(px, 0)
		}
		vr := "OW"
		if s.bitsAlloc == 8 {
			vr = "OB"
		}
		if s.ts != tsImplicitLE {
			body.WriteString(vr + "\x00\x00")
		}
		body.Write(bo.AppendUint32(nil, uint32(len(px))))
		body.Write(px)
	}
	dataset := body.Bytes()
	if s.ts == tsDeflatedLE {
		var z bytes.Buffer
		w, _ := flate.NewWriter(&z, flate.BestSpeed)
		w.Write(dataset)
		w.Close()
		dataset = z.Bytes()
	}
	// File Meta: group length + transfer syntax.
	tsv := strVal(s.ts, 0)
	var meta bytes.Buffer
	meta.Write([]byte{0x02, 0, 0x10, 0, 'U', 'I'})
	meta.Write(binary.LittleEndian.AppendUint16(nil, uint16(len(tsv))))
	meta.Write(tsv)
	out := make([]byte, 128)
	out = append(out, "DICM"...)
	out = append(out, 0x02, 0, 0, 0, 'U', 'L', 4, 0)
	out = binary.LittleEndian.AppendUint32(out, uint32(meta.Len()))
	out = append(out, meta.Bytes()...)
	return append(out, dataset...)
}

func defaultSlice() synthSlice {
	return synthSlice{
		ts: tsExplicitLE, seriesUID: "1.2.3.4.5", studyUID: "1.2.3.4", sopUID: "1.2.3.4.5.1", instance: 1,
		imageType: `ORIGINAL\PRIMARY\AXIAL`, iop: [6]float64{1, 0, 0, 0, 1, 0},
		rows: 2, cols: 3, bitsAlloc: 16, bitsStored: 16, highBit: 15, slope: 1,
	}
}

func writeSynth(t *testing.T, dir, name string, s synthSlice) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, s.bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPixelDecodingSynthetic(t *testing.T) {
	cases := []struct {
		name   string
		modify func(*synthSlice)
		words  []uint32
		want   []int16
	}{
		{"unsigned 16, intercept -1024, clamp high", func(s *synthSlice) { s.intercept = -1024 },
			[]uint32{0, 1024, 2000, 40000, 65535, 1}, []int16{-1024, 0, 976, 32767, 32767, -1023}},
		{"signed 16 as is", func(s *synthSlice) { s.pixRep = 1 },
			[]uint32{0xF830, 0, 3000, 0x8000, 0x7FFF, 0xFFFF}, []int16{-2000, 0, 3000, -32768, 32767, -1}},
		{"signed 16 with intercept clamps low", func(s *synthSlice) { s.pixRep, s.intercept = 1, -1024 },
			[]uint32{0x8000, 0, 1024, 0xFFFF, 100, 0x7FFF}, []int16{-32768, -1024, 0, -1025, -924, 31743}},
		{"signed 12 of 16, garbage above HighBit masked", func(s *synthSlice) { s.pixRep, s.bitsStored, s.highBit = 1, 12, 11 },
			[]uint32{0x0800, 0x07FF, 0xA005, 0xFFFF, 0xF000, 0x0FFF}, []int16{-2048, 2047, 5, -1, 0, -1}},
		{"unsigned 12 at HighBit 15 (shifted)", func(s *synthSlice) { s.bitsStored, s.highBit = 12, 15 },
			[]uint32{0xFFF0, 0x0010, 0x000F, 0x8000, 0, 0x1230}, []int16{4095, 1, 0, 2048, 0, 0x123}},
		{"slope 0.5 rounds half away from zero", func(s *synthSlice) { s.slope, s.intercept = 0.5, -10 },
			[]uint32{3, 5, 0, 1, 21, 100}, []int16{-9, -8, -10, -10, 1, 40}},
		{"no rescale attributes", func(s *synthSlice) { s.noSlope, s.pixRep = true, 1 },
			[]uint32{1, 2, 3, 0xFFFE, 5, 6}, []int16{1, 2, 3, -2, 5, 6}},
		{"8-bit", func(s *synthSlice) { s.bitsAlloc, s.bitsStored, s.highBit, s.intercept = 8, 8, 7, -100 },
			[]uint32{0, 200, 255, 100, 1, 2}, []int16{-100, 100, 155, 0, -99, -98}},
		{"32-bit signed clamps", func(s *synthSlice) { s.bitsAlloc, s.bitsStored, s.highBit, s.pixRep = 32, 32, 31, 1 },
			[]uint32{0xFFFFFFFF, 100000, 0x80000000, 7, 0, 0xFFFF0000}, []int16{-1, 32767, -32768, 7, 0, -32768}},
		{"explicit big endian", func(s *synthSlice) { s.ts, s.pixRep, s.intercept = tsExplicitBE, 1, -1024 },
			[]uint32{0xF830, 0, 3000, 1, 2, 1024}, []int16{-3024, -1024, 1976, -1023, -1022, 0}},
		{"implicit little endian", func(s *synthSlice) { s.ts, s.intercept = tsImplicitLE, 7 },
			[]uint32{1, 2, 3, 4, 5, 6}, []int16{8, 9, 10, 11, 12, 13}},
		{"deflated", func(s *synthSlice) { s.ts, s.intercept = tsDeflatedLE, -1000 },
			[]uint32{0, 1000, 1100, 2000, 3, 4}, []int16{-1000, 0, 100, 1000, -997, -996}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := defaultSlice()
			c.modify(&s)
			s.words = c.words
			p := writeSynth(t, t.TempDir(), "x.dcm", s)
			v, _, err := LoadPath(context.Background(), p, nil)
			if err != nil {
				t.Fatal(err)
			}
			for i, w := range c.want {
				if v.Voxels[i] != w {
					t.Errorf("voxel %d: %d, want %d (stored 0x%X)", i, v.Voxels[i], w, c.words[i])
				}
			}
			// PixelSpacing 0.5\0.75 is [rows, cols]: i steps 0.75, j 0.5.
			if v.Spacing[0] != 0.75 || v.Spacing[1] != 0.5 || v.Size != [3]int{3, 2, 1} {
				t.Errorf("size %v spacing %v, want [3 2 1] [0.75 0.5 …]", v.Size, v.Spacing)
			}
		})
	}
}

func TestBaselineJPEG(t *testing.T) {
	img := image.NewGray(image.Rect(0, 0, 32, 16))
	for y := 0; y < 16; y++ {
		for x := 0; x < 32; x++ {
			img.Pix[y*img.Stride+x] = uint8(4*x + 2*y)
		}
	}
	var jb bytes.Buffer
	if err := jpeg.Encode(&jb, img, &jpeg.Options{Quality: 100}); err != nil {
		t.Fatal(err)
	}
	s := defaultSlice()
	s.ts, s.rows, s.cols = TSJPEGBaseline, 16, 32
	s.bitsAlloc, s.bitsStored, s.highBit, s.slope, s.intercept = 8, 8, 7, 2, -100
	s.jpegFrame = jb.Bytes()
	v, _, err := LoadPath(context.Background(), writeSynth(t, t.TempDir(), "j.dcm", s), nil)
	if err != nil {
		t.Fatal(err)
	}
	worst := 0.0
	for y := 0; y < 16; y++ {
		for x := 0; x < 32; x++ {
			want := 2*float64(4*x+2*y) - 100
			worst = math.Max(worst, math.Abs(float64(v.At(x, y, 0))-want))
		}
	}
	// Quality-100 JPEG is within a couple of grey levels; ×2 by the slope.
	if worst > 8 {
		t.Errorf("largest difference from the source image: %g HU", worst)
	}
}

func TestBadCompressedFramesAndUnknownSyntaxesNameTheFile(t *testing.T) {
	for _, ts := range []string{TSJPEGBaseline, TSJPEGLossless, TSJPEGLSLossless, TSJ2KLossless, tsRLE, TSHTJ2K, "1.2.3.999"} {
		s := defaultSlice()
		s.ts = ts
		s.jpegFrame = []byte{1, 2, 3, 4} // not a valid codestream of any kind
		p := writeSynth(t, t.TempDir(), "c.dcm", s)
		_, _, err := LoadPath(context.Background(), p, nil)
		want := p + ": cannot decode compressed frame"
		if !tsSupported(ts) {
			want = fmt.Sprintf("%s: transfer syntax %s (%s) is not supported", p, ts, TransferSyntaxName(ts))
		}
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want %q", ts, err, want)
		}
	}
}

// stack writes n slices along the normal of iop at the given positions
// (mm along the normal), with optional in-plane shift per mm (tilt).
func stack(t *testing.T, dir, prefix string, base synthSlice, pos []float64, shear float64) {
	t.Helper()
	r := [3]float64{base.iop[0], base.iop[1], base.iop[2]}
	c := [3]float64{base.iop[3], base.iop[4], base.iop[5]}
	n := unit(cross(r, c))
	for k, d := range pos {
		s := base
		s.words = make([]uint32, s.rows*s.cols)
		for i := range s.words {
			s.words[i] = uint32(100 * k) // slice k holds 100·k
		}
		s.sopUID = fmt.Sprintf("%s.%d", base.seriesUID, k+1)
		s.instance = len(pos) - k // InstanceNumber runs against position
		for a := 0; a < 3; a++ {
			s.ipp[a] = 10 + d*n[a] + d*shear*c[a]
		}
		// File names sort against position too.
		writeSynth(t, dir, fmt.Sprintf("%s%03d", prefix, 500-7*k), s)
	}
}

func TestGroupingAndSorting(t *testing.T) {
	oblique := [6]float64{1, 0, 0, 0, math.Cos(0.3), math.Sin(0.3)}
	cases := []struct {
		name     string
		build    func(t *testing.T, dir string)
		sizes    []int
		warn     []string // in the first series
		skipped  int
		reason   string
		firstK   int     // HU of voxel k=0 in the loaded volume /100
		stepWant float64 // slice spacing of the first series
	}{
		{"sorted by position, not name or InstanceNumber", func(t *testing.T, dir string) {
			stack(t, dir, "a", defaultSlice(), []float64{0, 2.5, 5, 7.5, 10}, 0)
		}, []int{5}, nil, 0, "", 0, 2.5},
		{"descending positions still start at the lowest", func(t *testing.T, dir string) {
			stack(t, dir, "a", defaultSlice(), []float64{10, 7.5, 5, 2.5, 0}, 0)
		}, []int{5}, nil, 0, "", 4, 2.5},
		{"oblique orientation sorts along its normal", func(t *testing.T, dir string) {
			s := defaultSlice()
			s.iop = oblique
			stack(t, dir, "o", s, []float64{3, 0, 6, 1.5, 4.5}, 0)
		}, []int{5}, nil, 0, "", 1, 1.5},
		{"duplicates are left out with a reason", func(t *testing.T, dir string) {
			stack(t, dir, "a", defaultSlice(), []float64{0, 1, 2, 3}, 0)
			s := defaultSlice()
			s.sopUID = "1.2.3.4.5.99"
			stack(t, dir, "dup", s, []float64{2}, 0)
		}, []int{4}, []string{"1 duplicate slice"}, 1, "duplicate slice position", 0, 1},
		{"missing slice and uneven spacing", func(t *testing.T, dir string) {
			stack(t, dir, "a", defaultSlice(), []float64{0, 2, 4, 8, 10, 12}, 0)
		}, []int{6}, []string{"missing slices: about 1 slice(s) absent where the usual step is 2.000 mm", "uneven slice spacing: steps range from 2.000 to 4.000 mm", "resampled to a regular grid like dcm2niix: 7 slices at 2.000 mm from 6"}, 0, "", 0, 2},
		{"small spacing jitter is kept, not resampled", func(t *testing.T, dir string) {
			stack(t, dir, "a", defaultSlice(), []float64{0, 2.5, 5.05, 7.5, 10}, 0)
		}, []int{5}, []string{"uneven slice spacing: steps range from 2.450 to 2.550 mm", "within 0.2 mm, so kept on the mean step: slices are up to 0.05 mm"}, 0, "", 0, 2.5},
		{"gantry tilt is corrected", func(t *testing.T, dir string) {
			stack(t, dir, "a", defaultSlice(), []float64{0, 1, 2, 3, 4}, math.Tan(15*math.Pi/180))
		}, []int{5}, []string{"gantry tilt: slices advance 15.00° off their normal", "orthogonal grid enlarged to 3x5"}, 0, "", 0, 1},
		{"two series in one folder stay apart", func(t *testing.T, dir string) {
			stack(t, dir, "a", defaultSlice(), []float64{0, 1, 2}, 0)
			s := defaultSlice()
			s.seriesUID = "1.2.3.4.6"
			stack(t, dir, "b", s, []float64{0, 1, 2, 3}, 0)
		}, []int{4, 3}, nil, 0, "", 0, 1},
		{"no UIDs: grouped by orientation and matrix", func(t *testing.T, dir string) {
			s := defaultSlice()
			s.seriesUID, s.studyUID = "", ""
			stack(t, dir, "a", s, []float64{0, 1, 2}, 0)
			s.iop = oblique
			stack(t, dir, "b", s, []float64{0, 1}, 0)
			s.iop, s.rows = [6]float64{1, 0, 0, 0, 1, 0}, 4
			stack(t, dir, "c", s, []float64{5}, 0)
		}, []int{3, 2, 1}, nil, 0, "", 0, 1},
		{"ImageType LOCALIZER never joins the volume", func(t *testing.T, dir string) {
			stack(t, dir, "a", defaultSlice(), []float64{0, 1, 2}, 0)
			s := defaultSlice()
			s.imageType = `ORIGINAL\PRIMARY\LOCALIZER`
			s.iop = [6]float64{1, 0, 0, 0, 0, -1}
			stack(t, dir, "loc", s, []float64{50}, 0)
		}, []int{3, 1}, nil, 0, "", 0, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			c.build(t, dir)
			cat, err := Scan(context.Background(), []string{dir}, nil)
			if err != nil {
				t.Fatal(err)
			}
			var sizes []int
			for _, s := range cat.Series {
				sizes = append(sizes, s.NumSlices())
			}
			if !slices.Equal(sizes, c.sizes) {
				t.Fatalf("series sizes %v, want %v", sizes, c.sizes)
			}
			s := cat.Series[0]
			for _, w := range c.warn {
				if !containsSub(s.Warnings, w) {
					t.Errorf("warnings %q lack %q", s.Warnings, w)
				}
			}
			if c.warn == nil && len(s.Warnings) > 0 {
				t.Errorf("unexpected warnings %q", s.Warnings)
			}
			if len(cat.Skipped) != c.skipped || c.skipped > 0 && !strings.Contains(cat.Skipped[0].Reason, c.reason) {
				t.Errorf("skipped %+v, want %d with %q", cat.Skipped, c.skipped, c.reason)
			}
			v, err := Load(context.Background(), s, nil)
			if err != nil {
				t.Fatal(err)
			}
			if got := int(v.At(0, 0, 0)) / 100; got != c.firstK {
				t.Errorf("slice 0 came from stack index %d, want %d", got, c.firstK)
			}
			// Slices must advance monotonically along the normal.
			n := normalOf(s.files[0])
			for k := 1; k < len(s.files); k++ {
				if dot(s.files[k].IPP, n) <= dot(s.files[k-1].IPP, n) {
					t.Errorf("files not sorted along the normal at %d", k)
				}
			}
			if math.Abs(v.Spacing[2]-c.stepWant) > 1e-6 {
				t.Errorf("slice spacing %g, want %g", v.Spacing[2], c.stepWant)
			}
			// Every slice lands where its header says on evenly spaced
			// stacks.
			if c.warn == nil {
				for k, f := range s.files {
					if p := v.IndexToPatient([3]float64{0, 0, float64(k)}); !near3(p, f.IPP, 1e-4) {
						t.Errorf("slice %d at %v, header says %v", k, p, f.IPP)
					}
				}
			}
			// A tilted stack is on an orthogonal grid: slice k's first
			// pixel lies k·tan 15° mm further along the columns.
			if strings.Contains(c.name, "tilt") {
				if v.Direction != [3][3]float64{{1, 0, 0}, {0, 1, 0}, {0, 0, 1}} {
					t.Errorf("direction %v, want identity", v.Direction)
				}
				for k, f := range s.files {
					want := [3]float64{0, float64(k) * math.Tan(15*math.Pi/180) / v.Spacing[1], float64(k)}
					if idx := v.PatientToIndex(f.IPP); !near3(idx, want, 1e-6) {
						t.Errorf("slice %d header position is at index %v, want %v", k, idx, want)
					}
				}
				if got := v.At(1, 0, 0); got != 0 {
					t.Errorf("slice 0 unshifted voxel = %d, want 0", got)
				}
				if got := v.At(1, 0, 4); got != 0 {
					// Above slice 4's shifted rows: the fill (darkest value, 0 here).
					t.Errorf("border voxel = %d, want the fill 0", got)
				}
			}
			switch {
			case v.Size[2] != len(s.files):
				if v.Info.SOPInstanceUIDs != nil {
					t.Errorf("resampled slices keep SOPInstanceUIDs %v", v.Info.SOPInstanceUIDs)
				}
			case len(v.Info.SOPInstanceUIDs) != v.Size[2] || v.Info.SOPInstanceUIDs[0] != s.files[0].SOPInstanceUID:
				t.Errorf("SOPInstanceUIDs %v", v.Info.SOPInstanceUIDs)
			}
		})
	}
}
