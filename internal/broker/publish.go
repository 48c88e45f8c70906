package broker

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/heraldhq/herald/cloudevent"
	"github.com/heraldhq/herald/internal/commitlog"
)

const extPartitionKey = cloudevent.ExtPartitionKey

// PublishResult says where an event was stored. Duplicate is set when the
// event's (source, id) was already published inside the topic's dedup
// window: nothing was stored and Partition/Offset are the original's.
type PublishResult struct {
	ID        string `json:"id"`
	Partition int    `json:"partition"`
	Offset    int64  `json:"offset"`
	Duplicate bool   `json:"duplicate,omitempty"`
}

// maxAppendBytes bounds one commit-log append; a partition's share of a
// larger publish is split into several appends.
const maxAppendBytes = 8 << 20

// Publish stores events in topic. Validation is all-or-nothing: one invalid
// or oversized event fails the whole call and stores nothing. Events with a
// partitionkey go to the partition its hash picks; the keyless events of one
// call all go to one partition, chosen round-robin per call (Kafka's sticky
// partitioner). Each partition's share is one append, the partitions
// appended concurrently; under SyncAlways Publish returns once every event
// is durable.
//
// A storage error may leave some partitions' events stored: retrying the
// whole call is safe, deduplication answers for those already stored.
func (b *Broker) Publish(ctx context.Context, topicName string, events []cloudevent.Event) ([]PublishResult, error) {
	return b.publish(ctx, topicName, events, nil)
}

// PublishEncoded is Publish for events that arrived in the storage codec
// (the stream protocol's PUBLISH): records[i] is events[i] encoded, and is
// stored as is, saving an encode of every event. events are still
// validated; records must decode to them.
func (b *Broker) PublishEncoded(ctx context.Context, topicName string, events []cloudevent.Event, records [][]byte) ([]PublishResult, error) {
	if len(records) != len(events) {
		return nil, fmt.Errorf("%w: %d records for %d events", ErrInvalid, len(records), len(events))
	}
	return b.publish(ctx, topicName, events, records)
}

// publish finds (or, with AutoCreateTopics, creates) the topic and
// publishes to it.
func (b *Broker) publish(ctx context.Context, topicName string, events []cloudevent.Event, records [][]byte) ([]PublishResult, error) {
	defer Queued(ctx) // whatever the outcome; topic.publish calls it sooner once its appends are queued
	if err := b.enter(); err != nil {
		return nil, err
	}
	defer b.leave()
	t, err := b.topic(topicName)
	if errors.Is(err, ErrTopicNotFound) && b.cfg.AutoCreateTopics {
		t, err = b.ensureTopic(topicName, 0)
	}
	if err != nil {
		return nil, err
	}
	return t.publish(ctx, events, records)
}

func validateEvent(i int, ev *cloudevent.Event) error {
	err := ev.Validate()
	if err == nil {
		_, _, err = ev.DeliverAt()
	}
	if err == nil {
		return nil
	}
	var fe *cloudevent.FieldError
	if errors.As(err, &fe) {
		return &FieldError{Field: fmt.Sprintf("events[%d].%s", i, fe.Field), Reason: fe.Reason, Err: err}
	}
	return &FieldError{Field: fmt.Sprintf("events[%d]", i), Reason: err.Error(), Err: err}
}

// encodedBatch is a publish's events in storage form.
type encodedBatch struct {
	events []cloudevent.Event
	vals   [][]byte // vals[i] is events[i] in the storage codec
	size   int      // bytes of all vals
}

func (e *encodedBatch) value(i int) []byte { return e.vals[i] }

// encodeEvents validates and encodes a publish. Broker extensions
// (partition, offset, publish time) are computed on read: any a client set
// are dropped before storing. records, when not nil, holds each event
// already in the storage codec, as a client sent it (PublishEncoded): it
// is stored as is unless it must lose broker extensions. internal skips
// validation and stripping, for events the broker builds itself (dead
// letters).
func encodeEvents(events []cloudevent.Event, records [][]byte, internal bool) (*encodedBatch, error) {
	eb := &encodedBatch{events: events, vals: make([][]byte, len(events))}
	// One allocation for what must be encoded, not a doubling per growth:
	// about the encoded size, a little over (the codec adds a few bytes
	// per field).
	size := 0
	for i := range events {
		if records != nil {
			continue
		}
		e := &events[i]
		size += 48 + len(e.Data) + len(e.ID) + len(e.Source) + len(e.Type) + len(e.Subject) +
			len(e.DataContentType) + len(e.DataSchema)
		for k, v := range e.Extensions {
			size += 4 + len(k) + len(v)
		}
	}
	buf := make([]byte, 0, size)
	stripped := false
	for i := range events {
		strip := false
		if !internal {
			if err := validateEvent(i, &events[i]); err != nil {
				return nil, err
			}
			if hasBrokerExtension(&events[i]) {
				if !stripped {
					eb.events = slices.Clone(events)
					stripped = true
				}
				eb.events[i].Extensions = maps.Clone(events[i].Extensions)
				maps.DeleteFunc(eb.events[i].Extensions, func(k, _ string) bool { return cloudevent.IsBrokerExtension(k) })
				strip = true
			}
		}
		if records != nil && !strip {
			eb.vals[i] = records[i]
			eb.size += len(records[i])
			continue
		}
		start := len(buf)
		var err error
		if buf, err = eb.events[i].AppendBinary(buf); err != nil {
			return nil, &FieldError{Field: fmt.Sprintf("events[%d]", i), Reason: "cannot be encoded: " + err.Error(), Err: err}
		}
		eb.vals[i] = buf[start:len(buf):len(buf)]
		eb.size += len(buf) - start
	}
	return eb, nil
}

func hasBrokerExtension(ev *cloudevent.Event) bool {
	for k := range ev.Extensions {
		if cloudevent.IsBrokerExtension(k) {
			return true
		}
	}
	return false
}

func (t *topic) publish(ctx context.Context, events []cloudevent.Event, records [][]byte) ([]PublishResult, error) {
	if len(events) == 0 {
		return []PublishResult{}, nil
	}
	eb, err := encodeEvents(events, records, false)
	if err != nil {
		return nil, err
	}
	events = eb.events
	t.mu.RLock()
	defer t.mu.RUnlock()
	if t.deleted {
		return nil, topicNotFound(t.name)
	}
	cfg := t.cfg
	for i := range events {
		if n := len(eb.value(i)); n > cfg.MaxEventBytes {
			return nil, fmt.Errorf("%w: events[%d] is %d bytes encoded, topic %q allows %d: "+
				"shrink its data or raise maxEventBytes", ErrEventTooLarge, i, n, t.name, cfg.MaxEventBytes)
		}
	}
	release, err := t.reserveQuota(cfg, int64(eb.size)+32*int64(len(events)))
	if err != nil {
		return nil, err
	}
	defer release()

	now := t.b.now().UnixNano()
	results := make([]PublishResult, len(events))
	pending := make([]int, len(events))
	for i := range pending {
		pending[i] = i
	}
	if cfg.DedupWindow <= 0 {
		if err := t.store(ctx, eb, pending, results, now, nil, nil, true); err != nil {
			return nil, err
		}
		t.notify()
		return results, nil
	}
	// Rounds: store what this call owns, then wait for keys other calls
	// were storing, and look them up again: stored (a duplicate), or, if
	// their store failed, ours to store in the next round.
	keys := make([]dedupKey, len(events))
	for i := range events {
		keys[i] = t.dedup.key(&events[i])
	}
	seqs := make([]uint64, len(events)) // the dedup entries this call reserved
	stored := false
	for len(pending) > 0 {
		var store, waits []int
		var waitOn []chan struct{}
		t.dedup.mu.Lock()
		mine := t.dedup.newBatch()
		t.dedup.prune(now, cfg.DedupWindow)
		// Touch every key's home slot first: the cache misses of a batch
		// overlap instead of coming one per probe.
		var sink uint64
		for _, i := range pending {
			sink += t.dedup.slots.touch(keys[i])
		}
		t.dedup.sink = sink
		for _, i := range pending {
			c := t.dedup.reserve(keys[i], now, cfg.DedupWindow, mine)
			switch {
			case c.owner:
				store = append(store, i)
				seqs[i] = c.seq
			case c.duplicate:
				results[i] = PublishResult{ID: events[i].ID, Partition: int(c.slot.partition), Offset: c.slot.offset, Duplicate: true}
			default:
				waits = append(waits, i)
				if len(waitOn) == 0 || waitOn[len(waitOn)-1] != c.wait {
					waitOn = append(waitOn, c.wait)
				}
			}
		}
		t.dedup.mu.Unlock()
		if len(store) > 0 {
			// Only a round that waits on nobody fixes the batch's place;
			// after a wait, Queued is called on return.
			err := t.store(ctx, eb, store, results, now, seqs, mine, len(waits) == 0)
			if err != nil {
				if stored {
					t.notify()
				}
				return nil, err
			}
			stored = true
		} else {
			t.dedup.mu.Lock()
			t.dedup.finish(mine)
			t.dedup.mu.Unlock()
		}
		for _, ch := range waitOn {
			select {
			case <-ch:
			case <-ctx.Done():
				if stored {
					t.notify()
				}
				return nil, ctx.Err()
			}
		}
		pending = append(pending[:0], waits...)
	}
	if stored {
		t.notify()
	}
	return results, nil
}

// reserveQuota admits a publish of about n bytes under the topic's quota,
// counting publishes still in progress so concurrent ones cannot overshoot
// together. The caller holds t.mu.
func (t *topic) reserveQuota(cfg TopicConfig, n int64) (func(), error) {
	if cfg.MaxBytes <= 0 {
		return func() {}, nil
	}
	used := t.size()
	for {
		r := t.reserved.Load()
		if used+r+n > cfg.MaxBytes {
			return nil, &QuotaError{Topic: t.name, MaxBytes: cfg.MaxBytes, Used: used + r, Requested: n,
				RetryAfter: t.b.cfg.RetentionCheck}
		}
		if t.reserved.CompareAndSwap(r, r+n) {
			return func() { t.reserved.Add(-n) }, nil
		}
	}
}

// store appends events[idx] (one append per partition, concurrently) and
// fills their results. mine, when not nil, is the dedup reservation of
// their keys (entry seqs[i] for events[i]) to complete or abort; store
// closes its done channel. With last, the batch's place is fixed once every
// partition's append is queued, and ctx's OnQueued callback is called
// then. The caller holds t.mu for reading.
func (t *topic) store(ctx context.Context, eb *encodedBatch, idx []int, results []PublishResult, now int64,
	seqs []uint64, mine *dedupBatch, last bool) error {
	n := len(t.parts)
	sticky := int(t.rr.Add(1)-1) % n
	byPart := make([][]int, n)
	for _, i := range idx {
		p := sticky
		if key := eb.events[i].Extensions[extPartitionKey]; key != "" {
			p = partitionForKey(key, n)
		}
		byPart[p] = append(byPart[p], i)
	}
	var queued func() // called by each partition's last append once queued
	if last && HasOnQueued(ctx) {
		var left atomic.Int32
		for _, is := range byPart {
			if len(is) > 0 {
				left.Add(1)
			}
		}
		queued = func() {
			if left.Add(-1) == 0 {
				Queued(ctx)
			}
		}
	}
	errs := make([]error, n)
	var wg sync.WaitGroup
	first := -1
	for p := range byPart {
		if len(byPart[p]) == 0 {
			continue
		}
		if first < 0 {
			first = p
			continue
		}
		wg.Add(1)
		go func(p int) {
			defer wg.Done()
			errs[p] = t.appendPartition(ctx, p, eb, byPart[p], results, now, queued)
		}(p)
	}
	errs[first] = t.appendPartition(ctx, first, eb, byPart[first], results, now, queued)
	wg.Wait()

	if mine != nil {
		t.dedup.mu.Lock()
		for p, is := range byPart {
			for _, i := range is {
				if errs[p] != nil {
					t.dedup.abort(seqs[i])
				} else {
					t.dedup.complete(seqs[i], p, results[i].Offset, now)
				}
			}
		}
		t.dedup.finish(mine)
		t.dedup.mu.Unlock()
	}
	return errors.Join(errs...)
}

// appendPartition stores events[idx] in partition p, in chunks of at most
// maxAppendBytes. queued, if not nil, is called once the last chunk holds
// its place in the log.
func (t *topic) appendPartition(ctx context.Context, p int, eb *encodedBatch, idx []int, results []PublishResult, now int64,
	queued func()) error {
	l := t.parts[p]
	recs := make([]commitlog.Record, 0, len(idx))
	for start := 0; start < len(idx); {
		recs = recs[:0]
		size := 0
		end := start
		for end < len(idx) && (end == start || size+len(eb.value(idx[end])) <= maxAppendBytes) {
			ev := &eb.events[idx[end]]
			r := commitlog.Record{Timestamp: now, Value: eb.value(idx[end])}
			if key := ev.Extensions[extPartitionKey]; key != "" {
				r.Key = []byte(key)
			}
			recs = append(recs, r)
			size += len(r.Value)
			end++
		}
		var base int64
		var err error
		if end == len(idx) && queued != nil {
			base, err = l.AppendQueued(ctx, recs, queued)
		} else {
			base, err = l.Append(ctx, recs)
		}
		if err != nil {
			return fmt.Errorf("publish to topic %q partition %d: %w", t.name, p, err)
		}
		for k, i := range idx[start:end] {
			results[i] = PublishResult{ID: eb.events[i].ID, Partition: p, Offset: base + int64(k)}
		}
		start = end
	}
	return nil
}

// appendInternal stores events in one chosen partition, bypassing dedup,
// for dead letters. The quota still applies.
func (t *topic) appendInternal(ctx context.Context, p int, events []cloudevent.Event) ([]PublishResult, error) {
	eb, err := encodeEvents(events, nil, true)
	if err != nil {
		return nil, err
	}
	t.mu.RLock()
	defer t.mu.RUnlock()
	if _, err := t.partition(p); err != nil {
		return nil, err
	}
	release, err := t.reserveQuota(t.cfg, int64(eb.size)+32*int64(len(events)))
	if err != nil {
		return nil, err
	}
	defer release()
	idx := make([]int, len(events))
	for i := range idx {
		idx[i] = i
	}
	results := make([]PublishResult, len(events))
	if err := t.appendPartition(ctx, p, eb, idx, results, t.b.now().UnixNano(), nil); err != nil {
		return nil, err
	}
	t.notify()
	return results, nil
}
