package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald"
)

// embedded connects every caller to one in-process client (a data
// directory is opened once), and counts the connections asked for.
func embedded(t *testing.T) Connect {
	t.Helper()
	c, _ := embeddedCounting(t)
	return c
}

func embeddedCounting(t *testing.T) (Connect, *atomic.Int32) {
	t.Helper()
	return embeddedIn(t, t.TempDir())
}

// embeddedIn is embeddedCounting on the data directory dir.
func embeddedIn(t *testing.T, dir string) (Connect, *atomic.Int32) {
	t.Helper()
	var (
		once   sync.Once
		client *herald.Client
		err    error
		calls  atomic.Int32
	)
	return func(ctx context.Context, cfg Config) (*herald.Client, error) {
		calls.Add(1)
		once.Do(func() { client, err = herald.Open(dir, herald.WithBatching(cfg.Batch, 8<<20, time.Millisecond)) })
		return client, err
	}, &calls
}

// Over the network every producer and every subscription has its own
// connection, as the peers' do in bench/ (the consume backlog is written
// with the first).
func TestEveryProducerAndSubscriptionConnects(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want int32
	}{
		{[]string{"publish", "--events", "300", "--producers", "3"}, 3},
		{[]string{"publish", "--events", "300", "--subscriptions", "4"}, 5},
		{[]string{"e2e", "--events", "100", "--rate", "5000", "--producers", "2"}, 3},
		{[]string{"consume", "--events", "100", "--producers", "3"}, 2},
	} {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			connect, calls := embeddedCounting(t)
			var out, errb bytes.Buffer
			if code := Main(context.Background(), append(tt.args, "--json"), connect, &out, &errb, nil); code != 0 {
				t.Fatalf("exit %d: %s", code, errb.String())
			}
			if got := calls.Load(); got != tt.want {
				t.Fatalf("connected %d times, want %d", got, tt.want)
			}
		})
	}
}

// Each mode runs to completion and reports a summary whose counts match
// what was asked, with the JSON keys the comparison harness reads.
func TestModes(t *testing.T) {
	tests := []struct {
		args []string
		want func(Summary) bool
	}{
		{[]string{"publish", "--events", "2000", "--producers", "2", "--batch", "100"},
			func(s Summary) bool { return s.Events == 2000 && s.EventsPerSec > 0 && s.P50us > 0 }},
		{[]string{"publish", "--events", "50", "--sync"},
			func(s Summary) bool { return s.Events == 50 && s.P50us > 0 }},
		{[]string{"publish", "--events", "500", "--subscriptions", "3", "--warmup", "100"},
			func(s Summary) bool {
				// With subscriptions the latency is publish-to-delivery
				// (stamped events, as bench/ row 5's peers), split in two
				// legs as e2e's is.
				return s.Events == 1500 && s.PublishEventsPerSec > 0 && s.P50us > 0 &&
					s.PublishLegP50us > 0 && s.PublishLegP50us <= s.P50us &&
					s.DeliveryLegP50us > 0 && s.DeliveryLegP50us <= s.P50us && s.DeliveryLegP99us <= s.P99us
			}},
		{[]string{"consume", "--events", "1000", "--consumers", "8"},
			func(s Summary) bool { return s.Events == 1000 && s.EventsPerSec > 0 }},
		{[]string{"e2e", "--events", "500", "--rate", "5000"},
			func(s Summary) bool {
				// Each event's two legs add up to its latency, so neither
				// leg's percentile can exceed the whole's.
				return s.Events == 500 && s.P50us > 0 && s.P999us >= s.P50us &&
					s.PublishLegP50us > 0 && s.PublishLegP50us <= s.P50us && s.PublishLegP99us <= s.P99us &&
					s.DeliveryLegP50us > 0 && s.DeliveryLegP50us <= s.P50us && s.DeliveryLegP99us <= s.P99us
			}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var out, errb bytes.Buffer
			code := Main(context.Background(), append(tt.args, "--json"), embedded(t), &out, &errb, nil)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errb.String())
			}
			lines := strings.Split(strings.TrimSpace(out.String()), "\n")
			var raw map[string]any
			if err := json.Unmarshal([]byte(lines[len(lines)-1]), &raw); err != nil {
				t.Fatalf("last line is not JSON: %v\n%s", err, out.String())
			}
			for _, k := range []string{"events_per_sec", "mib_per_sec", "p50_us", "p90_us", "p99_us", "p999_us"} {
				if _, ok := raw[k]; !ok {
					t.Fatalf("summary lacks %s: %s", k, lines[len(lines)-1])
				}
			}
			var s Summary
			json.Unmarshal([]byte(lines[len(lines)-1]), &s)
			if !tt.want(s) {
				t.Fatalf("summary %+v", s)
			}
		})
	}
}

// With --warmup, every mode sends the warm-up events too (the topic holds
// them) but counts only --events in its summary, as bench/ measures the
// peers.
func TestWarmupIsSentButNotMeasured(t *testing.T) {
	const warm, events = 300, 700
	tests := []struct {
		args     []string
		measured int64 // the summary's events
	}{
		{[]string{"publish", "--producers", "2", "--batch", "50"}, events},
		{[]string{"publish", "--sync"}, events},
		{[]string{"publish", "--subscriptions", "3", "--batch", "50"}, 3 * events},
		{[]string{"consume", "--batch", "50"}, events},
		{[]string{"e2e", "--rate", "20000"}, events},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			dir := t.TempDir()
			connect, _ := embeddedIn(t, dir)
			args := append(tt.args, "--topic", "warm", "--partitions", "1",
				"--events", strconv.Itoa(events), "--warmup", strconv.Itoa(warm), "--json")
			var out, errb bytes.Buffer
			if code := Main(context.Background(), args, connect, &out, &errb, nil); code != 0 {
				t.Fatalf("exit %d: %s", code, errb.String())
			}
			var s Summary
			if err := json.Unmarshal(out.Bytes(), &s); err != nil {
				t.Fatalf("summary: %v: %s", err, out.String())
			}
			if s.Events != tt.measured || s.EventsPerSec <= 0 {
				t.Fatalf("summary counts %d events at %.0f/s, want %d measured", s.Events, s.EventsPerSec, tt.measured)
			}
			if got := storedEvents(t, dir, "warm"); got != warm+events {
				t.Fatalf("the topic holds %d events, want %d warm-up + %d measured", got, warm, events)
			}
		})
	}
}

// storedEvents counts the events of topic in the data directory dir.
func storedEvents(t *testing.T, dir, topic string) int {
	t.Helper()
	c, err := herald.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	n := 0
	if err := c.Replay(context.Background(), topic, time.Time{}, func(*herald.Message) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestBadArgs(t *testing.T) {
	for _, args := range [][]string{nil, {"fly"}, {"e2e"}, {"publish", "--size", "-1"}, {"publish", "--producers", "0"}, {"publish", "--warmup", "-1"}, {"publish", "extra"}} {
		var out, errb bytes.Buffer
		if code := Main(context.Background(), args, embedded(t), &out, &errb, nil); code != 2 || errb.Len() == 0 {
			t.Errorf("herald bench %v: exit %d, stderr %q; want 2 and a reason", args, code, errb.String())
		}
	}
}

// TestHelpIsAnAnswer: asked for, the usage goes to stdout and the exit
// status is 0; after a mistake it goes to stderr with the error, status 2.
func TestHelpIsAnAnswer(t *testing.T) {
	for _, tt := range []struct {
		args       []string
		code       int
		wantStdout string // in stdout; stderr then empty
		wantStderr string // in stderr; stdout then empty
	}{
		{[]string{"--help"}, 0, "usage: herald bench publish|consume|e2e", ""},
		{[]string{"help"}, 0, "usage: herald bench publish|consume|e2e", ""},
		{[]string{"publish", "--help"}, 0, "usage: herald bench publish [flags]", ""},
		{[]string{"e2e", "-h"}, 0, "-rate", ""},
		{[]string{"publish", "--nope"}, 2, "", "flag provided but not defined: -nope"},
		{[]string{"consume", "--nope"}, 2, "", "usage: herald bench consume [flags]"},
		{nil, 2, "", "usage: herald bench publish|consume|e2e"},
	} {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var out, errb bytes.Buffer
			code := Main(context.Background(), tt.args, embedded(t), &out, &errb, nil)
			if code != tt.code {
				t.Fatalf("exit %d, want %d; stderr %q", code, tt.code, errb.String())
			}
			if tt.wantStdout != "" && (!strings.Contains(out.String(), tt.wantStdout) || errb.Len() > 0) {
				t.Errorf("stdout %q, stderr %q; want %q on stdout only", out.String(), errb.String(), tt.wantStdout)
			}
			if tt.wantStderr != "" && (!strings.Contains(errb.String(), tt.wantStderr) || out.Len() > 0) {
				t.Errorf("stdout %q, stderr %q; want %q on stderr only", out.String(), errb.String(), tt.wantStderr)
			}
		})
	}
}

// TestPrepareRunsOnlyForARun: the GC policy's start (prepare), which
// touches 16 MiB, is not paid for --help or a bad flag, and is undone
// once after a run.
func TestPrepareRunsOnlyForARun(t *testing.T) {
	for _, tt := range []struct {
		args []string
		code int
		runs int32
	}{
		{[]string{"publish", "--help"}, 0, 0},
		{[]string{"publish", "--size", "-1"}, 2, 0},
		{nil, 2, 0},
		{[]string{"publish", "--events", "10", "--json"}, 0, 1},
	} {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var prepared, done atomic.Int32
			prepare := func() func() {
				prepared.Add(1)
				return func() { done.Add(1) }
			}
			var out, errb bytes.Buffer
			if code := Main(context.Background(), tt.args, embedded(t), &out, &errb, prepare); code != tt.code {
				t.Fatalf("exit %d, want %d: %s", code, tt.code, errb.String())
			}
			if prepared.Load() != tt.runs || done.Load() != tt.runs {
				t.Fatalf("prepared %d times and done %d, want %d each", prepared.Load(), done.Load(), tt.runs)
			}
		})
	}
}

// TestSleep: the fixed-rate sender's sleep waits at least d (in the kernel
// for the last millisecond) and gives up when its context ends.
func TestSleep(t *testing.T) {
	for _, d := range []time.Duration{50 * time.Microsecond, 3 * time.Millisecond} {
		start := time.Now()
		if !sleep(context.Background(), d) {
			t.Fatalf("sleep(%v) reported a cancel", d)
		}
		if got := time.Since(start); got < d {
			t.Fatalf("sleep(%v) returned after %v", d, got)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if sleep(ctx, time.Hour) {
		t.Fatal("sleep with a cancelled context reported success")
	}
}

// TestSpareProcs: a fixed-rate run adds one P per sleeping producer and
// gives it back; an operator's GOMAXPROCS is left alone.
func TestSpareProcs(t *testing.T) {
	tests := []struct {
		env  string
		n    int
		want int // added during the run
	}{
		{"", 1, 1},
		{"", 4, 4},
		{"2", 4, 0},
		{"", 0, 0},
	}
	for _, tt := range tests {
		before := runtime.GOMAXPROCS(0)
		restore := spareProcs(tt.n, func(k string) string {
			if k == "GOMAXPROCS" {
				return tt.env
			}
			return ""
		})
		during := runtime.GOMAXPROCS(0)
		restore()
		if during != before+tt.want || runtime.GOMAXPROCS(0) != before {
			t.Errorf("GOMAXPROCS=%q, %d producers: %d before, %d during, %d after; want +%d during, back after",
				tt.env, tt.n, before, during, runtime.GOMAXPROCS(0), tt.want)
		}
	}
}
