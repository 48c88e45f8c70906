package remote

import (
	"context"
	"time"

	"github.com/heraldhq/herald/cloudevent"
	"github.com/heraldhq/herald/internal/broker"
)

// Backend is what the Go SDK (package herald) needs from Herald. The
// embedded client passes a *broker.Broker, which has exactly these methods;
// the remote client passes a *Conn, which implements them over the
// streaming protocol. One SDK, two transports, one behaviour suite.
type Backend interface {
	Publish(ctx context.Context, topic string, events []cloudevent.Event) ([]broker.PublishResult, error)
	CreateTopic(ctx context.Context, name string, cfg broker.TopicConfig) (broker.TopicInfo, error)
	Topic(name string) (broker.TopicInfo, error)
	CreateSubscription(ctx context.Context, topic, name string, cfg broker.SubscriptionConfig) (broker.SubscriptionInfo, error)
	UpdateSubscription(ctx context.Context, topic, name string, cfg broker.SubscriptionConfig) (broker.SubscriptionInfo, error)
	Subscription(topic, name string) (broker.SubscriptionInfo, error)
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
	Close() error
}

var _ Backend = (*broker.Broker)(nil)
