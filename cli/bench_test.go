package cli

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/liverseg/liverseg/internal/gctune"
	"github.com/liverseg/liverseg/internal/testsupport/testct"
)

// benchModels is the shipped models folder once the student exists, else
// inference's tiny test network.
func benchModels(t *testing.T) (string, bool) {
	if _, err := os.Stat(filepath.Join("..", "models", "student.json")); err == nil {
		return filepath.Join("..", "models"), true
	}
	return tinyModels, false
}

// TestBenchJSON runs the bench on the real CHAOS series (or the synthetic
// phantom where ../shared/data is absent; one run per stage) and checks
// that every figure is there and plausible.
func TestBenchJSON(t *testing.T) {
	study := testct.Abdomen(t)
	in := study.DICOM
	models, real := benchModels(t)
	// As after another command in this process (the command line's GOGC).
	defer debug.SetGCPercent(debug.SetGCPercent(gctune.Percent))
	code, stdout, stderr := runCLI("bench", "--json", "--runs", "1", "--models", models, in)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var r benchReport
	if err := json.Unmarshal([]byte(stdout), &r); err != nil {
		t.Fatalf("%v in %q", err, stdout)
	}
	if r.Grid != study.Size || r.LoadMS <= 0 || r.Runs != 1 {
		t.Errorf("grid %v, load %v ms, runs %d", r.Grid, r.LoadMS, r.Runs)
	}
	if len(r.Models) == 0 {
		t.Fatal("no models timed")
	}
	// Measured as the window runs (Go's default collector), also after a
	// command in this process set the command line's GOGC 25.
	if want := gctune.WindowPercent; os.Getenv("GOGC") == "" && r.GOGC != want {
		t.Errorf("bench ran under GOGC %d, want the window's %d", r.GOGC, want)
	}
	for _, m := range r.Models {
		if m.Error != "" || m.InferMS <= 0 || m.TotalMS < m.InferMS || m.OverlayMS <= 0 || !(m.VolumeML > 0) {
			t.Errorf("%s: %+v", m.Name, m)
		}
	}
	if r.Overlay == nil || r.Overlay.ThresholdStepMS <= 0 || r.Overlay.SeriesToOverlayMS <= 0 {
		t.Errorf("overlay figures %+v", r.Overlay)
	}
	if r.Memory.PeakRSSMB <= 0 || r.Memory.GoHeapPeakMB <= 0 {
		t.Errorf("memory %+v", r.Memory)
	}
	if real {
		if r.Ratios == nil || !(r.Ratios.StudentVsPaperGPU > 0) || math.IsNaN(r.Ratios.StudentVsPaperGPU) {
			t.Errorf("ratios %+v", r.Ratios)
		}
	}
	// The text form names every stage.
	code, stdout, _ = runCLI("bench", "--runs", "1", "--models", models, in)
	for _, w := range []string{"load study", "network", "postproc", "overlay", "peak memory", "series loaded"} {
		if code != 0 || !strings.Contains(stdout, w) {
			t.Errorf("text report lacks %q:\n%s", w, stdout)
		}
	}
}

func TestBenchUsage(t *testing.T) {
	for _, args := range [][]string{{"bench"}, {"bench", "--runs", "0", "x"}, {"bench", "a", "b"}} {
		if code, _, stderr := runCLI(args...); code != 2 || !strings.Contains(stderr, "usage") {
			t.Errorf("%v: exit %d, %q", args, code, stderr)
		}
	}
	if code, _, stderr := runCLI("bench", "--models", tinyModels, filepath.Join(t.TempDir(), "missing")); code != 2 || !strings.Contains(stderr, "missing") {
		t.Errorf("missing input: exit %d, %q", code, stderr)
	}
}
