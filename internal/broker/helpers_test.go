package broker

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/cloudevent"
	"github.com/heraldhq/herald/internal/commitlog"
)

// TestMain fails the run if any test leaves a broker goroutine behind.
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		if leaked := waitNoHeraldGoroutines(5 * time.Second); leaked != "" {
			fmt.Fprintf(os.Stderr, "goroutines leaked by the tests:\n%s\n", leaked)
			code = 1
		}
	}
	os.Exit(code)
}

// heraldGoroutines returns the stacks of goroutines running Herald code
// other than the caller's.
func heraldGoroutines() string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var out []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "heraldhq/herald/internal/") && !strings.Contains(g, "heraldGoroutines") &&
			!strings.Contains(g, "testing.tRunner") && !strings.Contains(g, "TestMain") {
			out = append(out, g)
		}
	}
	return strings.Join(out, "\n\n")
}

// waitNoHeraldGoroutines waits, up to timeout, for Herald goroutines to
// exit. A goroutine that has signalled it is done may still be returning,
// and there is no event to wait on for that, so this polls the scheduler.
func waitNoHeraldGoroutines(timeout time.Duration) string {
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		leaked := heraldGoroutines()
		if leaked == "" || time.Now().After(deadline) {
			return leaked
		}
		<-tick.C
	}
}

// fakeClock is a clock tests move by hand.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// tb is what env needs from a test: *testing.T, *testing.B and *rapid.T.
type tb interface {
	Helper()
	Fatalf(format string, args ...any)
}

// env is a broker on a directory with a fake clock, reopenable.
type env struct {
	t     tb
	dir   string
	clock *fakeClock
	cfg   Config
	b     *Broker
	// parked receives a value each time a Fetch starts waiting.
	parked chan struct{}
}

func newEnv(t testing.TB, tweak ...func(*Config)) *env {
	t.Helper()
	e := &env{t: t, dir: t.TempDir(), clock: newFakeClock()}
	e.cfg = Config{DataDir: e.dir, Now: e.clock.Now, Sync: commitlog.SyncAlways}
	for _, f := range tweak {
		f(&e.cfg)
	}
	e.open()
	t.Cleanup(func() {
		if e.b != nil {
			e.b.Close()
		}
	})
	return e
}

func (e *env) open() {
	e.t.Helper()
	b, err := Open(e.cfg)
	if err != nil {
		e.t.Fatalf("Open: %v", err)
	}
	if e.parked == nil {
		e.parked = make(chan struct{}, 64)
	}
	parked := e.parked
	b.parkHook = func() {
		select {
		case parked <- struct{}{}:
		default:
		}
	}
	e.b = b
}

// waitParked blocks until a Fetch is waiting (long poll), or fails the test
// after a deadline.
func (e *env) waitParked() {
	e.t.Helper()
	select {
	case <-e.parked:
	case <-time.After(10 * time.Second):
		e.t.Fatalf("no Fetch started waiting")
	}
}

// restart closes the broker and opens it again on the same directory.
func (e *env) restart() {
	e.t.Helper()
	if err := e.b.Close(); err != nil {
		e.t.Fatalf("Close: %v", err)
	}
	e.b = nil
	e.open()
}

func (e *env) createTopic(name string, cfg TopicConfig) {
	e.t.Helper()
	if _, err := e.b.CreateTopic(context.Background(), name, cfg); err != nil {
		e.t.Fatalf("CreateTopic(%q): %v", name, err)
	}
}

func (e *env) createSub(topic, name string, cfg SubscriptionConfig) {
	e.t.Helper()
	if _, err := e.b.CreateSubscription(context.Background(), topic, name, cfg); err != nil {
		e.t.Fatalf("CreateSubscription(%q, %q): %v", topic, name, err)
	}
}

func (e *env) publish(topic string, events ...cloudevent.Event) []PublishResult {
	e.t.Helper()
	res, err := e.b.Publish(context.Background(), topic, events)
	if err != nil {
		e.t.Fatalf("Publish: %v", err)
	}
	return res
}

// poll fetches without waiting: what is ready now, possibly nothing.
func (e *env) poll(topic, sub, consumer string, max int) []Delivery {
	e.t.Helper()
	ds, err := e.b.Fetch(doneCtx(), topic, sub, consumer, max)
	if err != nil && !errors.Is(err, context.Canceled) {
		e.t.Fatalf("Fetch(%s/%s, %s): %v", topic, sub, consumer, err)
	}
	return ds
}

func (e *env) ack(topic, sub string, ds ...Delivery) {
	e.t.Helper()
	for _, d := range ds {
		if err := e.b.Ack(context.Background(), topic, sub, d.Token); err != nil {
			e.t.Fatalf("Ack(%s): %v", d.Token, err)
		}
	}
}

// doneCtx is an already-cancelled context: Fetch with it is a poll.
func doneCtx() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}

// ev builds a valid event; opts set extensions as key=value.
func ev(id string, opts ...string) cloudevent.Event {
	e := cloudevent.Event{ID: id, Source: "/test", SpecVersion: "1.0", Type: "test.event", Data: []byte(id)}
	for _, o := range opts {
		k, v, _ := strings.Cut(o, "=")
		switch k {
		case "type":
			e.Type = v
		case "subject":
			e.Subject = v
		case "source":
			e.Source = v
		default:
			if e.Extensions == nil {
				e.Extensions = map[string]string{}
			}
			e.Extensions[k] = v
		}
	}
	return e
}

func ids(ds []Delivery) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.Event.Event.ID
	}
	return out
}
