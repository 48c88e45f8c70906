package main

import (
	"context"
	"fmt"
	"time"

	"github.com/heraldhq/herald/internal/latency"
)

// runSyncPublish is workload 2: one producer publishes one event at a time
// and waits for its acknowledgement before the next (NATS: js.Publish;
// Redis: one XADD per round trip). Latency is each round trip as the client
// sees it; events/s is the count over the whole measured time.
func runSyncPublish(ctx context.Context, b broker, r row, lim limits) (result, error) {
	p, err := b.producer(ctx, 1, nil)
	if err != nil {
		return result{}, err
	}
	defer p.close()
	payload := newPayload(r.Size, time.Time{}, newFiller(r.Size))
	for range r.Warmup {
		if err := p.publishSync(ctx, payload); err != nil {
			return result{}, fmt.Errorf("warm-up: %w", err)
		}
	}
	h := new(latency.Histogram)
	t0 := time.Now()
	deadline := t0.Add(lim.maxRun)
	n := 0
	for n < r.Events {
		sent := time.Now()
		if sent.After(deadline) {
			break
		}
		if err := p.publishSync(ctx, payload); err != nil {
			return result{}, err
		}
		h.Record(time.Since(sent))
		n++
	}
	res := throughput(int64(n), r.Size, time.Since(t0)).withLatency(h)
	if n < r.Events {
		res.Note = fmt.Sprintf("stopped at the %v cap after %d of %d events", lim.maxRun, n, r.Events)
	}
	return res, nil
}
