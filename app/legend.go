package app

// The legends drawn on the views: which colour and line is the model and
// which the reference. They are part of the views (sliceview.SetLegend),
// so the report's picture, drawn from copies of the views, carries them.
// The reference is always drawn as a dashed outline with a dark edge and
// no fill, over the model: where the two overlap, the model's fill and
// the reference's line both stay readable, on bright liver and on the
// dark background alike.

import (
	"image/color"
	"unicode/utf8"

	"github.com/liverseg/liverseg/viewer"
	"github.com/liverseg/liverseg/viewer/sliceview"
)

// referenceStyle is how a reference mask is drawn in every view.
func referenceStyle(c color.NRGBA) viewer.Style {
	return viewer.Style{Color: c, Outline: 1, Width: 2, Dash: 7, Halo: 1}
}

// legendSwatch is a legend sample of style st.
func legendSwatch(st viewer.Style) sliceview.LegendEntry {
	return sliceview.LegendEntry{Swatch: viewer.Swatch(st, sliceview.SwatchWidth, sliceview.SwatchHeight)}
}

// legendEntry is a legend line for st labelled label.
func legendEntry(label string, st viewer.Style) sliceview.LegendEntry {
	e := legendSwatch(st)
	e.Label = label
	return e
}

// shorten cuts s to n characters with an ellipsis (a long file name).
func shorten(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// updateLegend puts the legend of what the three views show on them: the
// shown model (its name and that it is the model) and the reference.
func (u *UI) updateLegend() {
	s := u.seg
	var es []sliceview.LegendEntry
	if s.ovl != nil && s.show.Checked && s.res != nil {
		if st := u.seg.predStyle(); st.Fill > 0 || st.Outline > 0 {
			es = append(es, legendEntry("model: "+s.res.Model, st))
		}
	}
	if s.refOvl != nil && s.refShow.Checked {
		es = append(es, legendEntry("reference: "+shorten(s.refName, 24), s.refOvl.Style))
	}
	for _, v := range u.views {
		v.SetLegend(es...)
	}
}

// LegendTexts are the legend lines of the axial view (for tests).
func (u *UI) LegendTexts() []string {
	var out []string
	for _, e := range u.views[0].Legend() {
		out = append(out, e.Label)
	}
	return out
}
