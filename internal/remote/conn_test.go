package remote

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/broker"
	"github.com/heraldhq/herald/internal/wire"
)

func TestManyConcurrentPublishesShareOneConnection(t *testing.T) {
	ts := startServer(t, t.TempDir(), "127.0.0.1:0")
	c := dial(t, ts.url)
	mustTopic(t, c, "t", broker.TopicConfig{})
	const workers, calls, batch = 32, 20, 4
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		offsets []int64
	)
	errs := make(chan error, workers)
	for range workers {
		wg.Go(func() {
			for range calls {
				events := newEvents(batch, 64)
				res, err := c.Publish(testCtx(t), "t", events)
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				for i, r := range res {
					if r.ID != events[i].ID || r.Duplicate {
						errs <- errors.New("result does not match its event: " + r.ID)
					}
					offsets = append(offsets, r.Offset)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	slices.Sort(offsets)
	for i, off := range offsets {
		if off != int64(i) {
			t.Fatalf("offsets are not 0..%d without gaps or repeats: offsets[%d] = %d", workers*calls*batch-1, i, off)
		}
	}
	if _, next, err := c.Offsets("t", 0); err != nil || next != workers*calls*batch {
		t.Fatalf("next offset %d (%v), want %d", next, err, workers*calls*batch)
	}
}

func TestServerShutdownEndsALongPollWithARetryableError(t *testing.T) {
	ts := startServer(t, t.TempDir(), "127.0.0.1:0")
	fetchSent := make(chan struct{})
	var once sync.Once
	p := startProxy(t, ts.addr, func(toServer bool, h wire.Header) bool {
		if toServer && h.Type == wire.TypeFetch {
			once.Do(func() { close(fetchSent) })
		}
		return false
	})
	c := dial(t, p.url())
	mustTopic(t, c, "t", broker.TopicConfig{})
	mustSub(t, c, "t", "s", broker.SubscriptionConfig{})
	done := make(chan error, 1)
	go func() {
		_, err := c.Fetch(context.Background(), "t", "s", "c1", 10)
		done <- err
	}()
	select {
	case <-fetchSent:
	case err := <-done:
		t.Fatalf("fetch returned before the server shut down: %v", err)
	case <-time.After(waitLimit):
		t.Fatal("the fetch never left the client")
	}
	ts.stop()
	select {
	case err := <-done:
		if !errors.Is(err, ErrConnectionLost) || !IsRetryable(err) {
			t.Fatalf("fetch during shutdown: %v, want a retryable ErrConnectionLost", err)
		}
		if errors.Is(err, broker.ErrClosed) {
			t.Fatalf("fetch during shutdown reads as a closed client: %v", err)
		}
	case <-time.After(waitLimit):
		t.Fatal("fetch still waiting after the server shut down")
	}
}

func TestALostPublishReplyIsMaybeStoredAndSafeToRetry(t *testing.T) {
	ts := startServer(t, t.TempDir(), "127.0.0.1:0")
	var cutOnce sync.Once
	p := startProxy(t, ts.addr, func(toServer bool, h wire.Header) bool {
		cut := false
		if !toServer && h.Type == wire.TypePublished {
			cutOnce.Do(func() { cut = true })
		}
		return cut
	})
	c := dial(t, p.url())
	ctx := testCtx(t)
	mustTopic(t, c, "t", broker.TopicConfig{})
	events := newEvents(3, 32)
	_, err := c.Publish(ctx, "t", events)
	var ce *ConnError
	if !errors.As(err, &ce) || !ce.MaybeApplied || !IsRetryable(err) || !strings.Contains(err.Error(), "deduplicates") {
		t.Fatalf("publish whose reply was lost: %v, want a retryable, maybe-applied ConnError that explains dedup", err)
	}
	res, err := c.Publish(ctx, "t", events)
	if err != nil {
		t.Fatalf("retry: %v", err)
	}
	for i, r := range res {
		if !r.Duplicate || r.Offset != int64(i) {
			t.Fatalf("retry result %d = %+v, want a duplicate of offset %d", i, r, i)
		}
	}
	if _, next, err := c.Offsets("t", 0); err != nil || next != 3 {
		t.Fatalf("next offset %d (%v): the retry stored a second copy", next, err)
	}
}

func TestReconnectsAfterTheServerRestarts(t *testing.T) {
	dir := t.TempDir()
	ts := startServer(t, dir, "127.0.0.1:0")
	c := dial(t, ts.url)
	ctx := testCtx(t)
	mustTopic(t, c, "t", broker.TopicConfig{})
	mustSub(t, c, "t", "s", broker.SubscriptionConfig{Start: broker.StartPosition{Kind: broker.StartEarliest}})
	if _, err := c.Publish(ctx, "t", newEvents(2, 16)); err != nil {
		t.Fatal(err)
	}
	leased := fetchN(t, c, "t", "s", 1)[0]

	ts.stop()
	// Calls fail, retryably, while the server is down; the first may find
	// its connection dead, the next ones find no server.
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	if _, err := c.Publish(short, "t", newEvents(1, 16)); !IsRetryable(err) || !errors.Is(err, ErrConnectionLost) {
		t.Fatalf("publish while the server is down: %v, want a retryable ErrConnectionLost", err)
	}

	restarted := startServer(t, dir, ts.addr)
	_ = restarted
	res, err := c.Publish(ctx, "t", newEvents(1, 16))
	if err != nil {
		t.Fatalf("publish after the restart: %v", err)
	}
	if res[0].Offset != 2 {
		t.Fatalf("offset %d after the restart, want 2", res[0].Offset)
	}
	// The lease taken before the restart is still held: ack it.
	if err := c.Ack(ctx, "t", "s", leased.Token); err != nil {
		t.Fatalf("ack of a lease taken before the restart: %v", err)
	}
	ds := fetchN(t, c, "t", "s", 2)
	for _, d := range ds {
		if d.Event.Event.ID == leased.Event.Event.ID {
			t.Fatalf("an acked event was delivered again: %s", d.Event.Event.ID)
		}
	}
}

func TestCallsWaitForAConnectionOnlyAsLongAsTheirContext(t *testing.T) {
	ts := startServer(t, t.TempDir(), "127.0.0.1:0")
	c := dial(t, ts.url)
	mustTopic(t, c, "t", broker.TopicConfig{})
	ts.stop()
	waitDead(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err := c.Publish(ctx, "t", newEvents(1, 8))
	if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, ErrConnectionLost) || !IsRetryable(err) {
		t.Fatalf("publish with no server: %v, want ErrConnectionLost wrapping DeadlineExceeded", err)
	}
	var ce *ConnError
	if !errors.As(err, &ce) || ce.MaybeApplied {
		t.Fatalf("a publish that found no connection says it may be applied: %+v", ce)
	}
	if !strings.Contains(err.Error(), ts.addr) {
		t.Errorf("error does not name the server: %v", err)
	}
}

func TestCloseFailsPendingAndLaterCalls(t *testing.T) {
	ts := startServer(t, t.TempDir(), "127.0.0.1:0")
	c := dial(t, ts.url)
	mustTopic(t, c, "t", broker.TopicConfig{})
	mustSub(t, c, "t", "s", broker.SubscriptionConfig{})
	started := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		close(started)
		_, err := c.Fetch(context.Background(), "t", "s", "c1", 1)
		done <- err
	}()
	<-started
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, broker.ErrClosed) || IsRetryable(err) {
			t.Fatalf("fetch pending at Close: %v, want broker.ErrClosed, not retryable", err)
		}
	case <-time.After(waitLimit):
		t.Fatal("fetch still waiting after Close")
	}
	if _, err := c.Publish(testCtx(t), "t", newEvents(1, 8)); !errors.Is(err, broker.ErrClosed) {
		t.Fatalf("publish after Close: %v, want broker.ErrClosed", err)
	}
	if err := c.Ack(testCtx(t), "t", "s", "0-0-1"); !errors.Is(err, broker.ErrClosed) {
		t.Fatalf("ack after Close: %v, want broker.ErrClosed", err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestDialErrorsSayWhatToDo(t *testing.T) {
	notHerald := httptest.NewServer(http.NotFoundHandler())
	defer notHerald.Close()
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	nobody := "http://" + closed.Addr().String()
	closed.Close()
	tests := []struct {
		name, url, want string
	}{
		{"not a URL", "://x", "give the server's HTTP address"},
		{"wrong scheme", "tcp://127.0.0.1:7070", "want http://host:port"},
		{"query", "http://127.0.0.1:7070/?x=1", "remove the query"},
		{"nothing listening", nobody, "is the server running"},
		{"not a Herald server", notHerald.URL, "is this a Herald server"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Dial(testCtx(t), tt.url, Options{})
			if err == nil {
				c.Close()
				t.Fatal("dial succeeded")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %q does not say %q", err, tt.want)
			}
		})
	}
}

func TestBackoffDoublesWithJitterUpToTheCap(t *testing.T) {
	minWait, maxWait := 50*time.Millisecond, time.Second
	tests := []struct {
		failures int
		ceiling  time.Duration
	}{
		{1, 50 * time.Millisecond},
		{2, 100 * time.Millisecond},
		{4, 400 * time.Millisecond},
		{5, 800 * time.Millisecond},
		{6, time.Second},
		{40, time.Second},
	}
	for _, tt := range tests {
		for range 100 {
			if d := backoff(minWait, maxWait, tt.failures); d < tt.ceiling/2 || d > tt.ceiling {
				t.Fatalf("backoff after %d failures = %v, want within [%v, %v]", tt.failures, d, tt.ceiling/2, tt.ceiling)
			}
		}
	}
}

func TestNoGoroutineOutlivesCloseAndShutdown(t *testing.T) {
	before := runtime.NumGoroutine()
	ts := startServer(t, t.TempDir(), "127.0.0.1:0")
	c := dial(t, ts.url)
	mustTopic(t, c, "t", broker.TopicConfig{})
	mustSub(t, c, "t", "s", broker.SubscriptionConfig{})
	if _, err := c.Publish(testCtx(t), "t", newEvents(3, 8)); err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(testCtx(t), 20*time.Millisecond)
	defer cancel()
	c.Fetch(short, "t", "s", "c1", 1) // a cancelled long poll, too
	c.Close()
	ts.stop()
	// Goroutines end asynchronously after their connection closes: give
	// them until the deadline, yielding.
	deadline := time.Now().Add(waitLimit)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		runtime.Gosched()
	}
	if n := runtime.NumGoroutine(); n > before {
		buf := make([]byte, 1<<20)
		t.Fatalf("%d goroutines before, %d after:\n%s", before, n, buf[:runtime.Stack(buf, true)])
	}
}
