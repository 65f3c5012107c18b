package dicomio

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode"

	"github.com/suyashkumar/dicom/pkg/tag"
)

// Geometry attributes are checked one by one, and a value that is present
// but not valid (not a number, NaN, infinite, zero or negative where a
// length is meant, too few values) is never read as if it were missing:
// a wrong spacing gives a liver volume that looks right and is not. The
// rule, applied by readGeometry and analyseStack:
//
//   - PixelSpacing invalid: ImagerPixelSpacing, when valid, is used in its
//     place and the volume says so (Info.Assumed); otherwise the file is
//     refused, naming the value.
//   - PixelSpacing and ImagerPixelSpacing both missing: 1 mm pixels are
//     assumed and the volume says so (Info.Assumed), as before.
//   - ImagePositionPatient or ImageOrientationPatient invalid: the file is
//     refused, and so is every series with its SeriesInstanceUID (a slice
//     left out would be silently interpolated over).
//   - SliceThickness or SpacingBetweenSlices invalid: in a stack of slices
//     neither is used (the spacing comes from the positions), so a warning
//     says so; a single slice needs one of them and is refused when neither
//     is valid and one of them is present but invalid.

// geoField indexes the geometry attributes of fileInfo.geoBad.
type geoField int

const (
	geoIPP geoField = iota
	geoIOP
	geoPixelSpacing
	geoThickness
	geoSpacingBetween
	nGeoFields
)

// rawValue is the attribute's value as written in the file (DS/IS text
// joined with backslashes), for messages; "" when absent or empty.
func (h header) rawValue(t tag.Tag) string {
	e, err := h.ds.FindElementByTag(t)
	if err != nil || e.Value == nil {
		return ""
	}
	switch v := e.Value.GetValue().(type) {
	case []float64:
		parts := make([]string, len(v))
		for i, x := range v {
			parts[i] = strconv.FormatFloat(x, 'g', -1, 64)
		}
		return strings.Join(parts, `\`)
	case []byte:
		return strings.Trim(string(v), " \x00")
	}
	return strings.Trim(h.str(t), " ")
}

// shown quotes a value as written in the file (backslashes kept, as DICOM
// users read them), printable and at most 80 characters.
func shown(raw string) string {
	r := []rune(raw)
	if len(r) > 80 {
		r = append(r[:80], '…')
	}
	for i, c := range r {
		if !unicode.IsPrint(c) {
			r[i] = '?'
		}
	}
	return `"` + string(r) + `"`
}

// checkedFloats parses a geometry attribute. present is false when it is
// absent or empty; bad, when not empty, says why a present value is not
// usable, quoting it: it needs n finite numbers, positive when positive is
// set.
func (h header) checkedFloats(t tag.Tag, name string, n int, positive bool) (vals []float64, present bool, bad string) {
	raw := h.rawValue(t)
	if raw == "" {
		return nil, false, ""
	}
	quote := func(why string) string {
		return fmt.Sprintf("%s %s %s", name, shown(raw), why)
	}
	parts := strings.Split(raw, `\`)
	if len(parts) < n {
		return nil, true, quote(fmt.Sprintf("has %d value(s), %d needed", len(parts), n))
	}
	vals = make([]float64, 0, len(parts))
	for _, p := range parts {
		p = strings.TrimSpace(p)
		x, err := strconv.ParseFloat(p, 64)
		switch {
		case err != nil && !math.IsInf(x, 0):
			return nil, true, quote(fmt.Sprintf("is not numeric (%s)", shown(p)))
		case math.IsNaN(x) || math.IsInf(x, 0):
			return nil, true, quote(fmt.Sprintf("is not finite (%s)", shown(p)))
		case positive && x <= 0:
			return nil, true, quote("is not positive")
		}
		vals = append(vals, x)
	}
	return vals, true, ""
}

// readGeometry reads position, orientation, pixel spacing, thickness and
// spacing between slices from h (the top level, or a functional group
// macro) into fi, field by field; fields absent from h are left as they
// are, so per-frame groups override shared ones and the top level.
func (fi *fileInfo) readGeometry(h header, fields ...geoField) {
	for _, f := range fields {
		switch f {
		case geoIPP:
			v, ok, bad := h.checkedFloats(tag.ImagePositionPatient, "ImagePositionPatient", 3, false)
			if ok {
				fi.geoBad[f] = bad
				fi.hasIPP = bad == ""
				if bad == "" {
					copy(fi.IPP[:], v)
				}
			}
		case geoIOP:
			v, ok, bad := h.checkedFloats(tag.ImageOrientationPatient, "ImageOrientationPatient", 6, false)
			if ok {
				if bad == "" {
					copy(fi.IOP[:], v)
					if !validIOP(fi.IOP) {
						bad = fmt.Sprintf("ImageOrientationPatient %s is not two orthogonal unit vectors", shown(h.rawValue(tag.ImageOrientationPatient)))
					}
				}
				fi.geoBad[f] = bad
				fi.hasIOP = bad == ""
			}
		case geoPixelSpacing:
			v, ok, bad := h.checkedFloats(tag.PixelSpacing, "PixelSpacing", 2, true)
			iv, iok, ibad := h.checkedFloats(tag.ImagerPixelSpacing, "ImagerPixelSpacing", 2, true)
			switch {
			case ok && bad == "":
				fi.Spacing, fi.hasPixSp, fi.geoBad[f], fi.spacingNote = [2]float64{v[0], v[1]}, true, "", ""
			case iok && ibad == "":
				// A defensible fallback: the spacing at the detector
				// (larger than at the patient by the geometric
				// magnification). Used, and stated exactly.
				why := "PixelSpacing is missing"
				if ok {
					why = bad
				}
				fi.Spacing, fi.hasPixSp, fi.geoBad[f] = [2]float64{iv[0], iv[1]}, true, ""
				fi.spacingNote = fmt.Sprintf("%s; ImagerPixelSpacing %g × %g mm (measured at the detector, larger than at the patient by the geometric magnification) is used in its place", why, iv[0], iv[1])
			case ok:
				fi.hasPixSp, fi.spacingNote = false, ""
				fi.geoBad[f] = bad
				if iok {
					fi.geoBad[f] += "; " + ibad
				} else {
					fi.geoBad[f] += ", and there is no ImagerPixelSpacing to use instead"
				}
			}
		case geoThickness:
			v, ok, bad := h.checkedFloats(tag.SliceThickness, "SliceThickness", 1, true)
			if ok {
				fi.geoBad[f] = bad
				fi.Thickness = 0
				if bad == "" {
					fi.Thickness = v[0]
				}
			}
		case geoSpacingBetween:
			v, ok, bad := h.checkedFloats(tag.SpacingBetweenSlices, "SpacingBetweenSlices", 1, true)
			if ok {
				fi.geoBad[f] = bad
				fi.spacingBetween = 0
				if bad == "" {
					fi.spacingBetween = v[0]
				}
			}
		}
	}
}

// allGeoFields lists every geometry attribute readGeometry knows.
var allGeoFields = []geoField{geoIPP, geoIOP, geoPixelSpacing, geoThickness, geoSpacingBetween}

// invalidGeometry returns why the file (or frame) cannot be placed in a
// volume because a position, orientation or pixel spacing it states is not
// valid, or "". Thickness and spacing between slices are judged per
// series by analyseStack.
func (fi *fileInfo) invalidGeometry() string {
	for _, f := range []geoField{geoIPP, geoIOP, geoPixelSpacing} {
		if fi.geoBad[f] != "" {
			return "invalid geometry: " + fi.geoBad[f] + ": refused rather than guessed"
		}
	}
	return ""
}

// attachRejected refuses every series that shares a SeriesInstanceUID with
// a file refused for invalid geometry: loading the rest would interpolate
// over the missing slice as if it had never been there.
func attachRejected(series []*Series, rejected []*fileInfo) {
	for _, s := range series {
		if s.SeriesInstanceUID == "" {
			continue
		}
		var first *fileInfo
		n := 0
		for _, f := range rejected {
			if f != nil && f.SeriesUID == s.SeriesInstanceUID {
				if first == nil {
					first = f
				}
				n++
			}
		}
		if first == nil || s.geo.refuse != "" {
			continue
		}
		s.geo.refuse = fmt.Sprintf("%s: %s (%d file(s) of this series have invalid geometry)", first.Path, first.geoRejected, n)
		s.Warnings = append(s.Warnings, "this series cannot be loaded: "+s.geo.refuse)
	}
}

// stackNotes adds to sg what the stack's thickness and spacing attributes
// say: warnings for invalid values that are not needed, the refusal of a
// single slice whose only spacing is invalid, and whether the in-plane
// spacing was assumed.
func stackNotes(sg *stackGeometry, fs []*fileInfo) {
	f0 := fs[0]
	count := func(ok func(*fileInfo) bool) int {
		n := 0
		for _, f := range fs {
			if ok(f) {
				n++
			}
		}
		return n
	}
	ofFiles := func(n int) string {
		if len(fs) == 1 {
			return "in " + f0.label()
		}
		return fmt.Sprintf("in %d of %d files (first: %s)", n, len(fs), f0.label())
	}
	// In-plane spacing.
	if f0.spacingNote != "" {
		n := count(func(f *fileInfo) bool { return f.spacingNote != "" })
		sg.assumed = append(sg.assumed, fmt.Sprintf("%s %s: distances and volumes rest on it", f0.spacingNote, ofFiles(n)))
	} else if !f0.hasPixSp {
		sg.assumed = append(sg.assumed, "PixelSpacing is missing (and there is no ImagerPixelSpacing): 1 mm pixels are assumed, distances and volumes are not real")
	}
	for _, fld := range []struct {
		f    geoField
		name string
	}{{geoThickness, "SliceThickness"}, {geoSpacingBetween, "SpacingBetweenSlices"}} {
		var bad *fileInfo
		n := 0
		for _, f := range fs {
			if f.geoBad[fld.f] != "" {
				if bad == nil {
					bad = f
				}
				n++
			}
		}
		if bad == nil || len(fs) == 1 {
			continue
		}
		where := fmt.Sprintf("in %d of %d files (first: %s)", n, len(fs), bad.label())
		sg.warnings = append(sg.warnings, fmt.Sprintf("%s %s: not used; the slice spacing comes from ImagePositionPatient", bad.geoBad[fld.f], where))
	}
}

// singleSliceStep is the slice spacing of a one-slice series: its
// SliceThickness, else its SpacingBetweenSlices, else 1 mm assumed; a
// present but invalid value without a valid alternative refuses it.
func singleSliceStep(sg *stackGeometry, f *fileInfo) float64 {
	switch {
	case f.Thickness > 0:
		if f.geoBad[geoSpacingBetween] != "" {
			sg.warnings = append(sg.warnings, f.geoBad[geoSpacingBetween]+" in "+f.label()+": not used; SliceThickness is")
		}
		return f.Thickness
	case f.spacingBetween > 0:
		if b := f.geoBad[geoThickness]; b != "" {
			sg.assumed = append(sg.assumed, fmt.Sprintf("%s in %s; SpacingBetweenSlices %g mm is used as the slice thickness", b, f.label(), f.spacingBetween))
		}
		return f.spacingBetween
	case f.geoBad[geoThickness] != "" || f.geoBad[geoSpacingBetween] != "":
		why := f.geoBad[geoThickness]
		if why == "" {
			why = f.geoBad[geoSpacingBetween]
		}
		sg.refuse = fmt.Sprintf("%s: invalid geometry: %s, and a single slice has no other spacing: refused rather than guessed", f.label(), why)
		return 0
	}
	sg.assumed = append(sg.assumed, "single slice without SliceThickness: 1 mm slice spacing is assumed")
	return 0
}
