package broker

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/heraldhq/herald/cloudevent"
	"github.com/heraldhq/herald/internal/commitlog"
)

// ErrOffsetOutOfRange: a read below the earliest stored offset (deleted by
// retention) or past the end. Errors matching it are
// *commitlog.OutOfRangeError and carry the valid range.
var ErrOffsetOutOfRange = commitlog.ErrOffsetOutOfRange

// StoredEvent is an event with where Herald stored it. Event's Data and
// Extensions may be shared with other readers of the same record: treat them
// as read-only (WithHeraldExtensions returns a copy).
type StoredEvent struct {
	Event       cloudevent.Event `json:"event"`
	Topic       string           `json:"topic"`
	Partition   int              `json:"partition"`
	Offset      int64            `json:"offset"`
	PublishTime time.Time        `json:"publishTime"`

	// record is Event in the storage codec as read from the log, or nil
	// for an event that did not come from it.
	record []byte
}

// Record is the event in the storage codec exactly as stored, for a
// reader that sends it on (the stream protocol) without encoding it
// again; nil when the event was not read from a log. Event.Data and the
// event's attribute strings share its memory. All are read only.
func (s *StoredEvent) Record() []byte { return s.record }

// WithHeraldExtensions returns a copy of the event with heraldtopic,
// heraldpartition, heraldoffset, heraldtime and, when attempt > 0,
// heraldattempt set: the event as a subscriber sees it on the wire.
func (s StoredEvent) WithHeraldExtensions(attempt int) cloudevent.Event {
	ev := s.Event
	ext := make(map[string]string, len(ev.Extensions)+5)
	for k, v := range ev.Extensions {
		ext[k] = v
	}
	ext[cloudevent.ExtHeraldTopic] = s.Topic
	ext[cloudevent.ExtHeraldPartition] = strconv.Itoa(s.Partition)
	ext[cloudevent.ExtHeraldOffset] = strconv.FormatInt(s.Offset, 10)
	ext[cloudevent.ExtHeraldTime] = s.PublishTime.UTC().Format(time.RFC3339Nano)
	if attempt > 0 {
		ext[cloudevent.ExtHeraldAttempt] = strconv.Itoa(attempt)
	}
	ev.Extensions = ext
	return ev
}

// decodeStored turns a partition record into a StoredEvent.
func decodeStored(topic string, p int, r *commitlog.Record) (StoredEvent, error) {
	// One copy of the record, which Data and the attribute strings then
	// share (nothing writes to it again): r.Value is part of a read buffer
	// of up to a MiB, which an event kept in a subscription's window must
	// not hold on to.
	rec := append(make([]byte, 0, len(r.Value)), r.Value...)
	st := StoredEvent{Topic: topic, Partition: p, Offset: r.Offset, PublishTime: time.Unix(0, r.Timestamp).UTC(), record: rec}
	if err := st.Event.UnmarshalBinaryOwned(rec); err != nil {
		return st, fmt.Errorf("%w: topic %q partition %d offset %d does not decode as an event: %v",
			commitlog.ErrCorrupt, topic, p, r.Offset, err)
	}
	return st, nil
}

const readChunkBytes = 1 << 20

// scanPartition calls fn for every event in [from, to) until it returns
// false. Events deleted by retention are skipped.
func scanPartition(l *commitlog.Log, from, to int64, fn func(StoredEvent) bool, topic string, p int) error {
	var recs []commitlog.Record
	for off := from; off < to; {
		var err error
		recs, err = l.ReadInto(recs[:0], off, readChunkBytes)
		var oor *commitlog.OutOfRangeError
		if errors.As(err, &oor) && oor.Earliest > off {
			off = oor.Earliest
			continue
		}
		if err != nil {
			return err
		}
		if len(recs) == 0 {
			return nil
		}
		for i := range recs {
			if recs[i].Offset >= to {
				return nil
			}
			st, err := decodeStored(topic, p, &recs[i])
			if err != nil {
				return err
			}
			if !fn(st) {
				return nil
			}
		}
		off = recs[len(recs)-1].Offset + 1
	}
	return nil
}

// Read returns up to max events of one partition from offset from, without
// waiting: at the end of the partition it returns none (use Tail to wait).
// It is a raw view of the log: events with a future delivery time are
// included, at their stored position. Below the earliest stored offset it
// fails with ErrOffsetOutOfRange.
func (b *Broker) Read(ctx context.Context, topicName string, partition int, from int64, max int) ([]StoredEvent, error) {
	if err := b.enter(); err != nil {
		return nil, err
	}
	defer b.leave()
	if max <= 0 {
		return nil, fieldErr("max", "%d: must be positive", max)
	}
	t, err := b.topic(topicName)
	if err != nil {
		return nil, err
	}
	t.mu.RLock()
	defer t.mu.RUnlock()
	l, err := t.partition(partition)
	if err != nil {
		return nil, err
	}
	if from < l.Earliest() || from > l.Next() {
		return nil, fmt.Errorf("read topic %q partition %d: %w", topicName, partition,
			&commitlog.OutOfRangeError{Offset: from, Earliest: l.Earliest(), Next: l.Next()})
	}
	out := make([]StoredEvent, 0, min(max, 256))
	var recs []commitlog.Record
	for off := from; len(out) < max && off < l.Next(); {
		if err := ctx.Err(); err != nil {
			return out, err
		}
		recs, err = l.ReadInto(recs[:0], off, readChunkBytes)
		if err != nil {
			return out, fmt.Errorf("read topic %q partition %d: %w", topicName, partition, err)
		}
		if len(recs) == 0 {
			break
		}
		for i := range recs {
			if len(out) == max {
				break
			}
			st, err := decodeStored(topicName, partition, &recs[i])
			if err != nil {
				return out, err
			}
			out = append(out, st)
		}
		off = recs[len(recs)-1].Offset + 1
	}
	return out, nil
}

// OffsetForTime returns the offset of the first event of the partition
// published at or after t, or the partition's next offset when there is
// none.
func (b *Broker) OffsetForTime(topicName string, partition int, t time.Time) (int64, error) {
	if err := b.enter(); err != nil {
		return 0, err
	}
	defer b.leave()
	tp, err := b.topic(topicName)
	if err != nil {
		return 0, err
	}
	tp.mu.RLock()
	defer tp.mu.RUnlock()
	l, err := tp.partition(partition)
	if err != nil {
		return 0, err
	}
	return l.OffsetForTime(t.UnixNano())
}

// Offsets returns the earliest stored offset of a partition and the offset
// the next event will get.
func (b *Broker) Offsets(topicName string, partition int) (earliest, next int64, err error) {
	if err := b.enter(); err != nil {
		return 0, 0, err
	}
	defer b.leave()
	t, err := b.topic(topicName)
	if err != nil {
		return 0, 0, err
	}
	t.mu.RLock()
	defer t.mu.RUnlock()
	l, err := t.partition(partition)
	if err != nil {
		return 0, 0, err
	}
	return l.Earliest(), l.Next(), nil
}

// startOffset resolves a start position in one partition. The caller holds
// t.mu for reading.
func startOffset(l *commitlog.Log, pos StartPosition) (int64, error) {
	switch pos.Kind {
	case StartEarliest:
		return l.Earliest(), nil
	case StartOffset:
		return min(max(pos.Offset, l.Earliest()), l.Next()), nil
	case StartTime:
		return l.OffsetForTime(pos.Time.UnixNano())
	default:
		return l.Next(), nil
	}
}
