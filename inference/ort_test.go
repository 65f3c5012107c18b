package inference

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/liverseg/liverseg/volume"
)

func TestLocateLibraryEnvMissingFile(t *testing.T) {
	t.Setenv(LibEnv, filepath.Join(t.TempDir(), "nope.so"))
	_, err := LocateLibrary()
	if !errors.Is(err, ErrRuntimeMissing) || !strings.Contains(err.Error(), "make setup") {
		t.Fatalf("err = %v, want ErrRuntimeMissing with the set-up instruction", err)
	}
}

func TestLocateLibraryFindsModuleCopy(t *testing.T) {
	t.Setenv(LibEnv, "")
	p, err := LocateLibrary()
	if err != nil {
		t.Fatalf("the library installed by make setup was not found: %v", err)
	}
	want := filepath.Join(moduleRoot(t), libRel)
	if p != want {
		t.Errorf("found %s, want %s", p, want)
	}
}

// TestFindLibraryOrder lays out a packaged app (library beside the
// executable) and a source tree (third_party/ort under a root) and checks
// which copy wins: the packaged app's own, even when a source tree is also
// among the roots.
func TestFindLibraryOrder(t *testing.T) {
	dir := t.TempDir()
	app := filepath.Join(dir, "prefix", "lib", "liverseg")
	tree := filepath.Join(dir, "src")
	empty := filepath.Join(dir, "empty")
	for _, f := range []string{filepath.Join(app, filepath.Base(libRel)), filepath.Join(tree, libRel)} {
		if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(f, []byte("lib"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(filepath.Join(empty, "third_party", "ort", filepath.Base(libRel)), 0o755); err != nil {
		t.Fatal(err) // a folder named like the library is not the library
	}
	for _, tc := range []struct {
		name   string
		exeDir string
		roots  []string
		want   string // "" = not found
	}{
		{"packaged app started inside a source tree", app, []string{app, tree}, filepath.Join(app, filepath.Base(libRel))},
		{"source build", filepath.Join(tree, "bin"), []string{filepath.Join(tree, "bin"), tree}, filepath.Join(tree, libRel)},
		{"unknown executable folder", "", []string{tree}, filepath.Join(tree, libRel)},
		{"folder named like the library skipped", empty, []string{empty, tree}, filepath.Join(tree, libRel)},
		{"nowhere", empty, []string{empty}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := findLibrary(tc.exeDir, tc.roots)
			if ok != (tc.want != "") || got != tc.want {
				t.Errorf("findLibrary = %q, %v; want %q", got, ok, tc.want)
			}
		})
	}
}

// TestMissingRuntimeError runs a segmentation in a child process whose
// LIVERSEG_ORT_LIB names no file: the runtime can be initialised only once
// per process, so this is the only honest way to see the user's error.
func TestMissingRuntimeError(t *testing.T) {
	if os.Getenv("LIVERSEG_CHILD_MISSING_RUNTIME") == "1" {
		r, err := OpenRegistry("testdata", RegistryOptions{})
		if err != nil {
			t.Fatal(err)
		}
		v := volume.New(volume.Identity([3]int{40, 40, 40}, [3]float64{2, 2, 2}))
		_, err = r.Run(context.Background(), v, "tiny", r.cards[0].DefaultOptions())
		if err == nil {
			t.Fatal("segmented without a runtime")
		}
		os.Stdout.WriteString("CHILD-ERROR: " + err.Error() + "\n")
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestMissingRuntimeError$", "-test.v")
	cmd.Env = append(os.Environ(), "LIVERSEG_CHILD_MISSING_RUNTIME=1", LibEnv+"=/nonexistent/libonnxruntime.so.1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child failed: %v\n%s", err, out)
	}
	s := string(out)
	if i := strings.Index(s, "CHILD-ERROR"); i >= 0 {
		t.Logf("child: %s", strings.SplitN(s[i:], "\n", 2)[0])
	}
	if !strings.Contains(s, "CHILD-ERROR: ONNX Runtime library not found") || !strings.Contains(s, "make setup") {
		t.Fatalf("child's error does not say what is missing and how to install it:\n%s", s)
	}
}

func TestRuntimeInfo(t *testing.T) {
	requireRuntime(t)
	if s := RuntimeInfo(); !strings.Contains(s, "1.24") {
		t.Errorf("RuntimeInfo() = %q, want ONNX Runtime 1.24.x", s)
	}
}

// TestTinyMatchesTorch feeds the seeded input of make_tiny.py through ONNX
// Runtime and compares with torch's output.
func TestTinyMatchesTorch(t *testing.T) {
	r := openTiny(t)
	m, _ := r.model("tiny")
	sess, err := r.session(m)
	if err != nil {
		t.Fatal(err)
	}
	in := &NetInput{Data: readRaw[float32](t, "testdata/tiny_io_input.f32"), Padded: [3]int{16, 12, 8}}
	want := readRaw[float32](t, "testdata/tiny_io_output.f32")
	got, err := runLogits(context.Background(), sess, m.card, in)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("%d outputs, want %d", len(got), len(want))
	}
	d, at := maxAbsDiff(got, want)
	if rel := d / maxAbs(want); rel > 1e-5 {
		t.Fatalf("ORT vs torch: max abs diff %g at %d (relative %g)", d, at, rel)
	}
}

func TestRunCancelledDuringInference(t *testing.T) {
	r := openTiny(t)
	m, _ := r.model("tiny")
	sess, err := r.session(m)
	if err != nil {
		t.Fatal(err)
	}
	// Large enough to take a good fraction of a second on two cores.
	n := 160
	in := &NetInput{Data: make([]float32, n*n*n), Padded: [3]int{n, n, n}}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = runLogits(ctx, sess, m.card, in)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want the context's deadline error", err)
	}
	t.Logf("cancelled run returned after %v", time.Since(start))
}
