package broker

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// wantField checks that err is a validation error naming field.
func wantField(t *testing.T, err error, field string) {
	t.Helper()
	if field == "" {
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return
	}
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("error %v does not match ErrInvalid", err)
	}
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Field != field {
		t.Fatalf("error %v does not name field %q", err, field)
	}
}

func TestTopicConfigValidate(t *testing.T) {
	tests := []struct {
		name  string
		cfg   TopicConfig
		field string
	}{
		{"zero value takes defaults", TopicConfig{}, ""},
		{"everything set", TopicConfig{Partitions: 8, Retention: time.Hour, RetentionBytes: 1 << 30, MaxEventBytes: 4096, DedupWindow: time.Minute, MaxBytes: 1 << 20}, ""},
		{"forever and no dedup", TopicConfig{Retention: Forever, DedupWindow: Disabled}, ""},
		{"negative partitions", TopicConfig{Partitions: -1}, "partitions"},
		{"too many partitions", TopicConfig{Partitions: MaxPartitions + 1}, "partitions"},
		{"negative retention", TopicConfig{Retention: -2}, "retention"},
		{"negative retention bytes", TopicConfig{RetentionBytes: -1}, "retentionBytes"},
		{"huge events", TopicConfig{MaxEventBytes: MaxEventBytes + 1}, "maxEventBytes"},
		{"dedup window too long", TopicConfig{DedupWindow: MaxDedupWindow + 1}, "dedupWindow"},
		{"negative dedup window", TopicConfig{DedupWindow: -5}, "dedupWindow"},
		{"tiny quota", TopicConfig{MaxBytes: 10}, "maxBytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { wantField(t, tt.cfg.Validate(), tt.field) })
	}
}

func TestSubscriptionConfigValidate(t *testing.T) {
	long := strings.Repeat("x", 200)
	tests := []struct {
		name        string
		topic, sub  string
		cfg         SubscriptionConfig
		field       string
		errContains string
	}{
		{"zero value takes defaults", "t", "s", SubscriptionConfig{}, "", ""},
		{"full", "t", "s", SubscriptionConfig{Filter: Filter{Types: []string{"a"}, SubjectPrefix: "x/"}, Ordering: OrderKey,
			Start: StartPosition{Kind: StartTime, Time: time.Now()}, AckTimeout: time.Minute,
			Retry:       RetryPolicy{Initial: time.Second, Multiplier: 3, Max: time.Minute, Jitter: 0.5, MaxDeliveries: Unlimited},
			MaxInFlight: 10, MaxInFlightPerConsumer: 2, DeadLetterTopic: "dead"}, "", ""},
		{"unknown ordering", "t", "s", SubscriptionConfig{Ordering: "fifo"}, "ordering", ""},
		{"unknown start", "t", "s", SubscriptionConfig{Start: StartPosition{Kind: "middle"}}, "start.kind", ""},
		{"negative start offset", "t", "s", SubscriptionConfig{Start: StartPosition{Kind: StartOffset, Offset: -1}}, "start.offset", ""},
		{"start time missing", "t", "s", SubscriptionConfig{Start: StartPosition{Kind: StartTime}}, "start.time", ""},
		{"empty filter type", "t", "s", SubscriptionConfig{Filter: Filter{Types: []string{"a", ""}}}, "filter.types[1]", ""},
		{"ack timeout too short", "t", "s", SubscriptionConfig{AckTimeout: time.Microsecond}, "ackTimeout", ""},
		{"ack timeout too long", "t", "s", SubscriptionConfig{AckTimeout: MaxAckTimeout + 1}, "ackTimeout", ""},
		{"multiplier below 1", "t", "s", SubscriptionConfig{Retry: RetryPolicy{Multiplier: 0.5}}, "retry.multiplier", ""},
		{"max below initial", "t", "s", SubscriptionConfig{Retry: RetryPolicy{Initial: time.Minute, Max: time.Second}}, "retry.max", ""},
		{"jitter above 1", "t", "s", SubscriptionConfig{Retry: RetryPolicy{Jitter: 1.5}}, "retry.jitter", ""},
		{"negative delay", "t", "s", SubscriptionConfig{Retry: RetryPolicy{Delays: []time.Duration{time.Second, -1}}}, "retry.delays[1]", ""},
		{"max deliveries below -1", "t", "s", SubscriptionConfig{Retry: RetryPolicy{MaxDeliveries: -2}}, "retry.maxDeliveries", ""},
		{"negative in flight", "t", "s", SubscriptionConfig{MaxInFlight: -1}, "maxInFlight", ""},
		{"negative per consumer", "t", "s", SubscriptionConfig{MaxInFlightPerConsumer: -1}, "maxInFlightPerConsumer", ""},
		{"bad dead-letter name", "t", "s", SubscriptionConfig{DeadLetterTopic: "../dlq"}, "deadLetterTopic", ""},
		{"dead letters into the topic itself", "t", "s", SubscriptionConfig{DeadLetterTopic: "t"}, "deadLetterTopic", "own topic"},
		{"default dead-letter name too long", long, long, SubscriptionConfig{}, "deadLetterTopic", "set deadLetterTopic explicitly"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.validateFor(tt.topic, tt.sub)
			wantField(t, err, tt.field)
			if tt.errContains != "" && !strings.Contains(err.Error(), tt.errContains) {
				t.Fatalf("error %q does not say %q", err, tt.errContains)
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	wantField(t, Config{}.Validate(), "dataDir")
	wantField(t, Config{DataDir: "x", RetentionCheck: -1}.Validate(), "retentionCheck")
	wantField(t, Config{DataDir: "x", DefaultTopic: TopicConfig{Partitions: -3}}.Validate(), "defaultTopic.partitions")
	wantField(t, Config{DataDir: "x"}.Validate(), "")
	if _, err := Open(Config{}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Open with no data dir = %v, want ErrInvalid", err)
	}
}

func TestTopicDefaultsComeFromTheBroker(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.DefaultTopic = TopicConfig{Partitions: 3, DedupWindow: time.Minute} })
	info, err := e.b.CreateTopic(context.Background(), "t", TopicConfig{MaxEventBytes: 2048})
	if err != nil {
		t.Fatal(err)
	}
	want := TopicConfig{Partitions: 3, Retention: DefaultRetention, MaxEventBytes: 2048, DedupWindow: time.Minute}
	if info.Config != want || len(info.Partitions) != 3 {
		t.Fatalf("config %+v with %d partitions, want %+v", info.Config, len(info.Partitions), want)
	}
}

func TestUpdateTopicPartitionsOnlyGrow(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.createTopic("t", TopicConfig{Partitions: 2})
	e.createSub("t", "s", SubscriptionConfig{})
	_, err := e.b.UpdateTopic(ctx, "t", TopicConfig{Partitions: 1})
	wantField(t, err, "partitions")
	if !strings.Contains(err.Error(), "only grow") {
		t.Fatalf("error %q does not say partitions only grow", err)
	}
	info, err := e.b.UpdateTopic(ctx, "t", TopicConfig{Partitions: 5, Retention: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if len(info.Partitions) != 5 || info.Config.Retention != time.Hour {
		t.Fatalf("after update: %+v", info)
	}
	// The new partitions take events, and an existing subscription sees
	// them from their first offset.
	var evs []string
	for i := range 20 {
		evs = append(evs, string(rune('a'+i)))
	}
	for _, id := range evs {
		e.publish("t", ev(id, "partitionkey="+id))
	}
	got := map[string]bool{}
	for _, d := range e.poll("t", "s", "c", 100) {
		got[d.Event.Event.ID] = true
	}
	if len(got) != len(evs) {
		t.Fatalf("subscription got %d of %d events across grown partitions", len(got), len(evs))
	}
	e.restart()
	info, err = e.b.Topic("t")
	if err != nil {
		t.Fatal(err)
	}
	if len(info.Partitions) != 5 || info.Config.Retention != time.Hour {
		t.Fatalf("after restart: %+v", info)
	}
	if _, err := e.b.UpdateTopic(ctx, "missing", TopicConfig{}); !errors.Is(err, ErrTopicNotFound) {
		t.Fatalf("UpdateTopic(missing) = %v", err)
	}
}

func TestRetryDelay(t *testing.T) {
	exp := RetryPolicy{Initial: time.Second, Multiplier: 2, Max: 10 * time.Second}
	tests := []struct {
		name   string
		policy RetryPolicy
		n      int
		r      float64
		want   time.Duration
	}{
		{"first failure waits initial", exp, 1, 0.5, time.Second},
		{"grows by the multiplier", exp, 3, 0.5, 4 * time.Second},
		{"capped at max", exp, 10, 0.5, 10 * time.Second},
		{"huge n does not overflow", exp, 10000, 0.5, 10 * time.Second},
		{"jitter low end", RetryPolicy{Initial: time.Second, Multiplier: 2, Max: time.Minute, Jitter: 0.2}, 1, 0, 800 * time.Millisecond},
		{"jitter high end", RetryPolicy{Initial: time.Second, Multiplier: 2, Max: time.Minute, Jitter: 0.2}, 1, 0.999999, 1199999800 * time.Nanosecond},
		{"jitter never passes max", RetryPolicy{Initial: time.Second, Multiplier: 2, Max: 2 * time.Second, Jitter: 0.5}, 5, 0.99, 2 * time.Second},
		{"explicit list", RetryPolicy{Delays: []time.Duration{time.Second, 5 * time.Second}}, 2, 0.9, 5 * time.Second},
		{"explicit list repeats its last", RetryPolicy{Delays: []time.Duration{time.Second, 5 * time.Second}}, 7, 0.9, 5 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := retryDelay(tt.policy, tt.n, tt.r)
			if d := got - tt.want; d > time.Microsecond || d < -time.Microsecond {
				t.Fatalf("retryDelay = %v, want %v", got, tt.want)
			}
		})
	}
	if d := (RetryPolicy{}).withDefaults(); d.Initial != time.Second || d.Multiplier != 2 || d.Max != time.Minute ||
		d.Jitter != DefaultRetryJitter || d.MaxDeliveries != 5 {
		t.Fatalf("defaults %+v", d)
	}
	if d := (RetryPolicy{Jitter: -1}).withDefaults(); d.Jitter != 0 {
		t.Fatalf("negative jitter should turn it off, got %v", d.Jitter)
	}
}
