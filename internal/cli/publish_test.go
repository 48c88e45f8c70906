package cli

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/cloudevent"
)

var uuidV4 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

// publishServer implements POST /v1/topics/{topic}/events in structured and
// batch mode: it parses what it gets with package cloudevent and answers a
// result per event, at increasing offsets of partition 0.
type publishServer struct {
	*fakeServer
	mu     sync.Mutex
	events [][]cloudevent.Event // per request
}

func newPublishServer(t *testing.T) *publishServer {
	t.Helper()
	s := &publishServer{fakeServer: newFake(t)}
	offset := 0
	s.handle("POST /v1/topics/{topic}/events", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var (
			evs []cloudevent.Event
			err error
		)
		switch r.Header.Get("Content-Type") {
		case cloudevent.ContentTypeJSON:
			var ev cloudevent.Event
			ev, err = cloudevent.ParseJSON(body)
			evs = []cloudevent.Event{ev}
		case cloudevent.ContentTypeBatchJSON:
			evs, err = cloudevent.ParseBatchJSON(body)
		default:
			writeProblem(w, 415, "Unsupported media type", "use a CloudEvents content type", "Content-Type")
			return
		}
		if err == nil {
			err = cloudevent.ValidateBatch(evs)
		}
		if err != nil {
			writeProblem(w, 400, "Invalid event", err.Error(), "")
			return
		}
		s.mu.Lock()
		s.events = append(s.events, evs)
		var results []string
		for _, ev := range evs {
			results = append(results, fmt.Sprintf(`{"id":%q,"partition":0,"offset":%d,"duplicate":%v}`, ev.ID, offset, ev.ID == "dup"))
			offset++
		}
		s.mu.Unlock()
		writeJSONBody(w, 200, `{"results":[`+strings.Join(results, ",")+`]}`)
	})
	return s
}

func (s *publishServer) batches() [][]cloudevent.Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.events
}

func TestPublishOneEvent(t *testing.T) {
	t.Parallel()
	s := newPublishServer(t)
	r := runCLI(t, s.URL(), "publish", "orders", "--type", "OrderPlaced", "--source", "/shop", "--subject", "eu/42",
		"--key", "customer-7", "--data", `{"total": 12.5}`, "--ext", "traceparent=00-abc", "--ext", "tenant=acme",
		"--deliver-at", "2030-01-02T03:04:05Z")
	wantCode(t, r, 0)
	req := s.only(t)
	if req.Method != "POST" || req.Path != "/v1/topics/orders/events" || req.ContentType != cloudevent.ContentTypeJSON {
		t.Fatalf("request %s %s (%s), want POST /v1/topics/orders/events in structured mode", req.Method, req.Path, req.ContentType)
	}
	ev := s.batches()[0][0]
	if !uuidV4.MatchString(ev.ID) {
		t.Errorf("id %q is not a UUIDv4", ev.ID)
	}
	want := cloudevent.Event{ID: ev.ID, Source: "/shop", SpecVersion: "1.0", Type: "OrderPlaced", Subject: "eu/42",
		DataContentType: "application/json", Data: []byte(`{"total": 12.5}`),
		Extensions: map[string]string{"partitionkey": "customer-7", "traceparent": "00-abc", "tenant": "acme", "deliverat": "2030-01-02T03:04:05Z"}}
	if !ev.Equal(&want) {
		t.Errorf("event\n got %+v\nwant %+v", ev, want)
	}
	wantContains(t, "stdout", r.stdout, "ID", "PARTITION", "OFFSET", "DUPLICATE", ev.ID+"  0          0       no")
}

func TestPublishData(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "order.json")
	if err := os.WriteFile(file, []byte("{\"a\": 1}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		args     []string
		stdin    string
		wantData string // "" with wantNone means no data
		wantNone bool
		wantCT   string
	}{
		{"JSON data", []string{"--data", ` [1,2] `}, "", "[1,2]", false, "application/json"},
		{"text data", []string{"--data", "hello"}, "", "hello", false, "text/plain; charset=utf-8"},
		{"explicit content type", []string{"--data", "<a/>", "--content-type", "application/xml"}, "", "<a/>", false, "application/xml"},
		{"empty data means none", []string{"--data", ""}, "", "", true, ""},
		{"file, JSON trimmed", []string{"--file", file}, "", `{"a": 1}`, false, "application/json"},
		{"all of stdin, newline dropped", nil, "hello world\n", "hello world", false, "text/plain; charset=utf-8"},
		{"binary stdin", nil, "\xff\xfe\x00", "\xff\xfe\x00", false, "application/octet-stream"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newPublishServer(t)
			r := runOpts(t, cliOpts{url: s.URL(), stdin: strings.NewReader(tt.stdin)}, append([]string{"publish", "t"}, tt.args...)...)
			wantCode(t, r, 0)
			ev := s.batches()[0][0]
			if tt.wantNone != (ev.Data == nil) || string(ev.Data) != tt.wantData || ev.DataContentType != tt.wantCT {
				t.Errorf("data %q (%q), want %q (%q)", ev.Data, ev.DataContentType, tt.wantData, tt.wantCT)
			}
			if ev.Type != "herald.cli.event" || ev.Source != "herald-cli" {
				t.Errorf("default type and source: %q %q", ev.Type, ev.Source)
			}
		})
	}
}

func TestPublishStdinLinesInBatches(t *testing.T) {
	t.Parallel()
	s := newPublishServer(t)
	in := "one\n\n{\"n\":2}\r\nthree\nfour\nfive" // the empty line is skipped
	r := runOpts(t, cliOpts{url: s.URL(), stdin: strings.NewReader(in)},
		"publish", "t", "--stdin-lines", "--batch", "2", "--linger", "1h", "--json")
	wantCode(t, r, 0)
	reqs := s.requests()
	if len(reqs) != 3 {
		t.Fatalf("%d requests, want 3 batches of at most 2", len(reqs))
	}
	for i, req := range reqs[:2] {
		if req.ContentType != cloudevent.ContentTypeBatchJSON {
			t.Errorf("request %d: Content-Type %q, want batch mode", i, req.ContentType)
		}
	}
	if reqs[2].ContentType != cloudevent.ContentTypeJSON {
		t.Errorf("the last request of one event: Content-Type %q, want structured mode", reqs[2].ContentType)
	}
	var datas []string
	ids := map[string]bool{}
	for _, b := range s.batches() {
		for _, ev := range b {
			datas = append(datas, string(ev.Data))
			ids[ev.ID] = true
		}
	}
	if got := strings.Join(datas, "|"); got != `one|{"n":2}|three|four|five` {
		t.Errorf("data %s", got)
	}
	if len(ids) != 5 {
		t.Errorf("%d distinct ids for 5 events", len(ids))
	}
	lines := splitLines(r.stdout)
	if len(lines) != 5 {
		t.Fatalf("want 5 JSON lines, got:\n%s", r.stdout)
	}
	for i, line := range lines {
		var res PublishResult
		wantJSON(t, line, &res)
		if res.Offset != int64(i) || !ids[res.ID] {
			t.Errorf("line %d: %s", i, line)
		}
	}
}

func TestPublishTableAcrossBatches(t *testing.T) {
	t.Parallel()
	s := newPublishServer(t)
	r := runOpts(t, cliOpts{url: s.URL(), stdin: strings.NewReader("a\nb\nc\n")},
		"publish", "t", "--stdin-lines", "--batch", "1", "--linger", "1h")
	wantCode(t, r, 0)
	lines := splitLines(r.stdout)
	if len(lines) != 4 || !strings.HasPrefix(lines[0], "ID") || strings.Count(r.stdout, "DUPLICATE") != 1 {
		t.Errorf("want one header and three rows:\n%s", r.stdout)
	}
}

// --events republishes structured events, dropping the broker's
// extensions, as in `herald tail --json | herald publish --events`.
func TestPublishEvents(t *testing.T) {
	t.Parallel()
	s := newPublishServer(t)
	in := `{"specversion":"1.0","id":"e-1","source":"/a","type":"T","heraldtopic":"orders","heraldpartition":"1","heraldoffset":"5","heraldtime":"2026-01-01T00:00:00Z","tenant":"x","data":{"k":1}}` + "\n" +
		`{"specversion":"1.0","id":"e-2","source":"/a","type":"T"}` + "\n"
	r := runOpts(t, cliOpts{url: s.URL(), stdin: strings.NewReader(in)},
		"publish", "copy", "--events", "--stdin-lines", "--subject", "copied", "--linger", "1h")
	wantCode(t, r, 0)
	evs := s.batches()[0]
	if len(evs) != 2 {
		t.Fatalf("%d events", len(evs))
	}
	want := cloudevent.Event{ID: "e-1", Source: "/a", SpecVersion: "1.0", Type: "T", Subject: "copied",
		DataContentType: "application/json", Data: []byte(`{"k":1}`), Extensions: map[string]string{"tenant": "x"}}
	if !evs[0].Equal(&want) {
		t.Errorf("event\n got %+v\nwant %+v", evs[0], want)
	}
}

func TestPublishErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		args  []string
		stdin string
		serve func(w http.ResponseWriter, r *http.Request)
		want  []string
	}{
		{"problem names the field and the line", []string{"--stdin-lines", "--linger", "1h"}, "a\nb\nc\n",
			func(w http.ResponseWriter, r *http.Request) {
				writeProblem(w, 400, "Invalid event", `field "[1].source": must be a URI-reference`, "[1].source")
			}, []string{`publish to "t": invalid event: field "[1].source": must be a URI-reference (the event from line 2)`}},
		{"later batch fails", []string{"--stdin-lines", "--batch", "1", "--linger", "1h"}, "a\nb\n",
			func() func(w http.ResponseWriter, r *http.Request) {
				n := 0
				return func(w http.ResponseWriter, r *http.Request) {
					if n++; n == 1 {
						writeJSONBody(w, 200, `{"results":[{"id":"x","partition":0,"offset":0,"duplicate":false}]}`)
						return
					}
					w.Header().Set("Retry-After", "1")
					writeProblem(w, 429, "Topic quota exceeded", "topic t stores 1 MiB, its maxBytes", "")
				}
			}(), []string{`publish to "t", after 1 events were published: topic quota exceeded: topic t stores 1 MiB, its maxBytes; retry in 1s`}},
		{"event too large", []string{"--data", "x"}, "",
			func(w http.ResponseWriter, r *http.Request) {
				writeProblem(w, 413, "Event too large", "event is 2 MiB, the topic's maxEventBytes is 1 MiB", "data")
			}, []string{`event too large: field "data": event is 2 MiB`}},
		{"invalid event is caught before sending", []string{"--data", "x", "--source", ""}, "",
			nil, []string{`the input is not a valid event`, "source"}},
		{"invalid line is named", []string{"--events", "--stdin-lines"}, "{\"specversion\":\"1.0\",\"id\":\"1\",\"source\":\"/a\",\"type\":\"T\"}\nnot json\n",
			nil, []string{"line 2 is not a valid event"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFake(t)
			if tt.serve != nil {
				f.handle("POST /v1/topics/{topic}/events", tt.serve)
			}
			r := runOpts(t, cliOpts{url: f.URL(), stdin: strings.NewReader(tt.stdin)}, append([]string{"publish", "t"}, tt.args...)...)
			wantCode(t, r, 1)
			wantOneLineError(t, r, tt.want...)
		})
	}
}

// A partial batch goes out when the input pauses for --linger, so lines
// typed or piped slowly are published without waiting for a full batch.
func TestPublishLinger(t *testing.T) {
	t.Parallel()
	s := newPublishServer(t)
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	out := newSyncBuffer()
	ch := runAsync(t, cliOpts{url: s.URL(), stdin: pr, stdout: out},
		"publish", "t", "--stdin-lines", "--batch", "100", "--linger", "10ms", "--json")
	fmt.Fprintln(pw, "first")
	out.waitLines(t, 1) // published while stdin is still open
	fmt.Fprintln(pw, "second")
	out.waitLines(t, 2)
	pw.Close()
	wantCode(t, waitResult(t, ch), 0)
	if n := len(s.batches()); n != 2 {
		t.Errorf("%d requests, want 2", n)
	}
}

func TestPublishDeliverAtRelative(t *testing.T) {
	t.Parallel()
	s := newPublishServer(t)
	before := time.Now()
	r := runCLI(t, s.URL(), "publish", "t", "--data", "x", "--deliver-at", "10m")
	wantCode(t, r, 0)
	ev := s.batches()[0][0]
	at, ok, err := ev.DeliverAt()
	if !ok || err != nil || at.Before(before.Add(10*time.Minute-time.Second)) || at.After(time.Now().Add(10*time.Minute+time.Second)) {
		t.Errorf("deliverat %v (ok %v, err %v), want about 10m from now", at, ok, err)
	}
}

// Ctrl-C while publish waits for stdin ends it at once (exit 130), even
// though the read is still blocked.
func TestPublishInterruptedWhileReading(t *testing.T) {
	t.Parallel()
	s := newPublishServer(t)
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	defer pw.Close() // releases the reader goroutine
	ctx, cancel := context.WithCancel(context.Background())
	out := newSyncBuffer()
	ch := runAsync(t, cliOpts{ctx: ctx, url: s.URL(), stdin: pr, stdout: out}, "publish", "t", "--stdin-lines", "--linger", "1ms", "--json")
	fmt.Fprintln(pw, "first")
	out.waitLines(t, 1)
	cancel()
	r := waitResult(t, ch)
	wantCode(t, r, 130)
	wantOneLineError(t, r, "herald: interrupted")
}
