package loadgen

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/internal/latency"
)

// Summary is what a run measured.
type Summary struct {
	Mode                string  `json:"mode"`
	Events              int64   `json:"events"`
	Seconds             float64 `json:"seconds"`
	EventsPerSec        float64 `json:"events_per_sec"`
	MiBPerSec           float64 `json:"mib_per_sec"`
	P50us               float64 `json:"p50_us"`
	P90us               float64 `json:"p90_us"`
	P99us               float64 `json:"p99_us"`
	P999us              float64 `json:"p999_us"`
	PublishEventsPerSec float64 `json:"publish_events_per_sec,omitempty"`
	// e2e splits each latency at the publish time the server stamped: the
	// publish leg (sent to stored) and the delivery leg (stored to
	// handled, which includes the fsync the event waits for). One clock
	// only when the server runs on this machine.
	PublishLegP50us  float64 `json:"publish_leg_p50_us,omitempty"`
	PublishLegP99us  float64 `json:"publish_leg_p99_us,omitempty"`
	DeliveryLegP50us float64 `json:"delivery_leg_p50_us,omitempty"`
	DeliveryLegP99us float64 `json:"delivery_leg_p99_us,omitempty"`
	Subscriptions    int     `json:"subscriptions,omitempty"`
	Size             int     `json:"size"`
	Producers        int     `json:"producers"`
	Consumers        int     `json:"consumers"`
	Batch            int     `json:"batch"`
	Rate             int     `json:"rate,omitempty"`
	Sync             bool    `json:"sync,omitempty"`
}

// Connect makes the client a run uses.
type Connect func(ctx context.Context, cfg Config) (*herald.Client, error)

// Run performs one run and returns its summary. Progress, when not nil,
// receives a one-line status every quarter second.
func Run(ctx context.Context, cfg Config, connect Connect, progress io.Writer) (Summary, error) {
	if cfg.Rate > 0 && sleepHoldsProc {
		defer spareProcs(cfg.Producers, os.Getenv)()
	}
	client, err := connect(ctx, cfg)
	if err != nil {
		return Summary{}, err
	}
	defer client.Close()
	if cfg.Topic == "" {
		cfg.Topic = fmt.Sprintf("bench-%d", time.Now().UnixNano())
	}
	if err := client.CreateTopic(ctx, cfg.Topic, herald.TopicConfig{Partitions: cfg.Partitions}); err != nil {
		return Summary{}, fmt.Errorf("create topic %s: %w", cfg.Topic, err)
	}
	r := &run{cfg: cfg, c: client, producers: []*herald.Client{client}, connect: connect}
	// Over the network every producer has its own connection, as the peers'
	// producers do in bench/ (in process, they share the one client).
	for p := 1; p < cfg.Producers && cfg.DataDir == "" && cfg.Mode != "consume"; p++ {
		pc, err := connect(ctx, cfg)
		if err != nil {
			return Summary{}, err
		}
		defer pc.Close()
		r.producers = append(r.producers, pc)
	}
	stop := r.reportProgress(progress)
	defer stop()
	switch cfg.Mode {
	case "consume":
		return r.consume(ctx)
	case "e2e":
		return r.e2e(ctx)
	}
	return r.publish(ctx)
}

type run struct {
	cfg       Config
	c         *herald.Client
	producers []*herald.Client // producer p publishes with producers[p % len]
	connect   Connect          // for the subscriptions' own clients
	sent      atomic.Int64
	received  atomic.Int64
	latencies latencies
}

func (r *run) summary(events int64, elapsed time.Duration) Summary {
	s := Summary{
		Mode: r.cfg.Mode, Events: events, Seconds: elapsed.Seconds(), Size: r.cfg.Size,
		Producers: r.cfg.Producers, Consumers: r.cfg.Consumers, Batch: r.cfg.Batch, Rate: r.cfg.Rate,
		Sync: r.cfg.Sync, Subscriptions: r.cfg.Subscriptions,
	}
	if elapsed > 0 {
		s.EventsPerSec = float64(events) / elapsed.Seconds()
		s.MiBPerSec = s.EventsPerSec * float64(r.cfg.Size) / (1 << 20)
	}
	s.P50us, s.P90us, s.P99us, s.P999us = r.latencies.percentiles()
	return s
}

// payload is an event body of the configured size; its first 8 bytes hold
// the intended send time for end-to-end latency.
func (r *run) payload(sendAt time.Time) []byte {
	b := make([]byte, max(r.cfg.Size, 8))
	binary.BigEndian.PutUint64(b, uint64(sendAt.UnixNano()))
	return b[:max(r.cfg.Size, 8)]
}

// share is producer i's part of n events (the first n mod producers
// producers send one more).
func (r *run) share(n, i int) int {
	k := r.cfg.Producers
	if i < n%k {
		return n/k + 1
	}
	return n / k
}

// forever stands for an event count with --duration: the deadline ends it.
const forever = int(^uint(0) >> 1)

// perProducer splits the event count (or nothing, with --duration).
func (r *run) perProducer(i int) int {
	if r.cfg.Duration > 0 {
		return forever
	}
	return r.share(r.cfg.Events, i)
}

// warmUp sends each producer's share of --warmup events and waits for
// their acknowledgements, none of them measured. It returns how many it
// sent.
func (r *run) warmUp(ctx context.Context) (int64, error) {
	before := r.sent.Load()
	err := r.produce(ctx, func(p int) int { return r.share(r.cfg.Warmup, p) }, time.Time{}, false)
	return r.sent.Load() - before, err
}

// produce runs the producers, producer p sending count(p) events (fewer
// if deadline, when not zero, passes first), and returns when they have
// all been acknowledged. Without a rate (or --sync) each producer sends
// batches of --batch (batchProducer); with a rate it keeps a window of
// --batch pending publishes, sends follow a fixed schedule and latency
// counts from the intended send time. Latencies are kept only when
// measure is set.
func (r *run) produce(ctx context.Context, count func(p int) int, deadline time.Time, measure bool) error {
	var wg sync.WaitGroup
	errs := make(chan error, r.cfg.Producers)
	for p := 0; p < r.cfg.Producers; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := r.producer(ctx, p, count(p), deadline, measure); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs
}

type pending struct {
	f      *herald.PublishFuture
	sentAt time.Time
}

// deadlineOf is when a measured phase stops sending: --duration from now,
// or never (the zero time).
func (r *run) deadlineOf(now time.Time) time.Time {
	if r.cfg.Duration > 0 {
		return now.Add(r.cfg.Duration)
	}
	return time.Time{}
}

func (r *run) producer(ctx context.Context, p, n int, deadline time.Time, measure bool) error {
	c := r.producers[p%len(r.producers)]
	if !r.cfg.Sync && r.cfg.Rate <= 0 {
		return r.batchProducer(ctx, c, n, deadline, measure)
	}
	window := make([]pending, 0, r.cfg.Batch) // as many pending as the peers in bench/ allow
	var interval time.Duration
	if r.cfg.Rate > 0 {
		interval = time.Duration(float64(time.Second) * float64(r.cfg.Producers) / float64(r.cfg.Rate))
	}
	start := time.Now()
	samples := new(latency.Histogram)
	if measure {
		defer r.latencies.add(samples)
	}
	settle := func(upTo int) error {
		for _, pe := range window[:upTo] {
			if _, err := pe.f.Wait(ctx); err != nil {
				return err
			}
			samples.Record(time.Since(pe.sentAt))
		}
		window = append(window[:0], window[upTo:]...)
		return nil
	}
	for i := 0; i < n; i++ {
		if !deadline.IsZero() && time.Now().After(deadline) {
			break
		}
		sendAt := time.Now()
		if interval > 0 {
			sendAt = start.Add(time.Duration(i) * interval)
			if wait := time.Until(sendAt); wait > 0 {
				if !sleep(ctx, wait) {
					return ctx.Err()
				}
			}
		}
		e := herald.Event{Type: "bench", Data: r.payload(sendAt)}
		if r.cfg.Sync {
			if _, err := c.PublishSync(ctx, r.cfg.Topic, e); err != nil {
				return err
			}
			samples.Record(time.Since(sendAt))
		} else {
			window = append(window, pending{c.Publish(ctx, r.cfg.Topic, e), sendAt})
			if len(window) == cap(window) {
				if err := settle(len(window) / 2); err != nil {
					return err
				}
			}
		}
		r.sent.Add(1)
	}
	return settle(len(window))
}

// batchProducer sends n events as fast as they are acknowledged, --batch
// at a time with PublishBatch: the window of --batch unacknowledged events
// that bench/ gives every system, sent as one batch as Redis's pipeline of
// XADDs is. An event's latency runs from its creation to its batch's
// acknowledgement.
func (r *run) batchProducer(ctx context.Context, c *herald.Client, n int, deadline time.Time, measure bool) error {
	// Without subscriptions every event carries the same payload, as the
	// peers' producers in bench/ row 1 send one payload over and over, and
	// nothing changes it once published. With subscriptions each event
	// carries its creation time, which the subscriptions measure
	// publish-to-delivery from (as bench/ row 5's peers stamp theirs): one
	// buffer per batch, not reused, since an embedded broker may keep
	// the events' data.
	size := max(r.cfg.Size, 8)
	payload := r.payload(time.Now())
	stamped := r.cfg.Subscriptions > 0
	batch := make([]herald.Event, 0, r.cfg.Batch)
	created := make([]time.Time, 0, r.cfg.Batch)
	samples := new(latency.Histogram)
	if measure {
		defer r.latencies.add(samples)
	}
	for i := 0; i < n; {
		if !deadline.IsZero() && time.Now().After(deadline) {
			break
		}
		batch, created = batch[:0], created[:0]
		var slab []byte
		if stamped {
			slab = make([]byte, min(r.cfg.Batch, n-i)*size)
		}
		for ; i < n && len(batch) < r.cfg.Batch; i++ {
			now := time.Now()
			data := payload
			if stamped {
				data, slab = slab[:size:size], slab[size:]
				binary.BigEndian.PutUint64(data, uint64(now.UnixNano()))
			}
			batch = append(batch, herald.Event{Type: "bench", Data: data})
			created = append(created, now)
		}
		if _, err := c.PublishBatch(ctx, r.cfg.Topic, batch); err != nil {
			return err
		}
		r.sent.Add(int64(len(batch)))
		if !measure {
			continue
		}
		acked := time.Now()
		for _, t := range created {
			samples.Record(acked.Sub(t))
		}
	}
	return nil
}

// publish measures publishing, with --subscriptions receiving as it goes:
// after the warm-up (acknowledged, and received by every subscription),
// the clock runs from the first measured send to the last ack, or with
// subscriptions to the last delivery.
func (r *run) publish(ctx context.Context) (Summary, error) {
	consumers, err := r.startSubscriptions(ctx, r.cfg.Subscriptions, true)
	if err != nil {
		return Summary{}, err
	}
	defer consumers.stop()
	warmed, err := r.warmUp(ctx)
	if err != nil {
		return Summary{}, fmt.Errorf("warm-up: %w", err)
	}
	subs := int64(r.cfg.Subscriptions)
	if err := consumers.waitFor(ctx, warmed*subs); err != nil {
		return Summary{}, fmt.Errorf("warm-up: %w", err)
	}
	start := time.Now()
	// With subscriptions the latency is theirs (publish-to-delivery): the
	// publisher's own publish-to-ack is not measured.
	if err := r.produce(ctx, r.perProducer, r.deadlineOf(start), subs == 0); err != nil {
		return Summary{}, err
	}
	published := time.Since(start)
	sent := r.sent.Load() - warmed
	if subs == 0 {
		return r.summary(sent, published), nil
	}
	if err := consumers.waitFor(ctx, (warmed+sent)*subs); err != nil {
		return Summary{}, err
	}
	delivered := time.Since(start)
	s := r.summary(r.received.Load()-warmed*subs, delivered)
	s.PublishEventsPerSec = float64(sent) / published.Seconds()
	// With subscriptions the latency is publish-to-delivery, as the peers'
	// in bench/ row 5 (the handlers add their last ones as they end).
	consumers.end()
	s.P50us, s.P90us, s.P99us, s.P999us = consumers.lat.percentiles()
	s.PublishLegP50us, _, s.PublishLegP99us, _ = consumers.publishLeg.percentiles()
	s.DeliveryLegP50us, _, s.DeliveryLegP99us, _ = consumers.deliveryLeg.percentiles()
	return s, nil
}

// consume measures draining a backlog: warm-up and measured events are
// published first (untimed), then one subscription reads from the
// earliest; the clock starts once the warm-up events are delivered and
// stops once the last measured one is delivered and every ack is
// answered, as the peers' consumers in bench/ stop theirs (NATS after a
// flush of its acks, Redis after its XACKs' replies).
func (r *run) consume(ctx context.Context) (Summary, error) {
	warmed, err := r.warmUp(ctx)
	if err != nil {
		return Summary{}, fmt.Errorf("warm-up: %w", err)
	}
	if err := r.produce(ctx, r.perProducer, r.deadlineOf(time.Now()), false); err != nil {
		return Summary{}, err
	}
	total := r.sent.Load()
	consumers, err := r.startSubscriptions(ctx, 1, false)
	if err != nil {
		return Summary{}, err
	}
	defer consumers.stop()
	if err := consumers.waitFor(ctx, warmed); err != nil {
		return Summary{}, fmt.Errorf("warm-up: %w", err)
	}
	start := time.Now()
	if err := consumers.waitFor(ctx, total); err != nil {
		return Summary{}, err
	}
	// Ending the subscription sends the acks it is still gathering and
	// returns once they are answered.
	consumers.end()
	return r.summary(total-warmed, time.Since(start)), nil
}

// e2e offers --warmup plus --events events at --rate, one schedule, and
// records the publish-to-delivery latency of all but the first --warmup
// delivered; events/s is the measured deliveries over the time from the
// first measured event's intended send to the last delivery.
func (r *run) e2e(ctx context.Context) (Summary, error) {
	consumers, err := r.startSubscriptions(ctx, 1, true)
	if err != nil {
		return Summary{}, err
	}
	start := time.Now()
	count := func(p int) int {
		if n := r.perProducer(p); n != forever {
			return n + r.share(r.cfg.Warmup, p)
		}
		return forever
	}
	if err := r.produce(ctx, count, r.deadlineOf(start), true); err != nil {
		consumers.stop()
		return Summary{}, err
	}
	if err := consumers.waitFor(ctx, r.sent.Load()); err != nil {
		consumers.stop()
		return Summary{}, err
	}
	warm := int64(r.cfg.Warmup)
	measuredFrom := start.Add(time.Duration(float64(warm) / float64(r.cfg.Rate) * float64(time.Second)))
	elapsed := time.Since(measuredFrom)
	consumers.stop() // the handlers' last latencies are added as they end
	s := r.summary(max(r.received.Load()-warm, 0), elapsed)
	s.P50us, s.P90us, s.P99us, s.P999us = consumers.lat.percentiles()
	s.PublishLegP50us, _, s.PublishLegP99us, _ = consumers.publishLeg.percentiles()
	s.DeliveryLegP50us, _, s.DeliveryLegP99us, _ = consumers.deliveryLeg.percentiles()
	return s, nil
}

// spareProcs adds n to GOMAXPROCS until the returned function is called,
// unless the GOMAXPROCS variable is set (the operator's choice wins).
//
// A fixed-rate producer sleeps its last millisecond in nanosleep, and a
// goroutine in a system call keeps its P (the right to run Go code) until
// the runtime's monitor takes it back, after 20 µs to 10 ms. With two
// cores, a sleeping sender left the publisher and the consumer one P: a
// fetch woken by a publish waited behind the publisher's next batch
// (measured in process, `herald bench e2e --data DIR` at 50,000/s: p50
// 135 µs from the publish's signal to the fetch waking, e2e p50 790–850
// µs; with one more P, 30 µs and 420–460 µs). A sleeping thread uses no
// CPU, so the spare P gives the sleepers' cores back to the others.
func spareProcs(n int, getenv func(string) string) (restore func()) {
	if getenv("GOMAXPROCS") != "" || n <= 0 {
		return func() {}
	}
	prev := runtime.GOMAXPROCS(runtime.GOMAXPROCS(0) + n)
	return func() { runtime.GOMAXPROCS(prev) }
}

// sleep waits d, or less if ctx ends first. The Go runtime wakes an idle
// process for a timer on a millisecond grid (its poller waits in whole
// milliseconds), so a 20 µs timer takes about 1.1 ms: a fixed-rate sender
// would go out in 1 ms bursts and add that lateness to every latency it
// measures. The last millisecond of a wait is therefore slept in the
// kernel (preciseSleep), which wakes within about 0.1 ms.
func sleep(ctx context.Context, d time.Duration) bool {
	if coarse := d - time.Millisecond; coarse > 0 {
		t := time.NewTimer(coarse)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return false
		}
		d -= coarse
	}
	preciseSleep(d)
	return ctx.Err() == nil
}
