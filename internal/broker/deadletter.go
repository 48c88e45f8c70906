package broker

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strconv"
	"strings"
	"time"

	"github.com/heraldhq/herald/cloudevent"
	"github.com/heraldhq/herald/internal/commitlog"
)

// A dead letter is the original event, unchanged, plus these extensions.
// Dead letters always go to partition 0 of the dead-letter topic, so the
// offset there identifies one (DeadLetter.ID) and their order is the order
// of dead-lettering.
const (
	ExtDLQReason       = "heralddlqreason"    // why: "rejected: ..." or "max deliveries reached (n)"
	ExtDLQError        = "heralddlqerror"     // the last error a nack gave, or the lease timeout
	ExtDLQAttempts     = "heralddlqattempts"  // deliveries made
	ExtDLQTopic        = "heralddlqtopic"     // where it came from
	ExtDLQPartition    = "heralddlqpartition" //
	ExtDLQOffset       = "heralddlqoffset"    //
	ExtDLQSubscription = "heralddlqsub"       // (20 characters at most, as CloudEvents advises)
	ExtDLQPublished    = "heralddlqpublished" // original publish time, RFC 3339
)

var dlqExtensions = []string{ExtDLQReason, ExtDLQError, ExtDLQAttempts, ExtDLQTopic, ExtDLQPartition,
	ExtDLQOffset, ExtDLQSubscription, ExtDLQPublished}

// deadLetterRetry is how long a dead letter the dead-letter topic refused
// waits before the next try.
const deadLetterRetry = time.Second

// DeadLetter is one event a subscription gave up on.
type DeadLetter struct {
	// ID is the dead letter's offset in partition 0 of the dead-letter topic.
	ID           int64            `json:"id"`
	Event        cloudevent.Event `json:"event"` // the original event, without the heralddlq* extensions
	Reason       string           `json:"reason"`
	LastError    string           `json:"lastError,omitempty"`
	Attempts     int              `json:"attempts"`
	Topic        string           `json:"topic"`
	Partition    int              `json:"partition"`
	Offset       int64            `json:"offset"`
	Subscription string           `json:"subscription"`
	PublishTime  time.Time        `json:"publishTime"`
	Time         time.Time        `json:"time"` // when it was dead-lettered
	// Redriven is set once Redrive gave the event back to the subscription.
	Redriven bool `json:"redriven,omitempty"`
}

func deadLetterEvent(e *entry, topic, sub string) cloudevent.Event {
	ev := e.ev.Event
	ext := make(map[string]string, len(ev.Extensions)+len(dlqExtensions))
	maps.Copy(ext, ev.Extensions)
	ext[ExtDLQReason] = e.deadReason
	if e.lastErr != "" {
		ext[ExtDLQError] = e.lastErr
	}
	ext[ExtDLQAttempts] = strconv.Itoa(e.attempts)
	ext[ExtDLQTopic] = topic
	ext[ExtDLQPartition] = strconv.Itoa(e.part)
	ext[ExtDLQOffset] = strconv.FormatInt(e.offset, 10)
	ext[ExtDLQSubscription] = sub
	ext[ExtDLQPublished] = e.ev.PublishTime.UTC().Format(time.RFC3339Nano)
	ev.Extensions = ext
	return ev
}

// parseDeadLetter reads a dead-letter record; ok is false for records that
// are not dead letters of topic/sub.
func parseDeadLetter(st StoredEvent, topic, sub string) (DeadLetter, bool) {
	x := st.Event.Extensions
	if x[ExtDLQTopic] != topic || x[ExtDLQSubscription] != sub {
		return DeadLetter{}, false
	}
	p, err1 := strconv.Atoi(x[ExtDLQPartition])
	off, err2 := strconv.ParseInt(x[ExtDLQOffset], 10, 64)
	if err1 != nil || err2 != nil {
		return DeadLetter{}, false
	}
	dl := DeadLetter{ID: st.Offset, Reason: x[ExtDLQReason], LastError: x[ExtDLQError], Topic: topic,
		Partition: p, Offset: off, Subscription: sub, Time: st.PublishTime}
	dl.Attempts, _ = strconv.Atoi(x[ExtDLQAttempts])
	dl.PublishTime, _ = time.Parse(time.RFC3339Nano, x[ExtDLQPublished])
	dl.Event = st.Event
	ext := make(map[string]string, len(x))
	for k, v := range x {
		if !strings.HasPrefix(k, "heralddlq") {
			ext[k] = v
		}
	}
	if len(ext) == 0 {
		ext = nil
	}
	dl.Event.Extensions = ext
	return dl, true
}

func (dl *DeadLetter) stored() StoredEvent {
	return StoredEvent{Event: dl.Event, Topic: dl.Topic, Partition: dl.Partition, Offset: dl.Offset, PublishTime: dl.PublishTime}
}

// readDeadLetterBody reads a redriven event back from the dead-letter topic.
func (s *subscription) readDeadLetterBody(p int, off, dlqOffset int64) (StoredEvent, error) {
	d, err := s.b.topic(s.dlqTopic)
	if err != nil {
		return StoredEvent{}, err
	}
	d.mu.RLock()
	l, err := d.partition(0)
	var recs []commitlog.Record
	if err == nil {
		recs, err = l.Read(dlqOffset, 1)
	}
	d.mu.RUnlock()
	if err != nil {
		return StoredEvent{}, err
	}
	if len(recs) == 0 || recs[0].Offset != dlqOffset {
		return StoredEvent{}, &commitlog.OutOfRangeError{Offset: dlqOffset}
	}
	st, err := decodeStored(d.name, 0, &recs[0])
	if err != nil {
		return StoredEvent{}, err
	}
	dl, ok := parseDeadLetter(st, s.t.name, s.name)
	if !ok || dl.Partition != p || dl.Offset != off {
		return StoredEvent{}, fmt.Errorf("%w: dead letter %d of %q is not partition %d offset %d of %q/%q",
			commitlog.ErrOffsetOutOfRange, dlqOffset, d.name, p, off, s.t.name, s.name)
	}
	return dl.stored(), nil
}

// runDeadLetters writes every dead entry to the dead-letter topic, then
// settles it. Exactly-once across crashes: before writing, a dl-intent
// records where the dead-letter topic ended; an entry that already has an
// intent is first looked for from there, and only written if absent.
func (s *subscription) runDeadLetters(ctx context.Context) error {
	s.dlMu.Lock()
	defer s.dlMu.Unlock()
	s.jmu.RLock()
	defer s.jmu.RUnlock()

	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	now := s.now()
	var batch []*entry
	var lost []op
	for _, e := range s.deadQ {
		if e.settled || !e.dead || e.dlBusy {
			continue
		}
		if e.ev == nil {
			if err := s.loadBody(e); err != nil {
				s.log.Error("an event to dead-letter is gone (retention?); settling it without a dead letter",
					"partition", e.part, "offset", e.offset, "err", err)
				s.settle(e, now)
				lost = append(lost, op{kind: opSettle, part: e.part, offset: e.offset})
				continue
			}
		}
		e.dlBusy = true
		s.dlInFlight++
		batch = append(batch, e)
	}
	s.deadQ = nil
	dlqName := s.dlqTopic
	s.mu.Unlock()

	if err := s.appendOps(ctx, lost); err != nil {
		return err
	}
	if len(batch) == 0 {
		return nil
	}
	err := s.writeDeadLetters(ctx, dlqName, batch)
	if err != nil {
		s.mu.Lock()
		for _, e := range batch {
			e.dlBusy = false
			s.dlInFlight--
			if !e.settled {
				s.setTimer(e, timerRetryDL, s.now()+int64(deadLetterRetry))
			}
		}
		s.mu.Unlock()
		return fmt.Errorf("dead-letter to %q: %w", dlqName, err)
	}
	return nil
}

type dlKey struct {
	part int
	off  int64
}

func (s *subscription) writeDeadLetters(ctx context.Context, dlqName string, batch []*entry) error {
	d, err := s.b.ensureTopic(dlqName, 1)
	if err != nil {
		return err
	}
	// Entries with an intent may already be in the dead-letter topic.
	mark := int64(-1)
	for _, e := range batch {
		if e.dlIntent >= 0 && (mark < 0 || e.dlIntent < mark) {
			mark = e.dlIntent
		}
	}
	found := map[dlKey]bool{}
	if mark >= 0 {
		if found, err = s.findDeadLetters(d, mark); err != nil {
			return err
		}
	}
	var done, intents []op
	var todo []*entry
	var events []cloudevent.Event
	d.mu.RLock()
	l, err := d.partition(0)
	var next int64
	if err == nil {
		next = l.Next()
	}
	d.mu.RUnlock()
	if err != nil {
		return err
	}
	for _, e := range batch {
		if e.dlIntent >= 0 && found[dlKey{e.part, e.offset}] {
			done = append(done, op{kind: opDeadLettered, part: e.part, offset: e.offset})
			continue
		}
		todo = append(todo, e)
		intents = append(intents, op{kind: opDLIntent, part: e.part, offset: e.offset, mark: next})
		events = append(events, deadLetterEvent(e, s.t.name, s.name))
	}
	if len(todo) > 0 {
		s.mu.Lock()
		for _, e := range todo {
			e.dlIntent = next
		}
		s.mu.Unlock()
		if err := s.appendOps(ctx, intents); err != nil {
			return err
		}
		if _, err := d.appendInternal(ctx, 0, events); err != nil {
			return err
		}
		for _, e := range todo {
			done = append(done, op{kind: opDeadLettered, part: e.part, offset: e.offset})
		}
	}
	if err := s.appendOps(ctx, done); err != nil {
		return err
	}
	for _, e := range batch {
		s.log.Info("event dead-lettered", "partition", e.part, "offset", e.offset, "id", e.ev.Event.ID,
			"reason", e.deadReason, "attempts", e.attempts, "dlq", dlqName)
	}
	s.mu.Lock()
	now := s.now()
	for _, e := range batch {
		e.dlBusy = false
		s.dlInFlight--
		if !e.settled {
			s.settle(e, now)
			s.deadLettered++
		}
	}
	s.mu.Unlock()
	return nil
}

// findDeadLetters lists the dead letters of this subscription in d from
// offset from on.
func (s *subscription) findDeadLetters(d *topic, from int64) (map[dlKey]bool, error) {
	found := map[dlKey]bool{}
	d.mu.RLock()
	defer d.mu.RUnlock()
	l, err := d.partition(0)
	if err != nil {
		return nil, err
	}
	err = scanPartition(l, max(from, l.Earliest()), l.Next(), func(st StoredEvent) bool {
		if dl, ok := parseDeadLetter(st, s.t.name, s.name); ok {
			found[dlKey{dl.Partition, dl.Offset}] = true
		}
		return true
	}, d.name, 0)
	return found, err
}

// DeadLetters lists a subscription's dead letters from dead-letter offset
// from on, at most limit. Continue from the last ID + 1. Dead letters of
// other subscriptions sharing the dead-letter topic are skipped.
func (b *Broker) DeadLetters(ctx context.Context, topic, sub string, from int64, limit int) ([]DeadLetter, error) {
	if err := b.enter(); err != nil {
		return nil, err
	}
	defer b.leave()
	if limit <= 0 {
		return nil, fieldErr("limit", "%d: must be positive", limit)
	}
	s, err := b.sub(topic, sub)
	if err != nil {
		return nil, err
	}
	s.flushDeadLetters(ctx)
	s.mu.Lock()
	dlqName := s.dlqTopic
	s.mu.Unlock()
	d, err := b.topic(dlqName)
	if errors.Is(err, ErrTopicNotFound) {
		return []DeadLetter{}, nil
	}
	if err != nil {
		return nil, err
	}
	out := []DeadLetter{}
	d.mu.RLock()
	l, err := d.partition(0)
	if err == nil {
		err = scanPartition(l, max(from, l.Earliest()), l.Next(), func(st StoredEvent) bool {
			if dl, ok := parseDeadLetter(st, s.t.name, s.name); ok {
				out = append(out, dl)
			}
			return len(out) < limit && ctx.Err() == nil
		}, d.name, 0)
	}
	d.mu.RUnlock()
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	for i := range out {
		out[i].Redriven = out[i].ID < s.redrivenBelow || s.redriven[out[i].ID]
	}
	s.mu.Unlock()
	return out, nil
}

// Redrive gives dead letters back to the subscription: the original events
// (as stored in the dead letters) are delivered again, with a fresh attempt
// count, to this subscription only (other subscriptions of the topic are
// not affected, which republishing would do). ids are dead-letter IDs; nil
// redrives every dead letter not yet redriven. The dead letters stay in the
// dead-letter topic, marked redriven; if the event fails again, a new dead
// letter is written. It returns how many events were given back.
func (b *Broker) Redrive(ctx context.Context, topic, sub string, ids []int64) (int, error) {
	if err := b.enter(); err != nil {
		return 0, err
	}
	defer b.leave()
	s, err := b.sub(topic, sub)
	if err != nil {
		return 0, err
	}
	return s.redrive(ctx, ids)
}

// flushDeadLetters runs due timers and writes the dead letters they
// produce, so listings and redrive see every event given up on so far.
func (s *subscription) flushDeadLetters(ctx context.Context) {
	s.mu.Lock()
	if !s.closed {
		s.sweep(s.now())
	}
	pending := len(s.deadQ) > 0 || s.dlInFlight > 0
	s.mu.Unlock()
	if pending {
		s.deadLetterNow(ctx)
	}
}

func (s *subscription) redrive(ctx context.Context, ids []int64) (int, error) {
	s.flushDeadLetters(ctx)
	s.dlMu.Lock()
	defer s.dlMu.Unlock()
	s.jmu.Lock()
	defer s.jmu.Unlock()
	s.mu.Lock()
	dlqName, closed := s.dlqTopic, s.closed
	s.mu.Unlock()
	if closed {
		return 0, s.errClosed()
	}
	d, err := s.b.topic(dlqName)
	if errors.Is(err, ErrTopicNotFound) && ids == nil {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	var cands []DeadLetter
	end := int64(-1)
	d.mu.RLock()
	l, err := d.partition(0)
	if err == nil {
		if ids == nil {
			s.mu.Lock()
			from := s.redrivenBelow
			s.mu.Unlock()
			end = l.Next()
			err = scanPartition(l, max(from, l.Earliest()), end, func(st StoredEvent) bool {
				if dl, ok := parseDeadLetter(st, s.t.name, s.name); ok {
					cands = append(cands, dl)
				}
				return ctx.Err() == nil
			}, d.name, 0)
		} else {
			for i, id := range ids {
				var recs []commitlog.Record
				if id >= l.Earliest() && id < l.Next() {
					recs, err = l.Read(id, 1)
				}
				if err != nil {
					break
				}
				var dl DeadLetter
				ok := len(recs) > 0 && recs[0].Offset == id
				if ok {
					var st StoredEvent
					if st, err = decodeStored(d.name, 0, &recs[0]); err != nil {
						break
					}
					dl, ok = parseDeadLetter(st, s.t.name, s.name)
				}
				if !ok {
					err = fieldErr(fmt.Sprintf("ids[%d]", i), "%d is not a dead letter of %q/%q in %q: list them with DeadLetters",
						id, s.t.name, s.name, dlqName)
					break
				}
				cands = append(cands, dl)
			}
		}
	}
	d.mu.RUnlock()
	if err != nil {
		return 0, err
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}

	s.mu.Lock()
	now := s.now()
	var ops []op
	n := 0
	for _, dl := range cands {
		if dl.ID < s.redrivenBelow || s.redriven[dl.ID] || dl.Partition < 0 || dl.Partition >= MaxPartitions {
			continue
		}
		for len(s.parts) <= dl.Partition {
			s.parts = append(s.parts, &subPart{})
		}
		s.redriven[dl.ID] = true
		ops = append(ops, op{kind: opRedrive, part: dl.Partition, offset: dl.Offset, dlqOffset: dl.ID})
		n++
		sp := s.parts[dl.Partition]
		switch {
		case sp.entries.get(dl.Offset) != nil:
			// Already live again (a seek rewound over it): nothing to add.
		case dl.Offset >= sp.readPos:
			// Not read yet: make sure the scan does not skip it.
			if sp.overlay != nil {
				delete(sp.overlay.settledAbove, dl.Offset)
			}
		default:
			ev := dl.stored()
			e := &entry{part: dl.Partition, offset: dl.Offset, ev: &ev, dlqOffset: dl.ID, dlIntent: -1,
				key: ev.Event.Extensions[extPartitionKey]}
			s.addEntry(sp, e, now)
		}
	}
	if end >= 0 {
		s.redrivenBelow = end
		for off := range s.redriven {
			if off < end {
				delete(s.redriven, off)
			}
		}
		ops = append(ops, op{kind: opRedrivenBelow, offset: end})
	}
	s.mu.Unlock()
	if err := s.appendOps(ctx, ops); err != nil {
		return 0, err
	}
	return n, nil
}
