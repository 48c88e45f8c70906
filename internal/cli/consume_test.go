package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/cloudevent"
)

// billing creates topic orders (one partition) holding n events and the
// subscription billing from the earliest event, with cfg's ack timeout
// and retries after 1ms.
func (s *testServer) billing(n int, ackTimeout string) {
	s.t.Helper()
	s.ordersTopic(n)
	start, cfg := anyString("earliest"), SubscriptionConfig{Retry: &RetryPolicy{Delays: []string{"1ms"}}}
	cfg.Start = &start
	if ackTimeout != "" {
		cfg.AckTimeout = &ackTimeout
	}
	if _, _, err := s.api().CreateSubscription(context.Background(), "orders", "billing", cfg); err != nil {
		s.t.Fatal(err)
	}
}

// deliveries reads consume --json output as "id#attempt" per delivery.
func deliveries(t *testing.T, out string) []string {
	t.Helper()
	var got []string
	for _, line := range splitLines(out) {
		var d struct {
			Token    string          `json:"token"`
			Attempt  int             `json:"attempt"`
			Deadline time.Time       `json:"deadline"`
			Event    json.RawMessage `json:"event"`
		}
		wantJSON(t, line, &d)
		ev, err := cloudevent.ParseJSON(d.Event)
		if err != nil || d.Token == "" || d.Deadline.IsZero() {
			t.Fatalf("delivery line %s: token %q, deadline %v, event error %v", line, d.Token, d.Deadline, err)
		}
		got = append(got, fmt.Sprintf("%s#%d", ev.ID, d.Attempt))
	}
	return got
}

// consumeJSON runs consume orders billing --json with args and returns
// what it printed, as deliveries does.
func consumeJSON(t *testing.T, url string, args ...string) []string {
	t.Helper()
	r := runCLI(t, url, append([]string{"consume", "orders", "billing", "--json"}, args...)...)
	wantCode(t, r, 0)
	return deliveries(t, r.stdout)
}

func TestConsume(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		queued int
		args   []string
		want   []string // delivered by the run
		then   []string // the args of a second run, which shows what the first left
		after  []string // and what that second run delivers
	}{
		{"count stops and acks what was printed", 3, []string{"--count", "2"}, []string{"e-0-0#1", "e-0-1#1"},
			[]string{"--drain", "--wait", "0s"}, []string{"e-0-2#1"}},
		{"drain pulls until a pull waits in vain", 3, []string{"--drain", "--max", "2", "--wait", "100ms"},
			[]string{"e-0-0#1", "e-0-1#1", "e-0-2#1"}, []string{"--drain", "--wait", "0s"}, nil},
		{"--ack none leaves deliveries leased", 2, []string{"--drain", "--wait", "0s", "--ack", "none"},
			[]string{"e-0-0#1", "e-0-1#1"}, []string{"--drain", "--wait", "0s"}, nil},
		{"--ack nack: delivered again", 1, []string{"--count", "1", "--ack", "nack"}, []string{"e-0-0#1"},
			[]string{"--count", "1", "--wait", "10s"}, []string{"e-0-0#2"}},
		{"--ack reject: not delivered again", 1, []string{"--count", "1", "--ack", "reject"}, []string{"e-0-0#1"},
			[]string{"--drain", "--wait", "0s"}, nil},
		{"--ack auto is ack", 1, []string{"--count", "1", "--ack", "auto"}, []string{"e-0-0#1"},
			[]string{"--drain", "--wait", "0s"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := startServer(t)
			s.billing(tt.queued, "")
			if got := consumeJSON(t, s.url, tt.args...); fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Fatalf("delivered %v, want %v", got, tt.want)
			}
			if got := consumeJSON(t, s.url, tt.then...); fmt.Sprint(got) != fmt.Sprint(tt.after) {
				t.Fatalf("then delivered %v, want %v", got, tt.after)
			}
		})
	}
}

// What each --ack mode leaves on the server: leases, dead letters.
func TestConsumeSettles(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	s.billing(3, "")
	consumeJSON(t, s.url, "--count", "2", "--ack", "none")
	consumeJSON(t, s.url, "--count", "1", "--ack", "reject")
	sub, err := s.api().Subscription(context.Background(), "orders", "billing")
	if err != nil {
		t.Fatal(err)
	}
	if sub.Stats.InFlight != 2 || sub.Stats.DeadLettered != 1 {
		t.Errorf("stats %+v: want the 2 peeked deliveries in flight and 1 dead letter", sub.Stats)
	}
	dls, _, err := s.api().DeadLetters(context.Background(), "orders", "billing", 0, 10)
	if err != nil || len(dls) != 1 || dls[0].Event.ID != "e-0-2" || !strings.Contains(dls[0].Reason, "rejected with herald consume") {
		t.Errorf("dead letters %+v (%v), want e-0-2 rejected with herald consume", dls, err)
	}
}

func TestConsumeOutput(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	s.billing(1, "")
	// Two nacks: the third delivery is attempt 3.
	for range 2 {
		consumeJSON(t, s.url, "--count", "1", "--wait", "10s", "--ack", "nack")
	}
	r := runCLI(t, s.url, "consume", "orders", "billing", "--count", "1", "--wait", "10s", "--ack", "none")
	wantCode(t, r, 0)
	want := regexp.MustCompile(`^\S+Z  0/0  OrderPlaced  eu/0  \{"n":0\}  \(attempt 3\)\n$`)
	if !want.MatchString(r.stdout) {
		t.Errorf("got %q, want it to match %s", r.stdout, want)
	}

	s.publish(0, 1, 1) // e-0-1; e-0-0 stays leased
	r = runCLI(t, s.url, "consume", "orders", "billing", "--count", "1", "--json")
	wantCode(t, r, 0)
	var d struct {
		Token   string          `json:"token"`
		Attempt int             `json:"attempt"`
		Event   json.RawMessage `json:"event"`
	}
	wantJSON(t, strings.TrimSpace(r.stdout), &d)
	ev, err := cloudevent.ParseJSON(d.Event)
	if err != nil || d.Token == "" || d.Attempt != 1 || ev.ID != "e-0-1" || ev.Extension(cloudevent.ExtHeraldAttempt) != "1" ||
		ev.Extension(cloudevent.ExtHeraldOffset) != "1" {
		t.Errorf("JSON line %s (%v)", r.stdout, err)
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
	s := startServer(t)
	s.billing(2, "")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := &cancelOnWrite{cancel: cancel}
	r := runOpts(t, cliOpts{ctx: ctx, url: s.url, stdout: out}, "consume", "orders", "billing")
	wantCode(t, r, 0)
	if n := len(splitLines(out.buf.String())); n != 2 {
		t.Fatalf("printed %d deliveries, want both of the pull", n)
	}
	if got := consumeJSON(t, s.url, "--drain", "--wait", "0s"); len(got) != 0 {
		t.Fatalf("after the interrupt %v were delivered again: the printed ones were not acked", got)
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
	s := startServer(t)
	s.billing(3, "200ms")
	r := runOpts(t, cliOpts{url: s.url, stdout: &failAfter{n: 1}}, "consume", "orders", "billing")
	wantCode(t, r, 1)
	wantOneLineError(t, r, "broken pipe")
	// The two deliveries not printed were left leased: they come again
	// when their leases end. The printed one was acked.
	got := consumeJSON(t, s.url, "--count", "2", "--wait", "10s")
	if sort.Strings(got); fmt.Sprint(got) != "[e-0-1#2 e-0-2#2]" {
		t.Fatalf("then delivered %v, want the two unprinted ones, second attempts", got)
	}
}

// hookWriter is a stdout that runs hook once, before the first write:
// something happens between printing a delivery and settling it.
type hookWriter struct {
	once sync.Once
	hook func()
	syncBuffer
}

func (h *hookWriter) Write(p []byte) (int, error) {
	h.once.Do(h.hook)
	return h.syncBuffer.Write(p)
}

func TestConsumeSettleProblems(t *testing.T) {
	t.Parallel()
	t.Run("a lease that ended is a warning", func(t *testing.T) {
		t.Parallel()
		s := startServer(t)
		s.billing(1, "50ms")
		// Before the print, another consumer takes the delivery over once
		// the lease ends.
		out := &hookWriter{hook: func() {
			c, err := herald.Dial(context.Background(), s.url)
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
			defer cancel()
			if ms, err := c.Fetch(ctx, "orders", "billing", "other", 1); err != nil || len(ms) != 1 {
				t.Errorf("the other consumer fetched %d (%v)", len(ms), err)
			}
		}}
		r := runOpts(t, cliOpts{url: s.url, stdout: out}, "consume", "orders", "billing", "--count", "1", "--consumer", "c1")
		wantCode(t, r, 0)
		wantContains(t, "stderr", r.stderr, "herald: warning: ack of delivery ", "(it may be delivered again)")
	})
	t.Run("a failed ack is an error", func(t *testing.T) {
		t.Parallel()
		s := startServer(t)
		s.billing(1, "")
		out := &hookWriter{hook: func() {
			if err := s.api().DeleteSubscription(context.Background(), "orders", "billing"); err != nil {
				t.Error(err)
			}
		}}
		r := runOpts(t, cliOpts{url: s.url, stdout: out}, "consume", "orders", "billing", "--count", "1")
		wantCode(t, r, 1)
		wantOneLineError(t, r, `ack 1 deliveries (they will be delivered again after the ack timeout): subscription not found`)
	})
	t.Run("errors before any delivery", func(t *testing.T) {
		t.Parallel()
		s := startServer(t)
		s.billing(0, "")
		tests := []struct {
			url  string
			args []string
			want []string
		}{
			{s.url, []string{"consume", "orders", "nope"}, []string{`pull from subscription "nope" of "orders": subscription not found`,
				"(list subscriptions with 'herald subs ls orders')"}},
			{s.url, []string{"consume", "gone", "billing"}, []string{`pull from subscription "billing" of "gone"`,
				"(list topics with 'herald topics ls')"}},
			{refusedURL(t), []string{"consume", "orders", "billing"}, []string{`pull from subscription "billing" of "orders": the server is not reachable at`}},
		}
		for _, tt := range tests {
			r := runCLI(t, tt.url, tt.args...)
			wantCode(t, r, 1)
			wantOneLineError(t, r, tt.want...)
		}
	})
}
