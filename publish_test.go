package herald

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/cloudevent"
	"github.com/heraldhq/herald/internal/broker"
	"github.com/heraldhq/herald/internal/remote"
)

// gatedBackend holds each Publish until the test lets it through, and
// records the batch sizes it was given.
type gatedBackend struct {
	remote.Backend
	gate chan struct{}

	mu      sync.Mutex
	batches []int
	entered chan struct{}
}

func (g *gatedBackend) Publish(ctx context.Context, topic string, events []cloudevent.Event) ([]broker.PublishResult, error) {
	g.mu.Lock()
	g.batches = append(g.batches, len(events))
	g.mu.Unlock()
	g.entered <- struct{}{}
	select {
	case <-g.gate:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return g.Backend.Publish(ctx, topic, events)
}

// newGatedClient is a client with a linger of 0 on a broker behind a
// gatedBackend.
func newGatedClient(t *testing.T) (*Client, *gatedBackend, *broker.Broker) {
	t.Helper()
	b, err := broker.Open(broker.Config{DataDir: t.TempDir(), AutoCreateTopics: true})
	if err != nil {
		t.Fatal(err)
	}
	g := &gatedBackend{Backend: remote.Embedded(b), gate: make(chan struct{}), entered: make(chan struct{}, 8)}
	o := defaultClientOptions()
	WithBatching(1000, 1<<20, 0)(&o)
	c := newClient(g, o)
	t.Cleanup(func() { c.Close() })
	return c, g, b
}

// With a linger of 0 an event on an idle publisher goes out at once, and
// the events published while that batch is in flight go together as the
// next one.
func TestLingerZeroSendsAtOnceAndBatchesWhileInFlight(t *testing.T) {
	c, g, _ := newGatedClient(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	first := c.Publish(ctx, "t", Event{Type: "x", Data: []byte("0")})
	select {
	case <-g.entered: // sent without a flush, a full batch or a linger
	case <-ctx.Done():
		t.Fatal("a lone event on an idle publisher was not sent")
	}
	var rest []*PublishFuture
	for i := range 50 {
		rest = append(rest, c.Publish(ctx, "t", Event{Type: "x", Data: []byte{byte(i)}}))
	}
	close(g.gate)
	if _, err := first.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	for _, f := range rest {
		if _, err := f.Wait(ctx); err != nil {
			t.Fatal(err)
		}
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.batches) != 2 || g.batches[0] != 1 || g.batches[1] != 50 {
		t.Fatalf("batches sent: %v, want [1 50]", g.batches)
	}
}

// A future that is already resolved answers Wait with its outcome even
// when the caller's context has ended: the publish happened, and a
// caller draining its futures after a cancel must learn which succeeded.
// (A select over both would pick one at random.)
func TestWaitOnAResolvedFutureReturnsItsOutcome(t *testing.T) {
	c := openEmbedded(t, t.TempDir())
	ctx, cancel := context.WithCancel(context.Background())
	f := c.Publish(ctx, "t", Event{Type: "x", Data: []byte("1")})
	if err := c.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case <-f.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the publish was not acknowledged")
	}
	cancel()
	for i := range 100 {
		res, err := f.Wait(ctx)
		if err != nil {
			t.Fatalf("Wait %d after the context ended: %v, want the stored event's result", i, err)
		}
		if res.Offset != 0 {
			t.Fatalf("Wait %d: offset %d, want 0", i, res.Offset)
		}
	}
}

// A Wait whose context ends before the outcome is known says that the
// publish is still pending (a bare "context deadline exceeded" read as a
// failure), matches the context's error, and a later Wait gets the
// outcome.
func TestWaitWhoseContextEndsSaysThePublishIsPending(t *testing.T) {
	c, g, _ := newGatedClient(t)
	f := c.Publish(context.Background(), "t", Event{Type: "x", Data: []byte("1")})
	<-g.entered // held at the gate: the outcome is not known
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	_, err := f.Wait(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait: %v, want an error matching the context's deadline", err)
	}
	if msg := err.Error(); !strings.Contains(msg, "still pending") || !strings.Contains(msg, "Wait again") {
		t.Errorf("Wait: %q, want it to say the publish is still pending and to wait again", msg)
	}
	close(g.gate)
	wctx, wcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer wcancel()
	res, err := f.Wait(wctx)
	if err != nil || res.Offset != 0 {
		t.Fatalf("second Wait: %+v, %v; want the stored event at offset 0", res, err)
	}
}

// PublishBatch goes after the events published before it on the same
// topic: what is gathering is handed over first, and the batch queues
// behind it.
func TestPublishBatchGoesAfterGatheredEvents(t *testing.T) {
	c := openEmbedded(t, t.TempDir(), WithBatching(1000, 1<<20, time.Hour)) // gathered events wait for a flush
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.CreateTopic(ctx, "t", TopicConfig{Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	var gathered []*PublishFuture
	for i := range 3 {
		gathered = append(gathered, c.Publish(ctx, "t", Event{Type: "async", Data: []byte{byte(i)}}))
	}
	res, err := c.PublishBatch(ctx, "t", []Event{{Type: "batch"}, {Type: "batch"}})
	if err != nil {
		t.Fatal(err)
	}
	for i, f := range gathered {
		r, err := f.Wait(ctx)
		if err != nil || r.Offset != int64(i) {
			t.Fatalf("gathered event %d: %+v, %v; want offset %d", i, r, err, i)
		}
	}
	if res[0].Offset != 3 || res[1].Offset != 4 {
		t.Fatalf("batch stored at %d and %d, want 3 and 4, after the gathered events", res[0].Offset, res[1].Offset)
	}
}

// PublishBatch and PublishSync return when their context ends, whether
// their batch is being sent on the caller's goroutine or waits behind
// another; the waiting one is still sent afterwards.
func TestSyncPublishesEndWithTheirContext(t *testing.T) {
	calls := []struct {
		name    string
		publish func(ctx context.Context, c *Client) error
	}{
		{"PublishBatch", func(ctx context.Context, c *Client) error {
			_, err := c.PublishBatch(ctx, "t", []Event{{Type: "batch"}})
			return err
		}},
		{"PublishSync", func(ctx context.Context, c *Client) error {
			_, err := c.PublishSync(ctx, "t", Event{Type: "sync"})
			return err
		}},
	}
	for _, call := range calls {
		for _, busy := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/behind_another_batch=%v", call.name, busy), func(t *testing.T) {
				c, g, b := newGatedClient(t)
				if _, err := b.CreateTopic(context.Background(), "t", broker.TopicConfig{Partitions: 1}); err != nil {
					t.Fatal(err)
				}
				if busy {
					c.Publish(context.Background(), "t", Event{Type: "first"})
					<-g.entered // held at the gate: the call queues behind it
				}
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
				defer cancel()
				if err := call.publish(ctx, c); !errors.Is(err, context.DeadlineExceeded) {
					t.Fatalf("%s: %v, want the context's deadline", call.name, err)
				}
				close(g.gate)
				fctx, fcancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer fcancel()
				if err := c.Flush(fctx); err != nil {
					t.Fatal(err)
				}
				_, end, err := b.Offsets("t", 0)
				if err != nil {
					t.Fatal(err)
				}
				if want := map[bool]int64{false: 0, true: 2}[busy]; end != want {
					t.Fatalf("%d events stored, want %d", end, want)
				}
			})
		}
	}
}

// cancelAfterPublish ends the caller's context once the broker has
// answered: the answer and the end of the context arrive together.
type cancelAfterPublish struct {
	remote.Backend
	cancel func()
}

func (b *cancelAfterPublish) Publish(ctx context.Context, topic string, events []cloudevent.Event) ([]broker.PublishResult, error) {
	res, err := b.Backend.Publish(ctx, topic, events)
	b.cancel()
	return res, err
}

// A batch answered as its context ends is reported stored, not as the
// context's error: the caller would otherwise publish it again.
func TestPublishBatchAnsweredAsItsContextEndsIsStored(t *testing.T) {
	bk, err := broker.Open(broker.Config{DataDir: t.TempDir(), AutoCreateTopics: true})
	if err != nil {
		t.Fatal(err)
	}
	backend := &cancelAfterPublish{Backend: remote.Embedded(bk)}
	c := newClient(backend, defaultClientOptions())
	t.Cleanup(func() { c.Close() })
	for i := range 50 {
		ctx, cancel := context.WithCancel(context.Background())
		backend.cancel = cancel
		res, err := c.PublishBatch(ctx, "t", []Event{{Type: "x"}})
		if err != nil || len(res) != 1 || res[0].Offset != int64(i) {
			t.Fatalf("batch %d: %+v, %v; want it stored at offset %d", i, res, err, i)
		}
	}
}

// With several batches in flight (WithMaxInFlightBatches), a key's events
// are still stored in the order they were published, over both
// transports: each batch is sent once the one before holds its place in
// its partitions. Runs of 2 KiB events make some remote frames larger than
// the direct-write limit, so frames take both of the session's write paths.
func TestPipelinedBatchesKeepKeyOrder(t *testing.T) {
	for _, tr := range transports() {
		t.Run(tr.name, func(t *testing.T) {
			c := tr.open(t, t.TempDir(), WithBatching(64, 8<<20, 0), WithMaxInFlightBatches(4))
			ctx := context.Background()
			if err := c.CreateTopic(ctx, "orders", TopicConfig{Partitions: 3}); err != nil {
				t.Fatal(err)
			}
			const n, keys = 4000, 7
			futures := make([]*PublishFuture, n)
			for i := range futures {
				data := make([]byte, 16)
				if i%97 < 40 {
					data = make([]byte, 2048)
				}
				e := Event{Type: "Placed", Data: data}
				e.SetExtension("partitionkey", fmt.Sprintf("k%d", i%keys))
				futures[i] = c.Publish(ctx, "orders", e)
			}
			last := map[int]PublishResult{} // key -> its previous event's place
			for i, f := range futures {
				res, err := f.Wait(ctx)
				if err != nil {
					t.Fatalf("event %d: %v", i, err)
				}
				if prev, ok := last[i%keys]; ok && (res.Partition != prev.Partition || res.Offset <= prev.Offset) {
					t.Fatalf("key k%d: event %d stored at %d/%d, after its predecessor at %d/%d",
						i%keys, i, res.Partition, res.Offset, prev.Partition, prev.Offset)
				}
				last[i%keys] = res
			}
		})
	}
}

// The ids Publish fills in are random UUIDs (version 4, RFC 9562), distinct
// across goroutines drawing them at once (go test -race checks the shared
// generator's lock).
func TestNewIDIsARandomUUIDv4(t *testing.T) {
	uuidV4 := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	const goroutines, each = 4, 5000
	ids := make([][]string, goroutines)
	var wg sync.WaitGroup
	for g := range ids {
		wg.Go(func() {
			for range each {
				ids[g] = append(ids[g], newID())
			}
		})
	}
	wg.Wait()
	seen := map[string]bool{}
	for _, some := range ids {
		for _, id := range some {
			if !uuidV4.MatchString(id) {
				t.Fatalf("%q is not a UUIDv4", id)
			}
			if seen[id] {
				t.Fatalf("%q drawn twice", id)
			}
			seen[id] = true
		}
	}
}

// recordingBackend keeps every event it is asked to publish.
type recordingBackend struct {
	remote.Backend
	mu     sync.Mutex
	events []cloudevent.Event
}

func (r *recordingBackend) Publish(ctx context.Context, topic string, events []cloudevent.Event) ([]broker.PublishResult, error) {
	r.mu.Lock()
	r.events = append(r.events, events...)
	r.mu.Unlock()
	return r.Backend.Publish(ctx, topic, events)
}

// WithKeyFunc keys the events published without a key, and leaves a key
// given by the publisher, or an empty one from the function, alone.
func TestKeyFuncKeysEventsPublishedWithoutAKey(t *testing.T) {
	b, err := broker.Open(broker.Config{DataDir: t.TempDir(), AutoCreateTopics: true})
	if err != nil {
		t.Fatal(err)
	}
	rec := &recordingBackend{Backend: remote.Embedded(b)}
	o := defaultClientOptions()
	WithKeyFunc(func(e *Event) string { return e.Subject })(&o)
	c := newClient(rec, o)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	keyed := Event{Type: "x", Subject: "b"}
	keyed.SetExtension(cloudevent.ExtPartitionKey, "given")
	tests := []struct {
		name    string
		e       Event
		wantKey string
	}{
		{"the function's key", Event{Type: "x", Subject: "a"}, "a"},
		{"no key from the function", Event{Type: "x"}, ""},
		{"the publisher's key", keyed, "given"},
	}
	for _, tc := range tests {
		if _, err := c.PublishSync(ctx, "t", tc.e); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Publish(ctx, "t", tc.e).Wait(ctx); err != nil {
			t.Fatal(err)
		}
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.events) != 2*len(tests) {
		t.Fatalf("published %d events, want %d", len(rec.events), 2*len(tests))
	}
	for i, e := range rec.events {
		tc := tests[i/2]
		if got := e.Extension(cloudevent.ExtPartitionKey); got != tc.wantKey {
			t.Errorf("%s (event %d): key %q, want %q", tc.name, i, got, tc.wantKey)
		}
	}
}

// Publish allocates far less than once per event: the Event stays off the
// heap, and futures and ids are made in blocks. Each of these was an
// allocation per event (client CPU in a one-producer publish run 0.39 →
// 0.36 s).
func TestPublishAllocatesLessThanOncePerEvent(t *testing.T) {
	b, err := broker.Open(broker.Config{DataDir: t.TempDir(), AutoCreateTopics: true})
	if err != nil {
		t.Fatal(err)
	}
	o := defaultClientOptions()
	WithBatching(100_000, 1<<30, time.Hour)(&o) // nothing is sent while measuring
	c := newClient(remote.Embedded(b), o)
	defer c.Close()
	ctx := context.Background()
	body := make([]byte, 128)
	allocs := testing.AllocsPerRun(2000, func() {
		c.Publish(ctx, "t", Event{Type: "x", Data: body})
	})
	// AllocsPerRun rounds down: 0 means fewer allocations than Publishes.
	if allocs >= 1 {
		t.Errorf("%.0f allocations per Publish, want fewer than one", allocs)
	}
	if err := c.Flush(ctx); err != nil {
		t.Fatal(err)
	}
}

// lostAnswerBackend stores every publish, then reports the connection
// lost, as a client sees a publish whose answer never came back.
type lostAnswerBackend struct{ remote.Backend }

func (l lostAnswerBackend) Publish(ctx context.Context, topic string, events []cloudevent.Event) ([]broker.PublishResult, error) {
	if _, err := l.Backend.Publish(ctx, topic, events); err != nil {
		return nil, err
	}
	return nil, &remote.ConnError{Op: "read the answer", Err: errors.New("connection reset")}
}

// A failed publish names the ids it gave its events, those the client
// made up included, so that publishing the same events again with them
// stores none twice: for PublishBatch, PublishSync and Publish's futures.
func TestAFailedPublishNamesItsEventsIDs(t *testing.T) {
	b, err := broker.Open(broker.Config{DataDir: t.TempDir(), AutoCreateTopics: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	lost := newClient(lostAnswerBackend{remote.Embedded(b)}, defaultClientOptions())
	t.Cleanup(func() { lost.Close() })
	good := newClient(remote.Embedded(b), defaultClientOptions())
	t.Cleanup(func() { good.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	events := func(n int) []Event {
		evs := make([]Event, n)
		for i := range evs {
			evs[i] = Event{Type: "x", Data: []byte{byte(i)}}
		}
		return evs
	}
	for _, tt := range []struct {
		name    string
		n       int
		publish func(evs []Event) error
	}{
		{"PublishBatch", 3, func(evs []Event) error { _, err := lost.PublishBatch(ctx, "t", evs); return err }},
		{"PublishSync", 1, func(evs []Event) error { _, err := lost.PublishSync(ctx, "t", evs[0]); return err }},
		{"Publish", 1, func(evs []Event) error { _, err := lost.Publish(ctx, "t", evs[0]).Wait(ctx); return err }},
		// Futures that fail together (one batch, under the linger) each
		// name their own event's id.
		{"Publish, several", 3, func(evs []Event) error {
			var fs []*PublishFuture
			for _, e := range evs {
				fs = append(fs, lost.Publish(ctx, "t", e))
			}
			var all PublishError
			for _, f := range fs {
				_, err := f.Wait(ctx)
				var perr *PublishError
				if !errors.As(err, &perr) || len(perr.IDs) != 1 {
					return err
				}
				all.Retryable, all.IDs = perr.Retryable, append(all.IDs, perr.IDs[0])
			}
			if all.IDs[0] == all.IDs[1] || all.IDs[1] == all.IDs[2] || all.IDs[0] == all.IDs[2] {
				t.Errorf("the futures named ids %v, want each its own", all.IDs)
			}
			return &all
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			evs := events(tt.n)
			err := tt.publish(evs)
			var perr *PublishError
			if !errors.As(err, &perr) || !perr.Retryable || len(perr.IDs) != tt.n {
				t.Fatalf("got %v, want a retryable PublishError naming %d ids", err, tt.n)
			}
			for i, id := range perr.IDs {
				if id == "" {
					t.Fatalf("id %d is empty", i)
				}
				evs[i].ID = id
			}
			res, err := good.PublishBatch(ctx, "t", evs)
			if err != nil {
				t.Fatal(err)
			}
			for i, r := range res {
				if !r.Duplicate {
					t.Fatalf("event %d published again with its named id was stored twice", i)
				}
			}
		})
	}
}

// A PublishBatch or PublishSync whose context ends first returns a
// retryable PublishError that matches the context's error and names the
// ids, whether it sent on its own goroutine (an idle publisher) or waited
// behind a batch in flight.
func TestAPublishWhoseContextEndsNamesItsIDs(t *testing.T) {
	c, g, _ := newGatedClient(t)
	var open sync.Once
	letThrough := func() { open.Do(func() { close(g.gate) }) }
	t.Cleanup(letThrough) // before the client's Close, also on a failure
	batch := func(ctx context.Context) error {
		_, err := c.PublishBatch(ctx, "t", []Event{{Type: "x"}, {Type: "y"}})
		return err
	}
	single := func(ctx context.Context) error { _, err := c.PublishSync(ctx, "t", Event{Type: "x"}); return err }
	check := func(t *testing.T, err error, n int) {
		t.Helper()
		var perr *PublishError
		if !errors.Is(err, context.DeadlineExceeded) || !errors.As(err, &perr) || !perr.Retryable || len(perr.IDs) != n {
			t.Fatalf("got %v, want a retryable PublishError matching the deadline and naming %d ids", err, n)
		}
	}
	short := func() context.Context {
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		t.Cleanup(cancel)
		return ctx
	}
	// Idle: each call sends on its own goroutine under its context.
	check(t, batch(short()), 2)
	<-g.entered
	check(t, single(short()), 1)
	<-g.entered
	// Busy: an event of an earlier Publish holds the one slot.
	first := c.Publish(context.Background(), "t", Event{Type: "first"})
	<-g.entered
	check(t, batch(short()), 2)
	check(t, single(short()), 1)
	letThrough()
	if _, err := first.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
}
