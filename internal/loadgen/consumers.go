package loadgen

import (
	"context"
	"encoding/binary"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/internal/latency"
)

// consumerGroup runs subscriptions that each receive every event.
type consumerGroup struct {
	r      *run
	cancel context.CancelFunc
	done   sync.WaitGroup
	errs   chan error
	lat    latencies
	// publishLeg and deliveryLeg split lat at the event's publish time.
	publishLeg, deliveryLeg latencies
	// signal is poked when a delivery reaches want, the count waitFor
	// waits for, rather than on every delivery, which woke the waiting
	// goroutine for nothing on the cores the run measures.
	signal    chan struct{}
	want      atomic.Int64
	clients   []*herald.Client
	closeOnce sync.Once
}

// startSubscriptions creates n subscriptions from the start of the fresh
// topic and consumes them with cfg.Consumers handlers each, acking every
// event. With stamped it records publish-to-delivery latency from the
// send time carried in the payload, for every delivery after the
// warm-up's (--warmup events, delivered to each of the n).
func (r *run) startSubscriptions(ctx context.Context, n int, stamped bool) (*consumerGroup, error) {
	warmDeliveries := int64(r.cfg.Warmup) * int64(n)
	// Over the network each subscription has its own connection, as the
	// peers' consumers do in bench/; in process they share the client.
	clients := make([]*herald.Client, n)
	for i := range clients {
		clients[i] = r.c
		if r.cfg.DataDir == "" {
			c, err := r.connect(ctx, r.cfg)
			if err != nil {
				for _, c := range clients[:i] {
					if c != r.c {
						c.Close()
					}
				}
				return nil, err
			}
			clients[i] = c
		}
	}
	cctx, cancel := context.WithCancel(ctx)
	g := &consumerGroup{r: r, cancel: cancel, errs: make(chan error, n), signal: make(chan struct{}, 1), clients: clients}
	for i := 0; i < n; i++ {
		g.done.Add(1)
		go func() {
			defer g.done.Done()
			// This subscription's latencies, added to the group's as it
			// ends; mu serves its handlers (--consumers of them).
			var local, pub, del latency.Histogram
			var mu sync.Mutex
			defer func() {
				g.lat.add(&local)
				g.publishLeg.add(&pub)
				g.deliveryLeg.add(&del)
			}()
			err := clients[i].Subscribe(cctx, r.cfg.Topic, fmt.Sprintf("bench-%d", i), func(_ context.Context, m *herald.Message) error {
				// The first --warmup deliveries are not measured.
				n := r.received.Add(1)
				if stamped && n > warmDeliveries && len(m.Data) >= 8 {
					now := time.Now()
					sent := time.Unix(0, int64(binary.BigEndian.Uint64(m.Data)))
					mu.Lock()
					local.Record(now.Sub(sent))
					pub.Record(m.PublishTime.Sub(sent))
					del.Record(now.Sub(m.PublishTime))
					mu.Unlock()
				}
				if n >= g.want.Load() {
					select {
					case g.signal <- struct{}{}:
					default:
					}
				}
				return nil
			}, herald.WithStart(herald.FromEarliest), herald.Concurrency(r.cfg.Consumers),
				herald.Prefetch(Prefetch(r.cfg.Batch, r.cfg.Consumers)),
				herald.WithMaxInFlight(max(1000, 4*r.cfg.Consumers, 2*r.cfg.Batch)))
			if err != nil {
				g.errs <- err
			}
		}()
	}
	return g, nil
}

// Prefetch is the prefetch of `herald bench`'s subscriptions for --batch
// and --consumers: two fetches' worth, since a fetch asks for half the
// prefetch credits (about --batch) and the next is sent before the last is
// handled; at least four per handler. bench/ gives its NATS consumer the
// same window from this function, so that the two stay alike.
func Prefetch(batch, consumers int) int { return max(2*batch, 4*consumers) }

// waitFor blocks until total deliveries have been handled.
func (g *consumerGroup) waitFor(ctx context.Context, total int64) error {
	g.want.Store(total) // before the count is read: a delivery reaching it then signals
	for g.r.received.Load() < total {
		select {
		case <-g.signal:
		case err := <-g.errs:
			return fmt.Errorf("subscription failed: %w", err)
		case <-ctx.Done():
			return fmt.Errorf("waiting for %d deliveries, %d arrived: %w", total, g.r.received.Load(), ctx.Err())
		}
	}
	return nil
}

// end ends the subscriptions and returns once each has returned, so every
// ack they gathered has been sent and answered.
func (g *consumerGroup) end() {
	g.cancel()
	g.done.Wait()
}

// stop ends the subscriptions and closes their clients. Only the first
// call closes them.
func (g *consumerGroup) stop() {
	g.end()
	g.closeOnce.Do(func() {
		for _, c := range g.clients {
			if c != g.r.c {
				c.Close()
			}
		}
	})
}
