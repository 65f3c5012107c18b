package app

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"fyne.io/fyne/v2/test"
	"golang.org/x/net/html"

	"github.com/liverseg/liverseg/inference"
	"github.com/liverseg/liverseg/metrics"
)

// htmlTables returns the text of every cell of each table with an id,
// row by row, from a parsed document.
func htmlTables(doc *html.Node) map[string][][]string {
	out := map[string][][]string{}
	var text func(n *html.Node) string
	text = func(n *html.Node) string {
		if n.Type == html.TextNode {
			return n.Data
		}
		var b strings.Builder
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			b.WriteString(text(c))
		}
		return b.String()
	}
	var walk func(n *html.Node, table string)
	walk = func(n *html.Node, table string) {
		if n.Type == html.ElementNode {
			switch n.Data {
			case "table":
				for _, a := range n.Attr {
					if a.Key == "id" {
						table = a.Val
					}
				}
			case "tr":
				var row []string
				for c := n.FirstChild; c != nil; c = c.NextSibling {
					if c.Type == html.ElementNode && (c.Data == "td" || c.Data == "th") {
						row = append(row, strings.TrimSpace(text(c)))
					}
				}
				out[table] = append(out[table], row)
				return
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c, table)
		}
	}
	walk(doc, "")
	return out
}

func findImg(n *html.Node) string {
	if n.Type == html.ElementNode && n.Data == "img" {
		for _, a := range n.Attr {
			if a.Key == "src" {
				return a.Val
			}
		}
	}
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		if s := findImg(c); s != "" {
			return s
		}
	}
	return ""
}

// rowOf is the row of table whose first cell is key.
func rowOf(rows [][]string, key string) []string {
	for _, r := range rows {
		if len(r) > 0 && r[0] == key {
			return r
		}
	}
	return nil
}

// TestSaveReport runs two models on the abdominal CT with its reference, saves
// the report through the dialog and reads the HTML back with an HTML
// parser: identifiers (escaped), volumes, the agreement table, the picture.
func TestSaveReport(t *testing.T) {
	u, runDone, postDone, real, study := openAbdomen(t)
	refDone := make(chan error, 1)
	u.seg.onRefDone = func(err error) { refDone <- err }
	u.LoadReference(study.Liver)
	if err := waitFor(t, refDone, time.Minute, "reference"); err != nil {
		t.Fatal(err)
	}
	waitPost(t, postDone)
	models := []string{u.seg.res.Model}
	if real {
		u.seg.RunModel("teacher")
		if err := waitRun(t, runDone); err != nil {
			t.Fatal(err)
		}
		waitPost(t, postDone)
		models = append(models, "teacher")
	}
	// Identifiers as hostile DICOM could carry them: the report must show
	// them as text, never as markup.
	u.vol.Info.PatientName = `<script>alert("x")</script> O'Brien & Co`
	u.vol.Info.PatientID = `ID<1>&"2"`
	u.vol.Info.StudyDescription = `</td></tr></table><h1>injected`

	done := make(chan error, 1)
	u.rep.onDone = func(_ string, err error) { done <- err }
	u.ShowReport()
	if u.rep.dlg == nil {
		t.Fatal("no report dialog")
	}
	out := t.TempDir()
	u.rep.folder.SetText(out)
	u.rep.name.SetText("report")
	t0 := time.Now()
	test.Tap(u.rep.saveBtn)
	if err := waitFor(t, done, 2*time.Minute, "report"); err != nil {
		t.Fatal(err)
	}
	t.Logf("report saved in %.0f ms", msSince(t0))
	raw, err := os.ReadFile(filepath.Join(out, "report.html"))
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"<script>", "<h1>injected", `ID<1>`} {
		if bytes.Contains(raw, []byte(bad)) {
			t.Errorf("the HTML contains unescaped %q", bad)
		}
	}
	doc, err := html.Parse(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	tables := htmlTables(doc)
	for key, want := range map[string]string{
		"Patient name":        u.vol.Info.PatientName,
		"Patient ID":          u.vol.Info.PatientID,
		"Study description":   u.vol.Info.StudyDescription,
		"Series Instance UID": u.vol.Info.SeriesInstanceUID,
		"Frame of reference":  u.vol.Info.FrameOfReference,
	} {
		if r := rowOf(tables["study"], key); len(r) != 2 || r[1] != want {
			t.Errorf("study table %s: %q, want %q", key, r, want)
		}
	}
	// One row per model run, with its volume at the shown threshold,
	// computed here independently, and its Dice with the reference.
	for _, name := range models {
		var res = u.seg.res
		for _, r := range u.modelResults() {
			if r.Model == name {
				res = r
			}
		}
		thr := res.Post.Threshold
		if res == u.seg.res {
			thr = u.seg.ovl.Threshold()
		}
		m, err := res.Threshold(thr)
		if err != nil {
			t.Fatal(err)
		}
		row := rowOf(tables["models"], name)
		if len(row) != 12 {
			t.Fatalf("models table: row for %s is %q", name, row)
		}
		if want := fmt.Sprintf("%.1f", m.VolumeML()); row[7] != want {
			t.Errorf("%s volume %s mL, want %s", name, row[7], want)
		}
		if v, err := strconv.ParseFloat(row[10], 64); err != nil || v <= 0 {
			t.Errorf("%s postprocess %q, want a time in ms", name, row[10])
		}
		// The outline's provenance: refined from the scan (the default).
		if !strings.HasPrefix(row[5], inference.EdgeTag) {
			t.Errorf("%s edge column %q, want it to say the edge was refined from the scan", name, row[5])
		}
		if want := fmt.Sprintf("%.2f", thr); row[4] != want {
			t.Errorf("%s threshold %s, want %s", name, row[4], want)
		}
		if !regexp.MustCompile(`^[0-9a-f]{12}$`).MatchString(row[3]) && real {
			t.Errorf("%s sha %q", name, row[3])
		}
		d, err := metrics.Dice(m.Canonical(), u.seg.ref)
		if err != nil {
			t.Fatal(err)
		}
		ag := rowOf(tables["agreement"], name)
		if len(ag) != 6 || ag[1] != fmt.Sprintf("%.3f", d) {
			t.Errorf("agreement row for %s %q, want Dice %.3f", name, ag, d)
		}
		t.Logf("%s: %s mL, Dice %s, HD95 %s mm", name, row[6], ag[1], ag[3])
	}
	if r := rowOf(tables["software"], "LiverSeg"); len(r) != 2 || !strings.HasPrefix(r[1], "LiverSeg "+Version) {
		t.Errorf("software row %q", r)
	}
	// The picture: embedded, and the same as the PNG beside it.
	src := findImg(doc)
	const prefix = "data:image/png;base64,"
	if !strings.HasPrefix(src, prefix) {
		t.Fatalf("img src %.40q", src)
	}
	emb, err := base64.StdEncoding.DecodeString(src[len(prefix):])
	if err != nil {
		t.Fatal(err)
	}
	file, err := os.ReadFile(filepath.Join(out, "report.png"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(emb, file) {
		t.Error("the embedded picture differs from report.png")
	}
	img, err := png.Decode(bytes.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	checkThreeViews(t, u, img)
	if left := folderFiles(t, out); len(left) != 2 {
		t.Errorf("the report folder holds %q, want the HTML and the PNG only", left)
	}

	// Saving again asks first; keeping leaves both files as they were.
	u.ShowReport()
	u.rep.folder.SetText(out)
	u.rep.name.SetText("report")
	test.Tap(u.rep.saveBtn)
	if u.exp.confirm == nil {
		t.Fatal("no question before replacing the report")
	}
	test.Tap(u.exp.keepBtn)
	if err := waitFor(t, done, 2*time.Minute, "report"); err != errDeclined {
		t.Errorf("declined: %v", err)
	}
	if again, _ := os.ReadFile(filepath.Join(out, "report.html")); !bytes.Equal(again, raw) {
		t.Error("the report changed although the user kept it")
	}
}

// checkThreeViews checks that the picture is the three views side by side,
// each as large as on screen and not blank.
func checkThreeViews(t *testing.T, u *UI, img image.Image) {
	t.Helper()
	s := u.win.Canvas().Scale()
	w := 0
	for _, v := range u.views {
		w += int(v.Size().Width * s)
	}
	b := img.Bounds()
	if d := b.Dx() - w; d < 0 || d > 12 {
		t.Errorf("picture %d px wide, the three views are %d", b.Dx(), w)
	}
	x := 0
	for _, v := range u.views {
		vw := int(v.Size().Width * s)
		grey := map[uint32]bool{}
		for y := b.Min.Y; y < b.Max.Y; y += 7 {
			for i := x; i < x+vw; i += 7 {
				r, _, _, _ := img.At(i, y).RGBA()
				grey[r>>8] = true
			}
		}
		if len(grey) < 20 {
			t.Errorf("%s view in the picture has %d grey levels: blank?", v.Plane(), len(grey))
		}
		// The same pixels as the window shows (the test driver draws the
		// window with the same software painter), allowing for the crop
		// of the window being off by a few pixels (the test helper's crop
		// of the bottom row lands up to 8 px off).
		shot := viewPixels(u, v)
		vh := int(v.Size().Height * s)
		best, n := -1, 0
		for dy := -8; dy <= 8; dy++ {
			for dx := -8; dx <= 8; dx++ {
				diff := 0
				n = 0
				for y := 8; y < vh-8 && y < b.Dy()-8; y += 2 {
					for i := 8; i < vw-8; i += 2 {
						o := 4 * ((y+dy)*vw + i + dx)
						if o < 0 || o+3 >= len(shot) {
							continue
						}
						r, g, bb, _ := img.At(x+i, y).RGBA()
						n++
						if absInt(int(r>>8)-int(shot[o])) > 8 || absInt(int(g>>8)-int(shot[o+1])) > 8 || absInt(int(bb>>8)-int(shot[o+2])) > 8 {
							diff++
						}
					}
				}
				if best < 0 || diff < best {
					best = diff
				}
			}
		}
		if n == 0 || best > n/100 {
			t.Errorf("%s view %v: %d of %d pixels differ from the window", v.Plane(), v.Size(), best, n)
		}
		x += vw + 4
	}
}

func absInt(x int) int {
	if x < 0 {
		return -x
	}
	return x
}
