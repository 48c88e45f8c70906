package herald

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heraldhq/herald/internal/broker"
)

// Message is one delivery of an event to a handler. Its Data and
// Extensions are its own: a handler may change them.
type Message struct {
	Event
	Topic        string
	Subscription string
	Partition    int
	Offset       int64
	PublishTime  time.Time
	// Attempt is 1 on the first delivery and counts up on redeliveries.
	Attempt int
	// Deadline is when the lease ends and the event goes to another
	// consumer unless it is settled or extended.
	Deadline time.Time

	c     *Client
	token string
}

// Extend renews the lease: call it from a handler that needs longer than
// the ack timeout.
func (m *Message) Extend(ctx context.Context) error {
	return m.c.backend.Extend(ctx, m.Topic, m.Subscription, m.token)
}

// Handler processes one message. Returning nil acknowledges it; an error
// nacks it (retried under the subscription's backoff, dead-lettered after
// its maximum deliveries); Permanent(err) dead-letters it at once;
// RetryAfter(err, d) retries after d.
type Handler func(ctx context.Context, m *Message) error

// Subscribe consumes subscription on topic with handler until ctx ends,
// then stops fetching, waits for in-flight handlers to finish and settle,
// and returns nil. The subscription is created if it does not exist (from
// WithStart, default FromLatest); options that set its configuration update
// an existing one. It returns early only on errors a retry cannot fix.
func (c *Client) Subscribe(ctx context.Context, topic, subscription string, h Handler, opts ...SubscribeOption) error {
	o := subscribeOptions{concurrency: 1}
	for _, opt := range opts {
		opt(&o)
	}
	if o.consumer == "" {
		host, _ := os.Hostname()
		o.consumer = host + "-" + strconv.Itoa(os.Getpid()) + "-" + strconv.FormatUint(rand.Uint64()%1e6, 10)
	}
	if err := c.ensureSubscription(ctx, topic, subscription, o); err != nil {
		return err
	}
	// Prefetch: deliveries are fetched ahead of the handlers, into a FIFO
	// queue that concurrency workers drain, so one fetch serves many
	// events. credits bound what is fetched but not yet handled. Acks go to
	// one acker that sends what has gathered as one AckMany (one frame and
	// one journal write for many), several batches in flight; nacks and rejects,
	// the rare case, run on their own goroutines. A handler's slot is free
	// while its settle is being written. On stop, what was already
	// fetched is handled and settled before Subscribe returns.
	prefetch := max(o.prefetch, o.concurrency)
	if o.prefetch == 0 {
		prefetch = max(4*o.concurrency, 64)
	}
	queue := make(chan queued, prefetch)
	credits := newCredits(prefetch)
	f := &fetcher{c: c, topic: topic, sub: subscription, consumer: o.consumer, credits: credits, queue: queue,
		settled: make(chan struct{}, 1)}
	ack := newAcker(c, topic, subscription, prefetch, f.settledSome)
	f.flushAcks = ack.flush
	var workers, settles sync.WaitGroup
	for range o.concurrency {
		workers.Add(1)
		go func() {
			defer workers.Done()
			for q := range queue {
				handled, err := c.handle(q, topic, subscription, h)
				credits.put(1)
				switch {
				case !handled:
				case err == nil:
					ack.add(q.delivery())
				default:
					d := *q.delivery()
					settles.Add(1)
					go func() {
						defer settles.Done()
						c.settle(ctx, topic, subscription, d, err)
						f.settledSome()
					}()
				}
			}
		}()
	}
	defer func() {
		close(queue)
		workers.Wait()
		ack.close()
		settles.Wait()
	}()
	return f.run(ctx)
}

// fetcher keeps one Subscribe's prefetch queue filled. It fetches when
// about half the credits are free. Over the network it keeps up to
// maxFetchesInFlight fetches in flight, each for at most half the
// credits: draining a backlog, the round trip, not the server, bounded a
// consumer that waited for each answer; keeping up with new events, a
// second long poll is already waiting at the server when the first is
// answered, so an event published meanwhile does not wait for the next
// FETCH to arrive (`herald bench e2e` at 50,000 events/s: p50 782 -> 689
// µs and p99 2,547 -> 2,236 µs in a busy half hour, 6 pairs; p50 709 ->
// 688 µs and p99 level in a quiet one, 8 pairs; until then the second
// was sent only while fetches came back full). Replies are queued in the
// order their fetches were sent, and the stream server takes one
// subscription consumer's fetches in that order, so handlers see a
// partition's events in log order as before. In process a fetch costs no
// round trip, and the next, for every free credit, starts once the
// previous is answered.
type fetcher struct {
	c                    *Client
	topic, sub, consumer string
	credits              *credits
	queue                chan<- queued   // to the handlers
	line                 []*pendingFetch // fetches in flight, oldest first
	// pipelined: a fetch was sent before it was answered (over the
	// network), so another can be in flight beside it.
	pipelined bool
	// settled is signalled, and settledN counted, whenever settles of
	// this Subscribe are answered: leases it held are gone, and a fetch
	// refused for backpressure may go.
	settled  chan struct{}
	settledN atomic.Uint64
	// flushAcks, when set, has the acker send the acks it is gathering
	// now (acker.flush).
	flushAcks func()
}

// settledSome records that settles of this Subscribe were answered.
func (f *fetcher) settledSome() {
	f.settledN.Add(1)
	select {
	case f.settled <- struct{}{}:
	default:
	}
}

// backpressureWait bounds how long a fetch refused for backpressure waits
// for this Subscribe's own settles before it asks again (the leases may
// be held by handlers still running, or by another consumer of the same
// name). A variable for a test.
var backpressureWait = 50 * time.Millisecond

// maxFetchesInFlight bounds a Subscribe's pipelined fetches.
const maxFetchesInFlight = 2

func (f *fetcher) run(ctx context.Context) error {
	// Fetches in flight end with run: what they bring is still queued for
	// the handlers, and a stopped one's leases run out on the server.
	fctx, cancel := context.WithCancel(ctx)
	work := make(chan *pendingFetch)
	var workers sync.WaitGroup
	for range maxFetchesInFlight {
		workers.Go(func() { f.fetchWorker(work) })
	}
	defer func() {
		cancel()
		for _, p := range f.line {
			<-p.done
			f.take(p)
		}
		close(work)
		workers.Wait()
	}()
	// With nothing in flight and fewer than want credits free, wait up to
	// batchWait for more, so fetches stay large.
	gather := time.NewTimer(batchWait)
	gather.Stop()
	var gathering, gathered bool
	backoff := 50 * time.Millisecond
	for ctx.Err() == nil {
		var head <-chan struct{}
		if len(f.line) > 0 {
			head = f.line[0].done
		}
		select {
		case <-head:
			// Queue what came back before asking for more: in process a
			// fetch returns only once answered, and a long poll for more
			// must not hold back the events already fetched.
			if err := f.answered(ctx, &backoff); err != nil {
				return err
			}
			continue
		default:
		}
		if len(f.line) < maxFetchesInFlight {
			free := f.credits.count()
			send := free >= f.credits.want
			if len(f.line) == 0 && free > 0 && !send {
				if !gathering {
					gathering, gathered = true, false
					gather.Reset(batchWait)
				}
				send = gathered
			}
			if send {
				gather.Stop()
				gathering = false
				gen := f.settledN.Load()
				var n int
				if f.pipelined {
					n = f.credits.takeUpTo(f.credits.want) // half: the rest is for the fetch beside it
				} else {
					n = f.credits.take()
				}
				p := f.startFetch(fctx, work, n)
				p.gen = gen
				f.line = append(f.line, p)
				continue
			}
		}
		select {
		case <-f.credits.ready:
		case <-gather.C:
			gathered = true
		case <-head:
		case <-ctx.Done():
		}
	}
	return nil
}

// answered takes the oldest fetch in flight, which has been answered. A
// failure a retry can fix waits out its backoff; another ends Subscribe.
func (f *fetcher) answered(ctx context.Context, backoff *time.Duration) error {
	p := f.line[0]
	f.line = f.line[1:]
	f.take(p)
	switch {
	case p.err == nil:
		*backoff = 50 * time.Millisecond
	case ctx.Err() != nil:
	case errors.Is(p.err, broker.ErrBackpressure):
		// This consumer holds its limit of leases (MaxInFlightPerConsumer):
		// prefetched events, and handled ones whose acks are on their way.
		// Ask again as soon as some are settled, not after a backoff: a
		// prefetch near the limit met it at every fetch and stalled 50 ms
		// each time (consume at 52,000 instead of 280,000 events/s). If
		// some were settled since the fetch was sent, that is now. Acks
		// still gathering (ackLinger) go at once.
		if f.flushAcks != nil {
			f.flushAcks()
		}
		if f.settledN.Load() != p.gen {
			break
		}
		t := time.NewTimer(backpressureWait)
		select {
		case <-f.settled:
		case <-t.C:
		case <-ctx.Done():
		}
		t.Stop()
	case !retryable(p.err):
		return fmt.Errorf("herald: subscribe %s/%s: %w", f.topic, f.sub, p.err)
	default:
		f.c.opts.logger.Warn("fetch failed; retrying", "topic", f.topic, "subscription", f.sub, "err", p.err, "in", *backoff)
		sleepCtx(ctx, *backoff)
		*backoff = min(2**backoff, 5*time.Second)
	}
	return nil
}

// take queues an answered fetch's deliveries for the handlers and gives
// back the credits it did not use. Neither blocks: credits bound both.
func (f *fetcher) take(p *pendingFetch) {
	f.credits.put(p.n - len(p.ds))
	if len(p.ds) == 0 {
		return
	}
	fb := newFetchBatch(p.ctx, p.ds)
	for i := range p.ds {
		f.queue <- queued{batch: fb, i: i}
	}
}

// pendingFetch is one fetch in flight, answered when done is closed.
type pendingFetch struct {
	ctx  context.Context
	n    int
	gen  uint64 // the fetcher's settledN when the fetch was sent
	ds   []broker.Delivery
	err  error
	sent chan struct{} // closed once the request holds its place
	done chan struct{}
}

// startFetch has a fetch worker fetch up to n deliveries. It returns once
// the request is sent (remote: its place among the subscription's fetches
// is fixed, broker.OnQueued) or answered (in process).
func (f *fetcher) startFetch(ctx context.Context, work chan<- *pendingFetch, n int) *pendingFetch {
	p := &pendingFetch{ctx: ctx, n: n, sent: make(chan struct{}), done: make(chan struct{})}
	work <- p // a worker is free: there are as many as fetches in flight
	select {
	case <-p.sent:
	case <-p.done:
	}
	// Over the network sent is closed before done, but both may be by
	// now (a quick answer): look again rather than trust the select.
	if isClosed(p.sent) {
		f.pipelined = true
	}
	return p
}

// fetchWorker runs fetches from work until it is closed. The workers live
// as long as the Subscribe: a goroutine per fetch cost a spawn and grew
// its stack again for every reply it decoded (runtime.newstack was 3.6% of
// a remote consumer's CPU).
func (f *fetcher) fetchWorker(work <-chan *pendingFetch) {
	for p := range work {
		fctx := broker.OnQueued(p.ctx, func() { close(p.sent) })
		p.ds, p.err = f.c.backend.Fetch(fctx, f.topic, f.sub, f.consumer, p.n)
		close(p.done)
	}
}

// queued is one prefetched delivery waiting for a handler: its place in
// its fetch's answer, which lives as long as any of them waits. A
// Delivery is a few hundred bytes; queued by value it was copied into the
// queue and out again, and the queue's lock held for both.
type queued struct {
	batch *fetchBatch
	i     int
}

func (q queued) delivery() *broker.Delivery { return &q.batch.ds[q.i] }

// fetchBatch is what the deliveries of one fetch share: the answer
// itself, their Messages, and the handler context. Their leases end
// together, and one context with a deadline per fetch is much cheaper
// than one per event. The last handler to finish releases it.
//
// The Messages are one allocation per fetch, not one per event (an
// allocation per delivery was 5% of a consumer's CPU). A handler that
// keeps a Message keeps its fetch's block with it, as its Data already
// keeps the fetch's answer.
type fetchBatch struct {
	ds     []broker.Delivery
	msgs   []Message
	ctx    context.Context
	cancel context.CancelFunc
	left   atomic.Int32
}

func newFetchBatch(ctx context.Context, ds []broker.Delivery) *fetchBatch {
	deadline := ds[0].Deadline
	for _, d := range ds[1:] {
		if d.Deadline.Before(deadline) {
			deadline = d.Deadline
		}
	}
	fb := &fetchBatch{ds: ds, msgs: make([]Message, len(ds))}
	// The handler's context survives the Subscribe context (a stop lets
	// it finish) but ends at the lease deadline.
	fb.ctx, fb.cancel = context.WithDeadline(context.WithoutCancel(ctx), deadline)
	fb.left.Store(int32(len(ds)))
	return fb
}

func (fb *fetchBatch) done() {
	if fb.left.Add(-1) == 0 {
		fb.cancel()
	}
}

// handle runs the handler for one delivery and returns its result;
// handled is false when the delivery was skipped: its lease ended while it
// waited in the prefetch queue, and the broker gives it out again.
func (c *Client) handle(q queued, topic, sub string, h Handler) (handled bool, err error) {
	defer q.batch.done()
	d := q.delivery()
	// The batch's context ends at its earliest deadline: until then no
	// lease of the batch has ended, and the clock need not be read (a
	// clock read per event was 3% of a consumer's CPU).
	if q.batch.ctx.Err() != nil && !d.Deadline.IsZero() && time.Now().After(d.Deadline) {
		return false, nil
	}
	m := &q.batch.msgs[q.i]
	c.setMessage(m, topic, sub, d)
	return true, runHandler(q.batch.ctx, h, m)
}

// acker gathers the acks of one Subscribe and sends them in batches: it
// gathers up to a prefetch's worth (fill), waiting at most ackLinger after
// the first (less when a lease would end, or when flush asks), sends them
// as one AckMany, and goes on gathering while up to ackersInFlight batches
// are being answered.
type acker struct {
	c          *Client
	topic, sub string
	fill       int // acks a batch waits for, up to ackLinger
	in         chan ackItem
	flushes    chan struct{} // flush's requests: send what has gathered now
	wg         sync.WaitGroup
	free       chan *ackBatch // batches sent and answered, for reuse
	answered   func()         // called after each batch is answered
}

// ackItem is what an ack needs of a delivery: its token, and its place
// for the log line if the ack fails. A Delivery is a few hundred bytes.
type ackItem struct {
	token     string
	partition int
	offset    int64
	deadline  int64 // when the lease ends (Unix ns; 0: not known)
}

// endsBefore reports whether the item's lease is known to end before t
// (Unix ns).
func (it ackItem) endsBefore(t int64) bool { return it.deadline != 0 && it.deadline < t }

// ackBatch is one AckMany's items and tokens, reused across batches.
type ackBatch struct {
	items  []ackItem
	tokens []string
}

// Bounds of the acker: batches in flight, and acks per batch. Two in
// flight gather larger batches than four did (fewer ACK frames, journal
// writes and replies): 4% less CPU on each side of a consume run, the same
// throughput or better.
const (
	ackersInFlight = 2
	maxAckBatch    = 1024
)

// ackLinger bounds how long a batch waits for a prefetch's worth of acks
// (the acker's fill). Sending whatever had queued up sent a batch per
// fetch (about 100 acks at fetches of 100); waiting for two fetches' worth
// halved the ACK frames, their journal writes and their replies, and a
// consumer draining a backlog went 3-5% faster
// (docs/performance-history.md, "Changes after the 20:54 run"). A busy
// consumer gathers its fill before the timer ends. One that keeps up with new events gathers a few acks at
// a time, and then the timer sets how many ACK frames (each a write, a
// journal write and a reply on both sides) its acks cost: at 50,000
// events/s, 5 ms instead of 200 µs took 4-5% off both processes' CPU,
// and the end-to-end p50 fell 703 -> 607 µs and the p99 2,472 -> 2,162
// µs (docs/performance-history.md, "Changes after the 22:50 run"). The wait is short against any ack timeout, and never
// reaches a lease's end (leaseMargin), nor holds acks a fetch refused for
// backpressure waits for (flush). A crash forgets at most this long's
// acks, which at-least-once redelivers. A variable for a test.
var ackLinger = 5 * time.Millisecond

// leaseMargin: a batch holding an ack whose lease ends within this of the
// batch's start goes at once, so an ack never waits out its own lease
// (ack timeouts may be as short as 1 ms).
func leaseMargin() time.Duration { return 2 * ackLinger }

func newAcker(c *Client, topic, sub string, buffer int, answered func()) *acker {
	a := &acker{c: c, topic: topic, sub: sub, fill: min(buffer, maxAckBatch), in: make(chan ackItem, buffer),
		flushes: make(chan struct{}, 1), free: make(chan *ackBatch, ackersInFlight+1), answered: answered}
	a.wg.Add(1)
	go a.run()
	return a
}

func (a *acker) add(d *broker.Delivery) {
	it := ackItem{token: d.Token, partition: d.Event.Partition, offset: d.Event.Offset}
	if !d.Deadline.IsZero() {
		it.deadline = d.Deadline.UnixNano()
	}
	a.in <- it
}

// flush asks the acker to send what it is gathering now, without waiting
// for its fill or its linger: a fetch was refused because this consumer
// holds its limit of leases, and some of them may be these acks. A request
// made while nothing is gathering ends the next batch's wait.
func (a *acker) flush() {
	select {
	case a.flushes <- struct{}{}:
	default:
	}
}

// close sends what is queued and waits until every ack is answered.
func (a *acker) close() {
	close(a.in)
	a.wg.Wait()
}

func (a *acker) run() {
	defer a.wg.Done()
	// ackersInFlight long-lived senders: a goroutine per batch cost a spawn
	// and grew its stack again for every batch it encoded.
	batches := make(chan *ackBatch)
	var senders sync.WaitGroup
	for range ackersInFlight {
		senders.Go(func() {
			for batch := range batches {
				a.send(batch)
				a.answered()
				clear(batch.tokens) // drop the strings; keep the room
				select {
				case a.free <- batch:
				default:
				}
			}
		})
	}
	defer func() {
		close(batches)
		senders.Wait()
	}()
	linger := time.NewTimer(ackLinger)
	linger.Stop()
	for it := range a.in {
		var batch *ackBatch
		select {
		case batch = <-a.free:
		default:
			batch = &ackBatch{}
		}
		batch.items = append(batch.items[:0], it)
		// The batch goes at once if a lease of it ends within leaseMargin.
		soon := time.Now().Add(leaseMargin()).UnixNano()
		urgent := it.endsBefore(soon)
		linger.Reset(ackLinger)
	gather:
		for !urgent && len(batch.items) < a.fill {
			select {
			case it, ok := <-a.in:
				if !ok {
					break gather
				}
				batch.items = append(batch.items, it)
				urgent = it.endsBefore(soon)
			case <-linger.C:
				break gather
			case <-a.flushes:
				break gather
			}
		}
		linger.Stop()
		batches <- batch // waits while every sender is busy
	}
}

// send acks one batch; a failed ack is logged, and its event is delivered
// again, which an idempotent handler tolerates.
func (a *acker) send(batch *ackBatch) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	batch.tokens = batch.tokens[:0]
	for _, it := range batch.items {
		batch.tokens = append(batch.tokens, it.token)
	}
	errs, err := a.c.backend.AckMany(ctx, a.topic, a.sub, batch.tokens)
	for i, it := range batch.items {
		e := err
		if e == nil {
			e = errs[i]
		}
		if e != nil {
			a.c.opts.logger.Warn("settling failed; the event will be redelivered", "topic", a.topic,
				"subscription", a.sub, "partition", it.partition, "offset", it.offset, "err", e)
		}
	}
}

// settle nacks or rejects a handled delivery by its handler's error.
func (c *Client) settle(ctx context.Context, topic, sub string, d broker.Delivery, err error) {
	sctx, scancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer scancel()
	var (
		perm  permanentError
		after retryAfterError
		serr  error
	)
	switch {
	case errors.As(err, &perm):
		serr = c.backend.Reject(sctx, topic, sub, d.Token, err.Error())
	case errors.As(err, &after):
		serr = c.backend.Nack(sctx, topic, sub, d.Token, after.delay, err.Error())
	default:
		serr = c.backend.Nack(sctx, topic, sub, d.Token, 0, err.Error())
	}
	if serr != nil {
		// The lease is gone (expired, or the connection dropped): the event
		// will be delivered again, which an idempotent handler tolerates.
		c.opts.logger.Warn("settling failed; the event will be redelivered", "topic", topic,
			"subscription", sub, "partition", d.Event.Partition, "offset", d.Event.Offset, "err", serr)
	}
}

// batchWait bounds how long Subscribe waits for more free handler slots
// before it fetches.
const batchWait = 2 * time.Millisecond

// credits count the free room in a Subscribe's prefetch queue: handlers
// give one back per delivery, and the fetcher takes those that are free
// (over the network at most half) for its next fetch. ready wakes the
// fetcher only when the count reaches 1 or want (half the room), not at
// every credit, which cost a goroutine wake-up per event.
type credits struct {
	free  atomic.Int64
	want  int
	ready chan struct{}
}

func newCredits(n int) *credits {
	c := &credits{want: (n + 1) / 2, ready: make(chan struct{}, 1)}
	c.free.Store(int64(n))
	return c
}

// put gives back n credits.
func (c *credits) put(n int) {
	if n <= 0 {
		return
	}
	now := c.free.Add(int64(n))
	was := now - int64(n)
	if (was < 1 && now >= 1) || (was < int64(c.want) && now >= int64(c.want)) {
		select {
		case c.ready <- struct{}{}:
			// Let the fetcher send now. Woken, it would otherwise wait on
			// this P until the handler blocks, with the queue empty by
			// then, and a second fetch would seldom be in flight: 6 of
			// 531 fetches were, against 750 of 990 with the yield, in a
			// `herald bench consume` run of 100,000 events.
			runtime.Gosched()
		default:
		}
	}
}

func (c *credits) count() int { return int(c.free.Load()) }

// take takes every free credit.
func (c *credits) take() int { return int(c.free.Swap(0)) }

// takeUpTo takes up to n free credits.
func (c *credits) takeUpTo(n int) int {
	for {
		free := c.free.Load()
		k := min(free, int64(n))
		if c.free.CompareAndSwap(free, free-k) {
			return int(k)
		}
	}
}

// runHandler turns a handler panic into an error, so one bad event is
// retried (and eventually dead-lettered) instead of crashing the service.
func runHandler(ctx context.Context, h Handler, m *Message) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("handler panicked: %v", v)
		}
	}()
	return h(ctx, m)
}

func (c *Client) ensureSubscription(ctx context.Context, topic, sub string, o subscribeOptions) error {
	info, err := c.backend.Subscription(context.WithoutCancel(ctx), topic, sub) // bounded by WithCallTimeout
	if errors.Is(err, broker.ErrTopicNotFound) || errors.Is(err, broker.ErrSubscriptionNotFound) {
		if errors.Is(err, broker.ErrTopicNotFound) {
			if _, terr := c.backend.CreateTopic(ctx, topic, broker.TopicConfig{}); terr != nil && !errors.Is(terr, broker.ErrTopicExists) {
				return fmt.Errorf("herald: create topic %s: %w", topic, terr)
			}
		}
		_, err = c.backend.CreateSubscription(ctx, topic, sub, o.cfg)
		if errors.Is(err, broker.ErrSubscriptionExists) { // another consumer won the race
			return nil
		}
		if err != nil {
			return fmt.Errorf("herald: create subscription %s/%s: %w", topic, sub, err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("herald: subscription %s/%s: %w", topic, sub, err)
	}
	cfg, changed := info.Config, false
	apply := func(field string, set func()) {
		if o.set[field] {
			set()
			changed = true
		}
	}
	apply("ordering", func() { cfg.Ordering = o.cfg.Ordering })
	apply("retry", func() { cfg.Retry = o.cfg.Retry })
	apply("ackTimeout", func() { cfg.AckTimeout = o.cfg.AckTimeout })
	apply("maxInFlight", func() { cfg.MaxInFlight = o.cfg.MaxInFlight })
	apply("filter", func() { cfg.Filter = o.cfg.Filter })
	apply("deadLetterTopic", func() { cfg.DeadLetterTopic = o.cfg.DeadLetterTopic })
	if !changed {
		return nil
	}
	if _, err := c.backend.UpdateSubscription(ctx, topic, sub, cfg); err != nil {
		return fmt.Errorf("herald: update subscription %s/%s: %w", topic, sub, err)
	}
	return nil
}

// sleepCtx waits d or until ctx ends; it reports whether d passed.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
