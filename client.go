package herald

import (
	"context"
	"fmt"
	"sync"

	"github.com/heraldhq/herald/cloudevent"
	"github.com/heraldhq/herald/internal/broker"
	"github.com/heraldhq/herald/internal/remote"
)

// Event is a CloudEvents 1.0 event.
type Event = cloudevent.Event

// Client publishes and consumes events, embedded (Open) or remote (Dial).
// It is safe for concurrent use. Close it when done: Close flushes
// pending publishes.
type Client struct {
	backend remote.Backend
	opts    clientOptions
	// ownCopies: deliveries share the broker's memory (embedded), so each
	// Message gets its own Data and Extensions, which a handler may change.
	ownCopies bool

	mu         sync.Mutex
	publishers map[string]*publisher // by topic
	closed     bool
	wg         sync.WaitGroup // publisher flush goroutines
}

// Open runs Herald in this process on the data directory dir: no server,
// the same storage and guarantees as `herald serve`.
func Open(dir string, opts ...Option) (*Client, error) {
	o := defaultClientOptions()
	for _, opt := range opts {
		opt(&o)
	}
	b, err := broker.Open(broker.Config{DataDir: dir, Sync: o.sync, AutoCreateTopics: o.autoCreate, Logger: o.logger})
	if err != nil {
		return nil, fmt.Errorf("herald: open %s: %w", dir, err)
	}
	c := newClient(remote.Embedded(b), o)
	c.ownCopies = true
	return c, nil
}

func newClient(b remote.Backend, o clientOptions) *Client {
	return &Client{backend: b, opts: o, publishers: map[string]*publisher{}}
}

// Close flushes pending publishes, waits for their acknowledgements, and
// closes the client (and, for an embedded client, the data directory).
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return ErrClosed
	}
	c.closed = true
	pubs := c.publishers
	c.mu.Unlock()
	for _, p := range pubs {
		p.flush()
	}
	c.wg.Wait()
	return c.backend.Close()
}

// TopicConfig configures a topic; zero fields take the defaults.
type TopicConfig = broker.TopicConfig

// CreateTopic creates a topic. Publishing to an unknown topic creates it
// with defaults, so this is needed only for other settings (partitions).
// A name already taken gives ErrTopicExists.
func (c *Client) CreateTopic(ctx context.Context, name string, cfg TopicConfig) error {
	_, err := c.backend.CreateTopic(ctx, name, cfg)
	return err
}

// DeleteTopic deletes a topic with its events and its subscriptions;
// their dead-letter topics are ordinary topics and stay. Fetch calls
// waiting on its subscriptions end with ErrSubscriptionNotFound, and
// Subscribe with that or ErrTopicNotFound. A missing topic gives
// ErrTopicNotFound.
func (c *Client) DeleteTopic(ctx context.Context, name string) error {
	return c.backend.DeleteTopic(ctx, name)
}

// TopicInfo describes a topic: its configuration, its partitions'
// offsets and sizes, and how many subscriptions it has.
type TopicInfo = broker.TopicInfo

// PartitionInfo is one partition of a TopicInfo: its earliest and next
// offsets and its bytes on disk.
type PartitionInfo = broker.PartitionInfo

// Topic describes a topic. A missing one gives ErrTopicNotFound.
func (c *Client) Topic(ctx context.Context, name string) (TopicInfo, error) {
	return c.backend.Topic(ctx, name)
}

// Topics describes every topic, sorted by name.
func (c *Client) Topics(ctx context.Context) ([]TopicInfo, error) {
	return c.backend.Topics(ctx)
}

// UpdateTopic replaces a topic's configuration, as CreateTopic sets it:
// zero fields take the defaults, so read the configuration with Topic,
// change what you need and pass it back. Partitions may only grow (stored
// offsets and the key-to-partition mapping name them). A bad setting
// gives ErrInvalid, naming the field.
func (c *Client) UpdateTopic(ctx context.Context, name string, cfg TopicConfig) error {
	_, err := c.backend.UpdateTopic(ctx, name, cfg)
	return err
}

// SubscriptionConfig configures a subscription; zero fields take the
// defaults (start at the latest event, the broker's retry policy, ack
// timeout and lease limit, a dead-letter topic named topic.name.dlq).
type SubscriptionConfig = broker.SubscriptionConfig

// CreateSubscription creates a subscription on an existing topic, for a
// consumer that runs its own loop with Fetch; Subscribe creates its
// subscription itself. A name already taken gives ErrSubscriptionExists
// and leaves that subscription as it is; a bad setting gives ErrInvalid,
// naming the field.
func (c *Client) CreateSubscription(ctx context.Context, topic, name string, cfg SubscriptionConfig) error {
	_, err := c.backend.CreateSubscription(ctx, topic, name, cfg)
	return err
}

// DeleteSubscription deletes a subscription and its state (positions,
// leases, retry counts); its dead-letter topic stays. Its consumers'
// waiting Fetch calls end with ErrSubscriptionNotFound. A missing one
// gives ErrSubscriptionNotFound.
func (c *Client) DeleteSubscription(ctx context.Context, topic, name string) error {
	return c.backend.DeleteSubscription(ctx, topic, name)
}

// SubscriptionInfo describes a subscription: its topic, name, creation
// time and configuration (defaults filled in).
type SubscriptionInfo = broker.SubscriptionInfo

// SubscriptionStats is a point-in-time view of a subscription: Lag (events
// not delivered yet), Pending (unsettled and not in flight: ready, in
// retry backoff or delayed), Delayed, InFlight (leases held), Consumers
// (holding a lease), DeadLettered (since it was created) and
// AwaitingDeadLetter. Lag is what to watch to scale consumers.
type SubscriptionStats = broker.SubscriptionStats

// Subscription describes a subscription. A missing one gives
// ErrSubscriptionNotFound (ErrTopicNotFound for a missing topic).
func (c *Client) Subscription(ctx context.Context, topic, name string) (SubscriptionInfo, error) {
	return c.backend.Subscription(ctx, topic, name)
}

// Subscriptions describes a topic's subscriptions, sorted by name.
func (c *Client) Subscriptions(ctx context.Context, topic string) ([]SubscriptionInfo, error) {
	return c.backend.Subscriptions(ctx, topic)
}

// SubscriptionStats reports a subscription's lag, pending, in-flight and
// dead-lettered counts.
func (c *Client) SubscriptionStats(ctx context.Context, topic, name string) (SubscriptionStats, error) {
	return c.backend.Stats(ctx, topic, name)
}

// UpdateSubscription replaces a subscription's configuration: zero fields
// take the defaults, so read it with Subscription, change what you need
// and pass it back. Start is ignored (Seek moves a subscription). Leases,
// attempt counts and retries carry over. A bad setting gives ErrInvalid,
// naming the field.
func (c *Client) UpdateSubscription(ctx context.Context, topic, name string, cfg SubscriptionConfig) error {
	_, err := c.backend.UpdateSubscription(ctx, topic, name, cfg)
	return err
}

// Seek moves an existing subscription to a new position (a rewind replays
// events it already acknowledged).
func (c *Client) Seek(ctx context.Context, topic, subscription string, to StartPosition) error {
	return c.backend.Seek(ctx, topic, subscription, to)
}
