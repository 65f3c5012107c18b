package refmask

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/liverseg/liverseg/dicomio"
	"github.com/liverseg/liverseg/dicomio/dicomseg"
	"github.com/liverseg/liverseg/internal/testsupport/nrrdtest"
	"github.com/liverseg/liverseg/internal/testsupport/shareddata"
	"github.com/liverseg/liverseg/metrics"
	"github.com/liverseg/liverseg/nifti"
	"github.com/liverseg/liverseg/volume"
)

// dcmqiCase is the real three-slice GE CT with dcmqi's SEG of its liver
// and Slicer's NRRD of the same segmentation.
func dcmqiCase(t *testing.T) (ct *volume.Volume, seg string, truth *volume.Mask) {
	t.Helper()
	dir := shareddata.Path(t, "cases", "dcmqi_ct3slice")
	ct, _, err := dicomio.LoadPath(context.Background(), filepath.Join(dir, "dicom"), nil)
	if err != nil {
		t.Fatal(err)
	}
	nrrd := nrrdtest.ReadMask(t, filepath.Join(dir, "liver_seg.nrrd"))
	truth, _, err = nrrd.OnGrid(ct.Geometry)
	if err != nil || truth.Count() == 0 {
		t.Fatalf("NRRD onto the CT: %v, %d voxels", err, truth.Count())
	}
	return ct, filepath.Join(dir, "liver.dcm"), truth
}

func dice(t *testing.T, a, b *volume.Mask) float64 {
	t.Helper()
	d, err := metrics.Dice(a, b)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestReadForms reads the same real liver segmentation in every form a
// reference comes in, onto the CT's own grid and onto its canonical grid
// (the app's display grid), and checks the mask and what Read says it did.
func TestReadForms(t *testing.T) {
	ct, seg, truth := dcmqiCase(t)
	dir := t.TempDir()

	// The segmentation as NIfTI, as the same voxels stored R→L.
	nii := filepath.Join(dir, "liver.nii.gz")
	if err := nifti.WriteMask(nii, truth); err != nil {
		t.Fatal(err)
	}
	flipped := truth.Geometry
	flipped.Origin = truth.IndexToPatient([3]float64{float64(truth.Size[0] - 1), 0, 0})
	for r := 0; r < 3; r++ {
		flipped.Direction[r][0] = -flipped.Direction[r][0]
	}
	fm, _, err := truth.OnGrid(flipped)
	if err != nil {
		t.Fatal(err)
	}
	flippedNii := filepath.Join(dir, "flipped.nii.gz")
	if err := nifti.WriteMask(flippedNii, fm); err != nil {
		t.Fatal(err)
	}
	// On a coarser grid of the same space (a reference from another
	// reconstruction): it is resampled.
	coarse := truth.Geometry
	coarse.Spacing[0], coarse.Spacing[1] = 1.7*truth.Spacing[0], 1.7*truth.Spacing[1]
	coarse.Size[0], coarse.Size[1] = truth.Size[0]*10/17, truth.Size[1]*10/17
	cm, _, err := truth.OnGrid(coarse)
	if err != nil {
		t.Fatal(err)
	}
	coarseNii := filepath.Join(dir, "coarse.nii.gz")
	if err := nifti.WriteMask(coarseNii, cm); err != nil {
		t.Fatal(err)
	}
	// As a DICOM series of labels (label 255) in the CT's frame of
	// reference: read as a folder and through one of its files.
	series := filepath.Join(dir, "series")
	lv := volume.New(ct.Geometry)
	for i, x := range truth.Voxels {
		if x != 0 {
			lv.Voxels[i] = 255
		}
	}
	if err := dicomio.WriteSeries(series, lv, dicomio.SeriesOptions{FrameOfReferenceUID: ct.Info.FrameOfReference, UIDSeed: "refmask test"}); err != nil {
		t.Fatal(err)
	}
	// The same mask series in one folder with its CT (a larger series): the
	// file chosen says which series is meant.
	mixed := filepath.Join(dir, "mixed")
	if err := dicomio.WriteSeries(mixed, ct, dicomio.SeriesOptions{FrameOfReferenceUID: ct.Info.FrameOfReference, UIDSeed: "refmask test ct", FilePrefix: "CT"}); err != nil {
		t.Fatal(err)
	}
	for k := 0; k < ct.Size[2]; k++ {
		name := dicomio.SeriesFileName("IM", k)
		if err := os.Link(filepath.Join(series, name), filepath.Join(mixed, name)); err != nil {
			t.Fatal(err)
		}
	}

	canon := ct.CanonicalGeometry()
	tests := []struct {
		name      string
		path      string
		resampled bool
		note      string // a note must contain this ("" : no note)
		minDice   float64
	}{
		{"DICOM SEG", seg, false, "", 1},
		{"NIfTI", nii, false, "", 1},
		{"NIfTI stored R to L", flippedNii, false, "", 1},
		{"NIfTI on a coarser grid", coarseNii, true, "Resampled (nearest neighbour)", 0.9},
		{"DICOM series folder", series, false, "", 1},
		{"DICOM series file", filepath.Join(series, dicomio.SeriesFileName("IM", 1)), false, "", 1},
		{"DICOM series file beside its CT", filepath.Join(mixed, dicomio.SeriesFileName("IM", 0)), false, "", 1},
	}
	for _, tc := range tests {
		for _, grid := range []struct {
			name string
			g    volume.Geometry
		}{{"CT grid", ct.Geometry}, {"canonical grid", canon}} {
			t.Run(tc.name+", "+grid.name, func(t *testing.T) {
				r, err := Read(context.Background(), tc.path, ct, grid.g)
				if err != nil {
					t.Fatal(err)
				}
				if r.Mask.Geometry != grid.g {
					t.Errorf("mask geometry %+v, want the grid given", r.Mask.Geometry)
				}
				if r.Resampled != tc.resampled {
					t.Errorf("Resampled %v, want %v (notes %q)", r.Resampled, tc.resampled, r.Notes)
				}
				if (tc.note == "") != (len(r.Notes) == 0) || !strings.Contains(r.Note(), tc.note) {
					t.Errorf("notes %q, want one saying %q", r.Notes, tc.note)
				}
				want := truth
				if grid.g != ct.Geometry {
					want = truth.Canonical()
				}
				if d := dice(t, r.Mask, want); d < tc.minDice {
					t.Errorf("Dice with the NRRD %.4f, want at least %.2f", d, tc.minDice)
				}
				for _, x := range r.Mask.Voxels {
					if x > 1 {
						t.Fatalf("label %d in the mask: want 0/1", x)
					}
				}
			})
		}
	}
}

// TestReadRefuses checks that a reference of another acquisition, or one
// that does not overlap the CT, is refused with an error naming the file
// and the reason.
func TestReadRefuses(t *testing.T) {
	ct, _, truth := dcmqiCase(t)
	dir := t.TempDir()

	other := *ct
	other.Info.FrameOfReference = dicomio.HashUID("refmask test", "other frame")
	otherSEG := filepath.Join(dir, "other.dcm")
	if err := dicomseg.WriteSEG(otherSEG, &other, truth, dicomseg.SEGOptions{UIDSeed: "refmask test"}); err != nil {
		t.Fatal(err)
	}
	otherSeries := filepath.Join(dir, "other-series")
	lv := volume.New(ct.Geometry)
	lv.Voxels[0] = 1
	if err := dicomio.WriteSeries(otherSeries, lv, dicomio.SeriesOptions{FrameOfReferenceUID: other.Info.FrameOfReference, UIDSeed: "refmask test"}); err != nil {
		t.Fatal(err)
	}
	far := truth.Geometry
	far.Origin[2] += 1000
	farNii := filepath.Join(dir, "far.nii.gz")
	if err := nifti.WriteMask(farNii, &volume.Mask{Geometry: far, Voxels: truth.Voxels}); err != nil {
		t.Fatal(err)
	}
	ctSeries := filepath.Join(dir, "ct-series")
	if err := dicomio.WriteSeries(ctSeries, ct, dicomio.SeriesOptions{FrameOfReferenceUID: ct.Info.FrameOfReference, UIDSeed: "refmask test ct"}); err != nil {
		t.Fatal(err)
	}
	text := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(text, []byte("liver"), 0o644); err != nil {
		t.Fatal(err)
	}
	noFrame := *ct
	noFrame.Info.FrameOfReference = ""

	tests := []struct {
		name, path string
		ct         *volume.Volume
		want       string
	}{
		{"SEG of another frame of reference", otherSEG, ct, "belongs to another acquisition"},
		{"SEG on a CT without frame of reference", filepath.Join(shareddata.Path(t, "cases", "dcmqi_ct3slice"), "liver.dcm"), &noFrame, "no Frame of Reference UID"},
		{"series of another frame of reference", otherSeries, ct, "another acquisition"},
		{"NIfTI elsewhere in space", farNii, ct, "does not overlap the CT"},
		{"a CT series", ctSeries, ct, "does not look like a mask"},
		{"missing file", filepath.Join(dir, "nope.nii.gz"), ct, "no such file"},
		{"a text file", text, ct, "not a NIfTI file (.nii, .nii.gz) or a DICOM SEG"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Read(context.Background(), tc.path, tc.ct, ct.Geometry)
			var re *Error
			if !errors.As(err, &re) || re.Path != tc.path || !strings.Contains(err.Error(), tc.path) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v; want a refmask.Error naming %s and saying %q", err, tc.path, tc.want)
			}
		})
	}
}

// TestSEGSegmentChoice: of a SEG with several segments the one labelled
// liver is taken, with a note naming the segments; with none labelled
// liver, all are.
func TestSEGSegmentChoice(t *testing.T) {
	ct, _, truth := dcmqiCase(t)
	g := truth.Geometry
	two := volume.NewMask(g)
	for i, x := range truth.Voxels {
		if x != 0 {
			two.Voxels[i] = 2 // the liver is segment 2
		}
	}
	two.Voxels[0] = 1 // segment 1: one voxel, outside the liver
	tests := []struct {
		name    string
		segs    []dicomseg.Segment
		segment int
		count   int
		note    string
	}{
		{"liver is segment 2", []dicomseg.Segment{{Number: 1, Label: "Tumor"}, {Number: 2, Label: "Liver"}}, 2, truth.Count(), "showing segment 2 (liver)"},
		{"none labelled liver", []dicomseg.Segment{{Number: 1, Label: "A"}, {Number: 2, Label: "B"}}, 0, truth.Count() + 1, "none is labelled liver"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := &dicomseg.SEG{Mask: two, Segments: tc.segs, FrameOfReference: ct.Info.FrameOfReference}
			r, err := fromSEG(src, ct, ct.Geometry)
			if err != nil {
				t.Fatal(err)
			}
			if r.Segment != tc.segment || r.Mask.Count() != tc.count || !strings.Contains(r.Note(), tc.note) {
				t.Errorf("segment %d, %d voxels, notes %q; want %d, %d, %q", r.Segment, r.Mask.Count(), r.Notes, tc.segment, tc.count, tc.note)
			}
		})
	}
}

func TestFromSeriesRefusesImages(t *testing.T) {
	g := volume.Identity([3]int{8, 8, 4}, [3]float64{1, 1, 1})
	v := volume.New(g)
	for i := range v.Voxels {
		v.Voxels[i] = int16(i%200 - 100) // a CT-like spread of values
	}
	if _, err := FromSeries(v); err == nil || !strings.Contains(err.Error(), "does not look like a mask") {
		t.Errorf("an image accepted as a mask: %v", err)
	}
	m := volume.New(g)
	m.Voxels[5] = 255
	mk, err := FromSeries(m)
	if err != nil || mk.Count() != 1 || mk.Voxels[5] != 1 {
		t.Errorf("label series: %v, %d voxels", err, mk.Count())
	}
}
