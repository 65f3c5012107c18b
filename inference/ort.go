// Package inference runs LiverSeg's segmentation networks with ONNX Runtime
// on the CPU: it reads model cards, verifies and loads the .onnx files,
// resamples a CT volume into the network's input, runs it, and turns the
// liver probability back into a mask on the input's own grid.
//
// Memory is the design constraint: the only float map kept is the network's
// low-resolution probability map (a few MB). Full-resolution results are
// uint8 masks, produced by sampling that map voxel by voxel, so a threshold
// can be changed later without running the network again (Result.Threshold).
package inference

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"

	ort "github.com/yalue/onnxruntime_go"
)

// LibEnv is the environment variable that names the ONNX Runtime shared
// library explicitly.
const LibEnv = "LIVERSEG_ORT_LIB"

// libRel is where scripts/setup.sh puts the library, relative to the
// repository root (and, for an installed binary, to the executable).
var libRel = filepath.Join("third_party", "ort", "libonnxruntime.so.1")

// ErrRuntimeMissing is wrapped by the error returned when no ONNX Runtime
// library can be found.
var ErrRuntimeMissing = errors.New("ONNX Runtime library not found")

var (
	initOnce sync.Once
	initErr  error
	initLib  string
)

// LocateLibrary returns the path of the ONNX Runtime shared library, looked
// up in this order: $LIVERSEG_ORT_LIB (which must exist when set);
// libonnxruntime.so.1 beside the executable (the packaged app, see
// scripts/package.sh); third_party/ort/libonnxruntime.so.1 relative to the
// executable's folder or any folder above it, then relative to the module
// root above the working directory (go test, go run). The error says how to
// install it.
func LocateLibrary() (string, error) {
	if p := os.Getenv(LibEnv); p != "" {
		if st, err := os.Stat(p); err != nil || st.IsDir() {
			return "", fmt.Errorf("%w: %s=%q does not name a file; run `make setup` (scripts/setup.sh) to install it, or fix the variable", ErrRuntimeMissing, LibEnv, p)
		}
		return p, nil
	}
	exeDir := ""
	if exe, err := executable(); err == nil {
		exeDir = filepath.Dir(exe)
	}
	if p, ok := findLibrary(exeDir, searchRoots()); ok {
		return p, nil
	}
	return "", fmt.Errorf("%w (looked for %s beside the program and in the source tree, and $%s is not set); install it with `make setup` (runs scripts/setup.sh) or set %s to the library's path", ErrRuntimeMissing, libRel, LibEnv, LibEnv)
}

// findLibrary returns the first existing file of: the library beside the
// executable in exeDir (when not empty), then third_party/ort/ under each
// root. The copy beside the executable comes first so that an installed
// program uses its own library even when started from inside a source tree.
func findLibrary(exeDir string, roots []string) (string, bool) {
	var candidates []string
	if exeDir != "" {
		candidates = append(candidates, filepath.Join(exeDir, filepath.Base(libRel)))
	}
	for _, r := range roots {
		candidates = append(candidates, filepath.Join(r, libRel))
	}
	for _, p := range candidates {
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p, true
		}
	}
	return "", false
}

// executable is the running program's path with symlinks resolved, so that
// a program started through a link (PREFIX/bin/liverseg ->
// ../lib/liverseg/liverseg) finds the files installed beside its target.
func executable() (string, error) {
	exe, err := os.Executable()
	if err != nil {
		return "", err
	}
	if r, err := filepath.EvalSymlinks(exe); err == nil {
		exe = r
	}
	return exe, nil
}

// searchRoots lists the folders where installed files (the runtime
// library, the models) are looked for: the executable's folder and its
// ancestors (an installed or packaged app), then the module root above the
// working directory (go run, go test).
func searchRoots() []string {
	var roots []string
	if exe, err := executable(); err == nil {
		roots = append(roots, ancestors(filepath.Dir(exe))...)
	}
	if wd, err := os.Getwd(); err == nil {
		for _, d := range ancestors(wd) {
			if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
				roots = append(roots, d)
				break
			}
		}
	}
	return roots
}

// ancestors lists dir and every folder above it, nearest first, at most 8.
func ancestors(dir string) []string {
	var out []string
	for n := 0; n < 8; n++ {
		out = append(out, dir)
		p := filepath.Dir(dir)
		if p == dir {
			break
		}
		dir = p
	}
	return out
}

// InitRuntime loads the ONNX Runtime library and creates its environment.
// Only the first call does the work (the runtime can be initialised once per
// process); later calls return the same result. Thread counts are set per
// session (see RegistryOptions.Threads), not here.
func InitRuntime() error {
	initOnce.Do(func() {
		lib, err := LocateLibrary()
		if err != nil {
			initErr = err
			return
		}
		ort.SetSharedLibraryPath(lib)
		if err := ort.InitializeEnvironment(ort.WithLogLevelError()); err != nil {
			initErr = fmt.Errorf("loading ONNX Runtime from %s: %w (the library must be ONNX Runtime 1.24.x; `make setup` installs it)", lib, err)
			return
		}
		initLib = lib
	})
	return initErr
}

// RuntimeInfo describes the loaded runtime, for the About box and logs.
func RuntimeInfo() string {
	if InitRuntime() != nil {
		return "ONNX Runtime not loaded"
	}
	return fmt.Sprintf("ONNX Runtime %s (%s)", ort.GetVersion(), initLib)
}

// DefaultThreads is the intra-op thread count used when none is configured:
// every core, since a segmentation is the only heavy thing running.
func DefaultThreads() int { return runtime.NumCPU() }
