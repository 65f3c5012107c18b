package app

// The window/level choices of the toolbar. Besides the fixed presets of
// viewer.Presets there is a liver window taken from the study itself: a
// fixed liver preset (W150/L30) fits only an unenhanced liver and turns a
// contrast-enhanced one white (portal-venous liver reads 100–160 HU), so
// the liver window's level is the median CT value inside the shown
// segmentation's liver mask, measured when the mask is built, with the
// narrow liver width (viewer.LiverWidth). Chosen before the mask exists,
// it is applied as soon as the segmentation is done; it follows the reader
// to the next study (measured again there) until another window is chosen
// or the window is dragged.

import (
	"fmt"

	"github.com/liverseg/liverseg/viewer"
)

// StudyLiverPreset is the name of the liver window taken from the study
// (kept in the preferences like a preset name; "Liver" was the fixed
// W150/L30 preset of earlier versions, which this replaces).
const StudyLiverPreset = "Liver"

// wlState is the liver window's state.
type wlState struct {
	stats *viewer.LiverStats // of the shown segmentation; nil until measured
	from  string             // the model whose mask it was measured on
	// wanted: the reader chose the study's liver window, which is applied
	// (again) whenever the liver is measured; applied is the window it set
	// last, or the window when it was chosen before any measurement, so
	// that any other window change (a preset, a drag) cancels it.
	wanted  bool
	applied *viewer.WindowLevel
}

// windowChoice is one entry of the window list.
type windowChoice struct {
	name, label string
	wl          viewer.WindowLevel
	known       bool // false: the study's liver window before it is measured
}

// windowChoices are the entries of the window list, in order: abdomen,
// the study's liver window, then the other presets.
func (u *UI) windowChoices() []windowChoice {
	out := make([]windowChoice, 0, len(viewer.Presets)+1)
	for n, p := range viewer.Presets {
		out = append(out, windowChoice{name: p.Name, label: fmt.Sprintf("%s (%s)", p.Name, p.WL), wl: p.WL, known: true})
		if n == 0 {
			out = append(out, u.studyLiverChoice())
		}
	}
	return out
}

func (u *UI) studyLiverChoice() windowChoice {
	c := windowChoice{name: StudyLiverPreset, label: "Liver, this study (after segmentation)"}
	if st := u.wl.stats; st != nil {
		c.wl, c.known = viewer.StudyLiverWindow(st.Median), true
		c.label = fmt.Sprintf("Liver, this study (%s)", c.wl)
	}
	return c
}

// windowLabels are the window list's texts.
func (u *UI) windowLabels() []string {
	cs := u.windowChoices()
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.label
	}
	return out
}

// windowChoiceNamed is the entry with this preference name (the fixed
// W150/L30 preset was called "Liver" before it became "Liver, unenhanced":
// that name now means the study's liver window).
func (u *UI) windowChoiceNamed(name string) (windowChoice, bool) {
	for _, c := range u.windowChoices() {
		if c.name == name {
			return c, true
		}
	}
	return windowChoice{}, false
}

// windowChoiceName is the preference name of a list entry ("" for none).
func (u *UI) windowChoiceName(label string) string {
	for _, c := range u.windowChoices() {
		if c.label == label {
			return c.name
		}
	}
	return ""
}

// chooseWindow applies the list entry the reader picked.
func (u *UI) chooseWindow(label string) {
	if u.settingPreset || u.scene == nil {
		return
	}
	for _, c := range u.windowChoices() {
		if c.label != label {
			continue
		}
		if c.name != StudyLiverPreset {
			u.wl.wanted = false
			u.scene.SetWindow(c.wl)
			return
		}
		u.wl.wanted = true
		if !c.known {
			cur := u.scene.Window()
			u.wl.applied = &cur
			u.setStatus("Liver window: it is centred on the liver's own CT values, measured on the segmentation when it is done.")
			return
		}
		u.applyStudyLiver()
		return
	}
}

// applyStudyLiver sets the study's liver window and says where it comes
// from.
func (u *UI) applyStudyLiver() {
	st := u.wl.stats
	if st == nil || u.scene == nil {
		return
	}
	wl := viewer.StudyLiverWindow(st.Median)
	u.wl.applied = &wl
	u.scene.SetWindow(wl)
	u.showWindow() // the label changes even when the window did not
	u.setStatus(fmt.Sprintf("Liver window %s: level = median HU in %s's liver mask, width %d (Radiopaedia).",
		wl, u.wl.from, viewer.LiverWidth))
}

// setLiverStats records the liver's CT values measured on a model's mask
// (the shown result's, each time its mask is rebuilt) and re-applies the
// liver window when the reader wants it.
func (u *UI) setLiverStats(st viewer.LiverStats, model string) {
	u.wl.stats, u.wl.from = &st, model
	u.presets.Options = u.windowLabels()
	u.showWindow()
	if u.wl.wanted {
		u.applyStudyLiver()
	}
}

// forgetLiverStats drops the previous study's measurement (another study
// is shown); a wanted liver window stays wanted.
func (u *UI) forgetLiverStats() {
	u.wl.stats, u.wl.from = nil, ""
	if u.presets != nil {
		u.presets.Options = u.windowLabels()
	}
}

// windowChanged notes a window change: any window but the one the liver
// choice set ends that choice.
func (u *UI) windowChanged(wl viewer.WindowLevel) {
	if u.wl.wanted && u.wl.applied != nil && wl != *u.wl.applied {
		u.wl.wanted = false
	}
}

// selectedWindow is the list entry matching wl, or "" (a custom window).
func (u *UI) selectedWindow(wl viewer.WindowLevel) string {
	sel := ""
	for _, c := range u.windowChoices() {
		if !c.known || c.wl != wl {
			continue
		}
		// The study's liver window wins over a fixed preset with the same
		// values, when it is what the reader chose.
		if sel == "" || (c.name == StudyLiverPreset && u.wl.wanted) {
			sel = c.label
		}
	}
	return sel
}

// initialWindowFor is the window of the first study for a remembered
// preference name: the study's liver window is applied once the
// segmentation has measured the liver, the abdomen window until then.
func (u *UI) initialWindowFor(name string) viewer.WindowLevel {
	c, ok := u.windowChoiceNamed(name)
	switch {
	case !ok:
		return viewer.DefaultWindow
	case c.name == StudyLiverPreset:
		u.wl.wanted = true
		wl := viewer.DefaultWindow
		u.wl.applied = &wl
		return wl
	}
	return c.wl
}
