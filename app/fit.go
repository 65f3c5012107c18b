package app

import (
	"path/filepath"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/widget"
)

// statusPathChars is the most characters of a path the status line shows:
// with the cursor read-out on its right, the status line holds about 100
// monospace characters at the default 1400-pixel window width.
const statusPathChars = 56

// shortPath elides the middle of a long path's folder so that the file name
// stays whole: "/home/anna/…/exports/ct_student.nii.gz". A label's own
// truncation would cut the end, the file name, instead.
func shortPath(p string, max int) string {
	r := []rune(p)
	if len(r) <= max {
		return p
	}
	base := []rune(filepath.Base(p))
	dir := []rune(filepath.Dir(p))
	keep := max - len(base) - 2 // the "…" and the separator
	if keep < 8 {
		return "…" + string(filepath.Separator) + string(base)
	}
	head := keep / 3
	tail := keep - head
	return string(dir[:head]) + "…" + string(dir[len(dir)-tail:]) + string(filepath.Separator) + string(base)
}

// widestText holds a label at the width of widest, so that the toolbar
// items after it do not move when its text changes length (the W/L read-out
// while dragging the window).
func widestText(l *widget.Label, widest string) fyne.CanvasObject {
	m := widget.NewLabel(widest)
	m.TextStyle = l.TextStyle
	return container.NewGridWrap(m.MinSize(), l)
}
