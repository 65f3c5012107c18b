// Package dicomseg writes and reads DICOM Segmentation objects (PS3.3
// A.51): a liver mask handed to or taken from a PACS, 3D Slicer, OHIF or
// dcmqi, placed on the CT it was made from.
package dicomseg

// This file writes and reads DICOM Segmentation objects (PS3.3 A.51), the
// standard way to hand a liver mask to a PACS, 3D Slicer or OHIF. The writer
// follows what dcmqi (itkimage2segimage) writes, which every major viewer
// reads: one multi-frame BINARY object, one frame per CT slice that contains
// the segment, each frame placed by its own Plane Position and tied to its
// source CT image by a Derivation Image item.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/suyashkumar/dicom"
	"github.com/suyashkumar/dicom/pkg/tag"

	"github.com/liverseg/liverseg/dicomio"
	"github.com/liverseg/liverseg/dicomio/internal/dsbuild"
	"github.com/liverseg/liverseg/internal/atomicfile"
	"github.com/liverseg/liverseg/volume"
)

// SegmentationStorage is the SOP Class UID of a DICOM Segmentation.
const SegmentationStorage = "1.2.840.10008.5.1.4.1.1.66.4"

// SEGOptions controls WriteSEG. Every field is optional.
type SEGOptions struct {
	// Context, when not nil, cancels the write; nothing is left behind.
	Context context.Context
	// AlgorithmName names the model that made the mask, with its version,
	// e.g. "LiverSeg student-30k 1.0"; default "LiverSeg". It goes to
	// SegmentAlgorithmName.
	AlgorithmName string
	// Manual marks the mask as drawn by a person (a reference), so
	// SegmentAlgorithmType is MANUAL rather than AUTOMATIC.
	Manual bool
	// SemiAutomatic marks an algorithm's mask corrected by a person (an
	// edited model result): SegmentAlgorithmType SEMIAUTOMATIC, with the
	// algorithm still named. Manual wins when both are set.
	SemiAutomatic bool
	// SoftwareVersions is written to (0018,1020); default "unknown".
	SoftwareVersions string
	// ContentLabel (CS, upper case, at most 16 characters); default "LIVER".
	ContentLabel string
	// ContentDescription; default "Liver segmentation".
	ContentDescription string
	// ContentCreatorName (PN) is the person responsible; default empty.
	ContentCreatorName string
	// SeriesDescription; default "Liver segmentation (" + AlgorithmName + ")".
	SeriesDescription string
	// SeriesNumber; default 901 (so the SEG sorts after the CT series).
	SeriesNumber int
	// ContentDate (YYYYMMDD) and ContentTime (HHMMSS) of the segmentation;
	// default the current local date and time (both are Type 1 in a SEG).
	ContentDate, ContentTime string
	// UIDSeed, when set, derives the new Series and SOP Instance UIDs with
	// HashUID (reproducible files); otherwise they are random.
	UIDSeed string
	// Overwrite allows replacing an existing file at path.
	Overwrite bool
	// SegmentLabel names the one segment; default "Liver" (a part of the
	// liver, e.g. a resection plan's remnant, keeps the liver's codes).
	SegmentLabel string
}

// Liver colour in CIELab (PS3.3 C.10.7.1.1 scaling), the value dcmqi and
// Slicer use for "Liver" (221,130,101 in sRGB).
var liverCIELab = []int{41661, 41167, 40792}

// WriteSEG writes m, a mask on ct's grid (non-zero = liver), as a DICOM
// Segmentation at path: explicit VR little endian, BINARY (1 bit per pixel),
// one segment "Liver" (SCT 10200004). Patient and study come from ct.Info, so
// the SEG joins the CT's study; its Frame of Reference is the CT's, and it
// references the CT series and, where ct.Info.SOPInstanceUIDs is known, each
// source image per frame.
//
// Frames: one per CT slice that contains liver, as dcmqi writes them (an
// empty mask gets one empty frame for slice 0, since a SEG needs at least
// one frame). Each frame k lies at ct.IndexToPatient(0,0,k) with the CT's
// row and column directions, so any CT orientation is described exactly.
//
// The file is written to a temporary sibling and renamed into place; an
// existing path is an error unless opts.Overwrite.
func WriteSEG(path string, ct *volume.Volume, m *volume.Mask, opts SEGOptions) error {
	ds, err := segDataset(ct, m, opts)
	if err != nil {
		return fmt.Errorf("dicomio: write SEG %s: %w", path, err)
	}
	if st, err := os.Lstat(path); err == nil {
		if st.IsDir() {
			return fmt.Errorf("dicomio: write SEG %s: a folder of that name exists", path)
		}
		if !opts.Overwrite {
			return fmt.Errorf("dicomio: write SEG %s: file exists; refusing to overwrite it", path)
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("dicomio: write SEG %s: %w", path, err)
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("dicomio: write SEG %s: create folder: %w", path, err)
	}
	// Overwrite was asked for (or the file is absent): a plain atomic
	// replace; without Overwrite the hard-link placement refuses a file
	// that appeared since the check above.
	err = atomicfile.Write(path, atomicfile.Options{NoOverwrite: !opts.Overwrite, Context: opts.Context}, func(w io.Writer) error {
		if err := dicom.Write(w, ds); err != nil {
			return fmt.Errorf("encode: %w", err)
		}
		return nil
	})
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("dicomio: write SEG %s: file exists; refusing to overwrite it", path)
	}
	if err != nil {
		return fmt.Errorf("dicomio: write SEG %s: %w", path, err)
	}
	return nil
}

func segDataset(ct *volume.Volume, m *volume.Mask, o SEGOptions) (dicom.Dataset, error) {
	if ct == nil || m == nil {
		return dicom.Dataset{}, errors.New("no CT volume or no mask")
	}
	if err := ct.Geometry.Validate(); err != nil {
		return dicom.Dataset{}, err
	}
	if !ct.Geometry.SameGrid(m.Geometry) {
		return dicom.Dataset{}, fmt.Errorf("mask grid (size %v) is not the CT grid (size %v); resample it onto the CT first", m.Size, ct.Size)
	}
	if len(m.Voxels) != m.NumVoxels() {
		return dicom.Dataset{}, fmt.Errorf("mask holds %d voxels, its size %v needs %d", len(m.Voxels), m.Size, m.NumVoxels())
	}
	nx, ny, nz := ct.Size[0], ct.Size[1], ct.Size[2]
	if nx > math.MaxUint16 || ny > math.MaxUint16 {
		return dicom.Dataset{}, fmt.Errorf("slice size %dx%d exceeds DICOM's 65535 rows/columns", nx, ny)
	}
	info := ct.Info
	if info.StudyInstanceUID == "" || info.FrameOfReference == "" {
		// A SEG that joins no study and no frame of reference cannot be
		// placed onto its CT by any viewer.
		return dicom.Dataset{}, errors.New("the CT has no StudyInstanceUID or FrameOfReferenceUID (was it loaded from DICOM?)")
	}
	var rowCos, colCos [3]float64
	for r := 0; r < 3; r++ {
		rowCos[r], colCos[r] = ct.Direction[r][0], ct.Direction[r][1]
	}
	rowCos, colCos = unitVec(rowCos), unitVec(colCos)
	if d := math.Abs(dotVec(rowCos, colCos)); d > 1e-4 {
		return dicom.Dataset{}, fmt.Errorf("in-plane axes are not orthogonal (cosine %.3g)", d)
	}
	normal := unitVec(crossVec(rowCos, colCos))
	var step [3]float64
	for r := 0; r < 3; r++ {
		step[r] = ct.Direction[r][2] * ct.Spacing[2]
	}
	spacingBetween := math.Abs(dotVec(step, normal))
	if spacingBetween < 1e-6 {
		return dicom.Dataset{}, errors.New("slice axis lies in the image plane")
	}

	// Frames: slices that hold liver.
	plane := nx * ny
	var frames []int
	for k := 0; k < nz; k++ {
		for _, x := range m.Voxels[k*plane : (k+1)*plane] {
			if x != 0 {
				frames = append(frames, k)
				break
			}
		}
	}
	if len(frames) == 0 {
		frames = []int{0}
	}

	// Per-frame source references need one distinct image per slice. A
	// resampled CT (tilt, uneven spacing) has no SOPInstanceUIDs: its slices
	// come from no single image, so frames then carry no Derivation Image
	// and only the series is referenced. An enhanced (multi-frame) CT
	// repeats one UID per slice, and Info holds no frame numbers, so it is
	// referenced per instance only, for the same reason.
	sops := info.SOPInstanceUIDs
	perFrameRefs := len(sops) == nz
	distinct := map[string]bool{}
	var instances []string
	if len(sops) == nz {
		for _, u := range sops {
			if u == "" {
				perFrameRefs = false
				continue
			}
			if distinct[u] {
				perFrameRefs = false
				continue
			}
			distinct[u] = true
			instances = append(instances, u)
		}
	}
	srcClass := dsbuild.FirstNonEmpty(info.SOPClassUID, dicomio.CTImageStorage)

	newUID := func(kind string) string {
		if o.UIDSeed != "" {
			return dicomio.HashUID(o.UIDSeed, "seg", kind)
		}
		return dicomio.RandomUID()
	}
	seriesUID, sopUID := newUID("series"), newUID("sop-instance")
	dimOrgUID := newUID("dimension-organization")

	now := time.Now()
	if o.ContentDate == "" {
		o.ContentDate = now.Format("20060102")
	}
	if o.ContentTime == "" {
		o.ContentTime = now.Format("150405")
	}
	if !dsbuild.IsDate(o.ContentDate) {
		return dicom.Dataset{}, fmt.Errorf("content date %q is not YYYYMMDD", o.ContentDate)
	}
	algo := dsbuild.FirstNonEmpty(o.AlgorithmName, "LiverSeg")
	algoType := "AUTOMATIC"
	if o.SemiAutomatic {
		algoType = "SEMIAUTOMATIC"
	}
	if o.Manual {
		algoType = "MANUAL"
	}
	label := strings.ToUpper(dsbuild.FirstNonEmpty(o.ContentLabel, "LIVER"))
	if len(label) > 16 || strings.ContainsAny(label, " \\") {
		return dicom.Dataset{}, fmt.Errorf("content label %q must be at most 16 characters without spaces", label)
	}
	seriesNumber := o.SeriesNumber
	if seriesNumber == 0 {
		seriesNumber = 901
	}
	var e dsbuild.Elems
	e.Header(SegmentationStorage, sopUID, dsbuild.TextCharset(info.PatientName, info.PatientID, info.StudyDescription, algo, o.ContentCreatorName, o.ContentDescription, o.SeriesDescription))
	e.Str(tag.ImageType, "DERIVED", "PRIMARY")
	e.Str(tag.SOPClassUID, SegmentationStorage)
	e.Str(tag.SOPInstanceUID, sopUID)
	e.Str(tag.StudyDate, info.StudyDate)
	e.Str(tag.SeriesDate, o.ContentDate)
	e.Str(tag.ContentDate, o.ContentDate)
	e.Str(tag.StudyTime, "")
	e.Str(tag.SeriesTime, o.ContentTime)
	e.Str(tag.ContentTime, o.ContentTime)
	e.Str(tag.AccessionNumber, "")
	e.Str(tag.Modality, "SEG")
	e.Str(tag.Manufacturer, "LiverSeg")
	e.Str(tag.ReferringPhysicianName, "")
	e.Str(tag.StudyDescription, info.StudyDescription)
	// LO holds at most 64 characters: a long model name must not make the
	// object invalid.
	e.Str(tag.SeriesDescription, dsbuild.ClipLO(dsbuild.FirstNonEmpty(o.SeriesDescription, "Liver segmentation ("+algo+")")))
	e.Str(tag.ManufacturerModelName, "LiverSeg")
	refInstances := make([]func(*dsbuild.Elems), 0, len(instances))
	for _, u := range instances {
		refInstances = append(refInstances, func(it *dsbuild.Elems) {
			it.Str(tag.ReferencedSOPClassUID, srcClass)
			it.Str(tag.ReferencedSOPInstanceUID, u)
		})
	}
	// The Common Instance Reference module needs at least one referenced
	// instance per series, so a CT with no known source images (resampled)
	// references no series at all rather than write an invalid sequence.
	if info.SeriesInstanceUID != "" && len(instances) > 0 {
		e.Seq(tag.ReferencedSeriesSequence, func(it *dsbuild.Elems) {
			it.Str(tag.SeriesInstanceUID, info.SeriesInstanceUID)
			it.Seq(tag.ReferencedInstanceSequence, refInstances...)
		})
	}
	e.Str(tag.PatientName, info.PatientName)
	e.Str(tag.PatientID, info.PatientID)
	e.Str(tag.PatientBirthDate, "")
	e.Str(tag.PatientSex, "")
	e.Str(tag.DeviceSerialNumber, "0")
	e.Str(tag.SoftwareVersions, dsbuild.FirstNonEmpty(o.SoftwareVersions, "unknown"))
	e.Str(tag.StudyInstanceUID, info.StudyInstanceUID)
	e.Str(tag.SeriesInstanceUID, seriesUID)
	e.Str(tag.StudyID, "")
	e.Str(tag.SeriesNumber, strconv.Itoa(seriesNumber))
	e.Str(tag.InstanceNumber, "1")
	e.Str(tag.FrameOfReferenceUID, info.FrameOfReference)
	e.Str(tag.PositionReferenceIndicator, "")
	e.Seq(tag.DimensionOrganizationSequence, func(it *dsbuild.Elems) {
		it.Str(tag.DimensionOrganizationUID, dimOrgUID)
	})
	e.Seq(tag.DimensionIndexSequence,
		func(it *dsbuild.Elems) {
			it.Str(tag.DimensionOrganizationUID, dimOrgUID)
			it.Add(tag.DimensionIndexPointer, []int{0x0062, 0x000b})
			it.Add(tag.FunctionalGroupPointer, []int{0x0062, 0x000a})
			it.Str(tag.DimensionDescriptionLabel, "ReferencedSegmentNumber")
		},
		func(it *dsbuild.Elems) {
			it.Str(tag.DimensionOrganizationUID, dimOrgUID)
			it.Add(tag.DimensionIndexPointer, []int{0x0020, 0x0032})
			it.Add(tag.FunctionalGroupPointer, []int{0x0020, 0x9113})
			it.Str(tag.DimensionDescriptionLabel, "ImagePositionPatient")
		})
	e.Add(tag.SamplesPerPixel, []int{1})
	e.Str(tag.PhotometricInterpretation, "MONOCHROME2")
	e.Str(tag.NumberOfFrames, strconv.Itoa(len(frames)))
	e.Add(tag.Rows, []int{ny})
	e.Add(tag.Columns, []int{nx})
	e.Add(tag.BitsAllocated, []int{1})
	e.Add(tag.BitsStored, []int{1})
	e.Add(tag.HighBit, []int{0})
	e.Add(tag.PixelRepresentation, []int{0})
	e.Str(tag.LossyImageCompression, "00")
	e.Str(tag.SegmentationType, "BINARY")
	e.Seq(tag.SegmentSequence, func(it *dsbuild.Elems) {
		it.Seq(tag.SegmentedPropertyCategoryCodeSequence, dsbuild.Code("123037004", "SCT", "Anatomical Structure"))
		it.Add(tag.SegmentNumber, []int{1})
		label := o.SegmentLabel
		if label == "" {
			label = "Liver"
		}
		it.Str(tag.SegmentLabel, dsbuild.ClipLO(label))
		it.Str(tag.SegmentAlgorithmType, algoType)
		if !o.Manual {
			// Type 1C: required unless the segment was drawn by hand.
			it.Str(tag.SegmentAlgorithmName, dsbuild.ClipLO(algo))
		}
		it.Add(tag.RecommendedDisplayCIELabValue, liverCIELab)
		it.Seq(tag.SegmentedPropertyTypeCodeSequence, dsbuild.Code("10200004", "SCT", "Liver"))
		it.Seq(tag.AnatomicRegionSequence, dsbuild.Code("10200004", "SCT", "Liver"))
	})
	e.Str(tag.ContentLabel, label)
	e.Str(tag.ContentDescription, dsbuild.FirstNonEmpty(o.ContentDescription, "Liver segmentation"))
	if note := ct.Info.AssumedNote(); note != "" {
		// A reader computing the segment's volume from this file gets
		// the CT's assumed spacing: say so in the file (General Image
		// module, LT up to 10240 characters).
		// The default repertoire is ASCII.
		note = strings.Map(func(r rune) rune {
			switch {
			case r == '×':
				return 'x'
			case r > 0x7e || r < 0x20:
				return '?'
			}
			return r
		}, note)
		if len(note) > 10240 {
			note = note[:10240]
		}
		e.Str(tag.ImageComments, note)
	}
	e.Str(tag.ContentCreatorName, o.ContentCreatorName)

	e.Seq(tag.SharedFunctionalGroupsSequence, func(it *dsbuild.Elems) {
		it.Seq(tag.PlaneOrientationSequence, func(p *dsbuild.Elems) {
			p.Str(tag.ImageOrientationPatient, dsbuild.FormatDS(rowCos[0]), dsbuild.FormatDS(rowCos[1]), dsbuild.FormatDS(rowCos[2]),
				dsbuild.FormatDS(colCos[0]), dsbuild.FormatDS(colCos[1]), dsbuild.FormatDS(colCos[2]))
		})
		it.Seq(tag.PixelMeasuresSequence, func(p *dsbuild.Elems) {
			// A segmentation frame is as thick as the slices it labels.
			p.Str(tag.SliceThickness, dsbuild.FormatDS(spacingBetween))
			p.Str(tag.SpacingBetweenSlices, dsbuild.FormatDS(spacingBetween))
			// PixelSpacing is (between rows, between columns) = (j, i).
			p.Str(tag.PixelSpacing, dsbuild.FormatDS(ct.Spacing[1]), dsbuild.FormatDS(ct.Spacing[0]))
		})
	})
	perFrame := make([]func(*dsbuild.Elems), 0, len(frames))
	for n, k := range frames {
		ipp := ct.IndexToPatient([3]float64{0, 0, float64(k)})
		perFrame = append(perFrame, func(it *dsbuild.Elems) {
			if perFrameRefs {
				it.Seq(tag.DerivationImageSequence, func(d *dsbuild.Elems) {
					d.Seq(tag.SourceImageSequence, func(s *dsbuild.Elems) {
						s.Str(tag.ReferencedSOPClassUID, srcClass)
						s.Str(tag.ReferencedSOPInstanceUID, sops[k])
						s.Seq(tag.PurposeOfReferenceCodeSequence, dsbuild.Code("121322", "DCM", "Source image for image processing operation"))
					})
					d.Seq(tag.DerivationCodeSequence, dsbuild.Code("113076", "DCM", "Segmentation"))
				})
			}
			it.Seq(tag.FrameContentSequence, func(f *dsbuild.Elems) {
				// Frames are written in slice order, so the position
				// index is the frame's rank along the stack.
				f.Add(tag.DimensionIndexValues, []int{1, n + 1})
			})
			it.Seq(tag.PlanePositionSequence, func(p *dsbuild.Elems) {
				p.Str(tag.ImagePositionPatient, dsbuild.FormatDS(ipp[0]), dsbuild.FormatDS(ipp[1]), dsbuild.FormatDS(ipp[2]))
			})
			it.Seq(tag.SegmentIdentificationSequence, func(s *dsbuild.Elems) {
				s.Add(tag.ReferencedSegmentNumber, []int{1})
			})
		})
	}
	e.Seq(tag.PerFrameFunctionalGroupsSequence, perFrame...)

	// Pixel data: frames back to back, one bit per pixel, the first pixel
	// in the least significant bit (PS3.5 8.1.1); frames are not padded to
	// byte boundaries, only the whole value is padded to an even length.
	nbits := len(frames) * plane
	raw := make([]byte, (nbits+15)/16*2)
	bit := 0
	for _, k := range frames {
		for _, x := range m.Voxels[k*plane : (k+1)*plane] {
			if x != 0 {
				raw[bit>>3] |= 1 << (bit & 7)
			}
			bit++
		}
	}
	e.Add(tag.PixelData, dicom.PixelDataInfo{IntentionallyUnprocessed: true, UnprocessedValueData: raw})
	if e.Err != nil {
		return dicom.Dataset{}, e.Err
	}
	return dicom.Dataset{Elements: e.Sorted()}, nil
}

// Segment describes one segment of a SEG.
type Segment struct {
	Number int    // SegmentNumber; the value its voxels carry in SEG.Mask
	Label  string // SegmentLabel
}

// SEG is a decoded DICOM Segmentation.
type SEG struct {
	// Mask holds the segments on the grid the frames span: i along rows
	// (ImageOrientationPatient row cosine), j along columns, k along the
	// slice normal from the first plane position to the last (slices with
	// no frame are empty). Voxels carry the segment number, 0 = none;
	// where segments overlap the higher number wins.
	Mask     *volume.Mask
	Segments []Segment
	// FrameOfReference is the FrameOfReferenceUID; ReferencedSeriesUID the
	// first referenced series (the source CT), "" when none is given.
	FrameOfReference    string
	ReferencedSeriesUID string
	StudyInstanceUID    string
	SeriesInstanceUID   string
	SOPInstanceUID      string
	SegmentationType    string // BINARY or FRACTIONAL
}

// IsSEG reports whether path is a DICOM file of the Segmentation Storage
// SOP class. It reads only the header, so that a dropped or chosen file
// can be told apart from an image before it is loaded.
func IsSEG(path string) bool {
	class, err := dicomio.SOPClassUID(path)
	return err == nil && class == SegmentationStorage
}

// ReadSEG reads a DICOM Segmentation (native, uncompressed pixel data).
// BINARY segmentations are read as they are; FRACTIONAL ones are read as
// binary, any value above 0 counting as inside.
func ReadSEG(path string) (s *SEG, err error) {
	defer func() {
		if r := recover(); r != nil {
			s, err = nil, fmt.Errorf("dicomio: read SEG %s: malformed file (%v)", path, r)
		}
	}()
	ds, err := dicom.ParseFile(path, nil, dicom.SkipProcessingPixelDataValue(),
		dicom.AllowMissingMetaElementGroupLength(), dicom.AllowUnknownSpecificCharacterSet())
	if err != nil {
		return nil, fmt.Errorf("dicomio: read SEG %s: %w", path, err)
	}
	s, err = decodeSEG(ds.Elements)
	if err != nil {
		return nil, fmt.Errorf("dicomio: read SEG %s: %w", path, err)
	}
	return s, nil
}

func findEl(els []*dicom.Element, t tag.Tag) *dicom.Element {
	for _, e := range els {
		if e.Tag == t {
			return e
		}
	}
	return nil
}

func elStr(els []*dicom.Element, t tag.Tag) string {
	e := findEl(els, t)
	if e == nil {
		return ""
	}
	if v, ok := e.Value.GetValue().([]string); ok && len(v) > 0 {
		return strings.TrimSpace(strings.Join(v, `\`))
	}
	return ""
}

func elInt(els []*dicom.Element, t tag.Tag) (int, bool) {
	e := findEl(els, t)
	if e == nil {
		return 0, false
	}
	switch v := e.Value.GetValue().(type) {
	case []int:
		if len(v) > 0 {
			return v[0], true
		}
	case []string:
		if len(v) > 0 {
			n, err := strconv.Atoi(strings.TrimSpace(v[0]))
			return n, err == nil
		}
	}
	return 0, false
}

func elFloats(els []*dicom.Element, t tag.Tag) []float64 {
	e := findEl(els, t)
	if e == nil {
		return nil
	}
	v, ok := e.Value.GetValue().([]string)
	if !ok {
		return nil
	}
	out := make([]float64, 0, len(v))
	for _, s := range v {
		f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return nil
		}
		out = append(out, f)
	}
	return out
}

// items returns the datasets of a sequence element.
func items(els []*dicom.Element, t tag.Tag) [][]*dicom.Element {
	e := findEl(els, t)
	if e == nil {
		return nil
	}
	seq, ok := e.Value.GetValue().([]*dicom.SequenceItemValue)
	if !ok {
		return nil
	}
	out := make([][]*dicom.Element, 0, len(seq))
	for _, it := range seq {
		if els, ok := it.GetValue().([]*dicom.Element); ok {
			out = append(out, els)
		}
	}
	return out
}

// fromGroups finds t inside the functional group sequence g of a per-frame
// item, else of the shared item.
func fromGroups(perFrame, shared []*dicom.Element, g, t tag.Tag) []float64 {
	for _, src := range [][]*dicom.Element{perFrame, shared} {
		if it := items(src, g); len(it) > 0 {
			if v := elFloats(it[0], t); v != nil {
				return v
			}
		}
	}
	return nil
}

func decodeSEG(els []*dicom.Element) (*SEG, error) {
	if c := elStr(els, tag.SOPClassUID); c != SegmentationStorage {
		return nil, fmt.Errorf("SOP class %q is not Segmentation Storage", c)
	}
	s := &SEG{
		FrameOfReference:  elStr(els, tag.FrameOfReferenceUID),
		StudyInstanceUID:  elStr(els, tag.StudyInstanceUID),
		SeriesInstanceUID: elStr(els, tag.SeriesInstanceUID),
		SOPInstanceUID:    elStr(els, tag.SOPInstanceUID),
		SegmentationType:  elStr(els, tag.SegmentationType),
	}
	if rs := items(els, tag.ReferencedSeriesSequence); len(rs) > 0 {
		s.ReferencedSeriesUID = elStr(rs[0], tag.SeriesInstanceUID)
	}
	for _, it := range items(els, tag.SegmentSequence) {
		n, _ := elInt(it, tag.SegmentNumber)
		s.Segments = append(s.Segments, Segment{Number: n, Label: elStr(it, tag.SegmentLabel)})
	}
	rows, _ := elInt(els, tag.Rows)
	cols, _ := elInt(els, tag.Columns)
	nf, ok := elInt(els, tag.NumberOfFrames)
	if !ok {
		nf = 1
	}
	bits, _ := elInt(els, tag.BitsAllocated)
	if rows <= 0 || cols <= 0 || nf <= 0 || nf > 65536 {
		return nil, fmt.Errorf("bad dimensions: %d rows, %d columns, %d frames", rows, cols, nf)
	}
	switch s.SegmentationType {
	case "BINARY":
		if bits != 1 {
			return nil, fmt.Errorf("BINARY segmentation with %d bits allocated (expected 1)", bits)
		}
	case "FRACTIONAL":
		if bits != 8 {
			return nil, fmt.Errorf("FRACTIONAL segmentation with %d bits allocated (expected 8)", bits)
		}
	default:
		return nil, fmt.Errorf("segmentation type %q is not BINARY or FRACTIONAL", s.SegmentationType)
	}
	pd := findEl(els, tag.PixelData)
	if pd == nil {
		return nil, errors.New("no Pixel Data")
	}
	info, ok := pd.Value.GetValue().(dicom.PixelDataInfo)
	if !ok || !info.IntentionallyUnprocessed {
		return nil, errors.New("Pixel Data is encapsulated (compressed); only native SEG pixel data is supported")
	}
	raw := info.UnprocessedValueData
	plane := rows * cols
	if need := (nf*plane*bits + 7) / 8; len(raw) < need {
		return nil, fmt.Errorf("Pixel Data holds %d bytes, %d frames of %dx%d need %d", len(raw), nf, cols, rows, need)
	}

	shared := items(els, tag.SharedFunctionalGroupsSequence)
	var sh []*dicom.Element
	if len(shared) > 0 {
		sh = shared[0]
	}
	pf := items(els, tag.PerFrameFunctionalGroupsSequence)
	if len(pf) != nf {
		return nil, fmt.Errorf("%d per-frame functional group items for %d frames", len(pf), nf)
	}
	iop := fromGroups(pf[0], sh, tag.PlaneOrientationSequence, tag.ImageOrientationPatient)
	ps := fromGroups(pf[0], sh, tag.PixelMeasuresSequence, tag.PixelSpacing)
	if len(iop) != 6 || len(ps) != 2 || !(ps[0] > 0) || !(ps[1] > 0) {
		return nil, errors.New("no usable ImageOrientationPatient or PixelSpacing in the functional groups")
	}
	rowCos := unitVec([3]float64{iop[0], iop[1], iop[2]})
	colCos := unitVec([3]float64{iop[3], iop[4], iop[5]})
	normal := unitVec(crossVec(rowCos, colCos))
	if math.Abs(dotVec(rowCos, colCos)) > 1e-3 || dotVec(normal, normal) < 0.5 {
		return nil, fmt.Errorf("ImageOrientationPatient %v is not two orthogonal unit vectors", iop)
	}
	type frameInfo struct {
		pos [3]float64
		d   float64
		seg int
	}
	fr := make([]frameInfo, nf)
	for f := 0; f < nf; f++ {
		if o := fromGroups(pf[f], nil, tag.PlaneOrientationSequence, tag.ImageOrientationPatient); len(o) == 6 {
			for a := 0; a < 6; a++ {
				if math.Abs(o[a]-iop[a]) > 1e-3 {
					return nil, fmt.Errorf("frame %d has its own orientation %v; frames of differing orientation are not supported", f+1, o)
				}
			}
		}
		p := fromGroups(pf[f], sh, tag.PlanePositionSequence, tag.ImagePositionPatient)
		if len(p) != 3 {
			return nil, fmt.Errorf("frame %d has no ImagePositionPatient", f+1)
		}
		fr[f].pos = [3]float64{p[0], p[1], p[2]}
		fr[f].d = dotVec(fr[f].pos, normal)
		fr[f].seg = 1
		if si := items(pf[f], tag.SegmentIdentificationSequence); len(si) > 0 {
			if n, ok := elInt(si[0], tag.ReferencedSegmentNumber); ok {
				fr[f].seg = n
			}
		}
		if fr[f].seg < 1 || fr[f].seg > 255 {
			return nil, fmt.Errorf("frame %d refers to segment %d; only 1 to 255 fit a mask", f+1, fr[f].seg)
		}
	}

	// Slice grid along the normal: from the lowest plane to the highest,
	// stepping by SpacingBetweenSlices, else by the smallest gap between
	// distinct planes.
	ds := make([]float64, nf)
	for f := range fr {
		ds[f] = fr[f].d
	}
	sort.Float64s(ds)
	const tol = 0.01 // mm; DS values carry at least this much precision
	step := 0.0
	if sb := fromGroups(pf[0], sh, tag.PixelMeasuresSequence, tag.SpacingBetweenSlices); len(sb) == 1 && sb[0] > tol {
		step = sb[0]
	}
	if step == 0 {
		for i := 1; i < len(ds); i++ {
			if g := ds[i] - ds[i-1]; g > tol && (step == 0 || g < step) {
				step = g
			}
		}
	}
	nz := 1
	if step > 0 {
		nz = int(math.Round((ds[len(ds)-1]-ds[0])/step)) + 1
	}
	if nz > 65536 {
		return nil, fmt.Errorf("frames span %d slices of %.3g mm", nz, step)
	}
	// The frame at the lowest plane gives the origin; every frame must lie
	// on the same in-plane lattice (only shifted along the normal).
	var origin [3]float64
	for f := range fr {
		if fr[f].d == ds[0] {
			origin = fr[f].pos
			break
		}
	}
	if step == 0 {
		step = 1
	}
	g := volume.Geometry{
		Size:    [3]int{cols, rows, nz},
		Spacing: [3]float64{ps[1], ps[0], step},
		Origin:  origin,
	}
	for r := 0; r < 3; r++ {
		g.Direction[r] = [3]float64{rowCos[r], colCos[r], normal[r]}
	}
	m := volume.NewMask(g)
	for f := range fr {
		kf := (fr[f].d - ds[0]) / step
		k := int(math.Round(kf))
		off := [3]float64{fr[f].pos[0] - origin[0], fr[f].pos[1] - origin[1], fr[f].pos[2] - origin[2]}
		inPlane := [3]float64{off[0] - (fr[f].d-ds[0])*normal[0], off[1] - (fr[f].d-ds[0])*normal[1], off[2] - (fr[f].d-ds[0])*normal[2]}
		if math.Abs(kf-float64(k))*step > 0.1*step+tol || math.Sqrt(dotVec(inPlane, inPlane)) > 0.1*math.Min(ps[0], ps[1])+tol {
			return nil, fmt.Errorf("frame %d at %v is not on the slice grid of %.4g mm spacing", f+1, fr[f].pos, step)
		}
		dst := m.Voxels[k*plane : (k+1)*plane]
		base := f * plane
		for p := 0; p < plane; p++ {
			var on bool
			if bits == 1 {
				b := base + p
				on = raw[b>>3]&(1<<(b&7)) != 0
			} else {
				on = raw[base+p] != 0
			}
			if on && int(dst[p]) < fr[f].seg {
				dst[p] = uint8(fr[f].seg)
			}
		}
	}
	s.Mask = m
	return s, nil
}

// OnGrid places the segmentation onto grid g (normally the CT's), each SEG
// voxel going to the g voxel at the same patient position. It is an error
// when the SEG's voxels do not fall on g's voxel centres (to within a tenth
// of a voxel), e.g. a SEG made on a different reconstruction, or when a
// labelled voxel falls outside g. Voxels outside g that are empty are
// ignored, so a SEG covering only part of the CT is fine.
func (s *SEG) OnGrid(g volume.Geometry) (*volume.Mask, error) {
	if s == nil || s.Mask == nil {
		return nil, errors.New("dicomio: SEG holds no mask")
	}
	if err := g.Validate(); err != nil {
		return nil, fmt.Errorf("dicomio: SEG onto grid: %w", err)
	}
	src := s.Mask
	im, err := volume.NewIndexMap(src.Geometry, g)
	if err != nil {
		return nil, fmt.Errorf("dicomio: SEG onto grid: %w", err)
	}
	base, steps, err := im.Lattice(volume.LatticeTolerance)
	if err != nil {
		return nil, fmt.Errorf("dicomio: SEG onto grid: the SEG's %w", err)
	}
	for a := 0; a < 3; a++ {
		if src.Size[a] > 1 && steps[a] == [3]int{} {
			return nil, fmt.Errorf("dicomio: SEG onto grid: the SEG's voxels are finer than the grid's along axis %d", a)
		}
	}
	out := volume.NewMask(g)
	outside := 0
	for k := 0; k < src.Size[2]; k++ {
		for j := 0; j < src.Size[1]; j++ {
			row := src.Voxels[src.Offset(0, j, k) : src.Offset(0, j, k)+src.Size[0]]
			for i, x := range row {
				if x == 0 {
					continue
				}
				var d [3]int
				for a := 0; a < 3; a++ {
					d[a] = base[a] + i*steps[0][a] + j*steps[1][a] + k*steps[2][a]
				}
				if !g.Contains(d[0], d[1], d[2]) {
					outside++
					continue
				}
				out.Voxels[g.Offset(d[0], d[1], d[2])] = x
			}
		}
	}
	if outside > 0 {
		return nil, fmt.Errorf("dicomio: SEG onto grid: %d labelled voxels fall outside the grid (size %v)", outside, g.Size)
	}
	return out, nil
}
