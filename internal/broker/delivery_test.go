package broker

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/heraldhq/herald/cloudevent"
)

func publishN(e *env, topic string, n int, opts ...string) []PublishResult {
	e.t.Helper()
	var evs []cloudevent.Event
	for i := range n {
		evs = append(evs, ev(fmt.Sprintf("e%02d", i), opts...))
	}
	return e.publish(topic, evs...)
}

func TestPubSubEverySubscriptionGetsEveryEvent(t *testing.T) {
	e := newEnv(t)
	e.createTopic("bare", TopicConfig{Partitions: 2})
	e.createTopic("t", TopicConfig{Partitions: 2})
	for i := range 5 {
		e.createSub("t", fmt.Sprint("s", i), SubscriptionConfig{})
	}
	publishN(e, "bare", 10)
	publishN(e, "t", 10)
	for i := range 5 {
		ds := e.poll("t", fmt.Sprint("s", i), "c", 100)
		got := ids(ds)
		slices.Sort(got)
		if len(got) != 10 || got[0] != "e00" || got[9] != "e09" {
			t.Fatalf("subscription s%d got %v, want all 10 events", i, got)
		}
	}
	// No copy per subscription: the topic stores the same bytes as one
	// without subscriptions.
	bare, _ := e.b.Topic("bare")
	withSubs, _ := e.b.Topic("t")
	if bare.Bytes != withSubs.Bytes {
		t.Fatalf("topic with 5 subscriptions stores %d bytes, without %d", withSubs.Bytes, bare.Bytes)
	}
}

func TestQueueConsumersShareASubscription(t *testing.T) {
	e := newEnv(t)
	e.createTopic("t", TopicConfig{Partitions: 3})
	e.createSub("t", "workers", SubscriptionConfig{})
	publishN(e, "t", 30)
	seen := map[string]string{}
	for round := 0; len(seen) < 30 && round < 100; round++ {
		for _, c := range []string{"w1", "w2", "w3"} {
			for _, d := range e.poll("t", "workers", c, 4) {
				if other, dup := seen[d.Event.Event.ID]; dup {
					t.Fatalf("%s leased to %s while %s holds it", d.Event.Event.ID, c, other)
				}
				seen[d.Event.Event.ID] = c
			}
		}
	}
	if len(seen) != 30 {
		t.Fatalf("consumers got %d of 30 events", len(seen))
	}
	per := map[string]int{}
	for _, c := range seen {
		per[c]++
	}
	if len(per) != 3 {
		t.Fatalf("work went to %v; every consumer should get some", per)
	}
}

func TestLeaseExpiryRedelivers(t *testing.T) {
	e := newEnv(t)
	e.createTopic("t", TopicConfig{})
	e.createSub("t", "s", SubscriptionConfig{AckTimeout: 10 * time.Second})
	e.publish("t", ev("a"))
	first := e.poll("t", "s", "c1", 1)
	if len(first) != 1 || first[0].Attempt != 1 {
		t.Fatalf("first delivery %+v", first)
	}
	e.clock.Advance(9 * time.Second)
	if got := e.poll("t", "s", "c2", 1); len(got) != 0 {
		t.Fatalf("redelivered before the ack timeout: %v", ids(got))
	}
	e.clock.Advance(time.Second)
	second := e.poll("t", "s", "c2", 1)
	if len(second) != 1 || second[0].Attempt != 2 || second[0].Token == first[0].Token {
		t.Fatalf("after expiry got %+v, want attempt 2 with a new token", second)
	}
	if err := e.b.Ack(context.Background(), "t", "s", first[0].Token); !errors.Is(err, ErrLeaseExpired) {
		t.Fatalf("ack with the expired token = %v, want ErrLeaseExpired", err)
	}
	e.ack("t", "s", second...)
	if err := e.b.Ack(context.Background(), "t", "s", second[0].Token); !errors.Is(err, ErrLeaseExpired) {
		t.Fatalf("second ack = %v, want ErrLeaseExpired", err)
	}
}

func TestExtendKeepsTheLease(t *testing.T) {
	e := newEnv(t)
	e.createTopic("t", TopicConfig{})
	e.createSub("t", "s", SubscriptionConfig{AckTimeout: 10 * time.Second})
	e.publish("t", ev("a"))
	d := e.poll("t", "s", "c", 1)[0]
	for range 3 {
		e.clock.Advance(8 * time.Second)
		if err := e.b.Extend(context.Background(), "t", "s", d.Token); err != nil {
			t.Fatalf("Extend: %v", err)
		}
	}
	if got := e.poll("t", "s", "c2", 1); len(got) != 0 {
		t.Fatalf("extended lease was redelivered")
	}
	e.ack("t", "s", d)
}

func TestNackRetriesAfterBackoff(t *testing.T) {
	tests := []struct {
		name  string
		retry RetryPolicy
		delay time.Duration
		wait  time.Duration
	}{
		{"policy initial delay", RetryPolicy{Initial: 2 * time.Second, Jitter: -1}, 0, 2 * time.Second},
		{"explicit delays", RetryPolicy{Delays: []time.Duration{3 * time.Second}}, 0, 3 * time.Second},
		{"delay given to nack", RetryPolicy{Initial: time.Hour}, 5 * time.Second, 5 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			e.createTopic("t", TopicConfig{})
			e.createSub("t", "s", SubscriptionConfig{Retry: tt.retry})
			e.publish("t", ev("a"))
			d := e.poll("t", "s", "c", 1)[0]
			if err := e.b.Nack(context.Background(), "t", "s", d.Token, tt.delay, "db down"); err != nil {
				t.Fatal(err)
			}
			e.clock.Advance(tt.wait - time.Millisecond)
			if got := e.poll("t", "s", "c", 1); len(got) != 0 {
				t.Fatalf("redelivered before the backoff ended")
			}
			st, _ := e.b.Stats("t", "s")
			if st.Delayed != 1 || st.Pending != 1 {
				t.Fatalf("stats during backoff %+v, want 1 pending and delayed", st)
			}
			e.clock.Advance(time.Millisecond)
			got := e.poll("t", "s", "c", 1)
			if len(got) != 1 || got[0].Attempt != 2 {
				t.Fatalf("after the backoff got %+v, want attempt 2", got)
			}
		})
	}
}

func TestTokensAreCheckedClearly(t *testing.T) {
	e := newEnv(t)
	e.createTopic("t", TopicConfig{})
	e.createSub("t", "s", SubscriptionConfig{})
	e.publish("t", ev("a"))
	d := e.poll("t", "s", "c", 1)[0]
	ctx := context.Background()
	tests := []struct {
		token string
		want  error
	}{
		{"", ErrUnknownToken},
		{"garbage", ErrUnknownToken},
		{"0-0", ErrUnknownToken},
		{"x-0-1", ErrUnknownToken},
		{"0-0-0", ErrUnknownToken},
		{"7-0-1", ErrUnknownToken},
		{"0-0-zz", ErrLeaseExpired},
		{"0-5-1", ErrLeaseExpired},
	}
	for _, tt := range tests {
		if err := e.b.Ack(ctx, "t", "s", tt.token); !errors.Is(err, tt.want) {
			t.Errorf("Ack(%q) = %v, want %v", tt.token, err, tt.want)
		}
	}
	if err := e.b.Ack(ctx, "t", "missing", d.Token); !errors.Is(err, ErrSubscriptionNotFound) {
		t.Errorf("Ack on a missing subscription = %v", err)
	}
	e.ack("t", "s", d)
}

func TestBackpressure(t *testing.T) {
	e := newEnv(t)
	e.createTopic("t", TopicConfig{})
	e.createSub("t", "s", SubscriptionConfig{MaxInFlight: 5, MaxInFlightPerConsumer: 3})
	publishN(e, "t", 10)
	c1 := e.poll("t", "s", "c1", 10)
	if len(c1) != 3 {
		t.Fatalf("c1 got %d leases, its limit is 3", len(c1))
	}
	if _, err := e.b.Fetch(doneCtx(), "t", "s", "c1", 1); !errors.Is(err, ErrBackpressure) {
		t.Fatalf("Fetch by a consumer at its limit = %v, want ErrBackpressure", err)
	}
	c2 := e.poll("t", "s", "c2", 10)
	if len(c2) != 2 {
		t.Fatalf("c2 got %d leases; the subscription allows 5 in flight and c1 holds 3", len(c2))
	}
	// At the subscription's limit, Fetch waits for a settle.
	got := make(chan []Delivery, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	go func() {
		ds, _ := e.b.Fetch(ctx, "t", "s", "c3", 10)
		got <- ds
	}()
	e.waitParked()
	e.ack("t", "s", c1[0])
	select {
	case ds := <-got:
		if len(ds) != 1 {
			t.Fatalf("after one ack the waiting fetch got %d, want 1", len(ds))
		}
	case <-ctx.Done():
		t.Fatal("a waiting Fetch was not woken by an ack")
	}
}

func TestFetchLongPollWakesOnPublish(t *testing.T) {
	e := newEnv(t)
	e.createTopic("t", TopicConfig{})
	e.createSub("t", "s", SubscriptionConfig{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	got := make(chan []Delivery, 1)
	go func() {
		ds, err := e.b.Fetch(ctx, "t", "s", "c", 10)
		if err != nil {
			t.Errorf("Fetch: %v", err)
		}
		got <- ds
	}()
	e.waitParked()
	e.publish("t", ev("a"))
	select {
	case ds := <-got:
		if len(ds) != 1 || ds[0].Event.Event.ID != "a" {
			t.Fatalf("long poll got %v", ids(ds))
		}
	case <-ctx.Done():
		t.Fatal("a waiting Fetch was not woken by a publish")
	}
	short, cancel2 := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel2()
	if ds, err := e.b.Fetch(short, "t", "s", "c", 1); !errors.Is(err, context.DeadlineExceeded) || len(ds) != 0 {
		t.Fatalf("Fetch with nothing ready = %v, %v; want DeadlineExceeded", ids(ds), err)
	}
}

func TestWaitingFetchEndsOnDeleteAndClose(t *testing.T) {
	e := newEnv(t)
	e.createTopic("t", TopicConfig{})
	e.createSub("t", "s1", SubscriptionConfig{})
	e.createSub("t", "s2", SubscriptionConfig{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	errs := make(chan error, 2)
	b := e.b // the goroutines must not read e.b, which the test clears below
	go func() { _, err := b.Fetch(ctx, "t", "s1", "c", 1); errs <- err }()
	e.waitParked()
	if err := e.b.DeleteSubscription(ctx, "t", "s1"); err != nil {
		t.Fatal(err)
	}
	if err := <-errs; !errors.Is(err, ErrSubscriptionNotFound) {
		t.Fatalf("Fetch on a deleted subscription = %v", err)
	}
	go func() { _, err := b.Fetch(ctx, "t", "s2", "c", 1); errs <- err }()
	e.waitParked()
	if err := e.b.Close(); err != nil {
		t.Fatal(err)
	}
	e.b = nil
	if err := <-errs; !errors.Is(err, ErrClosed) {
		t.Fatalf("Fetch during Close = %v, want ErrClosed", err)
	}
	if leaked := waitNoHeraldGoroutines(5 * time.Second); leaked != "" {
		t.Fatalf("goroutines left after Close:\n%s", leaked)
	}
}

func TestAckMany(t *testing.T) {
	e := newEnv(t)
	e.createTopic("t", TopicConfig{})
	e.createSub("t", "s", SubscriptionConfig{})
	publishN(e, "t", 3)
	ds := e.poll("t", "s", "c", 3)
	errs, err := e.b.AckMany(context.Background(), "t", "s", []string{ds[0].Token, "bogus", ds[2].Token, ds[0].Token})
	if err != nil {
		t.Fatal(err)
	}
	if errs[0] != nil || !errors.Is(errs[1], ErrUnknownToken) || errs[2] != nil || !errors.Is(errs[3], ErrLeaseExpired) {
		t.Fatalf("per-token results %v", errs)
	}
	e.restart()
	e.clock.Advance(DefaultAckTimeout)
	if got := ids(e.poll("t", "s", "c", 3)); !slices.Equal(got, []string{ds[1].Event.Event.ID}) {
		t.Fatalf("after restart got %v, want only the unacked %s", got, ds[1].Event.Event.ID)
	}
}

// FetchAppend appends to the slice it is given, in its memory when there
// is room (the stream server reuses one slice across fetches), and gives
// it back unchanged when the fetch fails or finds nothing.
func TestFetchAppendAppendsToItsSlice(t *testing.T) {
	e := newEnv(t)
	e.createTopic("t", TopicConfig{Partitions: 1})
	e.createSub("t", "s", SubscriptionConfig{})
	publishN(e, "t", 3)
	held := []Delivery{{Token: "held"}}
	dst := append(make([]Delivery, 0, 8), held...)
	ds, err := e.b.FetchAppend(doneCtx(), "t", "s", "c", 2, dst)
	if err != nil || len(ds) != 3 || ds[0].Token != "held" || !slices.Equal(ids(ds[1:]), []string{"e00", "e01"}) {
		t.Fatalf("FetchAppend = %v (%v), want the held delivery then e00, e01", ids(ds), err)
	}
	if &ds[0] != &dst[:1][0] {
		t.Fatal("FetchAppend allocated a new slice although its argument had room")
	}
	if rest := e.poll("t", "s", "c2", 5); len(rest) != 1 {
		t.Fatalf("another consumer got %d deliveries, want the last event", len(rest))
	}
	for _, tc := range []struct {
		name    string
		max     int
		wantErr error
	}{
		{"a bad max", 0, ErrInvalid},
		{"nothing ready", 5, context.Canceled},
	} {
		got, err := e.b.FetchAppend(doneCtx(), "t", "s", "c", tc.max, dst)
		if !errors.Is(err, tc.wantErr) || len(got) != 1 || &got[0] != &dst[0] {
			t.Errorf("%s: FetchAppend = %d deliveries (%v), want its argument back and %v", tc.name, len(got), err, tc.wantErr)
		}
	}
}

// TryFetchAppend leases what is ready and never waits: with nothing ready,
// or with dead letters to write first, it leases nothing, reports false,
// and leaves no waiter behind.
func TestTryFetchAppendNeverWaits(t *testing.T) {
	e := newEnv(t)
	e.createTopic("t", TopicConfig{Partitions: 1})
	e.createSub("t", "s", SubscriptionConfig{})
	s, err := e.b.sub("t", "s")
	if err != nil {
		t.Fatal(err)
	}
	try := func(max int) ([]Delivery, bool) {
		t.Helper()
		ds, ok, err := e.b.TryFetchAppend("t", "s", "c", max, nil)
		if err != nil {
			t.Fatalf("TryFetchAppend: %v", err)
		}
		return ds, ok
	}
	if ds, ok := try(5); ok || len(ds) != 0 {
		t.Fatalf("with nothing published: %d deliveries, ok %v", len(ds), ok)
	}
	s.mu.Lock()
	waiters := s.waiters
	s.mu.Unlock()
	if waiters != 0 {
		t.Fatalf("%d waiters after a try, want none", waiters)
	}
	publishN(e, "t", 3)
	s.mu.Lock()
	s.dlInFlight++ // as if dead letters were being written
	s.mu.Unlock()
	if ds, ok := try(5); ok || len(ds) != 0 {
		t.Fatalf("with dead letters to write: %d deliveries, ok %v; want to be told to fetch as usual", len(ds), ok)
	}
	s.mu.Lock()
	s.dlInFlight--
	s.mu.Unlock()
	if ds, ok := try(2); !ok || !slices.Equal(ids(ds), []string{"e00", "e01"}) {
		t.Fatalf("with events ready: %v, ok %v; want e00, e01", ids(ds), ok)
	}
	if _, _, err := e.b.TryFetchAppend("t", "missing", "c", 1, nil); !errors.Is(err, ErrSubscriptionNotFound) {
		t.Fatalf("a missing subscription: %v", err)
	}
}
