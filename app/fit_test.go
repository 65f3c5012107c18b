package app

import (
	"strings"
	"testing"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"

	"github.com/liverseg/liverseg/viewer"
)

func TestShortPath(t *testing.T) {
	long := "/home/anna/studies/2026/liver-resection-planning/patient-0042/exports/ct_student_liver.nii.gz"
	for _, c := range []struct {
		name, in string
		max      int
		want     string
	}{
		{"fits", "/tmp/a.nii.gz", 56, "/tmp/a.nii.gz"},
		{"long", long, 56, "/home/anna…/patient-0042/exports/ct_student_liver.nii.gz"},
		{"no room for the folder", long, 30, "…/ct_student_liver.nii.gz"},
	} {
		got := shortPath(c.in, c.max)
		if got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
		if n := len([]rune(got)); n > c.max && c.max >= len([]rune("…/ct_student_liver.nii.gz")) {
			t.Errorf("%s: %d characters, max %d", c.name, n, c.max)
		}
		if !strings.HasSuffix(got, "ct_student_liver.nii.gz") && c.name != "fits" {
			t.Errorf("%s: the file name is cut: %q", c.name, got)
		}
	}
}

// TestToolbarDoesNotMoveWithWindowLevel: the W/L read-out changes length
// while the window is dragged; the controls after it stay put.
func TestToolbarDoesNotMoveWithWindowLevel(t *testing.T) {
	u := newUI(t)
	if err := u.ShowVolume(synthetic()); err != nil {
		t.Fatal(err)
	}
	d := fyne.CurrentApp().Driver()
	var at []fyne.Position
	for _, wl := range []viewer.WindowLevel{{Width: 150, Level: 30}, {Width: 65536, Level: -32768}, {Width: 1, Level: 0}} {
		u.scene.SetWindow(wl)
		pump()
		test.LaidOutObjects(u.win.Content()) // lay the window out again
		u.win.Content().Refresh()
		if !strings.Contains(u.wlLabel.Text, "W") {
			t.Fatalf("W/L label %q", u.wlLabel.Text)
		}
		at = append(at, d.AbsolutePositionForObject(u.wlDrag))
	}
	for n := 1; n < len(at); n++ {
		if at[n] != at[0] {
			t.Errorf("W/L drag moved from %v to %v when the label changed length", at[0], at[n])
		}
	}
}
