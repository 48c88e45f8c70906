package remote

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/heraldhq/herald/internal/broker"
	"github.com/heraldhq/herald/internal/wire"
)

// The admin and metadata methods travel as CALL frames with JSON (low
// rate; the broker types' own JSON), Read as READ/EVENTS in binary.

// invoke calls method with args and decodes its result into out (nil to
// ignore it).
func (c *Conn) invoke(ctx context.Context, method string, args, out any) error {
	data, err := json.Marshal(args)
	if err != nil {
		return fmt.Errorf("%s: encoding the arguments: %w", method, err)
	}
	frame, start := wire.BeginFrame(make([]byte, 0, wire.HeaderSize+len(method)+1+len(data)), wire.TypeCall, 0)
	frame = wire.AppendCall(frame, &wire.Call{Method: method, Args: data})
	if err := wire.EndFrame(frame, start); err != nil {
		return &broker.FieldError{Field: "config", Reason: err.Error(), Err: err}
	}
	payloads, err := c.roundTrip(ctx, method, frame, wire.TypeResult)
	if err != nil {
		return err
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(payloads[0], out); err != nil {
		return malformedReply(method, err)
	}
	return nil
}

// lookup calls a metadata method, bounded by ctx and Options.CallTimeout,
// and decodes its result (a list decodes as empty, not nil, when there is
// nothing to list).
func lookup[T any](ctx context.Context, c *Conn, method string, args any) (T, error) {
	ctx, cancel := c.callCtx(ctx)
	defer cancel()
	var out T
	if err := c.invoke(ctx, method, args, &out); err != nil {
		var zero T
		return zero, err
	}
	return out, nil
}

// CreateTopic creates a topic, as broker.CreateTopic.
func (c *Conn) CreateTopic(ctx context.Context, name string, cfg broker.TopicConfig) (broker.TopicInfo, error) {
	var info broker.TopicInfo
	err := c.invoke(ctx, wire.MethodCreateTopic, wire.TopicArgs{Name: name, Config: cfg}, &info)
	return info, err
}

// DeleteTopic deletes a topic, its events and its subscriptions, as
// broker.DeleteTopic.
func (c *Conn) DeleteTopic(ctx context.Context, name string) error {
	return c.invoke(ctx, wire.MethodDeleteTopic, wire.TopicArgs{Name: name}, nil)
}

// DeleteSubscription deletes a subscription and its state, as
// broker.DeleteSubscription.
func (c *Conn) DeleteSubscription(ctx context.Context, topic, name string) error {
	return c.invoke(ctx, wire.MethodDeleteSubscription, wire.SubscriptionArgs{Topic: topic, Name: name}, nil)
}

// Topic describes one topic, as broker.Topic; ctx and
// Options.CallTimeout bound it.
func (c *Conn) Topic(ctx context.Context, name string) (broker.TopicInfo, error) {
	return lookup[broker.TopicInfo](ctx, c, wire.MethodTopic, wire.TopicArgs{Name: name})
}

// Topics describes every topic, as broker.Topics; ctx and
// Options.CallTimeout bound it.
func (c *Conn) Topics(ctx context.Context) ([]broker.TopicInfo, error) {
	return lookup[[]broker.TopicInfo](ctx, c, wire.MethodTopics, struct{}{})
}

// UpdateTopic replaces a topic's configuration, as broker.UpdateTopic.
func (c *Conn) UpdateTopic(ctx context.Context, name string, cfg broker.TopicConfig) (broker.TopicInfo, error) {
	var info broker.TopicInfo
	err := c.invoke(ctx, wire.MethodUpdateTopic, wire.TopicArgs{Name: name, Config: cfg}, &info)
	return info, err
}

// CreateSubscription creates a durable subscription, as
// broker.CreateSubscription.
func (c *Conn) CreateSubscription(ctx context.Context, topic, name string, cfg broker.SubscriptionConfig) (broker.SubscriptionInfo, error) {
	var info broker.SubscriptionInfo
	err := c.invoke(ctx, wire.MethodCreateSubscription, wire.SubscriptionArgs{Topic: topic, Name: name, Config: cfg}, &info)
	return info, err
}

// UpdateSubscription replaces a subscription's configuration, as
// broker.UpdateSubscription.
func (c *Conn) UpdateSubscription(ctx context.Context, topic, name string, cfg broker.SubscriptionConfig) (broker.SubscriptionInfo, error) {
	var info broker.SubscriptionInfo
	err := c.invoke(ctx, wire.MethodUpdateSubscription, wire.SubscriptionArgs{Topic: topic, Name: name, Config: cfg}, &info)
	return info, err
}

// Subscription describes one subscription, as broker.Subscription; ctx
// and Options.CallTimeout bound it.
func (c *Conn) Subscription(ctx context.Context, topic, name string) (broker.SubscriptionInfo, error) {
	return lookup[broker.SubscriptionInfo](ctx, c, wire.MethodSubscription, wire.SubscriptionArgs{Topic: topic, Name: name})
}

// Subscriptions describes a topic's subscriptions, as
// broker.Subscriptions; ctx and Options.CallTimeout bound it.
func (c *Conn) Subscriptions(ctx context.Context, topic string) ([]broker.SubscriptionInfo, error) {
	return lookup[[]broker.SubscriptionInfo](ctx, c, wire.MethodSubscriptions, wire.SubscriptionArgs{Topic: topic})
}

// Stats reports a subscription's lag and counts, as broker.Stats; ctx and
// Options.CallTimeout bound it.
func (c *Conn) Stats(ctx context.Context, topic, sub string) (broker.SubscriptionStats, error) {
	return lookup[broker.SubscriptionStats](ctx, c, wire.MethodStats, wire.SubscriptionArgs{Topic: topic, Name: sub})
}

// Seek moves a subscription, as broker.Seek.
func (c *Conn) Seek(ctx context.Context, topic, sub string, pos broker.StartPosition) error {
	return c.invoke(ctx, wire.MethodSeek, wire.SeekArgs{Topic: topic, Sub: sub, Position: pos}, nil)
}

// OffsetForTime returns the first offset published at or after t, as
// broker.OffsetForTime; Options.CallTimeout bounds it.
func (c *Conn) OffsetForTime(topic string, partition int, t time.Time) (int64, error) {
	ctx, cancel := c.noCtx()
	defer cancel()
	var res wire.OffsetsResult
	err := c.invoke(ctx, wire.MethodOffsetForTime, wire.OffsetArgs{Topic: topic, Partition: partition, Time: t}, &res)
	return res.Offset, err
}

// Offsets returns a partition's earliest and next offsets, as
// broker.Offsets; Options.CallTimeout bounds it.
func (c *Conn) Offsets(topic string, partition int) (earliest, next int64, err error) {
	ctx, cancel := c.noCtx()
	defer cancel()
	var res wire.OffsetsResult
	err = c.invoke(ctx, wire.MethodOffsets, wire.OffsetArgs{Topic: topic, Partition: partition}, &res)
	return res.Earliest, res.Next, err
}

// Read returns up to max events of one partition from offset from, as
// broker.Read. On an error it returns no events (the embedded broker may
// return those it read before the error).
func (c *Conn) Read(ctx context.Context, topic string, partition int, from int64, max int) ([]broker.StoredEvent, error) {
	frame, start := wire.BeginFrame(nil, wire.TypeRead, 0)
	frame = wire.AppendRead(frame, &wire.Read{Topic: topic, Partition: wire.ClampInt32(partition), From: from, Max: wire.ClampInt32(max)})
	wire.EndFrame(frame, start)
	payloads, err := c.roundTrip(ctx, opRead, frame, wire.TypeEvents)
	if err != nil {
		return nil, err
	}
	out := []broker.StoredEvent{}
	for _, p := range payloads {
		if out, err = wire.DecodeEvents(p, out); err != nil {
			return nil, malformedReply(opRead, err)
		}
	}
	return out, nil
}

// DeadLetters lists a subscription's dead letters from dead-letter id from
// on, at most limit, as broker.DeadLetters. The server may answer fewer
// than limit and than there are, so that its answer fits in one frame:
// list on from the last id + 1 until the answer is empty.
func (c *Conn) DeadLetters(ctx context.Context, topic, sub string, from int64, limit int) ([]broker.DeadLetter, error) {
	out := []broker.DeadLetter{}
	err := c.invoke(ctx, wire.MethodDeadLetters, wire.DeadLettersArgs{Topic: topic, Sub: sub, From: from, Limit: limit}, &out)
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Redrive gives dead letters back to their subscription, as
// broker.Redrive: those named by ids, or with ids nil every one not yet
// redriven.
func (c *Conn) Redrive(ctx context.Context, topic, sub string, ids []int64) (int, error) {
	var res wire.RedriveResult
	err := c.invoke(ctx, wire.MethodRedrive, wire.RedriveArgs{Topic: topic, Sub: sub, IDs: ids}, &res)
	return res.Redriven, err
}
