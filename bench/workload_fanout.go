package main

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heraldhq/herald/internal/latency"
)

// runFanOut is workload 5: r.Subs durable subscriptions on one topic, each
// receiving every event and acking each on its own, while one producer
// publishes r.Events events asynchronously with a window of r.Batch (NATS:
// r.Subs pull consumers on one stream; Redis: r.Subs consumer groups on one
// stream). After a warm-up that every subscription has received, the
// clock runs from the first measured publish until every subscription has
// acked the last event. events/s is the aggregate delivery rate,
// r.Subs × events / time; latency is publish-to-delivery of every
// delivery, from the send time stamped into the payload.
//
// With r.Subs 0 (row 5n) it is the same publisher with nothing attached:
// events/s is then the publish rate and latency each event's
// publish-to-ack, as in row 1.
func runFanOut(ctx context.Context, b broker, r row, lim limits) (result, error) {
	var warm atomic.Int64 // deliveries per subscription not measured
	warm.Store(int64(r.Warmup))
	hists := make([]*latency.Histogram, r.Subs)
	subs := make([]subscription, 0, r.Subs)
	defer func() {
		for _, s := range subs {
			s.close()
		}
	}()
	for i := range r.Subs {
		h := new(latency.Histogram)
		hists[i] = h
		var seen int64
		s, err := b.subscribe(ctx, fmt.Sprintf("fanout-%d", i), r.Batch, func(payload []byte) {
			now := time.Now()
			seen++
			if seen > warm.Load() {
				h.Record(now.Sub(stampOf(payload)))
			}
		})
		if err != nil {
			return result{}, err
		}
		subs = append(subs, s)
	}
	var onAck func(sent time.Time)
	acks := new(latency.Histogram) // with no subscriptions: publish-to-ack
	measuringAcks := false         // set before the first measured publish
	if r.Subs == 0 {
		onAck = func(sent time.Time) {
			if measuringAcks {
				acks.Record(time.Since(sent))
			}
		}
	}
	p, err := b.producer(ctx, r.Batch, onAck)
	if err != nil {
		return result{}, err
	}
	defer p.close()
	filler := newFiller(r.Size)

	publish := func(n int, deadline time.Time) (int, error) {
		sent := 0
		for ; sent < n; sent++ {
			now := time.Now()
			if now.After(deadline) {
				break
			}
			// A fresh payload per event: it carries its own send time.
			if err := p.publishAsync(ctx, newPayload(r.Size, now, filler), now); err != nil {
				return sent, err
			}
		}
		return sent, p.flush(ctx)
	}
	waitAll := func(total int) error {
		errs := make([]error, len(subs))
		var wg sync.WaitGroup
		for i, s := range subs {
			wg.Add(1)
			go func() { defer wg.Done(); errs[i] = s.waitFor(ctx, total) }()
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				return err
			}
		}
		return nil
	}

	// The warm-up, too, stops at the cap; what it sent is what is waited for.
	warmed, err := publish(r.Warmup, time.Now().Add(lim.maxRun))
	if err != nil {
		return result{}, fmt.Errorf("warm-up: %w", err)
	}
	warm.Store(int64(warmed)) // before any measured event is published
	if err := waitAll(warmed); err != nil {
		return result{}, fmt.Errorf("warm-up: %w", err)
	}
	measuringAcks = true // publish's flush saw every warm-up ack
	t0 := time.Now()
	n, err := publish(r.Events, t0.Add(lim.maxRun))
	if err != nil {
		return result{}, err
	}
	published := time.Since(t0)
	if err := waitAll(warmed + n); err != nil {
		return result{}, err
	}
	var res result
	if r.Subs == 0 {
		res = throughput(int64(n), r.Size, published).withLatency(acks)
	} else {
		res = throughput(int64(n*r.Subs), r.Size, time.Since(t0))
		h := new(latency.Histogram)
		for _, x := range hists {
			h.Merge(x)
		}
		res = res.withLatency(h)
	}
	res.PublishEventsPerSec = float64(n) / published.Seconds()
	if n < r.Events {
		res.Note = fmt.Sprintf("publisher stopped at the %v cap after %d of %d events", lim.maxRun, n, r.Events)
	}
	return res, nil
}
