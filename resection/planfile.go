package resection

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"

	"github.com/liverseg/liverseg/internal/atomicfile"
	"github.com/liverseg/liverseg/volume"
)

// FileFormat identifies a plan file.
const FileFormat = "liverseg-resection-plan"

// File is a saved plan: small JSON with every surface's control points in
// patient millimetres and what the plan was made on.
type File struct {
	Format      string `json:"format"`
	Version     int    `json:"version"`
	Coordinates string `json:"coordinates"`
	Convention  string `json:"convention"`

	StudyInstanceUID    string `json:"study_instance_uid,omitempty"`
	SeriesInstanceUID   string `json:"series_instance_uid,omitempty"`
	FrameOfReferenceUID string `json:"frame_of_reference_uid,omitempty"`
	// MaskSHA256 is MaskChecksum of the liver mask the plan was made on.
	MaskSHA256 string `json:"mask_sha256,omitempty"`
	MaskSource string `json:"mask_source,omitempty"`

	Combine Combine   `json:"combine"`
	Cuts    []CutFile `json:"cuts"`

	MinFLRPercent float64 `json:"min_flr_percent,omitempty"`
	MinMarginMM   float64 `json:"min_margin_mm,omitempty"`
	HeightCM      float64 `json:"height_cm,omitempty"`
	WeightKG      float64 `json:"weight_kg,omitempty"`
}

// CutFile is one cutting surface in a plan file.
type CutFile struct {
	Name       string  `json:"name,omitempty"`
	Point      Vec     `json:"point_lps_mm"`
	Normal     Vec     `json:"normal_lps"`
	HalfSizeMM float64 `json:"half_size_mm"`
	// ControlPoints are the 4×4 Bézier control points, row i (along the
	// cut's U axis) after row, in LPS mm.
	ControlPoints [Grid * Grid]Vec `json:"control_points_lps_mm"`
}

const fileConvention = "each cut's normal points into the resected part; the remnant is the side the normal points away from"

// NewFile describes plan p made on mask m of the study in info.
func NewFile(p Plan, info volume.Info, maskSum string) File {
	f := File{
		Format: FileFormat, Version: 1,
		Coordinates:         "DICOM patient LPS (x Left, y Posterior, z Superior), millimetres",
		Convention:          fileConvention,
		StudyInstanceUID:    info.StudyInstanceUID,
		SeriesInstanceUID:   info.SeriesInstanceUID,
		FrameOfReferenceUID: info.FrameOfReference,
		MaskSHA256:          maskSum,
		Combine:             p.Combine,
	}
	if f.Combine == "" {
		f.Combine = Any
	}
	for _, c := range p.Cuts {
		cf := CutFile{Name: c.Name, Point: c.Origin, Normal: c.Normal, HalfSizeMM: c.HalfSize}
		for i := 0; i < Grid; i++ {
			for j := 0; j < Grid; j++ {
				cf.ControlPoints[i*Grid+j] = c.ControlPoint(i, j)
			}
		}
		f.Cuts = append(f.Cuts, cf)
	}
	return f
}

// Plan rebuilds the plan. Control points must lie on their cut's grid
// (moved only along the normal, as the editors move them); the offsets
// are read from their positions.
func (f File) Plan() (Plan, error) {
	if f.Format != FileFormat {
		return Plan{}, fmt.Errorf("not a LiverSeg resection plan (format %q, want %q)", f.Format, FileFormat)
	}
	if f.Version != 1 {
		return Plan{}, fmt.Errorf("plan version %d is not supported (this LiverSeg reads version 1)", f.Version)
	}
	p := Plan{Combine: f.Combine}
	for n, cf := range f.Cuts {
		c, err := NewPlane(cf.Point, cf.Normal)
		if err != nil {
			return Plan{}, fmt.Errorf("cut %d: %w", n+1, err)
		}
		c.Name = cf.Name
		c.HalfSize = cf.HalfSizeMM
		if !(c.HalfSize > 0) {
			return Plan{}, fmt.Errorf("cut %d: half_size_mm %g must be positive", n+1, cf.HalfSizeMM)
		}
		for i := 0; i < Grid; i++ {
			for j := 0; j < Grid; j++ {
				cp := cf.ControlPoints[i*Grid+j]
				flat := c.ControlPoint(i, j)
				c.Offsets[i][j] = dot(sub(cp, flat), c.Normal)
				if d := norm(sub(cp, c.ControlPoint(i, j))); d > 0.01 || math.IsNaN(d) {
					return Plan{}, fmt.Errorf("cut %d: control point %d,%d (%.2f, %.2f, %.2f) is %.2f mm off its grid line (control points move only along the normal)", n+1, i, j, cp[0], cp[1], cp[2], d)
				}
			}
		}
		p.Cuts = append(p.Cuts, c)
	}
	if err := p.Validate(); err != nil {
		return Plan{}, err
	}
	return p, nil
}

// Save writes f to path atomically (replacing an existing plan only with
// overwrite).
func (f File) Save(path string, overwrite bool) error {
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return err
	}
	err = atomicfile.Write(path, atomicfile.Options{NoOverwrite: !overwrite}, func(w io.Writer) error {
		_, err := w.Write(append(b, '\n'))
		return err
	})
	if err != nil {
		return fmt.Errorf("save plan %s: %w", path, err)
	}
	return nil
}

// maxPlanBytes bounds what Load reads: a plan is a few kilobytes.
const maxPlanBytes = 1 << 20

// Load reads a plan file and checks it.
func Load(path string) (File, Plan, error) {
	fh, err := os.Open(path)
	if err != nil {
		return File{}, Plan{}, fmt.Errorf("plan %s: %w", path, err)
	}
	defer fh.Close()
	b, err := io.ReadAll(io.LimitReader(fh, maxPlanBytes+1))
	if err != nil {
		return File{}, Plan{}, fmt.Errorf("plan %s: %w", path, err)
	}
	if len(b) > maxPlanBytes {
		return File{}, Plan{}, fmt.Errorf("plan %s: larger than %d bytes, not a plan file", path, maxPlanBytes)
	}
	var f File
	if err := json.Unmarshal(b, &f); err != nil {
		return File{}, Plan{}, fmt.Errorf("plan %s: not valid JSON: %w", path, err)
	}
	p, err := f.Plan()
	if err != nil {
		return File{}, Plan{}, fmt.Errorf("plan %s: %w", path, err)
	}
	return f, p, nil
}

// CheckStudy reports how the plan's recorded study and mask differ from
// the ones given: an error for another frame of reference (its coordinates
// mean nothing here), warnings for another series or mask.
func (f File) CheckStudy(info volume.Info, maskSum string) (warnings []string, err error) {
	if f.FrameOfReferenceUID != "" && info.FrameOfReference != "" && f.FrameOfReferenceUID != info.FrameOfReference {
		return nil, fmt.Errorf("the plan was made on frame of reference %s, this study's is %s: another acquisition", f.FrameOfReferenceUID, info.FrameOfReference)
	}
	if f.StudyInstanceUID != "" && info.StudyInstanceUID != "" && f.StudyInstanceUID != info.StudyInstanceUID {
		return nil, fmt.Errorf("the plan was made on study %s, this is study %s", f.StudyInstanceUID, info.StudyInstanceUID)
	}
	if f.SeriesInstanceUID != "" && info.SeriesInstanceUID != "" && f.SeriesInstanceUID != info.SeriesInstanceUID {
		warnings = append(warnings, fmt.Sprintf("the plan was made on series %s, this is series %s (same study)", f.SeriesInstanceUID, info.SeriesInstanceUID))
	}
	if f.MaskSHA256 != "" && maskSum != "" && f.MaskSHA256 != maskSum {
		warnings = append(warnings, "the liver mask differs from the one the plan was made on (checksum): the volumes will differ from the saved plan's")
	}
	return warnings, nil
}

// MaskChecksum is the SHA-256 of a mask's liver voxels in canonical (LPS)
// order with its size, so the same mask stored in another index order (a
// NIfTI written RAS, the DICOM grid) has the same checksum.
func MaskChecksum(m *volume.Mask) string {
	c := m.Canonical()
	h := sha256.New()
	var hdr [12]byte
	for a := 0; a < 3; a++ {
		binary.LittleEndian.PutUint32(hdr[4*a:], uint32(c.Size[a]))
	}
	h.Write(hdr[:])
	buf := make([]byte, 0, 1<<16)
	for _, x := range c.Voxels {
		b := byte(0)
		if x != 0 {
			b = 1
		}
		buf = append(buf, b)
		if len(buf) == cap(buf) {
			h.Write(buf)
			buf = buf[:0]
		}
	}
	h.Write(buf)
	return hex.EncodeToString(h.Sum(nil))
}

// ErrNoPlan is returned when an operation needs a cut and the plan has none.
var ErrNoPlan = errors.New("the plan has no cut")
