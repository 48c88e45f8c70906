package broker

import (
	"context"
	"fmt"
	"testing"

	"github.com/heraldhq/herald/cloudevent"
)

// A publish under OnQueued calls the callback exactly once, before it
// returns, whether it stores its events, finds them all duplicates, or
// fails.
func TestOnQueuedIsCalledOnceOnEveryOutcome(t *testing.T) {
	e := newEnv(t)
	e.createTopic("t", TopicConfig{Partitions: 3})
	tests := []struct {
		name    string
		topic   string
		events  []testEvent
		wantErr bool
	}{
		{"stored across partitions", "t", []testEvent{{"a", "k1"}, {"b", "k2"}, {"c", "k3"}}, false},
		{"all duplicates", "t", []testEvent{{"a", "k1"}}, false},
		{"unknown topic", "nope", []testEvent{{"x", ""}}, true},
		{"invalid event", "t", []testEvent{{"", ""}}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			calls := 0
			ctx := OnQueued(context.Background(), func() { calls++ })
			_, err := e.b.Publish(ctx, tt.topic, testEvents(tt.events))
			if (err != nil) != tt.wantErr {
				t.Fatalf("Publish: %v, want error %v", err, tt.wantErr)
			}
			if calls != 1 {
				t.Fatalf("callback called %d times, want 1", calls)
			}
		})
	}
}

// A publish started from the previous one's OnQueued callback, before that
// one is durable, is stored after it in every partition: a producer can
// pipeline batches without reordering a key.
func TestPublishStartedAfterQueuedIsStoredAfter(t *testing.T) {
	e := newEnv(t)
	e.createTopic("t", TopicConfig{Partitions: 2})
	const batches, perBatch = 50, 8
	results := make([][]PublishResult, batches)
	errs := make(chan error, batches)
	var publish func(i int)
	publish = func(i int) {
		var evs []testEvent
		for j := 0; j < perBatch; j++ {
			evs = append(evs, testEvent{fmt.Sprintf("%d-%d", i, j), fmt.Sprintf("k%d", j%3)})
		}
		ctx := OnQueued(context.Background(), func() {
			if i+1 < batches {
				go publish(i + 1)
			}
		})
		var err error
		results[i], err = e.b.Publish(ctx, "t", testEvents(evs))
		errs <- err
	}
	go publish(0)
	for range batches {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	last := map[string]PublishResult{}
	for i, rs := range results {
		for j, r := range rs {
			key := fmt.Sprintf("k%d", j%3)
			if prev, ok := last[key]; ok && r.Offset <= prev.Offset {
				t.Fatalf("batch %d event %d (key %s) at offset %d, after its predecessor at %d", i, j, key, r.Offset, prev.Offset)
			}
			last[key] = r
		}
	}
}

// testEvent is an event id and partition key ("" for none).
type testEvent struct{ id, key string }

func testEvents(tes []testEvent) []cloudevent.Event {
	out := make([]cloudevent.Event, len(tes))
	for i, te := range tes {
		if te.key != "" {
			out[i] = ev(te.id, "partitionkey="+te.key)
		} else {
			out[i] = ev(te.id)
		}
	}
	return out
}
