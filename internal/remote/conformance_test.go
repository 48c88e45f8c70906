package remote

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/cloudevent"
	"github.com/heraldhq/herald/internal/broker"
	"github.com/heraldhq/herald/internal/commitlog"
)

// The same behaviour checks run against the embedded broker and against a
// Conn to a real server: code written for one must behave the same on the
// other, errors included.

// backends returns an embedded broker and a remote Conn, each with the
// fixture topics and subscriptions of these tests.
func backends(t *testing.T) map[string]Backend {
	t.Helper()
	ts := startServer(t, t.TempDir(), "127.0.0.1:0")
	all := map[string]Backend{"embedded": Embedded(openBroker(t)), "remote": dial(t, ts.url)}
	for _, b := range all {
		mustTopic(t, b, "t", broker.TopicConfig{})
		mustTopic(t, b, "small", broker.TopicConfig{MaxEventBytes: 1024})
		mustTopic(t, b, "quota", broker.TopicConfig{MaxBytes: 4096})
		mustSub(t, b, "t", "s", broker.SubscriptionConfig{Start: broker.StartPosition{Kind: broker.StartEarliest}})
	}
	return all
}

// sentinels are the errors both backends must agree on.
var sentinels = []error{
	broker.ErrInvalid, broker.ErrTopicNotFound, broker.ErrTopicExists, broker.ErrSubscriptionNotFound,
	broker.ErrSubscriptionExists, broker.ErrQuotaExceeded, broker.ErrBackpressure, broker.ErrUnknownToken,
	broker.ErrLeaseExpired, broker.ErrEventTooLarge, broker.ErrClosed, commitlog.ErrOffsetOutOfRange,
	cloudevent.ErrInvalid, cloudevent.ErrMalformed, context.Canceled, context.DeadlineExceeded,
}

func TestErrorsMatchTheEmbeddedBroker(t *testing.T) {
	noSource := newEvent(10)
	noSource.Source = ""
	type call func(ctx context.Context, b Backend) error
	tests := []struct {
		name string
		call call
		want error
	}{
		{"publish to a missing topic", func(ctx context.Context, b Backend) error {
			_, err := b.Publish(ctx, "nope", newEvents(1, 10))
			return err
		}, broker.ErrTopicNotFound},
		{"publish an invalid event names its field", func(ctx context.Context, b Backend) error {
			_, err := b.Publish(ctx, "t", []cloudevent.Event{newEvent(1), noSource})
			return err
		}, cloudevent.ErrInvalid},
		{"publish to an invalid topic name", func(ctx context.Context, b Backend) error {
			_, err := b.Publish(ctx, "../etc", newEvents(1, 10))
			return err
		}, broker.ErrInvalid},
		{"publish an event over maxEventBytes", func(ctx context.Context, b Backend) error {
			_, err := b.Publish(ctx, "small", newEvents(1, 2000))
			return err
		}, broker.ErrEventTooLarge},
		{"publish over the byte quota", func(ctx context.Context, b Backend) error {
			_, err := b.Publish(ctx, "quota", newEvents(10, 600))
			return err
		}, broker.ErrQuotaExceeded},
		{"create an existing topic", func(ctx context.Context, b Backend) error {
			_, err := b.CreateTopic(ctx, "t", broker.TopicConfig{})
			return err
		}, broker.ErrTopicExists},
		{"create a topic with several bad fields", func(ctx context.Context, b Backend) error {
			_, err := b.CreateTopic(ctx, "x", broker.TopicConfig{Partitions: -1, Retention: -5, MaxBytes: 10})
			return err
		}, broker.ErrInvalid},
		{"describe a missing topic", func(ctx context.Context, b Backend) error {
			_, err := b.Topic(ctx, "nope")
			return err
		}, broker.ErrTopicNotFound},
		{"update a missing topic", func(ctx context.Context, b Backend) error {
			_, err := b.UpdateTopic(ctx, "nope", broker.TopicConfig{})
			return err
		}, broker.ErrTopicNotFound},
		{"shrink a topic", func(ctx context.Context, b Backend) error {
			if _, err := b.UpdateTopic(ctx, "t", broker.TopicConfig{Partitions: 2}); err != nil {
				return err
			}
			_, err := b.UpdateTopic(ctx, "t", broker.TopicConfig{Partitions: 1})
			return err
		}, broker.ErrInvalid},
		{"update a topic with a bad field", func(ctx context.Context, b Backend) error {
			_, err := b.UpdateTopic(ctx, "t", broker.TopicConfig{Retention: -5})
			return err
		}, broker.ErrInvalid},
		{"list the subscriptions of a missing topic", func(ctx context.Context, b Backend) error {
			_, err := b.Subscriptions(ctx, "nope")
			return err
		}, broker.ErrTopicNotFound},
		{"stats of a missing subscription", func(ctx context.Context, b Backend) error {
			_, err := b.Stats(ctx, "t", "nope")
			return err
		}, broker.ErrSubscriptionNotFound},
		{"delete a missing topic", func(ctx context.Context, b Backend) error {
			return b.DeleteTopic(ctx, "nope")
		}, broker.ErrTopicNotFound},
		{"delete a missing subscription", func(ctx context.Context, b Backend) error {
			return b.DeleteSubscription(ctx, "t", "nope")
		}, broker.ErrSubscriptionNotFound},
		{"delete a subscription of a missing topic", func(ctx context.Context, b Backend) error {
			return b.DeleteSubscription(ctx, "nope", "s")
		}, broker.ErrTopicNotFound},
		{"create an existing subscription", func(ctx context.Context, b Backend) error {
			_, err := b.CreateSubscription(ctx, "t", "s", broker.SubscriptionConfig{})
			return err
		}, broker.ErrSubscriptionExists},
		{"create a subscription with a bad ack timeout", func(ctx context.Context, b Backend) error {
			_, err := b.CreateSubscription(ctx, "t", "s2", broker.SubscriptionConfig{AckTimeout: time.Nanosecond})
			return err
		}, broker.ErrInvalid},
		{"create a subscription on a missing topic", func(ctx context.Context, b Backend) error {
			_, err := b.CreateSubscription(ctx, "nope", "s", broker.SubscriptionConfig{})
			return err
		}, broker.ErrTopicNotFound},
		{"update a missing subscription", func(ctx context.Context, b Backend) error {
			_, err := b.UpdateSubscription(ctx, "t", "nope", broker.SubscriptionConfig{})
			return err
		}, broker.ErrSubscriptionNotFound},
		{"describe a missing subscription", func(ctx context.Context, b Backend) error {
			_, err := b.Subscription(ctx, "t", "nope")
			return err
		}, broker.ErrSubscriptionNotFound},
		{"seek to an unknown kind", func(ctx context.Context, b Backend) error {
			return b.Seek(ctx, "t", "s", broker.StartPosition{Kind: "middle"})
		}, broker.ErrInvalid},
		{"fetch zero events", func(ctx context.Context, b Backend) error {
			_, err := b.Fetch(ctx, "t", "s", "c", 0)
			return err
		}, broker.ErrInvalid},
		{"fetch without a consumer name", func(ctx context.Context, b Backend) error {
			_, err := b.Fetch(ctx, "t", "s", "", 1)
			return err
		}, broker.ErrInvalid},
		{"fetch from a missing subscription", func(ctx context.Context, b Backend) error {
			_, err := b.Fetch(ctx, "t", "nope", "c", 1)
			return err
		}, broker.ErrSubscriptionNotFound},
		{"fetch with a cancelled context polls", func(ctx context.Context, b Backend) error {
			ctx, cancel := context.WithCancel(ctx)
			cancel()
			_, err := b.Fetch(ctx, "t", "s", "c", 1)
			return err
		}, context.Canceled},
		{"fetch until a deadline", func(ctx context.Context, b Backend) error {
			ctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
			defer cancel()
			_, err := b.Fetch(ctx, "t", "s", "c", 1)
			return err
		}, context.DeadlineExceeded},
		{"ack a token of no broker", func(ctx context.Context, b Backend) error {
			return b.Ack(ctx, "t", "s", "garbage")
		}, broker.ErrUnknownToken},
		{"ack a lease nobody holds", func(ctx context.Context, b Backend) error {
			return b.Ack(ctx, "t", "s", "0-5-1")
		}, broker.ErrLeaseExpired},
		{"ack on a missing subscription", func(ctx context.Context, b Backend) error {
			return b.Ack(ctx, "t", "nope", "0-5-1")
		}, broker.ErrSubscriptionNotFound},
		{"nack with a negative delay", func(ctx context.Context, b Backend) error {
			return b.Nack(ctx, "t", "s", "0-5-1", -time.Second, "x")
		}, broker.ErrInvalid},
		{"extend a lease nobody holds", func(ctx context.Context, b Backend) error {
			return b.Extend(ctx, "t", "s", "0-5-1")
		}, broker.ErrLeaseExpired},
		{"reject a token of no broker", func(ctx context.Context, b Backend) error {
			return b.Reject(ctx, "t", "s", "x-y", "bad")
		}, broker.ErrUnknownToken},
		{"read past the end", func(ctx context.Context, b Backend) error {
			_, err := b.Read(ctx, "t", 0, 1000, 10)
			return err
		}, commitlog.ErrOffsetOutOfRange},
		{"read zero events", func(ctx context.Context, b Backend) error {
			_, err := b.Read(ctx, "t", 0, 0, 0)
			return err
		}, broker.ErrInvalid},
		{"read a missing partition", func(ctx context.Context, b Backend) error {
			_, err := b.Read(ctx, "t", 7, 0, 1)
			return err
		}, broker.ErrInvalid},
		{"offsets of a missing partition", func(ctx context.Context, b Backend) error {
			_, _, err := b.Offsets("t", -1)
			return err
		}, broker.ErrInvalid},
		{"list the dead letters of a missing subscription", func(ctx context.Context, b Backend) error {
			_, err := b.DeadLetters(ctx, "t", "nope", 0, 10)
			return err
		}, broker.ErrSubscriptionNotFound},
		{"list zero dead letters", func(ctx context.Context, b Backend) error {
			_, err := b.DeadLetters(ctx, "t", "s", 0, 0)
			return err
		}, broker.ErrInvalid},
		{"redrive on a missing topic", func(ctx context.Context, b Backend) error {
			_, err := b.Redrive(ctx, "nope", "s", nil)
			return err
		}, broker.ErrTopicNotFound},
		{"redrive a dead letter there is not", func(ctx context.Context, b Backend) error {
			_, err := b.Redrive(ctx, "t", "s", []int64{3})
			return err
		}, broker.ErrInvalid},
		{"offset for time on a missing topic", func(ctx context.Context, b Backend) error {
			_, err := b.OffsetForTime("nope", 0, time.Now())
			return err
		}, broker.ErrTopicNotFound},
	}
	all := backends(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			errs := map[string]error{}
			for name, b := range all {
				errs[name] = tt.call(testCtx(t), b)
			}
			emb, rem := errs["embedded"], errs["remote"]
			if emb == nil || rem == nil {
				t.Fatalf("embedded: %v, remote: %v; want both to fail", emb, rem)
			}
			if !errors.Is(emb, tt.want) {
				t.Fatalf("the embedded broker answered %v, not %v: fix the test", emb, tt.want)
			}
			sameError(t, emb, rem)
		})
	}
}

// sameError checks that two errors read the same to any caller.
func sameError(t *testing.T, emb, rem error) {
	t.Helper()
	if emb.Error() != rem.Error() {
		t.Errorf("messages differ:\nembedded: %s\nremote:   %s", emb, rem)
	}
	for _, s := range sentinels {
		if errors.Is(emb, s) != errors.Is(rem, s) {
			t.Errorf("errors.Is(%v): embedded %v, remote %v", s, errors.Is(emb, s), errors.Is(rem, s))
		}
	}
	var ef, rf *broker.FieldError
	if errors.As(emb, &ef) != errors.As(rem, &rf) || (ef != nil && (ef.Field != rf.Field || ef.Reason != rf.Reason)) {
		t.Errorf("*broker.FieldError: embedded %+v, remote %+v", ef, rf)
	}
	var ec, rc *cloudevent.FieldError
	if errors.As(emb, &ec) != errors.As(rem, &rc) || (ec != nil && *ec != *rc) {
		t.Errorf("*cloudevent.FieldError: embedded %+v, remote %+v", ec, rc)
	}
	var eq, rq *broker.QuotaError
	if errors.As(emb, &eq) != errors.As(rem, &rq) || (eq != nil && *eq != *rq) {
		t.Errorf("*broker.QuotaError: embedded %+v, remote %+v", eq, rq)
	}
	var eo, ro *commitlog.OutOfRangeError
	if errors.As(emb, &eo) != errors.As(rem, &ro) || (eo != nil && *eo != *ro) {
		t.Errorf("*commitlog.OutOfRangeError: embedded %+v, remote %+v", eo, ro)
	}
	if IsRetryable(rem) {
		t.Errorf("a broker refusal reads as retryable: %v", rem)
	}
}

func TestResultsMatchTheEmbeddedBroker(t *testing.T) {
	all := backends(t)
	batch := newEvents(5, 100)
	batch[2].Extensions = map[string]string{"partitionkey": "k1", "traceparent": "00-abc"}
	batch[3].Time = time.Date(2025, 1, 2, 3, 4, 5, 6, time.FixedZone("", -7200))
	batch[4].Data = nil
	type outcome struct {
		published, again []broker.PublishResult
		read             []broker.StoredEvent
		deliveries       []broker.Delivery
		earliest, next   int64
		atTime           int64
		topic            broker.TopicInfo
		sub              broker.SubscriptionInfo
	}
	got := map[string]*outcome{}
	for name, b := range all {
		ctx := testCtx(t)
		o := &outcome{}
		var err error
		if o.published, err = b.Publish(ctx, "t", batch); err != nil {
			t.Fatal(name, err)
		}
		if o.again, err = b.Publish(ctx, "t", batch[:2]); err != nil {
			t.Fatal(name, err)
		}
		if o.read, err = b.Read(ctx, "t", 0, 0, 100); err != nil {
			t.Fatal(name, err)
		}
		o.deliveries = fetchN(t, b, "t", "s", 5)
		if o.earliest, o.next, err = b.Offsets("t", 0); err != nil {
			t.Fatal(name, err)
		}
		if o.atTime, err = b.OffsetForTime("t", 0, time.Now().Add(time.Hour)); err != nil {
			t.Fatal(name, err)
		}
		if o.topic, err = b.Topic(ctx, "t"); err != nil {
			t.Fatal(name, err)
		}
		cfg := broker.SubscriptionConfig{Ordering: broker.OrderKey, AckTimeout: time.Minute,
			Filter: broker.Filter{Types: []string{"a", "b"}, SubjectPrefix: "x/"},
			Retry:  broker.RetryPolicy{Delays: []time.Duration{time.Second, 2 * time.Second}, MaxDeliveries: 3}}
		if _, err := b.UpdateSubscription(ctx, "t", "s", cfg); err != nil {
			t.Fatal(name, err)
		}
		if o.sub, err = b.Subscription(ctx, "t", "s"); err != nil {
			t.Fatal(name, err)
		}
		got[name] = o
	}
	emb, rem := got["embedded"], got["remote"]
	if !reflect.DeepEqual(emb.published, rem.published) || !reflect.DeepEqual(emb.again, rem.again) {
		t.Errorf("publish results differ:\nembedded %+v %+v\nremote   %+v %+v", emb.published, emb.again, rem.published, rem.again)
	}
	if !rem.again[0].Duplicate || !rem.again[1].Duplicate {
		t.Errorf("a republished event was not reported duplicate: %+v", rem.again)
	}
	if len(emb.read) != len(rem.read) || len(rem.read) != len(batch) {
		t.Fatalf("read %d events embedded, %d remote, want %d", len(emb.read), len(rem.read), len(batch))
	}
	for i := range rem.read {
		e, r := emb.read[i], rem.read[i]
		if !r.Event.Equal(&batch[i]) || !r.Event.Equal(&e.Event) || e.Topic != r.Topic || e.Partition != r.Partition || e.Offset != r.Offset {
			t.Errorf("read[%d]: remote %+v, embedded %+v", i, r, e)
		}
		if r.PublishTime.IsZero() || r.PublishTime.Location() != time.UTC {
			t.Errorf("read[%d] publish time %v, want a UTC time", i, r.PublishTime)
		}
	}
	for i := range rem.deliveries {
		e, r := emb.deliveries[i], rem.deliveries[i]
		if !strings.HasPrefix(r.Token, "0-") || r.Attempt != e.Attempt || !r.Event.Event.Equal(&e.Event.Event) ||
			r.Event.Offset != e.Event.Offset || r.Deadline.Location() != time.UTC {
			t.Errorf("delivery %d: remote %+v, embedded %+v", i, r, e)
		}
	}
	if emb.earliest != rem.earliest || emb.next != rem.next || emb.atTime != rem.atTime {
		t.Errorf("offsets: embedded %d..%d (%d), remote %d..%d (%d)", emb.earliest, emb.next, emb.atTime, rem.earliest, rem.next, rem.atTime)
	}
	emb.topic.Created, rem.topic.Created = time.Time{}, time.Time{}
	if !reflect.DeepEqual(emb.topic, rem.topic) {
		t.Errorf("topic info:\nembedded %+v\nremote   %+v", emb.topic, rem.topic)
	}
	if !reflect.DeepEqual(emb.sub.Config, rem.sub.Config) {
		t.Errorf("subscription config:\nembedded %+v\nremote   %+v", emb.sub.Config, rem.sub.Config)
	}
}

// AckMany answers one outcome per token, in order, the same on both
// backends: acked leases settle (a second AckMany finds them gone), and a
// bad token fails alone without failing the others.
func TestAckManyMatchesTheEmbeddedBroker(t *testing.T) {
	for name, b := range backends(t) {
		t.Run(name, func(t *testing.T) {
			ctx := testCtx(t)
			if _, err := b.Publish(ctx, "t", newEvents(3, 10)); err != nil {
				t.Fatal(err)
			}
			ds := fetchN(t, b, "t", "s", 3)
			tokens := []string{ds[0].Token, "garbage", ds[1].Token, ds[2].Token}
			errs, err := b.AckMany(ctx, "t", "s", tokens)
			if err != nil {
				t.Fatalf("AckMany: %v", err)
			}
			want := []error{nil, broker.ErrUnknownToken, nil, nil}
			for i := range want {
				if (want[i] == nil) != (errs[i] == nil) || (want[i] != nil && !errors.Is(errs[i], want[i])) {
					t.Errorf("errs[%d] = %v, want %v", i, errs[i], want[i])
				}
			}
			errs, err = b.AckMany(ctx, "t", "s", tokens[:1])
			if err != nil || len(errs) != 1 || !errors.Is(errs[0], broker.ErrLeaseExpired) {
				t.Errorf("acking again = %v, %v; want one ErrLeaseExpired", errs, err)
			}
			// A failure of the whole call may come as err or as every
			// token's outcome (remote): callers look at both.
			errs, err = b.AckMany(ctx, "t", "nope", tokens[:1])
			if err == nil && len(errs) == 1 {
				err = errs[0]
			}
			if !errors.Is(err, broker.ErrSubscriptionNotFound) {
				t.Errorf("AckMany on a missing subscription = %v, want ErrSubscriptionNotFound", err)
			}
		})
	}
}

// Dead letters come back the same from both backends (the remote one as
// JSON: the event, its times and its extensions intact), and a redrive
// gives the event back on both.
func TestDeadLettersMatchTheEmbeddedBroker(t *testing.T) {
	got := map[string][]broker.DeadLetter{}
	for name, b := range backends(t) {
		ctx := testCtx(t)
		batch := newEvents(2, 100)
		batch[0].Extensions = map[string]string{"partitionkey": "k1", "traceparent": "00-abc"}
		batch[0].Time = time.Date(2025, 1, 2, 3, 4, 5, 6, time.FixedZone("", -7200))
		batch[1].DataContentType, batch[1].Data = "application/octet-stream", []byte{0, 1, 2, 255}
		if _, err := b.Publish(ctx, "t", batch); err != nil {
			t.Fatal(name, err)
		}
		for i, d := range fetchN(t, b, "t", "s", 2) {
			if err := b.Reject(ctx, "t", "s", d.Token, fmt.Sprintf("reason %d", i)); err != nil {
				t.Fatal(name, err)
			}
		}
		dls, err := b.DeadLetters(ctx, "t", "s", 0, 10)
		if err != nil || len(dls) != 2 {
			t.Fatalf("%s: %d dead letters, %v; want 2", name, len(dls), err)
		}
		for i := range dls {
			if !dls[i].Event.Equal(&batch[i]) {
				t.Errorf("%s: dead letter %d holds %+v, want the event published, %+v", name, i, dls[i].Event, batch[i])
			}
		}
		if n, err := b.Redrive(ctx, "t", "s", []int64{dls[1].ID}); n != 1 || err != nil {
			t.Fatalf("%s: redrive = %d, %v; want 1", name, n, err)
		}
		if d := fetchN(t, b, "t", "s", 1)[0]; !d.Event.Event.Equal(&batch[1]) || d.Attempt != 1 {
			t.Errorf("%s: redriven %+v (attempt %d), want %+v, attempt 1", name, d.Event.Event, d.Attempt, batch[1])
		}
		if got[name], err = b.DeadLetters(ctx, "t", "s", 0, 10); err != nil {
			t.Fatal(name, err)
		}
	}
	// Each backend stored its own events (their ids and times differ);
	// the rest must be the same.
	emb, rem := got["embedded"], got["remote"]
	for i := range rem {
		e, r := emb[i], rem[i]
		if r.PublishTime.IsZero() || r.Time.Before(r.PublishTime) || r.Time.Location() != time.UTC {
			t.Errorf("dead letter %d: published %v, dead-lettered %v; want UTC times in that order", i, r.PublishTime, r.Time)
		}
		e.Event, r.Event = cloudevent.Event{}, cloudevent.Event{}
		e.PublishTime, r.PublishTime, e.Time, r.Time = time.Time{}, time.Time{}, time.Time{}, time.Time{}
		if !reflect.DeepEqual(e, r) {
			t.Errorf("dead letter %d:\nremote   %+v\nembedded %+v", i, r, e)
		}
	}
	if len(rem) != 2 || !rem[1].Redriven || rem[0].Redriven || rem[0].Reason != "rejected: reason 0" {
		t.Errorf("remote dead letters after one redrive: %+v", rem)
	}
}

// Topics, Subscriptions and Stats read the same from both backends after
// the same calls.
func TestAdminResultsMatchTheEmbeddedBroker(t *testing.T) {
	type outcome struct {
		topics []broker.TopicInfo
		subs   []broker.SubscriptionInfo
		stats  broker.SubscriptionStats
	}
	got := map[string]outcome{}
	for name, b := range backends(t) {
		ctx := testCtx(t)
		if _, err := b.Publish(ctx, "t", newEvents(3, 10)); err != nil {
			t.Fatal(name, err)
		}
		fetchN(t, b, "t", "s", 2)
		var o outcome
		var err error
		if o.topics, err = b.Topics(ctx); err != nil {
			t.Fatal(name, err)
		}
		if o.subs, err = b.Subscriptions(ctx, "t"); err != nil {
			t.Fatal(name, err)
		}
		if o.stats, err = b.Stats(ctx, "t", "s"); err != nil {
			t.Fatal(name, err)
		}
		// What differs by the clock or the ids' lengths.
		for i := range o.topics {
			o.topics[i].Created, o.topics[i].Bytes = time.Time{}, 0
			for p := range o.topics[i].Partitions {
				o.topics[i].Partitions[p].Bytes = 0
			}
		}
		for i := range o.subs {
			o.subs[i].Created = time.Time{}
		}
		got[name] = o
	}
	emb, rem := got["embedded"], got["remote"]
	if !reflect.DeepEqual(emb, rem) {
		t.Errorf("embedded %+v\nremote   %+v", emb, rem)
	}
	if len(rem.topics) < 3 || rem.topics[len(rem.topics)-1].Name != "t.s.dlq" || rem.stats.InFlight != 2 || len(rem.subs) != 1 {
		t.Errorf("remote: %+v; want the fixture's topics, sorted, one subscription with 2 leases", rem)
	}
}
