package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// waitLimit bounds every wait on a signal in these tests.
const waitLimit = 10 * time.Second

// fakeServer is an httptest server that implements the parts of
// docs/http-api.md a test needs (routes added with handle) and records
// every request it receives.
type fakeServer struct {
	srv *httptest.Server
	mux *http.ServeMux

	mu   sync.Mutex
	reqs []recorded
}

// recorded is one request as the server saw it.
type recorded struct {
	Method, Path, Query, ContentType string
	Body                             []byte
}

func newFake(t *testing.T) *fakeServer {
	t.Helper()
	f := &fakeServer{mux: http.NewServeMux()}
	f.srv = httptest.NewServer(f)
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	f.reqs = append(f.reqs, recorded{Method: r.Method, Path: r.URL.EscapedPath(), Query: r.URL.RawQuery,
		ContentType: r.Header.Get("Content-Type"), Body: body})
	f.mu.Unlock()
	r.Body = io.NopCloser(bytes.NewReader(body))
	f.mux.ServeHTTP(w, r)
}

func (f *fakeServer) URL() string { return f.srv.URL }

// handle adds a route, in net/http.ServeMux pattern syntax
// ("PUT /v1/topics/{topic}").
func (f *fakeServer) handle(pattern string, h http.HandlerFunc) { f.mux.HandleFunc(pattern, h) }

// reply adds a route that always answers status with a JSON body.
func (f *fakeServer) reply(pattern string, status int, body string) {
	f.handle(pattern, func(w http.ResponseWriter, r *http.Request) {
		writeJSONBody(w, status, body)
	})
}

// problemReply adds a route that answers a problem+json error.
func (f *fakeServer) problemReply(pattern string, status int, title, detail, field string) {
	f.handle(pattern, func(w http.ResponseWriter, r *http.Request) {
		writeProblem(w, status, title, detail, field)
	})
}

func (f *fakeServer) requests() []recorded {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]recorded(nil), f.reqs...)
}

// only returns the single request made, failing the test otherwise.
func (f *fakeServer) only(t *testing.T) recorded {
	t.Helper()
	reqs := f.requests()
	if len(reqs) != 1 {
		t.Fatalf("the server got %d requests, want 1: %+v", len(reqs), reqs)
	}
	return reqs[0]
}

func writeJSONBody(w http.ResponseWriter, status int, body string) {
	if status == http.StatusNoContent {
		w.WriteHeader(status)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	io.WriteString(w, body)
}

func writeProblem(w http.ResponseWriter, status int, title, detail, field string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"type": "https://herald.dev/problems/x", "title": title,
		"status": status, "detail": detail, "field": field})
}

// result is what one CLI run produced.
type result struct {
	code           int
	stdout, stderr string
}

// cliOpts are the surroundings of one run.
type cliOpts struct {
	ctx      context.Context
	url      string // HERALD_URL
	stdin    io.Reader
	terminal bool              // pretend stdin, stdout and stderr are terminals
	env      map[string]string // other environment variables
	stdout   io.Writer         // instead of a buffer, for streams
}

func runCLI(t *testing.T, url string, args ...string) result {
	t.Helper()
	return runOpts(t, cliOpts{url: url}, args...)
}

func runOpts(t *testing.T, o cliOpts, args ...string) result {
	t.Helper()
	if o.ctx == nil {
		o.ctx = context.Background()
	}
	if o.stdin == nil {
		o.stdin = strings.NewReader("")
	}
	var stdout, stderr bytes.Buffer
	var out io.Writer = &stdout
	if o.stdout != nil {
		out = o.stdout
	}
	sys := system{
		getenv: func(k string) string {
			if k == envURL {
				return o.url
			}
			return o.env[k]
		},
		isTerminal: func(any) bool { return o.terminal },
	}
	code := run(o.ctx, args, o.stdin, out, &stderr, sys)
	return result{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

// runAsync runs the CLI in a goroutine; the result arrives on the channel.
func runAsync(t *testing.T, o cliOpts, args ...string) <-chan result {
	t.Helper()
	ch := make(chan result, 1)
	go func() { ch <- runOpts(t, o, args...) }()
	return ch
}

func waitResult(t *testing.T, ch <-chan result) result {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(waitLimit):
		t.Fatalf("the command did not return within %s", waitLimit)
		return result{}
	}
}

// waitSignal waits for ch to be closed or receive.
func waitSignal(t *testing.T, ch <-chan struct{}) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(waitLimit):
		t.Fatalf("waited %s for a signal", waitLimit)
	}
}

// syncBuffer is a stdout that a test can wait on while a command streams
// into it.
type syncBuffer struct {
	mu      sync.Mutex
	b       bytes.Buffer
	changed chan struct{}
}

func newSyncBuffer() *syncBuffer { return &syncBuffer{changed: make(chan struct{}, 1)} }

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	n, err := s.b.Write(p)
	s.mu.Unlock()
	select {
	case s.changed <- struct{}{}:
	default:
	}
	return n, err
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// waitLines waits until the buffer holds at least n lines.
func (s *syncBuffer) waitLines(t *testing.T, n int) []string {
	t.Helper()
	deadline := time.After(waitLimit)
	for {
		if lines := splitLines(s.String()); len(lines) >= n {
			return lines
		}
		select {
		case <-s.changed:
		case <-deadline:
			t.Fatalf("waited %s for %d lines of output, got %q", waitLimit, n, s.String())
		}
	}
}

func splitLines(s string) []string {
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// refusedURL returns the address of a port nothing listens on.
func refusedURL(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr
}

// wantCode checks the exit code, showing the output when it differs.
func wantCode(t *testing.T, r result, code int) {
	t.Helper()
	if r.code != code {
		t.Fatalf("exit code %d, want %d\nstdout: %s\nstderr: %s", r.code, code, r.stdout, r.stderr)
	}
}

func wantContains(t *testing.T, what, got string, subs ...string) {
	t.Helper()
	for _, s := range subs {
		if !strings.Contains(got, s) {
			t.Errorf("%s does not contain %q:\n%s", what, s, got)
		}
	}
}

// wantOneLineError checks a failure's stderr: exactly one line, starting
// "herald: ", containing subs.
func wantOneLineError(t *testing.T, r result, subs ...string) {
	t.Helper()
	lines := splitLines(r.stderr)
	if len(lines) != 1 || !strings.HasPrefix(lines[0], "herald: ") {
		t.Fatalf("stderr is not one line starting \"herald: \":\n%s", r.stderr)
	}
	wantContains(t, "stderr", r.stderr, subs...)
}

// wantJSON decodes s into v, failing the test if it is not JSON.
func wantJSON(t *testing.T, s string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(s), v); err != nil {
		t.Fatalf("not JSON (%v):\n%s", err, s)
	}
}
