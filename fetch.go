package herald

import (
	"bytes"
	"context"
	"maps"

	"github.com/heraldhq/herald/internal/broker"
)

// Fetch leases up to max events of subscription on topic to consumer and
// returns them, for a consumer that runs its own loop (Subscribe runs one
// for you). Settle each message with Ack, Nack or Reject before its
// Deadline; a message left unsettled is delivered again once its lease
// ends (a peek).
//
// Fetch returns as soon as at least one event is ready; when ctx ends
// first it returns ctx's error and no messages, and a ctx already done
// makes it a poll. The subscription must exist: CreateSubscription or
// Subscribe creates it, Fetch does not (ErrSubscriptionNotFound).
func (c *Client) Fetch(ctx context.Context, topic, subscription, consumer string, max int) ([]*Message, error) {
	ds, err := c.backend.Fetch(ctx, topic, subscription, consumer, max)
	if err != nil {
		return nil, err
	}
	ms := make([]*Message, len(ds))
	block := make([]Message, len(ds)) // one allocation, not one per event
	for i := range ds {
		c.setMessage(&block[i], topic, subscription, &ds[i])
		ms[i] = &block[i]
	}
	return ms, nil
}

// setMessage makes m the Message of a delivery, from Fetch or Subscribe.
func (c *Client) setMessage(m *Message, topic, sub string, d *broker.Delivery) {
	*m = Message{Event: d.Event.Event, Topic: topic, Subscription: sub, Partition: d.Event.Partition,
		Offset: d.Event.Offset, PublishTime: d.Event.PublishTime, Attempt: d.Attempt, Deadline: d.Deadline,
		c: c, token: d.Token}
	if c.ownCopies {
		// The broker shares one decoded event between its subscriptions
		// and keeps it for a redelivery: a handler that writes into Data or
		// sets an extension must not change what the others see.
		m.Data = bytes.Clone(m.Data)
		m.Extensions = maps.Clone(m.Extensions)
	}
}

// Token identifies the delivery of a message from Fetch or Subscribe: the
// token the HTTP API's ack, nack and reject endpoints take. It is empty
// for messages of Tail and Replay.
func (m *Message) Token() string { return m.token }

// Ack acknowledges a message from Fetch: the subscription is done with
// its event. (A Subscribe handler settles by what it returns; do not call
// Ack, Nack or Reject on its messages.)
func (m *Message) Ack(ctx context.Context) error {
	return m.c.backend.Ack(ctx, m.Topic, m.Subscription, m.token)
}

// Nack gives a message from Fetch back for a later delivery under the
// subscription's retry policy (dead-lettered after its maximum
// deliveries); reason is kept as the event's last error.
func (m *Message) Nack(ctx context.Context, reason string) error {
	return m.c.backend.Nack(ctx, m.Topic, m.Subscription, m.token, 0, reason)
}

// Reject sends a message from Fetch straight to the subscription's
// dead-letter topic, with reason.
func (m *Message) Reject(ctx context.Context, reason string) error {
	return m.c.backend.Reject(ctx, m.Topic, m.Subscription, m.token, reason)
}
