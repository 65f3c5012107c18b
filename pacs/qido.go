package pacs

// QIDO-RS (PS3.18 §10.6): studies and series searches, answered in the
// DICOM JSON model (PS3.18 Annex F).

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// StudyQuery is a studies search. Empty fields do not filter.
type StudyQuery struct {
	// PatientName may hold DICOM wildcards: * (any run) and ? (one
	// character); a name without any is matched as a prefix ("DOE" finds
	// "DOE^JOHN"), as users expect from a search box.
	PatientName string
	PatientID   string
	// DateFrom and DateTo are YYYYMMDD (either may be empty).
	DateFrom, DateTo string
	// Modality filters on ModalitiesInStudy; "" means any.
	Modality  string
	Accession string
	// Limit and Offset page through the answer (Limit 0 = 100).
	Limit, Offset int
}

// Study is one study as QIDO-RS returns it.
type Study struct {
	StudyInstanceUID string   `json:"studyInstanceUID"`
	PatientName      string   `json:"patientName"`
	PatientID        string   `json:"patientID"`
	StudyDate        string   `json:"studyDate"`
	StudyDescription string   `json:"studyDescription"`
	Accession        string   `json:"accessionNumber"`
	Modalities       []string `json:"modalities"`
	NumSeries        int      `json:"numSeries"`
	NumInstances     int      `json:"numInstances"`
	Series           []Series `json:"series,omitempty"`
}

// Series is one series of a study.
type Series struct {
	StudyInstanceUID  string  `json:"studyInstanceUID"`
	SeriesInstanceUID string  `json:"seriesInstanceUID"`
	Modality          string  `json:"modality"`
	Description       string  `json:"description"`
	Number            int     `json:"number"`
	NumInstances      int     `json:"numInstances"`
	SliceThickness    float64 `json:"sliceThickness,omitempty"` // mm; 0 = unknown
	Rows              int     `json:"rows,omitempty"`
	Cols              int     `json:"cols,omitempty"`
	// IsLocalizer marks scouts and localizers, which the folder picker
	// leaves out too (ImageType LOCALIZER, or a description that says so).
	IsLocalizer bool `json:"isLocalizer,omitempty"`
}

// Tags used in queries and answers.
const (
	tagStudyDate         = "00080020"
	tagAccession         = "00080050"
	tagModalitiesInStudy = "00080061"
	tagModality          = "00080060"
	tagStudyDescription  = "00081030"
	tagSeriesDescription = "0008103E"
	tagImageType         = "00080008"
	tagSOPClassUID       = "00080016"
	tagSOPInstanceUID    = "00080018"
	tagPatientName       = "00100010"
	tagPatientID         = "00100020"
	tagSliceThickness    = "00180050"
	tagStudyUID          = "0020000D"
	tagSeriesUID         = "0020000E"
	tagSeriesNumber      = "00200011"
	tagNumStudySeries    = "00201206"
	tagNumStudyInstances = "00201208"
	tagNumSeriesInst     = "00201209"
	tagRows              = "00280010"
	tagCols              = "00280011"
)

// attrs is one dataset in the DICOM JSON model.
type attrs map[string]struct {
	VR    string            `json:"vr"`
	Value []json.RawMessage `json:"Value"`
}

// str is the first value of tag as text ("" when absent); a person name's
// alphabetic form.
func (a attrs) str(tag string) string {
	v, ok := a[tag]
	if !ok || len(v.Value) == 0 {
		return ""
	}
	return valueString(v.Value[0])
}

func (a attrs) strs(tag string) []string {
	var out []string
	for _, raw := range a[tag].Value {
		out = append(out, valueString(raw))
	}
	return out
}

func valueString(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return strings.TrimSpace(s)
	}
	var pn struct{ Alphabetic string }
	if json.Unmarshal(raw, &pn) == nil && pn.Alphabetic != "" {
		return pn.Alphabetic
	}
	var n json.Number
	if json.Unmarshal(raw, &n) == nil {
		return n.String()
	}
	return ""
}

func (a attrs) int(tag string) int {
	n, _ := strconv.Atoi(a.str(tag))
	return n
}

func (a attrs) float(tag string) float64 {
	f, _ := strconv.ParseFloat(a.str(tag), 64)
	return f
}

// query runs a QIDO-RS search and decodes the answer (a JSON array of
// datasets; 204 No Content is an empty answer).
func (c *Client) query(ctx context.Context, path string, q url.Values) ([]attrs, error) {
	resp, err := c.get(ctx, path, q, "application/dicom+json, application/json")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, err
	}
	if len(strings.TrimSpace(string(body))) == 0 {
		return nil, nil
	}
	var out []attrs
	if err := json.Unmarshal(body, &out); err != nil {
		return nil, reason(ErrMalformed, "the search answer is not DICOM JSON (%v)", err)
	}
	return out, nil
}

// nameMatcher turns the search box's text into a QIDO PatientName value.
func nameMatcher(s string) string {
	s = strings.TrimSpace(s)
	if s == "" || strings.ContainsAny(s, "*?") {
		return s
	}
	return s + "*"
}

// FindStudies searches studies (QIDO-RS /studies).
func (c *Client) FindStudies(ctx context.Context, q StudyQuery) ([]Study, error) {
	v := url.Values{}
	set := func(k, val string) {
		if strings.TrimSpace(val) != "" {
			v.Set(k, strings.TrimSpace(val))
		}
	}
	set("PatientName", nameMatcher(q.PatientName))
	set("PatientID", q.PatientID)
	set("AccessionNumber", q.Accession)
	set("ModalitiesInStudy", q.Modality)
	if q.DateFrom != "" || q.DateTo != "" {
		v.Set("StudyDate", q.DateFrom+"-"+q.DateTo)
	}
	limit := q.Limit
	if limit <= 0 {
		limit = 100
	}
	v.Set("limit", strconv.Itoa(limit))
	if q.Offset > 0 {
		v.Set("offset", strconv.Itoa(q.Offset))
	}
	v.Set("fuzzymatching", "false")
	for _, t := range []string{tagStudyDescription, tagModalitiesInStudy, tagNumStudySeries, tagNumStudyInstances, tagAccession} {
		v.Add("includefield", t)
	}
	rows, err := c.query(ctx, "/studies", v)
	if err != nil {
		return nil, c.fail("search studies", "", "", err)
	}
	out := make([]Study, 0, len(rows))
	for _, a := range rows {
		uid := a.str(tagStudyUID)
		if uid == "" {
			continue
		}
		out = append(out, Study{
			StudyInstanceUID: uid, PatientName: a.str(tagPatientName), PatientID: a.str(tagPatientID),
			StudyDate: a.str(tagStudyDate), StudyDescription: a.str(tagStudyDescription),
			Accession: a.str(tagAccession), Modalities: a.strs(tagModalitiesInStudy),
			NumSeries: a.int(tagNumStudySeries), NumInstances: a.int(tagNumStudyInstances),
		})
	}
	return out, nil
}

// FindSeries lists a study's series (QIDO-RS /studies/{uid}/series),
// modality "" meaning all. Each series' slice thickness, matrix and
// ImageType come from one instance's metadata (series-level QIDO does not
// carry them), fetched in parallel.
func (c *Client) FindSeries(ctx context.Context, study, modality string) ([]Series, error) {
	if err := checkUID(study); err != nil {
		return nil, c.fail("list series of", study, "", err)
	}
	v := url.Values{}
	if modality != "" {
		v.Set("Modality", modality)
	}
	for _, t := range []string{tagSeriesDescription, tagSeriesNumber, tagNumSeriesInst, tagModality} {
		v.Add("includefield", t)
	}
	rows, err := c.query(ctx, "/studies/"+study+"/series", v)
	if err != nil {
		return nil, c.fail("list series of", study, "", err)
	}
	out := make([]Series, 0, len(rows))
	for _, a := range rows {
		uid := a.str(tagSeriesUID)
		if checkUID(uid) != nil {
			continue
		}
		out = append(out, Series{
			StudyInstanceUID: study, SeriesInstanceUID: uid, Modality: a.str(tagModality),
			Description: a.str(tagSeriesDescription), Number: a.int(tagSeriesNumber), NumInstances: a.int(tagNumSeriesInst),
		})
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, c.parallel())
	for i := range out {
		wg.Add(1)
		sem <- struct{}{}
		go func(s *Series) {
			defer wg.Done()
			defer func() { <-sem }()
			c.describeSeries(ctx, s)
		}(&out[i])
	}
	wg.Wait()
	if ctx.Err() != nil {
		return nil, c.fail("list series of", study, "", ctx.Err())
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Number < out[j].Number })
	return out, nil
}

// describeSeries fills what only an instance's metadata says. A failure
// leaves the fields unknown: the list is still useful without them.
func (c *Client) describeSeries(ctx context.Context, s *Series) {
	d := strings.ToLower(s.Description)
	for _, w := range []string{"localizer", "localiser", "scout", "topogram", "surview", "scanogram"} {
		if strings.Contains(d, w) {
			s.IsLocalizer = true
		}
	}
	insts, err := c.query(ctx, "/studies/"+s.StudyInstanceUID+"/series/"+s.SeriesInstanceUID+"/instances", url.Values{"limit": {"1"}})
	if err != nil || len(insts) == 0 {
		return
	}
	sop := insts[0].str(tagSOPInstanceUID)
	if checkUID(sop) != nil {
		return
	}
	resp, err := c.get(ctx, "/studies/"+s.StudyInstanceUID+"/series/"+s.SeriesInstanceUID+"/instances/"+sop+"/metadata", nil, "application/dicom+json, application/json")
	if err != nil {
		return
	}
	defer resp.Body.Close()
	var md []attrs
	if json.NewDecoder(io.LimitReader(resp.Body, 16<<20)).Decode(&md) != nil || len(md) == 0 {
		return
	}
	a := md[0]
	s.SliceThickness = a.float(tagSliceThickness)
	s.Rows, s.Cols = a.int(tagRows), a.int(tagCols)
	for _, t := range a.strs(tagImageType) {
		if strings.EqualFold(t, "LOCALIZER") {
			s.IsLocalizer = true
		}
	}
}

// Echo is the DICOMweb counterpart of C-ECHO: a cheap studies query that
// proves the URL, the credentials and TLS.
func (c *Client) Echo(ctx context.Context) error {
	_, err := c.query(ctx, "/studies", url.Values{"limit": {"1"}})
	return c.fail("test connection", "", "", err)
}

func (c *Client) parallel() int {
	if c.Parallel > 0 {
		return c.Parallel
	}
	return 4
}

// checkUID accepts only DICOM UIDs (digits and dots, at most 64): they
// become URL path segments and cache folder names, so anything else from a
// server or a user is refused rather than escaped.
func checkUID(uid string) error {
	if uid == "" || len(uid) > 64 {
		return fmt.Errorf("%q is not a DICOM UID", uid)
	}
	for i := 0; i < len(uid); i++ {
		ch := uid[i]
		if (ch < '0' || ch > '9') && ch != '.' {
			return fmt.Errorf("%q is not a DICOM UID", uid)
		}
	}
	if uid[0] == '.' || uid[len(uid)-1] == '.' || strings.Contains(uid, "..") {
		return fmt.Errorf("%q is not a DICOM UID", uid)
	}
	return nil
}

// SeriesByUID finds a series anywhere in the archive (QIDO-RS /series),
// for callers that know only its UID.
func (c *Client) SeriesByUID(ctx context.Context, series string) (Series, error) {
	if err := checkUID(series); err != nil {
		return Series{}, c.fail("find", "", series, err)
	}
	v := url.Values{"SeriesInstanceUID": {series}}
	for _, t := range []string{tagSeriesDescription, tagSeriesNumber, tagNumSeriesInst, tagModality, tagStudyUID} {
		v.Add("includefield", t)
	}
	rows, err := c.query(ctx, "/series", v)
	if err != nil {
		return Series{}, c.fail("find", "", series, err)
	}
	for _, a := range rows {
		if a.str(tagSeriesUID) == series && checkUID(a.str(tagStudyUID)) == nil {
			return Series{StudyInstanceUID: a.str(tagStudyUID), SeriesInstanceUID: series, Modality: a.str(tagModality),
				Description: a.str(tagSeriesDescription), Number: a.int(tagSeriesNumber), NumInstances: a.int(tagNumSeriesInst)}, nil
		}
	}
	return Series{}, c.fail("find", "", series, reason(ErrNotFound, "the archive has no such series"))
}

// ParseDate reads a date typed as YYYY-MM-DD or YYYYMMDD into DICOM's
// YYYYMMDD ("" stays "").
func ParseDate(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", nil
	}
	for _, l := range []string{"2006-01-02", "20060102"} {
		if t, err := time.Parse(l, s); err == nil {
			return t.Format("20060102"), nil
		}
	}
	return "", fmt.Errorf("%q is not a date (YYYY-MM-DD)", s)
}
