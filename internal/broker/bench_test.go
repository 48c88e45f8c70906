package broker

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/cloudevent"
	"github.com/heraldhq/herald/internal/commitlog"
)

func benchEvents(n, size int, prefix string) []cloudevent.Event {
	data := []byte(strings.Repeat("x", size))
	evs := make([]cloudevent.Event, n)
	for i := range evs {
		evs[i] = cloudevent.Event{ID: fmt.Sprintf("%s-%d", prefix, i), Source: "/bench", SpecVersion: "1.0",
			Type: "bench.event", DataContentType: "application/octet-stream", Data: data}
	}
	return evs
}

func benchEnv(b *testing.B, sync commitlog.SyncPolicy) *env {
	return newEnv(b, func(c *Config) { c.Now = time.Now; c.Sync = sync })
}

// BenchmarkPublish stores 256-byte events in batches, under SyncAlways (the
// default: every publish is fsynced before it returns).
func BenchmarkPublish(b *testing.B) {
	for _, batch := range []int{1, 10, 100} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			e := benchEnv(b, commitlog.SyncAlways)
			e.createTopic("t", TopicConfig{Partitions: 4})
			calls := (b.N + batch - 1) / batch
			evs := make([][]cloudevent.Event, calls)
			for i := range evs {
				evs[i] = benchEvents(batch, 256, fmt.Sprint(i))
			}
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			// Four publishers, as several clients would: group commit at work.
			var wg sync.WaitGroup
			for w := range 4 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := w; i < calls; i += 4 {
						if _, err := e.b.Publish(context.Background(), "t", evs[i]); err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			b.ReportMetric(float64(calls*batch)/time.Since(start).Seconds(), "events/s")
		})
	}
}

// BenchmarkPublishDeliverAck publishes b.N events (batches of 100) to a
// topic with 1, 10 or 100 subscriptions, each drained by one consumer that
// fetches up to 500 and acks them with AckMany. events/s counts published
// events fully delivered and acked by every subscription. SyncAlways: every
// publish is fsynced before it returns, deliveries and acks within
// ackSyncDelay.
func BenchmarkPublishDeliverAck(b *testing.B) {
	for _, subs := range []int{1, 10, 100} {
		b.Run(fmt.Sprintf("subs=%d", subs), func(b *testing.B) {
			e := benchEnv(b, commitlog.SyncAlways)
			e.createTopic("t", TopicConfig{Partitions: 4})
			for i := range subs {
				e.createSub("t", fmt.Sprint("s", i), SubscriptionConfig{MaxInFlight: 10000, Start: StartPosition{Kind: StartEarliest}})
			}
			const batch = 100
			calls := (b.N + batch - 1) / batch
			total := calls * batch
			evs := make([][]cloudevent.Event, calls)
			for i := range evs {
				evs[i] = benchEvents(batch, 256, fmt.Sprint(i))
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
			defer cancel()
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			var wg sync.WaitGroup
			for i := range subs {
				wg.Add(1)
				go func() {
					defer wg.Done()
					sub := fmt.Sprint("s", i)
					tokens := make([]string, 0, 500)
					for got := 0; got < total; {
						ds, err := e.b.Fetch(ctx, "t", sub, "c", 500)
						if err != nil {
							b.Error(err)
							return
						}
						tokens = tokens[:0]
						for _, d := range ds {
							tokens = append(tokens, d.Token)
						}
						if _, err := e.b.AckMany(ctx, "t", sub, tokens); err != nil {
							b.Error(err)
							return
						}
						got += len(ds)
					}
				}()
			}
			for i := range calls {
				if _, err := e.b.Publish(ctx, "t", evs[i]); err != nil {
					b.Fatal(err)
				}
			}
			wg.Wait()
			elapsed := time.Since(start).Seconds()
			b.ReportMetric(float64(total)/elapsed, "events/s")
			b.ReportMetric(float64(total*subs)/elapsed, "deliveries/s")
		})
	}
}
