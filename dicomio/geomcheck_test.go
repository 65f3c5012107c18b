package dicomio_test

import (
	"context"
	"math"
	"strings"
	"testing"

	"github.com/liverseg/liverseg/dicomio"
	"github.com/liverseg/liverseg/internal/testsupport/dicomedit"
	"github.com/liverseg/liverseg/internal/testsupport/testct"
	"github.com/liverseg/liverseg/volume"
)

// TestInvalidGeometryIsRefusedOrStated edits one geometry attribute of
// real CT slices (chaos_ct01, or the phantom where ../shared/data is
// absent) with dcmodify and checks the rule of geomcheck.go: a present but
// invalid value is refused with the file and the value named, or replaced
// by a stated fallback that the volume carries in Info.Assumed; never read
// as missing and never silently used.
func TestInvalidGeometryIsRefusedOrStated(t *testing.T) {
	study := testct.Abdomen(t)
	const n = 6
	ref := loadFirst(t, dicomedit.Copy(t, study.DICOM, n))
	const (
		ps   = "(0028,0030)"
		ips  = "(0018,1164)"
		th   = "(0018,0050)"
		sbs  = "(0018,0088)"
		ipp  = "(0020,0032)"
		iop  = "(0020,0037)"
		mid  = n / 2 // the slice edited when only one is
		all  = -1
		none = -2
	)
	set := func(tag, v string) []string { return []string{"-i", tag + "=" + v} }
	tests := []struct {
		name   string
		slices int      // files kept (n or 1)
		which  int      // file edited: all, none or an index
		edit   []string // dcmodify arguments
		// refused: the load fails and the error (or the files' skip
		// reasons) contain every string of want; else it loads and its
		// warnings (and assumptions, when assumed) contain them.
		refused bool
		assumed bool
		want    []string
		spacing [3]float64 // 0 = as the unedited series
	}{
		{name: "PixelSpacing NaN", slices: n, which: all, edit: set(ps, `NaN\NaN`), refused: true, want: []string{`PixelSpacing "NaN\NaN" is not finite`}},
		{name: "PixelSpacing negative", slices: n, which: all, edit: set(ps, `-0.7\-0.7`), refused: true, want: []string{`PixelSpacing "-0.7\-0.7" is not positive`}},
		{name: "PixelSpacing Inf", slices: n, which: all, edit: set(ps, `Inf\Inf`), refused: true, want: []string{`"Inf\Inf" is not finite`}},
		{name: "PixelSpacing zero", slices: n, which: all, edit: set(ps, `0\0`), refused: true, want: []string{`PixelSpacing "0\0" is not positive`}},
		{name: "PixelSpacing not numeric", slices: n, which: all, edit: set(ps, `abc\1e999`), refused: true, want: []string{`PixelSpacing "abc\1e999" is not numeric ("abc")`}},
		{name: "PixelSpacing too large", slices: n, which: all, edit: set(ps, `1e999\1e999`), refused: true, want: []string{`is not finite ("1e999")`}},
		{name: "PixelSpacing one value", slices: n, which: all, edit: set(ps, `0.7`), refused: true, want: []string{`PixelSpacing "0.7" has 1 value(s), 2 needed`}},
		{name: "PixelSpacing NaN in one slice", slices: n, which: mid, edit: set(ps, `NaN\NaN`), refused: true, want: []string{`PixelSpacing "NaN\NaN"`}},
		{name: "PixelSpacing NaN, ImagerPixelSpacing valid", slices: n, which: all, edit: append(set(ps, `NaN\NaN`), set(ips, `0.8\0.9`)...),
			assumed: true, want: []string{`PixelSpacing "NaN\NaN" is not finite`, "ImagerPixelSpacing 0.8 × 0.9 mm", "is used in its place"}, spacing: [3]float64{0.9, 0.8, 0}},
		{name: "PixelSpacing NaN, ImagerPixelSpacing invalid", slices: n, which: all, edit: append(set(ps, `NaN\NaN`), set(ips, `-1\-1`)...),
			refused: true, want: []string{`PixelSpacing "NaN\NaN"`, `ImagerPixelSpacing "-1\-1" is not positive`}},
		{name: "PixelSpacing missing", slices: n, which: all, edit: []string{"-e", ps},
			assumed: true, want: []string{"PixelSpacing is missing", "1 mm pixels are assumed"}, spacing: [3]float64{1, 1, 0}},
		{name: "PixelSpacing missing, ImagerPixelSpacing valid", slices: n, which: all, edit: append([]string{"-e", ps}, set(ips, `0.75\0.75`)...),
			assumed: true, want: []string{"PixelSpacing is missing; ImagerPixelSpacing 0.75 × 0.75 mm"}, spacing: [3]float64{0.75, 0.75, 0}},
		{name: "SliceThickness NaN", slices: n, which: all, edit: set(th, "NaN"), want: []string{`SliceThickness "NaN" is not finite`, "not used; the slice spacing comes from ImagePositionPatient"}},
		{name: "SliceThickness negative", slices: n, which: mid, edit: set(th, "-3.2"), want: []string{`SliceThickness "-3.2" is not positive in 1 of 6 files`}},
		{name: "SpacingBetweenSlices text", slices: n, which: all, edit: set(sbs, "abc"), want: []string{`SpacingBetweenSlices "abc" is not numeric`, "not used"}},
		{name: "ImagePositionPatient NaN in one slice", slices: n, which: mid, edit: set(ipp, `NaN\NaN\NaN`), refused: true, want: []string{`ImagePositionPatient "NaN\NaN\NaN" is not finite`}},
		{name: "ImagePositionPatient not numeric", slices: n, which: mid, edit: set(ipp, `abc\1e999\3`), refused: true, want: []string{`ImagePositionPatient "abc\1e999\3" is not numeric`}},
		{name: "ImagePositionPatient two values", slices: n, which: all, edit: set(ipp, `1\2`), refused: true, want: []string{`ImagePositionPatient "1\2" has 2 value(s), 3 needed`}},
		{name: "ImageOrientationPatient Inf in one slice", slices: n, which: mid, edit: set(iop, `1\0\0\0\Inf\0`), refused: true, want: []string{`ImageOrientationPatient "1\0\0\0\Inf\0" is not finite`}},
		{name: "ImageOrientationPatient not orthogonal", slices: n, which: mid, edit: set(iop, `1\0\0\1\0\0`), refused: true, want: []string{`ImageOrientationPatient "1\0\0\1\0\0" is not two orthogonal unit vectors`}},
		{name: "single slice, SliceThickness NaN", slices: 1, which: all, edit: append(set(th, "NaN"), "-e", sbs), refused: true, want: []string{`SliceThickness "NaN" is not finite`, "a single slice has no other spacing"}},
		{name: "single slice, SliceThickness NaN, SpacingBetweenSlices valid", slices: 1, which: all, edit: append(set(th, "NaN"), set(sbs, "2.5")...),
			assumed: true, want: []string{`SliceThickness "NaN" is not finite`, "SpacingBetweenSlices 2.5 mm is used"}, spacing: [3]float64{0, 0, 2.5}},
		{name: "single slice, no thickness", slices: 1, which: all, edit: []string{"-e", th, "-e", sbs},
			assumed: true, want: []string{"single slice without SliceThickness: 1 mm slice spacing is assumed"}, spacing: [3]float64{0, 0, 1}},
		{name: "unedited", slices: n, which: none},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			files := dicomedit.Copy(t, study.DICOM, tc.slices)
			edited := files
			switch tc.which {
			case none:
				edited = nil
			case all:
			default:
				edited = files[tc.which : tc.which+1]
			}
			dicomedit.Modify(t, edited, tc.edit...)
			cat, err := dicomio.Scan(context.Background(), []string{files[0][:strings.LastIndex(files[0], "/")]}, nil)
			if err != nil {
				t.Fatal(err)
			}
			var v *volume.Volume
			var msg string // the load error, or the skip reasons when no series formed
			if len(cat.Series) == 0 {
				for _, sk := range cat.Skipped {
					msg += sk.Path + ": " + sk.Reason + "\n"
				}
			} else {
				v, err = dicomio.Load(context.Background(), cat.Series[0], nil)
				if err != nil {
					msg = err.Error()
				}
			}
			if tc.refused {
				if v != nil && msg == "" {
					t.Fatalf("loaded (spacing %v, warnings %q); want it refused", v.Spacing, v.Info.Warnings)
				}
				for _, w := range append(tc.want, edited[0]) {
					if !strings.Contains(msg, w) {
						t.Errorf("refusal does not contain %q (the value, and the file it is in):\n%s", w, msg)
					}
				}
				return
			}
			if msg != "" {
				t.Fatalf("refused: %s", msg)
			}
			text := strings.Join(v.Info.Warnings, "\n")
			if tc.assumed {
				text = strings.Join(v.Info.Assumed, "\n")
				if len(v.Info.Assumed) == 0 {
					t.Fatalf("nothing assumed; spacing %v, warnings %q", v.Spacing, v.Info.Warnings)
				}
				if !strings.Contains(strings.Join(v.Info.Warnings, "\n"), v.Info.Assumed[0]) {
					t.Errorf("assumption %q is not among the warnings shown to the user", v.Info.Assumed[0])
				}
				if v.Info.AssumedNote() == "" {
					t.Error("no note for the volumes")
				}
			} else if len(v.Info.Assumed) > 0 {
				t.Errorf("assumed %q; want nothing assumed", v.Info.Assumed)
			}
			for _, w := range tc.want {
				if !strings.Contains(text, w) {
					t.Errorf("%q not found in:\n%s", w, text)
				}
			}
			for a := 0; a < 3; a++ {
				want := tc.spacing[a]
				if want == 0 {
					if tc.slices == 1 && a == 2 {
						continue
					}
					want = ref.Spacing[a]
				}
				if math.Abs(v.Spacing[a]-want) > 1e-6 {
					t.Errorf("spacing %v, want %v on axis %d", v.Spacing, want, a)
				}
			}
		})
	}
}

// loadFirst loads the largest series of the files' folder.
func loadFirst(t *testing.T, files []string) *volume.Volume {
	t.Helper()
	v, _, err := dicomio.LoadPath(context.Background(), files[0][:strings.LastIndex(files[0], "/")], nil)
	if err != nil {
		t.Fatal(err)
	}
	return v
}
