package remote

import (
	"context"
	"errors"
	"time"

	"github.com/heraldhq/herald/internal/broker"
	"github.com/heraldhq/herald/internal/wire"
)

// tailBatch is how many events one TAIL asks for: what a tail reads ahead
// of its caller.
const tailBatch = 256

// errTailClosed is what Next returns after Close, as broker.Stream does.
var errTailClosed = errors.New("stream closed")

// Tail opens a tail of topic on the server, as broker.Tail does (see
// Backend): the first TAIL opens it and takes what is ready, later ones
// long-poll for more. Errors opening it (a missing topic, a bad position
// or filter) are the embedded broker's.
//
// A tail lives on the connection that opened it. When that connection
// fails, Next returns a *ConnError (ErrConnectionLost) from then on: open
// a new tail from the last position seen. Close ends it on the server.
func (c *Conn) Tail(ctx context.Context, topic string, partition int, pos broker.StartPosition, filter broker.Filter) (EventStream, error) {
	t := &tail{c: c, n: c.ids.Add(1)}
	frame, err := tailFrame(&wire.Tail{Stream: t.n, Max: tailBatch, Wait: -1, Open: &wire.TailOpen{
		Topic: topic, Start: pos, Partition: wire.ClampInt32(max(partition, -1)), Filter: filter}})
	if err != nil {
		return nil, &broker.FieldError{Field: "filter", Reason: err.Error(), Err: err}
	}
	payloads, s, err := c.roundTripOn(ctx, opTail, frame, wire.TypeEvents)
	if err != nil {
		if s != nil { // ctx ended: the server may have opened it
			t.s = s
			t.Close()
		}
		return nil, err
	}
	t.s = s
	if err := t.take(payloads); err != nil {
		return nil, err
	}
	return t, nil
}

func tailFrame(req *wire.Tail) ([]byte, error) {
	frame, start := wire.BeginFrame(nil, wire.TypeTail, 0)
	frame = wire.AppendTail(frame, req)
	return frame, wire.EndFrame(frame, start)
}

// tail is an EventStream on the server: events read ahead in buf, and at
// most one TAIL in flight. A Next whose context ends while its TAIL waits
// leaves the TAIL in flight (after a CANCEL, so the server answers
// promptly): its answer, events included, goes to the next Next, so no
// event is lost between calls.
type tail struct {
	c       *Conn
	n       uint64   // the tail's number on the connection
	s       *session // the connection it lives on
	buf     []broker.StoredEvent
	waiting *call // the TAIL in flight, if any
	err     error // set once the tail is over: every later Next returns it
}

func (t *tail) Next(ctx context.Context) (broker.StoredEvent, error) {
	for len(t.buf) == 0 {
		if t.err != nil {
			return broker.StoredEvent{}, t.err
		}
		poll := ctx.Err() != nil
		if err := t.fill(ctx); err != nil {
			return broker.StoredEvent{}, err
		}
		if len(t.buf) == 0 && poll {
			return broker.StoredEvent{}, ctx.Err()
		}
	}
	ev := t.buf[0]
	t.buf[0] = broker.StoredEvent{}
	t.buf = t.buf[1:]
	return ev, nil
}

// fill sends a TAIL unless one is in flight and waits for its answer. The
// wait on the server ends with ctx's deadline, at most fetchWaitCap (so a
// lost CANCEL holds a server slot no longer than a FETCH's); a ctx already
// done polls, bounded by Options.CallTimeout.
func (t *tail) fill(ctx context.Context) error {
	wctx := ctx
	if ctx.Err() != nil {
		var cancel context.CancelFunc
		wctx, cancel = t.c.noCtx()
		defer cancel()
	}
	if t.waiting == nil {
		wait := fetchWaitCap
		if dl, ok := ctx.Deadline(); ok {
			wait = min(wait, time.Until(dl))
		}
		if ctx.Err() != nil || wait <= 0 {
			wait = -1
		}
		frame, _ := tailFrame(&wire.Tail{Stream: t.n, Max: tailBatch, Wait: wait}) // a few bytes: fits
		cl, sent, err := t.c.send(wctx, t.s, opTail, frame)
		if !sent {
			t.err = lostError(opTail, false, t.s.cause())
			return t.err
		}
		if err != nil {
			return err
		}
		t.waiting = cl
	}
	select {
	case r := <-t.waiting.reply:
		t.waiting = nil
		payloads, err := reply(opTail, r, wire.TypeEvents)
		if err != nil {
			t.err = err
			return err
		}
		return t.take(payloads)
	case <-wctx.Done():
		if t.waiting.sent.Load() {
			t.s.cancel(t.waiting.id)
		}
		return wctx.Err()
	}
}

// take decodes a reply's events into buf.
func (t *tail) take(payloads [][]byte) error {
	for _, p := range payloads {
		var err error
		if t.buf, err = wire.DecodeEvents(p, t.buf); err != nil {
			t.err = malformedReply(opTail, err)
			return t.err
		}
	}
	return nil
}

// Close ends the tail on the server, without waiting for the answer.
func (t *tail) Close() error {
	if errors.Is(t.err, errTailClosed) {
		return nil
	}
	t.err = errTailClosed
	t.buf = nil
	if w := t.waiting; w != nil {
		t.s.forget(w.id)
		if w.sent.Load() {
			t.s.cancel(w.id)
		}
		t.waiting = nil
	}
	ctx, cancel := t.c.noCtx()
	defer cancel()
	frame, _ := tailFrame(&wire.Tail{Stream: t.n, Max: 0})
	if cl, sent, err := t.c.send(ctx, t.s, opTail, frame); sent && err == nil {
		t.s.forget(cl.id)
	}
	return nil
}
