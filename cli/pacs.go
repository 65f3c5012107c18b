package cli

// `liverseg pacs find|get|send|cache`: the DICOMweb client (package pacs)
// for batch jobs. Passwords and tokens never come from the command line
// (they would show in the process list): they come from the environment
// (LIVERSEG_PACS_PASSWORD, LIVERSEG_PACS_TOKEN) or from the keyring entry
// of a server saved in the app.

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/liverseg/liverseg/pacs"
)

const pacsUsage = `find|get|send|cache ...
         pacs find --server URL|NAME [--user U] [--patient NAME] [--patient-id ID] [--from DATE] [--to DATE] [--modality CT] [--accession A] [--limit N] [--offset N] [--json]
         pacs get  --server URL|NAME [--user U] --series SERIES_UID [--study STUDY_UID] --out DIR
         pacs send --server URL|NAME [--user U] [--study STUDY_UID] FILE.dcm...
         pacs cache [--clear]
       (--ca FILE, --timeout S on all; the password or token comes from LIVERSEG_PACS_PASSWORD / LIVERSEG_PACS_TOKEN or the saved server's keyring entry, never from the command line)`

func init() {
	Register(Command{Name: "pacs", Usage: pacsUsage, Run: runPACS})
}

func runPACS(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return &UsageError{Msg: "which pacs command? find, get, send or cache"}
	}
	for _, a := range args {
		name := strings.TrimLeft(strings.SplitN(a, "=", 2)[0], "-")
		if strings.HasPrefix(a, "-") && (name == "password" || name == "token" || name == "pass") {
			return &UsageError{Msg: "passwords and tokens are never taken from the command line (they would show in the process list): set LIVERSEG_PACS_PASSWORD or LIVERSEG_PACS_TOKEN, or save the server in the app (File → PACS servers…)"}
		}
	}
	switch args[0] {
	case "find":
		return pacsFind(ctx, args[1:], stdout)
	case "get":
		return pacsGet(ctx, args[1:], stdout, stderr)
	case "send":
		return pacsSend(ctx, args[1:], stdout)
	case "cache":
		return pacsCache(args[1:], stdout)
	}
	return &UsageError{Msg: fmt.Sprintf("unknown pacs command %q (find, get, send or cache)", args[0])}
}

// serverFlags are the flags every pacs command shares.
type serverFlags struct {
	server, user, ca *string
	timeout          *int
}

func addServerFlags(fs *flag.FlagSet) serverFlags {
	return serverFlags{
		server:  fs.String("server", "", "DICOMweb root URL, or the name of a server saved in the app"),
		user:    fs.String("user", "", "user name (basic authentication; the password comes from LIVERSEG_PACS_PASSWORD or the keyring)"),
		ca:      fs.String("ca", "", "PEM file of extra certificate authorities to trust"),
		timeout: fs.Int("timeout", 0, "seconds to wait for the server (default 30)"),
	}
}

// client resolves the server and its secret and connects.
func (f serverFlags) client() (*pacs.Client, error) {
	if *f.server == "" {
		return nil, &UsageError{Msg: "--server is required (a DICOMweb URL or a saved server's name)"}
	}
	var srv pacs.Server
	secret := ""
	saved := false
	if !strings.Contains(*f.server, "://") {
		list, err := pacs.DefaultServerList()
		if err != nil {
			return nil, err
		}
		s, ok := list.Find(*f.server)
		if !ok {
			return nil, &UsageError{Msg: fmt.Sprintf("--server %q is neither a URL nor a saved server (saved: %s)", *f.server, savedNames(list))}
		}
		srv, saved = s, true
	} else {
		srv = pacs.Server{Name: *f.server, URL: *f.server, Auth: pacs.AuthNone}
	}
	if *f.user != "" {
		srv.User, srv.Auth = *f.user, pacs.AuthBasic
	}
	if *f.ca != "" {
		srv.CAFile = *f.ca
	}
	if *f.timeout > 0 {
		srv.TimeoutSeconds = *f.timeout
	}
	if t := os.Getenv("LIVERSEG_PACS_TOKEN"); t != "" {
		srv.Auth, secret = pacs.AuthBearer, t
	} else if p := os.Getenv("LIVERSEG_PACS_PASSWORD"); p != "" && srv.Auth != pacs.AuthNone {
		secret = p
	} else if p != "" && srv.User == "" {
		return nil, &UsageError{Msg: "LIVERSEG_PACS_PASSWORD is set but no --user is given"}
	} else if saved && srv.Auth != pacs.AuthNone {
		sec, err := pacs.DefaultSecrets()
		if err != nil {
			return nil, err
		}
		if secret, err = sec.Get(srv.Name); err != nil {
			return nil, fmt.Errorf("PACS %q: read its password from %s: %v", srv.Name, sec.Where(), err)
		}
	}
	if srv.Auth == pacs.AuthBasic && secret == "" {
		return nil, fmt.Errorf("PACS %q: no password: set LIVERSEG_PACS_PASSWORD (or save the server with its password in the app)", srv.Label())
	}
	return pacs.NewClient(srv, secret)
}

func savedNames(l *pacs.ServerList) string {
	if len(l.Servers) == 0 {
		return "none"
	}
	var n []string
	for _, s := range l.Servers {
		n = append(n, s.Name)
	}
	return strings.Join(n, ", ")
}

// dicomDate accepts YYYYMMDD or YYYY-MM-DD.
func dicomDate(flagName, s string) (string, error) {
	d, err := pacs.ParseDate(s)
	if err != nil {
		return "", &UsageError{Msg: fmt.Sprintf("--%s: %v", flagName, err)}
	}
	return d, nil
}

func pacsFind(ctx context.Context, args []string, stdout io.Writer) error {
	fset := flag.NewFlagSet("pacs find", flag.ContinueOnError)
	fset.SetOutput(io.Discard)
	sf := addServerFlags(fset)
	patient := fset.String("patient", "", "patient name; * and ? are wildcards, a plain name matches as a prefix")
	pid := fset.String("patient-id", "", "patient ID")
	from := fset.String("from", "", "study date from (YYYY-MM-DD)")
	to := fset.String("to", "", "study date to (YYYY-MM-DD)")
	modality := fset.String("modality", "CT", "modality in the study (\"\" for any)")
	acc := fset.String("accession", "", "accession number")
	limit := fset.Int("limit", 100, "studies per page")
	offset := fset.Int("offset", 0, "studies to skip (paging)")
	asJSON := fset.Bool("json", false, "print JSON")
	pos, err := parseInterspersed(fset, args)
	if err != nil {
		return &UsageError{Msg: err.Error()}
	}
	if len(pos) > 0 {
		return &UsageError{Msg: fmt.Sprintf("unexpected arguments %q", pos)}
	}
	q := pacs.StudyQuery{PatientName: *patient, PatientID: *pid, Modality: *modality, Accession: *acc, Limit: *limit, Offset: *offset}
	if q.DateFrom, err = dicomDate("from", *from); err != nil {
		return err
	}
	if q.DateTo, err = dicomDate("to", *to); err != nil {
		return err
	}
	c, err := sf.client()
	if err != nil {
		return err
	}
	defer c.Close()
	studies, err := c.FindStudies(ctx, q)
	if err != nil {
		return err
	}
	for i := range studies {
		series, err := c.FindSeries(ctx, studies[i].StudyInstanceUID, "")
		if err != nil {
			return err
		}
		studies[i].Series = series
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if studies == nil {
			studies = []pacs.Study{}
		}
		return enc.Encode(studies)
	}
	if len(studies) == 0 {
		fmt.Fprintln(stdout, "no studies found")
		return nil
	}
	for _, s := range studies {
		fmt.Fprintf(stdout, "study %s  %s  %s  %s  %q  accession %s  (%d series, %d instances)\n", s.StudyInstanceUID,
			dash(s.PatientName), dash(s.PatientID), dash(s.StudyDate), s.StudyDescription, dash(s.Accession), s.NumSeries, s.NumInstances)
		for _, se := range s.Series {
			th := "–"
			if se.SliceThickness > 0 {
				th = fmt.Sprintf("%.4g mm", se.SliceThickness)
			}
			loc := ""
			if se.IsLocalizer {
				loc = "  (localizer)"
			}
			fmt.Fprintf(stdout, "  series %s  %s  #%d %q  %d instances  %s%s\n", se.SeriesInstanceUID, dash(se.Modality), se.Number, se.Description, se.NumInstances, th, loc)
		}
	}
	return nil
}

func dash(s string) string {
	if s == "" {
		return "–"
	}
	return s
}

func pacsGet(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fset := flag.NewFlagSet("pacs get", flag.ContinueOnError)
	fset.SetOutput(io.Discard)
	sf := addServerFlags(fset)
	series := fset.String("series", "", "SeriesInstanceUID to retrieve")
	study := fset.String("study", "", "its StudyInstanceUID (looked up when omitted)")
	out := fset.String("out", "", "folder to write the DICOM files into (must not exist or be empty)")
	parallel := fset.Int("parallel", 4, "concurrent requests")
	pos, err := parseInterspersed(fset, args)
	if err != nil {
		return &UsageError{Msg: err.Error()}
	}
	if len(pos) > 0 || *series == "" || *out == "" {
		return &UsageError{Msg: "--series and --out are required"}
	}
	if *parallel < 1 || *parallel > 32 {
		return &UsageError{Msg: "--parallel must be 1…32"}
	}
	if err := emptyTarget(*out); err != nil {
		return err
	}
	c, err := sf.client()
	if err != nil {
		return err
	}
	defer c.Close()
	c.Parallel = *parallel
	st := *study
	if st == "" {
		s, err := c.SeriesByUID(ctx, *series)
		if err != nil {
			return err
		}
		st = s.StudyInstanceUID
	}
	cache, err := pacs.DefaultCache()
	if err != nil {
		return err
	}
	start := time.Now()
	var last pacs.Progress
	lastPrint := time.Time{}
	dir, err := c.Retrieve(ctx, cache, st, *series, func(p pacs.Progress) {
		last = p
		if time.Since(lastPrint) > time.Second || p.Done == p.Total {
			lastPrint = time.Now()
			fmt.Fprintf(stderr, "liverseg pacs get: %d/%d instances, %.1f MB\n", p.Done, p.Total, float64(p.Bytes)/1e6)
		}
	})
	if err != nil {
		return err
	}
	n, bytes, err := copySeries(dir, *out)
	if err != nil {
		return fmt.Errorf("write %s: %w", *out, err)
	}
	src := "retrieved"
	if last.Cached {
		src = "from the cache"
	}
	fmt.Fprintf(stdout, "wrote %d DICOM files (%.1f MB, %s in %.1f s) of series %s to %s\n", n, float64(bytes)/1e6, src, time.Since(start).Seconds(), *series, *out)
	return nil
}

// emptyTarget accepts a folder that does not exist or is empty.
func emptyTarget(dir string) error {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("--out %s: %w", dir, err)
	}
	if len(ents) > 0 {
		return &UsageError{Msg: fmt.Sprintf("--out %s is not empty; choose a new folder (nothing is overwritten)", dir)}
	}
	return nil
}

// copySeries copies the cached files into a temporary sibling of out and
// renames it into place, so out holds the whole series or nothing.
func copySeries(from, out string) (int, int64, error) {
	out = filepath.Clean(out)
	parent := filepath.Dir(out)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return 0, 0, err
	}
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(out)+".tmp-")
	if err != nil {
		return 0, 0, err
	}
	ok := false
	defer func() {
		if !ok {
			os.RemoveAll(tmp)
		}
	}()
	ents, err := os.ReadDir(from)
	if err != nil {
		return 0, 0, err
	}
	var total int64
	n := 0
	for _, e := range ents {
		if !e.Type().IsRegular() || !strings.HasSuffix(e.Name(), ".dcm") {
			continue
		}
		b, err := copyFile(filepath.Join(from, e.Name()), filepath.Join(tmp, e.Name()))
		if err != nil {
			return 0, 0, err
		}
		total += b
		n++
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return 0, 0, err
	}
	if err := os.Remove(out); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return 0, 0, err
	}
	if err := os.Rename(tmp, out); err != nil {
		return 0, 0, err
	}
	ok = true
	return n, total, nil
}

func copyFile(src, dst string) (int64, error) {
	in, err := os.Open(src)
	if err != nil {
		return 0, err
	}
	defer in.Close()
	o, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return 0, err
	}
	n, err := io.Copy(o, in)
	if err == nil {
		err = o.Sync()
	}
	if cerr := o.Close(); err == nil {
		err = cerr
	}
	return n, err
}

func pacsSend(ctx context.Context, args []string, stdout io.Writer) error {
	fset := flag.NewFlagSet("pacs send", flag.ContinueOnError)
	fset.SetOutput(io.Discard)
	sf := addServerFlags(fset)
	study := fset.String("study", "", "StudyInstanceUID to store into (default: the files' own study)")
	asJSON := fset.Bool("json", false, "print the archive's answer as JSON")
	files, err := parseInterspersed(fset, args)
	if err != nil {
		return &UsageError{Msg: err.Error()}
	}
	if len(files) == 0 {
		return &UsageError{Msg: "no DICOM files to send"}
	}
	c, err := sf.client()
	if err != nil {
		return err
	}
	defer c.Close()
	res, err := c.Store(ctx, *study, files...)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(res); err != nil {
			return err
		}
	} else {
		for _, s := range res.Stored {
			fmt.Fprintf(stdout, "stored  %s  (SOP instance %s)\n", s.File, s.SOPInstanceUID)
		}
		for _, f := range res.Failed {
			fmt.Fprintf(stdout, "FAILED  %s  (SOP instance %s): %s\n", f.File, f.SOPInstanceUID, f.Reason)
		}
	}
	if len(res.Failed) > 0 {
		return fmt.Errorf("PACS %q: store: %s", c.Server().Label(), res.Summary())
	}
	return nil
}

func pacsCache(args []string, stdout io.Writer) error {
	fset := flag.NewFlagSet("pacs cache", flag.ContinueOnError)
	fset.SetOutput(io.Discard)
	clear := fset.Bool("clear", false, "delete every cached series")
	if err := fset.Parse(args); err != nil {
		return &UsageError{Msg: err.Error()}
	}
	cache, err := pacs.DefaultCache()
	if err != nil {
		return err
	}
	if *clear {
		if err := cache.Clear(); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "cleared %s\n", cache.Root)
		return nil
	}
	es, err := cache.Entries()
	if err != nil {
		return err
	}
	var total int64
	for _, e := range es {
		state := "complete"
		if !e.Complete {
			state = "partial (resumes on the next retrieval)"
		}
		fmt.Fprintf(stdout, "%s  study %s series %s  %.1f MB  %s\n", e.Used.Format("2006-01-02 15:04"), e.Study, e.Series, float64(e.Bytes)/1e6, state)
		total += e.Bytes
	}
	fmt.Fprintf(stdout, "%d series, %.1f MB in %s (limit %.0f GiB)\n", len(es), float64(total)/1e6, cache.Root, float64(cache.Limit)/(1<<30))
	return nil
}
