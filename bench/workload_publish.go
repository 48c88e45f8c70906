package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/heraldhq/herald/internal/latency"
)

// runPublish is workload 1, publish throughput. Each of r.Producers
// producers has its own connection and keeps up to r.Batch events
// unacknowledged (NATS: the async publish window; Redis: one pipeline of
// r.Batch XADDs per round trip). The events are split between the
// producers. Each producer first publishes its share of r.Warmup and waits
// for the acks; then all start together and the clock runs until the last
// producer has every ack. Latency is each event's publish-to-ack time.
func runPublish(ctx context.Context, b broker, r row, lim limits) (result, error) {
	type outcome struct {
		acked int64
		hist  *latency.Histogram
		err   error
	}
	payload := newPayload(r.Size, time.Time{}, newFiller(r.Size))
	outcomes := make([]outcome, r.Producers)
	var warmed, done sync.WaitGroup
	var t0 time.Time             // written before start is closed
	start := make(chan struct{}) // closed when every producer has warmed up
	for i := range r.Producers {
		share, warm := split(r.Events, r.Producers, i), split(r.Warmup, r.Producers, i)
		warmed.Add(1)
		done.Add(1)
		go func() {
			defer done.Done()
			o := &outcomes[i]
			o.hist = new(latency.Histogram)
			measuring := false
			p, err := b.producer(ctx, r.Batch, func(sent time.Time) {
				if measuring {
					o.hist.Record(time.Since(sent))
				}
			})
			if err != nil {
				o.err = err
				warmed.Done()
				return
			}
			defer p.close()
			o.err = publishN(ctx, p, payload, warm)
			warmed.Done()
			if o.err != nil {
				return
			}
			select {
			case <-start:
			case <-ctx.Done():
				o.err = ctx.Err()
				return
			}
			// publishN's flush saw every warm-up ack; acks from here on are
			// measured (onAck reads this after the next publishAsync).
			measuring = true
			n, err := publishUntil(ctx, p, payload, share, t0.Add(lim.maxRun))
			o.acked, o.err = int64(n), err
		}()
	}
	warmed.Wait()
	t0 = time.Now()
	close(start)
	done.Wait()
	elapsed := time.Since(t0)

	h := new(latency.Histogram)
	var acked int64
	for _, o := range outcomes {
		if o.err != nil {
			return result{}, o.err
		}
		acked += o.acked
		h.Merge(o.hist)
	}
	res := throughput(acked, r.Size, elapsed).withLatency(h)
	if acked < int64(r.Events) {
		res.Note = fmt.Sprintf("stopped at the %v cap after %d of %d events", lim.maxRun, acked, r.Events)
	}
	return res, nil
}

// publishN publishes n copies of payload asynchronously and waits for
// their acks.
func publishN(ctx context.Context, p producer, payload []byte, n int) error {
	for range n {
		if err := p.publishAsync(ctx, payload, time.Now()); err != nil {
			return err
		}
	}
	return p.flush(ctx)
}

// publishUntil publishes up to n copies of payload asynchronously, stopping
// early at deadline, and waits for the acks. It returns how many it sent.
func publishUntil(ctx context.Context, p producer, payload []byte, n int, deadline time.Time) (int, error) {
	sent := 0
	for sent < n {
		now := time.Now()
		if now.After(deadline) {
			break
		}
		if err := p.publishAsync(ctx, payload, now); err != nil {
			return sent, err
		}
		sent++
	}
	return sent, p.flush(ctx)
}

// split returns producer i's share of n events shared by k producers.
func split(n, k, i int) int {
	share := n / k
	if i < n%k {
		share++
	}
	return share
}
