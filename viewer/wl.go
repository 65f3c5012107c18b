// Package viewer turns a volume.Volume into 2D images for display: it
// reslices the volume into the three orthogonal planes in radiological
// convention, maps Hounsfield units to grey through a window/level lookup
// table and lets overlays (segmentations) blend on top. It is pure Go with no
// GUI dependency; the Fyne widget that shows its images lives in
// viewer/sliceview.
package viewer

import (
	"fmt"
	"math"
)

// WindowLevel is a CT display window: voxels at Level−Width/2 and below are
// black, at Level+Width/2 and above white, linear in between.
type WindowLevel struct {
	Width float64 // HU; values below 1 are treated as 1
	Level float64 // HU at mid-grey
}

// String formats the window as radiologists write it, e.g. "W 400 L 40".
func (w WindowLevel) String() string {
	return fmt.Sprintf("W %.0f L %.0f", w.Width, w.Level)
}

// Preset is a named window with the reference it comes from.
type Preset struct {
	Name   string
	WL     WindowLevel
	Source string
}

// Presets are the standard CT windows offered in the viewer, in menu order.
var Presets = []Preset{
	{"Abdomen", WindowLevel{400, 40}, "soft-tissue/abdomen window W400/L40, radiology teaching references"},
	// The app offers a liver window centred on the study's own liver
	// (StudyLiverWindow) beside this one, which suits unenhanced CT only.
	{"Liver, unenhanced", UnenhancedLiver, "liver window W150/L30 as listed in Radiopaedia's \"Windowing (CT)\" article (an unenhanced liver reads about 55–65 HU); narrow liver windows are reviewed in Dang & Mandarano, The Radiographer 53(3), 2006"},
	{"Bone", WindowLevel{1800, 400}, "bone window W1800/L400 (W 1500–2000, L 300–500 in radiology references)"},
	{"Lung", WindowLevel{1500, -600}, "lung window W1500/L−600 (radiology references)"},
}

// DefaultWindow is the window a CT opens with (abdomen).
var DefaultWindow = Presets[0].WL

// LUT maps every int16 value to an 8-bit grey level, indexed by the value's
// bit pattern as uint16. A 64 Ki table is rebuilt once per window change
// (~0.1 ms) so that rendering a slice costs one table read per voxel instead
// of floating-point arithmetic.
type LUT [65536]uint8

// NewLUT builds the table for a window.
func NewLUT(wl WindowLevel) *LUT {
	l := new(LUT)
	l.Set(wl)
	return l
}

// Set rebuilds the table for a window.
func (l *LUT) Set(wl WindowLevel) {
	w := wl.Width
	if !(w >= 1) { // also catches NaN
		w = 1
	}
	lo := wl.Level - w/2
	for v := math.MinInt16; v <= math.MaxInt16; v++ {
		g := (float64(v) - lo) * 255 / w
		var b uint8
		switch {
		case g <= 0:
			b = 0
		case g >= 255:
			b = 255
		default:
			b = uint8(g + 0.5)
		}
		l[uint16(int16(v))] = b
	}
}

// Map returns the grey level of one value.
func (l *LUT) Map(v int16) uint8 { return l[uint16(v)] }
