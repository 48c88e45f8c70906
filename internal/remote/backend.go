package remote

import (
	"context"
	"time"

	"github.com/heraldhq/herald/cloudevent"
	"github.com/heraldhq/herald/internal/broker"
)

// Backend is what the Go SDK (package herald) needs from Herald. The
// embedded client passes Embedded(broker): the broker's own methods, with
// Tail adapted; the remote client passes a *Conn, which implements them
// over the streaming protocol. One SDK, two transports, one behaviour
// suite.
type Backend interface {
	Publish(ctx context.Context, topic string, events []cloudevent.Event) ([]broker.PublishResult, error)
	CreateTopic(ctx context.Context, name string, cfg broker.TopicConfig) (broker.TopicInfo, error)
	DeleteTopic(ctx context.Context, name string) error
	Topic(ctx context.Context, name string) (broker.TopicInfo, error)
	Topics(ctx context.Context) ([]broker.TopicInfo, error)
	UpdateTopic(ctx context.Context, name string, cfg broker.TopicConfig) (broker.TopicInfo, error)
	CreateSubscription(ctx context.Context, topic, name string, cfg broker.SubscriptionConfig) (broker.SubscriptionInfo, error)
	UpdateSubscription(ctx context.Context, topic, name string, cfg broker.SubscriptionConfig) (broker.SubscriptionInfo, error)
	DeleteSubscription(ctx context.Context, topic, name string) error
	Subscription(ctx context.Context, topic, name string) (broker.SubscriptionInfo, error)
	Subscriptions(ctx context.Context, topic string) ([]broker.SubscriptionInfo, error)
	Stats(ctx context.Context, topic, sub string) (broker.SubscriptionStats, error)
	Seek(ctx context.Context, topic, sub string, pos broker.StartPosition) error
	Fetch(ctx context.Context, topic, sub, consumer string, max int) ([]broker.Delivery, error)
	Ack(ctx context.Context, topic, sub, token string) error
	AckMany(ctx context.Context, topic, sub string, tokens []string) (errs []error, err error)
	Nack(ctx context.Context, topic, sub, token string, delay time.Duration, lastErr string) error
	Extend(ctx context.Context, topic, sub, token string) error
	Reject(ctx context.Context, topic, sub, token, reason string) error
	Read(ctx context.Context, topic string, partition int, from int64, max int) ([]broker.StoredEvent, error)
	OffsetForTime(topic string, partition int, t time.Time) (int64, error)
	Offsets(topic string, partition int) (earliest, next int64, err error)
	DeadLetters(ctx context.Context, topic, sub string, from int64, limit int) ([]broker.DeadLetter, error)
	Redrive(ctx context.Context, topic, sub string, ids []int64) (int, error)
	// Tail opens a stream of topic's events from pos that match filter,
	// as broker.Tail does, of partition alone when partition >= 0 (a
	// partition the topic lacks gives no events).
	Tail(ctx context.Context, topic string, partition int, pos broker.StartPosition, filter broker.Filter) (EventStream, error)
	Close() error
}

// EventStream is an open tail of a topic: events in offset order within a
// partition, partitions interleaved, events held back until their
// deliverat (see broker.Stream, the embedded one). It is not safe for
// concurrent use.
type EventStream interface {
	// Next returns the next event, waiting for one until ctx ends; a ctx
	// already done makes it answer with what is ready.
	Next(ctx context.Context) (broker.StoredEvent, error)
	// Close ends the stream; Next then fails.
	Close() error
}

// Embedded is the Backend of an embedded client: the broker itself, whose
// Tail reads one partition on request (TailPartition) and is returned as
// an EventStream.
func Embedded(b *broker.Broker) Backend { return embedded{b} }

type embedded struct{ *broker.Broker }

// The broker's own metadata methods take no context: they never wait.

func (e embedded) Topic(_ context.Context, name string) (broker.TopicInfo, error) {
	return e.Broker.Topic(name)
}

func (e embedded) Topics(context.Context) ([]broker.TopicInfo, error) {
	return e.Broker.Topics()
}

func (e embedded) Subscription(_ context.Context, topic, name string) (broker.SubscriptionInfo, error) {
	return e.Broker.Subscription(topic, name)
}

func (e embedded) Subscriptions(_ context.Context, topic string) ([]broker.SubscriptionInfo, error) {
	return e.Broker.Subscriptions(topic)
}

func (e embedded) Stats(_ context.Context, topic, sub string) (broker.SubscriptionStats, error) {
	return e.Broker.Stats(topic, sub)
}

func (e embedded) Tail(ctx context.Context, topic string, partition int, pos broker.StartPosition, filter broker.Filter) (EventStream, error) {
	if partition < 0 {
		return e.Broker.Tail(ctx, topic, pos, filter)
	}
	return e.Broker.TailPartition(ctx, topic, partition, pos, filter)
}
