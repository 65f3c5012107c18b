package cli

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/liverseg/liverseg/dicomio"
	"github.com/liverseg/liverseg/nifti"
	"github.com/liverseg/liverseg/volume"
)

func init() {
	Register(Command{
		Name:  "info",
		Usage: "[--json] [--headers-only] PATH   list the series in a DICOM file/folder or NIfTI file, with geometry, HU range (the only figure that decodes pixels), warnings and skipped files",
		Run:   runInfo,
	})
}

// infoSeries is one series in `liverseg info` output (JSON field names are
// the stable interface for scripts).
type infoSeries struct {
	Key               string `json:"key"`
	Format            string `json:"format"` // "dicom" or "nifti"
	Chosen            bool   `json:"chosen"` // the series open/convert/segment use
	PatientName       string `json:"patient_name,omitempty"`
	PatientID         string `json:"patient_id,omitempty"`
	StudyDate         string `json:"study_date,omitempty"`
	StudyDescription  string `json:"study_description,omitempty"`
	SeriesDescription string `json:"series_description,omitempty"`
	SeriesNumber      int    `json:"series_number,omitempty"`
	Modality          string `json:"modality,omitempty"`
	Files             int    `json:"files"`
	// Size is columns × rows × slices; from the headers when not loaded.
	Size [3]int `json:"size"`
	// Spacing, Origin (LPS mm of voxel 0,0,0) and Orientation come from
	// the headers (absent for a series that cannot be loaded).
	Spacing        *[3]float64 `json:"spacing_mm,omitempty"`
	Origin         *[3]float64 `json:"origin_lps_mm,omitempty"`
	Orientation    string      `json:"orientation,omitempty"`
	SliceThickness float64     `json:"slice_thickness_mm,omitempty"`
	Localizer      bool        `json:"localizer,omitempty"`
	TransferSyntax string      `json:"transfer_syntax,omitempty"`
	HUMin          *int        `json:"hu_min,omitempty"`
	HUMax          *int        `json:"hu_max,omitempty"`
	LoadError      string      `json:"load_error,omitempty"`
	// Assumed: what the geometry rests on that the files do not validly
	// state (distances and volumes depend on it).
	Assumed  []string `json:"geometry_assumed,omitempty"`
	Warnings []string `json:"warnings"`
}

type infoSkipped struct {
	Path   string `json:"path"`
	Reason string `json:"reason"`
}

type infoReport struct {
	Path    string        `json:"path"`
	Series  []infoSeries  `json:"series"`
	Skipped []infoSkipped `json:"skipped"`
}

func runInfo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("info", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	asJSON := fs.Bool("json", false, "print one JSON object")
	headersOnly := fs.Bool("headers-only", false, "do not decode pixels (no HU range; fast on large folders)")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return &UsageError{Msg: err.Error()}
	}
	if len(pos) != 1 {
		return &UsageError{Msg: fmt.Sprintf("expected one PATH, got %d arguments", len(pos))}
	}
	path := pos[0]
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("cannot open %s: %w", path, unwrapPathError(err))
	}
	rep, err := buildInfo(ctx, path, *headersOnly)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return err
		}
	} else {
		printInfo(stdout, rep)
	}
	if len(rep.Series) == 0 {
		if len(rep.Skipped) == 0 {
			return fmt.Errorf("%s: no image series found", path)
		}
		// One example: a file refused for its geometry says more than,
		// say, a DICOMDIR that happens to come first.
		ex := rep.Skipped[0]
		for _, sk := range rep.Skipped {
			if strings.Contains(sk.Reason, "invalid geometry") {
				ex = sk
				break
			}
		}
		return fmt.Errorf("%s: no image series found (%d file(s) skipped, e.g. %s: %s)", path, len(rep.Skipped), ex.Path, ex.Reason)
	}
	// info was asked to describe what PATH holds; a series it lists but
	// cannot load is not described, so the command did not do what was
	// asked (exit 2) although the rest is printed.
	var failed []string
	for i, s := range rep.Series {
		// Localizers are listed, never loaded as volumes: not counted.
		if s.LoadError != "" && !s.Localizer {
			failed = append(failed, fmt.Sprintf("series %d (%s): %s", i+1, s.Key, s.LoadError))
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("%d of %d series in %s cannot be loaded: %s", len(failed), len(rep.Series), path, strings.Join(failed, "; "))
	}
	return nil
}

// buildInfo scans path and, unless headersOnly, loads every loadable image
// series to report its geometry and HU range. A series that fails to load is
// reported with its error; the others are still listed.
func buildInfo(ctx context.Context, path string, headersOnly bool) (*infoReport, error) {
	rep := &infoReport{Path: path, Series: []infoSeries{}, Skipped: []infoSkipped{}}
	if abs, err := filepath.Abs(path); err == nil {
		rep.Path = abs
	}
	if nifti.IsNIfTI(path) {
		v, err := nifti.Read(path)
		if err != nil {
			return nil, err
		}
		s := infoSeries{Key: filepath.Base(path), Format: "nifti", Chosen: true, Files: 1, Size: v.Size}
		describeVolume(&s, v)
		rep.Series = append(rep.Series, s)
		return rep, nil
	}
	cat, err := dicomio.Scan(ctx, []string{path}, nil)
	if err != nil {
		return nil, err
	}
	chosen := false
	for _, ds := range cat.Series {
		s := infoSeries{
			Key: ds.Key, Format: "dicom",
			PatientName: ds.PatientName, PatientID: ds.PatientID, StudyDate: ds.StudyDate,
			StudyDescription: ds.StudyDescription, SeriesDescription: ds.SeriesDescription,
			SeriesNumber: ds.SeriesNumber, Modality: ds.Modality, Files: ds.NumSlices(),
			Size:           [3]int{ds.Cols, ds.Rows, ds.NumSlices()},
			SliceThickness: ds.SliceThickness, Localizer: ds.IsLocalizer,
			TransferSyntax: dicomio.TransferSyntaxName(ds.TransferSyntax),
			Warnings:       append([]string{}, ds.Warnings...),
			Assumed:        ds.Assumed,
		}
		// dicomio.LoadPath (and so convert and segment) takes the first
		// non-localizer series: catalogue order is largest first.
		if !ds.IsLocalizer && !chosen {
			s.Chosen, chosen = true, true
		}
		// The grid (spacing, origin, orientation) is known from the
		// headers: the HU range is the only figure that needs the pixels,
		// and it needs every one of them (a minimum and maximum cannot be
		// sampled), so only it costs decoding the series.
		if ds.LoadError() == nil && !ds.IsLocalizer {
			describeGrid(&s, ds.Geometry())
		}
		switch err := ds.LoadError(); {
		case err != nil:
			s.LoadError = err.Error()
		case headersOnly || ds.IsLocalizer:
			// Localizers are single scout images, not volumes to analyse.
		default:
			v, err := dicomio.Load(ctx, ds, nil)
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			if err != nil {
				s.LoadError = err.Error()
				break
			}
			// Load repeats the series warnings; keep the volume's list,
			// which may add decoding problems.
			s.Warnings = nil
			describeVolume(&s, v)
		}
		rep.Series = append(rep.Series, s)
	}
	for _, sk := range cat.Skipped {
		rep.Skipped = append(rep.Skipped, infoSkipped{Path: sk.Path, Reason: sk.Reason})
	}
	return rep, nil
}

// describeGrid fills the grid fields: size, spacing, origin, orientation.
func describeGrid(s *infoSeries, g volume.Geometry) {
	sp, org := g.Spacing, g.Origin
	s.Size, s.Spacing, s.Origin = g.Size, &sp, &org
	s.Orientation = g.NearestOrientation().Code()
}

// describeVolume fills the grid and the HU range of a loaded volume.
func describeVolume(s *infoSeries, v *volume.Volume) {
	describeGrid(s, v.Geometry)
	lo, hi := v.Range()
	l, h := int(lo), int(hi)
	s.HUMin, s.HUMax = &l, &h
	s.Warnings = append([]string{}, v.Info.Warnings...)
	s.Assumed = v.Info.Assumed
}

func printInfo(w io.Writer, rep *infoReport) {
	fmt.Fprintf(w, "%s: %d series, %d skipped file(s)\n", rep.Path, len(rep.Series), len(rep.Skipped))
	for i, s := range rep.Series {
		mark := ""
		if s.Chosen {
			mark = "  [opened by default]"
		}
		fmt.Fprintf(w, "\nSeries %d of %d (%s): %s%s\n", i+1, len(rep.Series), s.Format, seriesHeading(s), mark)
		line := func(label, format string, a ...any) {
			fmt.Fprintf(w, "  %-13s %s\n", label+":", fmt.Sprintf(format, a...))
		}
		if s.Format == "dicom" {
			line("patient", "%s", infoOrNone(strings.TrimSpace(s.PatientName+" ("+s.PatientID+")")))
			line("study", "%s", infoOrNone(strings.TrimSpace(infoDate(s.StudyDate)+"  "+s.StudyDescription)))
			desc := s.SeriesDescription
			if s.SeriesNumber != 0 {
				desc = fmt.Sprintf("#%d %s", s.SeriesNumber, desc)
			}
			line("series", "%s", infoOrNone(strings.TrimSpace(desc)))
			line("modality", "%s", infoOrNone(s.Modality))
			line("files", "%d  (%s)", s.Files, s.TransferSyntax)
		}
		line("dimensions", "%d × %d × %d", s.Size[0], s.Size[1], s.Size[2])
		if s.Spacing != nil {
			line("spacing", "%.4g × %.4g × %.4g mm", s.Spacing[0], s.Spacing[1], s.Spacing[2])
			line("origin (LPS)", "%.2f, %.2f, %.2f mm", s.Origin[0], s.Origin[1], s.Origin[2])
			line("orientation", "%s", s.Orientation)
		}
		if s.SliceThickness > 0 {
			line("thickness", "%g mm", s.SliceThickness)
		}
		if s.Localizer {
			line("localizer", "yes (not loaded as a volume)")
		}
		if s.HUMin != nil {
			line("HU range", "%d … %d", *s.HUMin, *s.HUMax)
		}
		if s.LoadError != "" {
			line("cannot load", "%s", s.LoadError)
		}
		for _, a := range s.Assumed {
			line("ASSUMED", "%s", a)
		}
		for _, wn := range s.Warnings {
			line("WARNING", "%s", wn)
		}
	}
	if len(rep.Skipped) > 0 {
		fmt.Fprintf(w, "\nSkipped files:\n")
		for _, sk := range rep.Skipped {
			fmt.Fprintf(w, "  %s: %s\n", sk.Path, sk.Reason)
		}
	}
}

func infoOrNone(s string) string {
	if s == "" || s == "()" {
		return "(none)"
	}
	return strings.TrimSuffix(s, " ()")
}

func infoDate(d string) string {
	if len(d) == 8 {
		return d[:4] + "-" + d[4:6] + "-" + d[6:]
	}
	return d
}

// parseInterspersed parses flags that may come before, between or after
// positional arguments ("convert IN OUT --force" as well as "convert
// --force IN OUT"), and returns the positional ones. "--" ends flags.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if len(args) > 0 && len(rest) < len(args) && args[len(args)-len(rest)-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// seriesHeading names a series for people: its number and description and
// its Series Instance UID, or why it has none. The catalogue key of a
// series without UIDs ("nouid:|1.3.12…|0|20221208|…", kept in --json) is
// only a grouping of files.
func seriesHeading(s infoSeries) string {
	if s.Format != "dicom" {
		return s.Key
	}
	desc := strings.TrimSpace(s.SeriesDescription)
	switch {
	case s.SeriesNumber != 0 && desc != "":
		desc = fmt.Sprintf("#%d %s", s.SeriesNumber, desc)
	case s.SeriesNumber != 0:
		desc = fmt.Sprintf("series #%d", s.SeriesNumber)
	case desc == "":
		desc = "unnamed series"
	}
	if uid, _, _ := strings.Cut(s.Key, "\x00"); uid != "" && !strings.HasPrefix(s.Key, "nouid:") {
		return desc + " (UID " + uid + ")"
	}
	return desc + " (no Series Instance UID: files grouped by study, series number, date and geometry)"
}

// parseOnePath parses args for a subcommand that takes exactly one PATH
// (flags may come after it), returning the usage error every subcommand
// gives otherwise.
func parseOnePath(fs *flag.FlagSet, args []string) (string, error) {
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return "", &UsageError{Msg: err.Error()}
	}
	if len(pos) != 1 {
		return "", &UsageError{Msg: fmt.Sprintf("expected one PATH, got %d arguments", len(pos))}
	}
	return pos[0], nil
}
