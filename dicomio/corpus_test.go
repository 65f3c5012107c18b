package dicomio

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/liverseg/liverseg/internal/testsupport/shareddata"
)

// corpusRoots are the real-data folders every file of which must either
// load or be skipped with a one-line reason.
var corpusRoots = [][]string{{"dicom"}, {"cases"}}

// TestCorpusTable scans every file under ../shared/data/dicom and
// ../shared/data/cases, loads every series found, and checks that each file
// ends up either in a loaded volume or with a one-line reason, within a time
// bound per file; it also decodes the pixels of every greyscale image file
// on its own. With -v it prints the transfer syntax table for the README:
//
//	go test ./dicomio/ -run TestCorpusTable -v
func TestCorpusTable(t *testing.T) {
	type row struct{ files, grey, decoded, alone, loaded, notImage, failed int }
	table := map[string]*row{}
	var failures []string
	for _, r := range corpusRoots {
		root := shareddata.Path(t, r...)
		var all []string
		err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
			if err == nil && d.Type().IsRegular() {
				all = append(all, p)
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		tsOf := map[string]string{}
		grey := map[string]bool{}
		decoded := map[string]bool{}
		alone := map[string]bool{}
		for _, f := range all {
			start := time.Now()
			fi, err := readHeader(f)
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("%s: header took %v", f, d)
			}
			// Every greyscale image file's pixels, whether or not it can
			// be a slice of a volume (radiographs, secondary captures).
			if err == nil && fi.notPixels() == "" {
				grey[f] = true
				start = time.Now()
				if _, _, derr := rawFrames(f); derr == nil {
					decoded[f] = true
				} else if testing.Verbose() {
					t.Logf("decode   %s: %v", strings.TrimPrefix(f, root+"/"), derr)
				}
				if d := time.Since(start); d > 10*time.Second {
					t.Errorf("%s: decoding took %v", f, d)
				}
				// And as a volume of its own (the whole-tree scan
				// below drops copies of one image in several syntaxes
				// as duplicates).
				if v, _, lerr := LoadPath(context.Background(), f, nil); lerr == nil && v.Size[2] >= 1 {
					alone[f] = true
				}
			}
			switch {
			case err != nil:
				tsOf[f] = "(not DICOM or unreadable)"
			case fi.lay.ts == "":
				tsOf[f] = "(none: inferred)"
			default:
				tsOf[f] = fi.lay.ts
			}
		}
		cat, err := Scan(context.Background(), []string{root}, nil)
		if err != nil {
			t.Fatal(err)
		}
		status := map[string]string{}
		reason := map[string]string{}
		for _, sk := range cat.Skipped {
			if sk.Reason == "" || strings.ContainsAny(sk.Reason, "\n\r") {
				t.Errorf("%s: reason %q is not one line", sk.Path, sk.Reason)
			}
			if status[sk.Path] == "" {
				status[sk.Path] = "skipped"
				reason[sk.Path] = sk.Reason
			}
		}
		for _, s := range cat.Series {
			start := time.Now()
			v, err := Load(context.Background(), s, nil)
			if d := time.Since(start); d > time.Duration(len(s.Files))*2*time.Second+5*time.Second {
				t.Errorf("%s took %v", s.Summary(), d)
			}
			for _, f := range s.Files {
				switch {
				case err != nil:
					status[f] = "failed"
					reason[f] = err.Error()
				case status[f] != "failed":
					status[f] = "loaded"
				}
			}
			if err != nil {
				failures = append(failures, fmt.Sprintf("%s: %v", s.Summary(), err))
				continue
			}
			if v.Size[2] < 1 || len(v.Voxels) != v.Size[0]*v.Size[1]*v.Size[2] {
				t.Errorf("%s: volume %v with %d voxels", s.Summary(), v.Size, len(v.Voxels))
			}
		}
		for _, f := range all {
			ts := tsOf[f]
			if table[ts] == nil {
				table[ts] = &row{}
			}
			rw := table[ts]
			rw.files++
			if grey[f] {
				rw.grey++
			}
			if decoded[f] {
				rw.decoded++
			}
			if alone[f] {
				rw.alone++
			}
			switch status[f] {
			case "loaded":
				rw.loaded++
			case "skipped":
				rw.notImage++
			case "failed":
				rw.failed++
			default:
				t.Errorf("%s is neither loaded nor skipped with a reason", f)
			}
			if testing.Verbose() && status[f] != "loaded" {
				t.Logf("%-8s %s: %s", status[f], strings.TrimPrefix(f, root+"/"), reason[f])
			}
		}
	}
	for _, f := range failures {
		t.Errorf("series failed to load: %s", f)
	}
	var keys []string
	for k := range table {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	fmt.Fprintf(&b, "\n| transfer syntax | UID | supported | corpus files | greyscale images | pixels decode | load alone as a volume | in a loaded volume (whole-tree scan) | skipped in that scan, with a reason | failed |\n|---|---|---|---|---|---|---|---|---|---|\n")
	for _, k := range keys {
		r := table[k]
		sup := "yes"
		name := TransferSyntaxName(k)
		if strings.HasPrefix(k, "(") {
			sup, name = "", k
		} else if !tsSupported(k) {
			sup = "no"
		}
		uid := k
		if strings.HasPrefix(k, "(") {
			uid = ""
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %d | %d | %d | %d | %d | %d | %d |\n", name, uid, sup, r.files, r.grey, r.decoded, r.alone, r.loaded, r.notImage, r.failed)
	}
	t.Log(b.String())
}
