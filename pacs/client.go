// Package pacs talks to a DICOM archive (PACS) over DICOMweb, the web
// protocol every modern archive speaks: QIDO-RS to search studies and
// series, WADO-RS to retrieve a series into a local cache keyed by UIDs,
// and STOW-RS to store results (a DICOM SEG, a report) back into the study.
//
// Every error is one line naming the server and the study or series it
// concerns, and never contains a password or token: requests carry the
// secret only in the Authorization header, URLs with credentials in them
// are refused, and messages are scrubbed of the secret before they leave
// the package. TLS certificates are always verified (optionally against a
// custom CA file); there is no switch to skip verification.
package pacs

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strings"
	"syscall"
	"time"
)

// Auth kinds.
const (
	AuthNone   = "none"
	AuthBasic  = "basic"
	AuthBearer = "bearer"
)

// Server is a DICOMweb server as the user configures it. It holds no
// secret: the password or token lives in the keyring (see Secrets).
type Server struct {
	Name string `json:"name"`
	// URL is the DICOMweb root, e.g. https://pacs.example.org/dicom-web.
	URL string `json:"url"`
	// Auth is AuthNone, AuthBasic (User + password) or AuthBearer (token).
	Auth string `json:"auth"`
	User string `json:"user,omitempty"`
	// CAFile, when set, is a PEM file of extra certificate authorities
	// trusted for this server (added to the system's).
	CAFile string `json:"caFile,omitempty"`
	// TimeoutSeconds bounds connecting and waiting for each answer to
	// start (not a whole retrieval, which may take minutes); 0 = 30 s.
	TimeoutSeconds int `json:"timeoutSeconds,omitempty"`
}

// Label is how errors name the server: its name, else its host.
func (s Server) Label() string {
	if s.Name != "" {
		return s.Name
	}
	if u, err := url.Parse(s.URL); err == nil && u.Host != "" {
		return u.Host
	}
	return "(unnamed server)"
}

// Validate checks the configuration and says what is wrong in one line.
func (s Server) Validate() error {
	u, err := url.Parse(strings.TrimSpace(s.URL))
	switch {
	case s.URL == "":
		return errors.New("the server URL is empty")
	case err != nil:
		return errors.New("the server URL is not a valid URL")
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("the server URL must start with http:// or https:// (got %q)", u.Scheme)
	case u.Host == "":
		return errors.New("the server URL has no host")
	case u.User != nil:
		// The password would end up in the preferences, in logs and in
		// error messages.
		return errors.New("the server URL contains a user name or password: put the user in the User field and the password in the keyring instead")
	case u.RawQuery != "" || u.Fragment != "":
		return errors.New("the server URL must not contain a query or fragment")
	}
	switch s.Auth {
	case "", AuthNone, AuthBearer:
	case AuthBasic:
		if s.User == "" {
			return errors.New("basic authentication needs a user name")
		}
	default:
		return fmt.Errorf("unknown authentication %q (none, basic or bearer)", s.Auth)
	}
	if s.CAFile != "" {
		if _, err := os.Stat(s.CAFile); err != nil {
			return fmt.Errorf("CA file %s cannot be read", s.CAFile)
		}
	}
	return nil
}

// Client is a connection to one server. Its methods are safe for
// concurrent use.
type Client struct {
	srv    Server
	base   string // URL without a trailing slash
	secret string
	hc     *http.Client
	// Parallel bounds the concurrent requests of a retrieval (default 4):
	// a fresh series is asked for in one request, instances missing after
	// an interrupted retrieval one per request, Parallel at a time.
	Parallel int
	// PerInstance makes every retrieval one request per instance.
	PerInstance bool
}

// NewClient checks s and prepares a client; secret is the password (basic)
// or token (bearer), ignored for AuthNone.
func NewClient(s Server, secret string) (*Client, error) {
	if err := s.Validate(); err != nil {
		return nil, &Error{Server: s.Label(), Op: "configure", Err: err}
	}
	if (s.Auth == AuthBasic || s.Auth == AuthBearer) && secret == "" {
		return nil, &Error{Server: s.Label(), Op: "configure", Err: fmt.Errorf("no %s saved for this server", secretWord(s.Auth))}
	}
	timeout := time.Duration(s.TimeoutSeconds) * time.Second
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	tlsCfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if s.CAFile != "" {
		pem, err := os.ReadFile(s.CAFile)
		if err != nil {
			return nil, &Error{Server: s.Label(), Op: "configure", Err: fmt.Errorf("read CA file %s: %w", s.CAFile, errors.Unwrap(err))}
		}
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, &Error{Server: s.Label(), Op: "configure", Err: fmt.Errorf("CA file %s holds no PEM certificate", s.CAFile)}
		}
		tlsCfg.RootCAs = pool
	}
	tr := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:       tlsCfg,
		TLSHandshakeTimeout:   timeout,
		ResponseHeaderTimeout: timeout,
		MaxIdleConnsPerHost:   16,
		IdleConnTimeout:       60 * time.Second,
		// Pixel data is already compressed or incompressible; gzip would
		// only cost CPU on both ends.
		DisableCompression: true,
	}
	return &Client{
		srv: s, base: strings.TrimRight(strings.TrimSpace(s.URL), "/"), secret: secret,
		hc:       &http.Client{Transport: tr, CheckRedirect: sameHostRedirect},
		Parallel: 4,
	}, nil
}

// sameHostRedirect follows redirects only on the same host, so the
// Authorization header never travels to another server.
func sameHostRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= 5 {
		return errors.New("too many redirects")
	}
	if req.URL.Host != via[0].URL.Host || (via[0].URL.Scheme == "https" && req.URL.Scheme != "https") {
		return fmt.Errorf("the server redirected to another host (%s); not following it with your credentials", req.URL.Host)
	}
	return nil
}

func secretWord(auth string) string {
	if auth == AuthBearer {
		return "token"
	}
	return "password"
}

// Server is the client's configuration.
func (c *Client) Server() Server { return c.srv }

// Close releases idle connections.
func (c *Client) Close() { c.hc.CloseIdleConnections() }

// Error is every error the package returns: one line, naming the server,
// what was being done and the study or series concerned.
type Error struct {
	Server string // Server.Label()
	Op     string // "search studies", "retrieve", "store", ...
	Study  string // StudyInstanceUID, when it concerns one
	Series string // SeriesInstanceUID, when it concerns one
	// Status is the HTTP status when the server answered with an error.
	Status int
	Err    error
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "PACS %q: %s", e.Server, e.Op)
	if e.Study != "" {
		b.WriteString(" study " + e.Study)
	}
	if e.Series != "" {
		b.WriteString(" series " + e.Series)
	}
	b.WriteString(": ")
	b.WriteString(oneLine(e.Err.Error()))
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 400 {
		s = s[:400] + "…"
	}
	return s
}

// Reasons for errors callers may test with errors.Is.
var (
	ErrUnauthorized = errors.New("the server refused the credentials (HTTP 401): check the user and the saved password or token")
	ErrForbidden    = errors.New("the server denies access (HTTP 403)")
	ErrNotFound     = errors.New("not found (HTTP 404): check the server URL (it must be the DICOMweb root) and the UIDs")
	ErrUnreachable  = errors.New("the server cannot be reached")
	ErrTimeout      = errors.New("the server did not answer in time")
	ErrMalformed    = errors.New("the server's answer is malformed or incomplete")
)

// reasonError keeps a sentinel for errors.Is and a precise message.
type reasonError struct {
	kind error
	msg  string
}

func (r *reasonError) Error() string { return r.msg }
func (r *reasonError) Is(t error) bool {
	return t == r.kind
}

func reason(kind error, format string, args ...any) error {
	return &reasonError{kind: kind, msg: fmt.Sprintf(format, args...)}
}

// fail wraps err into an *Error for op and scrubs the secret out of it.
func (c *Client) fail(op, study, series string, err error) error {
	if err == nil {
		return nil
	}
	var pe *Error
	if errors.As(err, &pe) {
		return err
	}
	err = c.classify(err)
	e := &Error{Server: c.srv.Label(), Op: op, Study: study, Series: series, Err: err}
	if c.secret != "" && strings.Contains(e.Error(), c.secret) {
		e.Err = &reasonError{kind: err, msg: strings.ReplaceAll(err.Error(), c.secret, "***")}
	}
	return e
}

// classify turns transport errors into a short reason the user can act on.
// url.Error's own text is not used: it repeats the whole URL.
func (c *Client) classify(err error) error {
	if errors.Is(err, context.Canceled) {
		return context.Canceled
	}
	var re *reasonError
	if errors.As(err, &re) {
		return err
	}
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()):
		return reason(ErrTimeout, "the server did not answer within %s", c.timeout())
	case errors.Is(err, syscall.ECONNREFUSED):
		return reason(ErrUnreachable, "connection refused: the server is down or the URL's port is wrong")
	case errors.Is(err, syscall.ECONNRESET) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF):
		return reason(ErrMalformed, "the connection was cut before the answer was complete")
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return reason(ErrUnreachable, "host %s not found", dnsErr.Name)
	}
	var certErr *tls.CertificateVerificationError
	if errors.As(err, &certErr) {
		return reason(ErrUnreachable, "the server's TLS certificate is not trusted (%v); add its CA file to the server's settings", oneLine(certErr.Err.Error()))
	}
	var hostErr x509.HostnameError
	if errors.As(err, &hostErr) {
		return reason(ErrUnreachable, "the server's TLS certificate is for another host: %v", hostErr)
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return reason(ErrUnreachable, "%v", ue.Err)
	}
	return err
}

func (c *Client) timeout() time.Duration {
	if c.srv.TimeoutSeconds > 0 {
		return time.Duration(c.srv.TimeoutSeconds) * time.Second
	}
	return 30 * time.Second
}

// do sends a request with the server's credentials; a status other than
// 2xx becomes an error (the body's first line is kept as detail).
func (c *Client) do(req *http.Request, alsoOK ...int) (*http.Response, error) {
	switch c.srv.Auth {
	case AuthBasic:
		req.SetBasicAuth(c.srv.User, c.secret)
	case AuthBearer:
		req.Header.Set("Authorization", "Bearer "+c.secret)
	}
	req.Header.Set("User-Agent", "LiverSeg")
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 == 2 {
		return resp, nil
	}
	for _, code := range alsoOK {
		if resp.StatusCode == code {
			return resp, nil
		}
	}
	detail, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	resp.Body.Close()
	return nil, statusError(resp.StatusCode, string(detail))
}

func statusError(code int, detail string) error {
	switch code {
	case http.StatusUnauthorized:
		return ErrUnauthorized
	case http.StatusForbidden:
		return ErrForbidden
	case http.StatusNotFound:
		return ErrNotFound
	}
	msg := fmt.Sprintf("the server answered HTTP %d %s", code, http.StatusText(code))
	if d := firstLine(detail); d != "" && !strings.HasPrefix(d, "<") {
		msg += " (" + d + ")"
	}
	return reason(ErrMalformed, "%s", msg)
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		s = s[:i]
	}
	if len(s) > 160 {
		s = s[:160] + "…"
	}
	return s
}

// get issues a GET of path (relative to the DICOMweb root) with accept.
func (c *Client) get(ctx context.Context, path string, q url.Values, accept string) (*http.Response, error) {
	u := c.base + path
	if len(q) > 0 {
		u += "?" + encodeQuery(q)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", accept)
	return c.do(req)
}

// encodeQuery is url.Values.Encode escaping only what a query value must
// not contain literally. DICOM matching characters (* ? ^ - ,) stay as
// they are: RFC 3986 allows them in a query, and some archives (Orthanc
// 1.10's DICOMweb plugin) match against the raw, undecoded text, so
// "CHAOS%2A" would find nothing where "CHAOS*" finds the patient.
func encodeQuery(q url.Values) string {
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		for _, v := range q[k] {
			if b.Len() > 0 {
				b.WriteByte('&')
			}
			b.WriteString(queryEscape(k))
			b.WriteByte('=')
			b.WriteString(queryEscape(v))
		}
	}
	return b.String()
}

func queryEscape(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch {
		case ch >= 'a' && ch <= 'z', ch >= 'A' && ch <= 'Z', ch >= '0' && ch <= '9',
			strings.IndexByte("-._~*?^,:/@!$'()", ch) >= 0:
			b.WriteByte(ch)
		default:
			b.WriteByte('%')
			b.WriteByte(hex[ch>>4])
			b.WriteByte(hex[ch&15])
		}
	}
	return b.String()
}

// String and GoString keep the secret out of any %v or %#v of a client.
func (c *Client) String() string   { return fmt.Sprintf("pacs.Client(%s)", c.srv.Label()) }
func (c *Client) GoString() string { return c.String() }
