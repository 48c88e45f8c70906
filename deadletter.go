package herald

import (
	"bytes"
	"context"

	"github.com/heraldhq/herald/internal/broker"
)

// DeadLetter is an event a subscription gave up on: the original event
// (Event, without the heralddlq* extensions the dead-letter topic stores
// it with), why (Reason: "rejected: ..." or "max deliveries reached
// (n)"), the last error a handler gave (LastError), the deliveries made,
// and where the event sits in its topic. ID is its offset in partition 0
// of the subscription's dead-letter topic; Redriven is set once Redrive
// gave it back.
type DeadLetter = broker.DeadLetter

// DeadLetters lists the dead letters of subscription on topic, oldest
// first, from dead-letter ID from on (0 for the first), at most limit.
// A call may return fewer than limit while more are left (a remote
// client's answer must fit in one frame): list on from the last ID + 1
// until the list comes back empty. Dead letters of other subscriptions
// sharing the dead-letter topic are left out.
//
// A subscription with no dead-letter topic yet has none: the list is
// empty. A limit under 1 gives ErrInvalid; a missing subscription
// ErrSubscriptionNotFound.
func (c *Client) DeadLetters(ctx context.Context, topic, subscription string, from int64, limit int) ([]DeadLetter, error) {
	dls, err := c.backend.DeadLetters(ctx, topic, subscription, from, limit)
	if err != nil {
		return nil, err
	}
	if c.ownCopies {
		for i := range dls {
			dls[i].Event.Data = bytes.Clone(dls[i].Event.Data)
		}
	}
	return dls, nil
}

// Redrive gives the dead letters named by ids back to subscription on
// topic: each original event, as its dead letter holds it, is delivered
// to this subscription again with a fresh attempt count; the topic's
// other subscriptions are not affected, as they would be by publishing
// it again. The dead letters stay in the dead-letter topic, marked
// Redriven; an event that fails again is dead-lettered again. It returns
// how many events were given back: a dead letter already redriven is
// skipped.
//
// An id that is not a dead letter of this subscription gives ErrInvalid
// naming it (ids[i]) and redrives none of them. Naming none gives
// ErrInvalid too, so that an empty list never redrives everything:
// RedriveAll does that.
func (c *Client) Redrive(ctx context.Context, topic, subscription string, ids ...int64) (int, error) {
	if len(ids) == 0 {
		return 0, &broker.FieldError{Field: "ids", Reason: "name at least one dead letter (DeadLetters lists them); RedriveAll gives back every one"}
	}
	return c.backend.Redrive(ctx, topic, subscription, ids)
}

// RedriveAll gives back every dead letter of subscription on topic not
// yet redriven, as Redrive does, and returns how many it gave back.
func (c *Client) RedriveAll(ctx context.Context, topic, subscription string) (int, error) {
	return c.backend.Redrive(ctx, topic, subscription, nil)
}
