package cli

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/cloudevent"
)

// positions returns the partition/offset column of tail's lines.
func positions(t *testing.T, out string) []string {
	t.Helper()
	var got []string
	for _, line := range splitLines(out) {
		fields := strings.Split(line, "  ")
		if len(fields) < 2 {
			t.Fatalf("line %q has no position", line)
		}
		got = append(got, fields[1])
	}
	return got
}

func TestTailStored(t *testing.T) {
	t.Parallel()
	long := make([]string, 1200) // more than one read of the SDK
	for i := range long {
		long[i] = fmt.Sprintf("0/%d", i)
	}
	tests := []struct {
		name  string
		sizes []int
		args  []string
		want  []string // position of each printed event
	}{
		{"every partition in order", []int{2, 1}, nil, []string{"0/0", "0/1", "1/0"}},
		{"reads continue to the end", []int{1200}, nil, long},
		{"limit across partitions", []int{2, 2}, []string{"--limit", "3"}, []string{"0/0", "0/1", "1/0"}},
		{"one partition from an offset", []int{3, 3}, []string{"--partition", "1", "--from", "1"}, []string{"1/1", "1/2"}},
		{"an offset applies to every partition", []int{3, 2}, []string{"--from", "1"}, []string{"0/1", "0/2", "1/1"}},
		{"a time after everything reads nothing", []int{2}, []string{"--from", "2200-01-01T00:00:00Z"}, nil},
		{"empty partition", []int{0, 1}, nil, []string{"1/0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := startServer(t)
			s.ordersTopic(tt.sizes...)
			r := runCLI(t, s.url, append([]string{"tail", "orders"}, tt.args...)...)
			wantCode(t, r, 0)
			if got := positions(t, r.stdout); fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Fatalf("printed:\n%s\nwant positions %v", r.stdout, tt.want)
			}
		})
	}
}

func TestTailLineFormat(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	s.ordersTopic(1)
	r := runCLI(t, s.url, "tail", "orders")
	wantCode(t, r, 0)
	want := regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z  0/0  OrderPlaced  eu/0  \{"n":0\}\n$`)
	if !want.MatchString(r.stdout) {
		t.Errorf("got %q, want it to match %s", r.stdout, want)
	}
}

func TestTailJSONLines(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	s.ordersTopic(2, 1)
	r := runCLI(t, s.url, "tail", "orders", "--json")
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
		p, n := []int{0, 0, 1}[i], []int{0, 1, 0}[i]
		want := orderEvent(p, n, 2)
		got := ev
		got.Extensions = map[string]string{"partitionkey": ev.Extension("partitionkey")}
		if !got.Equal(&want) {
			t.Errorf("line %d: %+v, want %+v", i, got, want)
		}
		if ev.Extension(cloudevent.ExtHeraldTopic) != "orders" || ev.Extension(cloudevent.ExtHeraldPartition) != fmt.Sprint(p) ||
			ev.Extension(cloudevent.ExtHeraldOffset) != fmt.Sprint(n) || ev.Extension(cloudevent.ExtHeraldTime) == "" ||
			ev.Extension(cloudevent.ExtHeraldAttempt) != "" {
			t.Errorf("line %d: herald extensions %v", i, ev.Extensions)
		}
	}
}

func TestTailErrors(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	s.ordersTopic(1, 1)
	notHerald := newFake(t) // answers 404 to the stream upgrade
	tests := []struct {
		name string
		url  string
		args []string
		want []string
	}{
		{"missing topic", s.url, []string{"tail", "nope"},
			[]string{`tail "nope": topic not found: "nope"`, "(list topics with 'herald topics ls')"}},
		{"missing topic, following", s.url, []string{"tail", "nope", "--follow"}, []string{`tail "nope": topic not found`}},
		{"partition the topic lacks", s.url, []string{"tail", "orders", "--partition", "2"},
			[]string{`tail "orders": invalid partition: topic "orders" has partitions 0 to 1, not 2`}},
		{"no server", refusedURL(t), []string{"tail", "orders"}, []string{`tail "orders": the server is not reachable at`, "herald serve"}},
		{"not a Herald server", notHerald.URL(), []string{"tail", "orders", "--follow"},
			[]string{`tail "orders": cannot open a stream to ` + notHerald.URL(), "404", "is this a Herald server"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runCLI(t, tt.url, tt.args...)
			wantCode(t, r, 1)
			wantOneLineError(t, r, tt.want...)
		})
	}
}

// A server that opens a stream and then never answers is given up on
// after --timeout, as the HTTP commands are: tail's first call (the
// topic's partitions) takes no context, so the SDK's call timeout must be
// --timeout.
func TestStreamingCommandsTimeOut(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	f.handle("GET /v1/stream", func(w http.ResponseWriter, r *http.Request) {
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		defer conn.Close()
		brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: herald-stream/1\r\n\r\n")
		brw.Flush()
		io.Copy(io.Discard, conn) // reads every request, answers none
	})
	for _, args := range [][]string{
		{"tail", "orders"},
		{"tail", "orders", "--follow"},
		{"consume", "orders", "billing"},
		{"consume", "orders", "billing", "--wait", "100ms"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			start := time.Now()
			r := runCLI(t, f.URL(), append(args, "--timeout", "200ms")...)
			wantCode(t, r, 1)
			wantOneLineError(t, r, "no answer from "+f.URL()+" within 200ms", "raise --timeout")
			if took := time.Since(start); took > 5*time.Second {
				t.Errorf("took %v to give up, with --timeout 200ms", took)
			}
		})
	}
}

// tail --follow prints events as they are published and stops cleanly,
// exit 0, when the context is cancelled (Ctrl-C).
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
			s := startServer(t)
			s.ordersTopic(1) // stored before the tail: not printed, it starts at the latest
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			out := newSyncBuffer()
			tt.opts.ctx, tt.opts.url, tt.opts.stdout = ctx, s.url, out
			ch := runAsync(t, tt.opts, append([]string{"tail", "orders"}, tt.args...)...)
			// The tail opens at some point: publish until it prints.
			api := s.api()
			published := make(chan error, 1)
			go func() {
				var err error
				for n := 1; err == nil && ctx.Err() == nil && out.String() == ""; n++ {
					_, err = api.Publish(context.Background(), "orders", []cloudevent.Event{orderEvent(0, n, 1)})
				}
				published <- err
			}()
			lines := out.waitLines(t, 1)
			cancel()
			select {
			case err := <-published:
				if err != nil {
					t.Fatal(err)
				}
			case <-time.After(waitLimit):
				t.Fatal("the publisher did not stop")
			}
			r := waitResult(t, ch)
			wantCode(t, r, 0)
			if r.stderr != "" {
				t.Errorf("stderr: %s", r.stderr)
			}
			ev, err := cloudevent.ParseJSON([]byte(lines[0]))
			if err != nil || ev.ID == "e-0-0" {
				t.Errorf("first line %s (%v): want an event published after the tail started", lines[0], err)
			}
		})
	}
}

func TestTailFollowLimitAndPosition(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	s.ordersTopic(2, 2)
	r := runCLI(t, s.url, "tail", "orders", "--follow", "--limit", "1", "--from", "1", "--partition", "1")
	wantCode(t, r, 0)
	lines := splitLines(r.stdout)
	if len(lines) != 1 || !strings.Contains(lines[0], "  1/1  OrderPlaced") {
		t.Errorf("output:\n%s", r.stdout)
	}
}

// A following tail whose server goes away says so, and how to resume.
func TestTailFollowServerStops(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	s.ordersTopic(1)
	out := newSyncBuffer()
	ch := runAsync(t, cliOpts{url: s.url, stdout: out}, "tail", "orders", "--follow", "--from", "earliest")
	out.waitLines(t, 1) // the tail is open
	s.stop()
	r := waitResult(t, ch)
	wantCode(t, r, 1)
	if len(splitLines(out.String())) != 1 {
		t.Errorf("stdout: %s", out)
	}
	wantOneLineError(t, r, `tail "orders": lost the connection to the server`, "tail again with --from to resume")
}
