package herald

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"sync"
	"time"

	"github.com/heraldhq/herald/cloudevent"
	"github.com/heraldhq/herald/internal/broker"
)

// PublishResult says where an event was stored.
type PublishResult struct {
	ID        string
	Partition int
	Offset    int64
	// Duplicate: an event with the same source and id was already stored
	// inside the topic's dedup window; this is its position.
	Duplicate bool
}

// PublishFuture is the pending outcome of Publish. The futures of one
// batch share one completion signal: a future costs no channel of its own.
type PublishFuture struct {
	batch *batchDone
	res   PublishResult
	err   error
}

// batchDone is closed once every future of a batch is resolved.
type batchDone struct{ ch chan struct{} }

func newBatchDone() *batchDone { return &batchDone{ch: make(chan struct{})} }

// Done is closed when the outcome is known.
func (f *PublishFuture) Done() <-chan struct{} { return f.batch.ch }

// Wait blocks until the event is acknowledged or failed, or ctx ends.
// When ctx ends first the publish itself goes on: the error matches ctx's
// with errors.Is and says so, and Wait (or Done) may be called again for
// the outcome.
func (f *PublishFuture) Wait(ctx context.Context) (PublishResult, error) {
	if _, err := f.wait(ctx); err != nil && !f.resolved() {
		return PublishResult{}, &waitEndedError{err: err}
	}
	return f.res, f.err // known, even if ctx ended meanwhile
}

// resolved reports whether the outcome is known.
func (f *PublishFuture) resolved() bool {
	select {
	case <-f.batch.ch:
		return true
	default:
		return false
	}
}

// waitEndedError is Wait's error when its context ended before the
// outcome was known. A bare "context deadline exceeded" read as if the
// publish had failed; it may still be stored.
type waitEndedError struct{ err error }

func (e *waitEndedError) Error() string {
	return "herald: stopped waiting for a publish's outcome, which is still pending (Wait again, or watch Done): " + e.err.Error()
}

func (e *waitEndedError) Unwrap() error { return e.err }

// wait is Wait with ctx's own error: PublishSync, which has no future to
// give its caller, wraps it in a *PublishError instead.
func (f *PublishFuture) wait(ctx context.Context) (PublishResult, error) {
	// A batch's futures resolve together, so a caller waiting on them in
	// turn finds all but the first resolved. Checking alone first costs
	// no lock, where the two-way select below locks both channels, and
	// ctx's is shared by every goroutine publishing under it.
	select {
	case <-f.batch.ch:
		return f.res, f.err
	default:
	}
	select {
	case <-f.batch.ch:
		return f.res, f.err
	case <-ctx.Done():
		return PublishResult{}, ctx.Err()
	}
}

// failed returns a future that is already resolved with err.
func failed(err error) *PublishFuture {
	f := &PublishFuture{batch: newBatchDone(), err: err}
	close(f.batch.ch)
	return f
}

// Publish queues e for topic and returns at once. The event joins a batch
// that is sent when full or after the linger (WithBatching); the future
// resolves when the broker has stored it (fsynced, under the default sync
// policy). Missing attributes are filled: id (random), source (the
// client's), specversion 1.0, and the partition key from WithKeyFunc. A
// future that fails holds a *PublishError whose IDs name e's id.
func (c *Client) Publish(ctx context.Context, topic string, e Event) *PublishFuture {
	if err := c.prepare(&e); err != nil {
		return failed(&PublishError{Topic: topic, Err: err})
	}
	p, err := c.publisher(topic)
	if err != nil {
		return failed(&PublishError{Topic: topic, Err: err})
	}
	return p.add(e, false)
}

// PublishSync publishes e and waits for its acknowledgement. It sends at
// once, without waiting for the linger. On an error e may be stored
// nonetheless (the answer was lost, or ctx ended first: the error then
// matches ctx's with errors.Is). The error is a *PublishError whose IDs
// hold e's id, made up if e had none: publish e again with that id to
// retry safely (the broker deduplicates by source and id).
func (c *Client) PublishSync(ctx context.Context, topic string, e Event) (PublishResult, error) {
	if err := c.prepare(&e); err != nil {
		return PublishResult{}, &PublishError{Topic: topic, Err: err}
	}
	p, err := c.publisher(topic)
	if err != nil {
		return PublishResult{}, &PublishError{Topic: topic, Err: err}
	}
	if f := p.sendNow(ctx, e); f != nil {
		return f.res, f.err
	}
	res, err := p.add(e, true).wait(ctx)
	if gaveUp(ctx, err) {
		err = &PublishError{Topic: topic, Err: err, Retryable: true, IDs: []string{e.ID}}
	}
	return res, err
}

// PublishBatch publishes events to topic as one batch and waits until the
// broker has stored all of them (fsynced, under the default sync policy):
// one frame, one write and one answer, for a caller that already holds its
// events together (Watermill's Publish(topic, msgs...), a pipeline of
// XADDs). Publish gathers such batches by itself; PublishBatch skips the
// gathering and a future per event. Missing attributes are filled as
// Publish fills them, on copies: events is not modified. The results are
// in the order of events.
//
// An invalid event fails the batch before anything is sent; the error
// names its index. Events published earlier on this Client to topic are
// sent before the batch, so a key's events keep their order. Over Dial a
// batch must encode to at most 16 MiB.
//
// On an error no event of the batch is reported stored, yet some may be
// (the connection was lost after the broker stored them). The error is a
// *PublishError whose IDs are the events' ids in order, those
// PublishBatch made up included: publish the events again with those ids
// to retry safely (the broker deduplicates by source and id). When ctx
// ends first, PublishBatch returns such an error, matching ctx's with
// errors.Is, and the batch goes on.
func (c *Client) PublishBatch(ctx context.Context, topic string, events []Event) ([]PublishResult, error) {
	if len(events) == 0 {
		return nil, nil
	}
	evs := make([]Event, len(events))
	copy(evs, events)
	for i := range evs {
		if err := c.prepare(&evs[i]); err != nil {
			return nil, &PublishError{Topic: topic, Err: fmt.Errorf("events[%d]: %w", i, err)}
		}
	}
	p, err := c.publisher(topic)
	if err != nil {
		return nil, &PublishError{Topic: topic, Err: err}
	}
	block := make([]PublishFuture, len(evs))
	futures := make([]*PublishFuture, len(evs))
	done := newBatchDone()
	for i := range block {
		block[i].batch = done
		futures[i] = &block[i]
	}
	p.sendBatch(ctx, evs, futures, done)
	select {
	case <-done.ch: // answered (on an idle publisher, always by now)
	default:
		select {
		case <-done.ch:
		case <-ctx.Done():
			return nil, &PublishError{Topic: topic, Err: ctx.Err(), Retryable: true, IDs: eventIDs(evs)}
		}
	}
	if err := block[0].err; err != nil { // a batch fails as a whole
		if perr, ok := err.(*PublishError); ok {
			batchErr := *perr
			batchErr.IDs = eventIDs(evs)
			return nil, &batchErr
		}
		return nil, err
	}
	results := make([]PublishResult, len(block))
	for i := range block {
		results[i] = block[i].res
	}
	return results, nil
}

// gaveUp reports whether err is ctx's end: the caller stopped waiting,
// and the events may be stored or not, so a retry with their ids is safe.
func gaveUp(ctx context.Context, err error) bool {
	return err != nil && ctx.Err() != nil && errors.Is(err, ctx.Err())
}

// eventIDs lists the ids of events, in order.
func eventIDs(events []Event) []string {
	ids := make([]string, len(events))
	for i := range events {
		ids[i] = events[i].ID
	}
	return ids
}

// Flush sends every queued event now and waits for all of them.
func (c *Client) Flush(ctx context.Context) error {
	c.mu.Lock()
	pubs := make([]*publisher, 0, len(c.publishers))
	for _, p := range c.publishers {
		pubs = append(pubs, p)
	}
	c.mu.Unlock()
	for _, p := range pubs {
		if err := p.flushAndWait(ctx); err != nil {
			return err
		}
	}
	return nil
}

func (c *Client) prepare(e *Event) error {
	if e.ID == "" {
		e.ID = newID()
	}
	if e.Source == "" {
		e.Source = c.opts.source
	}
	if e.SpecVersion == "" {
		e.SpecVersion = cloudevent.SpecVersion10
	}
	if c.opts.keyFunc != nil && e.Extension(cloudevent.ExtPartitionKey) == "" {
		// keyFunc gets a copy, copied back: handing it e itself would let
		// the compiler assume it keeps the pointer, and move every
		// published Event to the heap (an allocation per Publish, with or
		// without a key function).
		ek := *e
		k := c.opts.keyFunc(&ek)
		*e = ek
		if k != "" {
			e.SetExtension(cloudevent.ExtPartitionKey, k)
		}
	}
	return e.Validate()
}

// newID is a random UUID (version 4): unique without coordination, so a
// retried publish carries the id the broker deduplicates on. Its bits
// come from idSource, a ChaCha8 generator (cryptographically strong)
// seeded from crypto/rand: reading crypto/rand for every event took 5%
// of a publishing client's CPU, the generator a fifth of that.
//
// Ids are made idsPerBlock at a time into one string, and each is a
// substring of it: one allocation per block instead of one per event.
func newID() string {
	idSource.Lock()
	if len(idSource.block) == 0 {
		var buf [idsPerBlock * uuidLen]byte
		for i := range idsPerBlock {
			putUUIDv4(buf[i*uuidLen:(i+1)*uuidLen], idSource.r)
		}
		idSource.block = string(buf[:])
	}
	id := idSource.block[:uuidLen]
	idSource.block = idSource.block[uuidLen:]
	idSource.Unlock()
	return id
}

const (
	uuidLen     = 36
	idsPerBlock = 32 // a block is 1,152 bytes, kept while any of its ids is
)

// putUUIDv4 writes a random version 4 UUID from r into out, uuidLen
// bytes.
func putUUIDv4(out []byte, r *mrand.ChaCha8) {
	var b [16]byte
	r.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	hex.Encode(out[0:8], b[0:4])
	out[8] = '-'
	hex.Encode(out[9:13], b[4:6])
	out[13] = '-'
	hex.Encode(out[14:18], b[6:8])
	out[18] = '-'
	hex.Encode(out[19:23], b[8:10])
	out[23] = '-'
	hex.Encode(out[24:uuidLen], b[10:])
}

var idSource = struct {
	sync.Mutex
	r     *mrand.ChaCha8
	block string // ids not handed out yet, uuidLen bytes each
}{r: newIDSource()}

func newIDSource() *mrand.ChaCha8 {
	var seed [32]byte
	rand.Read(seed[:])
	return mrand.NewChaCha8(seed)
}

func (c *Client) publisher(topic string) (*publisher, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, ErrClosed
	}
	p := c.publishers[topic]
	if p == nil {
		p = &publisher{c: c, topic: topic}
		c.publishers[topic] = p
	}
	return p, nil
}

// publisher batches the events of one topic. At most maxInFlight batches
// await their acknowledgement at once; while they do, new events gather
// into the next batch, so batches grow with load on their own. A batch is
// handed over when it is full, when its linger ends, or — with a linger of
// 0 — as soon as a slot is free: then an event on an idle publisher goes
// out at once, and under load each batch holds what arrived while the
// previous one was being stored (Nagle-style). Handed-over batches are sent
// in order.
//
// Goroutines: each batch being sent runs on a goroutine counted in
// Client.wg; it ends when the broker answers. A linger timer may hand a
// batch over.
type publisher struct {
	c     *Client
	topic string

	mu       sync.Mutex
	events   []Event // the batch being gathered
	futures  []*PublishFuture
	spare    []PublishFuture // futures not handed out yet, allocated futuresPerBlock at a time
	lastLen  int             // events in the last batch handed over: the next one's initial room
	done     *batchDone
	bytes    int
	timer    *time.Timer
	queue    []outBatch     // handed over, waiting for a slot, oldest first
	inFlight int            // batches being sent
	sending  sync.WaitGroup // batches handed over and not yet answered, for flushAndWait
	// placed is closed once the last batch started holds its place in its
	// partitions (broker.OnQueued); the next batch is sent only then, so
	// batches in flight together are stored in the order they were handed
	// over. nil or closed: nothing is ahead.
	placed chan struct{}
}

// futuresPerBlock is how many futures one allocation holds: a future per
// event cost an allocation per Publish, and a block is kept (at most 4
// KiB) while any of its futures is.
const futuresPerBlock = 64

// outBatch is a batch handed over for sending.
type outBatch struct {
	events  []Event
	futures []*PublishFuture
	done    *batchDone
}

func (p *publisher) add(e Event, now bool) *PublishFuture {
	p.mu.Lock()
	if p.done == nil {
		p.done = newBatchDone()
		// Room for as many events as the last batch had: batches under a
		// steady load are alike, and an Event is a few hundred bytes, so
		// growing the slice by doubling would copy each one several times.
		n := min(p.c.opts.batchSize, max(p.lastLen, 8))
		p.events, p.futures = make([]Event, 0, n), make([]*PublishFuture, 0, n)
	}
	if len(p.spare) == 0 {
		p.spare = make([]PublishFuture, min(cap(p.events), futuresPerBlock))
	}
	f := &p.spare[0]
	p.spare = p.spare[1:]
	f.batch = p.done
	p.events = append(p.events, e)
	p.futures = append(p.futures, f)
	p.bytes += len(e.Data) + len(e.ID) + len(e.Type) + len(e.Source)
	full := len(p.events) >= p.c.opts.batchSize || p.bytes >= p.c.opts.batchBytes
	switch {
	case now || full:
		p.handOverLocked()
	case p.c.opts.linger == 0:
		if p.inFlight+len(p.queue) < p.c.opts.maxInFlight {
			p.handOverLocked()
		} // else it goes when a slot frees (finished)
	case p.timer == nil:
		p.timer = time.AfterFunc(p.c.opts.linger, p.flush)
	}
	p.mu.Unlock()
	return f
}

// sendNow sends e alone on the caller's goroutine, under the caller's
// ctx, when nothing else of this topic is gathering or queued and a slot
// is free: a PublishSync on an idle publisher then costs no goroutine
// handoff. It returns nil, sending nothing, when e must queue behind
// other events.
func (p *publisher) sendNow(ctx context.Context, e Event) *PublishFuture {
	p.mu.Lock()
	placed, idle := p.claimIdleLocked()
	p.mu.Unlock()
	if !idle {
		return nil
	}
	f := &PublishFuture{}
	p.sendOn(ctx, []Event{e}, []*PublishFuture{f}, placed)
	p.finished()
	return f
}

// claimIdleLocked takes a slot for a batch its caller sends on its own
// goroutine, when nothing of this topic is gathering or queued and a
// slot is free; the caller must call finished once the batch is
// answered. idle is false, and nothing taken, otherwise.
func (p *publisher) claimIdleLocked() (placed chan struct{}, idle bool) {
	if len(p.events) > 0 || len(p.queue) > 0 || p.inFlight >= p.c.opts.maxInFlight || !isClosed(p.placed) {
		return nil, false
	}
	p.inFlight++
	p.sending.Add(1)
	p.c.wg.Add(1)
	return p.nextPlacedLocked(), true
}

// sendBatch sends a whole batch (PublishBatch) and closes done once its
// futures are resolved. On an idle publisher it sends on the caller's
// goroutine under ctx, as sendNow does; otherwise what is gathering is
// handed over first and the batch queues behind it, sent by the usual
// goroutine.
func (p *publisher) sendBatch(ctx context.Context, events []Event, futures []*PublishFuture, done *batchDone) {
	p.mu.Lock()
	placed, idle := p.claimIdleLocked()
	if !idle {
		p.handOverLocked()
		p.queue = append(p.queue, outBatch{events, futures, done})
		p.sending.Add(1)
		p.startLocked()
		p.mu.Unlock()
		return
	}
	p.mu.Unlock()
	p.sendOn(ctx, events, futures, placed)
	close(done.ch)
	p.finished()
}

// nextPlacedLocked makes a new placed signal for the batch being started
// and returns it, for send to close.
func (p *publisher) nextPlacedLocked() chan struct{} {
	if p.c.opts.maxInFlight == 1 {
		return nil // one batch at a time is in order by itself
	}
	ch := make(chan struct{})
	p.placed = ch
	return ch
}

// isClosed reports whether ch is nil or closed.
func isClosed(ch chan struct{}) bool {
	if ch == nil {
		return true
	}
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

func (p *publisher) flush() {
	p.mu.Lock()
	p.handOverLocked()
	p.mu.Unlock()
}

func (p *publisher) flushAndWait(ctx context.Context) error {
	p.flush()
	done := make(chan struct{})
	go func() { p.sending.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// handOverLocked queues the gathered batch for sending and starts what
// free slots allow.
func (p *publisher) handOverLocked() {
	if p.timer != nil {
		p.timer.Stop()
		p.timer = nil
	}
	if len(p.events) == 0 {
		return
	}
	p.queue = append(p.queue, outBatch{p.events, p.futures, p.done})
	p.lastLen = len(p.events)
	p.events, p.futures, p.done, p.bytes = nil, nil, nil, 0
	p.sending.Add(1)
	p.startLocked()
}

// startLocked sends queued batches, oldest first, while slots are free.
func (p *publisher) startLocked() {
	for len(p.queue) > 0 && p.inFlight < p.c.opts.maxInFlight {
		b := p.queue[0]
		p.queue[0] = outBatch{}
		p.queue = p.queue[1:]
		p.inFlight++
		p.c.wg.Add(1)
		ahead := p.placed // read before nextPlacedLocked replaces it
		placed := p.nextPlacedLocked()
		go func() {
			if ahead != nil {
				<-ahead // closed by the batch ahead's send, whatever its outcome
			}
			p.send(b.events, b.futures, placed)
			close(b.done.ch)
			p.finished()
		}()
	}
}

// finished frees the slot of a batch that was answered and fills it: with
// a queued batch, or, with a linger of 0, with what gathered meanwhile.
func (p *publisher) finished() {
	p.mu.Lock()
	p.inFlight--
	if len(p.queue) == 0 && p.c.opts.linger == 0 {
		p.handOverLocked()
	} else {
		p.startLocked()
	}
	p.mu.Unlock()
	p.sending.Done()
	p.c.wg.Done()
}

// send publishes one batch and resolves its futures. placed, if not nil,
// is closed as soon as the batch holds its place (or has failed), which
// lets the next batch go.
func (p *publisher) send(events []Event, futures []*PublishFuture, placed chan struct{}) {
	p.sendOn(context.Background(), events, futures, placed)
}

// sendOn is send under ctx: a batch one caller waits for alone
// (PublishSync, PublishBatch) ends with that caller's context.
func (p *publisher) sendOn(ctx context.Context, events []Event, futures []*PublishFuture, placed chan struct{}) {
	if placed != nil {
		ctx = broker.OnQueued(ctx, func() { close(placed) })
		defer broker.Queued(ctx)
	}
	results, err := p.c.backend.Publish(ctx, p.topic, events)
	if err == nil && len(results) != len(events) {
		err = fmt.Errorf("broker answered %d results for %d events", len(results), len(events))
	}
	if err != nil {
		perr := PublishError{Topic: p.topic, Err: err, Retryable: retryable(err) || gaveUp(ctx, err)}
		var fe *broker.FieldError
		if errors.As(err, &fe) {
			perr.Retryable = false
		}
		// Each future names its own event, which its caller may hold
		// without an id: one slice of the batch's ids each, capped so that
		// appending to one cannot reach the next. The errors are made
		// only when a batch fails.
		ids := eventIDs(events)
		errs := make([]PublishError, len(futures))
		for i, f := range futures {
			errs[i] = perr
			errs[i].IDs = ids[i : i+1 : i+1]
			f.err = &errs[i]
		}
		return
	}
	for i, f := range futures {
		r := results[i]
		f.res = PublishResult{ID: r.ID, Partition: r.Partition, Offset: r.Offset, Duplicate: r.Duplicate}
	}
}
