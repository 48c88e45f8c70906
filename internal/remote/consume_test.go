package remote

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald/cloudevent"
	"github.com/heraldhq/herald/internal/broker"
	"github.com/heraldhq/herald/internal/wire"
)

func TestSettleEveryWayAndDeadLetter(t *testing.T) {
	ts := startServer(t, t.TempDir(), "127.0.0.1:0")
	c := dial(t, ts.url)
	ctx := testCtx(t)
	mustTopic(t, c, "jobs", broker.TopicConfig{})
	mustSub(t, c, "jobs", "w", broker.SubscriptionConfig{Start: broker.StartPosition{Kind: broker.StartEarliest},
		Retry: broker.RetryPolicy{Delays: []time.Duration{time.Millisecond}, MaxDeliveries: 2}})
	events := newEvents(4, 32)
	if _, err := c.Publish(ctx, "jobs", events); err != nil {
		t.Fatal(err)
	}
	ds := fetchN(t, c, "jobs", "w", 4)
	byID := map[string]broker.Delivery{}
	for _, d := range ds {
		byID[d.Event.Event.ID] = d
	}
	acked, extended, nacked, rejected := byID[events[0].ID], byID[events[1].ID], byID[events[2].ID], byID[events[3].ID]

	if err := c.Ack(ctx, "jobs", "w", acked.Token); err != nil {
		t.Fatalf("ack: %v", err)
	}
	if err := c.Ack(ctx, "jobs", "w", acked.Token); !errors.Is(err, broker.ErrLeaseExpired) {
		t.Fatalf("second ack of one lease: %v, want ErrLeaseExpired", err)
	}
	if err := c.Extend(ctx, "jobs", "w", extended.Token); err != nil {
		t.Fatalf("extend: %v", err)
	}
	if err := c.Ack(ctx, "jobs", "w", extended.Token); err != nil {
		t.Fatalf("ack after extend: %v", err)
	}
	if err := c.Reject(ctx, "jobs", "w", rejected.Token, "poison"); err != nil {
		t.Fatalf("reject: %v", err)
	}
	// Nack twice: the second failure exhausts MaxDeliveries 2.
	if err := c.Nack(ctx, "jobs", "w", nacked.Token, 0, "db down"); err != nil {
		t.Fatalf("nack: %v", err)
	}
	again := fetchN(t, c, "jobs", "w", 1)[0]
	if again.Event.Event.ID != events[2].ID || again.Attempt != 2 {
		t.Fatalf("redelivered %s attempt %d, want %s attempt 2", again.Event.Event.ID, again.Attempt, events[2].ID)
	}
	if err := c.Nack(ctx, "jobs", "w", again.Token, 0, "db still down"); err != nil {
		t.Fatalf("last nack: %v", err)
	}

	dlq := broker.DeadLetterTopicName("jobs", "w")
	dead, err := c.Read(ctx, dlq, 0, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(dead) != 2 {
		t.Fatalf("%d dead letters, want 2 (the rejected and the exhausted event)", len(dead))
	}
	reasons := map[string]string{}
	for _, d := range dead {
		reasons[d.Event.ID] = d.Event.Extension("heralddlqreason")
	}
	if reasons[events[3].ID] == "" || reasons[events[2].ID] == "" {
		t.Fatalf("dead letters carry no reason: %+v", reasons)
	}
	if dead[0].Event.Extension("heralddlqerror") == "" && dead[1].Event.Extension("heralddlqerror") == "" {
		t.Fatal("the exhausted event's last error was not kept")
	}
	// Nothing is left to deliver.
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if ds, err := c.Fetch(short, "jobs", "w", "c1", 10); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("fetch after everything settled: %d deliveries, %v", len(ds), err)
	}
}

func TestFetchWakesWhenAnEventIsPublished(t *testing.T) {
	ts := startServer(t, t.TempDir(), "127.0.0.1:0")
	c := dial(t, ts.url)
	mustTopic(t, c, "t", broker.TopicConfig{})
	mustSub(t, c, "t", "s", broker.SubscriptionConfig{})
	got := make(chan []broker.Delivery, 1)
	errc := make(chan error, 1)
	go func() {
		ds, err := c.Fetch(testCtx(t), "t", "s", "c1", 10)
		got <- ds
		errc <- err
	}()
	// The fetch may reach the server before or after the publish; either
	// way it must return the event (a subscription at latest was created
	// before the publish).
	ev := newEvent(8)
	if _, err := c.Publish(testCtx(t), "t", []cloudevent.Event{ev}); err != nil {
		t.Fatal(err)
	}
	select {
	case ds := <-got:
		if err := <-errc; err != nil || len(ds) != 1 || ds[0].Event.Event.ID != ev.ID {
			t.Fatalf("fetch = %d deliveries, %v", len(ds), err)
		}
	case <-time.After(waitLimit):
		t.Fatal("the long poll did not wake on publish")
	}
}

// TestFetchSizesItsSliceToTheReply: a consumer that may take 1,000
// events and gets 8 is not given room for many more (a fixed 32 bytes per
// delivery gave 8 events of 128 bytes room for about 60, cleared at every
// fetch).
func TestFetchSizesItsSliceToTheReply(t *testing.T) {
	ts := startServer(t, t.TempDir(), "127.0.0.1:0")
	c := dial(t, ts.url)
	mustTopic(t, c, "t", broker.TopicConfig{})
	mustSub(t, c, "t", "s", broker.SubscriptionConfig{Start: broker.StartPosition{Kind: broker.StartEarliest}})
	if _, err := c.Publish(testCtx(t), "t", newEvents(8, 128)); err != nil {
		t.Fatal(err)
	}
	ds, err := c.Fetch(testCtx(t), "t", "s", "c1", 1000)
	if err != nil || len(ds) != 8 {
		t.Fatalf("fetch = %d deliveries, %v; want the 8 published", len(ds), err)
	}
	if cap(ds) > 2*len(ds) {
		t.Fatalf("room for %d deliveries to hold %d", cap(ds), len(ds))
	}
}

func TestFetchBackpressure(t *testing.T) {
	ts := startServer(t, t.TempDir(), "127.0.0.1:0")
	c := dial(t, ts.url)
	ctx := testCtx(t)
	mustTopic(t, c, "t", broker.TopicConfig{})
	mustSub(t, c, "t", "s", broker.SubscriptionConfig{Start: broker.StartPosition{Kind: broker.StartEarliest}, MaxInFlightPerConsumer: 1})
	if _, err := c.Publish(ctx, "t", newEvents(2, 8)); err != nil {
		t.Fatal(err)
	}
	fetchN(t, c, "t", "s", 1)
	if _, err := c.Fetch(ctx, "t", "s", "c1", 1); !errors.Is(err, broker.ErrBackpressure) || IsRetryable(err) {
		t.Fatalf("fetch over the consumer's limit: %v, want ErrBackpressure", err)
	}
}

func TestConcurrentAcksAreBatched(t *testing.T) {
	ts := startServer(t, t.TempDir(), "127.0.0.1:0")
	c := dial(t, ts.url)
	ctx := testCtx(t)
	mustTopic(t, c, "t", broker.TopicConfig{Partitions: 4})
	mustSub(t, c, "t", "s", broker.SubscriptionConfig{Start: broker.StartPosition{Kind: broker.StartEarliest}})
	const n = 300
	if _, err := c.Publish(ctx, "t", newEvents(n, 16)); err != nil {
		t.Fatal(err)
	}
	ds := fetchN(t, c, "t", "s", n)
	before := c.ids.Load()
	// Hold the session's writer while the acks queue up, so that how they
	// batch does not depend on how fast the writer happens to be.
	s, err := c.session(ctx, opAck)
	if err != nil {
		t.Fatal(err)
	}
	s.wmu.Lock()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for _, d := range ds {
		wg.Go(func() { errs <- c.Ack(ctx, "t", "s", d.Token) })
	}
	deadline := time.Now().Add(10 * time.Second)
	for queued := 0; queued < n; runtime.Gosched() {
		s.mu.Lock()
		queued = len(s.settleQ[0])
		s.mu.Unlock()
		if time.Now().After(deadline) {
			s.wmu.Unlock()
			t.Fatalf("%d of %d acks queued", queued, n)
		}
	}
	s.wmu.Unlock()
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	// Every frame takes a request id: fewer ids than acks means acks
	// shared frames.
	if frames := c.ids.Load() - before; frames != 1 {
		t.Errorf("%d acks queued together took %d frames, want 1", n, frames)
	}
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if ds, err := c.Fetch(short, "t", "s", "c1", 10); len(ds) != 0 {
		t.Fatalf("%d deliveries after acking everything (%v)", len(ds), err)
	}
}

// A Fetch under broker.OnQueued is one FETCH: the SDK's subscriber keeps
// another in flight behind it, so a second request for the same call
// would take its events out of turn. When its wait ends with nothing, it
// returns nothing.
func TestFetchUnderOnQueuedSendsOneRequest(t *testing.T) {
	defer func(cap time.Duration) { fetchWaitCap = cap }(fetchWaitCap)
	fetchWaitCap = 30 * time.Millisecond
	ts := startServer(t, t.TempDir(), "127.0.0.1:0")
	var fetches atomic.Int32
	p := startProxy(t, strings.TrimPrefix(ts.url, "http://"), func(toServer bool, h wire.Header) bool {
		if toServer && h.Type == wire.TypeFetch {
			fetches.Add(1)
		}
		return false
	})
	c := dial(t, p.url())
	mustTopic(t, c, "t", broker.TopicConfig{})
	mustSub(t, c, "t", "s", broker.SubscriptionConfig{})
	queued := 0
	ctx := broker.OnQueued(testCtx(t), func() { queued++ })
	ds, err := c.Fetch(ctx, "t", "s", "c1", 10)
	if err != nil || len(ds) != 0 {
		t.Fatalf("Fetch = %d deliveries, %v; want none and no error", len(ds), err)
	}
	if n := fetches.Load(); n != 1 || queued != 1 {
		t.Fatalf("%d FETCH frames sent, OnQueued called %d times; want 1 and 1", n, queued)
	}
	// Without the hook, Fetch waits on across FETCHes until ctx ends.
	short, cancel := context.WithTimeout(testCtx(t), 100*time.Millisecond)
	defer cancel()
	if _, err := c.Fetch(short, "t", "s", "c1", 10); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Fetch without the hook: %v, want its deadline", err)
	}
	if n := fetches.Load(); n < 3 {
		t.Fatalf("%d FETCH frames in all; want the plain Fetch to have sent several", n)
	}
}
