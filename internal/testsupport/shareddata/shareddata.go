// Package shareddata locates the real, third-party data set that lives
// beside the repository in ../shared/data. It is read at run time only and
// never copied into the repository.
package shareddata

import (
	"os"
	"path/filepath"
	"testing"
)

// Root returns the absolute path of the shared data folder, or "" when it is
// absent. LIVERSEG_SHARED_DATA overrides the default ../shared/data relative
// to the module root.
func Root() string {
	if d := os.Getenv("LIVERSEG_SHARED_DATA"); d != "" {
		if st, err := os.Stat(d); err == nil && st.IsDir() {
			return d
		}
		return ""
	}
	dir, err := os.Getwd()
	if err != nil {
		return ""
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			d := filepath.Join(filepath.Dir(dir), "shared", "data")
			if st, err := os.Stat(d); err == nil && st.IsDir() {
				return d
			}
			return ""
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}

// Path joins elem onto the shared data folder. When the folder (or the named
// file) is absent it skips the test with a message saying so; in CI the
// folder is present and the test runs.
func Path(tb testing.TB, elem ...string) string {
	tb.Helper()
	root := Root()
	if root == "" {
		tb.Skip("../shared/data is absent on this machine: skipping the test that needs the real data set")
	}
	p := filepath.Join(append([]string{root}, elem...)...)
	if _, err := os.Stat(p); err != nil {
		tb.Fatalf("shared data present but %s is missing: %v", p, err)
	}
	return p
}
