package broker

import (
	"context"
	"fmt"
	"os"
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

// BenchmarkFetchAck is the broker's share of consuming a backlog: one
// subscription of a 1-partition topic, fetches of 100 and an AckMany of
// each, with the backlog published before the clock starts. It isolates
// the per-event bookkeeping (leases, tokens, entries, timers, journal
// writes) from publishing, fsyncs and the network, whose noise hides
// changes of a few percent in `herald bench consume`.
func BenchmarkFetchAck(b *testing.B) {
	e := benchEnv(b, commitlog.SyncNone)
	e.createTopic("t", TopicConfig{Partitions: 1})
	e.createSub("t", "s", SubscriptionConfig{MaxInFlight: 1000, Start: StartPosition{Kind: StartEarliest}})
	ctx := context.Background()
	const batch = 100
	for i := 0; i < b.N; i += batch {
		if _, err := e.b.Publish(ctx, "t", benchEvents(batch, 128, fmt.Sprint(i))); err != nil {
			b.Fatal(err)
		}
	}
	tokens := make([]string, 0, batch)
	b.ReportAllocs()
	b.ResetTimer()
	for got := 0; got < b.N; {
		ds, err := e.b.Fetch(ctx, "t", "s", "c", batch)
		if err != nil {
			b.Fatal(err)
		}
		tokens = tokens[:0]
		for _, d := range ds {
			tokens = append(tokens, d.Token)
		}
		if _, err := e.b.AckMany(ctx, "t", "s", tokens); err != nil {
			b.Fatal(err)
		}
		got += len(ds)
	}
}

// BenchmarkOpenReplaysTheJournal measures what a restart after a crash
// costs a busy subscription: Open of a data directory whose subscription
// journal holds ops state changes (a lease and an ack per event of a
// 1-partition topic), left as a crash leaves it (no snapshot on close).
// ops 65,536 is the longest journal CompactInterval lets grow
// (compactCap × CompactAfter); 16,384 is CompactAfter itself.
func BenchmarkOpenReplaysTheJournal(b *testing.B) {
	for _, ops := range []int{16384, 65536} {
		b.Run(fmt.Sprintf("ops=%d", ops), func(b *testing.B) {
			e := newEnv(b, func(c *Config) { c.CompactAfter = 1 << 30; c.Sync = commitlog.SyncNone })
			e.createTopic("t", TopicConfig{Partitions: 1})
			e.createSub("t", "s", SubscriptionConfig{MaxInFlight: 1000})
			for i := 0; i < ops/2; i += 1000 {
				e.publish("t", benchEvents(min(1000, ops/2-i), 64, fmt.Sprint(i))...)
			}
			for got := 0; got < ops/2; {
				ds := e.poll("t", "s", "c", 1000)
				if len(ds) == 0 {
					b.Fatalf("%d of %d events fetched", got, ops/2)
				}
				e.ack("t", "s", ds...)
				got += len(ds)
			}
			e.b.skipSnapshots = true // as a crash leaves it
			if err := e.b.Close(); err != nil {
				b.Fatal(err)
			}
			e.b = nil
			cfg := e.cfg
			b.ResetTimer()
			for range b.N {
				b.StopTimer()
				cfg.DataDir = b.TempDir()
				if err := os.CopyFS(cfg.DataDir, os.DirFS(e.dir)); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				br, err := Open(cfg)
				if err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				s, err := br.sub("t", "s")
				if err != nil {
					b.Fatal(err)
				}
				if n := s.j.ops.Load(); n < int64(ops) {
					b.Fatalf("the reopened journal holds %d changes, want at least %d", n, ops)
				}
				br.skipSnapshots = true
				br.Close()
				b.StartTimer()
			}
		})
	}
}
