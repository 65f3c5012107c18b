package dicomio

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/suyashkumar/dicom"
	"github.com/suyashkumar/dicom/pkg/tag"
)

// fileInfo is what Scan keeps about one image file: enough to group, sort
// and later read its pixels without parsing the header again.
type fileInfo struct {
	Path string
	lay  layout
	// Size and ModTime let Load notice a file that changed since Scan.
	size    int64
	modTime int64

	SOPClassUID, SOPInstanceUID         string
	StudyUID, SeriesUID, FrameOfRefUID  string
	PatientName, PatientID, StudyDate   string
	StudyDescription, SeriesDescription string
	Modality                            string
	SeriesNumber, InstanceNumber        int
	AcquisitionNumber                   int
	ImageType                           []string

	IPP       [3]float64
	IOP       [6]float64
	hasIPP    bool
	hasIOP    bool
	Spacing   [2]float64 // PixelSpacing: [between rows, between columns]
	hasPixSp  bool
	Thickness float64
	Tilt      float64 // GantryDetectorTilt in degrees (informative only)
	// spacingBetween is SpacingBetweenSlices (0 when absent or invalid).
	spacingBetween float64
	// geoBad says, per geometry attribute, why a value present in the
	// file is invalid ("" when valid or absent); spacingNote, when set,
	// says that ImagerPixelSpacing stands in for PixelSpacing and why.
	// geoRejected is why Scan refused the file for invalid geometry.
	geoBad      [nGeoFields]string
	spacingNote string
	geoRejected string

	Rows, Cols          int
	Frames              int
	SamplesPerPixel     int
	BitsAllocated       int
	BitsStored          int
	HighBit             int
	PixelRepresentation int
	Photometric         string
	Slope, Intercept    float64

	// frame is the 0-based frame of a multi-frame file this entry stands
	// for (0 for single-frame files); frameType is its FrameType, if any.
	frame     int
	frameType []string
	// perFrame keeps the functional groups of a multi-frame file until
	// expandFrames splits it into one entry per frame.
	perFrame, shared []header
}

// label names the file, and the frame for multi-frame files.
func (fi *fileInfo) label() string {
	if fi.Frames > 1 {
		return fmt.Sprintf("%s [frame %d of %d]", fi.Path, fi.frame+1, fi.Frames)
	}
	return fi.Path
}

// maxHeaderBytes bounds what is handed to the header parser: image headers
// are kilobytes; a file with hundreds of MiB before (or without) Pixel Data
// is not an image slice.
const maxHeaderBytes = 64 << 20

// parseOpts are the suyashkumar/dicom options used for headers: pixel data
// is never handed to it, and lenient about the quirks real files have.
var parseOpts = []dicom.ParseOption{
	dicom.SkipPixelData(),
	dicom.AllowMissingMetaElementGroupLength(),
	dicom.AllowUnknownSpecificCharacterSet(),
	dicom.AllowMismatchPixelDataLength(),
}

// readHeader reads one file's layout and header. It returns errNotDICOM
// (wrapped) for files that are not DICOM and other errors for DICOM files
// that cannot be parsed. It never panics: the third-party parser is guarded.
func readHeader(path string) (fi *fileInfo, err error) {
	// Stat before opening: opening a named pipe would block.
	if st, err := os.Stat(path); err != nil {
		return nil, err
	} else if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%w: not a regular file", errNotDICOM)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%w: not a regular file", errNotDICOM)
	}
	return readHeaderAt(f, st.Size(), st.ModTime().UnixNano(), path)
}

// readHeaderAt is readHeader on an open file (or any bytes, for fuzzing).
func readHeaderAt(f io.ReaderAt, size, modTime int64, path string) (fi *fileInfo, err error) {
	if size < 16 {
		return nil, fmt.Errorf("%w: only %d bytes", errNotDICOM, size)
	}
	w := getWindow(f, size)
	defer putWindow(w)
	lay, _, err := readLayoutWith(w)
	if err != nil {
		return nil, err
	}
	// The library gets a synthetic File Meta that declares only the
	// dataset's own encoding, followed by the dataset up to Pixel Data.
	// That sidesteps its crashes on transfer syntaxes it does not know
	// (e.g. Deflated Image Frame Compression), on deflated streams and on
	// meta groups without preamble or group length.
	var dsBytes, hdr []byte
	// Only what the walker checked goes to the parser: it trusts lengths
	// and allocates them before reading (a 4 GB UT after an element past
	// (7FE0,0010) made it allocate 4 GB).
	end := lay.dsEnd
	if end-lay.dsOff > maxHeaderBytes {
		return nil, fmt.Errorf("header of %d bytes before the pixel data is too large to be an image header", end-lay.dsOff)
	}
	if lay.deflated {
		_, inflated, err := readLayout(f, size)
		if err != nil {
			return nil, err
		}
		dsBytes = inflated[:min(end, int64(len(inflated)))]
	} else {
		// The header goes straight into the parser's buffer, from the
		// walker's window when it holds it (a CT header is a few KiB).
		hdr = syntheticMeta(lay.sx, int(end-lay.dsOff))
		dsBytes = hdr[len(hdr)-int(end-lay.dsOff):]
		if b, ok := w.cached(lay.dsOff, len(dsBytes)); ok {
			copy(dsBytes, b)
		} else if _, err := f.ReadAt(dsBytes, lay.dsOff); err != nil {
			return nil, err
		}
	}
	if fixed := fixUNCharset(dsBytes, lay.sx); hdr == nil || len(fixed) != len(dsBytes) {
		hdr = syntheticMeta(lay.sx, len(fixed))
		copy(hdr[len(hdr)-len(fixed):], fixed)
	}
	ds, err := parseDataset(hdr)
	// A late error (e.g. a broken private element after the image
	// attributes) keeps what was read before it; the checks in notImage
	// reject the file if anything needed is missing.
	if err != nil && len(ds.Elements) == 0 {
		return nil, fmt.Errorf("header: %w", err)
	}
	fi = &fileInfo{Path: path, lay: lay, size: size, modTime: modTime}
	h := header{ds}
	fi.SOPClassUID = h.str(tag.SOPClassUID)
	if fi.SOPClassUID == "" {
		fi.SOPClassUID = lay.mediaSOPClass
	}
	fi.SOPInstanceUID = h.str(tag.SOPInstanceUID)
	fi.StudyUID = h.str(tag.StudyInstanceUID)
	fi.SeriesUID = h.str(tag.SeriesInstanceUID)
	fi.FrameOfRefUID = h.str(tag.FrameOfReferenceUID)
	fi.PatientName = strings.TrimRight(strings.ReplaceAll(h.str(tag.PatientName), "^", " "), " ")
	fi.PatientID = h.str(tag.PatientID)
	fi.StudyDate = h.str(tag.StudyDate)
	fi.StudyDescription = h.str(tag.StudyDescription)
	fi.SeriesDescription = h.str(tag.SeriesDescription)
	fi.Modality = h.str(tag.Modality)
	fi.SeriesNumber = h.int(tag.SeriesNumber, 0)
	fi.InstanceNumber = h.int(tag.InstanceNumber, 0)
	fi.AcquisitionNumber = h.int(tag.AcquisitionNumber, 0)
	fi.ImageType = h.strs(tag.ImageType)
	// Present but invalid values are kept apart from missing ones: see
	// geomcheck.go.
	fi.readGeometry(h, allGeoFields...)
	if v := h.floats(tag.GantryDetectorTilt); len(v) > 0 {
		fi.Tilt = v[0]
	}
	fi.Rows = h.int(tag.Rows, 0)
	fi.Cols = h.int(tag.Columns, 0)
	fi.Frames = h.int(tag.NumberOfFrames, 1)
	fi.SamplesPerPixel = h.int(tag.SamplesPerPixel, 1)
	fi.BitsAllocated = h.int(tag.BitsAllocated, 0)
	fi.BitsStored = h.int(tag.BitsStored, fi.BitsAllocated)
	fi.HighBit = h.int(tag.HighBit, fi.BitsStored-1)
	fi.PixelRepresentation = h.int(tag.PixelRepresentation, 0)
	fi.Photometric = h.str(tag.PhotometricInterpretation)
	fi.Slope, fi.Intercept = 1, 0
	readRescale(h, fi)
	if fi.Frames > 1 {
		fi.shared = h.items(tag.SharedFunctionalGroupsSequence)
		fi.perFrame = h.items(tag.PerFrameFunctionalGroupsSequence)
	}
	return fi, nil
}

func readRescale(h header, fi *fileInfo) {
	if v := h.floats(tag.RescaleSlope); len(v) > 0 && v[0] != 0 && finite(v[0]) {
		fi.Slope = v[0]
	}
	if v := h.floats(tag.RescaleIntercept); len(v) > 0 && finite(v[0]) {
		fi.Intercept = v[0]
	}
}

// Limits on what one file may ask for, checked before anything is
// allocated for its pixels: see the package documentation.
const (
	maxFrames      = 1 << 16
	maxVolumeBytes = 2 << 30 // int16 voxels of one loaded volume
)

// expandFrames turns a multi-frame file (enhanced CT/MR and the like) into
// one entry per frame, each with the position, orientation, pixel spacing
// and rescale of its per-frame functional groups (falling back to the
// shared groups, then to the top-level attributes). Single-frame files are
// returned as they are. The reason is non-empty when the file cannot be
// used at all.
func (fi *fileInfo) expandFrames() ([]*fileInfo, string) {
	if fi.Frames <= 1 {
		return []*fileInfo{fi}, ""
	}
	if fi.Frames > maxFrames {
		return nil, fmt.Sprintf("NumberOfFrames %d is more than the %d this loader accepts", fi.Frames, maxFrames)
	}
	if int64(fi.Frames)*int64(fi.Rows)*int64(fi.Cols)*2 > maxVolumeBytes {
		return nil, fmt.Sprintf("%d frames of %dx%d need more than the %d GiB limit per volume", fi.Frames, fi.Cols, fi.Rows, maxVolumeBytes>>30)
	}
	if len(fi.perFrame) != fi.Frames {
		if len(fi.perFrame) == 0 {
			return nil, fmt.Sprintf("multi-frame image (%d frames) without per-frame functional groups: frame positions are unknown (%s)", fi.Frames, describeSOP(fi))
		}
		return nil, fmt.Sprintf("multi-frame image has %d frames but %d per-frame functional group items", fi.Frames, len(fi.perFrame))
	}
	var shared header
	if len(fi.shared) > 0 {
		shared = fi.shared[0]
	}
	out := make([]*fileInfo, fi.Frames)
	for k := range out {
		f := *fi
		f.perFrame, f.shared = nil, nil
		f.frame = k
		groups := []header{fi.perFrame[k], shared}
		// The first group (per-frame, then shared) that has a
		// macro wins, as PS3.3 C.7.6.16 requires.
		find := func(seq tag.Tag) (header, bool) {
			for _, g := range groups {
				if it := g.items(seq); len(it) > 0 {
					return it[0], true
				}
			}
			return header{}, false
		}
		if m, ok := find(tag.PlanePositionSequence); ok {
			f.readGeometry(m, geoIPP)
		}
		if m, ok := find(tag.PlaneOrientationSequence); ok {
			f.readGeometry(m, geoIOP)
		}
		if m, ok := find(tag.PixelMeasuresSequence); ok {
			f.readGeometry(m, geoPixelSpacing, geoThickness, geoSpacingBetween)
		}
		if m, ok := find(tag.PixelValueTransformationSequence); ok {
			readRescale(m, &f)
		}
		for _, seq := range []tag.Tag{tag.CTImageFrameTypeSequence, tag.MRImageFrameTypeSequence} {
			if m, ok := find(seq); ok {
				f.frameType = m.strs(tag.FrameType)
				break
			}
		}
		out[k] = &f
	}
	return out, ""
}

// fixUNCharset rewrites a SpecificCharacterSet (0008,0005) stored with VR
// UN in explicit VR as CS: the third-party parser panics on it (and prints
// the panic to the standard logger first). Other bytes are unchanged.
func fixUNCharset(ds []byte, sx syntax) []byte {
	if sx.implicit {
		return ds
	}
	w := bytesView(ds)
	for off := int64(0); off < int64(len(ds)); {
		e, err := readElem(w, off, sx, 0)
		if err != nil || e.tag > 0x00080005 {
			return ds
		}
		if e.tag == 0x00080005 {
			if e.vr != "UN" || e.vl == undefinedLength || e.vl > 0xFFFF {
				return ds
			}
			out := make([]byte, 0, len(ds))
			out = append(out, ds[:e.off+4]...)
			out = append(out, 'C', 'S')
			var l [2]byte
			sx.bo.PutUint16(l[:], uint16(e.vl))
			out = append(out, l[:]...)
			return append(out, ds[e.valOff:]...)
		}
		off = e.next
	}
	return ds
}

// parseDataset runs the third-party parser, which panics on some inputs
// (it calls log.Panicf from its Must* helpers): a panic becomes an error.
// Those helpers also print the message through the standard log package
// before panicking; that output is process-wide and is left alone.
func parseDataset(hdr []byte) (ds dicom.Dataset, err error) {
	defer func() {
		if r := recover(); r != nil {
			ds, err = dicom.Dataset{}, fmt.Errorf("DICOM parser failed: %v", r)
		}
	}()
	return dicom.Parse(bytes.NewReader(hdr), int64(len(hdr)), nil, parseOpts...)
}

// guardPanics turns a panic while reading one file into an error for that
// file, so that one hostile file never takes the application down. The
// fuzz targets switch it off to see this package's own bugs.
var guardPanics = true

func safely(what string, fn func() error) (err error) {
	if guardPanics {
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("%s: internal error while reading: %v", what, r)
			}
		}()
	}
	return fn()
}

// syntheticMeta is a preamble and a File Meta group that only declares the
// transfer syntax the dataset is encoded in, followed by room for the n
// bytes of the dataset (the last n bytes of the result).
func syntheticMeta(sx syntax, n int) []byte {
	ts := tsExplicitLE + "\x00" // UI values are padded to even length with NUL
	switch {
	case sx.implicit:
		ts = tsImplicitLE + "\x00"
	case sx.bo == binary.BigEndian:
		ts = tsExplicitBE + "\x00"
	}
	out := make([]byte, 128, 128+4+12+8+len(ts)+n)
	out = append(out, "DICM"...)
	out = append(out, 0x02, 0, 0, 0, 'U', 'L', 4, 0)
	out = binary.LittleEndian.AppendUint32(out, uint32(8+len(ts)))
	out = append(out, 0x02, 0, 0x10, 0, 'U', 'I')
	out = binary.LittleEndian.AppendUint16(out, uint16(len(ts)))
	out = append(out, ts...)
	return out[:len(out)+n]
}

// header wraps a parsed dataset with forgiving accessors: a missing or
// malformed attribute reads as empty, never as a panic.
type header struct{ ds dicom.Dataset }

func (h header) strs(t tag.Tag) []string {
	e, err := h.ds.FindElementByTag(t)
	if err != nil || e.Value == nil {
		return nil
	}
	switch v := e.Value.GetValue().(type) {
	case []string:
		out := make([]string, 0, len(v))
		for _, s := range v {
			out = append(out, strings.Trim(s, " \x00"))
		}
		return out
	case []int:
		out := make([]string, len(v))
		for i, x := range v {
			out[i] = strconv.Itoa(x)
		}
		return out
	case []byte:
		return []string{strings.Trim(string(v), " \x00")}
	}
	return nil
}

// items returns the items of sequence t, each as a header.
func (h header) items(t tag.Tag) []header {
	e, err := h.ds.FindElementByTag(t)
	if err != nil || e.Value == nil {
		return nil
	}
	v, ok := e.Value.GetValue().([]*dicom.SequenceItemValue)
	if !ok {
		return nil
	}
	out := make([]header, 0, len(v))
	for _, it := range v {
		if it == nil {
			continue
		}
		els, _ := it.GetValue().([]*dicom.Element)
		out = append(out, header{dicom.Dataset{Elements: els}})
	}
	return out
}

func (h header) str(t tag.Tag) string { return strings.Join(h.strs(t), `\`) }

func (h header) floats(t tag.Tag) []float64 {
	e, err := h.ds.FindElementByTag(t)
	if err != nil || e.Value == nil {
		return nil
	}
	switch v := e.Value.GetValue().(type) {
	case []float64:
		return v
	case []int:
		out := make([]float64, len(v))
		for i, x := range v {
			out[i] = float64(x)
		}
		return out
	case []string:
		out := make([]float64, 0, len(v))
		for _, s := range v {
			x, err := strconv.ParseFloat(strings.Trim(s, " \x00"), 64)
			if err != nil {
				return nil
			}
			out = append(out, x)
		}
		return out
	case []byte:
		// VR UN (unknown, e.g. explicit_VR-UN files): DS/IS values are
		// text; US/UL values are little-endian binary (UN is only used in
		// little endian syntaxes).
		var out []float64
		for _, s := range strings.Split(strings.Trim(string(v), " \x00"), `\`) {
			x, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
			if err != nil {
				out = nil
				break
			}
			out = append(out, x)
		}
		switch {
		case out != nil:
			return out
		case len(v) == 2:
			return []float64{float64(binary.LittleEndian.Uint16(v))}
		case len(v) == 4:
			return []float64{float64(binary.LittleEndian.Uint32(v))}
		}
	}
	return nil
}

func (h header) int(t tag.Tag, def int) int {
	v := h.floats(t)
	if len(v) == 0 || !finite(v[0]) || math.Abs(v[0]) > 1<<31 {
		return def
	}
	return int(v[0])
}

func finite(v ...float64) bool {
	for _, x := range v {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return false
		}
	}
	return true
}

// notImage returns why a DICOM file (or frame) cannot be a slice of a
// volume, or "".
func (fi *fileInfo) notImage() string {
	if why := fi.notPixels(); why != "" {
		return why
	}
	return fi.notPlaced()
}

// notPixels checks the pixel description of a file.
func (fi *fileInfo) notPixels() string {
	switch {
	case !fi.lay.hasPixels:
		return "no pixel data (" + describeSOP(fi) + ")"
	case fi.Rows <= 0 || fi.Cols <= 0:
		return "pixel data without valid Rows/Columns"
	case fi.SamplesPerPixel != 1:
		return fmt.Sprintf("colour image (%d samples per pixel, %s): not a CT/MR slice", fi.SamplesPerPixel, fi.Photometric)
	case fi.Frames < 1:
		return fmt.Sprintf("NumberOfFrames %d", fi.Frames)
	case int64(fi.Rows)*int64(fi.Cols)*2 > maxVolumeBytes:
		return fmt.Sprintf("%dx%d pixels per frame is beyond the %d GiB limit per volume", fi.Cols, fi.Rows, maxVolumeBytes>>30)
	case fi.BitsAllocated != 8 && fi.BitsAllocated != 16 && fi.BitsAllocated != 32:
		return fmt.Sprintf("BitsAllocated %d is not supported (8, 16 or 32)", fi.BitsAllocated)
	}
	return ""
}

// notPlaced checks that a file (or frame) has a position in space.
func (fi *fileInfo) notPlaced() string {
	if why := fi.invalidGeometry(); why != "" {
		return why
	}
	switch {
	case !fi.hasIPP || !fi.hasIOP:
		return "no ImagePositionPatient/ImageOrientationPatient: not a cross-sectional image (" + describeSOP(fi) + ")"
	case !validIOP(fi.IOP):
		return fmt.Sprintf("ImageOrientationPatient %v is not two orthogonal unit vectors", fi.IOP)
	}
	return ""
}

func describeSOP(fi *fileInfo) string {
	if n, ok := sopNames[fi.SOPClassUID]; ok {
		return n
	}
	if fi.Modality != "" {
		return "modality " + fi.Modality
	}
	if fi.SOPClassUID != "" {
		return "SOP class " + fi.SOPClassUID
	}
	return "unknown object"
}

var sopNames = map[string]string{
	"1.2.840.10008.1.3.10":          "DICOMDIR",
	"1.2.840.10008.5.1.4.1.1.66.4":  "Segmentation",
	"1.2.840.10008.5.1.4.1.1.481.3": "RT Structure Set",
	"1.2.840.10008.5.1.4.1.1.481.5": "RT Plan",
	"1.2.840.10008.5.1.4.1.1.88.11": "Basic Text SR",
	"1.2.840.10008.5.1.4.1.1.88.22": "Enhanced SR",
	"1.2.840.10008.5.1.4.1.1.88.33": "Comprehensive SR",
	"1.2.840.10008.5.1.4.1.1.9.1.1": "12-lead ECG waveform",
	"1.2.840.10008.5.1.4.1.1.2":     "CT Image",
	"1.2.840.10008.5.1.4.1.1.2.1":   "Enhanced CT Image",
	"1.2.840.10008.5.1.4.1.1.4":     "MR Image",
	"1.2.840.10008.5.1.4.1.1.4.1":   "Enhanced MR Image",
	"1.2.840.10008.5.1.4.1.1.7":     "Secondary Capture",
	"1.2.840.10008.5.1.4.1.1.6.1":   "Ultrasound Image",
	"1.2.840.10008.5.1.4.1.1.1":     "Computed Radiography",
	"1.2.840.10008.5.1.4.1.1.30":    "Parametric Map",
}

func validIOP(o [6]float64) bool {
	r := [3]float64{o[0], o[1], o[2]}
	c := [3]float64{o[3], o[4], o[5]}
	return math.Abs(norm(r)-1) < 0.01 && math.Abs(norm(c)-1) < 0.01 && math.Abs(dot(r, c)) < 0.01
}

func dot(a, b [3]float64) float64 { return a[0]*b[0] + a[1]*b[1] + a[2]*b[2] }
func norm(a [3]float64) float64   { return math.Sqrt(dot(a, a)) }
func cross(a, b [3]float64) [3]float64 {
	return [3]float64{a[1]*b[2] - a[2]*b[1], a[2]*b[0] - a[0]*b[2], a[0]*b[1] - a[1]*b[0]}
}
func unit(a [3]float64) [3]float64 {
	n := norm(a)
	if n == 0 {
		return a
	}
	return [3]float64{a[0] / n, a[1] / n, a[2] / n}
}

// readHeaderFn is readHeader, replaceable by tests of the time bound.
var readHeaderFn = readHeader

// perFileTimeout bounds the time spent on one file's header: a file that
// makes the parser spin is reported as skipped instead of stalling a scan.
var perFileTimeout = 10 * time.Second

// readHeaderBounded is readHeader with a time bound. On timeout the parse
// goroutine is abandoned (Go cannot stop it); it holds only its own
// buffers and ends when the parser does.
func readHeaderBounded(path string, limit time.Duration) (*fileInfo, error) {
	type result struct {
		fi  *fileInfo
		err error
	}
	ch := make(chan result, 1)
	read := readHeaderFn // read here: the goroutine may outlive the call
	go func() {
		var fi *fileInfo
		err := safely(path, func() (err error) {
			fi, err = read(path)
			return err
		})
		ch <- result{fi, err}
	}()
	t := time.NewTimer(limit)
	defer t.Stop()
	select {
	case r := <-ch:
		return r.fi, r.err
	case <-t.C:
		return nil, fmt.Errorf("reading the header took more than %v: given up", limit)
	}
}
