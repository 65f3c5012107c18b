package comparison

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"io"
	"math"
	"strconv"
	"time"

	"github.com/liverseg/liverseg/internal/atomicfile"
	"github.com/liverseg/liverseg/internal/buildinfo"
	"github.com/liverseg/liverseg/metrics"
	"github.com/liverseg/liverseg/volume"
)

// CSVHeader is the first line WriteCSV writes. Distances are in mm,
// volumes in mL, times in ms. "teacher" columns compare the model with the
// teacher's mask, "ref" columns with the reference mask.
var CSVHeader = []string{
	"model", "role", "params", "infer_ms", "total_ms", "volume_ml",
	"dice_teacher", "iou_teacher", "hd95_mm_teacher", "assd_mm_teacher",
	"dice_ref", "iou_ref", "hd95_mm_ref", "assd_mm_ref",
}

// WriteCSV writes the table with CSVHeader as its first line. A value that
// does not exist (no teacher or reference to compare with, or a surface
// distance with an empty mask) is an empty cell.
func WriteCSV(w io.Writer, rows []Row) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(CSVHeader); err != nil {
		return err
	}
	f := func(x float64, prec int) string {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return ""
		}
		return strconv.FormatFloat(x, 'f', prec, 64)
	}
	cells := func(r *metrics.Report) []string {
		if r == nil {
			return []string{"", "", "", ""}
		}
		out := []string{f(r.Dice, 6), f(r.IoU, 6), "", ""}
		if r.SurfaceOK {
			out[2], out[3] = f(r.HD95MM, 3), f(r.ASSDMM, 3)
		}
		return out
	}
	for _, r := range rows {
		line := []string{r.Name, r.Role, strconv.FormatInt(r.Params, 10), f(r.InferMS, 1), f(r.TotalMS, 1), f(r.VolumeML, 2)}
		line = append(line, cells(r.VsTeacher)...)
		line = append(line, cells(r.VsReference)...)
		if err := cw.Write(line); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// Meta identifies what a JSON export describes.
type Meta struct {
	Source            string     `json:"source,omitempty"` // file or folder the study was read from
	PatientID         string     `json:"patient_id,omitempty"`
	StudyDate         string     `json:"study_date,omitempty"`
	StudyInstanceUID  string     `json:"study_instance_uid,omitempty"`
	SeriesInstanceUID string     `json:"series_instance_uid,omitempty"`
	SeriesDescription string     `json:"series_description,omitempty"`
	Size              [3]int     `json:"size"`
	SpacingMM         [3]float64 `json:"spacing_mm"`
	Reference         string     `json:"reference,omitempty"` // where the reference mask came from
	Software          string     `json:"software"`
	Date              time.Time  `json:"date"`
}

// NewMeta fills Meta from a study (nil for none), with this program's
// version and the current time (UTC).
func NewMeta(v *volume.Volume) Meta {
	m := Meta{Software: SoftwareVersion(), Date: time.Now().UTC().Truncate(time.Second)}
	if v != nil {
		m.Source = v.Info.Source
		m.PatientID = v.Info.PatientID
		m.StudyDate = v.Info.StudyDate
		m.StudyInstanceUID = v.Info.StudyInstanceUID
		m.SeriesInstanceUID = v.Info.SeriesInstanceUID
		m.SeriesDescription = v.Info.SeriesDescription
		m.Size = v.Size
		m.SpacingMM = v.Spacing
	}
	return m
}

// SoftwareVersion is how exports name the software ("LiverSeg 0.1.0
// (abc1234)"; internal/buildinfo).
func SoftwareVersion() string { return buildinfo.Software() }

// JSONReport is a metrics.Report as WriteJSON writes it, with the undefined distances as null.
type JSONReport struct {
	Dice        float64  `json:"dice"`
	IoU         float64  `json:"iou"`
	HD95MM      *float64 `json:"hd95_mm"`
	ASSDMM      *float64 `json:"assd_mm"`
	VolumeML    float64  `json:"volume_ml"`
	RefVolumeML float64  `json:"ref_volume_ml"`
}

// JSONRow is one model in a JSON export.
type JSONRow struct {
	Name        string      `json:"model"`
	Role        string      `json:"role"`
	Params      int64       `json:"params"`
	InferMS     float64     `json:"infer_ms"`
	TotalMS     float64     `json:"total_ms"`
	VolumeML    float64     `json:"volume_ml"`
	VsTeacher   *JSONReport `json:"vs_teacher"`
	VsReference *JSONReport `json:"vs_reference"`
}

// JSONDoc is the document WriteJSON writes (exported so that readers can
// decode it).
type JSONDoc struct {
	Meta   Meta      `json:"meta"`
	Models []JSONRow `json:"models"`
}

func toJSON(r *metrics.Report) *JSONReport {
	if r == nil {
		return nil
	}
	j := &JSONReport{Dice: r.Dice, IoU: r.IoU, VolumeML: r.VolumeML, RefVolumeML: r.RefVolumeML}
	if r.SurfaceOK {
		hd, as := r.HD95MM, r.ASSDMM
		j.HD95MM, j.ASSDMM = &hd, &as
	}
	return j
}

// WriteJSON writes {"meta": …, "models": [{"model", "role", "params",
// "infer_ms", "total_ms", "volume_ml", "vs_teacher": {"dice", "iou",
// "hd95_mm", "assd_mm", "volume_ml", "ref_volume_ml"} | null,
// "vs_reference": … | null}]}, indented. Undefined distances are null.
func WriteJSON(w io.Writer, rows []Row, meta Meta) error {
	doc := JSONDoc{Meta: meta, Models: make([]JSONRow, len(rows))}
	for i, r := range rows {
		doc.Models[i] = JSONRow{r.Name, r.Role, r.Params, r.InferMS, r.TotalMS, r.VolumeML, toJSON(r.VsTeacher), toJSON(r.VsReference)}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(doc)
}

// WriteFile writes path atomically (internal/atomicfile): write fills a
// temporary file in the same folder, which replaces path only when
// everything succeeded. An existing file at path is replaced (asking first
// is the caller's job).
func WriteFile(path string, write func(io.Writer) error) error {
	if err := atomicfile.Write(path, atomicfile.Options{}, write); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

// WritePNG encodes img as PNG into path atomically (see WriteFile).
func WritePNG(path string, img image.Image) error {
	return WriteFile(path, func(w io.Writer) error { return png.Encode(w, img) })
}
