package herald

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/broker"
	"github.com/heraldhq/herald/internal/remote"
)

// heldFetches is a backend whose fetches the test answers by hand. Each
// Fetch reports itself sent at once (broker.Queued), as the remote client
// does once its FETCH frame is written, then waits for its answer.
type heldFetches struct {
	remote.Backend // nil: only Fetch is called
	calls          chan *heldFetch
}

type heldFetch struct {
	n      int
	answer chan []broker.Delivery
}

func (h *heldFetches) Fetch(ctx context.Context, topic, sub, consumer string, max int) ([]broker.Delivery, error) {
	broker.Queued(ctx)
	call := &heldFetch{n: max, answer: make(chan []broker.Delivery)}
	select {
	case h.calls <- call:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	select {
	case ds := <-call.answer:
		return ds, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// next waits for the fetcher's next fetch.
func (h *heldFetches) next(t *testing.T) *heldFetch {
	t.Helper()
	return receive(t, h.calls, "fetch")
}

// receive waits up to 10 s for a value from ch; what names it for the
// failure.
func receive[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatalf("no %s came within 10 s", what)
		var zero T
		return zero
	}
}

// deliveries are n deliveries named label-0, label-1, ...
func deliveries(label string, n int) []broker.Delivery {
	ds := make([]broker.Delivery, n)
	for i := range ds {
		ds[i] = broker.Delivery{Token: fmt.Sprintf("%s-%d", label, i), Deadline: time.Now().Add(time.Hour)}
	}
	return ds
}

// Over the network the fetcher keeps two fetches in flight, each for half
// the credits, whether or not the last came back full: a second long poll
// waits at the server beside the first. It queues the answers in the
// order it sent the fetches, whatever order they come back in. (Until
// 2026-11-29 the second went only while fetches came back full.)
func TestFetcherKeepsTwoFetchesInFlightInSendOrder(t *testing.T) {
	backend := &heldFetches{calls: make(chan *heldFetch)}
	const prefetch = 4
	credits := newCredits(prefetch)
	queue := make(chan queued, prefetch)
	f := &fetcher{c: newClient(backend, defaultClientOptions()), topic: "t", sub: "s", consumer: "c",
		credits: credits, queue: queue}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	}()
	// handle takes the queued deliveries wants names, in that order, and
	// then gives their credits back at once (one by one, the fetcher
	// could send a smaller fetch after its short wait for more).
	handle := func(wants ...string) {
		t.Helper()
		for _, want := range wants {
			q := receive(t, queue, "delivery "+want)
			if q.delivery().Token != want {
				t.Fatalf("handled %s, want %s", q.delivery().Token, want)
			}
			q.batch.done()
		}
		credits.put(len(wants))
	}

	first := backend.next(t)
	if first.n != prefetch {
		t.Fatalf("the first fetch asked for %d, want all %d credits (it cannot know yet that it goes over a network)", first.n, prefetch)
	}
	first.answer <- deliveries("a", 1) // not full: no backlog
	handle("a-0")
	second := backend.next(t)
	third := backend.next(t) // while the second is still in flight
	if second.n != 2 || third.n != 2 {
		t.Fatalf("the second and third fetches asked for %d and %d, want 2 each", second.n, third.n)
	}
	third.answer <- deliveries("c", 2) // answered first
	second.answer <- deliveries("b", 2)
	handle("b-0", "b-1", "c-0", "c-1")
}

// A Subscribe at its consumer's lease limit is refused with backpressure
// while its acks are on their way, and asks again as soon as they are
// answered; the fallback wait is an hour here, so the events all arrive
// only if the acker's answers wake the fetcher. With its acks lingering
// an hour too and a prefetch (64) over the limit (16), it goes on only
// because the refused fetch has the acker send what it is gathering (the
// acker would wait for 64 acks while no more than 16 leases can be held;
// leases of 12 hours are far from their end, so they do not hurry it).
func TestSubscribeAtItsLeaseLimitGoesOn(t *testing.T) {
	defer func(w, l time.Duration) { backpressureWait, ackLinger = w, l }(backpressureWait, ackLinger)
	backpressureWait = time.Hour
	for _, tc := range []struct {
		name   string
		linger time.Duration
		events int
		opts   []SubscribeOption
	}{
		{"when its acks are answered", ackLinger, 2000, []SubscribeOption{Prefetch(32), WithMaxInFlight(32)}},
		{"by sending its lingering acks", time.Hour, 200,
			[]SubscribeOption{Prefetch(64), WithMaxInFlight(16), WithAckTimeout(12 * time.Hour)}},
	} {
		for _, tr := range transports() {
			t.Run(tc.name+"/"+tr.name, func(t *testing.T) {
				ackLinger = tc.linger
				c := tr.open(t, t.TempDir())
				ctx := context.Background()
				if err := c.CreateTopic(ctx, "t", TopicConfig{Partitions: 1}); err != nil {
					t.Fatal(err)
				}
				for i := range tc.events {
					c.Publish(ctx, "t", ev("x", "", i))
				}
				if err := c.Flush(ctx); err != nil {
					t.Fatal(err)
				}
				var mu sync.Mutex
				got := 0
				opts := append([]SubscribeOption{WithStart(FromEarliest)}, tc.opts...)
				consumeUntil(t, c, &mu, "t", "s", func(context.Context, *Message) error {
					mu.Lock()
					got++
					mu.Unlock()
					return nil
				}, func() bool { return got == tc.events }, opts...)
			})
		}
	}
}
