package cli

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/heraldhq/herald/cloudevent"
)

// storedEvent is event offset of partition p as GET /events serves it.
func storedEvent(p, offset int) cloudevent.Event {
	return cloudevent.Event{ID: fmt.Sprintf("e-%d-%d", p, offset), Source: "/shop", SpecVersion: "1.0",
		Type: "OrderPlaced", Subject: fmt.Sprintf("eu/%d", offset), DataContentType: "application/json",
		Data: []byte(fmt.Sprintf(`{"n": %d}`, offset)),
		Extensions: map[string]string{
			"heraldtopic": "orders", "heraldpartition": strconv.Itoa(p), "heraldoffset": strconv.Itoa(offset),
			"heraldtime": fmt.Sprintf("2026-11-24T12:00:%02dZ", offset),
		}}
}

// newReadServer serves a topic whose partition p holds sizes[p] events
// from offset 0: the description, and GET /events with from (earliest or
// an offset), partition and limit, answering at most pageCap events.
func newReadServer(t *testing.T, sizes []int, pageCap int) *fakeServer {
	t.Helper()
	f := newFake(t)
	var offsets []string
	for p, n := range sizes {
		offsets = append(offsets, fmt.Sprintf(`{"partition":%d,"earliest":0,"next":%d}`, p, n))
	}
	f.reply("GET /v1/topics/orders", 200, fmt.Sprintf(`{"name":"orders","partitions":%d,"config":{},"bytes":0,"offsets":[%s]}`,
		len(sizes), strings.Join(offsets, ",")))
	f.handle("GET /v1/topics/orders/events", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		p, err := strconv.Atoi(q.Get("partition"))
		if err != nil {
			writeProblem(w, 400, "Invalid request", "a numeric from needs a partition", "partition")
			return
		}
		from := 0
		if f := q.Get("from"); f != "earliest" {
			if from, err = strconv.Atoi(f); err != nil {
				writeProblem(w, 400, "Invalid request", "bad from", "from")
				return
			}
		}
		limit, _ := strconv.Atoi(q.Get("limit"))
		var evs []cloudevent.Event
		for o := from; o < sizes[p] && len(evs) < min(limit, pageCap); o++ {
			evs = append(evs, storedEvent(p, o))
		}
		body, _ := cloudevent.MarshalBatchJSON(evs)
		w.Header().Set("Content-Type", cloudevent.ContentTypeBatchJSON)
		w.Write(body)
	})
	return f
}

// eventQueries lists the query strings of the GET /events requests.
func eventQueries(f *fakeServer) []string {
	var qs []string
	for _, r := range f.requests() {
		if strings.HasSuffix(r.Path, "/events") {
			q, _ := url.ParseQuery(r.Query)
			qs = append(qs, fmt.Sprintf("p%s from=%s limit=%s", q.Get("partition"), q.Get("from"), q.Get("limit")))
		}
	}
	return qs
}

func TestTailStored(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		sizes     []int
		pageCap   int
		args      []string
		wantLines []string // position of each printed event
		wantReqs  []string
	}{
		{"every partition in order", []int{2, 1}, 1000, nil,
			[]string{"0/0", "0/1", "1/0"},
			[]string{"p0 from=earliest limit=1000", "p1 from=earliest limit=1000"}},
		{"pages continue after the last offset", []int{5}, 2, nil,
			[]string{"0/0", "0/1", "0/2", "0/3", "0/4"},
			[]string{"p0 from=earliest limit=1000", "p0 from=2 limit=1000", "p0 from=4 limit=1000"}},
		{"limit across partitions", []int{2, 2}, 1000, []string{"--limit", "3"},
			[]string{"0/0", "0/1", "1/0"},
			[]string{"p0 from=earliest limit=3", "p1 from=earliest limit=1"}},
		{"one partition from an offset", []int{3, 3}, 1000, []string{"--partition", "1", "--from", "1"},
			[]string{"1/1", "1/2"},
			[]string{"p1 from=1 limit=1000"}},
		{"empty partition", []int{0, 1}, 1000, nil,
			[]string{"1/0"},
			[]string{"p0 from=earliest limit=1000", "p1 from=earliest limit=1000"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newReadServer(t, tt.sizes, tt.pageCap)
			r := runCLI(t, f.URL(), append([]string{"tail", "orders"}, tt.args...)...)
			wantCode(t, r, 0)
			lines := splitLines(r.stdout)
			if len(lines) != len(tt.wantLines) {
				t.Fatalf("printed:\n%s\nwant positions %v", r.stdout, tt.wantLines)
			}
			for i, line := range lines {
				fields := strings.Split(line, "  ")
				if fields[1] != tt.wantLines[i] {
					t.Errorf("line %d %q: position %q, want %q", i, line, fields[1], tt.wantLines[i])
				}
			}
			if got := eventQueries(f); strings.Join(got, "; ") != strings.Join(tt.wantReqs, "; ") {
				t.Errorf("requests:\n got %v\nwant %v", got, tt.wantReqs)
			}
		})
	}
}

func TestTailLineFormat(t *testing.T) {
	t.Parallel()
	f := newReadServer(t, []int{1}, 1000)
	r := runCLI(t, f.URL(), "tail", "orders")
	wantCode(t, r, 0)
	want := "2026-11-24T12:00:00.000Z  0/0  OrderPlaced  eu/0  {\"n\":0}\n"
	if r.stdout != want {
		t.Errorf("got  %q\nwant %q", r.stdout, want)
	}
}

func TestTailJSONLines(t *testing.T) {
	t.Parallel()
	f := newReadServer(t, []int{2, 1}, 1000)
	r := runCLI(t, f.URL(), "tail", "orders", "--json")
	wantCode(t, r, 0)
	lines := splitLines(r.stdout)
	if len(lines) != 3 {
		t.Fatalf("want 3 JSON lines:\n%s", r.stdout)
	}
	for i, line := range lines {
		ev, err := cloudevent.ParseJSON([]byte(line))
		if err != nil {
			t.Fatalf("line %d is not a CloudEvent: %v", i, err)
		}
		want := storedEvent([]int{0, 0, 1}[i], []int{0, 1, 0}[i])
		if !ev.Equal(&want) {
			t.Errorf("line %d: %+v", i, ev)
		}
	}
}

func TestTailErrors(t *testing.T) {
	t.Parallel()
	f := newReadServer(t, []int{1, 1}, 1000)
	f.problemReply("GET /v1/topics/nope", 404, "Topic not found", `topic "nope" does not exist`, "topic")
	f.problemReply("GET /v1/topics/nope/events/stream", 404, "Topic not found", `topic "nope" does not exist`, "topic")
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"tail", "nope"}, `tail "nope": topic not found: topic "nope" does not exist (list topics with 'herald topics ls')`},
		{[]string{"tail", "nope", "--follow"}, `tail "nope": topic not found`},
		{[]string{"tail", "orders", "--partition", "2"}, "--partition 2: the topic has partitions 0 to 1"},
	}
	for _, tt := range tests {
		r := runCLI(t, f.URL(), tt.args...)
		wantCode(t, r, 1)
		wantOneLineError(t, r, tt.want)
	}
}

// sseServer serves GET /v1/topics/orders/events/stream: it sends the given
// events (with their SSE ids, a keepalive comment first), then holds the
// stream open until the client goes, or closes it when hold is false.
func sseServer(t *testing.T, events []cloudevent.Event, hold bool) *fakeServer {
	t.Helper()
	f := newFake(t)
	f.handle("GET /v1/topics/orders/events/stream", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(200)
		fmt.Fprint(w, ": keepalive\n\n")
		for _, ev := range events {
			b, _ := ev.MarshalJSON()
			fmt.Fprintf(w, "id: %s-%s\ndata: %s\n\n", ev.Extension("heraldpartition"), ev.Extension("heraldoffset"), b)
		}
		w.(http.Flusher).Flush()
		if hold {
			<-r.Context().Done()
		}
	})
	return f
}

// tail --follow prints events as they stream and stops cleanly, exit 0,
// when the context is cancelled (Ctrl-C).
func TestTailFollowUntilCancelled(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		opts cliOpts
		args []string
	}{
		{"--follow", cliOpts{}, []string{"--follow", "--json"}},
		{"following is the default on a terminal", cliOpts{terminal: true}, []string{"--json"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := sseServer(t, []cloudevent.Event{storedEvent(0, 7), storedEvent(1, 3)}, true)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			out := newSyncBuffer()
			tt.opts.ctx, tt.opts.url, tt.opts.stdout = ctx, f.URL(), out
			ch := runAsync(t, tt.opts, append([]string{"tail", "orders"}, tt.args...)...)
			lines := out.waitLines(t, 2)
			cancel()
			r := waitResult(t, ch)
			wantCode(t, r, 0)
			if r.stderr != "" {
				t.Errorf("stderr: %s", r.stderr)
			}
			for i, line := range lines {
				ev, err := cloudevent.ParseJSON([]byte(line))
				want := storedEvent([]int{0, 1}[i], []int{7, 3}[i])
				if err != nil || !ev.Equal(&want) {
					t.Errorf("line %d: %s (%v)", i, line, err)
				}
			}
			req := f.only(t)
			if req.Query != "from=latest" {
				t.Errorf("query %q, want from=latest (the default when following)", req.Query)
			}
		})
	}
}

func TestTailFollowLimitAndPosition(t *testing.T) {
	t.Parallel()
	// Without heraldpartition/offset the SSE id gives the position.
	ev := storedEvent(2, 9)
	delete(ev.Extensions, "heraldpartition")
	delete(ev.Extensions, "heraldoffset")
	f := newFake(t)
	f.handle("GET /v1/topics/orders/events/stream", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream; charset=utf-8")
		b, _ := ev.MarshalJSON()
		fmt.Fprintf(w, "id: 2-9\ndata: %s\n\nid: 2-10\ndata: %s\n\n", b, b)
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	})
	r := runCLI(t, f.URL(), "tail", "orders", "--follow", "--limit", "1", "--from", "earliest", "--partition", "2")
	wantCode(t, r, 0)
	lines := splitLines(r.stdout)
	if len(lines) != 1 || !strings.Contains(lines[0], "  2/9  OrderPlaced") {
		t.Errorf("output:\n%s", r.stdout)
	}
	if q := f.only(t).Query; q != "from=earliest&partition=2" {
		t.Errorf("query %q", q)
	}
}

func TestTailFollowServerCloses(t *testing.T) {
	t.Parallel()
	f := sseServer(t, []cloudevent.Event{storedEvent(0, 1)}, false)
	r := runCLI(t, f.URL(), "tail", "orders", "--follow")
	wantCode(t, r, 1)
	if len(splitLines(r.stdout)) != 1 {
		t.Errorf("stdout: %s", r.stdout)
	}
	wantOneLineError(t, r, `tail "orders": the server closed the stream`)
}

func TestTailFollowNotAStream(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	f.reply("GET /v1/topics/orders/events/stream", 200, `{}`)
	r := runCLI(t, f.URL(), "tail", "orders", "--follow")
	wantCode(t, r, 1)
	wantOneLineError(t, r, `answered with "application/json" instead of text/event-stream`)
}
