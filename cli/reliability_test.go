package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/liverseg/liverseg/dicomio"
	"github.com/liverseg/liverseg/internal/testsupport/dicomedit"
	"github.com/liverseg/liverseg/internal/testsupport/testct"
	"github.com/liverseg/liverseg/nifti"
	"github.com/liverseg/liverseg/volume"
)

// exitFailed is the status of a command that could not do what was asked
// (the literal, so that these tests also run against older code).
const exitFailed = 2

// editedSeries copies n slices of the abdominal CT (chaos_ct01, or the
// phantom) into a temporary folder, edits them with dcmodify and returns
// the folder and its files.
func editedSeries(t *testing.T, n int, edit ...string) (string, []string) {
	t.Helper()
	files := dicomedit.Copy(t, testct.Abdomen(t).DICOM, n)
	dicomedit.Modify(t, files, edit...)
	return filepath.Dir(files[0]), files
}

// noFiles fails when dir holds anything but the names in keep (a partial
// output, a temporary file).
func noFiles(t *testing.T, dir string, keep ...string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
outer:
	for _, e := range ents {
		for _, k := range keep {
			if e.Name() == k {
				continue outer
			}
		}
		t.Errorf("left in %s: %s", dir, e.Name())
	}
}

// TestInvalidPixelSpacingInCommands: an invalid PixelSpacing is refused by
// every command that loads the series (exit 2, the file and the value on
// stderr, nothing written); a stated fallback (ImagerPixelSpacing) is
// carried to every place a volume is printed: segment's output, eval's
// table and JSON, info's text and JSON.
func TestInvalidPixelSpacingInCommands(t *testing.T) {
	// 40 slices: the student needs a scan at least 75 mm long.
	bad, badFiles := editedSeries(t, 40, "-i", `(0028,0030)=NaN\NaN`)
	out := t.TempDir()
	for _, args := range [][]string{
		{"convert", bad, filepath.Join(out, "ct.nii.gz")},
		{"segment", "--model", "student", "--out", filepath.Join(out, "mask.nii.gz"), bad},
		{"info", bad},
	} {
		code, _, stderr := runCLI(args...)
		if code != exitFailed {
			t.Errorf("%s: exit %d, want %d", args[0], code, exitFailed)
		}
		for _, w := range []string{`PixelSpacing "NaN\NaN" is not finite`, filepath.Base(badFiles[0])} {
			if !strings.Contains(stderr, w) {
				t.Errorf("%s: stderr does not name %q:\n%s", args[0], w, stderr)
			}
		}
	}
	noFiles(t, out)

	fb, _ := editedSeries(t, 40, "-i", `(0028,0030)=NaN\NaN`, "-i", `(0018,1164)=0.8\0.8`)
	mask := filepath.Join(out, "mask.nii.gz")
	code, stdout, stderr := runCLI("segment", "--model", "student", "--out", mask, fb)
	if code != 0 {
		t.Fatalf("segment with ImagerPixelSpacing: exit %d: %s", code, stderr)
	}
	for _, w := range []string{"mL [ON ASSUMED GEOMETRY", "ImagerPixelSpacing 0.8 × 0.8 mm", `PixelSpacing "NaN\NaN" is not finite`} {
		if !strings.Contains(stdout, w) {
			t.Errorf("segment output lacks %q:\n%s", w, stdout)
		}
	}
	// The DICOM SEG carries the note (ImageComments), and stays valid.
	seg := filepath.Join(out, "seg.dcm")
	if code, _, stderr := runCLI("segment", "--model", "student", "--out", seg, fb); code != 0 {
		t.Fatalf("segment to SEG: exit %d: %s", code, stderr)
	}
	if b, _ := os.ReadFile(seg); !bytes.Contains(b, []byte("ON ASSUMED GEOMETRY: PixelSpacing")) {
		t.Error("the SEG does not say its geometry is assumed")
	}
	if bin, err := exec.LookPath("dciodvfy"); err == nil {
		b, _ := exec.Command(bin, "-new", seg).CombinedOutput()
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "Error") {
				t.Errorf("dciodvfy: %s", l)
			}
		}
	}
	code, stdout, stderr = runCLI("eval", "--json", "--model", "student", "--ref", mask, fb)
	var rep struct {
		GeometryAssumed []string `json:"geometry_assumed"`
	}
	if code != 0 || json.Unmarshal([]byte(stdout), &rep) != nil {
		t.Fatalf("eval: exit %d: %s\n%s", code, stderr, stdout)
	}
	if len(rep.GeometryAssumed) == 0 || !strings.Contains(rep.GeometryAssumed[0], "ImagerPixelSpacing") {
		t.Errorf("eval JSON geometry_assumed = %q", rep.GeometryAssumed)
	}
	code, stdout, _ = runCLI("info", "--json", fb)
	var info struct {
		Series []struct {
			Assumed []string `json:"geometry_assumed"`
		} `json:"series"`
	}
	if code != 0 || json.Unmarshal([]byte(stdout), &info) != nil || len(info.Series) != 1 || len(info.Series[0].Assumed) == 0 {
		t.Errorf("info --json: exit %d, %s", code, stdout)
	}
}

// TestExitCodes applies the rule of signals.go to every subcommand: 0
// when it did what was asked, 2 when it could not.
func TestExitCodes(t *testing.T) {
	good, _ := editedSeries(t, 16) // the tiny test network needs 28 mm
	// A file that claims 32000×32000 pixels: listed, but cannot load.
	huge, _ := editedSeries(t, 1, "-i", "(0028,0010)=32000", "-i", "(0028,0011)=32000")
	out := t.TempDir()
	existing := filepath.Join(out, "exists.nii.gz")
	os.WriteFile(existing, []byte("x"), 0o644)
	tests := []struct {
		args []string
		want int
	}{
		{[]string{"info", good}, 0},
		{[]string{"info", "--json", good}, 0},
		{[]string{"info", huge}, exitFailed},
		{[]string{"info", "--json", huge}, exitFailed},
		{[]string{"info", "--headers-only", huge}, 0}, // headers were asked for, and read
		{[]string{"info", filepath.Join(out, "missing")}, exitFailed},
		{[]string{"info", "--bogus", good}, exitFailed},
		{[]string{"convert", good, filepath.Join(out, "ok.nii.gz")}, 0},
		{[]string{"convert", huge, filepath.Join(out, "huge.nii.gz")}, exitFailed},
		{[]string{"convert", good, existing}, exitFailed},
		{[]string{"convert", good}, exitFailed},
		{[]string{"segment", "--models", tinyModels, "--model", "tiny", "--out", filepath.Join(out, "m.nii.gz"), good}, 0},
		{[]string{"segment", "--models", tinyModels, "--model", "tiny", "--out", filepath.Join(out, "h.nii.gz"), huge}, exitFailed},
		{[]string{"segment", "--models", tinyModels, "--model", "nosuch", "--out", filepath.Join(out, "n.nii.gz"), good}, exitFailed},
		{[]string{"eval", "--models", tinyModels, "--model", "tiny", "--ref", existing, good}, exitFailed},
		{[]string{"eval", "--models", tinyModels, "--model", "tiny", "--ref", filepath.Join(out, "m.nii.gz"), huge}, exitFailed},
		{[]string{"bench", "--models", filepath.Join(out, "nomodels"), good}, exitFailed},
		{[]string{"bench", "--models", tinyModels, "--runs", "1", huge}, exitFailed},
		{[]string{"phantom", "--out", out}, exitFailed},
		{[]string{"phantom"}, exitFailed},
		{[]string{"nosuchcommand"}, exitFailed},
	}
	for _, tc := range tests {
		code, _, stderr := runCLI(tc.args...)
		if code != tc.want {
			t.Errorf("liverseg %s: exit %d, want %d\n%s", strings.Join(tc.args, " "), code, tc.want, stderr)
		}
		if code != 0 && strings.TrimSpace(stderr) == "" {
			t.Errorf("liverseg %s: exit %d without a reason on stderr", strings.Join(tc.args, " "), code)
		}
	}
}

// TestSeriesChoice: with two series in a folder, convert says which it
// took and which it left, and --series (UID, unique prefix or number)
// takes another; an unknown one is an error listing the series.
func TestSeriesChoice(t *testing.T) {
	dir, _ := editedSeries(t, 6)
	other := dicomedit.Copy(t, testct.Abdomen(t).DICOM, 4)
	const uid = "1.2.826.0.1.3680043.9.7777.20"
	dicomedit.Modify(t, other, "-i", "(0020,000E)="+uid, "-i", "(0008,103E)=second series")
	for _, f := range other {
		b, _ := os.ReadFile(f)
		os.WriteFile(filepath.Join(dir, "b-"+filepath.Base(f)), b, 0o644)
	}
	cat, err := dicomio.Scan(context.Background(), []string{dir}, nil)
	if err != nil || len(cat.Series) != 2 {
		t.Fatalf("scan: %v, %d series", err, len(cat.Series))
	}
	first := cat.Series[0].Key
	out := t.TempDir()
	tests := []struct {
		name, sel string
		slices    int    // 0: refused
		stderr    string // must appear on stderr
	}{
		{"default, said", "", 6, "holds 2 series; using series 1 (the largest): " + first},
		{"UID", uid, 4, "using series 2 (chosen by --series " + uid + ")"},
		{"number", "2", 4, "not used: series 1: " + first},
		{"unique prefix", "1.2.826.0.1.3680043.9.7777", 4, "second series"},
		{"no match", "9.9.9", 0, "--series 9.9.9 matches none of the 2 series in " + dir},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dst := filepath.Join(out, strings.Repeat("x", i+1)+".nii.gz")
			args := []string{"convert", dir, dst}
			if tc.sel != "" {
				args = append(args, "--series", tc.sel)
			}
			code, _, stderr := runCLI(args...)
			if !strings.Contains(stderr, tc.stderr) {
				t.Errorf("stderr lacks %q:\n%s", tc.stderr, stderr)
			}
			if tc.slices == 0 {
				if code != exitFailed || !strings.Contains(stderr, uid) || !strings.Contains(stderr, first) {
					t.Errorf("exit %d; want %d and both series listed:\n%s", code, exitFailed, stderr)
				}
				return
			}
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			v, err := nifti.Read(dst)
			if err != nil || v.Size[2] != tc.slices {
				t.Errorf("wrote %v slices (%v), want %d", v.Size, err, tc.slices)
			}
		})
	}
}

// TestOutputCheckedFirst: an output that cannot be written is refused
// before the input is even opened (here the input does not exist: the
// error is about the output), and never inside the input.
func TestOutputCheckedFirst(t *testing.T) {
	in, files := editedSeries(t, 3)
	nii := filepath.Join(t.TempDir(), "ct.nii.gz")
	if code, _, e := runCLI("convert", in, nii); code != 0 {
		t.Fatal(e)
	}
	missing := filepath.Join(t.TempDir(), "no-such-study")
	ro := t.TempDir()
	folder := filepath.Join(ro, "folder.nii.gz")
	os.Mkdir(folder, 0o755)
	os.Chmod(ro, 0o555)
	defer os.Chmod(ro, 0o755)
	unwritable := filepath.Join(ro, "m.nii.gz")
	if os.Geteuid() == 0 && runtime.GOOS == "linux" {
		// root writes into any folder; /proc takes no new files from anyone.
		unwritable = "/proc/liverseg-test.nii.gz"
	}
	tests := []struct {
		name, in, out string
		force         bool
		want          string
	}{
		{"folder does not accept files", missing, unwritable, false, "does not accept new files"},
		{"folder does not exist", missing, filepath.Join(ro, "no", "m.nii.gz"), false, "does not exist"},
		{"output is a folder", missing, folder, false, "is a folder"},
		{"inside the input folder", in, filepath.Join(in, "m.nii.gz"), false, "inside the input folder " + in},
		{"inside a sub-folder of the input", filepath.Dir(in), filepath.Join(in, "m.nii.gz"), false, "inside the input folder"},
		{"beside a DICOM file input", files[0], filepath.Join(in, "m.nii.gz"), false, "inside the input folder"},
		{"the input file itself", nii, nii, true, "it is the input"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			watched := tc.in
			if st, err := os.Stat(watched); err != nil || !st.IsDir() {
				watched = filepath.Dir(watched)
			}
			before := dirListing(t, watched)
			for _, args := range [][]string{
				{"convert", tc.in, tc.out},
				{"segment", "--model", "student", "--out", tc.out, tc.in},
			} {
				if tc.force {
					args = append(args, "--force")
				}
				code, _, stderr := runCLI(args...)
				if code != exitFailed || !strings.Contains(stderr, tc.want) {
					t.Errorf("%s: exit %d, stderr %q; want %d and %q", args[0], code, stderr, exitFailed, tc.want)
				}
			}
			if after := dirListing(t, watched); after != before {
				t.Errorf("the input's folder changed:\n%s\n---\n%s", before, after)
			}
		})
	}
}

// buildBinary builds the real liverseg program into dir.
func buildBinary(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "liverseg")
	cmd := exec.Command("go", "build", "-o", bin, "..")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// bigSeries writes a DICOM series of about 400 slices (the CT repeated
// along z) into dir, so that writing it as NIfTI takes long enough to be
// interrupted.
func bigSeries(t *testing.T, dir string) string {
	t.Helper()
	v, _, err := openImage(context.Background(), testct.Abdomen(t).DICOM, nil)
	if err != nil {
		t.Fatal(err)
	}
	reps := (400 + v.Size[2] - 1) / v.Size[2]
	g := v.Geometry
	g.Size[2] *= reps
	big := volume.New(g)
	for r := 0; r < reps; r++ {
		copy(big.Voxels[r*len(v.Voxels):], v.Voxels)
	}
	big.Info = v.Info
	dst := filepath.Join(dir, "big-study")
	if err := dicomio.WriteSeries(dst, big, dicomio.SeriesOptions{}); err != nil {
		t.Fatal(err)
	}
	return dst
}

// startConvert starts the binary converting in to out (in its own process
// group, so that only it gets the signal) and waits until its temporary
// output file holds data: it is then writing.
func startConvert(t *testing.T, bin, in, out string) (*exec.Cmd, *bytes.Buffer) {
	t.Helper()
	var stderr bytes.Buffer
	cmd := exec.Command(bin, "convert", in, out)
	cmd.Stderr = &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		tmps, _ := filepath.Glob(filepath.Join(filepath.Dir(out), "."+filepath.Base(out)+".tmp-*"))
		for _, p := range tmps {
			if st, err := os.Stat(p); err == nil && st.Size() > 1<<20 {
				return cmd, &stderr
			}
		}
		time.Sleep(2 * time.Millisecond)
	}
	cmd.Process.Kill()
	cmd.Wait()
	t.Fatalf("no temporary output appeared: %s", stderr.String())
	return nil, nil
}

// TestInterruptedWrites runs the real binary on a ~400-slice series and
// signals it while it writes the NIfTI file: SIGINT, SIGTERM and SIGHUP
// stop it with 128+N, no output and no temporary file; SIGKILL cannot be
// caught and leaves the temporary file, which the next write of the same
// target removes.
func TestInterruptedWrites(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("signals and flock: Linux")
	}
	if testing.Short() {
		t.Skip("builds the program and a 400-slice series")
	}
	work := t.TempDir()
	bin := buildBinary(t, work)
	in := bigSeries(t, work)
	small, _ := editedSeries(t, 3)
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP} {
		t.Run(sig.String(), func(t *testing.T) {
			outDir := t.TempDir()
			out := filepath.Join(outDir, "big.nii.gz")
			cmd, stderr := startConvert(t, bin, in, out)
			cmd.Process.Signal(sig)
			err := cmd.Wait()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 128+int(sig) {
				t.Errorf("exit %v, want status %d; stderr:\n%s", err, 128+int(sig), stderr)
			}
			if !strings.Contains(stderr.String(), "interrupted by") {
				t.Errorf("stderr does not say it was interrupted:\n%s", stderr)
			}
			noFiles(t, outDir)
		})
	}
	t.Run("SIGINT while loading", func(t *testing.T) {
		outDir := t.TempDir()
		var stderr bytes.Buffer
		cmd := exec.Command(bin, "convert", in, filepath.Join(outDir, "big.nii.gz"))
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Loading: the process holds a file of the series open.
		fds := filepath.Join("/proc", strconv.Itoa(cmd.Process.Pid), "fd")
		deadline := time.Now().Add(time.Minute)
	wait:
		for time.Now().Before(deadline) {
			ents, _ := os.ReadDir(fds)
			for _, e := range ents {
				if l, err := os.Readlink(filepath.Join(fds, e.Name())); err == nil && strings.HasPrefix(l, in+"/") {
					break wait
				}
			}
			time.Sleep(time.Millisecond)
		}
		cmd.Process.Signal(syscall.SIGINT)
		err := cmd.Wait()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 130 {
			t.Errorf("exit %v, want status 130; stderr:\n%s", err, stderr.String())
		}
		noFiles(t, outDir)
	})
	t.Run("SIGINT while the network runs", func(t *testing.T) {
		outDir := t.TempDir()
		cmd := exec.Command(bin, "segment", "--model", "teacher", "--out", filepath.Join(outDir, "mask.nii.gz"), in)
		pipe, err := cmd.StderrPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		var lines []string
		sc := bufio.NewScanner(pipe)
		for sc.Scan() {
			lines = append(lines, sc.Text())
			if strings.Contains(sc.Text(), "running network") {
				cmd.Process.Signal(syscall.SIGINT)
				break
			}
		}
		rest, _ := io.ReadAll(pipe)
		err = cmd.Wait()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 130 {
			t.Errorf("exit %v, want status 130; stderr:\n%s\n%s", err, strings.Join(lines, "\n"), rest)
		}
		noFiles(t, outDir)
	})
	t.Run("SIGKILL, then the next run tidies up", func(t *testing.T) {
		outDir := t.TempDir()
		out := filepath.Join(outDir, "big.nii.gz")
		cmd, _ := startConvert(t, bin, in, out)
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		left, _ := filepath.Glob(filepath.Join(outDir, ".big.nii.gz.tmp-*"))
		if len(left) != 1 {
			t.Fatalf("after SIGKILL: %q (one temporary file expected: nothing can remove it)", left)
		}
		if b, err := exec.Command(bin, "convert", small, out).CombinedOutput(); err != nil {
			t.Fatalf("next run: %v\n%s", err, b)
		}
		noFiles(t, outDir, "big.nii.gz")
	})
}
