package broker

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"
)

func TestUpdateSubscriptionKeepsLeasesAndRefilters(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.createTopic("t", TopicConfig{})
	e.createSub("t", "s", SubscriptionConfig{MaxInFlight: 2})
	e.publish("t", ev("a", "type=keep"), ev("b", "type=drop"), ev("c", "type=keep"), ev("d", "type=keep"))
	held := e.poll("t", "s", "c", 10)
	if got := ids(held); !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("first fetch %v", got)
	}
	info, err := e.b.UpdateSubscription(ctx, "t", "s", SubscriptionConfig{
		Filter: Filter{Types: []string{"keep"}}, Ordering: OrderKey, MaxInFlight: 10, DeadLetterTopic: "elsewhere",
		Start: StartPosition{Kind: StartEarliest}, // ignored: use Seek
	})
	if err != nil {
		t.Fatal(err)
	}
	if info.Config.Start.Kind != StartLatest || info.Config.Ordering != OrderKey || info.Config.DeadLetterTopic != "elsewhere" {
		t.Fatalf("updated config %+v", info.Config)
	}
	if _, err := e.b.Topic("elsewhere"); err != nil {
		t.Fatalf("new dead-letter topic: %v", err)
	}
	// Leases held before the update are still valid, whatever the filter.
	e.ack("t", "s", held...)
	if got := ids(e.poll("t", "s", "c", 10)); !slices.Equal(got, []string{"c", "d"}) {
		t.Fatalf("after the update got %v, want the remaining matching events", got)
	}
	e.restart()
	if got, _ := e.b.Subscription("t", "s"); got.Config.MaxInFlight != 10 {
		t.Fatalf("config after restart %+v", got.Config)
	}
	_, err = e.b.UpdateSubscription(ctx, "t", "s", SubscriptionConfig{Ordering: "random"})
	wantField(t, err, "ordering")
	if _, err := e.b.UpdateSubscription(ctx, "t", "nope", SubscriptionConfig{}); !errors.Is(err, ErrSubscriptionNotFound) {
		t.Fatalf("update of a missing subscription = %v", err)
	}
	if _, err := e.b.CreateSubscription(ctx, "t", "s", SubscriptionConfig{}); !errors.Is(err, ErrSubscriptionExists) {
		t.Fatalf("second create = %v, want ErrSubscriptionExists", err)
	}
	if _, err := e.b.CreateTopic(ctx, "t", TopicConfig{}); !errors.Is(err, ErrTopicExists) {
		t.Fatalf("second create = %v, want ErrTopicExists", err)
	}
}

func TestRetentionDeletesUnreadEvents(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.SegmentBytes = 4096 })
	e.createTopic("t", TopicConfig{RetentionBytes: 8192})
	e.createSub("t", "s", SubscriptionConfig{Start: StartPosition{Kind: StartEarliest}})
	for i := range 100 {
		event := ev(string(rune('A'+i%26)) + string(rune('a'+i/26)))
		event.Data = make([]byte, 200)
		e.publish("t", event)
	}
	tp, err := e.b.topic("t")
	if err != nil {
		t.Fatal(err)
	}
	tp.enforceRetention()
	earliest, next, _ := e.b.Offsets("t", 0)
	if earliest == 0 {
		t.Fatalf("retention deleted nothing")
	}
	ds := e.poll("t", "s", "c", 1000)
	if int64(len(ds)) != next-earliest || ds[0].Event.Offset != earliest {
		t.Fatalf("subscription got %d events from %d, the log holds %d from %d", len(ds), ds[0].Event.Offset, next-earliest, earliest)
	}
	e.clock.Advance(time.Second)
	if _, err := e.b.Read(context.Background(), "t", 0, 0, 1); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("Read below retention = %v", err)
	}
}
