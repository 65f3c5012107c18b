package pacs

// WADO-RS (PS3.18 §10.4): a series is retrieved one instance per request,
// a bounded number in parallel, each answer a multipart/related stream
// parsed part by part straight into a file of the cache: memory stays one
// copy buffer per request, whatever the size of the series.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Progress of a retrieval. Done counts instances in the cache (including
// those already there from an earlier, interrupted retrieval).
type Progress struct {
	Done, Total int
	Bytes       int64 // received in this retrieval
	Cached      bool  // the whole series came from the cache
}

// acceptDICOM asks for the instances as stored (any transfer syntax): the
// loader decodes what the folder loader decodes, and the archive need not
// transcode.
const acceptDICOM = `multipart/related; type="application/dicom"; transfer-syntax=*`

// Retrieve makes the series available in cache and returns the folder of
// its DICOM files. A complete cached series is returned without any
// request. progress, when not nil, is called from the retrieval's
// goroutines (serialised) after each instance and every few MB.
func (c *Client) Retrieve(ctx context.Context, cache *Cache, study, series string, progress func(Progress)) (string, error) {
	fail := func(err error) (string, error) { return "", c.fail("retrieve", study, series, err) }
	if err := checkUID(study); err != nil {
		return fail(err)
	}
	if err := checkUID(series); err != nil {
		return fail(err)
	}
	if dir, m, ok := cache.Lookup(study, series); ok {
		if progress != nil {
			progress(Progress{Done: len(m.Instances), Total: len(m.Instances), Cached: true})
		}
		return dir, nil
	}
	sops, err := c.listInstances(ctx, study, series)
	if err != nil {
		return fail(err)
	}
	if len(sops) == 0 {
		return fail(errors.New("the archive lists no instances in this series"))
	}
	dir := cache.InstancesDir(study, series)
	partial := filepath.Join(cache.seriesDir(study, series), "partial")
	// What an interrupted retrieval left half-written is never trusted.
	os.RemoveAll(partial)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fail(fmt.Errorf("create the cache folder: %w", err))
	}
	if err := os.MkdirAll(partial, 0o700); err != nil {
		return fail(fmt.Errorf("create the cache folder: %w", err))
	}
	defer os.RemoveAll(partial)

	var todo []string
	for _, sop := range sops {
		if _, err := os.Stat(filepath.Join(dir, sop+".dcm")); err != nil {
			todo = append(todo, sop)
		}
	}
	var (
		mu    sync.Mutex
		done  = len(sops) - len(todo)
		bytes atomic.Int64
	)
	report := func(instance bool) {
		if progress == nil {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		if instance {
			done++
		}
		progress(Progress{Done: done, Total: len(sops), Bytes: bytes.Load()})
	}
	report(false)

	parent := ctx
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if len(todo) == len(sops) && !c.PerInstance {
		// A fresh retrieval asks for the whole series in one request (one
		// stream, no per-request cost on either side); what an interrupted
		// one left is completed instance by instance below.
		listed := make(map[string]bool, len(sops))
		for _, s := range sops {
			listed[s] = true
		}
		err := c.fetch(ctx, "/studies/"+study+"/series/"+series, "", listed, dir, partial, make([]byte, 256<<10), &bytes,
			func() { report(false) }, func() { report(true) })
		if err != nil {
			return fail(err)
		}
		todo = todo[:0]
		for _, sop := range sops {
			if _, err := os.Stat(filepath.Join(dir, sop+".dcm")); err != nil {
				todo = append(todo, sop)
			}
		}
	}
	jobs := make(chan string)
	var (
		wg       sync.WaitGroup
		errOnce  sync.Once
		firstErr error
	)
	for w := 0; w < min(c.parallel(), len(todo)); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 256<<10)
			for sop := range jobs {
				err := c.fetchInstance(ctx, study, series, sop, dir, partial, buf, &bytes, func() { report(false) })
				if err != nil {
					if parent.Err() != nil {
						err = parent.Err() // cancelled by the caller, not a failure
					}
					errOnce.Do(func() { firstErr = err; cancel() })
					continue
				}
				report(true)
			}
		}()
	}
	for _, sop := range todo {
		select {
		case jobs <- sop:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
	}
	close(jobs)
	wg.Wait()
	if firstErr == nil && ctx.Err() != nil {
		firstErr = ctx.Err()
	}
	if firstErr != nil {
		return fail(firstErr)
	}
	total := int64(0)
	for _, sop := range sops {
		if fi, err := os.Stat(filepath.Join(dir, sop+".dcm")); err == nil {
			total += fi.Size()
		}
	}
	if err := cache.writeManifest(&Manifest{Server: c.srv.Label(), StudyInstanceUID: study, SeriesInstanceUID: series,
		Instances: sops, Bytes: total, Retrieved: time.Now().UTC()}); err != nil {
		return fail(fmt.Errorf("write the cache manifest: %w", err))
	}
	if err := cache.Trim(study, series); err != nil {
		return fail(fmt.Errorf("trim the cache: %w", err))
	}
	return dir, nil
}

// listInstances pages through the series' instances (QIDO-RS).
func (c *Client) listInstances(ctx context.Context, study, series string) ([]string, error) {
	const page = 1000
	var out []string
	seen := map[string]bool{}
	for off := 0; ; off += page {
		rows, err := c.query(ctx, "/studies/"+study+"/series/"+series+"/instances",
			url.Values{"limit": {strconv.Itoa(page)}, "offset": {strconv.Itoa(off)}, "includefield": {tagSOPInstanceUID}})
		if err != nil {
			return nil, err
		}
		for _, a := range rows {
			sop := a.str(tagSOPInstanceUID)
			if err := checkUID(sop); err != nil {
				return nil, reason(ErrMalformed, "the archive listed an instance with a bad UID: %v", err)
			}
			if !seen[sop] {
				seen[sop] = true
				out = append(out, sop)
			}
		}
		if len(rows) < page {
			return out, nil
		}
	}
}

// countingWriter counts bytes and reports every few MB.
type countingWriter struct {
	w       io.Writer
	total   *atomic.Int64
	pending int64
	tick    func()
}

func (cw *countingWriter) Write(p []byte) (int, error) {
	n, err := cw.w.Write(p)
	cw.total.Add(int64(n))
	cw.pending += int64(n)
	if cw.pending >= 4<<20 {
		cw.pending = 0
		cw.tick()
	}
	return n, err
}

// fetchInstance retrieves one instance (per-instance mode).
func (c *Client) fetchInstance(ctx context.Context, study, series, sop, dir, partial string, buf []byte, total *atomic.Int64, tick func()) error {
	return c.fetch(ctx, "/studies/"+study+"/series/"+series+"/instances/"+sop, sop, nil, dir, partial, buf, total, tick, nil)
}

// fetch GETs path and stores each DICOM part of the multipart answer in
// dir: written into partial/, synced, and renamed to SOP_UID.dcm only once
// the part is complete. want is the instance a per-instance request asks
// for; a whole-series request (want "") learns each part's SOP Instance
// UID from the file, which must be one of listed. stored is called after
// each instance.
func (c *Client) fetch(ctx context.Context, path, want string, listed map[string]bool, dir, partial string, buf []byte, total *atomic.Int64, tick func(), stored func()) (err error) {
	what := "instance " + want
	if want == "" {
		what = "series answer"
	}
	// A server that stops sending in the middle of an answer is given up
	// after the timeout without data (ResponseHeaderTimeout only covers
	// the wait for the headers).
	reqCtx, cancelReq := context.WithCancel(ctx)
	defer cancelReq()
	var stalled atomic.Bool
	watchdog := time.AfterFunc(c.timeout(), func() { stalled.Store(true); cancelReq() })
	defer watchdog.Stop()
	defer func() {
		if err != nil && stalled.Load() && ctx.Err() == nil {
			err = reason(ErrTimeout, "%s: the server stopped sending for %s", what, c.timeout())
		}
	}()
	resp, err := c.get(reqCtx, path, nil, acceptDICOM)
	if err != nil {
		return fmt.Errorf("%s: %w", what, c.classify(err))
	}
	defer resp.Body.Close()
	resp.Body = &idleReader{ReadCloser: resp.Body, timer: watchdog, d: c.timeout()}
	mt, params, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	switch {
	case err != nil:
		return reason(ErrMalformed, "%s: the answer has no valid Content-Type", what)
	case mt == "application/dicom" && want != "":
		_, err := c.storePart(ctx, resp.Body, want, nil, dir, partial, buf, total, tick)
		return err
	case mt != "multipart/related":
		return reason(ErrMalformed, "%s: the archive sent %s, not DICOM", what, mt)
	case params["boundary"] == "":
		return reason(ErrMalformed, "%s: multipart answer without a boundary", what)
	}
	mr := multipart.NewReader(resp.Body, params["boundary"])
	for n := 0; ; n++ {
		part, err := mr.NextPart()
		if err == io.EOF && n > 0 {
			return nil // the closing boundary
		}
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			var re *reasonError
			if cerr := c.classify(err); errors.As(cerr, &re) {
				return fmt.Errorf("%s: %w", what, cerr)
			}
			if n == 0 {
				return reason(ErrMalformed, "%s: the multipart answer has no readable part (%v)", what, shortIOErr(err))
			}
			return reason(ErrMalformed, "%s: the multipart answer ends without its closing boundary (%v)", what, shortIOErr(err))
		}
		if want != "" && n > 0 {
			return reason(ErrMalformed, "%s: the archive sent more than one part for one instance", what)
		}
		if pt := part.Header.Get("Content-Type"); pt != "" && !strings.HasPrefix(pt, "application/dicom") {
			return reason(ErrMalformed, "%s: the archive sent %s, not a DICOM file", what, pt)
		}
		sop, err := c.storePart(ctx, part, want, listed, dir, partial, buf, total, tick)
		if err != nil {
			return err
		}
		if want == "" {
			what = "series answer after instance " + sop
		}
		if stored != nil {
			stored()
		}
	}
}

// storePart writes one part to a temporary file and renames it into dir
// as SOP_UID.dcm when it is whole.
func (c *Client) storePart(ctx context.Context, body io.Reader, want string, listed map[string]bool, dir, partial string, buf []byte, total *atomic.Int64, tick func()) (sop string, err error) {
	what := "instance " + want
	if want == "" {
		what = "an instance of the series answer"
	}
	f, err := os.CreateTemp(partial, "part-*")
	if err != nil {
		return "", fmt.Errorf("%s: write the cache: %w", what, err)
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(tmp)
		}
	}()
	// The first 132 bytes must be the DICOM preamble and "DICM".
	head := make([]byte, 132)
	if _, err := io.ReadFull(body, head); err != nil || !bytes.Equal(head[128:], []byte("DICM")) {
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
			return "", fmt.Errorf("%s: %w", what, c.classify(err))
		}
		return "", reason(ErrMalformed, "%s: the archive's answer is not a DICOM file", what)
	}
	if _, err := f.Write(head); err != nil {
		return "", fmt.Errorf("%s: write the cache: %w", what, err)
	}
	cw := &countingWriter{w: f, total: total, tick: tick}
	cw.total.Add(int64(len(head)))
	if _, err := io.CopyBuffer(cw, body, buf); err != nil {
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		var werr *os.PathError
		if errors.As(err, &werr) {
			return "", fmt.Errorf("%s: write the cache: %w", what, err)
		}
		return "", reason(ErrMalformed, "%s: the answer was cut off before the instance was complete (%v)", what, shortIOErr(err))
	}
	if err := f.Sync(); err != nil {
		return "", fmt.Errorf("%s: write the cache: %w", what, err)
	}
	if err := f.Close(); err != nil {
		return "", fmt.Errorf("%s: write the cache: %w", what, err)
	}
	sop = want
	if sop == "" {
		in, err := ReadInstance(tmp)
		if err != nil {
			return "", reason(ErrMalformed, "%s: %v", what, err)
		}
		if !listed[in.SOPInstanceUID] {
			return "", reason(ErrMalformed, "the archive sent instance %s, which it does not list in this series", in.SOPInstanceUID)
		}
		sop = in.SOPInstanceUID
	}
	if err := os.Rename(tmp, filepath.Join(dir, sop+".dcm")); err != nil {
		return "", fmt.Errorf("instance %s: write the cache: %w", sop, err)
	}
	ok = true
	return sop, nil
}

func shortIOErr(err error) string {
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return "unexpected end of data"
	}
	s := err.Error()
	if i := strings.LastIndex(s, ": "); i >= 0 {
		s = s[i+2:]
	}
	return s
}

// idleReader re-arms the watchdog whenever data arrives.
type idleReader struct {
	io.ReadCloser
	timer *time.Timer
	d     time.Duration
}

func (r *idleReader) Read(p []byte) (int, error) {
	n, err := r.ReadCloser.Read(p)
	if n > 0 {
		r.timer.Reset(r.d)
	}
	return n, err
}
