package dicomio

import (
	"errors"
	"fmt"
	"image"
	"io"
	"io/fs"
	"math"
	"time"

	"github.com/suyashkumar/dicom"
	"github.com/suyashkumar/dicom/pkg/tag"

	"github.com/liverseg/liverseg/dicomio/internal/dsbuild"
	"github.com/liverseg/liverseg/internal/atomicfile"
	"github.com/liverseg/liverseg/volume"
)

// SecondaryCaptureStorage is the SOP Class UID of a Secondary Capture Image.
const SecondaryCaptureStorage = "1.2.840.10008.5.1.4.1.1.7"

// SCOptions controls WriteSecondaryCapture.
type SCOptions struct {
	SeriesDescription string // default "LiverSeg report"
	SeriesNumber      int    // default 902 (after the SEG's 901)
	ImageComments     string
	SoftwareVersions  string
	// UIDSeed, when set, derives the new UIDs with HashUID.
	UIDSeed   string
	Overwrite bool
}

// WriteSecondaryCapture writes img as a DICOM Secondary Capture image (RGB,
// 8 bits, explicit VR little endian) that joins the study described by ref
// (patient, study UID and date), in a new series, so a picture of the
// result (LiverSeg's report views) can be stored into the study beside the
// CT. The write is atomic; an existing path is an error unless
// opts.Overwrite.
func WriteSecondaryCapture(path string, img image.Image, ref volume.Info, o SCOptions) error {
	ds, err := scDataset(img, ref, o)
	if err != nil {
		return fmt.Errorf("dicomio: write secondary capture %s: %w", path, err)
	}
	err = atomicfile.Write(path, atomicfile.Options{NoOverwrite: !o.Overwrite}, func(w io.Writer) error {
		if err := dicom.Write(w, ds); err != nil {
			return fmt.Errorf("encode: %w", err)
		}
		return nil
	})
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("dicomio: write secondary capture %s: file exists; refusing to overwrite it", path)
	}
	if err != nil {
		return fmt.Errorf("dicomio: write secondary capture %s: %w", path, err)
	}
	return nil
}

func scDataset(img image.Image, ref volume.Info, o SCOptions) (dicom.Dataset, error) {
	if img == nil {
		return dicom.Dataset{}, errors.New("no image")
	}
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	if w <= 0 || h <= 0 || w > math.MaxUint16 || h > math.MaxUint16 {
		return dicom.Dataset{}, fmt.Errorf("image size %dx%d does not fit DICOM rows/columns", w, h)
	}
	if ref.StudyInstanceUID == "" {
		return dicom.Dataset{}, errors.New("the study has no StudyInstanceUID (was it loaded from DICOM?)")
	}
	newUID := func(kind string) string {
		if o.UIDSeed != "" {
			return HashUID(o.UIDSeed, "sc", kind)
		}
		return RandomUID()
	}
	seriesUID, sopUID := newUID("series"), newUID("sop-instance")
	now := time.Now()
	num := o.SeriesNumber
	if num == 0 {
		num = 902
	}
	var e dsbuild.Elems
	e.Header(SecondaryCaptureStorage, sopUID, dsbuild.TextCharset(ref.PatientName, ref.PatientID, ref.StudyDescription, o.SeriesDescription, o.ImageComments))
	e.Str(tag.ImageType, "DERIVED", "SECONDARY")
	e.Str(tag.SOPClassUID, SecondaryCaptureStorage)
	e.Str(tag.SOPInstanceUID, sopUID)
	e.Str(tag.StudyDate, ref.StudyDate)
	e.Str(tag.ContentDate, now.Format("20060102"))
	e.Str(tag.StudyTime, "")
	e.Str(tag.ContentTime, now.Format("150405"))
	e.Str(tag.AccessionNumber, "")
	e.Str(tag.Modality, "OT")
	e.Str(tag.ConversionType, "WSD") // workstation
	e.Str(tag.Manufacturer, "LiverSeg")
	e.Str(tag.ReferringPhysicianName, "")
	e.Str(tag.StudyDescription, dsbuild.ClipLO(ref.StudyDescription))
	e.Str(tag.SeriesDescription, dsbuild.ClipLO(dsbuild.FirstNonEmpty(o.SeriesDescription, "LiverSeg report")))
	e.Str(tag.PatientName, ref.PatientName)
	e.Str(tag.PatientID, ref.PatientID)
	e.Str(tag.PatientBirthDate, "")
	e.Str(tag.PatientSex, "")
	if o.SoftwareVersions != "" {
		e.Str(tag.SoftwareVersions, dsbuild.ClipLO(o.SoftwareVersions))
	}
	e.Str(tag.StudyInstanceUID, ref.StudyInstanceUID)
	e.Str(tag.SeriesInstanceUID, seriesUID)
	e.Str(tag.StudyID, "")
	e.Str(tag.SeriesNumber, fmt.Sprint(num))
	e.Str(tag.Laterality, "") // Type 2C: dciodvfy cannot tell that no paired organ is shown
	e.Str(tag.InstanceNumber, "1")
	e.Str(tag.PatientOrientation, "")
	if o.ImageComments != "" {
		e.Str(tag.ImageComments, o.ImageComments)
	}
	e.Str(tag.BurnedInAnnotation, "NO") // views and orientation letters, no identifying text
	e.Add(tag.SamplesPerPixel, []int{3})
	e.Str(tag.PhotometricInterpretation, "RGB")
	e.Add(tag.PlanarConfiguration, []int{0})
	e.Add(tag.Rows, []int{h})
	e.Add(tag.Columns, []int{w})
	e.Add(tag.BitsAllocated, []int{8})
	e.Add(tag.BitsStored, []int{8})
	e.Add(tag.HighBit, []int{7})
	e.Add(tag.PixelRepresentation, []int{0})
	raw := make([]byte, (w*h*3+1)/2*2)
	i := 0
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			raw[i], raw[i+1], raw[i+2] = byte(r>>8), byte(g>>8), byte(bl>>8)
			i += 3
		}
	}
	e.Add(tag.PixelData, dicom.PixelDataInfo{IntentionallyUnprocessed: true, UnprocessedValueData: raw})
	if e.Err != nil {
		return dicom.Dataset{}, e.Err
	}
	return dicom.Dataset{Elements: e.Sorted()}, nil
}
