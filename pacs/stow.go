package pacs

// STOW-RS (PS3.18 §10.5): DICOM files sent as one multipart/related
// request into a study; the archive answers which instances it stored
// (ReferencedSOPSequence) and which it did not (FailedSOPSequence, with a
// reason code). An instance the archive lists in neither is counted as
// failed, and stored instances are looked up again (QIDO-RS): some
// archives acknowledge an object that a filter then drops.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/suyashkumar/dicom"
	"github.com/suyashkumar/dicom/pkg/tag"
)

// Instance identifies one DICOM object.
type Instance struct {
	File              string `json:"file,omitempty"`
	SOPClassUID       string `json:"sopClassUID"`
	SOPInstanceUID    string `json:"sopInstanceUID"`
	StudyInstanceUID  string `json:"studyInstanceUID"`
	SeriesInstanceUID string `json:"seriesInstanceUID"`
}

// Failed is an instance the archive did not store, with its reason.
type Failed struct {
	Instance
	Code   int    `json:"code,omitempty"` // the FailureReason (0008,1197), 0 when none was given
	Reason string `json:"reason"`
}

// StoreResult is the archive's answer to a STOW-RS request.
type StoreResult struct {
	Stored []Instance `json:"stored"`
	Failed []Failed   `json:"failed"`
}

// Summary is the answer in one line.
func (r *StoreResult) Summary() string {
	s := fmt.Sprintf("%d stored, %d failed", len(r.Stored), len(r.Failed))
	if len(r.Failed) > 0 {
		s += ": " + r.Failed[0].Reason
		if len(r.Failed) > 1 {
			s += fmt.Sprintf(" (+%d more)", len(r.Failed)-1)
		}
	}
	return s
}

// ReadInstance reads the identifying UIDs of a DICOM file (header only).
func ReadInstance(path string) (Instance, error) {
	ds, err := dicom.ParseFile(path, nil, dicom.SkipPixelData())
	if err != nil {
		return Instance{}, fmt.Errorf("%s is not a readable DICOM file: %v", path, oneLine(err.Error()))
	}
	get := func(t tag.Tag) string {
		e, err := ds.FindElementByTag(t)
		if err != nil {
			return ""
		}
		if v, ok := e.Value.GetValue().([]string); ok && len(v) > 0 {
			return strings.TrimRight(strings.TrimSpace(v[0]), "\x00")
		}
		return ""
	}
	in := Instance{File: path, SOPClassUID: get(tag.SOPClassUID), SOPInstanceUID: get(tag.SOPInstanceUID),
		StudyInstanceUID: get(tag.StudyInstanceUID), SeriesInstanceUID: get(tag.SeriesInstanceUID)}
	if checkUID(in.SOPInstanceUID) != nil || checkUID(in.StudyInstanceUID) != nil {
		return in, fmt.Errorf("%s lacks a valid SOP Instance UID or Study Instance UID", path)
	}
	return in, nil
}

// Store sends files into study (STOW-RS POST /studies/{study}); study ""
// takes each file's own study (POST /studies). Files of another study than
// study are refused before sending. The request is streamed from the
// files. err is about the request as a whole; per-instance refusals are in
// the result.
func (c *Client) Store(ctx context.Context, study string, files ...string) (*StoreResult, error) {
	fail := func(err error) (*StoreResult, error) { return nil, c.fail("store into", study, "", err) }
	if len(files) == 0 {
		return fail(errors.New("no files to send"))
	}
	var insts []Instance
	for _, f := range files {
		in, err := ReadInstance(f)
		if err != nil {
			return fail(err)
		}
		if study != "" && in.StudyInstanceUID != study {
			return fail(fmt.Errorf("%s belongs to study %s, not to this one", filepath.Base(f), in.StudyInstanceUID))
		}
		insts = append(insts, in)
	}
	if study == "" {
		study = insts[0].StudyInstanceUID
		for _, in := range insts {
			if in.StudyInstanceUID != study {
				study = ""
			}
		}
	}
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		pw.CloseWithError(writeParts(mw, files))
	}()
	path := "/studies"
	if study != "" {
		path += "/" + study
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+path, pr)
	if err != nil {
		pr.Close()
		return fail(err)
	}
	req.Header.Set("Content-Type", `multipart/related; type="application/dicom"; boundary=`+mw.Boundary())
	req.Header.Set("Accept", "application/dicom+json, application/json")
	// 409 Conflict carries the same answer as 200: some instances failed.
	resp, err := c.do(req, http.StatusConflict)
	pr.Close()
	if err != nil {
		return fail(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return fail(err)
	}
	res, err := parseStoreAnswer(body, insts)
	if err != nil {
		return fail(err)
	}
	c.verifyStored(ctx, res)
	return res, nil
}

func writeParts(mw *multipart.Writer, files []string) error {
	for _, p := range files {
		w, err := mw.CreatePart(textproto.MIMEHeader{"Content-Type": {"application/dicom"}})
		if err != nil {
			return err
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		_, err = io.Copy(w, f)
		f.Close()
		if err != nil {
			return err
		}
	}
	return mw.Close()
}

// parseStoreAnswer reads the archive's answer and accounts for every sent
// instance exactly once.
func parseStoreAnswer(body []byte, sent []Instance) (*StoreResult, error) {
	var answer attrsWithSeq
	if len(strings.TrimSpace(string(body))) > 0 {
		var arr []attrsWithSeq
		// The answer is a dataset; some archives wrap it in an array.
		if err := json.Unmarshal(body, &answer); err != nil {
			if err2 := json.Unmarshal(body, &arr); err2 != nil || len(arr) == 0 {
				return nil, reason(ErrMalformed, "the archive's store answer is not DICOM JSON (%v)", err)
			}
			answer = arr[0]
		}
	}
	byUID := map[string]Instance{}
	for _, in := range sent {
		byUID[in.SOPInstanceUID] = in
	}
	res := &StoreResult{}
	seen := map[string]bool{}
	for _, it := range answer.seq("00081199") {
		uid := it.str(tagRefSOPInstance)
		in, ok := byUID[uid]
		if !ok || seen[uid] {
			continue
		}
		seen[uid] = true
		res.Stored = append(res.Stored, in)
	}
	for _, it := range answer.seq("00081198") {
		uid := it.str(tagRefSOPInstance)
		in, ok := byUID[uid]
		if !ok || seen[uid] {
			continue
		}
		seen[uid] = true
		code := it.int("00081197")
		res.Failed = append(res.Failed, Failed{Instance: in, Code: code, Reason: failureReason(code)})
	}
	for _, in := range sent {
		if !seen[in.SOPInstanceUID] {
			res.Failed = append(res.Failed, Failed{Instance: in,
				Reason: "the archive did not acknowledge it (neither stored nor failed in its answer): it was probably refused"})
		}
	}
	return res, nil
}

const tagRefSOPInstance = "00081155"

// attrsWithSeq is a dataset whose sequences are decoded too.
type attrsWithSeq map[string]struct {
	VR    string            `json:"vr"`
	Value []json.RawMessage `json:"Value"`
}

func (a attrsWithSeq) seq(tag string) []attrs {
	var out []attrs
	for _, raw := range a[tag].Value {
		var it attrs
		if json.Unmarshal(raw, &it) == nil {
			out = append(out, it)
		}
	}
	return out
}

// failureReason words the FailureReason codes of PS3.18 Table 10.5.3-2 and
// PS3.4 Annex B.
func failureReason(code int) string {
	switch {
	case code == 0:
		return "the archive gave no reason"
	case code == 0x0110:
		return "the archive failed to process it (0x0110)"
	case code == 0x0122:
		return "the archive does not support this SOP class (0x0122)"
	case code == 0x0124:
		return "the archive refused it: not authorised (0x0124)"
	case code == 0xA900:
		return "the data set does not match its SOP class (0xA900)"
	case code&0xFF00 == 0xA700:
		return fmt.Sprintf("the archive is out of resources (0x%04X)", code)
	case code&0xF000 == 0xC000:
		return fmt.Sprintf("the archive cannot understand it (0x%04X)", code)
	case code == 0xB000 || code == 0xB006 || code == 0xB007:
		return fmt.Sprintf("stored with a warning (0x%04X)", code)
	}
	return fmt.Sprintf("the archive refused it (failure reason 0x%04X)", code)
}

// verifyStored looks up each stored instance again: an archive may
// acknowledge an instance that a filter then drops (Orthanc's DICOMweb
// plugin does so when a Lua filter refuses it). A lookup that fails for
// another reason leaves the answer as the archive gave it.
func (c *Client) verifyStored(ctx context.Context, res *StoreResult) {
	kept := res.Stored[:0]
	for _, in := range res.Stored {
		rows, err := c.query(ctx, "/studies/"+in.StudyInstanceUID+"/instances", url.Values{"SOPInstanceUID": {in.SOPInstanceUID}})
		if err == nil && len(rows) == 0 {
			res.Failed = append(res.Failed, Failed{Instance: in,
				Reason: "the archive acknowledged it but does not list it afterwards: it was dropped (e.g. by a filter)"})
			continue
		}
		kept = append(kept, in)
	}
	res.Stored = kept
}
