package comparison

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"image"
	"image/color"
	"image/png"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/liverseg/liverseg/metrics"
)

var chartOut = flag.String("chart-out", "", "also write the chart of the real comparison to this PNG (for docs/)")

// tableWithReference is the real four-model table on the study with its
// reference loaded.
func tableWithReference(t *testing.T) ([]Row, study) {
	t.Helper()
	set, st, _ := fullSet(t)
	set.SetReference(st.ref)
	defer set.SetReference(nil)
	rows, err := set.Table(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return rows, st
}

func TestCSVParsesBack(t *testing.T) {
	rows, _ := tableWithReference(t)
	// The teacher's row has no teacher columns; make one row also lack
	// surface distances (an empty mask) to check those cells.
	rows = slices.Clone(rows)
	empty := *rows[1].VsReference
	empty.SurfaceOK, empty.HD95MM, empty.ASSDMM = false, 0, 0
	rows[1].VsReference = &empty

	var b bytes.Buffer
	if err := WriteCSV(&b, rows); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&b).ReadAll()
	if err != nil {
		t.Fatalf("CSV does not parse: %v\n%s", err, b.String())
	}
	if len(recs) != len(rows)+1 || !slices.Equal(recs[0], CSVHeader) {
		t.Fatalf("got %d records, header %v", len(recs), recs[0])
	}
	col := map[string]int{}
	for i, h := range recs[0] {
		col[h] = i
	}
	num := func(rec []string, name string) float64 {
		v, err := strconv.ParseFloat(rec[col[name]], 64)
		if err != nil {
			t.Fatalf("column %s: %q: %v", name, rec[col[name]], err)
		}
		return v
	}
	near := func(name string, got, want, tol float64) {
		if math.Abs(got-want) > tol {
			t.Errorf("%s: %v in the CSV, %v in the table", name, got, want)
		}
	}
	for i, r := range rows {
		rec := recs[i+1]
		if rec[col["model"]] != r.Name || rec[col["role"]] != r.Role || rec[col["params"]] != strconv.FormatInt(r.Params, 10) {
			t.Errorf("row %d: %v", i, rec)
		}
		near("infer_ms", num(rec, "infer_ms"), r.InferMS, 0.05)
		near("volume_ml", num(rec, "volume_ml"), r.VolumeML, 0.005)
		near("dice_ref", num(rec, "dice_ref"), r.VsReference.Dice, 5e-7)
		near("iou_ref", num(rec, "iou_ref"), r.VsReference.IoU, 5e-7)
		if r.VsReference.SurfaceOK {
			near("hd95_mm_ref", num(rec, "hd95_mm_ref"), r.VsReference.HD95MM, 5e-4)
			near("assd_mm_ref", num(rec, "assd_mm_ref"), r.VsReference.ASSDMM, 5e-4)
		} else if rec[col["hd95_mm_ref"]] != "" || rec[col["assd_mm_ref"]] != "" {
			t.Errorf("%s: undefined distances written as %q %q", r.Name, rec[col["hd95_mm_ref"]], rec[col["assd_mm_ref"]])
		}
		if r.VsTeacher == nil {
			for _, c := range []string{"dice_teacher", "iou_teacher", "hd95_mm_teacher", "assd_mm_teacher"} {
				if rec[col[c]] != "" {
					t.Errorf("%s: %s = %q without a teacher comparison", r.Name, c, rec[col[c]])
				}
			}
		} else {
			near("dice_teacher", num(rec, "dice_teacher"), r.VsTeacher.Dice, 5e-7)
			near("hd95_mm_teacher", num(rec, "hd95_mm_teacher"), r.VsTeacher.HD95MM, 5e-4)
		}
	}
	if strings.Contains(b.String(), "NaN") || strings.Contains(b.String(), "Inf") {
		t.Error("CSV holds NaN or Inf")
	}
}

func TestJSONParsesBack(t *testing.T) {
	rows, st := tableWithReference(t)
	rows = slices.Clone(rows)
	rows[2].VsReference = &metrics.Report{Dice: 0, IoU: 0, VolumeML: 0, RefVolumeML: 1} // an empty prediction
	meta := NewMeta(st.ct)
	meta.Reference = "liver.nii.gz"
	var b bytes.Buffer
	if err := WriteJSON(&b, rows, meta); err != nil {
		t.Fatal(err)
	}
	// Decoded generically: the keys a reader relies on are there, and the
	// undefined distances are null.
	var raw map[string]any
	if err := json.Unmarshal(b.Bytes(), &raw); err != nil {
		t.Fatalf("JSON does not parse: %v", err)
	}
	models, _ := raw["models"].([]any)
	if len(models) != len(rows) {
		t.Fatalf("%d models in the JSON", len(models))
	}
	for i, m := range models {
		obj := m.(map[string]any)
		for _, k := range []string{"model", "role", "params", "infer_ms", "total_ms", "volume_ml", "vs_teacher", "vs_reference"} {
			if _, ok := obj[k]; !ok {
				t.Errorf("model %d has no %q", i, k)
			}
		}
		ref := obj["vs_reference"].(map[string]any)
		for _, k := range []string{"dice", "iou", "hd95_mm", "assd_mm", "volume_ml", "ref_volume_ml"} {
			if _, ok := ref[k]; !ok {
				t.Errorf("model %d vs_reference has no %q", i, k)
			}
		}
		if i == 2 && (ref["hd95_mm"] != nil || ref["assd_mm"] != nil) {
			t.Errorf("undefined distances are %v %v, want null", ref["hd95_mm"], ref["assd_mm"])
		}
		if rows[i].VsTeacher == nil && obj["vs_teacher"] != nil {
			t.Errorf("%s: vs_teacher %v, want null", rows[i].Name, obj["vs_teacher"])
		}
	}
	// Decoded into the exported types: values equal the table.
	var doc JSONDoc
	if err := json.Unmarshal(b.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Meta.Size != st.ct.Size || doc.Meta.Software == "" || doc.Meta.Date.IsZero() || doc.Meta.Reference != "liver.nii.gz" {
		t.Errorf("meta %+v", doc.Meta)
	}
	for i, m := range doc.Models {
		r := rows[i]
		if m.Name != r.Name || m.Params != r.Params || m.InferMS != r.InferMS || m.VolumeML != r.VolumeML {
			t.Errorf("model %d: %+v vs row %+v", i, m, r)
		}
		if m.VsReference.Dice != r.VsReference.Dice || (r.VsReference.SurfaceOK && *m.VsReference.HD95MM != r.VsReference.HD95MM) {
			t.Errorf("%s: JSON %+v, table %+v", r.Name, m.VsReference, r.VsReference)
		}
		if (m.VsTeacher == nil) != (r.VsTeacher == nil) || (r.VsTeacher != nil && m.VsTeacher.Dice != r.VsTeacher.Dice) {
			t.Errorf("%s: vs teacher JSON %+v, table %+v", r.Name, m.VsTeacher, r.VsTeacher)
		}
	}
}

// countColor counts the pixels of exactly colour c.
func countColor(img image.Image, c color.RGBA) int {
	n := 0
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			if uint8(r>>8) == c.R && uint8(g>>8) == c.G && uint8(bl>>8) == c.B {
				n++
			}
		}
	}
	return n
}

func TestChartPNG(t *testing.T) {
	rows, _ := tableWithReference(t)
	for _, size := range [][2]int{{1200, 480}, {640, 300}} {
		img, err := Chart(rows, size[0], size[1])
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(t.TempDir(), "chart.png")
		if err := WritePNG(path, img); err != nil {
			t.Fatal(err)
		}
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		dec, err := png.Decode(f)
		f.Close()
		if err != nil {
			t.Fatalf("written chart does not decode: %v", err)
		}
		if b := dec.Bounds(); b.Dx() != size[0] || b.Dy() != size[1] {
			t.Fatalf("chart is %v, asked %v", b, size)
		}
		white := countColor(dec, color.RGBA{255, 255, 255, 255})
		if white == size[0]*size[1] || white < size[0]*size[1]/3 {
			t.Errorf("%v: %d white pixels of %d", size, white, size[0]*size[1])
		}
		// Each model's bar and legend swatch are filled with its colour.
		for _, r := range rows {
			if n := countColor(dec, Color(r.Name)); n < 200 {
				t.Errorf("%v: %s's colour %v covers %d pixels", size, r.Name, Color(r.Name), n)
			}
		}
		if *chartOut != "" {
			out := *chartOut
			if size[0] != 1200 {
				out = strings.TrimSuffix(out, ".png") + "_" + strconv.Itoa(size[0]) + ".png"
			}
			if err := WritePNG(out, img); err != nil {
				t.Fatal(err)
			}
		}
		ents, _ := os.ReadDir(filepath.Dir(path))
		if len(ents) != 1 {
			t.Errorf("WritePNG left %d files in the folder", len(ents))
		}
	}
	// Without a reference, Dice is against the teacher; still draws.
	set, _, _ := fullSet(t)
	plain, err := set.Table(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Chart(plain, 800, 400); err != nil {
		t.Errorf("chart without reference: %v", err)
	}
	if _, err := Chart(plain[2:3], 800, 400); err != nil {
		t.Errorf("chart of one model with nothing to compare: %v", err)
	}
	if _, err := Chart(nil, 800, 400); err == nil {
		t.Error("chart of no rows drawn")
	}
	if _, err := Chart(rows, 100, 50); err == nil {
		t.Error("a 100×50 chart drawn")
	}
}

func TestWriteFileAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "table.csv")
	if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	// A failing writer leaves the old file alone and no temporary file.
	err := WriteFile(path, func(w io.Writer) error {
		w.Write([]byte("partial"))
		return errors.New("disk full")
	})
	if err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("error %v does not name the file", err)
	}
	if b, _ := os.ReadFile(path); string(b) != "old" {
		t.Errorf("failed write changed the file to %q", b)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("%d files after a failed write", len(ents))
	}
	if err := WriteFile(path, func(w io.Writer) error { return WriteCSV(w, nil) }); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); !strings.HasPrefix(string(b), "model,role,") {
		t.Errorf("file holds %q", b)
	}
	if err := WritePNG(filepath.Join(dir, "no", "such", "folder.png"), image.NewRGBA(image.Rect(0, 0, 2, 2))); err == nil {
		t.Error("wrote into a missing folder")
	}
}
