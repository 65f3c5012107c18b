package app

// Preferences that persist between runs, in LiverSeg's own settings file in
// Fyne's per-application folder (keyed by the app ID, so app.NewWithID in Run
// is what makes them persist; settingsfile.go): the folders last opened and
// exported to, the window/level preset, the overlay style and colours, and
// the inference thread count. They are read when the window is built and
// saved (the whole file replaced atomically) within prefstore.SaveDelay
// (0.2 s) of a change and at exit, so a crash loses at most that last
// fraction of a second.

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/storage"
	"fyne.io/fyne/v2/widget"

	"github.com/liverseg/liverseg/internal/buildinfo"
	"github.com/liverseg/liverseg/viewer"
)

// Version is LiverSeg's release version (internal/buildinfo).
const Version = buildinfo.Version

// SoftwareVersion is Version with the source revision the binary was built
// from, when Go recorded one ("0.1.0 (abc1234, modified)").
func SoftwareVersion() string { return buildinfo.Full() }

// Preference keys.
const (
	prefOpenDir   = "lastOpenFolder"
	prefExportDir = "lastExportFolder"
	prefPreset    = "windowPreset" // a viewer.Presets name or StudyLiverPreset
	prefColor     = "overlayColor"
	prefRefColor  = "referenceColor"
	prefFill      = "overlayFill"
	prefOutline   = "overlayOutline"
	prefOpacity   = "overlayOpacity"
	prefThreads   = "inferenceThreads" // 0: all cores
)

// settings is the store the preferences above live in: a prefstore file
// (written whole, atomically) in the real app, the test app's in-memory
// fyne.Preferences in tests.
type settings interface {
	String(key string) string
	SetString(key, value string)
	BoolWithFallback(key string, fallback bool) bool
	SetBool(key string, value bool)
	FloatWithFallback(key string, fallback float64) float64
	SetFloat(key string, value float64)
	Int(key string) int
	SetInt(key string, value int)
}

func (u *UI) prefs() settings {
	if u.settings.store != nil {
		return u.settings.store
	}
	return u.app.Preferences()
}

// loadPrefs sets the controls from the stored preferences (before any
// callback is bound, so nothing is written back).
func (u *UI) loadPrefs() {
	p, s := u.prefs(), u.seg
	if c := p.String(prefColor); validColor(c) {
		s.color.Selected = c
	}
	if c := p.String(prefRefColor); validColor(c) {
		s.refColor.Selected = c
	}
	s.fill.Checked = p.BoolWithFallback(prefFill, s.fill.Checked)
	s.outline.Checked = p.BoolWithFallback(prefOutline, s.outline.Checked)
	if o := p.FloatWithFallback(prefOpacity, s.opacity.Value); o >= 0 && o <= 1 {
		s.opacity.Value = o
	}
	s.color.Refresh()
	s.refColor.Refresh()
	s.fill.Refresh()
	s.outline.Refresh()
	s.opacity.Refresh()
}

// bindPrefs makes every persistent control save its value when changed,
// keeping what the control already did.
func (u *UI) bindPrefs() {
	p, s := u.prefs(), u.seg
	chain := func(prev func(string), save func(string)) func(string) {
		return func(v string) {
			if prev != nil {
				prev(v)
			}
			save(v)
		}
	}
	s.color.OnChanged = chain(s.color.OnChanged, func(v string) { p.SetString(prefColor, v) })
	s.refColor.OnChanged = chain(s.refColor.OnChanged, func(v string) { p.SetString(prefRefColor, v) })
	prevFill, prevOutline, prevOpacity := s.fill.OnChanged, s.outline.OnChanged, s.opacity.OnChanged
	s.fill.OnChanged = func(on bool) { prevFill(on); p.SetBool(prefFill, on) }
	s.outline.OnChanged = func(on bool) { prevOutline(on); p.SetBool(prefOutline, on) }
	s.opacity.OnChanged = func(v float64) { prevOpacity(v); p.SetFloat(prefOpacity, v) }
	u.presets.OnChanged = chain(u.presets.OnChanged, func(name string) {
		if u.settingPreset || u.scene == nil {
			return // the preset shown follows the W/L; only the user's choice is kept
		}
		if n := u.windowChoiceName(name); n != "" {
			p.SetString(prefPreset, n)
		}
	})
}

func validColor(name string) bool {
	for _, c := range overlayColors {
		if c.Name == name {
			return true
		}
	}
	return false
}

// initialWindow is the window/level for the first study of a run: the
// preset chosen last time, else the default.
func (u *UI) initialWindow() viewer.WindowLevel {
	return u.initialWindowFor(u.prefs().String(prefPreset))
}

// threads is the inference thread count to use (0: all cores).
func (u *UI) threads() int {
	n := u.prefs().Int(prefThreads)
	if n < 0 || n > 4*runtime.NumCPU() {
		return 0
	}
	return n
}

// rememberOpenDir keeps the folder a study was opened from, for the next
// open dialog: a study folder's parent (where its siblings are), a file's
// own folder.
func (u *UI) rememberOpenDir(path string) {
	st, err := os.Stat(path)
	if err != nil {
		return
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return
	}
	dir := filepath.Dir(abs)
	if st.IsDir() && dir == abs {
		dir = abs // the root has no parent
	}
	u.prefs().SetString(prefOpenDir, dir)
}

// startAt makes a file dialog open in dir when that folder exists.
func startAt(d *dialog.FileDialog, dir string) {
	// The list view by default (a user's own choice of view is kept): Fyne's
	// grid view drops the last extension from every name, so ct.nii.gz
	// showed as "ct.nii".
	d.SetView(dialog.ListView)
	if dir == "" {
		return
	}
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return
	}
	if l, err := storage.ListerForURI(storage.NewFileURI(dir)); err == nil {
		d.SetLocation(l)
	}
}

// settingsState holds the preferences store and the settings dialog's
// controls (nil while closed).
type settingsState struct {
	store    settings // nil: the Fyne app's preferences
	dlg      dialog.Dialog
	threads  *widget.Select
	color    *widget.Select
	refColor *widget.Select
	apply    *widget.Button
}

// threadChoices are the thread counts offered: automatic, then 1…cores.
func threadChoices() []string {
	out := []string{fmt.Sprintf("Automatic (all %d cores)", runtime.NumCPU())}
	for n := 1; n <= runtime.NumCPU(); n++ {
		out = append(out, strconv.Itoa(n))
	}
	return out
}

// ShowSettings opens the settings dialog: inference threads and the
// overlay colours (the other overlay controls are in the panel, and are
// remembered too).
func (u *UI) ShowSettings() {
	st, s := &u.settings, u.seg
	choices := threadChoices()
	st.threads = widget.NewSelect(choices, nil)
	if n := u.threads(); n > 0 && n < len(choices) {
		st.threads.SetSelectedIndex(n)
	} else {
		st.threads.SetSelectedIndex(0)
	}
	names := make([]string, len(overlayColors))
	for i, c := range overlayColors {
		names[i] = c.Name
	}
	st.color = widget.NewSelect(names, nil)
	st.color.SetSelected(s.color.Selected)
	st.refColor = widget.NewSelect(names, nil)
	st.refColor.SetSelected(s.refColor.Selected)
	note := widget.NewLabel("Fewer threads leave cores to other programs; a change applies to the next model run.")
	note.Wrapping = fyne.TextWrapWord
	st.apply = widget.NewButton("Apply", nil)
	cancel := widget.NewButton("Cancel", nil)
	form := widget.NewForm(
		widget.NewFormItem("Inference threads", st.threads),
		widget.NewFormItem("Segmentation colour", st.color),
		widget.NewFormItem("Reference colour", st.refColor),
	)
	d := u.formDialog("Settings", form, note, cancel, st.apply, fyne.NewSize(520, 260), func() { st.dlg = nil })
	st.dlg = d
	st.apply.OnTapped = func() {
		d.Hide()
		st.dlg = nil
		n := st.threads.SelectedIndex() // 0 = automatic, else the count
		if n < 0 {
			n = 0
		}
		changed := n != u.threads()
		u.prefs().SetInt(prefThreads, n)
		s.color.SetSelected(st.color.Selected) // applies and saves
		s.refColor.SetSelected(st.refColor.Selected)
		if changed && s.reg != nil {
			if s.running != "" {
				u.setStatus("Inference threads: the change applies when the running model is done and the models are reopened (next start).")
				return
			}
			dir := s.reg.Dir()
			if err := u.seg.UseModels(dir); err == nil {
				u.setStatus(fmt.Sprintf("Inference threads: %s.", st.threads.Selected))
			}
		}
	}
	d.Show()
}
