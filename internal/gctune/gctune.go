// Package gctune sets the Go garbage collector for LiverSeg's memory
// profile: a few very large, pointer-free arrays (a 1000-slice CT is 524 MB
// of int16, each full-resolution mask 262 MB of uint8) and little else.
//
// With the default GOGC of 100 the heap may grow to twice what is live
// before a collection: once a 524 MB volume is live, up to another 524 MB
// of garbage or new masks accumulates unchecked, which is most of the
// difference between the data a thin-slice study needs and the peak
// resident memory (1.13 GB for the student on 1000 slices, against 786 MB
// of volume and mask). Marking costs nothing for pointer-free arrays, so a
// lower GOGC makes collections more frequent but not more expensive.
//
// Only the command line uses it. In the window (Fyne, OpenGL, ONNX Runtime
// threads) the first 500 MB allocation of a 1000-slice series took 15 s
// under GOGC 25 on the 2-core development VM and 53 ms under the default
// (measured with a timer around the make, LIVERSEG_TRACE), so the app
// keeps the default until that is understood.
package gctune

import (
	"os"
	"runtime/debug"
)

// Percent is the GOGC LiverSeg runs with: the heap grows by at most a
// quarter of what is live before the collector runs.
const Percent = 25

// ForLargeVolumes applies Percent unless the user set GOGC (which wins, as
// for any Go program).
func ForLargeVolumes() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(Percent)
	}
}

// WindowPercent is the window's GOGC: Go's default, which the app keeps.
const WindowPercent = 100

// ForWindow applies WindowPercent unless the user set GOGC: a command that
// measures the app (bench) runs as the window does, also after another
// command in the same process applied ForLargeVolumes.
func ForWindow() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(WindowPercent)
	}
}
