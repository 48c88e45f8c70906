package herald

import (
	"context"
	"slices"
	"sync/atomic"
	"testing"
	"time"
)

// Benchmarks of the SDK's hot paths, in process (embedded) and over
// loopback (remote), with the default sync policy (every acknowledgement
// is fsynced). One op is one event; events/s is reported.

func BenchmarkSDKPublish(b *testing.B) {
	for _, tr := range transports() {
		b.Run(tr.name, func(b *testing.B) {
			c := tr.open(b, b.TempDir())
			ctx := context.Background()
			if err := c.CreateTopic(ctx, "bench", TopicConfig{Partitions: 4}); err != nil {
				b.Fatal(err)
			}
			data := make([]byte, 128)
			b.SetBytes(128)
			b.ResetTimer()
			start := time.Now()
			var last *PublishFuture
			for i := 0; i < b.N; i++ {
				last = c.Publish(ctx, "bench", Event{Type: "bench", Data: data})
				if i%10000 == 9999 {
					if _, err := last.Wait(ctx); err != nil {
						b.Fatal(err)
					}
				}
			}
			if err := c.Flush(ctx); err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
		})
	}
}

func BenchmarkSDKConsume(b *testing.B) {
	for _, tr := range transports() {
		b.Run(tr.name, func(b *testing.B) {
			c := tr.open(b, b.TempDir())
			ctx := context.Background()
			for i := 0; i < b.N; i++ {
				c.Publish(ctx, "bench", Event{Type: "bench", Data: make([]byte, 128)})
			}
			if err := c.Flush(ctx); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			start := time.Now()
			sctx, stop := context.WithCancel(ctx)
			var n atomic.Int64
			err := c.Subscribe(sctx, "bench", "s", func(context.Context, *Message) error {
				if n.Add(1) == int64(b.N) {
					stop()
				}
				return nil
			}, WithStart(FromEarliest), Concurrency(64))
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
		})
	}
}

// BenchmarkSDKPublishSync is one PublishSync at a time: the latency of an
// acknowledged (fsynced) publish, whose floor is one write+fsync
// (internal/commitlog BenchmarkWriteFsync4KiB).
func BenchmarkSDKPublishSync(b *testing.B) {
	for _, tr := range transports() {
		b.Run(tr.name, func(b *testing.B) {
			c := tr.open(b, b.TempDir())
			ctx := context.Background()
			if err := c.CreateTopic(ctx, "bench", TopicConfig{Partitions: 1}); err != nil {
				b.Fatal(err)
			}
			data := make([]byte, 128)
			lat := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				start := time.Now()
				if _, err := c.PublishSync(ctx, "bench", Event{Type: "bench", Data: data}); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(start))
			}
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
		})
	}
}
