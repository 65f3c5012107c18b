package dicomio

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"

	"github.com/liverseg/liverseg/internal/parallel"
)

// Catalog is the result of Scan: the image series found and every file that
// cannot be part of a volume, with the reason.
type Catalog struct {
	// Series holds the image series, largest non-localizer series first.
	Series []*Series
	// Skipped lists every file that is not in a series, with a one-line
	// reason (not DICOM, no pixel data, colour, multi-frame, duplicate...).
	Skipped []Skipped
}

// Skipped is a file that Scan did not put in any series.
type Skipped struct {
	Path, Reason string
}

// Series is a set of image files that make one volume.
type Series struct {
	// Key identifies the series: its SeriesInstanceUID, or, when UIDs are
	// missing, a key built from study, orientation, matrix and spacing.
	// A suffix ("#2", "/localizer") tells apart groups that share a UID but
	// cannot share a volume.
	Key string

	PatientName, PatientID, StudyDate, StudyDescription, SeriesDescription, Modality string
	SeriesNumber                                                                     int
	SliceThickness                                                                   float64
	Rows, Cols                                                                       int

	// Files are sorted by position along the slice normal (the cross
	// product of the ImageOrientationPatient cosines), never by file name
	// or InstanceNumber: one entry per slice. A multi-frame (enhanced)
	// file appears once per frame it contributes; Frames tells which.
	Files []string
	// Frames is parallel to Files: the 0-based frame of each slice in its
	// file (always 0 for single-frame files).
	Frames []int
	// IsLocalizer marks scouts and localizers (ImageType LOCALIZER, or
	// single images whose orientation differs from the rest of their
	// series or study). They are never loaded as volumes by LoadPath.
	IsLocalizer bool
	// Assumed lists what the geometry rests on that the files do not
	// state validly (1 mm pixels for a missing PixelSpacing,
	// ImagerPixelSpacing in its place...): distances and volumes computed
	// on this series must say so. Load repeats it in volume.Info.Assumed.
	Assumed []string
	// Warnings describes geometry problems found from the headers: uneven
	// spacing, missing slices, gantry tilt, dropped duplicates,
	// unsupported compression. Load repeats them in volume.Info.Warnings.
	Warnings []string

	// SeriesInstanceUID and StudyInstanceUID as found in the files ("" when absent).
	SeriesInstanceUID, StudyInstanceUID string
	// TransferSyntax is the transfer syntax UID of the first file.
	TransferSyntax string

	files []*fileInfo // parallel to Files
	geo   stackGeometry
}

// NumSlices is the number of images in the series.
func (s *Series) NumSlices() int { return len(s.Files) }

// Summary is one line for a series picker: patient, date, description,
// modality, slice count, thickness and matrix.
func (s *Series) Summary() string {
	var b strings.Builder
	name := s.PatientName
	if name == "" {
		name = s.PatientID
	}
	if name == "" {
		name = "(no patient name)"
	}
	b.WriteString(name)
	if d := s.StudyDate; len(d) == 8 {
		fmt.Fprintf(&b, " | %s-%s-%s", d[:4], d[4:6], d[6:])
	} else if d != "" {
		b.WriteString(" | " + d)
	}
	desc := strings.TrimSpace(strings.Join(nonEmpty(s.StudyDescription, s.SeriesDescription), " / "))
	if desc == "" {
		desc = "(no description)"
	}
	if s.SeriesNumber != 0 {
		desc = fmt.Sprintf("#%d %s", s.SeriesNumber, desc)
	}
	b.WriteString(" | " + desc)
	if s.Modality != "" {
		b.WriteString(" | " + s.Modality)
	}
	noun := "slices"
	if s.NumSlices() == 1 {
		noun = "slice"
	}
	fmt.Fprintf(&b, " | %d %s %dx%d", s.NumSlices(), noun, s.Cols, s.Rows)
	if s.SliceThickness > 0 {
		fmt.Fprintf(&b, " | %g mm", s.SliceThickness)
	}
	if s.IsLocalizer {
		b.WriteString(" | localizer")
	}
	if len(s.Warnings) > 0 {
		fmt.Fprintf(&b, " | %d warning(s)", len(s.Warnings))
	}
	return b.String()
}

// LoadError tells in advance whether Load will refuse this series (a
// compressed transfer syntax that cannot be decoded yet, invalid geometry:
// see geomcheck.go); nil when loadable.
func (s *Series) LoadError() error {
	if s.geo.refuse != "" {
		return fmt.Errorf("dicomio: series %s: %s", s.Key, s.geo.refuse)
	}
	for _, f := range s.files {
		if !tsSupported(f.lay.ts) {
			return unsupportedTS(f.Path, f.lay.ts)
		}
	}
	if g := s.geo.geom.Size; int64(g[0])*int64(g[1])*int64(g[2])*2 > maxVolumeBytes {
		return fmt.Errorf("dicomio: series %s: %d×%d×%d voxels need more than the %d GiB limit per volume", s.Key, g[0], g[1], g[2], maxVolumeBytes>>30)
	}
	return nil
}

func nonEmpty(ss ...string) []string {
	var out []string
	for _, s := range ss {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

// Scan walks paths (files or folders, recursively), reads the header of
// every file (the pixel data is not read) and groups image files into
// series. Files that cannot be part of a volume are listed in
// Catalog.Skipped with the reason. It never writes anything.
//
// Headers are read by parallel.Workers() (GOMAXPROCS) goroutines; progress, when not nil,
// is called from those worker goroutines (concurrently, with done counting
// up to total) and must be safe for that, e.g. use fyne.Do for UI updates.
// Cancelling ctx stops the scan between files and returns ctx.Err().
func Scan(ctx context.Context, paths []string, progress func(done, total int)) (*Catalog, error) {
	var files []string
	cat := &Catalog{}
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("dicomio: scan %s: %w", p, err)
		}
		if !st.IsDir() {
			if !st.Mode().IsRegular() {
				cat.Skipped = append(cat.Skipped, Skipped{p, "not a regular file (" + st.Mode().Type().String() + "): not opened"})
				continue
			}
			files = append(files, p)
			continue
		}
		err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if cerr := ctx.Err(); cerr != nil {
				return cerr
			}
			if err != nil {
				// An unreadable sub-folder is reported, not fatal.
				cat.Skipped = append(cat.Skipped, Skipped{path, "cannot read: " + err.Error()})
				if d != nil && d.IsDir() {
					return fs.SkipDir
				}
				return nil
			}
			switch {
			case d.IsDir():
			case d.Type().IsRegular():
				files = append(files, path)
			case d.Type()&fs.ModeSymlink != 0:
				// Follow links to files (not to folders: no cycles).
				st, err := os.Stat(path)
				switch {
				case err != nil:
					cat.Skipped = append(cat.Skipped, Skipped{path, oneLine("cannot read: " + err.Error())})
				case st.Mode().IsRegular():
					files = append(files, path)
				case !st.IsDir():
					cat.Skipped = append(cat.Skipped, Skipped{path, "not a regular file (" + st.Mode().Type().String() + "): not opened"})
				}
			default:
				// Named pipes, sockets, devices: opening one could block.
				cat.Skipped = append(cat.Skipped, Skipped{path, "not a regular file (" + d.Type().String() + "): not opened"})
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("dicomio: scan %s: %w", p, err)
		}
	}
	infos := make([][]*fileInfo, len(files))
	reasons := make([]string, len(files))
	rejected := make([]*fileInfo, len(files)) // refused for invalid geometry
	var done atomic.Int64
	err := parallel.EachContext(ctx, len(files), func(i int) {
		fi, err := readHeaderBounded(files[i], perFileTimeout)
		switch {
		case errors.Is(err, errNotDICOM):
			reasons[i] = oneLine(err.Error())
		case err != nil:
			reasons[i] = oneLine("unreadable DICOM: " + err.Error())
		default:
			if err := safely(files[i], func() error {
				reasons[i], infos[i] = imageFrames(fi)
				if infos[i] == nil && fi.geoRejected != "" {
					rejected[i] = fi
				}
				return nil
			}); err != nil {
				reasons[i], infos[i] = oneLine(err.Error()), nil
			}
		}
		if progress != nil {
			progress(int(done.Add(1)), len(files))
		}
	})
	if err != nil {
		return nil, err
	}
	var images []*fileInfo
	for i, fi := range infos {
		if fi != nil {
			images = append(images, fi...)
		} else {
			cat.Skipped = append(cat.Skipped, Skipped{files[i], reasons[i]})
		}
	}
	series, dups := group(images)
	attachRejected(series, rejected)
	cat.Series = series
	cat.Skipped = append(cat.Skipped, dups...)
	return cat, nil
}

// groupKey builds the key a file is grouped under.
func groupKey(f *fileInfo) string {
	geom := fmt.Sprintf("%s|%dx%d|%s|%.4g\\%.4g", iopKey(f.IOP), f.Cols, f.Rows, f.Modality, f.Spacing[0], f.Spacing[1])
	if f.SeriesUID != "" {
		// Files of one SeriesInstanceUID that differ in orientation or
		// matrix (3-plane localizers, mixed reconstructions) cannot form
		// one volume: they are split below, so geometry is part of the key.
		return f.SeriesUID + "\x00" + geom
	}
	return fmt.Sprintf("nouid:%s|%s|%d|%s|%s", f.StudyUID, f.FrameOfRefUID, f.SeriesNumber, f.StudyDate, geom)
}

// iopKey rounds orientation so that scanner noise in the last digits does
// not split a series.
func iopKey(o [6]float64) string {
	var b strings.Builder
	for i, v := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		r := math.Round(v*1000) / 1000
		if r == 0 {
			r = 0 // no "-0"
		}
		fmt.Fprintf(&b, "%.3f", r)
	}
	return b.String()
}

func isLocalizerType(f *fileInfo) bool {
	for _, t := range append(f.ImageType[:len(f.ImageType):len(f.ImageType)], f.frameType...) {
		if strings.EqualFold(t, "LOCALIZER") || strings.EqualFold(t, "SCOUT") {
			return true
		}
	}
	return false
}

// group splits image files into series, sorts each along its slice normal,
// drops duplicate positions and flags localizers.
func group(images []*fileInfo) ([]*Series, []Skipped) {
	byKey := map[string][]*fileInfo{}
	var order []string
	for _, f := range images {
		k := groupKey(f)
		if isLocalizerType(f) {
			k += "\x00localizer"
		}
		if _, ok := byKey[k]; !ok {
			order = append(order, k)
		}
		byKey[k] = append(byKey[k], f)
	}
	// How many geometry groups each UID produced, to name them apart.
	perUID := map[string]int{}
	var series []*Series
	var skipped []Skipped
	for _, k := range order {
		fs := byKey[k]
		f0 := fs[0]
		s := &Series{
			PatientName: f0.PatientName, PatientID: f0.PatientID, StudyDate: f0.StudyDate,
			StudyDescription: f0.StudyDescription, SeriesDescription: f0.SeriesDescription,
			Modality: f0.Modality, SeriesNumber: f0.SeriesNumber, SliceThickness: f0.Thickness,
			Rows: f0.Rows, Cols: f0.Cols, SeriesInstanceUID: f0.SeriesUID, StudyInstanceUID: f0.StudyUID,
			TransferSyntax: f0.lay.ts, IsLocalizer: strings.HasSuffix(k, "\x00localizer"),
		}
		switch {
		case f0.SeriesUID != "":
			perUID[f0.SeriesUID]++
			s.Key = f0.SeriesUID
			if n := perUID[f0.SeriesUID]; n > 1 {
				s.Key = fmt.Sprintf("%s#%d", f0.SeriesUID, n)
			}
		default:
			s.Key = strings.ReplaceAll(k, "\x00", "/")
		}
		if s.IsLocalizer {
			s.Key += "/localizer"
		}
		kept, dups := sortAndDedupe(fs)
		// One entry per file: the frames of a multi-frame file that
		// duplicate positions are counted in one line.
		dupFrames := map[string]int{}
		var dupOrder []string
		firstDup := map[string][2]*fileInfo{}
		for _, d := range dups {
			if dupFrames[d[0].Path] == 0 {
				dupOrder = append(dupOrder, d[0].Path)
				firstDup[d[0].Path] = d
			}
			dupFrames[d[0].Path]++
		}
		for _, p := range dupOrder {
			d := firstDup[p]
			why := fmt.Sprintf("duplicate slice position of %s in series %s", d[1].label(), s.Key)
			if d[0].Frames > 1 {
				why = fmt.Sprintf("%d of %d frames at already occupied positions (frame %d: %s)", dupFrames[p], d[0].Frames, d[0].frame+1, why)
			}
			skipped = append(skipped, Skipped{p, why})
		}
		if len(dups) > 0 {
			s.Warnings = append(s.Warnings, fmt.Sprintf("%d duplicate slice(s) at an already occupied position were left out (kept the lowest InstanceNumber)", len(dups)))
		}
		s.files = kept
		for _, f := range kept {
			s.Files = append(s.Files, f.Path)
			s.Frames = append(s.Frames, f.frame)
		}
		s.geo = analyseStack(kept)
		s.Warnings = append(s.Warnings, s.geo.warnings...)
		s.Assumed = s.geo.assumed
		if err := s.LoadError(); err != nil {
			s.Warnings = append(s.Warnings, "this series cannot be loaded: "+err.Error())
		}
		series = append(series, s)
	}
	markOddSingles(series)
	sort.SliceStable(series, func(i, j int) bool {
		a, b := series[i], series[j]
		if a.IsLocalizer != b.IsLocalizer {
			return !a.IsLocalizer
		}
		if a.NumSlices() != b.NumSlices() {
			return a.NumSlices() > b.NumSlices()
		}
		if a.SeriesNumber != b.SeriesNumber {
			return a.SeriesNumber < b.SeriesNumber
		}
		return a.Key < b.Key
	})
	return series, skipped
}

// markOddSingles flags single images as localizers when their orientation
// differs from a larger series of the same study or the same UID: that is
// what scouts and 3-plane localizers look like without ImageType LOCALIZER.
func markOddSingles(series []*Series) {
	for _, s := range series {
		if s.IsLocalizer || s.NumSlices() != 1 {
			continue
		}
		f := s.files[0]
		for _, o := range series {
			if o == s || o.NumSlices() < 3 && o.SeriesInstanceUID != s.SeriesInstanceUID {
				continue
			}
			if o.SeriesInstanceUID != s.SeriesInstanceUID && o.StudyInstanceUID != s.StudyInstanceUID {
				continue
			}
			if o.SeriesInstanceUID == "" && s.SeriesInstanceUID == "" && o.StudyInstanceUID == "" {
				continue // nothing ties them together
			}
			if iopKey(o.files[0].IOP) != iopKey(f.IOP) {
				s.IsLocalizer = true
				break
			}
		}
	}
}

// normalOf is the slice normal: row cosine × column cosine.
func normalOf(f *fileInfo) [3]float64 {
	return unit(cross([3]float64{f.IOP[0], f.IOP[1], f.IOP[2]}, [3]float64{f.IOP[3], f.IOP[4], f.IOP[5]}))
}

// dupTolerance is how close (mm, along the normal) two slices must be to be
// considered the same position.
const dupTolerance = 0.01

// sortAndDedupe sorts files along the slice normal and removes files at an
// already occupied position, returning (dropped, kept-twin) pairs.
func sortAndDedupe(fs []*fileInfo) ([]*fileInfo, [][2]*fileInfo) {
	n := normalOf(fs[0])
	d := make(map[*fileInfo]float64, len(fs))
	for _, f := range fs {
		d[f] = dot(f.IPP, n)
	}
	sorted := append([]*fileInfo(nil), fs...)
	sort.SliceStable(sorted, func(i, j int) bool {
		a, b := sorted[i], sorted[j]
		if math.Abs(d[a]-d[b]) > dupTolerance {
			return d[a] < d[b]
		}
		if a.InstanceNumber != b.InstanceNumber {
			return a.InstanceNumber < b.InstanceNumber
		}
		if a.Path != b.Path {
			return a.Path < b.Path
		}
		return a.frame < b.frame
	})
	kept := sorted[:0:0]
	var dups [][2]*fileInfo
	for _, f := range sorted {
		if k := len(kept); k > 0 && math.Abs(d[f]-d[kept[k-1]]) <= dupTolerance {
			dups = append(dups, [2]*fileInfo{f, kept[k-1]})
			continue
		}
		kept = append(kept, f)
	}
	return kept, dups
}

// imageFrames returns the slices a file contributes (one, or one per
// frame), or why it contributes none.
func imageFrames(fi *fileInfo) (string, []*fileInfo) {
	if why := fi.notPixels(); why != "" {
		return why, nil
	}
	frames, why := fi.expandFrames()
	if why != "" {
		return why, nil
	}
	for _, f := range frames {
		if why := f.notPlaced(); why != "" {
			if len(frames) > 1 {
				why = fmt.Sprintf("frame %d of %d: %s", f.frame+1, len(frames), why)
			}
			if f.invalidGeometry() != "" {
				fi.geoRejected = why
			}
			return why, nil
		}
	}
	return "", frames
}

// oneLine keeps a reason on one line (library messages may hold newlines).
func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 300 {
		s = s[:300] + "..."
	}
	return s
}
