package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
)

// consumeServer implements pull and the settle endpoints of one
// subscription, orders/billing. Pulls hand out the queued deliveries (at
// most max); once the queue is empty a pull answers an empty list, as a
// long poll does when its wait ends.
type consumeServer struct {
	*fakeServer
	mu    sync.Mutex
	queue []string // delivery JSON
}

func newConsumeServer(t *testing.T, n int, attempt int) *consumeServer {
	t.Helper()
	s := &consumeServer{fakeServer: newFake(t)}
	for i := range n {
		ev, _ := storedEvent(0, i).MarshalJSON()
		s.queue = append(s.queue, fmt.Sprintf(`{"token":"0-%d-%d","attempt":%d,"deadline":"2026-11-24T12:00:30Z","event":%s}`, i, attempt, attempt, ev))
	}
	s.handle("POST /v1/topics/orders/subscriptions/billing/pull", func(w http.ResponseWriter, r *http.Request) {
		var req pullRequest
		json.NewDecoder(r.Body).Decode(&req)
		s.mu.Lock()
		k := min(req.Max, len(s.queue))
		out := s.queue[:k]
		s.queue = s.queue[k:]
		s.mu.Unlock()
		writeJSONBody(w, 200, `{"deliveries":[`+strings.Join(out, ",")+`]}`)
	})
	for _, action := range []string{"ack", "nack", "reject"} {
		s.handle("POST /v1/topics/orders/subscriptions/billing/"+action, settleOK)
	}
	return s
}

// settleOK answers "ok" for every token.
func settleOK(w http.ResponseWriter, r *http.Request) {
	var req settleRequest
	json.NewDecoder(r.Body).Decode(&req)
	var results []string
	for _, tok := range req.Tokens {
		results = append(results, fmt.Sprintf(`{"token":%q,"status":"ok"}`, tok))
	}
	writeJSONBody(w, 200, `{"results":[`+strings.Join(results, ",")+`]}`)
}

// calls lists "path-suffix body" for the requests after /billing/.
func (s *consumeServer) calls() []string {
	var out []string
	for _, r := range s.requests() {
		_, action, _ := strings.Cut(r.Path, "/billing/")
		out = append(out, action+" "+string(r.Body))
	}
	return out
}

func TestConsume(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		queued    int
		args      []string
		wantCalls []string
		wantLines int
	}{
		{"count stops and acks what was printed", 3, []string{"--count", "2", "--consumer", "c1"},
			[]string{`pull {"max":2,"wait":"30s","consumer":"c1"}`, `ack {"tokens":["0-0-1","0-1-1"]}`}, 2},
		{"drain pulls until nothing comes", 3, []string{"--drain", "--max", "2", "--consumer", "c1", "--wait", "1s"},
			[]string{`pull {"max":2,"wait":"1s","consumer":"c1"}`, `ack {"tokens":["0-0-1","0-1-1"]}`,
				`pull {"max":2,"wait":"1s","consumer":"c1"}`, `ack {"tokens":["0-2-1"]}`,
				`pull {"max":2,"wait":"1s","consumer":"c1"}`}, 3},
		{"--ack none leaves deliveries leased", 2, []string{"--drain", "--ack", "none", "--consumer", "c1"},
			[]string{`pull {"max":10,"wait":"30s","consumer":"c1"}`, `pull {"max":10,"wait":"30s","consumer":"c1"}`}, 2},
		{"--ack nack", 1, []string{"--count", "1", "--ack", "nack", "--consumer", "c1"},
			[]string{`pull {"max":1,"wait":"30s","consumer":"c1"}`, `nack {"tokens":["0-0-1"],"error":"nacked with herald consume"}`}, 1},
		{"--ack reject", 1, []string{"--count", "1", "--ack", "reject", "--consumer", "c1"},
			[]string{`pull {"max":1,"wait":"30s","consumer":"c1"}`, `reject {"tokens":["0-0-1"],"reason":"rejected with herald consume"}`}, 1},
		{"--ack auto is ack", 1, []string{"--count", "1", "--ack", "auto", "--consumer", "c1"},
			[]string{`pull {"max":1,"wait":"30s","consumer":"c1"}`, `ack {"tokens":["0-0-1"]}`}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newConsumeServer(t, tt.queued, 1)
			r := runCLI(t, s.URL(), append([]string{"consume", "orders", "billing"}, tt.args...)...)
			wantCode(t, r, 0)
			if got := s.calls(); strings.Join(got, "\n") != strings.Join(tt.wantCalls, "\n") {
				t.Errorf("requests:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.wantCalls, "\n"))
			}
			if n := len(splitLines(r.stdout)); n != tt.wantLines {
				t.Errorf("%d lines printed, want %d:\n%s", n, tt.wantLines, r.stdout)
			}
			for _, req := range s.requests() {
				if req.Method != "POST" || req.ContentType != "application/json" {
					t.Errorf("%s %s (%s), want POST with JSON", req.Method, req.Path, req.ContentType)
				}
			}
		})
	}
}

func TestConsumeOutput(t *testing.T) {
	t.Parallel()
	s := newConsumeServer(t, 1, 3)
	r := runCLI(t, s.URL(), "consume", "orders", "billing", "--count", "1")
	wantCode(t, r, 0)
	want := "2026-11-24T12:00:00.000Z  0/0  OrderPlaced  eu/0  {\"n\":0}  (attempt 3)\n"
	if r.stdout != want {
		t.Errorf("got  %q\nwant %q", r.stdout, want)
	}

	s = newConsumeServer(t, 2, 1)
	r = runCLI(t, s.URL(), "consume", "orders", "billing", "--count", "2", "--json")
	wantCode(t, r, 0)
	lines := splitLines(r.stdout)
	if len(lines) != 2 {
		t.Fatalf("want 2 JSON lines:\n%s", r.stdout)
	}
	var d struct {
		Token   string          `json:"token"`
		Attempt int             `json:"attempt"`
		Event   json.RawMessage `json:"event"`
	}
	wantJSON(t, lines[1], &d)
	if d.Token != "0-1-1" || d.Attempt != 1 || !strings.Contains(string(d.Event), `"id":"e-0-1"`) {
		t.Errorf("JSON line: %s", lines[1])
	}
}

// cancelOnWrite is a stdout that cancels the command's context as soon as
// something is printed: the interrupt lands between printing and acking.
type cancelOnWrite struct {
	mu     sync.Mutex
	buf    strings.Builder
	cancel context.CancelFunc
}

func (c *cancelOnWrite) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cancel()
	return c.buf.Write(p)
}

func TestConsumeAcksPrintedWhenInterrupted(t *testing.T) {
	t.Parallel()
	s := newConsumeServer(t, 2, 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := &cancelOnWrite{cancel: cancel}
	r := runOpts(t, cliOpts{ctx: ctx, url: s.URL(), stdout: out}, "consume", "orders", "billing", "--consumer", "c1")
	wantCode(t, r, 0)
	want := []string{`pull {"max":10,"wait":"30s","consumer":"c1"}`, `ack {"tokens":["0-0-1","0-1-1"]}`}
	if got := s.calls(); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("requests:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// failAfter is a stdout that fails after n writes, like a closed pipe.
type failAfter struct{ n int }

func (f *failAfter) Write(p []byte) (int, error) {
	if f.n == 0 {
		return 0, errors.New("broken pipe")
	}
	f.n--
	return len(p), nil
}

func TestConsumeAcksOnlyPrinted(t *testing.T) {
	t.Parallel()
	s := newConsumeServer(t, 3, 1)
	r := runOpts(t, cliOpts{url: s.URL(), stdout: &failAfter{n: 1}}, "consume", "orders", "billing", "--consumer", "c1")
	wantCode(t, r, 1)
	wantOneLineError(t, r, "broken pipe")
	want := []string{`pull {"max":10,"wait":"30s","consumer":"c1"}`, `ack {"tokens":["0-0-1"]}`}
	if got := s.calls(); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("requests:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestConsumeSettleProblems(t *testing.T) {
	t.Parallel()
	t.Run("expired lease is a warning", func(t *testing.T) {
		t.Parallel()
		f := newFake(t)
		f.handle("POST /v1/topics/orders/subscriptions/billing/pull", func(w http.ResponseWriter, r *http.Request) {
			ev, _ := storedEvent(0, 0).MarshalJSON()
			writeJSONBody(w, 200, fmt.Sprintf(`{"deliveries":[{"token":"0-0-1","attempt":1,"deadline":"2026-11-24T12:00:30Z","event":%s}]}`, ev))
		})
		f.reply("POST /v1/topics/orders/subscriptions/billing/ack", 200, `{"results":[{"token":"0-0-1","status":"expired"}]}`)
		r := runCLI(t, f.URL(), "consume", "orders", "billing", "--count", "1")
		wantCode(t, r, 0)
		wantContains(t, "stderr", r.stderr, "herald: warning: ack of delivery 0-0-1: expired (it may be delivered again)")
	})
	t.Run("failed ack is an error", func(t *testing.T) {
		t.Parallel()
		f := newFake(t)
		f.handle("POST /v1/topics/orders/subscriptions/billing/pull", func(w http.ResponseWriter, r *http.Request) {
			ev, _ := storedEvent(0, 0).MarshalJSON()
			writeJSONBody(w, 200, fmt.Sprintf(`{"deliveries":[{"token":"0-0-1","attempt":1,"deadline":"2026-11-24T12:00:30Z","event":%s}]}`, ev))
		})
		f.problemReply("POST /v1/topics/orders/subscriptions/billing/ack", 409, "Unknown delivery token", "token 0-0-1 is stale", "tokens")
		r := runCLI(t, f.URL(), "consume", "orders", "billing", "--count", "1")
		wantCode(t, r, 1)
		wantOneLineError(t, r, `ack 1 deliveries (they will be delivered again after the ack timeout): unknown delivery token: field "tokens": token 0-0-1 is stale`)
	})
	t.Run("unknown subscription", func(t *testing.T) {
		t.Parallel()
		f := newFake(t)
		f.problemReply("POST /v1/topics/orders/subscriptions/billing/pull", 404, "Subscription not found", `subscription "billing" does not exist`, "subscription")
		r := runCLI(t, f.URL(), "consume", "orders", "billing")
		wantCode(t, r, 1)
		wantOneLineError(t, r, `pull from subscription "billing" of "orders": subscription not found`, "herald subs ls orders")
	})
}
