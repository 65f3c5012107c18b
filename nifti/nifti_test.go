package nifti

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/liverseg/liverseg/volume"
)

func TestRoundTripGeometries(t *testing.T) {
	for _, gc := range geometryCases() {
		for _, ext := range []string{".nii", ".nii.gz"} {
			t.Run(gc.name+ext, func(t *testing.T) {
				v := randomVolume(gc.g, 7)
				p := filepath.Join(t.TempDir(), "ct"+ext)
				if err := WriteVolume(p, v); err != nil {
					t.Fatal(err)
				}
				got, err := Read(p)
				if err != nil {
					t.Fatal(err)
				}
				if got.Size != v.Size {
					t.Fatalf("size %v, want %v", got.Size, v.Size)
				}
				if !slices.Equal(got.Voxels, v.Voxels) {
					t.Fatal("voxels differ after the round trip")
				}
				// float32 storage: 1e-4 mm is far below any voxel size.
				assertAffine(t, "sform", got.AffineLPS(), v.AffineLPS(), 1e-4)
				if len(got.Info.Warnings) != 0 {
					t.Errorf("unexpected warnings %q", got.Info.Warnings)
				}
				if got.Info.Source == "" || !filepath.IsAbs(got.Info.Source) {
					t.Errorf("Info.Source = %q, want the absolute path", got.Info.Source)
				}

				// The qform alone must give the same grid (it is what
				// readers that ignore the sform use), except for a
				// sheared grid, where it is the nearest rigid grid.
				qonly := readWithSformCode(t, p, 0)
				if gc.sheared {
					if qonly.SameGridWithin(v.Geometry, 1e-3) {
						t.Fatal("qform reproduced a sheared grid exactly, which it cannot")
					}
					for a := 0; a < 3; a++ {
						if math.Abs(qonly.Origin[a]-v.Origin[a]) > 1e-3 {
							t.Fatalf("qform origin %v, want %v", qonly.Origin, v.Origin)
						}
					}
					return
				}
				assertAffine(t, "qform", qonly.AffineLPS(), v.AffineLPS(), 1e-4)
			})
		}
	}
}

// readWithSformCode rewrites sform_code in a written file and reads it back.
func readWithSformCode(t *testing.T, p string, code int16) *volume.Volume {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	gz := strings.HasSuffix(p, ".gz")
	if gz {
		r, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		var raw bytes.Buffer
		raw.ReadFrom(r)
		b = raw.Bytes()
	}
	binary.LittleEndian.PutUint16(b[offSformCode:], uint16(code))
	q := writeTemp(t, "qonly.nii", b)
	v, err := Read(q)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestMaskRoundTrip(t *testing.T) {
	for _, gc := range geometryCases()[:4] {
		for _, ext := range []string{".nii", ".nii.gz"} {
			t.Run(gc.name+ext, func(t *testing.T) {
				m := volume.NewMask(gc.g)
				for i := range m.Voxels {
					m.Voxels[i] = uint8((i * 37) % 256)
				}
				p := filepath.Join(t.TempDir(), "liver"+ext)
				if err := WriteMask(p, m); err != nil {
					t.Fatal(err)
				}
				got, err := ReadMask(p)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got.Voxels, m.Voxels) {
					t.Fatal("mask voxels differ after the round trip")
				}
				assertAffine(t, "mask", got.AffineLPS(), m.AffineLPS(), 1e-4)
				// A written mask read as a volume gives the same labels.
				v, err := Read(p)
				if err != nil {
					t.Fatal(err)
				}
				for i, x := range v.Voxels {
					if int(x) != int(m.Voxels[i]) {
						t.Fatalf("voxel %d: %d read as volume, %d in the mask", i, x, m.Voxels[i])
					}
				}
			})
		}
	}
}

func TestWrittenHeader(t *testing.T) {
	g := geometryCases()[3].g // flipped: qfac must be −1
	p := filepath.Join(t.TempDir(), "h.nii")
	if err := WriteVolume(p, volume.New(g)); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	h, err := parseHeader(b)
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"file size", len(b), 352 + 2*g.NumVoxels()},
		{"datatype", h.Datatype, int16(dtInt16)},
		{"bitpix", h.Bitpix, int16(16)},
		{"dim", h.Dim, [8]int16{3, 7, 5, 4, 1, 1, 1, 1}},
		{"qfac", h.Pixdim[0], float32(-1)},
		{"pixdim", [3]float32{h.Pixdim[1], h.Pixdim[2], h.Pixdim[3]}, [3]float32{0.7265625, 0.8, 2.5}},
		{"vox_offset", h.VoxOffset, float32(352)},
		{"scl_slope", h.SclSlope, float32(1)},
		{"scl_inter", h.SclInter, float32(0)},
		{"xyzt_units", h.XYZTUnits, uint8(unitsMM)},
		{"qform_code", h.QformCode, int16(1)},
		{"sform_code", h.SformCode, int16(1)},
		{"descrip", string(bytes.TrimRight(h.Descrip[:], "\x00")), "LiverSeg"},
		{"extension flag", b[348], byte(0)},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
}

func TestAtomicWrite(t *testing.T) {
	dir := t.TempDir()
	v := randomVolume(geometryCases()[0].g, 3)
	p := filepath.Join(dir, "out.nii.gz")
	if err := WriteVolume(p, v); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o644 {
		t.Errorf("mode %v, want 0644", st.Mode().Perm())
	}
	before, _ := os.ReadFile(p)

	// NoOverwrite refuses and leaves the file untouched.
	other := randomVolume(geometryCases()[0].g, 4)
	err = WriteVolume(p, other, WriteOptions{NoOverwrite: true})
	if !errors.Is(err, fs.ErrExist) {
		t.Fatalf("NoOverwrite on an existing file: err = %v, want fs.ErrExist", err)
	}
	if after, _ := os.ReadFile(p); !bytes.Equal(before, after) {
		t.Fatal("NoOverwrite changed the existing file")
	}
	// NoOverwrite on a new name writes it.
	p2 := filepath.Join(dir, "new.nii")
	if err := WriteVolume(p2, other, WriteOptions{NoOverwrite: true}); err != nil {
		t.Fatal(err)
	}
	// Plain write replaces.
	if err := WriteVolume(p, other); err != nil {
		t.Fatal(err)
	}
	got, err := Read(p)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.Voxels, other.Voxels) {
		t.Fatal("overwrite did not replace the voxels")
	}

	// Failures leave nothing behind: bad geometry, inconsistent voxel
	// count, wrong extension, missing folder.
	bad := volume.New(v.Geometry)
	bad.Spacing[2] = 0
	short := &volume.Volume{Geometry: v.Geometry, Voxels: make([]int16, 3)}
	fails := []struct {
		name string
		path string
		v    *volume.Volume
	}{
		{"zero spacing", filepath.Join(dir, "bad.nii"), bad},
		{"voxel count", filepath.Join(dir, "short.nii"), short},
		{"extension", filepath.Join(dir, "x.img"), v},
		{"missing folder", filepath.Join(dir, "nope", "x.nii"), v},
		{"nil", filepath.Join(dir, "nil.nii"), nil},
	}
	for _, f := range fails {
		if err := WriteVolume(f.path, f.v); err == nil {
			t.Errorf("%s: write succeeded", f.name)
		} else if !strings.Contains(err.Error(), f.path) {
			t.Errorf("%s: error %q does not name the file", f.name, err)
		}
	}
	assertDir(t, dir, "new.nii", "out.nii.gz")
}

// TestWriteFailureLeavesNothing fails a write half-way and checks that no
// temporary or partial file remains and an existing file is untouched; and
// that NoOverwrite does not replace a file created by someone else while
// the write was in progress.
func TestWriteFailureLeavesNothing(t *testing.T) {
	g := volume.Identity([3]int{4, 4, 4}, [3]float64{1, 1, 1})
	for _, ext := range []string{".nii", ".nii.gz"} {
		t.Run(ext, func(t *testing.T) {
			dir := t.TempDir()
			p := filepath.Join(dir, "out"+ext)
			os.WriteFile(p, []byte("previous"), 0o644)
			boom := errors.New("disk full")
			err := write(p, g, dtInt16, WriteOptions{}, func(w io.Writer) error {
				w.Write(make([]byte, 100))
				return boom
			})
			if !errors.Is(err, boom) || !strings.Contains(err.Error(), p) {
				t.Fatalf("err = %v, want the body's error naming %s", err, p)
			}
			assertDir(t, dir, "out"+ext)
			if b, _ := os.ReadFile(p); string(b) != "previous" {
				t.Fatalf("existing file changed to %q", b)
			}

			// Someone else creates the destination mid-write.
			p2 := filepath.Join(dir, "race"+ext)
			err = write(p2, g, dtInt16, WriteOptions{NoOverwrite: true}, func(w io.Writer) error {
				_, err := w.Write(make([]byte, 128))
				os.WriteFile(p2, []byte("theirs"), 0o644)
				return err
			})
			if !errors.Is(err, fs.ErrExist) {
				t.Fatalf("err = %v, want fs.ErrExist", err)
			}
			if b, _ := os.ReadFile(p2); string(b) != "theirs" {
				t.Fatalf("NoOverwrite replaced a file created during the write: %q", b)
			}
			assertDir(t, dir, "out"+ext, "race"+ext)
		})
	}
}

// assertDir fails unless dir holds exactly the named entries.
func assertDir(t *testing.T, dir string, want ...string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if strings.Join(names, ",") != strings.Join(want, ",") {
		t.Fatalf("folder holds %v, want %v", names, want)
	}
}

func TestIsNIfTI(t *testing.T) {
	for p, want := range map[string]bool{
		"a.nii": true, "a.nii.gz": true, "/x/B.NII.GZ": true, "c.Nii": true,
		"a.gz": false, "a.dcm": false, "nii": false, "dir/": false, "a.nii.gz.bak": false, "a.hdr": false,
	} {
		if got := IsNIfTI(p); got != want {
			t.Errorf("IsNIfTI(%q) = %v, want %v", p, got, want)
		}
	}
}

// TestDatatypes checks conversion of every supported datatype to int16 with
// and without scaling, in both byte orders.
func TestDatatypes(t *testing.T) {
	size := [3]int{4, 2, 1}
	type tc struct {
		name         string
		dt           int16
		vals         []float64 // stored values
		slope, inter float32
		want         []int16
		warn         string
	}
	cases := []tc{
		{"uint8", dtUint8, []float64{0, 1, 2, 255, 128, 7, 9, 10}, 0, 0, []int16{0, 1, 2, 255, 128, 7, 9, 10}, ""},
		{"int8", dtInt8, []float64{-128, -1, 0, 127, 5, 6, 7, 8}, 1, 0, []int16{-128, -1, 0, 127, 5, 6, 7, 8}, ""},
		{"int16", dtInt16, []float64{-32768, -1024, 0, 32767, 40, 3000, -1, 1}, 0, 0, []int16{-32768, -1024, 0, 32767, 40, 3000, -1, 1}, ""},
		{"uint16 + intercept −1024 (CT)", dtUint16, []float64{0, 1024, 1064, 4095, 65535, 0, 1, 2}, 1, -1024,
			[]int16{-1024, 0, 40, 3071, 32767, -1024, -1023, -1022}, "clamped"},
		{"uint16 clamped", dtUint16, []float64{0, 32767, 32768, 65535, 1, 2, 3, 4}, 0, 0,
			[]int16{0, 32767, 32767, 32767, 1, 2, 3, 4}, "2 voxels were outside"},
		{"int32", dtInt32, []float64{-40000, -32768, 100000, 1, 2, 3, 4, 5}, 1, 0,
			[]int16{-32768, -32768, 32767, 1, 2, 3, 4, 5}, "2 voxels"},
		{"uint32", dtUint32, []float64{0, 70000, 5, 6, 7, 8, 9, 10}, 0, 0, []int16{0, 32767, 5, 6, 7, 8, 9, 10}, "clamped"},
		{"int64", dtInt64, []float64{-5, 5, -1e6, 0, 1, 2, 3, 4}, 0, 0, []int16{-5, 5, -32768, 0, 1, 2, 3, 4}, "clamped"},
		{"uint64", dtUint64, []float64{0, 9, 8, 7, 6, 5, 4, 3}, 0, 0, []int16{0, 9, 8, 7, 6, 5, 4, 3}, ""},
		{"float32 rounding + NaN", dtFloat32, []float64{-0.4, 0.6, 1.5, -1.5, -1000.2, math.NaN(), 2.49, 1e9}, 0, 0,
			[]int16{0, 1, 2, -2, -1000, 0, 2, 32767}, "1 voxels were NaN"},
		{"float64 slope 0.5", dtFloat64, []float64{2, 4, -8, 3, 0, 1, 100, -100}, 0.5, 10,
			[]int16{11, 12, 6, 12, 10, 11, 60, -40}, ""},
		{"int16 slope 2 intercept −1", dtInt16, []float64{0, 1, 2, -3, 20000, -20000, 5, 6}, 2, -1,
			[]int16{-1, 1, 3, -7, 32767, -32768, 9, 11}, "2 voxels"},
		{"NaN slope means unscaled", dtInt16, []float64{1, 2, 3, 4, 5, 6, 7, 8}, float32(math.NaN()), 99,
			[]int16{1, 2, 3, 4, 5, 6, 7, 8}, ""},
	}
	for _, c := range cases {
		for _, order := range []binary.ByteOrder{binary.LittleEndian, binary.BigEndian} {
			t.Run(c.name+"/"+order.String(), func(t *testing.T) {
				h := testHeader(size, c.dt)
				h.SclSlope, h.SclInter = c.slope, c.inter
				data := encodeValues(c.dt, c.vals, order)
				file := rawNIfTI(t, h, data, false)
				if order == binary.BigEndian {
					file = swapHeader(file)
				}
				v, err := Read(writeTemp(t, "dt.nii", file))
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(v.Voxels, c.want) {
					t.Fatalf("got %v, want %v", v.Voxels, c.want)
				}
				w := strings.Join(v.Info.Warnings, "; ")
				if (c.warn == "") != (w == "") || !strings.Contains(w, c.warn) {
					t.Fatalf("warnings %q, want one containing %q", w, c.warn)
				}
			})
		}
	}
}

// encodeValues stores vals as datatype dt in the given byte order.
func encodeValues(dt int16, vals []float64, o binary.ByteOrder) []byte {
	n := bytesPerVoxel[dt]
	b := make([]byte, n*len(vals))
	for i, x := range vals {
		p := b[i*n:]
		switch dt {
		case dtUint8:
			p[0] = uint8(x)
		case dtInt8:
			p[0] = uint8(int8(x))
		case dtInt16:
			o.PutUint16(p, uint16(int16(x)))
		case dtUint16:
			o.PutUint16(p, uint16(x))
		case dtInt32:
			o.PutUint32(p, uint32(int32(x)))
		case dtUint32:
			o.PutUint32(p, uint32(x))
		case dtFloat32:
			o.PutUint32(p, math.Float32bits(float32(x)))
		case dtFloat64:
			o.PutUint64(p, math.Float64bits(x))
		case dtInt64:
			o.PutUint64(p, uint64(int64(x)))
		case dtUint64:
			o.PutUint64(p, uint64(x))
		}
	}
	return b
}

// swapHeader converts an encoded little-endian header to big endian, field
// by field, as a big-endian writer would have stored it.
func swapHeader(b []byte) []byte {
	out := append([]byte(nil), b...)
	swap := func(off, size, count int) {
		for i := 0; i < count; i++ {
			p := out[off+i*size : off+(i+1)*size]
			for a, z := 0, size-1; a < z; a, z = a+1, z-1 {
				p[a], p[z] = p[z], p[a]
			}
		}
	}
	swap(offSizeofHdr, 4, 1)
	swap(offDim, 2, 8)
	swap(offDatatype, 2, 3) // datatype, bitpix, slice_start
	swap(offPixdim, 4, 8)
	swap(offVoxOffset, 4, 3) // vox_offset, scl_slope, scl_inter
	swap(offCalMax, 4, 2)
	swap(offQformCode, 2, 2)
	swap(offQuaternB, 4, 6+12)
	return out
}

func TestMaskDatatypes(t *testing.T) {
	size := [3]int{4, 1, 1}
	cases := []struct {
		name    string
		dt      int16
		vals    []float64
		want    []uint8
		wantErr string
	}{
		{"uint8 labels", dtUint8, []float64{0, 1, 2, 255}, []uint8{0, 1, 2, 255}, ""},
		{"int16 labels", dtInt16, []float64{0, 1, 0, 3}, []uint8{0, 1, 0, 3}, ""},
		{"float32 0/1", dtFloat32, []float64{0, 1, 0.9999, 0}, []uint8{0, 1, 1, 0}, ""},
		{"CT by mistake", dtInt16, []float64{-1024, 40, 0, 0}, nil, "not a label"},
		{"label 300", dtUint16, []float64{0, 300, 0, 0}, nil, "not a label"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := testHeader(size, c.dt)
			p := writeTemp(t, "m.nii.gz", rawNIfTI(t, h, encodeValues(c.dt, c.vals, binary.LittleEndian), true))
			m, err := ReadMask(p)
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) || !strings.Contains(err.Error(), p) {
					t.Fatalf("err = %v, want one naming %s and containing %q", err, p, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(m.Voxels, c.want) {
				t.Fatalf("got %v, want %v", m.Voxels, c.want)
			}
		})
	}
}

// TestHeaderVariants covers the header layouts other writers produce.
func TestHeaderVariants(t *testing.T) {
	size := [3]int{3, 2, 2}
	data := encodeValues(dtInt16, []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, binary.LittleEndian)
	g := geometryCases()[2].g // oblique
	g.Size = size
	cases := []struct {
		name     string
		edit     func(h *header) []byte // returns extra bytes inserted before the data
		wantSize [3]int
		wantGeom *volume.Geometry
		warn     string
	}{
		{"4D with one volume", func(h *header) []byte { h.Dim[0], h.Dim[4] = 4, 1; return nil }, size, &g, ""},
		{"5D with singleton dims", func(h *header) []byte { h.Dim[0], h.Dim[4], h.Dim[5] = 5, 1, 1; return nil }, size, &g, ""},
		{"qform only", func(h *header) []byte { h.SformCode = 0; return nil }, size, &g, ""},
		{"sform only", func(h *header) []byte { h.QformCode = 0; h.QuaternB = 99; return nil }, size, &g, ""},
		{"garbage sform code 2 with zero matrix falls back to qform", func(h *header) []byte {
			h.SformCode, h.SrowX, h.SrowY, h.SrowZ = 2, [4]float32{}, [4]float32{}, [4]float32{}
			return nil
		}, size, &g, "sform is unusable"},
		{"no transform", func(h *header) []byte { h.SformCode, h.QformCode = 0, 0; return nil }, size, nil, "neither sform nor qform"},
		{"vox_offset 0 (old writers)", func(h *header) []byte { h.VoxOffset = 0; return nil }, size, &g, ""},
		{"extensions before data", func(h *header) []byte {
			h.VoxOffset = 352 + 32
			return make([]byte, 32)
		}, size, &g, ""},
		{"metres", func(h *header) []byte { h.XYZTUnits = 1; return nil }, size, &g, "metres"},
	}
	for _, c := range cases {
		for _, gz := range []bool{false, true} {
			name := c.name
			if gz {
				name += " gz"
			}
			t.Run(name, func(t *testing.T) {
				h, err := newHeader(g, dtInt16)
				if err != nil {
					t.Fatal(err)
				}
				extra := c.edit(h)
				file := rawNIfTI(t, h, append(extra, data...), gz)
				v, err := Read(writeTemp(t, "v.nii.gz", file))
				if err != nil {
					t.Fatal(err)
				}
				if v.Size != c.wantSize {
					t.Fatalf("size %v, want %v", v.Size, c.wantSize)
				}
				if v.Voxels[0] != 1 || v.Voxels[11] != 12 {
					t.Fatalf("voxels %v", v.Voxels)
				}
				if c.wantGeom != nil {
					assertAffine(t, c.name, v.AffineLPS(), c.wantGeom.AffineLPS(), 1e-4)
				} else {
					want := volume.Geometry{Size: size, Spacing: g.Spacing, Direction: [3][3]float64{{-1, 0, 0}, {0, -1, 0}, {0, 0, 1}}}
					assertAffine(t, c.name, v.AffineLPS(), want.AffineLPS(), 1e-6)
				}
				w := strings.Join(v.Info.Warnings, "; ")
				if (c.warn == "") != (w == "") || !strings.Contains(w, c.warn) {
					t.Fatalf("warnings %q, want one containing %q", w, c.warn)
				}
			})
		}
	}
}

// TestBadFiles checks that damaged or unsupported files give an error that
// names the file and the reason, never a panic or a silent partial image.
func TestBadFiles(t *testing.T) {
	v := randomVolume(volume.Identity([3]int{16, 16, 8}, [3]float64{1, 1, 1}), 5)
	dir := t.TempDir()
	good := filepath.Join(dir, "good.nii")
	goodGz := filepath.Join(dir, "good.nii.gz")
	if err := WriteVolume(good, v); err != nil {
		t.Fatal(err)
	}
	if err := WriteVolume(goodGz, v); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(good)
	gzb, _ := os.ReadFile(goodGz)

	edit := func(f func(h *header)) []byte {
		h, _ := parseHeader(raw)
		f(h)
		return append(h.encode(), raw[352:]...)
	}
	flip := func(b []byte, at int) []byte {
		c := append([]byte(nil), b...)
		c[at] ^= 0x55
		return c
	}
	cases := []struct {
		name, file string
		data       []byte
		want       string
	}{
		{"empty", "e.nii", nil, "shorter than the 348-byte"},
		{"header cut", "c.nii", raw[:200], "shorter than the 348-byte"},
		{"header only", "h.nii", raw[:352], "truncated"},
		{"data cut", "d.nii", raw[:352+1000], "truncated"},
		{"data cut by one byte", "d1.nii", raw[:len(raw)-1], "truncated"},
		{"gz cut in half", "g.nii.gz", gzb[:len(gzb)/2], "truncated"},
		{"gz cut in header", "gh.nii.gz", gzb[:30], ""},
		{"gz missing trailer", "gt.nii.gz", gzb[:len(gzb)-8], ""},
		{"gz corrupt data", "gc.nii.gz", flip(gzb, len(gzb)/2), "gzip"},
		{"gz bad checksum", "gk.nii.gz", flip(gzb, len(gzb)-6), "checksum"},
		{"bad magic", "m.nii", edit(func(h *header) { h.Magic = [4]byte{'x', 'y', 'z', 0} }), "magic"},
		{"pair magic", "p.nii", edit(func(h *header) { h.Magic = [4]byte{'n', 'i', '1', 0} }), ".hdr/.img"},
		{"not nifti", "t.nii", bytes.Repeat([]byte("hello world "), 100), "sizeof_hdr"},
		{"nifti-2", "n2.nii", append(binary.LittleEndian.AppendUint32(nil, 540), make([]byte, 600)...), "NIfTI-2"},
		{"RGB24", "rgb.nii", edit(func(h *header) { h.Datatype = 128 }), "unsupported datatype RGB24"},
		{"complex64", "cx.nii", edit(func(h *header) { h.Datatype = 32 }), "unsupported datatype complex64"},
		{"unknown datatype", "u.nii", edit(func(h *header) { h.Datatype = 3 }), "unsupported datatype code 3"},
		{"huge dims", "big.nii", edit(func(h *header) { h.Dim = [8]int16{3, 32767, 32767, 32767, 1, 1, 1, 1} }), "exceeds the limit"},
		{"zero dim", "z.nii", edit(func(h *header) { h.Dim[2] = 0 }), "dim[2] = 0"},
		{"negative dim", "n.nii", edit(func(h *header) { h.Dim[3] = -4 }), "dim[3] = -4"},
		{"bad dim[0]", "d0.nii", edit(func(h *header) { h.Dim[0] = 9 }), "dim[0] = 9"},
		{"4D series", "4d.nii", edit(func(h *header) { h.Dim[0], h.Dim[4] = 4, 3 }), "single 3D volumes only"},
		{"NaN vox_offset", "vo.nii", edit(func(h *header) { h.VoxOffset = float32(math.NaN()) }), "vox_offset"},
		{"huge vox_offset", "vo2.nii", edit(func(h *header) { h.VoxOffset = 1e6 }), "truncated"},
		{"NaN everywhere in geometry", "geo.nii", edit(func(h *header) {
			nan := float32(math.NaN())
			h.SrowX[0], h.QuaternB, h.Pixdim[1] = nan, nan, nan
		}), ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := writeTemp(t, c.file, c.data)
			_, err := Read(p)
			if c.name == "NaN everywhere in geometry" {
				// Usable with a warning: pixdim fallback with 1 mm.
				if err != nil {
					t.Fatalf("err = %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %q should name %s and contain %q", err, p, c.want)
			}
			if _, err := ReadMask(p); err == nil {
				t.Fatal("ReadMask: no error")
			}
		})
	}
	for _, p := range []string{filepath.Join(dir, "missing.nii"), dir} {
		if _, err := Read(p); err == nil || !strings.Contains(err.Error(), p) {
			t.Errorf("Read(%s): err = %v, want one naming it", p, err)
		}
	}
}
