package comparison

import "image/color"

// The Okabe–Ito palette (Okabe & Ito, "Color Universal Design", 2008): eight
// colours that stay distinguishable under the common colour-vision
// deficiencies.
var (
	OkabeOrange    = color.RGBA{0xE6, 0x9F, 0x00, 0xFF}
	OkabeSkyBlue   = color.RGBA{0x56, 0xB4, 0xE9, 0xFF}
	OkabeGreen     = color.RGBA{0x00, 0x9E, 0x73, 0xFF} // bluish green
	OkabeYellow    = color.RGBA{0xF0, 0xE4, 0x42, 0xFF}
	OkabeBlue      = color.RGBA{0x00, 0x72, 0xB2, 0xFF}
	OkabeVermilion = color.RGBA{0xD5, 0x5E, 0x00, 0xFF}
	OkabePurple    = color.RGBA{0xCC, 0x79, 0xA7, 0xFF} // reddish purple
	OkabeBlack     = color.RGBA{0x00, 0x00, 0x00, 0xFF}
)

// ReferenceName is the key of the reference mask in Colors.
const ReferenceName = "reference"

// Colors gives each shipped model (and the reference) one Okabe–Ito colour,
// so that the chart, the overlays, the side-by-side panels and the legend
// agree. Use Color for a name that may not be listed. Yellow is left out of
// the fixed assignments: it is unreadable as a thin outline on grey CT.
var Colors = map[string]color.RGBA{
	"teacher":     OkabeBlue,
	"assistant":   OkabeGreen,
	"student":     OkabeVermilion,
	"student100k": OkabePurple,
	ReferenceName: OkabeBlack,
}

// spare are the colours for names not in Colors, in order of preference.
var spare = []color.RGBA{OkabeOrange, OkabeSkyBlue, OkabeYellow}

// Color is the colour of a model (or ReferenceName): its entry in Colors,
// else one of the remaining Okabe–Ito colours chosen from the name, so a
// given name always gets the same colour.
func Color(name string) color.RGBA {
	if c, ok := Colors[name]; ok {
		return c
	}
	h := uint32(2166136261) // FNV-1a
	for i := 0; i < len(name); i++ {
		h = (h ^ uint32(name[i])) * 16777619
	}
	return spare[h%uint32(len(spare))]
}

// DisagreeColors are the colours of a disagreement map's labels: only A
// (label 1) and only B (label 2). The UI should use Color(a) and Color(b)
// when it shows which model claims a voxel; these are the defaults for an
// unnamed pair (orange and sky blue, a pair safe for every common colour
// deficiency).
var DisagreeColors = [3]color.RGBA{{}, OkabeOrange, OkabeSkyBlue}
