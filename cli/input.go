package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/liverseg/liverseg/dicomio"
	"github.com/liverseg/liverseg/nifti"
	"github.com/liverseg/liverseg/volume"
)

// addSeriesFlag adds --series, which chooses the DICOM series to use when
// a folder holds several (the default is the largest, and which one was
// taken is said on stderr).
func addSeriesFlag(fset *flag.FlagSet) *string {
	return fset.String("series", "", "DICOM series to use: its SeriesInstanceUID (or series key), a unique prefix of it, or its number in `liverseg info` (default: the largest)")
}

// openInput loads the CT a command works on: a NIfTI file, or the DICOM
// series of a file or folder chosen by sel (see addSeriesFlag). When the
// folder holds more than one series, which one was taken and how to take
// another is written to stderr, prefixed with the command name.
func openInput(ctx context.Context, path, sel, cmd string, stderr io.Writer) (*volume.Volume, error) {
	if path == "" {
		return nil, fmt.Errorf("no input path given")
	}
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("cannot open %s: %w", path, unwrapPathError(err))
	}
	if nifti.IsNIfTI(path) {
		if sel != "" {
			return nil, &UsageError{Msg: fmt.Sprintf("--series %s: %s is a NIfTI file, which holds one image", sel, path)}
		}
		v, err := nifti.Read(path)
		if err == nil {
			err = ctx.Err()
		}
		return v, err
	}
	s, err := chooseSeries(ctx, path, sel, cmd, stderr)
	if err != nil {
		return nil, err
	}
	v, err := dicomio.Load(ctx, s, nil)
	if err != nil {
		return nil, err
	}
	v.Info.Source = path
	return v, nil
}

// chooseSeries scans the DICOM input at path and returns the series sel
// names (the largest non-localizer one when sel is empty), saying on stderr
// which one was taken when there is a choice.
func chooseSeries(ctx context.Context, path, sel, cmd string, stderr io.Writer) (*dicomio.Series, error) {
	cat, err := dicomio.Scan(ctx, []string{path}, nil)
	if err != nil {
		return nil, err
	}
	s, idx, err := pickSeries(cat, path, sel)
	if err != nil {
		return nil, err
	}
	if len(cat.Series) > 1 {
		how := "the largest"
		if sel != "" {
			how = "chosen by --series " + sel
		}
		fmt.Fprintf(stderr, "liverseg %s: %s holds %d series; using series %d (%s): %s\n", cmd, path, len(cat.Series), idx+1, how, seriesLine(s))
		for i, o := range cat.Series {
			if i != idx {
				fmt.Fprintf(stderr, "liverseg %s:   not used: series %d: %s\n", cmd, i+1, seriesLine(o))
			}
		}
		if sel == "" {
			fmt.Fprintf(stderr, "liverseg %s:   choose another with --series UID (a unique prefix or the series number also work)\n", cmd)
		}
	}
	return s, nil
}

// seriesLine describes a series in one line: UID (or key), then the
// picker's summary.
func seriesLine(s *dicomio.Series) string {
	return s.Key + " — " + s.Summary()
}

// pickSeries returns the series sel names and its index in cat.Series:
// with sel empty the first (largest) non-localizer series; else the series
// whose number (1-based, as `liverseg info` lists them), key or
// SeriesInstanceUID is sel, or the only one whose key starts with sel.
func pickSeries(cat *dicomio.Catalog, path, sel string) (*dicomio.Series, int, error) {
	if sel == "" {
		for i, s := range cat.Series {
			if !s.IsLocalizer {
				return s, i, nil // largest first
			}
		}
		why := "no image files"
		switch {
		case len(cat.Series) > 0:
			why = "only localizer images"
		case len(cat.Skipped) > 0:
			first := cat.Skipped[0]
			// A file refused for its geometry says more than, say, a
			// DICOMDIR that happens to come first.
			for _, sk := range cat.Skipped {
				if strings.Contains(sk.Reason, "invalid geometry") {
					first = sk
					break
				}
			}
			why = fmt.Sprintf("no image files (%d file(s) skipped, e.g. %s: %s)", len(cat.Skipped), first.Path, first.Reason)
		}
		return nil, -1, fmt.Errorf("%s: no loadable image series: %s", path, why)
	}
	if n, err := strconv.Atoi(sel); err == nil && n >= 1 && n <= len(cat.Series) {
		return cat.Series[n-1], n - 1, nil
	}
	for i, s := range cat.Series {
		if s.Key == sel {
			return s, i, nil
		}
	}
	var hits []int
	for i, s := range cat.Series {
		if s.SeriesInstanceUID == sel {
			hits = append(hits, i)
		}
	}
	if len(hits) == 0 {
		for i, s := range cat.Series {
			if strings.HasPrefix(s.Key, sel) {
				hits = append(hits, i)
			}
		}
	}
	if len(hits) == 1 {
		return cat.Series[hits[0]], hits[0], nil
	}
	what := "matches none"
	if len(hits) > 1 {
		what = fmt.Sprintf("matches %d", len(hits))
	}
	list := make([]string, len(cat.Series))
	for i, s := range cat.Series {
		list[i] = fmt.Sprintf("%d. %s", i+1, seriesLine(s))
	}
	if len(list) == 0 {
		list = []string{"(none)"}
	}
	return nil, -1, fmt.Errorf("--series %s %s of the %d series in %s; give a UID, a unique prefix or a number: %s",
		sel, what, len(cat.Series), path, strings.Join(list, "; "))
}
