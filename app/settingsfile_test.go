package app

import (
	"bytes"
	"log"
	"math"
	"path/filepath"
	"testing"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"

	"github.com/liverseg/liverseg/internal/prefstore"
)

// TestSettingsFileRoundTrip: what one window sets through its controls is
// in the settings file after Flush (what Run does at exit), and a window
// of a later run, reading that file, applies it.
func TestSettingsFileRoundTrip(t *testing.T) {
	a := test.NewTempApp(t)
	path := filepath.Join(t.TempDir(), settingsFile)
	st1, err := prefstore.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	u1 := newWithSettings(a, st1)
	u1.seg.color.SetSelected("Cyan")
	u1.seg.opacity.SetValue(0.35)
	u1.rememberOpenDir(t.TempDir())
	if err := st1.Flush(); err != nil {
		t.Fatal(err)
	}
	u1.win.Close()
	if a.Preferences().String(prefColor) != "" {
		t.Error("the colour went to Fyne's preferences, not the settings file")
	}

	st2, err := prefstore.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	u2 := newWithSettings(a, st2)
	t.Cleanup(u2.win.Close)
	if u2.seg.color.Selected != "Cyan" || math.Abs(u2.seg.opacity.Value-0.35) > 1e-9 || u2.prefs().String(prefOpenDir) == "" {
		t.Errorf("next run: colour %q, opacity %v, open folder %q", u2.seg.color.Selected, u2.seg.opacity.Value, u2.prefs().String(prefOpenDir))
	}
}

// TestSettingsMigrateFromFynePreferences: an earlier LiverSeg's settings in
// Fyne's preferences are carried over; unset ones stay unset.
func TestSettingsMigrateFromFynePreferences(t *testing.T) {
	a := test.NewTempApp(t)
	p := a.Preferences()
	p.SetString(prefColor, "Magenta")
	p.SetBool(prefFill, false)
	p.SetFloat(prefOpacity, 0.5)
	p.SetInt(prefThreads, 2)
	st, err := prefstore.Open(filepath.Join(t.TempDir(), settingsFile))
	if err != nil {
		t.Fatal(err)
	}
	migrateSettings(p, st)
	for _, c := range []struct {
		name      string
		got, want any
	}{
		{"colour", st.String(prefColor), "Magenta"},
		{"fill", st.BoolWithFallback(prefFill, true), false},
		{"outline (unset)", st.BoolWithFallback(prefOutline, true), true},
		{"opacity", st.FloatWithFallback(prefOpacity, 0), 0.5},
		{"threads", st.Int(prefThreads), 2},
		{"export folder (unset)", st.String(prefExportDir), ""},
	} {
		if c.got != c.want {
			t.Errorf("%s: %v, want %v", c.name, c.got, c.want)
		}
	}
}

// TestQuietFyneLog drops the two harmless Fyne messages with their Cause
// and At lines and keeps every other line.
func TestQuietFyneLog(t *testing.T) {
	var out bytes.Buffer
	l := log.New(&fyneLogFilter{w: &out}, "", 0)
	fyne := func(reason, cause string) {
		l.Println("Fyne error: ", reason)
		l.Println("  Cause:", cause)
		l.Printf("  At: %s:%d", "file.go", 12)
	}
	fyne("Getting favorite locations", "this computer does not define a VIDEOS folder")
	l.Println("liverseg: kept 1")
	fyne("Preferences load error:", "EOF")
	fyne("Failed to open window", "no GLX")
	l.Println("liverseg: kept 2")
	want := "Fyne error:  Failed to open window\n  Cause: no GLX\n  At: file.go:12\nliverseg: kept 2\n"
	if got := out.String(); got != "liverseg: kept 1\n"+want {
		t.Errorf("filtered log:\n%s\nwant:\n%s", got, "liverseg: kept 1\n"+want)
	}
}

// fyne.Preferences meets settings: tests keep using the test app's store.
var _ settings = (fyne.Preferences)(nil)
