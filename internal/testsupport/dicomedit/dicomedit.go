// Package dicomedit builds edited copies of real DICOM series for tests:
// a few slices of a real CT are copied into a temporary folder and their
// attributes changed with dcmtk's dcmodify (a real, independent DICOM
// writer), so that a test reads a file exactly as a scanner with that
// fault would have written it.
package dicomedit

import (
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"testing"
)

// Copy copies the first n files (by name) of the DICOM folder src into a
// new temporary folder and returns their paths there, in order.
func Copy(tb testing.TB, src string, n int) []string {
	tb.Helper()
	ents, err := os.ReadDir(src)
	if err != nil {
		tb.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		if e.Type().IsRegular() {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	if len(names) < n {
		tb.Fatalf("%s holds %d files, %d needed", src, len(names), n)
	}
	dir := tb.TempDir()
	out := make([]string, n)
	for i, name := range names[:n] {
		b, err := os.ReadFile(filepath.Join(src, name))
		if err != nil {
			tb.Fatal(err)
		}
		out[i] = filepath.Join(dir, name)
		if err := os.WriteFile(out[i], b, 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	return out
}

// Modify runs dcmodify with args (e.g. "-m", `(0028,0030)=NaN\NaN`, "-e",
// "(0018,0050)", "-i", `(0018,1164)=0.8\0.8`) on files, in place. The
// test is skipped when dcmtk is not installed (scripts/setup.sh installs
// it).
func Modify(tb testing.TB, files []string, args ...string) {
	tb.Helper()
	if len(files) == 0 || len(args) == 0 {
		return
	}
	bin, err := exec.LookPath("dcmodify")
	if err != nil {
		tb.Skip("dcmodify (dcmtk) is not installed: cannot build the edited DICOM files")
	}
	// -nb: no backup copies; -imt: insert the tag if it is missing, for -m.
	cmd := append([]string{"-nb", "-imt"}, args...)
	out, err := exec.Command(bin, append(cmd, files...)...).CombinedOutput()
	if err != nil {
		tb.Fatalf("dcmodify %v: %v\n%s", args, err, out)
	}
}
