package main

import (
	"context"
	"fmt"
	"time"

	"github.com/heraldhq/herald/internal/latency"
)

// e2eTick is how often the open-loop generator wakes up to hand over the
// events that are due. It bounds how late an event can leave the generator
// on an idle machine, and that lateness counts in its latency.
//
// It is a Go ticker, not a kernel sleep like herald bench's paced sender
// (internal/loadgen): NATS runs in this process, and a goroutine blocked
// in nanosleep holds one of its two Ps (measured: NATS's row-4 p50 went
// from 247-268 µs to 553-700 µs with a nanosleep here). The ticker is
// accurate while this process is busy, as it is with NATS in it.
const e2eTick = 100 * time.Microsecond

// e2eWindow is the producer's async window in workload 4: large, so that
// the producer does not slow the offered rate down while acks are pending.
const e2eWindow = 4096

// runEndToEnd is workload 4, end-to-end latency at a fixed offered rate.
//
// A subscription is created first. A ticker-driven, open-loop generator
// then offers r.Warmup + r.Events events at r.Rate per second: event i is
// due at start + i/rate, and that intended time is written into its
// payload whether or not the system keeps up (no coordinated omission). A
// sender goroutine publishes what the generator offers asynchronously (NATS:
// PublishAsync; Redis: one pipeline of whatever is waiting, per round
// trip). The subscriber acks each event and records receive time − intended
// time. The first r.Warmup events are not recorded. events/s is the
// delivered rate (runOnce marks a row below 95 % of the offered rate as
// saturated, for every system).
func runEndToEnd(ctx context.Context, b broker, r row, lim limits) (result, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	total := r.Warmup + r.Events
	h := new(latency.Histogram)
	seen := 0
	var last time.Time // receive time of the last event
	sub, err := b.subscribe(ctx, "e2e", r.Batch, func(payload []byte) {
		now := time.Now()
		seen++
		if seen > r.Warmup {
			h.Record(now.Sub(stampOf(payload)))
			last = now
		}
	})
	if err != nil {
		return result{}, err
	}
	defer sub.close()
	p, err := b.producer(ctx, e2eWindow, nil)
	if err != nil {
		return result{}, err
	}
	defer p.close()

	interval := time.Second / time.Duration(r.Rate)
	start := time.Now().Add(time.Millisecond)
	deadline := start.Add(lim.maxRun)
	offered := make(chan []byte, 1<<16) // bounded: a stalled sender stalls the generator, not memory
	sent := make(chan senderResult, 1)
	go func() { // ends when offered is closed; cancels the generator if it fails
		s := sendOffered(ctx, p, offered, deadline)
		if s.err != nil {
			cancel()
		}
		sent <- s
	}()
	filler := newFiller(r.Size)
	genErr := generate(ctx, start, interval, total, func(intended time.Time) bool {
		select {
		case offered <- newPayload(r.Size, intended, filler):
			return true
		case <-ctx.Done():
			return false
		}
	})
	close(offered)
	s := <-sent
	if s.err != nil {
		return result{}, s.err
	}
	if genErr != nil {
		return result{}, genErr
	}
	if err := sub.waitFor(ctx, s.n); err != nil {
		return result{}, err
	}
	measured := int64(s.n - r.Warmup)
	if measured <= 0 {
		return result{}, fmt.Errorf("only %d events sent before the %v cap, fewer than the warm-up", s.n, lim.maxRun)
	}
	res := throughput(measured, r.Size, last.Sub(start.Add(time.Duration(r.Warmup)*interval))).withLatency(h)
	if s.n < total {
		res.Note = fmt.Sprintf("sender stopped at the %v cap after %d of %d events", lim.maxRun, s.n, total)
	}
	return res, nil
}

// generate calls offer with the intended send time of each of total
// events, start + i×interval, as each falls due, waking every e2eTick. It
// stops early if offer returns false or ctx ends.
func generate(ctx context.Context, start time.Time, interval time.Duration, total int, offer func(time.Time) bool) error {
	tick := time.NewTicker(e2eTick)
	defer tick.Stop()
	next := 0
	for next < total {
		due := total
		if now := time.Now(); now.Before(start.Add(time.Duration(total-1) * interval)) {
			due = min(total, int(now.Sub(start)/interval)+1)
		}
		for ; next < due; next++ {
			if !offer(start.Add(time.Duration(next) * interval)) {
				return ctx.Err()
			}
		}
		if next == total {
			break
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

type senderResult struct {
	n   int // events published
	err error
}

// sendOffered publishes every payload from offered until it is closed,
// sending what is queued whenever nothing else is waiting, then waits for
// the acks. After deadline it drops the rest (and counts only what it sent).
func sendOffered(ctx context.Context, p producer, offered <-chan []byte, deadline time.Time) senderResult {
	n := 0
	for payload := range offered {
		if time.Now().After(deadline) {
			continue // drain so the generator ends
		}
		if err := p.publishAsync(ctx, payload, time.Now()); err != nil {
			return drain(offered, senderResult{n, err})
		}
		n++
		if len(offered) == 0 {
			if err := p.sendQueued(ctx); err != nil {
				return drain(offered, senderResult{n, err})
			}
		}
	}
	return senderResult{n, p.flush(ctx)}
}

func drain(ch <-chan []byte, r senderResult) senderResult {
	for range ch {
	}
	return r
}
