package broker

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Delivery is one leased event. Token identifies the lease for Ack, Nack,
// Extend and Reject; it is opaque to clients (today
// "<partition>-<offset>-<lease id base 36>", safe in URLs and JSON).
// Attempt counts deliveries of this event to this subscription, this one
// included.
type Delivery struct {
	Token    string      `json:"token"`
	Event    StoredEvent `json:"event"`
	Attempt  int         `json:"attempt"`
	Deadline time.Time   `json:"deadline"`
}

// Limits on Fetch arguments.
const (
	MaxFetch        = 10000
	maxConsumerName = 256
)

func formatToken(p int, off int64, id uint64) string {
	b := make([]byte, 0, 32)
	b = strconv.AppendInt(b, int64(p), 10)
	b = append(b, '-')
	b = strconv.AppendInt(b, off, 10)
	b = append(b, '-')
	b = strconv.AppendUint(b, id, 36)
	return string(b)
}

func parseToken(tok string) (p int, off int64, id uint64, err error) {
	bad := func() error {
		return fmt.Errorf("%w: %q is not a delivery token of this broker: use the token from Fetch", ErrUnknownToken, truncate(tok, 64))
	}
	a, rest, ok1 := strings.Cut(tok, "-")
	o, l, ok2 := strings.Cut(rest, "-")
	if !ok1 || !ok2 {
		return 0, 0, 0, bad()
	}
	pp, err1 := strconv.ParseUint(a, 10, 31)
	oo, err2 := strconv.ParseUint(o, 10, 63)
	id, err3 := strconv.ParseUint(l, 36, 64)
	if err1 != nil || err2 != nil || err3 != nil || id == 0 {
		return 0, 0, 0, bad()
	}
	return int(pp), int64(oo), id, nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// sub finds a live subscription.
func (b *Broker) sub(topicName, name string) (*subscription, error) {
	t, err := b.topic(topicName)
	if err != nil {
		return nil, err
	}
	t.mu.RLock()
	s := t.subs[name]
	t.mu.RUnlock()
	if s == nil {
		if err := ValidateName("subscription", name); err != nil {
			return nil, err
		}
		return nil, subNotFound(topicName, name)
	}
	return s, nil
}

// Fetch leases up to max events of a subscription to consumer. It returns
// as soon as at least one is ready; otherwise it waits (long poll) until one
// is, or ctx ends: then it returns ctx's error and no deliveries. A ctx that
// is already done makes Fetch a non-blocking poll: it still returns what is
// ready.
//
// Backpressure: a consumer that already holds MaxInFlightPerConsumer leases
// gets ErrBackpressure at once (it must settle some; waiting could never
// end if it is the one that would settle them). When the subscription as a
// whole holds MaxInFlight leases, Fetch waits for other consumers to settle.
//
// Deliveries are written before Fetch returns, but not fsynced: a restart
// after the process is killed keeps the lease and its attempt count; after
// a power loss a lease not yet covered by a later fsync is forgotten and
// the event is delivered again at once. Deliveries that the caller drops (its ctx ended
// after they were leased) come back when the lease expires.
func (b *Broker) Fetch(ctx context.Context, topic, sub, consumer string, max int) ([]Delivery, error) {
	return b.FetchAppend(ctx, topic, sub, consumer, max, nil)
}

// FetchAppend is Fetch appending the deliveries to dst, for a caller that
// reuses one slice across fetches: a fetch of a hundred deliveries is a
// slice of about 30 KiB, which the garbage collector would otherwise
// allocate, zero and sweep each time. On an error it returns dst as given.
func (b *Broker) FetchAppend(ctx context.Context, topic, sub, consumer string, max int, dst []Delivery) ([]Delivery, error) {
	if err := b.enter(); err != nil {
		return dst, err
	}
	defer b.leave()
	if consumer == "" || len(consumer) > maxConsumerName {
		return dst, fieldErr("consumer", "required, at most %d bytes: name the consumer so its leases can be counted", maxConsumerName)
	}
	if max <= 0 || max > MaxFetch {
		return dst, fieldErr("max", "%d: must be between 1 and %d", max, MaxFetch)
	}
	s, err := b.sub(topic, sub)
	if err != nil {
		return dst, err
	}
	ds, err := s.fetch(ctx, consumer, max, dst, false)
	if err != nil {
		return dst, err
	}
	return ds, nil
}

// TryFetchAppend is FetchAppend for a caller that must not wait for
// events, such as the stream server's reader: it leases what is ready now
// and reports true, or reports false, leasing nothing, when nothing is
// ready or the subscription has dead letters to write first (a publish,
// which waits for an fsync); the caller then fetches as usual. Like any
// fetch it may read the log into the window and wait out a compaction's
// cut. Its errors are FetchAppend's.
func (b *Broker) TryFetchAppend(topic, sub, consumer string, max int, dst []Delivery) ([]Delivery, bool, error) {
	if err := b.enter(); err != nil {
		return dst, false, err
	}
	defer b.leave()
	if consumer == "" || len(consumer) > maxConsumerName || max <= 0 || max > MaxFetch {
		return dst, false, nil // FetchAppend says what is wrong
	}
	s, err := b.sub(topic, sub)
	if err != nil {
		return dst, false, err
	}
	ds, err := s.fetch(context.Background(), consumer, max, dst, true)
	switch {
	case err == errWouldBlock:
		return dst, false, nil
	case err != nil:
		return dst, false, err
	}
	return ds, true, nil
}

// errWouldBlock is a try fetch's answer when it would wait.
var errWouldBlock = errors.New("the fetch would wait")

// fetch leases up to max events to consumer, appended to dst. With try
// it never waits for events nor writes dead letters: it returns
// errWouldBlock instead. (Like any fetch it may read the log into the
// window, and wait for a compaction's cut.)
func (s *subscription) fetch(ctx context.Context, consumer string, max int, dst []Delivery, try bool) ([]Delivery, error) {
	triedDL := false
	for {
		topicChanged := s.t.changed()
		s.jmu.RLock()
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			s.jmu.RUnlock()
			return nil, s.errClosed()
		}
		now := s.now()
		s.sweep(now)
		if (len(s.deadQ) > 0 || s.dlInFlight > 0) && !triedDL {
			// Dead entries block their ordering groups until written: write
			// them first so what is ready is ready now, then look again.
			s.mu.Unlock()
			s.jmu.RUnlock()
			if try {
				return nil, errWouldBlock
			}
			s.deadLetterNow(ctx)
			triedDL = true
			continue
		}
		if err := s.fill(now, false); err != nil {
			s.mu.Unlock()
			s.jmu.RUnlock()
			return nil, fmt.Errorf("fetch from %q/%q: %w", s.t.name, s.name, err)
		}
		held := s.consumers[consumer]
		if held >= s.cfg.MaxInFlightPerConsumer {
			s.mu.Unlock()
			s.jmu.RUnlock()
			return nil, fmt.Errorf("%w: consumer %q holds %d leases on %q/%q, its limit (maxInFlightPerConsumer) is %d: "+
				"ack, nack or reject some first", ErrBackpressure, consumer, held, s.t.name, s.name, s.cfg.MaxInFlightPerConsumer)
		}
		n := min(max, s.cfg.MaxInFlightPerConsumer-held, s.cfg.MaxInFlight-s.inFlight)
		var picked []*entry
		if n > 0 {
			picked = s.pick(consumer, n, now)
		}
		needDL := len(s.deadQ) > 0 // died in fill (restored exhausted entries)
		if len(picked) > 0 {
			ds := slices.Grow(dst, len(picked))[:len(dst)+len(picked)]
			opsBuf := borrowOps(len(picked))
			ops := (*opsBuf)[:len(picked)]
			for i, e := range picked {
				ds[len(dst)+i] = Delivery{Token: formatToken(e.part, e.offset, e.lease.id), Event: *e.ev,
					Attempt: e.attempts, Deadline: time.Unix(0, e.lease.deadline).UTC()}
				ops[i] = op{kind: opDeliver, part: e.part, offset: e.offset, attempts: e.attempts,
					leaseID: e.lease.id, deadline: e.lease.deadline, consumer: consumer}
			}
			s.mu.Unlock()
			// A lease needs no fsync of its own, nor to be written before
			// the fetch returns: losing it in a crash or a power cut only
			// makes the event deliverable again sooner, with its attempt
			// count one lower (at-least-once holds). It is queued before
			// any settle of it, and the settle's fsync covers it.
			err := s.queueLeases(ops)
			returnOps(opsBuf, ops)
			s.jmu.RUnlock()
			if needDL {
				s.kickTimekeeper()
			}
			if err != nil {
				s.unpick(picked)
				return nil, err
			}
			return ds, nil
		}
		if try {
			s.mu.Unlock()
			s.jmu.RUnlock()
			if needDL {
				s.kickTimekeeper()
			}
			return nil, errWouldBlock
		}
		s.waiters++
		wait := s.sig
		s.mu.Unlock()
		s.jmu.RUnlock()
		if needDL && !triedDL {
			s.deadLetterNow(ctx)
			triedDL = true
			continue
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if h := s.b.parkHook; h != nil {
			h()
		}
		select {
		case <-wait:
		case <-topicChanged:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-s.stop:
		case <-s.b.closing:
			return nil, ErrClosed
		}
		triedDL = false
	}
}

// unpick gives back leases whose delivery could not be made durable.
func (s *subscription) unpick(picked []*entry) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	for _, e := range picked {
		if e.lease == nil || e.settled {
			continue
		}
		s.unlease(e)
		e.attempts--
		s.consider(e, now)
		s.considerGroup(e.group, now)
	}
}

// leased returns the entry a token holds a lease on. The caller holds mu
// and has run sweep, so an expired lease is already gone.
func (s *subscription) leased(token string, p int, off int64, id uint64) (*entry, error) {
	if p >= len(s.parts) {
		return nil, fmt.Errorf("%w: partition %d does not exist in topic %q", ErrUnknownToken, p, s.t.name)
	}
	e := s.parts[p].entries.get(off)
	if e == nil || e.lease == nil || e.lease.id != id {
		return nil, fmt.Errorf("%w: token %s on %q/%q: the lease expired or the event was already settled; "+
			"an unacked event is delivered again", ErrLeaseExpired, truncate(token, 64), s.t.name, s.name)
	}
	return e, nil
}

// settleOp applies a change to the leased entry named by token and journals
// the operation it returns; unsynced returns before the journal's fsync
// (see journalOps).
func (s *subscription) settleOp(ctx context.Context, token string, unsynced bool, change func(e *entry, now int64) (op, error)) (*entry, error) {
	p, off, id, err := parseToken(token)
	if err != nil {
		return nil, err
	}
	s.jmu.RLock()
	defer s.jmu.RUnlock()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, s.errClosed()
	}
	now := s.now()
	s.sweep(now)
	e, err := s.leased(token, p, off, id)
	if err != nil {
		s.mu.Unlock()
		return nil, err
	}
	o, err := change(e, now)
	s.mu.Unlock()
	if err != nil {
		return nil, err
	}
	if err := s.journalOps(ctx, []op{o}, unsynced); err != nil {
		return nil, err
	}
	return e, nil
}

// Ack settles a delivery: the event is not delivered to this subscription
// again. It returns once the ack is written to the subscription's journal
// (it survives the process being killed); the journal fsyncs it within
// its UnsyncedDelay (ackSyncDelay). A power cut can forget the acks of
// that last moment: their events are delivered again (at least once), as
// with NATS JetStream's and Kafka's consumer positions.
func (b *Broker) Ack(ctx context.Context, topic, sub, token string) error {
	if err := b.enter(); err != nil {
		return err
	}
	defer b.leave()
	s, err := b.sub(topic, sub)
	if err != nil {
		return err
	}
	_, err = s.settleOp(ctx, token, true, func(e *entry, now int64) (op, error) {
		s.settle(e, now)
		return op{kind: opSettle, part: e.part, offset: e.offset}, nil
	})
	return err
}

// AckMany acks several deliveries of one subscription with one journal
// write, as Ack does for one. errs[i] is the outcome for tokens[i], as Ack would return it; err
// is set when nothing could be acked (the subscription is missing, or the
// write failed — then none of the acks is durable).
func (b *Broker) AckMany(ctx context.Context, topic, sub string, tokens []string) (errs []error, err error) {
	if err := b.enter(); err != nil {
		return nil, err
	}
	defer b.leave()
	s, err := b.sub(topic, sub)
	if err != nil {
		return nil, err
	}
	errs = make([]error, len(tokens))
	opsBuf := borrowOps(len(tokens))
	ops := *opsBuf
	defer func() { returnOps(opsBuf, ops) }()
	s.jmu.RLock()
	defer s.jmu.RUnlock()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, s.errClosed()
	}
	now := s.now()
	s.sweep(now)
	for i, tok := range tokens {
		p, off, id, perr := parseToken(tok)
		if perr != nil {
			errs[i] = perr
			continue
		}
		e, lerr := s.leased(tok, p, off, id)
		if lerr != nil {
			errs[i] = lerr
			continue
		}
		s.settle(e, now)
		ops = append(ops, op{kind: opSettle, part: p, offset: off})
	}
	s.mu.Unlock()
	if err := s.journalOps(ctx, ops, true); err != nil {
		return nil, err
	}
	return errs, nil
}

// Nack returns a delivery for a later attempt: after delay, or after the
// retry policy's backoff when delay is 0. lastErr is kept and written with
// the dead letter. An event out of deliveries goes to the dead-letter topic
// instead.
func (b *Broker) Nack(ctx context.Context, topic, sub, token string, delay time.Duration, lastErr string) error {
	if err := b.enter(); err != nil {
		return err
	}
	defer b.leave()
	if delay < 0 || delay > maxRetryDelay {
		return fieldErr("delay", "%v: must be between 0 (use the retry policy) and %v", delay, maxRetryDelay)
	}
	s, err := b.sub(topic, sub)
	if err != nil {
		return err
	}
	// dead is decided under the subscription's lock, inside the closure:
	// once settleOp returns, e belongs to the subscription again (a
	// redelivery of the same event may be settling it concurrently).
	dead := false
	_, err = s.settleOp(ctx, token, true, func(e *entry, now int64) (op, error) {
		id := e.lease.id
		s.unlease(e)
		e.lastErr = truncate(lastErr, 4096)
		o := op{kind: opRelease, part: e.part, offset: e.offset, attempts: e.attempts, leaseID: id, lastErr: e.lastErr}
		if s.exhausted(e) {
			s.markDead(e, s.maxDeliveriesReason())
			o.reason = e.deadReason
			dead = true
			return o, nil
		}
		d := delay
		if d == 0 {
			d = s.backoff(e.attempts)
		}
		if d > 0 {
			e.notBefore = now + int64(d)
		}
		o.notBefore = e.notBefore
		s.consider(e, now)
		s.considerGroup(e.group, now)
		return o, nil
	})
	if err != nil {
		return err
	}
	if dead {
		s.deadLetterNow(ctx)
	}
	return nil
}

// Extend renews a delivery's lease for another AckTimeout ("in progress").
func (b *Broker) Extend(ctx context.Context, topic, sub, token string) error {
	if err := b.enter(); err != nil {
		return err
	}
	defer b.leave()
	s, err := b.sub(topic, sub)
	if err != nil {
		return err
	}
	_, err = s.settleOp(ctx, token, true, func(e *entry, now int64) (op, error) {
		e.lease.deadline = now + int64(s.cfg.AckTimeout)
		s.setLeaseTimer(e)
		return op{kind: opExtend, part: e.part, offset: e.offset, leaseID: e.lease.id, deadline: e.lease.deadline}, nil
	})
	return err
}

// Reject sends a delivery straight to the dead-letter topic with reason,
// whatever its attempts. It returns once the rejection is durable; the dead
// letter itself is written before Reject returns unless the dead-letter
// topic refuses it (quota), in which case it is retried in the background.
func (b *Broker) Reject(ctx context.Context, topic, sub, token, reason string) error {
	if err := b.enter(); err != nil {
		return err
	}
	defer b.leave()
	s, err := b.sub(topic, sub)
	if err != nil {
		return err
	}
	if reason == "" {
		reason = "rejected by the consumer"
	}
	_, err = s.settleOp(ctx, token, false, func(e *entry, now int64) (op, error) {
		id := e.lease.id
		s.unlease(e)
		s.markDead(e, "rejected: "+truncate(reason, 4096))
		return op{kind: opRelease, part: e.part, offset: e.offset, attempts: e.attempts, leaseID: id,
			lastErr: e.lastErr, reason: e.deadReason}, nil
	})
	if err != nil {
		return err
	}
	s.deadLetterNow(ctx) // a rejected event is always dead
	return nil
}

// deadLetterNow writes pending dead letters on the caller's goroutine, so
// the caller returns with the dead letter stored; failures are retried by
// the timekeeper.
func (s *subscription) deadLetterNow(ctx context.Context) {
	if err := s.runDeadLetters(context.WithoutCancel(ctx)); err != nil {
		s.log.Error("writing dead letters failed; the timekeeper retries", "err", err)
	}
}
