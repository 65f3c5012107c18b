package atomicfile

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// TestStaleTemporaries: a write removes the temporary files that earlier
// writers of the same target left when they were killed (no lock held),
// never those of a writer still at work (locked) nor those of other targets.
func TestStaleTemporaries(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("flock semantics checked on Linux")
	}
	tests := []struct {
		name    string
		file    string
		content string
		locked  bool // held by a live writer
		kept    bool
	}{
		{name: "killed writer", file: ".out.nii.gz.tmp-123", content: "partial", kept: false},
		{name: "live writer", file: ".out.nii.gz.tmp-456", content: "partial", locked: true, kept: true},
		{name: "just created, empty", file: ".out.nii.gz.tmp-789", kept: true},
		{name: "another target", file: ".other.nii.gz.tmp-123", content: "partial", kept: true},
		{name: "not a temporary", file: "out.nii.gz.tmp-123", content: "partial", kept: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			p := filepath.Join(dir, tc.file)
			if err := os.WriteFile(p, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			if tc.locked {
				f, err := os.Open(p)
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				lock(f)
			}
			target := filepath.Join(dir, "out.nii.gz")
			if err := Write(target, Options{}, func(w io.Writer) error { _, err := io.WriteString(w, "new"); return err }); err != nil {
				t.Fatal(err)
			}
			_, err := os.Stat(p)
			if kept := err == nil; kept != tc.kept {
				t.Errorf("%s kept = %v, want %v", tc.file, kept, tc.kept)
			}
		})
	}
}

// TestWriteCancelled: cancelling the context while fill is writing fails
// the write with the context's error and leaves nothing (no target, no
// temporary); an old target stays as it was.
func TestWriteCancelled(t *testing.T) {
	for _, existing := range []string{"", "old"} {
		dir := t.TempDir()
		path := filepath.Join(dir, "out.bin")
		if existing != "" {
			os.WriteFile(path, []byte(existing), 0o644)
		}
		ctx, cancel := context.WithCancel(context.Background())
		chunk := make([]byte, 1<<20)
		err := Write(path, Options{Context: ctx}, func(w io.Writer) error {
			for i := 0; i < 64; i++ {
				if i == 4 {
					cancel() // as Ctrl-C would, halfway through
				}
				if _, err := w.Write(chunk); err != nil {
					return err
				}
			}
			return nil
		})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
		ents, _ := os.ReadDir(dir)
		switch {
		case existing == "" && len(ents) != 0:
			t.Errorf("left behind: %v", ents)
		case existing != "":
			if b, _ := os.ReadFile(path); string(b) != existing || len(ents) != 1 {
				t.Errorf("old file %q, folder %v", b, ents)
			}
		}
	}
}

// TestRemovePending: what a process exiting at once (a second Ctrl-C)
// calls removes the temporary file of a write in progress.
func TestRemovePending(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "out.bin")
	err := Write(path, Options{}, func(w io.Writer) error {
		tmps, _ := filepath.Glob(filepath.Join(dir, ".out.bin.tmp-*"))
		if len(tmps) != 1 {
			t.Errorf("temporary files while writing: %v", tmps)
		}
		RemovePending()
		if tmps, _ := filepath.Glob(filepath.Join(dir, ".out.bin.tmp-*")); len(tmps) != 0 {
			t.Errorf("after RemovePending: %v", tmps)
		}
		return errors.New("the process would exit here")
	})
	if err == nil {
		t.Fatal("write succeeded")
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("left behind: %v", ents)
	}
}
