package app

import (
	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/widget"
)

// busyBar is an infinite progress bar that animates only while it is shown
// and running.
//
// Fyne 2.7's ProgressBarInfinite has two traps that left its animation
// running behind a hidden bar (issue 13: the window repainted at full
// frame rate for a minute, ~1 core of CPU, then stopped repainting and
// crashed when Fyne's cache destroyed the still-animating renderer):
//   - Hide() clears the running flag without stopping the animation, so a
//     Stop() after Hide() does nothing. Halt() always stops first.
//   - Creating the renderer sets the running flag, so any Refresh of a
//     hidden bar that has no renderer yet (a theme change refreshes every
//     widget) starts the animation out of sight. busyBar ignores Refresh
//     while hidden; Show() refreshes it.
type busyBar struct {
	widget.ProgressBarInfinite
}

// newBusyBar returns a hidden, stopped bar.
func newBusyBar() *busyBar {
	b := &busyBar{}
	b.ExtendBaseWidget(b)
	b.Halt()
	return b
}

// Run shows the bar and starts its animation.
func (b *busyBar) Run() {
	if !b.Visible() {
		b.Show() // sets the running flag, then refreshes: the animation starts
		return
	}
	b.Start()
}

// Halt stops the animation, then hides the bar (in this order: see busyBar).
func (b *busyBar) Halt() {
	b.Stop()
	b.Hide()
}

// Refresh redraws the bar only while it is shown: see busyBar.
func (b *busyBar) Refresh() {
	if b.Visible() {
		b.ProgressBarInfinite.Refresh()
	}
}

// MinSize keeps a hidden bar from creating its renderer (and with it the
// running flag) just to be measured: layouts ask for hidden objects' sizes.
func (b *busyBar) MinSize() fyne.Size {
	if !b.Visible() {
		return fyne.Size{}
	}
	return b.ProgressBarInfinite.MinSize()
}
