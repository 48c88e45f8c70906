package remote

import (
	"context"
	"errors"
	"fmt"

	"github.com/heraldhq/herald/cloudevent"
	"github.com/heraldhq/herald/internal/broker"
	"github.com/heraldhq/herald/internal/wire"
)

// Publish stores events in topic, as broker.Publish does: all or nothing,
// answered once the server has stored them under its sync policy. The
// events travel in the storage codec, so the server stores what it
// receives without re-parsing JSON.
//
// Unlike the embedded broker, one call carries at most 16 MiB of encoded
// events (one frame): a larger batch fails with a *broker.FieldError on
// "events" before anything is sent.
func (c *Conn) Publish(ctx context.Context, topic string, events []cloudevent.Event) ([]broker.PublishResult, error) {
	size := 64 + len(topic)
	for i := range events {
		size += 64 + len(events[i].Data)
	}
	frame, start := wire.BeginFrame(make([]byte, 0, size), wire.TypePublish, 0)
	frame, err := wire.AppendPublish(frame, &wire.Publish{Topic: topic, Events: events})
	var ee *wire.EventError
	if errors.As(err, &ee) {
		return nil, &broker.FieldError{Field: fmt.Sprintf("events[%d]", ee.Index), Reason: "cannot be encoded: " + ee.Err.Error(), Err: ee.Err}
	}
	if err := wire.EndFrame(frame, start); err != nil {
		return nil, &broker.FieldError{Field: "events", Reason: err.Error(), Err: err}
	}
	payloads, err := c.roundTrip(ctx, opPublish, frame, wire.TypePublished)
	if err != nil {
		return nil, err
	}
	results, err := wire.DecodePublished(payloads[0])
	if err == nil && len(results) != len(events) {
		err = fmt.Errorf("%w: %d results for %d events", wire.ErrMalformed, len(results), len(events))
	}
	if err != nil {
		return nil, malformedReply(opPublish, err)
	}
	for i := range results {
		results[i].ID = events[i].ID
	}
	return results, nil
}
