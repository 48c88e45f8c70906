package herald

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// The behaviour suite: one set of tests, run against every way of making a
// Client (embedded and remote), so both behave the same. A transport
// provides a fresh client on a data directory and a restart that keeps the
// directory (and, for remote, the server's data) but drops every
// connection and in-memory state.
type transport struct {
	name string
	// open returns a client on dir with opts; opening a dir again closes
	// the previous one's server or data directory and opens it again.
	open func(t testing.TB, dir string, opts ...Option) *Client
}

func transports() []transport {
	return append([]transport{{name: "embedded", open: openEmbedded}}, remoteTransports()...)
}

func openEmbedded(t testing.TB, dir string, opts ...Option) *Client {
	t.Helper()
	c, err := Open(dir, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestBehaviour(t *testing.T) {
	tests := []struct {
		name string
		run  func(t *testing.T, tr transport)
	}{
		{"publish then consume every event once", testPublishConsume},
		{"nack retries and dead-letters", testRetryAndDeadLetter},
		{"key ordering holds under retries", testKeyOrdering},
		{"restart keeps acked positions", testRestart},
		{"graceful stop finishes in-flight handlers", testGracefulStop},
		{"dedup and replay from a time", testDedupAndReplay},
		{"a backlog is handled in log order", testBacklogInLogOrder},
		{"a batch is stored in order and its retry deduplicated", testPublishBatch},
	}
	for _, tr := range transports() {
		t.Run(tr.name, func(t *testing.T) {
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) { tt.run(t, tr) })
			}
		})
	}
}

func ev(typ, key string, n int) Event {
	e := Event{Type: typ, Data: []byte(fmt.Sprintf(`{"n":%d}`, n)), DataContentType: "application/json"}
	if key != "" {
		e.SetExtension("partitionkey", key)
	}
	return e
}

// consumeUntil runs Subscribe until stop says so (checked under mu after
// every handled message; handlers take mu themselves to record what they
// saw) or 30 s pass.
func consumeUntil(t *testing.T, c *Client, mu *sync.Mutex, topic, sub string, h Handler, stop func() bool, opts ...SubscribeOption) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- c.Subscribe(ctx, topic, sub, func(hctx context.Context, m *Message) error {
			err := h(hctx, m)
			mu.Lock()
			defer mu.Unlock()
			if stop() {
				cancel()
			}
			return err
		}, opts...)
	}()
	if err := <-done; err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Fatal("the subscription did not reach its goal in 30s")
	}
}

func testPublishConsume(t *testing.T, tr transport) {
	c := tr.open(t, t.TempDir())
	ctx := context.Background()
	if err := c.CreateTopic(ctx, "orders", TopicConfig{Partitions: 3}); err != nil {
		t.Fatal(err)
	}
	var futures []*PublishFuture
	for i := 0; i < 200; i++ {
		futures = append(futures, c.Publish(ctx, "orders", ev("OrderPlaced", fmt.Sprintf("k%d", i%10), i)))
	}
	ids := map[string]bool{}
	for _, f := range futures {
		r, err := f.Wait(ctx)
		if err != nil {
			t.Fatal(err)
		}
		ids[r.ID] = true
	}
	var mu sync.Mutex
	seen := map[string]int{}
	consumeUntil(t, c, &mu, "orders", "billing", func(_ context.Context, m *Message) error {
		mu.Lock()
		seen[m.ID]++
		mu.Unlock()
		if m.Attempt != 1 || m.Topic != "orders" || m.PublishTime.IsZero() {
			return Permanent(fmt.Errorf("unexpected message %+v", m))
		}
		return nil
	}, func() bool { return len(seen) == len(ids) }, WithStart(FromEarliest), Concurrency(8))
	for id := range ids {
		if seen[id] != 1 {
			t.Fatalf("event %s handled %d times, want once", id, seen[id])
		}
	}
}

// testBacklogInLogOrder consumes a backlog many fetches long with one
// handler: each partition's events arrive in log order, each once, although
// the remote subscriber keeps two fetches in flight.
func testBacklogInLogOrder(t *testing.T, tr transport) {
	c := tr.open(t, t.TempDir(), WithBatching(250, 8<<20, 0))
	ctx := context.Background()
	if err := c.CreateTopic(ctx, "clicks", TopicConfig{Partitions: 2}); err != nil {
		t.Fatal(err)
	}
	const n = 3000
	futures := make([]*PublishFuture, n)
	for i := range futures {
		futures[i] = c.Publish(ctx, "clicks", ev("Clicked", fmt.Sprintf("k%d", i%5), i))
	}
	for _, f := range futures {
		if _, err := f.Wait(ctx); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	last := map[int]int64{}
	handled := 0
	var outOfOrder error
	consumeUntil(t, c, &mu, "clicks", "audit", func(_ context.Context, m *Message) error {
		mu.Lock()
		defer mu.Unlock()
		if prev, ok := last[m.Partition]; ok && m.Offset != prev+1 && outOfOrder == nil {
			outOfOrder = fmt.Errorf("partition %d: offset %d handled after %d", m.Partition, m.Offset, prev)
		}
		last[m.Partition] = m.Offset
		handled++
		return nil
	}, func() bool { return handled == n }, WithStart(FromEarliest), Prefetch(16))
	if outOfOrder != nil {
		t.Fatal(outOfOrder)
	}
}

func testRetryAndDeadLetter(t *testing.T, tr transport) {
	c := tr.open(t, t.TempDir())
	ctx := context.Background()
	for i, typ := range []string{"ok", "flaky", "broken", "poison"} {
		if _, err := c.PublishSync(ctx, "jobs", ev(typ, "", i)); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	attempts := map[string]int{}
	acked := map[string]bool{}
	consumeUntil(t, c, &mu, "jobs", "worker", func(_ context.Context, m *Message) error {
		mu.Lock()
		defer mu.Unlock()
		attempts[m.Type] = m.Attempt
		switch m.Type {
		case "flaky":
			if m.Attempt < 2 {
				return errors.New("flaky: try again")
			}
		case "broken":
			return errors.New("broken: always fails")
		case "poison":
			return Permanent(errors.New("poison: cannot parse"))
		}
		acked[m.Type] = true
		return nil
	}, func() bool {
		return attempts["broken"] == 3 && acked["ok"] && acked["flaky"] && attempts["poison"] == 1
	},
		WithStart(FromEarliest), Concurrency(2), WithRetry(RetryPolicy{Delays: []time.Duration{time.Millisecond}, MaxDeliveries: 3}))

	// The dead-letter topic is an ordinary topic: replay it.
	var dead []string
	deadline := time.Now().Add(20 * time.Second)
	for len(dead) < 2 && time.Now().Before(deadline) {
		dead = dead[:0]
		err := c.Replay(ctx, "jobs.worker.dlq", time.Time{}, func(m *Message) error {
			dead = append(dead, m.Type+":"+m.Extension("heralddlqattempts"))
			return nil
		})
		if err != nil && !errors.Is(err, ErrTopicNotFound) {
			t.Fatal(err)
		}
		if len(dead) < 2 {
			waitBrokerTick(c)
		}
	}
	sort.Strings(dead)
	if fmt.Sprint(dead) != "[broken:3 poison:1]" {
		t.Fatalf("dead letters %v, want broken after 3 attempts and poison after 1", dead)
	}
}

// waitBrokerTick gives the broker's timekeeper a moment without sleeping
// blindly: a sync publish to a scratch topic is a full round trip.
func waitBrokerTick(c *Client) {
	c.PublishSync(context.Background(), "tick", Event{Type: "tick"})
}

func testKeyOrdering(t *testing.T, tr transport) {
	c := tr.open(t, t.TempDir())
	ctx := context.Background()
	if err := c.CreateTopic(ctx, "accounts", TopicConfig{Partitions: 2}); err != nil {
		t.Fatal(err)
	}
	const keys, perKey = 6, 15
	for i := 0; i < perKey; i++ {
		for k := 0; k < keys; k++ {
			c.Publish(ctx, "accounts", ev("Changed", fmt.Sprintf("acct-%d", k), i))
		}
	}
	if err := c.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	order := map[string][]string{}
	total := 0
	consumeUntil(t, c, &mu, "accounts", "ledger", func(_ context.Context, m *Message) error {
		mu.Lock()
		defer mu.Unlock()
		if m.Offset%4 == 0 && m.Attempt == 1 {
			return errors.New("first attempt fails") // retries must not reorder a key
		}
		key := m.Extension("partitionkey")
		order[key] = append(order[key], string(m.Data))
		total++
		return nil
	}, func() bool { return total == keys*perKey },
		WithStart(FromEarliest), Concurrency(8), WithOrdering(OrderKey),
		WithRetry(RetryPolicy{Delays: []time.Duration{time.Millisecond}, MaxDeliveries: 5}))
	for k, got := range order {
		for i, data := range got {
			if want := fmt.Sprintf(`{"n":%d}`, i); data != want {
				t.Fatalf("key %s: event %d is %s, want %s (order %v)", k, i, data, want, got)
			}
		}
	}
}

func testRestart(t *testing.T, tr transport) {
	dir := t.TempDir()
	c := tr.open(t, dir)
	ctx := context.Background()
	for i := 0; i < 20; i++ {
		c.Publish(ctx, "q", ev("T", "", i))
	}
	if err := c.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	first := map[string]bool{}
	consumeUntil(t, c, &mu, "q", "s", func(_ context.Context, m *Message) error {
		mu.Lock()
		first[m.ID] = true
		mu.Unlock()
		return nil
	}, func() bool { return len(first) == 10 }, WithStart(FromEarliest), Prefetch(1)) // fetch no further than the stop
	c.Close()

	c = tr.open(t, dir)
	second := map[string]bool{}
	consumeUntil(t, c, &mu, "q", "s", func(_ context.Context, m *Message) error {
		mu.Lock()
		defer mu.Unlock()
		if first[m.ID] {
			return Permanent(fmt.Errorf("event %s was acked before the restart and delivered again", m.ID))
		}
		second[m.ID] = true
		return nil
	}, func() bool { return len(first)+len(second) == 20 })
	if len(second) != 10 {
		t.Fatalf("after restart handled %d events, want the 10 not acked before", len(second))
	}
}

func testGracefulStop(t *testing.T, tr transport) {
	c := tr.open(t, t.TempDir())
	ctx := context.Background()
	for i := 0; i < 4; i++ {
		c.PublishSync(ctx, "slow", ev("T", "", i))
	}
	sctx, stop := context.WithCancel(ctx)
	started := make(chan struct{}, 4)
	release := make(chan struct{})
	var finished sync.WaitGroup
	finished.Add(4)
	done := make(chan error, 1)
	go func() {
		done <- c.Subscribe(sctx, "slow", "s", func(hctx context.Context, m *Message) error {
			started <- struct{}{}
			<-release
			finished.Done()
			return hctx.Err() // the handler's context must survive the stop
		}, WithStart(FromEarliest), Concurrency(4))
	}()
	for i := 0; i < 4; i++ {
		<-started
	}
	stop()
	select {
	case err := <-done:
		t.Fatalf("Subscribe returned (%v) before its handlers finished", err)
	default:
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	finished.Wait()
	// All four were acked: nothing comes back.
	cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	redelivered := make(chan string, 4)
	c.Subscribe(cctx, "slow", "s", func(_ context.Context, m *Message) error {
		redelivered <- m.ID
		return nil
	})
	if len(redelivered) != 0 {
		t.Fatalf("events handled before a graceful stop were redelivered")
	}
}

func testDedupAndReplay(t *testing.T, tr transport) {
	c := tr.open(t, t.TempDir())
	ctx := context.Background()
	e := Event{ID: "fixed-1", Source: "/test", Type: "T"}
	r1, err := c.PublishSync(ctx, "d", e)
	if err != nil {
		t.Fatal(err)
	}
	r2, err := c.PublishSync(ctx, "d", e)
	if err != nil || !r2.Duplicate || r2.Offset != r1.Offset {
		t.Fatalf("second publish %+v, %v; want a duplicate at offset %d", r2, err, r1.Offset)
	}
	mid := time.Now()
	c.PublishSync(ctx, "d", ev("later", "", 1))
	var types []string
	if err := c.Replay(ctx, "d", mid, func(m *Message) error { types = append(types, m.Type); return nil }); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(types) != "[later]" {
		t.Fatalf("replay from a time saw %v", types)
	}
	var perr *PublishError
	if _, err := c.PublishSync(ctx, "d", Event{Type: "T", Subject: "bad\x00subject"}); !errors.As(err, &perr) || perr.Retryable {
		t.Fatalf("invalid event: %v, want a non-retryable PublishError", err)
	}
}

// PublishBatch stores its events in order, fills their missing attributes
// on copies, fails as a whole before sending when one is invalid, and a
// retry with the ids it gave is deduplicated.
func testPublishBatch(t *testing.T, tr transport) {
	c := tr.open(t, t.TempDir())
	ctx := context.Background()
	if err := c.CreateTopic(ctx, "b", TopicConfig{Partitions: 2}); err != nil {
		t.Fatal(err)
	}
	if res, err := c.PublishBatch(ctx, "b", nil); res != nil || err != nil {
		t.Fatalf("empty batch: %v, %v; want nothing", res, err)
	}
	events := make([]Event, 50)
	for i := range events {
		events[i] = ev(fmt.Sprintf("T%d", i), "k", i)
	}
	events[7].ID = "own-id"
	res, err := c.PublishBatch(ctx, "b", events)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != len(events) {
		t.Fatalf("%d results for %d events", len(res), len(events))
	}
	for i, r := range res {
		if r.ID == "" || r.Duplicate || r.Partition != res[0].Partition || r.Offset != res[0].Offset+int64(i) {
			t.Fatalf("result %d: %+v; want a new event right after %+v", i, r, res[0])
		}
	}
	if res[7].ID != "own-id" || events[0].ID != "" || events[0].Source != "" {
		t.Fatalf("ids: result 7 %q, events[0] %+v; want the given id kept and the caller's events untouched", res[7].ID, events[0])
	}
	var types []string
	if err := c.Tail(ctx, "b", func(m *Message) error { types = append(types, m.Type); return nil }, TailPartition(res[0].Partition)); err != nil {
		t.Fatal(err)
	}
	if len(types) != len(events) || types[0] != "T0" || types[49] != "T49" {
		t.Fatalf("stored %v; want T0 to T49 in order", types)
	}

	for i := range events { // the retry of a batch whose answer was lost
		events[i].ID = res[i].ID
	}
	again, err := c.PublishBatch(ctx, "b", events)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range again {
		if !r.Duplicate || r.Offset != res[i].Offset {
			t.Fatalf("retried event %d: %+v; want a duplicate of %+v", i, r, res[i])
		}
	}

	bad := []Event{ev("ok", "k", 0), ev("ok", "k", 1), {Type: "T", Subject: "bad\x00subject"}}
	var perr *PublishError
	if _, err := c.PublishBatch(ctx, "b", bad); !errors.As(err, &perr) || perr.Retryable || !strings.Contains(err.Error(), "events[2]") {
		t.Fatalf("a batch with an invalid event: %v; want a non-retryable PublishError naming events[2]", err)
	}
	types = types[:0]
	if err := c.Tail(ctx, "b", func(m *Message) error { types = append(types, m.Type); return nil }, TailPartition(res[0].Partition)); err != nil {
		t.Fatal(err)
	}
	if len(types) != len(events) {
		t.Fatalf("%d events stored after the invalid batch, want %d: it must store none", len(types), len(events))
	}
}
