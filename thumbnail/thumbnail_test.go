package thumbnail

import (
	"context"
	"image"
	"path/filepath"
	"strings"
	"testing"

	"github.com/liverseg/liverseg/dicomio"
	"github.com/liverseg/liverseg/internal/testsupport/shareddata"
	"github.com/liverseg/liverseg/internal/testsupport/testct"
	"github.com/liverseg/liverseg/viewer"
)

func scanOne(tb testing.TB, path string) *dicomio.Series {
	tb.Helper()
	cat, err := dicomio.Scan(context.Background(), []string{path}, nil)
	if err != nil {
		tb.Fatalf("scan %s: %v", path, err)
	}
	if len(cat.Series) == 0 {
		tb.Fatalf("scan %s: no series (skipped: %v)", path, cat.Skipped)
	}
	return cat.Series[0]
}

// ReadSlice must give exactly the pixels Load puts in the volume's slice:
// the thumbnail shows what the user will open.
func TestReadSliceMatchesLoad(t *testing.T) {
	st := testct.Abdomen(t)
	s := scanOne(t, st.DICOM)
	v, err := dicomio.Load(context.Background(), s, nil)
	if err != nil {
		t.Fatal(err)
	}
	plane := v.Size[0] * v.Size[1]
	for _, k := range []int{0, s.NumSlices() / 2, s.NumSlices() - 1} {
		pix, err := s.ReadSlice(k)
		if err != nil {
			t.Fatalf("%s slice %d: %v", st.Name, k, err)
		}
		want := v.Voxels[k*plane : (k+1)*plane]
		if len(pix) != len(want) {
			t.Fatalf("%s slice %d: %d values, want %d", st.Name, k, len(pix), len(want))
		}
		for i := range pix {
			if pix[i] != want[i] {
				t.Fatalf("%s slice %d: value %d is %d, the loaded volume has %d", st.Name, k, i, pix[i], want[i])
			}
		}
	}
	if _, err := s.ReadSlice(s.NumSlices()); err == nil || !strings.Contains(err.Error(), s.Key) {
		t.Errorf("slice past the end: error %v, want one naming the series", err)
	}
}

// The same image stored raw, RLE and JPEG-LS lossless reads the same: the
// picker's thumbnails go through the codecs.
func TestReadSliceCodecs(t *testing.T) {
	dir := shareddata.Path(t, "dicom", "pydicom-testfiles")
	ref, err := scanOne(t, filepath.Join(dir, "MR_small.dcm")).ReadSlice(0)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"MR_small_RLE.dcm", "MR_small_jpeg_ls_lossless.dcm", "MR_small_jp2klossless.dcm", "MR_small_bigendian.dcm"} {
		pix, err := scanOne(t, filepath.Join(dir, name)).ReadSlice(0)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		diff := 0
		for i := range pix {
			if pix[i] != ref[i] {
				diff++
			}
		}
		if len(pix) != len(ref) || diff != 0 {
			t.Errorf("%s: %d of %d values differ from MR_small.dcm", name, diff, len(ref))
		}
	}
}

func TestSliceAspectAndWindow(t *testing.T) {
	fill := func(n int, v int16) []int16 {
		p := make([]int16, n)
		for i := range p {
			p[i] = v
		}
		return p
	}
	abdomen := viewer.WindowLevel{Width: 400, Level: 40}
	tests := []struct {
		name       string
		cols, rows int
		spacing    [2]float64
		hu         int16
		wantW      int
		wantH      int
		wantGrey   uint8
	}{
		{"square matrix, square pixels", 512, 512, [2]float64{0.7, 0.7}, 40, 96, 96, 128},
		{"wide matrix", 100, 50, [2]float64{1, 1}, -1000, 96, 48, 0},
		{"rows twice as far apart", 100, 50, [2]float64{1, 2}, 1000, 96, 96, 255},
		{"tall", 40, 80, [2]float64{1, 1}, 240, 48, 96, 255},
		{"unknown spacing: square pixels", 100, 50, [2]float64{0, 0}, -160, 96, 48, 0},
	}
	for _, tc := range tests {
		img, err := Slice(fill(tc.cols*tc.rows, tc.hu), tc.cols, tc.rows, tc.spacing, abdomen, Size)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if b := img.Bounds(); b.Dx() != tc.wantW || b.Dy() != tc.wantH {
			t.Errorf("%s: %v, want %d×%d", tc.name, b.Size(), tc.wantW, tc.wantH)
		}
		c := img.NRGBAAt(img.Bounds().Dx()/2, img.Bounds().Dy()/2)
		if d := int(c.R) - int(tc.wantGrey); d < -1 || d > 1 || c.R != c.G || c.A != 255 {
			t.Errorf("%s: %d HU drawn as %v, want grey %d", tc.name, tc.hu, c, tc.wantGrey)
		}
	}
	for _, bad := range []struct {
		pix        []int16
		cols, rows int
		size       int
	}{{make([]int16, 10), 4, 4, 96}, {nil, 0, 0, 96}, {make([]int16, 16), 4, 4, 0}} {
		if _, err := Slice(bad.pix, bad.cols, bad.rows, [2]float64{1, 1}, abdomen, bad.size); err == nil {
			t.Errorf("Slice(%d values, %d×%d, size %d): no error", len(bad.pix), bad.cols, bad.rows, bad.size)
		}
	}
	if _, err := Series(nil, Size); err == nil {
		t.Error("Series(nil): no error")
	}
}

// The thumbnail of the abdomen shows a body on air: its centre is brighter
// than its corners.
func TestSeriesThumbnail(t *testing.T) {
	st := testct.Abdomen(t)
	img, err := Series(scanOne(t, st.DICOM), Size)
	if err != nil {
		t.Fatal(err)
	}
	b := img.Bounds()
	if b.Dx() > Size || b.Dy() > Size || max(b.Dx(), b.Dy()) != Size {
		t.Fatalf("%s: thumbnail %v, want it to fit %d px", st.Name, b.Size(), Size)
	}
	mean := func(r image.Rectangle) float64 {
		s, n := 0.0, 0
		for y := r.Min.Y; y < r.Max.Y; y++ {
			for x := r.Min.X; x < r.Max.X; x++ {
				s += float64(img.NRGBAAt(x, y).R)
				n++
			}
		}
		return s / float64(n)
	}
	c := mean(image.Rect(b.Dx()*3/8, b.Dy()*3/8, b.Dx()*5/8, b.Dy()*5/8))
	k := mean(image.Rect(0, 0, 8, 8))
	if !(c > k+40) {
		t.Errorf("%s: centre grey %.0f, corner %.0f: no body on air", st.Name, c, k)
	}
}

func TestFitNeverEnlarges(t *testing.T) {
	small := image.NewRGBA(image.Rect(0, 0, 40, 20))
	if got := Fit(small, 96, 96).Bounds().Size(); got != (image.Point{40, 20}) {
		t.Errorf("Fit of 40×20 into 96: %v, want unchanged", got)
	}
	big := image.NewRGBA(image.Rect(0, 0, 1024, 512))
	if got := Fit(big, 96, 96).Bounds().Size(); got != (image.Point{96, 48}) {
		t.Errorf("Fit of 1024×512 into 96: %v, want 96×48", got)
	}
}

// The picker reads one slice per series; opening reads them all. Same run,
// same series.
func BenchmarkSeriesThumbnail(b *testing.B) {
	s := scanOne(b, testct.Abdomen(b).DICOM)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := Series(s, Size); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkLoadWholeSeries(b *testing.B) {
	s := scanOne(b, testct.Abdomen(b).DICOM)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := dicomio.Load(context.Background(), s, nil); err != nil {
			b.Fatal(err)
		}
	}
}
