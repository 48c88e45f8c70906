package herald

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// Tail and Fetch, on every transport (see behaviour_test.go).

// tailFixture is a topic "orders" of two partitions holding a0 a1 (key
// "a") in one partition and b0 (key "b") in the other. It returns each
// event's "id@partition/offset", and the partition of key "a".
func tailFixture(t *testing.T, c *Client) (pos map[string]string, aPart int) {
	t.Helper()
	ctx := context.Background()
	if err := c.CreateTopic(ctx, "orders", TopicConfig{Partitions: 2}); err != nil {
		t.Fatal(err)
	}
	pos = map[string]string{}
	for _, e := range []struct{ key, id, typ string }{{"a", "a0", "Placed"}, {"a", "a1", "Paid"}, {"b", "b0", "Placed"}} {
		ev := ev(e.typ, e.key, 0)
		ev.ID = e.id
		r, err := c.PublishSync(ctx, "orders", ev)
		if err != nil {
			t.Fatal(err)
		}
		pos[e.id] = fmt.Sprintf("%s@%d/%d", e.id, r.Partition, r.Offset)
		if e.key == "a" {
			aPart = r.Partition
		}
	}
	return pos, aPart
}

// collect returns a Tail callback that records "id@partition/offset".
func collect(got *[]string) func(*Message) error {
	return func(m *Message) error {
		*got = append(*got, fmt.Sprintf("%s@%d/%d", m.ID, m.Partition, m.Offset))
		return nil
	}
}

func TestTailStored(t *testing.T) {
	for _, tr := range transports() {
		t.Run(tr.name, func(t *testing.T) {
			c := tr.open(t, t.TempDir())
			pos, aP := tailFixture(t, c)
			inOrder := []string{pos["a0"], pos["a1"], pos["b0"]}
			if aP == 1 {
				inOrder = []string{pos["b0"], pos["a0"], pos["a1"]}
			}
			tests := []struct {
				name string
				opts []TailOption
				want []string
			}{
				{"everything, partition by partition", nil, inOrder},
				{"one partition from an offset", []TailOption{TailPartition(aP), TailFrom(FromOffset(1))}, []string{pos["a1"]}},
				{"from a time after everything", []TailOption{TailFrom(FromTime(time.Now().Add(time.Hour)))}, nil},
				{"from the latest reads nothing", []TailOption{TailFrom(FromLatest)}, nil},
				{"a filter", []TailOption{TailFilter(Filter{Types: []string{"Paid"}})}, []string{pos["a1"]}},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					var got []string
					if err := c.Tail(context.Background(), "orders", collect(&got), tt.opts...); err != nil {
						t.Fatal(err)
					}
					if fmt.Sprint(got) != fmt.Sprint(tt.want) {
						t.Fatalf("got %v, want %v", got, tt.want)
					}
				})
			}
		})
	}
}

func TestTailRefusals(t *testing.T) {
	stop := errors.New("stop")
	for _, tr := range transports() {
		t.Run(tr.name, func(t *testing.T) {
			c := tr.open(t, t.TempDir())
			tailFixture(t, c)
			tests := []struct {
				name  string
				topic string
				fn    func(*Message) error
				opts  []TailOption
				want  error
				text  string
			}{
				{"missing topic", "nope", nil, nil, ErrTopicNotFound, "nope"},
				{"partition the topic lacks", "orders", nil, []TailOption{TailPartition(2)}, ErrInvalid,
					`invalid partition: topic "orders" has partitions 0 to 1, not 2`},
				{"negative partition", "orders", nil, []TailOption{TailPartition(-1), Follow()}, ErrInvalid, "must not be negative"},
				{"negative offset", "orders", nil, []TailOption{TailFrom(FromOffset(-1))}, ErrInvalid, "must not be negative"},
				{"unknown start kind, following", "orders", nil, []TailOption{TailFrom(StartPosition{Kind: "soon"}), Follow()}, ErrInvalid, `"soon"`},
				{"the callback's error stops it", "orders", func(*Message) error { return stop }, nil, stop, "stop"},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					fn := tt.fn
					if fn == nil {
						fn = func(*Message) error { return nil }
					}
					err := c.Tail(context.Background(), tt.topic, fn, tt.opts...)
					if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.text) {
						t.Fatalf("Tail = %v, want %v saying %q", err, tt.want, tt.text)
					}
				})
			}
		})
	}
}

// A following tail starts at the latest event, gets what is published
// after it started, and returns nil when its context ends.
func TestTailFollow(t *testing.T) {
	for _, tr := range transports() {
		t.Run(tr.name, func(t *testing.T) {
			c := tr.open(t, t.TempDir())
			tailFixture(t, c)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			seen := make(chan string, 1)
			done := make(chan error, 1)
			go func() {
				done <- c.Tail(ctx, "orders", func(m *Message) error {
					select {
					case seen <- m.ID:
					default:
					}
					return nil
				}, Follow())
			}()
			// The tail opens at some point after the goroutine starts:
			// publish until it sees an event, which must be a new one.
			stopPublishing := make(chan struct{})
			published := make(chan error, 1)
			go func() {
				for i := 0; ; i++ {
					select {
					case <-stopPublishing:
						published <- nil
						return
					default:
					}
					e := ev("Live", "", i)
					e.ID = fmt.Sprint("live", i)
					if _, err := c.PublishSync(ctx, "orders", e); err != nil {
						published <- err
						return
					}
				}
			}()
			select {
			case id := <-seen:
				if !strings.HasPrefix(id, "live") {
					t.Errorf("the tail saw %s, stored before it started", id)
				}
			case <-ctx.Done():
				t.Error("the tail saw nothing")
			}
			close(stopPublishing)
			if err := <-published; err != nil {
				t.Fatal(err)
			}
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("Tail returned %v when its context ended, want nil", err)
				}
			case <-time.After(20 * time.Second):
				t.Fatal("Tail did not return when its context ended")
			}
		})
	}
}

func TestFetchAndSettle(t *testing.T) {
	for _, tr := range transports() {
		t.Run(tr.name, func(t *testing.T) {
			c := tr.open(t, t.TempDir())
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			if _, err := c.Fetch(ctx, "jobs", "w", "c1", 10); !errors.Is(err, ErrTopicNotFound) && !errors.Is(err, ErrSubscriptionNotFound) {
				t.Fatalf("Fetch from a missing subscription = %v", err)
			}
			for i, typ := range []string{"ack", "nack", "reject", "peek"} {
				if _, err := c.PublishSync(ctx, "jobs", ev(typ, "", i)); err != nil {
					t.Fatal(err)
				}
			}
			cfg := SubscriptionConfig{Start: FromEarliest, AckTimeout: 300 * time.Millisecond,
				Retry: RetryPolicy{Delays: []time.Duration{time.Millisecond}, MaxDeliveries: 5}}
			if err := c.CreateSubscription(ctx, "jobs", "w", cfg); err != nil {
				t.Fatal(err)
			}
			ms := fetchAll(t, c, ctx, 4)
			for _, m := range ms {
				if m.Token() == "" || m.Attempt != 1 || m.Subscription != "w" || m.Deadline.IsZero() {
					t.Fatalf("message %+v", m)
				}
				var err error
				switch m.Type {
				case "ack":
					err = m.Ack(ctx)
				case "nack":
					err = m.Nack(ctx, "not now")
				case "reject":
					err = m.Reject(ctx, "never")
				}
				if err != nil {
					t.Fatalf("%s: %v", m.Type, err)
				}
			}
			// The nacked event comes back at once, the peeked one when its
			// lease ends; both as a second attempt.
			again := map[string]int{}
			for _, m := range fetchAll(t, c, ctx, 2) {
				again[m.Type] = m.Attempt
			}
			if fmt.Sprint(again) != "map[nack:2 peek:2]" {
				t.Fatalf("redelivered %v, want nack and peek, second attempts", again)
			}
			var dead []string
			if err := c.Replay(ctx, "jobs.w.dlq", time.Time{}, func(m *Message) error {
				dead = append(dead, m.Type+":"+m.Extension("heralddlqreason"))
				return nil
			}); err != nil || len(dead) != 1 || !strings.HasPrefix(dead[0], "reject:") || !strings.Contains(dead[0], "never") {
				t.Fatalf("dead letters %v (%v), want the rejected event with its reason", dead, err)
			}
		})
	}
}

// CreateSubscription is how a Fetch user makes a subscription; its
// refusals match the SDK's own sentinels, embedded and remote alike, and
// a refused create changes nothing.
func TestCreateSubscriptionRefusals(t *testing.T) {
	for _, tr := range transports() {
		t.Run(tr.name, func(t *testing.T) {
			c := tr.open(t, t.TempDir())
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			if err := c.CreateSubscription(ctx, "jobs", "w", SubscriptionConfig{}); !errors.Is(err, ErrTopicNotFound) {
				t.Fatalf("CreateSubscription on a missing topic = %v, want ErrTopicNotFound", err)
			}
			if err := c.CreateTopic(ctx, "jobs", TopicConfig{Partitions: 1}); err != nil {
				t.Fatal(err)
			}
			if err := c.CreateTopic(ctx, "jobs", TopicConfig{Partitions: 1}); !errors.Is(err, ErrTopicExists) {
				t.Fatalf("CreateTopic of a taken name = %v, want ErrTopicExists", err)
			}
			if err := c.CreateSubscription(ctx, "jobs", "w", SubscriptionConfig{Start: FromEarliest, AckTimeout: time.Minute}); err != nil {
				t.Fatal(err)
			}
			tests := []struct {
				name, sub string
				cfg       SubscriptionConfig
				want      error
				field     string
			}{
				{"a taken name", "w", SubscriptionConfig{AckTimeout: time.Second}, ErrSubscriptionExists, ""},
				{"a negative ack timeout", "v", SubscriptionConfig{AckTimeout: -time.Second}, ErrInvalid, "ackTimeout"},
				{"its own topic as dead-letter topic", "v", SubscriptionConfig{DeadLetterTopic: "jobs"}, ErrInvalid, "deadLetterTopic"},
			}
			for _, tt := range tests {
				err := c.CreateSubscription(ctx, "jobs", tt.sub, tt.cfg)
				if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.field) {
					t.Errorf("%s: CreateSubscription = %v, want %v naming %q", tt.name, err, tt.want, tt.field)
				}
			}
			info, err := c.backend.Subscription(ctx, "jobs", "w")
			if err != nil || info.Config.AckTimeout != time.Minute {
				t.Fatalf("after a refused create the subscription's ack timeout is %v (%v), want 1m as created", info.Config.AckTimeout, err)
			}
			if _, err := c.backend.Subscription(ctx, "jobs", "v"); !errors.Is(err, ErrSubscriptionNotFound) {
				t.Fatalf("a refused create left subscription v behind: %v", err)
			}
		})
	}
}

// DeleteSubscription forgets a subscription's state, and DeleteTopic a
// topic with its subscriptions, ending a running Subscribe; both refuse
// what does not exist, embedded and remote alike.
func TestDeleteSubscriptionAndTopic(t *testing.T) {
	for _, tr := range transports() {
		t.Run(tr.name, func(t *testing.T) {
			c, ctx := openWithTopic(t, tr, "jobs")
			from := SubscriptionConfig{Start: FromEarliest}
			if err := c.CreateSubscription(ctx, "jobs", "w", from); err != nil {
				t.Fatal(err)
			}
			if _, err := c.PublishSync(ctx, "jobs", ev("job", "", 1)); err != nil {
				t.Fatal(err)
			}
			if ms := fetchAll(t, c, ctx, 1); ms[0].Ack(ctx) != nil {
				t.Fatal("ack failed")
			}
			if err := c.DeleteSubscription(ctx, "jobs", "w"); err != nil {
				t.Fatal(err)
			}
			if _, err := c.Fetch(ctx, "jobs", "w", "c1", 1); !errors.Is(err, ErrSubscriptionNotFound) {
				t.Fatalf("Fetch from a deleted subscription = %v, want ErrSubscriptionNotFound", err)
			}
			if err := c.DeleteSubscription(ctx, "jobs", "w"); !errors.Is(err, ErrSubscriptionNotFound) {
				t.Fatalf("deleting it again = %v, want ErrSubscriptionNotFound", err)
			}
			// Made again, it starts afresh: the acked event comes back, a
			// first attempt.
			if err := c.CreateSubscription(ctx, "jobs", "w", from); err != nil {
				t.Fatal(err)
			}
			if ms := fetchAll(t, c, ctx, 1); ms[0].Attempt != 1 {
				t.Fatalf("after the subscription was made again its event came as attempt %d, want 1", ms[0].Attempt)
			}

			handling := make(chan struct{}, 1)
			subscribed := make(chan error, 1)
			go func() {
				subscribed <- c.Subscribe(ctx, "jobs", "v", func(context.Context, *Message) error {
					select {
					case handling <- struct{}{}:
					default:
					}
					return nil
				}, WithStart(FromEarliest))
			}()
			select {
			case <-handling:
			case err := <-subscribed:
				t.Fatalf("Subscribe returned %v before handling an event", err)
			case <-ctx.Done():
				t.Fatal("Subscribe handled nothing")
			}
			if err := c.DeleteTopic(ctx, "jobs"); err != nil {
				t.Fatal(err)
			}
			select {
			case err := <-subscribed:
				// A fetch waiting at the time hears that its subscription
				// went, the next one that its topic did.
				if !errors.Is(err, ErrSubscriptionNotFound) && !errors.Is(err, ErrTopicNotFound) {
					t.Fatalf("Subscribe on a deleted topic returned %v, want ErrSubscriptionNotFound or ErrTopicNotFound", err)
				}
			case <-ctx.Done():
				t.Fatal("Subscribe did not end when its topic was deleted")
			}
			if err := c.DeleteTopic(ctx, "jobs"); !errors.Is(err, ErrTopicNotFound) {
				t.Fatalf("deleting the topic again = %v, want ErrTopicNotFound", err)
			}
			if _, err := c.backend.Topic(ctx, "jobs.w.dlq"); err != nil {
				t.Fatalf("the dead-letter topic went with its topic: %v", err)
			}
		})
	}
}

// openWithTopic opens a client on tr with a one-partition topic, and a
// context that bounds the test's waits.
func openWithTopic(t *testing.T, tr transport, topic string) (*Client, context.Context) {
	t.Helper()
	c := tr.open(t, t.TempDir())
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	if err := c.CreateTopic(ctx, topic, TopicConfig{Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	return c, ctx
}

// fetchAll fetches until n messages came.
func fetchAll(t *testing.T, c *Client, ctx context.Context, n int) []*Message {
	t.Helper()
	var out []*Message
	for len(out) < n {
		ms, err := c.Fetch(ctx, "jobs", "w", "c1", n-len(out))
		if err != nil {
			t.Fatalf("after %d of %d messages: %v", len(out), n, err)
		}
		out = append(out, ms...)
	}
	return out
}

// A handler may write into its message's Data and set extensions: the
// broker shares one decoded event between subscriptions (and keeps it for
// a redelivery), so what one handler changes must not reach another.
func TestMessagesOwnTheirDataAndExtensions(t *testing.T) {
	for _, tr := range transports() {
		t.Run(tr.name, func(t *testing.T) {
			c, ctx := openWithTopic(t, tr, "t")
			cfg := SubscriptionConfig{Start: FromEarliest}
			for _, sub := range []string{"a", "b"} {
				if err := c.CreateSubscription(ctx, "t", sub, cfg); err != nil {
					t.Fatal(err)
				}
			}
			e := Event{Type: "x", Data: []byte("original")}
			e.SetExtension("color", "blue")
			if _, err := c.PublishSync(ctx, "t", e); err != nil {
				t.Fatal(err)
			}
			fetchOne := func(sub string) *Message {
				t.Helper()
				ms, err := c.Fetch(ctx, "t", sub, "c", 1)
				if err != nil || len(ms) != 1 {
					t.Fatalf("Fetch from %s: %d messages, %v", sub, len(ms), err)
				}
				return ms[0]
			}
			a := fetchOne("a")
			copy(a.Data, "scribble")
			a.SetExtension("color", "red")
			b := fetchOne("b")
			if string(b.Data) != "original" || b.Extensions["color"] != "blue" {
				t.Fatalf("subscription b sees data %q, color %q: changed by a's handler", b.Data, b.Extensions["color"])
			}
		})
	}
}
