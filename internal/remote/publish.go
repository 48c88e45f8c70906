package remote

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

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
		e := &events[i]
		size += 48 + len(e.Data) + len(e.ID) + len(e.Source) + len(e.Type) + len(e.Subject) +
			len(e.DataContentType) + len(e.DataSchema)
		for k, v := range e.Extensions {
			size += 4 + len(k) + len(v)
		}
	}
	var buf []byte
	if bp, ok := publishFrames.Get().(*[]byte); ok && cap(*bp) >= size {
		buf = *bp
	} else {
		buf = make([]byte, 0, size)
	}
	frame, start := wire.BeginFrame(buf, wire.TypePublish, 0)
	frame, err := wire.AppendPublish(frame, &wire.Publish{Topic: topic, Events: events})
	var ee *wire.EventError
	if errors.As(err, &ee) {
		return nil, &broker.FieldError{Field: fmt.Sprintf("events[%d]", ee.Index), Reason: "cannot be encoded: " + ee.Err.Error(), Err: ee.Err}
	}
	if err := wire.EndFrame(frame, start); err != nil {
		return nil, &broker.FieldError{Field: "events", Reason: err.Error(), Err: err}
	}
	payloads, _, free, err := c.roundTripFree(ctx, opPublish, frame, wire.TypePublished)
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
	// The server answered the frame's only sending and its write returned
	// (roundTripFree): it can carry the next batch. (On an error, or after
	// a resend, a writer may still hold it.)
	if free && cap(frame) <= maxPooledFrame && !dropPublishFrames.Load() {
		frame = frame[:0]
		publishFrames.Put(&frame)
	}
	return results, nil
}

// publishFrames holds PUBLISH frame buffers for reuse: a publisher of
// hundreds of thousands of events a second otherwise allocated and
// zeroed a frame for every batch (with the buffer's growth, 13% of a
// publishing client's CPU). Frames over maxPooledFrame are left to the
// garbage collector.
var publishFrames sync.Pool // of *[]byte

const maxPooledFrame = 4 << 20

// dropPublishFrames, set by a test, turns the pool off to measure what it
// saves.
var dropPublishFrames atomic.Bool
