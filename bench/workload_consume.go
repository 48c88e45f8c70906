package main

import (
	"context"
	"fmt"
	"time"
)

// runConsume is workload 3: r.Warmup + r.Events events are published first
// (not measured), then one durable subscription is created at the start of
// the topic and reads them r.Batch at a time, acknowledging each event on
// its own (NATS: msg.Ack() per message, the fire-and-forget ack; Redis:
// one XACK per entry, the XACKs of one read sent as one pipeline). The
// clock starts after the warm-up events are delivered and stops when the
// last ack has reached the server.
func runConsume(ctx context.Context, b broker, r row, lim limits) (result, error) {
	p, err := b.producer(ctx, max(r.Batch, 1000), nil)
	if err != nil {
		return result{}, err
	}
	payload := newPayload(r.Size, time.Time{}, newFiller(r.Size))
	loaded, err := publishUntil(ctx, p, payload, r.Warmup+r.Events, time.Now().Add(lim.maxRun))
	p.close()
	if err != nil {
		return result{}, fmt.Errorf("preload: %w", err)
	}
	warm, events := r.Warmup, r.Events
	var note string
	if loaded < warm+events {
		warm = min(warm, loaded/10)
		events = loaded - warm
		note = fmt.Sprintf("preload stopped at the %v cap: consumed %d events", lim.maxRun, events)
	}

	sub, err := b.subscribe(ctx, "consume", r.Batch, nil)
	if err != nil {
		return result{}, err
	}
	defer sub.close()
	if err := sub.waitFor(ctx, warm); err != nil {
		return result{}, fmt.Errorf("warm-up: %w", err)
	}
	t0 := time.Now()
	if err := sub.waitFor(ctx, warm+events); err != nil {
		return result{}, err
	}
	res := throughput(int64(events), r.Size, time.Since(t0))
	res.Note = note
	return res, nil
}
