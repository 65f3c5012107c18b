package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/liverseg/liverseg/nifti"
	"github.com/liverseg/liverseg/phantom"
)

func TestPhantomCommand(t *testing.T) {
	out := filepath.Join(t.TempDir(), "demo")
	var so, se bytes.Buffer
	if code := Run([]string{"phantom", "--seed", "3", "--out", out}, &so, &se); code != 0 {
		t.Fatalf("exit %d, stderr %q", code, se.String())
	}
	if !strings.Contains(so.String(), "wrote "+out) || !strings.Contains(so.String(), "liver") {
		t.Errorf("stdout %q", so.String())
	}
	files, _ := filepath.Glob(filepath.Join(out, phantom.DICOMDir, "*.dcm"))
	if len(files) != phantom.DefaultSize[2] {
		t.Errorf("%d DICOM files, want %d", len(files), phantom.DefaultSize[2])
	}
	m, err := nifti.ReadMask(filepath.Join(out, phantom.LiverMaskFile))
	if err != nil {
		t.Fatal(err)
	}
	if v := m.VolumeML(); v < 1200 || v > 1800 {
		t.Errorf("liver mask %.0f mL", v)
	}
}

func TestPhantomCommandErrors(t *testing.T) {
	busy := t.TempDir()
	if err := os.WriteFile(filepath.Join(busy, "keep.txt"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no out", []string{"phantom"}, "--out DIR is required"},
		{"bad seed", []string{"phantom", "--seed", "-4", "--out", filepath.Join(t.TempDir(), "x")}, "usage: liverseg phantom"},
		{"extra arg", []string{"phantom", "--out", filepath.Join(t.TempDir(), "x"), "more"}, "unexpected argument"},
		{"busy folder", []string{"phantom", "--out", busy}, "not empty"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var so, se bytes.Buffer
			if code := Run(tc.args, &so, &se); code != 2 {
				t.Fatalf("exit %d, want 2", code)
			}
			if !strings.Contains(se.String(), tc.want) {
				t.Errorf("stderr %q, want it to mention %q", se.String(), tc.want)
			}
		})
	}
	ents, _ := os.ReadDir(busy)
	if len(ents) != 1 {
		t.Errorf("busy folder now holds %d entries", len(ents))
	}
}
