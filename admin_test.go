package herald

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

// The admin and monitoring calls behave the same embedded and remote:
// topics and subscriptions are listed, described and updated, and a
// subscription's stats follow what its consumers do.
func TestTopicAndSubscriptionAdmin(t *testing.T) {
	for _, tr := range transports() {
		t.Run(tr.name, func(t *testing.T) {
			c, ctx := openWithTopic(t, tr, "jobs")
			if err := c.CreateTopic(ctx, "audit", TopicConfig{Partitions: 2}); err != nil {
				t.Fatal(err)
			}
			if err := c.CreateSubscription(ctx, "jobs", "w", SubscriptionConfig{Start: FromEarliest}); err != nil {
				t.Fatal(err)
			}
			topics, err := c.Topics(ctx)
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, ti := range topics {
				names = append(names, ti.Name)
			}
			// The subscription made its dead-letter topic.
			if fmt.Sprint(names) != "[audit jobs jobs.w.dlq]" {
				t.Fatalf("Topics = %v, want [audit jobs jobs.w.dlq], sorted", names)
			}

			for i := range 3 {
				if _, err := c.PublishSync(ctx, "jobs", ev("job", "", i)); err != nil {
					t.Fatal(err)
				}
			}
			info, err := c.Topic(ctx, "jobs")
			if err != nil {
				t.Fatal(err)
			}
			if len(info.Partitions) != 1 || info.Partitions[0].Next != 3 || info.Partitions[0].Earliest != 0 || info.Subscriptions != 1 {
				t.Fatalf("Topic(jobs) = %+v, want one partition holding offsets 0 to 2 and one subscription", info)
			}
			if _, err := c.Topic(ctx, "nope"); !errors.Is(err, ErrTopicNotFound) {
				t.Fatalf("Topic(nope) = %v, want ErrTopicNotFound", err)
			}

			// UpdateTopic replaces the configuration: read, change, write.
			audit, err := c.Topic(ctx, "audit")
			if err != nil {
				t.Fatal(err)
			}
			cfg := audit.Config
			cfg.Partitions = 3
			if err := c.UpdateTopic(ctx, "audit", cfg); err != nil {
				t.Fatal(err)
			}
			if audit, err = c.Topic(ctx, "audit"); err != nil || audit.Config.Partitions != 3 || len(audit.Partitions) != 3 {
				t.Fatalf("after growing to 3 partitions: %+v, %v", audit, err)
			}
			cfg.Partitions = 1
			if err := c.UpdateTopic(ctx, "audit", cfg); !isFieldError(err, "partitions") {
				t.Fatalf("shrinking a topic = %v, want ErrInvalid naming partitions", err)
			}
			if err := c.UpdateTopic(ctx, "nope", cfg); !errors.Is(err, ErrTopicNotFound) {
				t.Fatalf("UpdateTopic(nope) = %v, want ErrTopicNotFound", err)
			}

			subs, err := c.Subscriptions(ctx, "jobs")
			if err != nil || len(subs) != 1 || subs[0].Name != "w" || subs[0].Topic != "jobs" {
				t.Fatalf("Subscriptions(jobs) = %+v, %v; want w alone", subs, err)
			}
			if _, err := c.Subscriptions(ctx, "nope"); !errors.Is(err, ErrTopicNotFound) {
				t.Fatalf("Subscriptions(nope) = %v, want ErrTopicNotFound", err)
			}

			// Stats follow the consumer: 3 waiting, then 2 leased, then one
			// dead-lettered.
			wantStats(t, c, SubscriptionStats{Lag: 3})
			ms, err := c.Fetch(ctx, "jobs", "w", "c1", 2)
			if err != nil || len(ms) != 2 {
				t.Fatalf("Fetch = %d messages, %v; want 2", len(ms), err)
			}
			wantStats(t, c, SubscriptionStats{Lag: 1, InFlight: 2, Consumers: 1})
			if err := ms[0].Reject(ctx, "bad"); err != nil {
				t.Fatal(err)
			}
			if err := ms[1].Ack(ctx); err != nil {
				t.Fatal(err)
			}
			wantStats(t, c, SubscriptionStats{Lag: 1, DeadLettered: 1})
			if _, err := c.SubscriptionStats(ctx, "jobs", "nope"); !errors.Is(err, ErrSubscriptionNotFound) {
				t.Fatalf("SubscriptionStats(jobs, nope) = %v, want ErrSubscriptionNotFound", err)
			}

			// UpdateSubscription: read, change, write.
			sub, err := c.Subscription(ctx, "jobs", "w")
			if err != nil {
				t.Fatal(err)
			}
			scfg := sub.Config
			scfg.AckTimeout = 2 * time.Minute
			if err := c.UpdateSubscription(ctx, "jobs", "w", scfg); err != nil {
				t.Fatal(err)
			}
			if sub, err = c.Subscription(ctx, "jobs", "w"); err != nil || sub.Config.AckTimeout != 2*time.Minute {
				t.Fatalf("after the update: %+v, %v; want an ack timeout of 2m", sub.Config, err)
			}
			scfg.AckTimeout = time.Nanosecond
			if err := c.UpdateSubscription(ctx, "jobs", "w", scfg); !errors.Is(err, ErrInvalid) {
				t.Fatalf("an ack timeout of 1ns = %v, want ErrInvalid", err)
			}
			if _, err := c.Subscription(ctx, "jobs", "nope"); !errors.Is(err, ErrSubscriptionNotFound) {
				t.Fatalf("Subscription(jobs, nope) = %v, want ErrSubscriptionNotFound", err)
			}
		})
	}
}

// wantStats checks jobs/w's stats, but for Pending: whether an event not
// yet delivered is also pending depends on whether the subscription's
// read-ahead, which runs by itself, has read it yet.
func wantStats(t *testing.T, c *Client, want SubscriptionStats) {
	t.Helper()
	got, err := c.SubscriptionStats(t.Context(), "jobs", "w")
	if got.Pending > got.Lag {
		t.Errorf("Pending %d over Lag %d: only events not delivered yet are pending here", got.Pending, got.Lag)
	}
	got.Pending = 0
	if err != nil || got != want {
		t.Fatalf("SubscriptionStats = %+v, %v; want %+v", got, err, want)
	}
}
