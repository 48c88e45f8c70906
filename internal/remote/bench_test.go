package remote

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/cloudevent"
	"github.com/heraldhq/herald/internal/broker"
	"github.com/heraldhq/herald/internal/commitlog"
)

// Benchmarks of the stream protocol against a real server in process,
// with the HTTP batch API on the same server as the comparison (the
// numbers are in internal/wire/doc.go). Run:
//
//	go test -run='^$' -bench='Publish|Consume' -count=5 ./internal/remote

// benchPublishers is how many goroutines publish at once (over one Conn,
// or over the HTTP client's keep-alive connections).
const benchPublishers = 8

// benchEventBytes is the data size of every benchmark event.
const benchEventBytes = 128

// benchSync is the fsync policy of the benchmark servers: always (the
// default, as in production) or, with HERALD_BENCH_SYNC=none, none, which
// shows the protocol's own cost.
func benchSync() string {
	if s := os.Getenv("HERALD_BENCH_SYNC"); s != "" {
		return s
	}
	return "always"
}

func benchServer(b *testing.B) *testServer {
	b.Helper()
	cfg := serverConfig(b.TempDir(), "127.0.0.1:0")
	cfg.Sync = benchSync()
	ts := startServerConfig(b, cfg)
	c := dial(b, ts.url)
	mustTopic(b, c, "bench", broker.TopicConfig{Partitions: 4})
	return ts
}

// runPublishers calls publish from benchPublishers goroutines until b.N
// batches are done, and reports events/s.
func runPublishers(b *testing.B, batch int, publish func(events []cloudevent.Event) error) {
	b.Helper()
	var (
		next  = make(chan struct{}, benchPublishers)
		wg    sync.WaitGroup
		errMu sync.Mutex
		first error
	)
	b.ResetTimer()
	for range benchPublishers {
		wg.Go(func() {
			for range next {
				if err := publish(newEvents(batch, benchEventBytes)); err != nil {
					errMu.Lock()
					first = err
					errMu.Unlock()
				}
			}
		})
	}
	for range b.N {
		next <- struct{}{}
	}
	close(next)
	wg.Wait()
	b.StopTimer()
	if first != nil {
		b.Fatal(first)
	}
	b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "events/s")
}

func BenchmarkRemotePublish(b *testing.B) {
	for _, batch := range []int{1, 100} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			ts := benchServer(b)
			c := dial(b, ts.url)
			ctx := context.Background()
			runPublishers(b, batch, func(events []cloudevent.Event) error {
				_, err := c.Publish(ctx, "bench", events)
				return err
			})
		})
	}
}

// BenchmarkRemoteRoundTrip publishes one event at a time, each waiting
// for its answer, and reports the median round trip: the latency a sync
// publish adds to its fsync. The server runs in this process unless
// HERALD_BENCH_URL names one (a `herald serve` in its own process, with a
// topic "bench"); with HERALD_BENCH_SYNC=none (or `herald serve --sync
// none`) no fsync is in it. docs/PERFORMANCE.md compares the two.
func BenchmarkRemoteRoundTrip(b *testing.B) {
	url := os.Getenv("HERALD_BENCH_URL")
	if url == "" {
		url = benchServer(b).url
	}
	c := dial(b, url)
	ctx := context.Background()
	events := make([]cloudevent.Event, 1)
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		events[0] = newEvent(benchEventBytes) // a new id: a repeated one is a duplicate
		start := time.Now()
		if _, err := c.Publish(ctx, "bench", events); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds())/1e3, "p50-µs")
}

// BenchmarkHTTPPublish is the same load through POST
// /v1/topics/{topic}/events with application/cloudevents-batch+json.
func BenchmarkHTTPPublish(b *testing.B) {
	for _, batch := range []int{1, 100} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			ts := benchServer(b)
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: benchPublishers}}
			defer client.CloseIdleConnections()
			url := ts.url + "/v1/topics/bench/events"
			runPublishers(b, batch, func(events []cloudevent.Event) error {
				body, err := cloudevent.MarshalBatchJSON(events)
				if err != nil {
					return err
				}
				resp, err := client.Post(url, "application/cloudevents-batch+json", bytes.NewReader(body))
				if err != nil {
					return err
				}
				defer resp.Body.Close()
				io.Copy(io.Discard, resp.Body)
				if resp.StatusCode != http.StatusOK {
					return fmt.Errorf("HTTP publish: %s", resp.Status)
				}
				return nil
			})
		})
	}
}

// BenchmarkEmbeddedPublish is the same load on an in-process broker: the
// floor the remote numbers are measured against.
func BenchmarkEmbeddedPublish(b *testing.B) {
	for _, batch := range []int{1, 100} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			policy, err := commitlog.ParseSyncPolicy(benchSync())
			if err != nil {
				b.Fatal(err)
			}
			br, err := broker.Open(broker.Config{DataDir: b.TempDir(), Sync: policy})
			if err != nil {
				b.Fatal(err)
			}
			defer br.Close()
			mustTopic(b, Embedded(br), "bench", broker.TopicConfig{Partitions: 4})
			ctx := context.Background()
			runPublishers(b, batch, func(events []cloudevent.Event) error {
				_, err := br.Publish(ctx, "bench", events)
				return err
			})
		})
	}
}

// BenchmarkRemoteConsume fetches (max 100) and acks b.N events with four
// consumers on one Conn; each delivery is acked by its own goroutine, as
// a handler pool would, so concurrent acks share frames.
func BenchmarkRemoteConsume(b *testing.B) {
	const consumers, credit = 4, 100
	ts := benchServer(b)
	c := dial(b, ts.url)
	ctx := context.Background()
	mustSub(b, c, "bench", "s", broker.SubscriptionConfig{Start: broker.StartPosition{Kind: broker.StartEarliest},
		MaxInFlight: consumers * credit * 2})
	for left := b.N; left > 0; left -= 1000 {
		if _, err := c.Publish(ctx, "bench", newEvents(min(left, 1000), benchEventBytes)); err != nil {
			b.Fatal(err)
		}
	}
	var (
		mu   sync.Mutex
		got  int
		wg   sync.WaitGroup
		fail = make(chan error, consumers)
	)
	done, stop := context.WithCancel(ctx)
	defer stop()
	b.ResetTimer()
	for i := range consumers {
		wg.Go(func() {
			name := fmt.Sprintf("c%d", i)
			for done.Err() == nil {
				ds, err := c.Fetch(done, "bench", "s", name, credit)
				if err != nil {
					if done.Err() == nil {
						fail <- err
					}
					return
				}
				var acks sync.WaitGroup
				for _, d := range ds {
					acks.Go(func() {
						if err := c.Ack(ctx, "bench", "s", d.Token); err != nil {
							fail <- err
						}
					})
				}
				acks.Wait()
				mu.Lock()
				got += len(ds)
				if got >= b.N {
					stop()
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	select {
	case err := <-fail:
		b.Fatal(err)
	default:
	}
	b.ReportMetric(float64(got)/b.Elapsed().Seconds(), "events/s")
}
