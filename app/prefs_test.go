package app

import (
	"math"
	"os"
	"path/filepath"
	"testing"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"

	"github.com/liverseg/liverseg/viewer"
	"github.com/liverseg/liverseg/volume"
)

// TestPreferencesRoundTrip changes every remembered setting through the
// controls of one window, then builds a new window on the same app (the
// same preferences store) and checks that each is applied.
func TestPreferencesRoundTrip(t *testing.T) {
	a := test.NewTempApp(t)
	small := func() *volume.Volume {
		v := volume.New(volume.Identity([3]int{32, 32, 16}, [3]float64{1, 1, 2}))
		for i := range v.Voxels {
			v.Voxels[i] = int16(i % 200)
		}
		return v
	}
	bone := -1
	for n, p := range viewer.Presets {
		if p.Name != "" && p.WL != viewer.DefaultWindow && bone < 0 {
			bone = n
		}
	}
	if bone < 0 {
		t.Fatal("no preset other than the default")
	}
	exportDir, openDir := t.TempDir(), t.TempDir()
	study := filepath.Join(openDir, "study")
	if err := os.Mkdir(study, 0o755); err != nil {
		t.Fatal(err)
	}

	u1 := New(a)
	u1.win.Resize(fyne.NewSize(1200, 800))
	if err := u1.ShowVolume(small()); err != nil {
		t.Fatal(err)
	}
	s := u1.seg
	s.color.SetSelected("Cyan")
	s.refColor.SetSelected("Magenta")
	test.Tap(s.fill) // off
	s.opacity.SetValue(0.6)
	u1.presets.SetSelected(windowOption(t, u1, viewer.Presets[bone].Name))
	if u1.scene.Window() != viewer.Presets[bone].WL {
		t.Fatalf("the preset was not applied in the first window")
	}
	u1.rememberOpenDir(study)
	u1.prefs().SetString(prefExportDir, exportDir) // what a successful export stores
	u1.ShowSettings()
	u1.settings.threads.SetSelectedIndex(1) // one thread
	test.Tap(u1.settings.apply)
	u1.win.Close()

	u2 := New(a)
	t.Cleanup(u2.win.Close)
	s2 := u2.seg
	if s2.color.Selected != "Cyan" || s2.refColor.Selected != "Magenta" {
		t.Errorf("colours %q / %q, want Cyan / Magenta", s2.color.Selected, s2.refColor.Selected)
	}
	if s2.fill.Checked || !s2.outline.Checked || math.Abs(s2.opacity.Value-0.6) > 1e-9 {
		t.Errorf("style fill %v outline %v opacity %v, want false true 0.6", s2.fill.Checked, s2.outline.Checked, s2.opacity.Value)
	}
	if st := u2.seg.predStyle(); st.Color != colorByName("Cyan") || st.Fill != 0 {
		t.Errorf("the overlay style %+v does not follow the remembered controls", st)
	}
	if err := u2.ShowVolume(small()); err != nil {
		t.Fatal(err)
	}
	if got := u2.scene.Window(); got != viewer.Presets[bone].WL {
		t.Errorf("first study opens at %v, want the remembered preset %s %v", got, viewer.Presets[bone].Name, viewer.Presets[bone].WL)
	}
	if u2.presets.Selected != windowOption(t, u2, viewer.Presets[bone].Name) {
		t.Errorf("preset shown %q", u2.presets.Selected)
	}
	if got := u2.prefs().String(prefOpenDir); got != openDir {
		t.Errorf("last opened folder %q, want %q (the study folder's parent)", got, openDir)
	}
	if got := u2.defaultExportFolder(); got != exportDir {
		t.Errorf("export dialogs start in %q, want %q", got, exportDir)
	}
	if u2.threads() != 1 {
		t.Errorf("threads %d, want 1", u2.threads())
	}
	u2.ShowSettings()
	if u2.settings.threads.Selected != "1" || u2.settings.color.Selected != "Cyan" {
		t.Errorf("settings dialog shows threads %q colour %q", u2.settings.threads.Selected, u2.settings.color.Selected)
	}
}

// TestExportFolderNeverTheInputByDefault: a remembered export folder
// inside the study's folder is not offered; the user must choose it.
func TestExportFolderNeverTheInputByDefault(t *testing.T) {
	u := newUI(t)
	dir := t.TempDir()
	v := volume.New(volume.Identity([3]int{8, 8, 8}, [3]float64{1, 1, 1}))
	v.Info.Source = dir
	if err := u.ShowVolume(v); err != nil {
		t.Fatal(err)
	}
	u.prefs().SetString(prefExportDir, filepath.Join(dir))
	if got := u.defaultExportFolder(); within(got, dir) {
		t.Errorf("default export folder %s is the study's input folder", got)
	}
}
