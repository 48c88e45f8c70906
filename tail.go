package herald

import (
	"context"
	"errors"
	"fmt"

	"github.com/heraldhq/herald/internal/broker"
	"github.com/heraldhq/herald/internal/commitlog"
)

// Tail calls fn for the events of topic, with no subscription: it keeps
// no state, takes no leases and does not affect subscriptions. It is for
// watching a topic; Subscribe is for processing one.
//
// By default Tail reads the events stored when it starts, from the
// earliest, partition by partition in offset order, and then returns nil.
// With Follow it starts at the latest by default and calls fn for each
// event as it is published, until ctx ends; then it returns nil. A
// following tail gives each partition's events in offset order,
// partitions interleaved, and holds back an event whose deliverat is in
// the future until it is due, as a subscription does (without Follow,
// events come as stored). TailFrom, TailPartition and TailFilter say where
// Tail starts and what it passes.
//
// fn returning an error stops Tail with that error. Over Dial, a
// following Tail ends with an error when the connection to the server is
// lost. To go on, tail each partition again from the offset after the
// last one seen in it (TailPartition(p), TailFrom(FromOffset(last+1))).
// An event held back for a later delivery time and not yet given then
// has a lower offset, so such a tail does not see it: start earlier and
// skip what was seen if delayed events matter.
func (c *Client) Tail(ctx context.Context, topic string, fn func(*Message) error, opts ...TailOption) error {
	o := tailOptions{partition: -1}
	for _, opt := range opts {
		opt(&o)
	}
	if !o.startSet {
		o.start = FromEarliest
		if o.follow {
			o.start = FromLatest
		}
	}
	if err := checkStart(o.start); err != nil {
		return err
	}
	// The lookup is bounded by WithCallTimeout, not by ctx, whose end
	// Tail answers as documented (a following Tail returns nil).
	info, err := c.backend.Topic(context.WithoutCancel(ctx), topic)
	if err != nil {
		return err
	}
	switch n := info.Config.Partitions; {
	case o.onePartition && o.partition < 0:
		return &broker.FieldError{Field: "partition", Reason: fmt.Sprintf("%d: must not be negative", o.partition)}
	case o.partition >= n:
		return &broker.FieldError{Field: "partition", Reason: fmt.Sprintf("topic %q has partitions 0 to %d, not %d", topic, n-1, o.partition)}
	}
	if o.follow {
		return c.tailFollow(ctx, topic, o, fn)
	}
	for p := range info.Config.Partitions {
		if o.onePartition && p != o.partition {
			continue
		}
		if err := c.tailStored(ctx, topic, p, o, fn); err != nil {
			return err
		}
	}
	return nil
}

// checkStart refuses a position no broker would take, so Tail answers
// the same with and without Follow.
func checkStart(p StartPosition) error {
	switch p.Kind {
	case "", broker.StartLatest, broker.StartEarliest, broker.StartTime:
		return nil
	case broker.StartOffset:
		if p.Offset < 0 {
			return &broker.FieldError{Field: "position.offset", Reason: fmt.Sprintf("%d: must not be negative", p.Offset)}
		}
		return nil
	}
	return &broker.FieldError{Field: "position.kind", Reason: fmt.Sprintf("%q: use latest, earliest, offset or time", p.Kind)}
}

// tailFollow reads a tail stream until ctx ends.
func (c *Client) tailFollow(ctx context.Context, topic string, o tailOptions, fn func(*Message) error) error {
	st, err := c.backend.Tail(ctx, topic, o.partition, o.start, o.filter)
	if err != nil {
		return err
	}
	defer st.Close()
	for {
		se, err := st.Next(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		if err := fn(c.storedMessage(se)); err != nil {
			return err
		}
	}
}

// tailStored reads partition p from the start position up to its end as
// Tail found it. Events deleted by retention meanwhile are skipped.
func (c *Client) tailStored(ctx context.Context, topic string, p int, o tailOptions, fn func(*Message) error) error {
	earliest, end, err := c.backend.Offsets(topic, p)
	if err != nil {
		return err
	}
	from := end
	switch o.start.Kind {
	case broker.StartEarliest:
		from = earliest
	case broker.StartOffset:
		from = max(o.start.Offset, earliest)
	case broker.StartTime:
		if from, err = c.backend.OffsetForTime(topic, p, o.start.Time); err != nil {
			return err
		}
	}
	for from < end {
		events, err := c.backend.Read(ctx, topic, p, from, int(min(end-from, 1000)))
		var oor *commitlog.OutOfRangeError
		if errors.As(err, &oor) {
			from = oor.Earliest // retention moved the start
			continue
		}
		if err != nil {
			return err
		}
		if len(events) == 0 {
			break
		}
		for _, se := range events {
			if se.Offset >= end {
				return nil
			}
			from = se.Offset + 1
			if !o.filter.Match(se.Event.Type, se.Event.Subject) {
				continue
			}
			if err := fn(c.storedMessage(se)); err != nil {
				return err
			}
		}
	}
	return nil
}

// storedMessage is the Message of an event read without a subscription.
func (c *Client) storedMessage(se broker.StoredEvent) *Message {
	return &Message{Event: se.Event, Topic: se.Topic, Partition: se.Partition, Offset: se.Offset,
		PublishTime: se.PublishTime, c: c}
}
