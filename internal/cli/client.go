package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode"
	"unicode/utf8"
)

// maxResponseBytes bounds what the client reads of one answer, so a
// misdirected --url cannot make it read forever. The largest answers the
// CLI asks for, pages of dead letters, stay far below it.
const maxResponseBytes = 64 << 20

// Client is a small typed client of the Herald HTTP API (docs/http-api.md).
// client.go holds the transport and the error mapping; endpoints.go has
// one method per endpoint. The streaming commands (tail, consume) use the
// Go SDK instead (sdk.go).
//
// Every request is bounded by timeout. A Client may be used from several
// goroutines.
type Client struct {
	base    string // "http://127.0.0.1:7070", no trailing slash
	hc      *http.Client
	tr      *http.Transport
	timeout time.Duration
}

// newClient checks the server address and builds a client for it. An
// address without a scheme ("127.0.0.1:7070") means http.
func newClient(raw string, timeout time.Duration) (*Client, error) {
	addr := raw
	if !strings.Contains(addr, "://") {
		addr = "http://" + addr
	}
	u, err := url.Parse(addr)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("--url %q: use the server's address, like %s", raw, defaultURL)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	return &Client{
		base:    strings.TrimSuffix(u.String(), "/"),
		hc:      &http.Client{Transport: tr},
		tr:      tr,
		timeout: timeout,
	}, nil
}

// close releases idle connections; the client is not used afterwards.
func (c *Client) close() { c.tr.CloseIdleConnections() }

// request is one API call.
type request struct {
	method      string
	path        []string // segments, each escaped when joined
	query       url.Values
	contentType string
	body        []byte
}

// response is a successful (2xx) answer, read in full.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (c *Client) urlFor(path []string, q url.Values) string {
	var b strings.Builder
	b.WriteString(c.base)
	for _, s := range path {
		b.WriteByte('/')
		b.WriteString(url.PathEscape(s))
	}
	if len(q) > 0 {
		b.WriteByte('?')
		b.WriteString(q.Encode())
	}
	return b.String()
}

func (c *Client) newRequest(ctx context.Context, r request) (*http.Request, error) {
	var body io.Reader
	if r.body != nil {
		body = bytes.NewReader(r.body)
	}
	req, err := http.NewRequestWithContext(ctx, r.method, c.urlFor(r.path, r.query), body)
	if err != nil {
		return nil, err
	}
	if r.body != nil {
		req.Header.Set("Content-Type", r.contentType)
	}
	req.Header.Set("User-Agent", "herald-cli/"+version())
	return req, nil
}

// do sends r and reads the whole answer. A status of 300 or more becomes
// an *APIError.
func (c *Client) do(ctx context.Context, r request) (*response, error) {
	tctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := c.newRequest(tctx, r)
	if err != nil {
		return nil, err
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, c.transportError(ctx, err, c.timeout)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes+1))
	if err != nil {
		return nil, c.transportError(ctx, err, c.timeout)
	}
	if len(body) > maxResponseBytes {
		return nil, fmt.Errorf("the answer from %s is over %d MiB; ask for less (--limit)", c.base, maxResponseBytes>>20)
	}
	if resp.StatusCode >= 300 {
		return nil, decodeProblem(resp, body)
	}
	return &response{status: resp.StatusCode, header: resp.Header, body: body}, nil
}

// transportError explains a request that got no answer. Cancellation of
// the caller's ctx is returned as ctx.Err(), so the command can tell an
// interrupt from a failure.
func (c *Client) transportError(ctx context.Context, err error, limit time.Duration) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	var dnsErr *net.DNSError
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return c.timeoutError(limit)
	case errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Errorf("the server is not reachable at %s (connection refused): start it with 'herald serve', or point --url or %s at it", c.base, envURL)
	case errors.As(err, &dnsErr):
		return fmt.Errorf("cannot find the host of %s (%s): check --url or %s", c.base, dnsErr.Err, envURL)
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return fmt.Errorf("no answer from %s: %v", c.base, err)
}

func (c *Client) timeoutError(limit time.Duration) error {
	return fmt.Errorf("no answer from %s within %s: the server may be busy or unreachable; raise --timeout to wait longer", c.base, limit)
}

// APIError is an error answer from the server, decoded from its
// application/problem+json body (RFC 9457). Commands may add a Hint that
// says what to do next.
type APIError struct {
	Status     int    // the HTTP status
	Type       string // the problem type URI
	Title      string
	Detail     string
	Field      string // the JSON field, query parameter or header to blame
	RetryAfter string // the Retry-After header of a 429 or 503
	Hint       string
}

// Error is one line: the title, the field, the detail, when to retry and
// the hint, as far as the server gave them.
func (e *APIError) Error() string {
	var parts []string
	switch {
	case e.Title == "":
		parts = append(parts, fmt.Sprintf("HTTP %d %s", e.Status, http.StatusText(e.Status)))
	case !saysAll(e.Detail, e.Title):
		parts = append(parts, lowerFirst(e.Title)) // else the detail says it already
	}
	if e.Field != "" && !strings.Contains(e.Detail, e.Field) {
		parts = append(parts, fmt.Sprintf("field %q", e.Field))
	}
	if e.Detail != "" {
		parts = append(parts, e.Detail)
	}
	var b strings.Builder
	b.WriteString(strings.Join(parts, ": "))
	if e.RetryAfter != "" {
		if n, err := strconv.Atoi(e.RetryAfter); err == nil {
			fmt.Fprintf(&b, "; retry in %ds", n)
		} else {
			b.WriteString("; retry after " + e.RetryAfter)
		}
	}
	if e.Hint != "" {
		b.WriteString(" (" + e.Hint + ")")
	}
	return b.String()
}

// saysAll reports whether every word of title appears in detail, as when
// the title is "Topic not found" and the detail `topic "x" not found`.
func saysAll(detail, title string) bool {
	words := map[string]bool{}
	for _, w := range strings.FieldsFunc(strings.ToLower(detail), notLetter) {
		words[w] = true
	}
	for _, w := range strings.FieldsFunc(strings.ToLower(title), notLetter) {
		if !words[w] {
			return false
		}
	}
	return true
}

func notLetter(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }

// decodeProblem turns an error answer into an *APIError. A body that is
// not problem+json (a proxy's HTML page, say) gives its first line as the
// detail.
func decodeProblem(resp *http.Response, body []byte) *APIError {
	e := &APIError{Status: resp.StatusCode, RetryAfter: resp.Header.Get("Retry-After")}
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if mt == "application/problem+json" || mt == "application/json" {
		var p struct {
			Type   string `json:"type"`
			Title  string `json:"title"`
			Detail string `json:"detail"`
			Field  string `json:"field"`
		}
		if json.Unmarshal(body, &p) == nil {
			e.Type, e.Title, e.Detail, e.Field = p.Type, p.Title, p.Detail, p.Field
			return e
		}
	}
	line, _, _ := strings.Cut(strings.TrimSpace(string(body)), "\n")
	e.Detail = truncate(clean(line), 200)
	return e
}

// withHint adds a hint to err when it is an *APIError with that status.
// Call it before wrapping err: fmt.Errorf formats the message once.
func withHint(err error, status int, hint string) error {
	var ae *APIError
	if errors.As(err, &ae) && ae.Status == status && ae.Hint == "" {
		ae.Hint = hint
	}
	return err
}

// lowerFirst lower-cases a title's first letter to fit mid-sentence,
// leaving acronyms ("JSON body too large") alone.
func lowerFirst(s string) string {
	r, n := utf8.DecodeRuneInString(s)
	if n == 0 || (len(s) > n && unicode.IsUpper(rune(s[n]))) {
		return s
	}
	return string(unicode.ToLower(r)) + s[n:]
}
