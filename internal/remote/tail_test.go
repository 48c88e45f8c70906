package remote

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/cloudevent"
	"github.com/heraldhq/herald/internal/broker"
	"github.com/heraldhq/herald/internal/wire"
)

// publishTo stores one event of the given id in partition p of topic,
// which has one or two partitions.
func publishTo(t testing.TB, b Backend, topic string, p int, id string) {
	t.Helper()
	ev := newEvent(8)
	ev.ID = id
	ev.SetExtension("partitionkey", keyFor(p, 2))
	res, err := b.Publish(testCtx(t), topic, []cloudevent.Event{ev})
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Partition != p {
		t.Fatalf("%s went to partition %d, want %d", id, res[0].Partition, p)
	}
}

// keyFor returns a partition key the broker places in partition p of n.
func keyFor(p, n int) string {
	for i := 0; ; i++ {
		if k := fmt.Sprint("k", i); broker.PartitionForKey(k, n) == p {
			return k
		}
	}
}

// nextN reads n events from s, as "id@partition/offset".
func nextN(t testing.TB, s EventStream, n int) []string {
	t.Helper()
	ctx := testCtx(t)
	var out []string
	for len(out) < n {
		ev, err := s.Next(ctx)
		if err != nil {
			t.Fatalf("after %d of %d events: %v", len(out), n, err)
		}
		out = append(out, fmt.Sprintf("%s@%d/%d", ev.Event.ID, ev.Partition, ev.Offset))
	}
	return out
}

// expired is a context that has ended.
func expired() context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), -time.Second)
	cancel()
	return ctx
}

func TestTailMatchesTheEmbeddedBroker(t *testing.T) {
	start := func(kind broker.StartKind, offset int64) broker.StartPosition {
		return broker.StartPosition{Kind: kind, Offset: offset}
	}
	tests := []struct {
		name      string
		partition int
		pos       broker.StartPosition
		filter    broker.Filter
		n         int // events to read
	}{
		{"every partition from the earliest", -1, start(broker.StartEarliest, 0), broker.Filter{}, 4},
		{"one partition from an offset", 1, start(broker.StartOffset, 1), broker.Filter{}, 2},
		{"only some types", -1, start(broker.StartEarliest, 0), broker.Filter{Types: []string{"other"}}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := map[string][]string{}
			for name, b := range backends(t) {
				mustTopic(t, b, "tl", broker.TopicConfig{Partitions: 2})
				for i, p := range []int{0, 1, 1} {
					publishTo(t, b, "tl", p, fmt.Sprint("e", i))
				}
				ev := newEvent(1)
				ev.ID, ev.Type = "o", "other"
				if _, err := b.Publish(testCtx(t), "tl", []cloudevent.Event{ev}); err != nil {
					t.Fatal(err)
				}
				s, err := b.Tail(testCtx(t), "tl", tt.partition, tt.pos, tt.filter)
				if err != nil {
					t.Fatal(name, err)
				}
				got[name] = nextN(t, s, tt.n)
				// Nothing more: a done context answers with what is ready.
				if ev, err := s.Next(expired()); !errors.Is(err, context.DeadlineExceeded) {
					t.Errorf("%s: after the stored events Next = %+v, %v; want DeadlineExceeded", name, ev, err)
				}
				s.Close()
				if _, err := s.Next(testCtx(t)); err == nil || err.Error() != "stream closed" {
					t.Errorf("%s: Next after Close = %v, want stream closed", name, err)
				}
			}
			if fmt.Sprint(got["embedded"]) != fmt.Sprint(got["remote"]) {
				t.Fatalf("embedded read %v, remote %v", got["embedded"], got["remote"])
			}
		})
	}
}

func TestTailErrorsMatchTheEmbeddedBroker(t *testing.T) {
	tests := []struct {
		name   string
		topic  string
		pos    broker.StartPosition
		filter broker.Filter
		want   error
	}{
		{"missing topic", "nope", broker.StartPosition{}, broker.Filter{}, broker.ErrTopicNotFound},
		{"unknown start kind", "t", broker.StartPosition{Kind: "someday"}, broker.Filter{}, broker.ErrInvalid},
		{"time kind without a time", "t", broker.StartPosition{Kind: broker.StartTime}, broker.Filter{}, broker.ErrInvalid},
		{"empty filter type", "t", broker.StartPosition{}, broker.Filter{Types: []string{""}}, broker.ErrInvalid},
	}
	all := backends(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			errs := map[string]error{}
			for name, b := range all {
				s, err := b.Tail(testCtx(t), tt.topic, -1, tt.pos, tt.filter)
				if err == nil {
					s.Close()
				}
				errs[name] = err
			}
			emb, rem := errs["embedded"], errs["remote"]
			if !errors.Is(emb, tt.want) || rem == nil {
				t.Fatalf("embedded: %v, remote: %v; want both to fail with %v", emb, rem, tt.want)
			}
			sameError(t, emb, rem)
		})
	}
}

// Both follow the topic: an event published after the tail opened comes
// to a Next that was already waiting for it.
func TestTailFollows(t *testing.T) {
	for name, b := range backends(t) {
		t.Run(name, func(t *testing.T) {
			s, err := b.Tail(testCtx(t), "t", -1, broker.StartPosition{Kind: broker.StartLatest}, broker.Filter{})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			got := make(chan string, 1)
			go func() {
				ev, err := s.Next(testCtx(t))
				got <- fmt.Sprint(ev.Event.ID, err)
			}()
			publishTo(t, b, "t", 0, "live-"+name)
			select {
			case g := <-got:
				if g != "live-"+name+"<nil>" {
					t.Fatalf("Next = %s", g)
				}
			case <-time.After(waitLimit):
				t.Fatal("the published event never came")
			}
		})
	}
}

// A Next whose context ends while the server holds its TAIL loses
// nothing: what that TAIL brings goes to the next Next.
func TestTailLosesNothingAcrossEndedWaits(t *testing.T) {
	ts := startServer(t, t.TempDir(), "127.0.0.1:0")
	c := dial(t, ts.url)
	mustTopic(t, c, "t", broker.TopicConfig{})
	s, err := c.Tail(testCtx(t), "t", -1, broker.StartPosition{Kind: broker.StartLatest}, broker.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const n = 200
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := range n {
			publishTo(t, c, "t", 0, fmt.Sprint("e", i))
		}
	})
	deadline := time.Now().Add(waitLimit)
	for i := 0; i < n; {
		ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
		ev, err := s.Next(ctx)
		cancel()
		switch {
		case errors.Is(err, context.DeadlineExceeded) && time.Now().Before(deadline):
			continue
		case err != nil:
			t.Fatalf("after %d events: %v", i, err)
		case ev.Event.ID != fmt.Sprint("e", i):
			t.Fatalf("event %d is %s: one was lost or repeated", i, ev.Event.ID)
		}
		i++
	}
	wg.Wait()
}

// A tail lives on its connection: when the connection fails, Next says
// so, every time, and the Conn itself goes on.
func TestTailEndsWithItsConnection(t *testing.T) {
	ts := startServer(t, t.TempDir(), "127.0.0.1:0")
	var mu sync.Mutex
	cutNextTail := false
	p := startProxy(t, ts.addr, func(toServer bool, h wire.Header) bool {
		mu.Lock()
		defer mu.Unlock()
		if toServer && h.Type == wire.TypeTail && cutNextTail {
			cutNextTail = false
			return true
		}
		return false
	})
	c := dial(t, p.url())
	mustTopic(t, c, "t", broker.TopicConfig{})
	s, err := c.Tail(testCtx(t), "t", -1, broker.StartPosition{Kind: broker.StartEarliest}, broker.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	mu.Lock()
	cutNextTail = true
	mu.Unlock()
	for range 2 {
		_, err := s.Next(testCtx(t))
		if !errors.Is(err, ErrConnectionLost) || !IsRetryable(err) {
			t.Fatalf("Next on a lost connection = %v, want ErrConnectionLost", err)
		}
	}
	if _, err := c.Topic(testCtx(t), "t"); err != nil {
		t.Fatalf("the Conn did not reconnect: %v", err)
	}
}
