package codec_test

import (
	"context"
	"slices"
	"testing"

	"github.com/liverseg/liverseg/dicomio"
	_ "github.com/liverseg/liverseg/dicomio/codec"
	"github.com/liverseg/liverseg/internal/testsupport/shareddata"
)

// TestLinkedCodecsLoad loads compressed files the way a program that
// imports this package does, through dicomio.LoadPath only: one lossless
// file per C library (IJG JPEG, CharLS, OpenJPEG) must give the voxels of
// its native twin. (dicomio's own tests check every codec byte for byte
// against dcmtk and GDCM.)
func TestLinkedCodecsLoad(t *testing.T) {
	mr := func(name string) []string { return []string{"dicom", "pydicom-testfiles", name} }
	ct := func(name string) []string {
		return []string{"dicom", "cornerstone-dicomParser", "encapsulated", "multi-frame", name}
	}
	for _, c := range []struct {
		file, native []string
	}{
		{ct("CT0012.fragmented_no_bot_jpeg_lossless.57.dcm"), ct("CT0012.explicit_little_endian.dcm")},
		{mr("MR_small_jpeg_ls_lossless.dcm"), mr("MR_small.dcm")},
		{mr("MR_small_jp2klossless.dcm"), mr("MR_small.dcm")},
	} {
		name := c.file[len(c.file)-1]
		t.Run(name, func(t *testing.T) {
			ref, _, err := dicomio.LoadPath(context.Background(), shareddata.Path(t, c.native...), nil)
			if err != nil {
				t.Fatal(err)
			}
			v, _, err := dicomio.LoadPath(context.Background(), shareddata.Path(t, c.file...), nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(v.Voxels) == 0 || !slices.Equal(v.Voxels, ref.Voxels) {
				t.Errorf("%s does not decode to the voxels of %s", name, c.native[len(c.native)-1])
			}
		})
	}
}
