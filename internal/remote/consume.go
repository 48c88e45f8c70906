package remote

import (
	"context"
	"time"

	"github.com/heraldhq/herald/internal/broker"
	"github.com/heraldhq/herald/internal/wire"
)

// fetchWaitCap bounds one FETCH's wait on the server; a Fetch whose
// context allows longer sends another when it ends. A lost CANCEL (or a
// client that vanished without closing) therefore holds a server slot
// for at most this long.
var fetchWaitCap = 30 * time.Second // a variable for tests

// Fetch leases up to max events of a subscription to consumer, as
// broker.Fetch does: it returns as soon as at least one is ready, or,
// when ctx ends first, ctx's error and no deliveries; a ctx already done
// makes it a poll. max is the consumer's credit: ask for as many as there
// is room for. When the connection fails while Fetch waits, it returns a
// *ConnError (ErrConnectionLost); call it again to resume, since the
// subscription's position is kept on the server.
//
// Under broker.OnQueued, Fetch calls the callback once its FETCH is sent
// and sends no other: a wait that ends with nothing returns nothing and
// no error, since a second FETCH would queue behind any the caller sent
// meanwhile and take its events out of turn.
func (c *Conn) Fetch(ctx context.Context, topic, sub, consumer string, max int) ([]broker.Delivery, error) {
	for {
		rctx, wait := ctx, fetchWaitCap
		if dl, ok := ctx.Deadline(); ok {
			wait = min(wait, time.Until(dl))
		}
		poll := ctx.Err() != nil || wait <= 0
		if poll {
			wait = -1
			var cancel context.CancelFunc
			rctx, cancel = c.noCtx()
			defer cancel()
		}
		f := wire.Fetch{Topic: topic, Sub: sub, Consumer: consumer, Max: wire.ClampInt32(max), Wait: wait}
		frame, start := wire.BeginFrame(nil, wire.TypeFetch, 0)
		frame = wire.AppendFetch(frame, &f)
		wire.EndFrame(frame, start)
		payloads, err := c.roundTrip(rctx, opFetch, frame, wire.TypeDeliveries)
		if err != nil {
			return nil, err
		}
		ds := make([]broker.Delivery, 0, min(wire.DeliveriesHint(payloads), max))
		for _, p := range payloads {
			if ds, err = wire.DecodeDeliveries(p, ds); err != nil {
				return nil, malformedReply(opFetch, err)
			}
		}
		if len(ds) > 0 || broker.HasOnQueued(ctx) {
			return ds, nil
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if poll {
			return nil, context.DeadlineExceeded // the deadline passed as we sent it
		}
	}
}

// maxSettleText bounds the text a settle carries; the broker keeps 4096
// bytes of it anyway.
const maxSettleText = 8 << 10

func clip(s string) string {
	if len(s) > maxSettleText {
		return s[:maxSettleText]
	}
	return s
}

// Ack settles a delivery, as broker.Ack. Concurrent Acks share one frame.
func (c *Conn) Ack(ctx context.Context, topic, sub, token string) error {
	return c.settle(ctx, opAck, 0, wire.SettleItem{Topic: topic, Sub: sub, Token: clip(token)})
}

// AckMany acks several deliveries of one subscription, as broker.AckMany:
// they travel in one ACK frame (with any other acks queued meanwhile) and
// the server makes them durable with one write. errs[i] is the outcome for
// tokens[i]; err is set only when ctx ends or no connection can be made.
// A failure of the whole batch (a missing subscription) comes as every
// token's outcome, where broker.AckMany returns it as err.
func (c *Conn) AckMany(ctx context.Context, topic, sub string, tokens []string) (errs []error, err error) {
	errs = make([]error, len(tokens))
	todo := make([]int, len(tokens)) // indexes of tokens still to send
	for i := range todo {
		todo[i] = i
	}
	for attempt := 1; len(todo) > 0; attempt++ {
		s, err := c.session(ctx, opAck)
		if err != nil {
			return nil, err
		}
		g := newSettleGroup(len(todo))
		items := make([]settleItem, len(todo))
		ptrs := make([]*settleItem, len(todo))
		for j, i := range todo {
			items[j] = settleItem{op: opAck, item: wire.SettleItem{Topic: topic, Sub: sub, Token: clip(tokens[i])}, group: g, idx: j}
			ptrs[j] = &items[j]
		}
		if err := s.queueSettles(0, ptrs); err != nil {
			continue
		}
		select {
		case <-g.done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		resend := todo[:0] // written at or behind the index being read
		for j, err := range g.errs {
			if attempt < maxResends && notApplied(err) {
				resend = append(resend, todo[j])
				continue
			}
			errs[todo[j]] = err
		}
		todo = resend
	}
	return errs, nil
}

// Nack returns a delivery for a later attempt, as broker.Nack.
func (c *Conn) Nack(ctx context.Context, topic, sub, token string, delay time.Duration, lastErr string) error {
	return c.settle(ctx, opNack, 1, wire.SettleItem{Topic: topic, Sub: sub, Token: clip(token), Delay: delay, Text: clip(lastErr)})
}

// Extend renews a delivery's lease, as broker.Extend.
func (c *Conn) Extend(ctx context.Context, topic, sub, token string) error {
	return c.settle(ctx, opExtend, 2, wire.SettleItem{Topic: topic, Sub: sub, Token: clip(token)})
}

// Reject sends a delivery to the dead-letter topic, as broker.Reject.
func (c *Conn) Reject(ctx context.Context, topic, sub, token, reason string) error {
	return c.settle(ctx, opReject, 3, wire.SettleItem{Topic: topic, Sub: sub, Token: clip(token), Text: clip(reason)})
}
