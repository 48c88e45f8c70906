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

// Seek moves an existing subscription to a new position (a rewind replays
// events it already acknowledged).
func (c *Client) Seek(ctx context.Context, topic, subscription string, to StartPosition) error {
	return c.backend.Seek(ctx, topic, subscription, to)
}
