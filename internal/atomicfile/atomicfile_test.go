package atomicfile

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

func TestWrite(t *testing.T) {
	boom := errors.New("boom")
	tests := []struct {
		name     string
		existing string // content already there ("" = no file)
		opts     Options
		fill     error // error returned by fill after writing
		wantErr  error
		want     string // content afterwards
	}{
		{name: "new file", want: "new"},
		{name: "replace", existing: "old", want: "new"},
		{name: "no overwrite, absent", opts: Options{NoOverwrite: true}, want: "new"},
		{name: "no overwrite, present", existing: "old", opts: Options{NoOverwrite: true}, wantErr: fs.ErrExist, want: "old"},
		{name: "fill fails, absent", fill: boom, wantErr: boom},
		{name: "fill fails, present", existing: "old", fill: boom, wantErr: boom, want: "old"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "out.bin")
			if tc.existing != "" {
				if err := os.WriteFile(path, []byte(tc.existing), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			err := Write(path, tc.opts, func(w io.Writer) error {
				if _, err := io.WriteString(w, "new"); err != nil {
					return err
				}
				return tc.fill
			})
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil) != (err == nil) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			got, rerr := os.ReadFile(path)
			switch {
			case tc.want == "" && !errors.Is(rerr, fs.ErrNotExist):
				t.Errorf("file exists after a failed write: %q, %v", got, rerr)
			case tc.want != "" && string(got) != tc.want:
				t.Errorf("content %q, want %q", got, tc.want)
			}
			// Nothing else is left in the folder: no temporary files.
			ents, _ := os.ReadDir(dir)
			for _, e := range ents {
				if e.Name() != "out.bin" {
					t.Errorf("left behind: %s", e.Name())
				}
			}
			if tc.want != "" && tc.wantErr == nil {
				st, _ := os.Stat(path)
				if st.Mode().Perm() != 0o644 {
					t.Errorf("mode %v, want 0644", st.Mode().Perm())
				}
			}
		})
	}
}

func TestWriteMissingFolder(t *testing.T) {
	path := filepath.Join(t.TempDir(), "no", "such", "out.bin")
	err := Write(path, Options{}, func(w io.Writer) error { return nil })
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("err = %v, want a not-exist error", err)
	}
}
