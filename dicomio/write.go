package dicomio

// This file writes volumes out as DICOM: one CT Image Storage file per
// slice, explicit VR little endian, signed 16-bit pixels holding Hounsfield
// units directly (RescaleIntercept 0, RescaleSlope 1). Signed storage keeps
// every int16 value of a Volume exactly, with no intercept to get wrong.

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/suyashkumar/dicom"
	"github.com/suyashkumar/dicom/pkg/tag"

	"github.com/liverseg/liverseg/dicomio/internal/dsbuild"
	"github.com/liverseg/liverseg/internal/atomicfile"
	"github.com/liverseg/liverseg/volume"
)

// Well-known UIDs used by the writer.
const (
	// CTImageStorage is the SOP Class UID of CT Image Storage.
	CTImageStorage = "1.2.840.10008.5.1.4.1.1.2"
	// ExplicitVRLittleEndian is the transfer syntax every written file uses.
	ExplicitVRLittleEndian = dsbuild.ExplicitVRLittleEndian
)

// SeriesOptions controls WriteSeries. Every field is optional: empty
// strings fall back to the volume's Info and then to the defaults noted.
type SeriesOptions struct {
	// UIDs of the study, series and frame of reference, and one SOP
	// Instance UID per slice. Empty ones are derived: from UIDSeed when it
	// is set (HashUID, so the same seed gives the same files), otherwise
	// from fresh random UUIDs.
	StudyInstanceUID    string
	SeriesInstanceUID   string
	FrameOfReferenceUID string
	SOPInstanceUIDs     []string
	UIDSeed             string

	PatientName       string // default Info.PatientName
	PatientID         string // default Info.PatientID
	PatientSex        string // M, F, O or empty
	PatientBirthDate  string // YYYYMMDD or empty
	StudyDate         string // YYYYMMDD; default Info.StudyDate, else empty (no clock is read)
	StudyTime         string // HHMMSS; default empty
	StudyID           string
	AccessionNumber   string
	StudyDescription  string // default Info.StudyDescription
	SeriesDescription string // default Info.SeriesDescription
	SeriesNumber      int    // default 1
	BodyPartExamined  string // e.g. ABDOMEN
	PatientPosition   string // default HFS
	Manufacturer      string // default "LiverSeg"
	// ImageType is the value of (0008,0008); default DERIVED\SECONDARY\AXIAL
	// because an export is normally derived from other images.
	ImageType []string
	// ImageComments goes to (0020,4000) in every file.
	ImageComments string
	// WindowCenter and WindowWidth, when WindowWidth > 0, are written as the
	// default display window.
	WindowCenter, WindowWidth float64
	// FilePrefix names the files PREFIX-0001.dcm, ...; default "IM".
	FilePrefix string
}

// WriteSeries writes v as a DICOM CT series into the folder dir, one file per
// slice k (InstanceNumber k+1, file PREFIX-%04d.dcm), in slice order.
//
// The write is atomic: all files go into a temporary sibling folder that is
// renamed to dir only when every file is complete and synced, so a reader
// never sees a half-written series. dir must not exist or be empty; a
// non-empty dir is an error (the writer never mixes files into an existing
// series or overwrites the user's data).
//
// The in-plane axes of v (Direction columns 0 and 1) must be orthogonal,
// as DICOM's ImageOrientationPatient requires; the slice axis may be
// oblique (each slice carries its own ImagePositionPatient).
func WriteSeries(dir string, v *volume.Volume, opts SeriesOptions) error {
	plan, err := planSeries(v, opts)
	if err != nil {
		return fmt.Errorf("dicomio: write %s: %w", dir, err)
	}
	dir = filepath.Clean(dir)
	if err := checkEmptyTarget(dir); err != nil {
		return err
	}
	parent := filepath.Dir(dir)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return fmt.Errorf("dicomio: write %s: create parent folder: %w", dir, err)
	}
	// The folder is locked while it is filled: a writer killed meanwhile
	// leaves a folder the next write of dir removes.
	td, err := atomicfile.NewTempDir(dir)
	if err != nil {
		return fmt.Errorf("dicomio: write %s: create temporary folder: %w", dir, err)
	}
	defer td.Close()
	tmp := td.Path

	if err := writeSlices(tmp, v, plan); err != nil {
		return fmt.Errorf("dicomio: write %s: %w", dir, err)
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return fmt.Errorf("dicomio: write %s: %w", dir, err)
	}
	// An empty target (checked above) is removed so that the rename can
	// take its place on every platform.
	if err := os.Remove(dir); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("dicomio: write %s: replace empty folder: %w", dir, err)
	}
	if err := td.Rename(dir); err != nil {
		return fmt.Errorf("dicomio: write %s: move series into place: %w", dir, err)
	}
	return nil
}

// SeriesFileName is the name WriteSeries gives slice k's file.
func SeriesFileName(prefix string, k int) string {
	if prefix == "" {
		prefix = "IM"
	}
	return fmt.Sprintf("%s-%04d.dcm", prefix, k+1)
}

func checkEmptyTarget(dir string) error {
	st, err := os.Stat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("dicomio: write %s: %w", dir, err)
	}
	if !st.IsDir() {
		return fmt.Errorf("dicomio: write %s: a file of that name exists", dir)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("dicomio: write %s: %w", dir, err)
	}
	if len(ents) > 0 {
		return fmt.Errorf("dicomio: write %s: folder is not empty; refusing to write a series into it", dir)
	}
	return nil
}

// seriesPlan holds everything that is the same for every slice, resolved
// and validated before any file is created.
type seriesPlan struct {
	opts       SeriesOptions
	studyUID   string
	seriesUID  string
	forUID     string
	sopUIDs    []string
	patName    string
	patID      string
	studyDesc  string
	seriesDesc string
	charset    string
	rowCos     [3]float64
	colCos     [3]float64
	normal     [3]float64
	thickness  float64
}

func planSeries(v *volume.Volume, o SeriesOptions) (*seriesPlan, error) {
	if v == nil {
		return nil, errors.New("no volume")
	}
	if err := v.Geometry.Validate(); err != nil {
		return nil, err
	}
	if len(v.Voxels) != v.NumVoxels() {
		return nil, fmt.Errorf("volume holds %d voxels, its size %v needs %d", len(v.Voxels), v.Size, v.NumVoxels())
	}
	if v.Size[0] > math.MaxUint16 || v.Size[1] > math.MaxUint16 {
		return nil, fmt.Errorf("slice size %dx%d exceeds DICOM's 65535 rows/columns", v.Size[0], v.Size[1])
	}
	if v.Size[2] > 9999 {
		// File names carry four digits; more slices than that is not a CT series.
		return nil, fmt.Errorf("%d slices is more than the 9999 this writer numbers", v.Size[2])
	}
	p := &seriesPlan{opts: o}
	for r := 0; r < 3; r++ {
		p.rowCos[r] = v.Direction[r][0]
		p.colCos[r] = v.Direction[r][1]
	}
	p.rowCos, p.colCos = dsbuild.Unit(p.rowCos), dsbuild.Unit(p.colCos)
	if d := math.Abs(dsbuild.Dot(p.rowCos, p.colCos)); d > 1e-4 {
		return nil, fmt.Errorf("in-plane axes are not orthogonal (cosine %.3g); DICOM ImageOrientationPatient cannot describe them", d)
	}
	p.normal = dsbuild.Unit(dsbuild.Cross(p.rowCos, p.colCos))
	var step [3]float64
	for r := 0; r < 3; r++ {
		step[r] = v.Direction[r][2] * v.Spacing[2]
	}
	p.thickness = math.Abs(dsbuild.Dot(step, p.normal))
	if p.thickness < 1e-6 {
		return nil, errors.New("slice axis lies in the image plane")
	}

	info := v.Info
	p.patName = dsbuild.FirstNonEmpty(o.PatientName, info.PatientName)
	p.patID = dsbuild.FirstNonEmpty(o.PatientID, info.PatientID)
	p.studyDesc = dsbuild.FirstNonEmpty(o.StudyDescription, info.StudyDescription)
	p.seriesDesc = dsbuild.FirstNonEmpty(o.SeriesDescription, info.SeriesDescription)
	if p.opts.StudyDate == "" {
		p.opts.StudyDate = info.StudyDate
	}
	if p.opts.SeriesNumber == 0 {
		p.opts.SeriesNumber = 1
	}
	if p.opts.PatientPosition == "" {
		p.opts.PatientPosition = "HFS"
	}
	if p.opts.Manufacturer == "" {
		p.opts.Manufacturer = "LiverSeg"
	}
	if len(p.opts.ImageType) == 0 {
		p.opts.ImageType = []string{"DERIVED", "SECONDARY", "AXIAL"}
	}
	if p.opts.FilePrefix == "" {
		p.opts.FilePrefix = "IM"
	}
	if strings.ContainsAny(p.opts.FilePrefix, `/\`) {
		return nil, fmt.Errorf("file prefix %q contains a path separator", p.opts.FilePrefix)
	}
	if p.opts.StudyDate != "" && !dsbuild.IsDate(p.opts.StudyDate) {
		return nil, fmt.Errorf("study date %q is not YYYYMMDD", p.opts.StudyDate)
	}
	if p.opts.PatientBirthDate != "" && !dsbuild.IsDate(p.opts.PatientBirthDate) {
		return nil, fmt.Errorf("birth date %q is not YYYYMMDD", p.opts.PatientBirthDate)
	}
	// Text outside ASCII needs a declared character set; UTF-8 covers all.
	p.charset = dsbuild.TextCharset(p.patName, p.patID, p.studyDesc, p.seriesDesc, o.ImageComments, o.Manufacturer, o.BodyPartExamined, o.StudyID, o.AccessionNumber)

	newUID := func(kind string, k int) string {
		if o.UIDSeed != "" {
			return HashUID(o.UIDSeed, kind, strconv.Itoa(k))
		}
		return RandomUID()
	}
	p.studyUID = dsbuild.FirstNonEmpty(o.StudyInstanceUID, newUID("study", 0))
	p.seriesUID = dsbuild.FirstNonEmpty(o.SeriesInstanceUID, newUID("series", 0))
	p.forUID = dsbuild.FirstNonEmpty(o.FrameOfReferenceUID, newUID("frame-of-reference", 0))
	switch {
	case len(o.SOPInstanceUIDs) == 0:
		p.sopUIDs = make([]string, v.Size[2])
		for k := range p.sopUIDs {
			p.sopUIDs[k] = newUID("sop-instance", k)
		}
	case len(o.SOPInstanceUIDs) == v.Size[2]:
		p.sopUIDs = o.SOPInstanceUIDs
	default:
		return nil, fmt.Errorf("%d SOP Instance UIDs given for %d slices", len(o.SOPInstanceUIDs), v.Size[2])
	}
	all := append([]string{p.studyUID, p.seriesUID, p.forUID}, p.sopUIDs...)
	seen := make(map[string]bool, len(all))
	for _, u := range all {
		if err := ValidUID(u); err != nil {
			return nil, err
		}
		if seen[u] {
			return nil, fmt.Errorf("UID %s is used twice", u)
		}
		seen[u] = true
	}
	return p, nil
}

// writeSlices writes every slice file into dir, several at a time. Each
// file depends only on its own slice, so the order the workers run in
// cannot change any byte.
func writeSlices(dir string, v *volume.Volume, p *seriesPlan) error {
	n := v.Size[2]
	workers := min(runtime.GOMAXPROCS(0), 4, n)
	errs := make([]error, n)
	next := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range next {
				path := filepath.Join(dir, SeriesFileName(p.opts.FilePrefix, k))
				errs[k] = writeSliceFile(path, v, p, k)
			}
		}()
	}
	for k := 0; k < n; k++ {
		next <- k
	}
	close(next)
	wg.Wait()
	return errors.Join(errs...)
}

func writeSliceFile(path string, v *volume.Volume, p *seriesPlan, k int) (err error) {
	ds, err := sliceDataset(v, p, k)
	if err != nil {
		return fmt.Errorf("slice %d: %w", k, err)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := f.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("%s: %w", path, cerr)
		}
	}()
	bw := bufio.NewWriterSize(f, 1<<20)
	if err := dicom.Write(bw, ds); err != nil {
		return fmt.Errorf("%s: encode: %w", path, err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// sliceDataset builds the elements of slice k, sorted by tag as the
// standard requires (dicom.Write keeps the order it is given).
func sliceDataset(v *volume.Volume, p *seriesPlan, k int) (dicom.Dataset, error) {
	o := p.opts
	ipp := v.IndexToPatient([3]float64{0, 0, float64(k)})
	var els []*dicom.Element
	var firstErr error
	add := func(t tag.Tag, data any) {
		e, err := dicom.NewElement(t, data)
		if err != nil {
			if firstErr == nil {
				firstErr = fmt.Errorf("element %v: %w", t, err)
			}
			return
		}
		els = append(els, e)
	}
	strs := func(t tag.Tag, s ...string) { add(t, s) }
	ds := func(x ...float64) []string {
		out := make([]string, len(x))
		for i, f := range x {
			out[i] = dsbuild.FormatDS(f)
		}
		return out
	}

	// File Meta Information.
	add(tag.FileMetaInformationVersion, []byte{0, 1})
	strs(tag.MediaStorageSOPClassUID, CTImageStorage)
	strs(tag.MediaStorageSOPInstanceUID, p.sopUIDs[k])
	strs(tag.TransferSyntaxUID, ExplicitVRLittleEndian)
	strs(tag.ImplementationClassUID, dsbuild.ImplementationClassUID)
	strs(tag.ImplementationVersionName, dsbuild.ImplementationVersion)

	// SOP Common, patient, study, series, equipment, frame of reference.
	if p.charset != "" {
		strs(tag.SpecificCharacterSet, p.charset)
	}
	strs(tag.ImageType, o.ImageType...)
	strs(tag.SOPClassUID, CTImageStorage)
	strs(tag.SOPInstanceUID, p.sopUIDs[k])
	strs(tag.StudyDate, o.StudyDate)
	strs(tag.SeriesDate, o.StudyDate)
	strs(tag.ContentDate, o.StudyDate)
	strs(tag.StudyTime, o.StudyTime)
	strs(tag.SeriesTime, o.StudyTime)
	strs(tag.ContentTime, o.StudyTime)
	strs(tag.AccessionNumber, o.AccessionNumber)
	strs(tag.Modality, "CT")
	strs(tag.Manufacturer, o.Manufacturer)
	strs(tag.ReferringPhysicianName, "")
	strs(tag.StudyDescription, p.studyDesc)
	strs(tag.SeriesDescription, p.seriesDesc)
	strs(tag.PatientName, p.patName)
	strs(tag.PatientID, p.patID)
	strs(tag.PatientBirthDate, o.PatientBirthDate)
	strs(tag.PatientSex, o.PatientSex)
	if o.BodyPartExamined != "" {
		strs(tag.BodyPartExamined, o.BodyPartExamined)
	} else {
		// Laterality is Type 2C, needed when the body part may be paired;
		// with no body part named it is written empty (unknown).
		strs(tag.Laterality, "")
	}
	strs(tag.SliceThickness, dsbuild.FormatDS(p.thickness))
	strs(tag.KVP, "")
	strs(tag.PatientPosition, o.PatientPosition)
	strs(tag.StudyInstanceUID, p.studyUID)
	strs(tag.SeriesInstanceUID, p.seriesUID)
	strs(tag.StudyID, o.StudyID)
	strs(tag.SeriesNumber, strconv.Itoa(o.SeriesNumber))
	strs(tag.AcquisitionNumber, "1")
	strs(tag.InstanceNumber, strconv.Itoa(k+1))
	strs(tag.ImagePositionPatient, ds(ipp[0], ipp[1], ipp[2])...)
	strs(tag.ImageOrientationPatient, ds(p.rowCos[0], p.rowCos[1], p.rowCos[2], p.colCos[0], p.colCos[1], p.colCos[2])...)
	strs(tag.FrameOfReferenceUID, p.forUID)
	strs(tag.PositionReferenceIndicator, "")
	strs(tag.SliceLocation, dsbuild.FormatDS(dsbuild.Dot(ipp, p.normal)))
	if o.ImageComments != "" {
		strs(tag.ImageComments, o.ImageComments)
	}

	// Image Pixel and CT Image.
	add(tag.SamplesPerPixel, []int{1})
	strs(tag.PhotometricInterpretation, "MONOCHROME2")
	add(tag.Rows, []int{v.Size[1]})
	add(tag.Columns, []int{v.Size[0]})
	// PixelSpacing is (between rows, between columns) = (j, i) spacing.
	strs(tag.PixelSpacing, ds(v.Spacing[1], v.Spacing[0])...)
	add(tag.BitsAllocated, []int{16})
	add(tag.BitsStored, []int{16})
	add(tag.HighBit, []int{15})
	add(tag.PixelRepresentation, []int{1})
	strs(tag.BurnedInAnnotation, "NO")
	if o.WindowWidth > 0 {
		strs(tag.WindowCenter, dsbuild.FormatDS(o.WindowCenter))
		strs(tag.WindowWidth, dsbuild.FormatDS(o.WindowWidth))
	}
	strs(tag.RescaleIntercept, "0")
	strs(tag.RescaleSlope, "1")
	strs(tag.RescaleType, "HU")

	// Pixel data: the slice's int16 values, little endian, written as is.
	nx, ny := v.Size[0], v.Size[1]
	raw := make([]byte, 2*nx*ny)
	src := v.Voxels[k*nx*ny : (k+1)*nx*ny]
	for n, x := range src {
		binary.LittleEndian.PutUint16(raw[2*n:], uint16(x))
	}
	add(tag.PixelData, dicom.PixelDataInfo{IntentionallyUnprocessed: true, UnprocessedValueData: raw})

	if firstErr != nil {
		return dicom.Dataset{}, firstErr
	}
	sort.SliceStable(els, func(a, b int) bool {
		ta, tb := els[a].Tag, els[b].Tag
		if ta.Group != tb.Group {
			return ta.Group < tb.Group
		}
		return ta.Element < tb.Element
	})
	return dicom.Dataset{Elements: els}, nil
}

// HashUID derives a DICOM UID from text: "2.25." followed by the decimal
// value of a name-based UUID (version 8, RFC 9562) made from the SHA-256 of
// the parts. The same parts always give the same UID, and different parts
// give different UIDs with overwhelming probability. Use it for synthetic or
// reproducible objects (e.g. HashUID("phantom", seed, "series")).
func HashUID(parts ...string) string { return dsbuild.HashUID(parts...) }

// RandomUID returns a fresh "2.25." UID from a random (version 4) UUID.
func RandomUID() string { return dsbuild.RandomUID() }

// ValidUID reports why u is not a valid DICOM UID, or nil: at most 64
// characters of digits and dots, no empty component and no leading zero in
// a multi-digit component.
func ValidUID(u string) error {
	if u == "" || len(u) > 64 {
		return fmt.Errorf("UID %q must have 1 to 64 characters", u)
	}
	for _, c := range strings.Split(u, ".") {
		if c == "" {
			return fmt.Errorf("UID %q has an empty component", u)
		}
		if len(c) > 1 && c[0] == '0' {
			return fmt.Errorf("UID %q has a component with a leading zero", u)
		}
		for _, r := range c {
			if r < '0' || r > '9' {
				return fmt.Errorf("UID %q contains %q; only digits and dots are allowed", u, r)
			}
		}
	}
	return nil
}
