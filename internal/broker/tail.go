package broker

import (
	"container/heap"
	"context"
	"errors"
	"sync"
	"time"

	"github.com/heraldhq/herald/internal/commitlog"
)

// Stream is an ephemeral subscription: it reads a topic from a position
// and follows new events, keeping no state on disk and taking no leases
// (tailing and replay). Events come in order within a partition; partitions
// are interleaved. Like subscriptions, a stream holds back an event whose
// delivery time has not come, in memory, and returns it once due. A Stream
// is not safe for concurrent use; it owns no goroutine, so dropping it is
// enough, but Close makes later Next calls fail.
type Stream struct {
	b      *Broker
	t      *topic
	filter Filter
	only   int // the one partition read (TailPartition), or -1 for all
	pos    []int64
	next   int // partition to read next (round-robin)
	buf    []StoredEvent
	recs   []commitlog.Record
	held   delayedHeap

	mu     sync.Mutex
	closed bool
}

type delayed struct {
	at int64
	ev StoredEvent
}

type delayedHeap []delayed

func (h delayedHeap) Len() int { return len(h) }
func (h delayedHeap) Less(i, j int) bool {
	return h[i].at < h[j].at || (h[i].at == h[j].at && h[i].ev.Offset < h[j].ev.Offset)
}
func (h delayedHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *delayedHeap) Push(x any)   { *h = append(*h, x.(delayed)) }
func (h *delayedHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// errStreamClosed is returned by Next after Close.
var errStreamClosed = errors.New("stream closed")

// Tail opens a Stream on topic at pos, returning events that match filter.
func (b *Broker) Tail(ctx context.Context, topic string, pos StartPosition, filter Filter) (*Stream, error) {
	return b.tail(topic, -1, pos, filter)
}

// TailPartition is Tail of one partition: the stream reads that partition
// only (a tail of every partition filtered to one read them all).
func (b *Broker) TailPartition(ctx context.Context, topic string, partition int, pos StartPosition, filter Filter) (*Stream, error) {
	if partition < 0 {
		return nil, fieldErr("partition", "%d: must not be negative", partition)
	}
	return b.tail(topic, partition, pos, filter)
}

func (b *Broker) tail(topic string, only int, pos StartPosition, filter Filter) (*Stream, error) {
	if err := b.enter(); err != nil {
		return nil, err
	}
	defer b.leave()
	if err := pos.validate("position"); err != nil {
		return nil, err
	}
	if err := filter.validate("filter"); err != nil {
		return nil, err
	}
	t, err := b.topic(topic)
	if err != nil {
		return nil, err
	}
	st := &Stream{b: b, t: t, filter: filter, only: only}
	t.mu.RLock()
	defer t.mu.RUnlock()
	if only >= len(t.parts) {
		return nil, fieldErr("partition", "%d: topic %q has partitions 0 to %d", only, topic, len(t.parts)-1)
	}
	for p, l := range t.parts {
		off := int64(0)
		if only < 0 || p == only {
			var err error
			if off, err = startOffset(l, pos); err != nil {
				return nil, err
			}
		}
		st.pos = append(st.pos, off)
	}
	return st, nil
}

// Close ends the stream; Next then fails.
func (s *Stream) Close() error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	return nil
}

// Next returns the next event, waiting for one until ctx ends.
func (s *Stream) Next(ctx context.Context) (StoredEvent, error) {
	if err := s.b.enter(); err != nil {
		return StoredEvent{}, err
	}
	defer s.b.leave()
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		s.mu.Lock()
		closed := s.closed
		s.mu.Unlock()
		if closed {
			return StoredEvent{}, errStreamClosed
		}
		changed := s.t.changed()
		now := s.b.now().UnixNano()
		if len(s.held) > 0 && s.held[0].at <= now {
			return heap.Pop(&s.held).(delayed).ev, nil
		}
		if len(s.buf) > 0 {
			ev := s.buf[0]
			s.buf[0] = StoredEvent{}
			s.buf = s.buf[1:]
			return ev, nil
		}
		read, err := s.readMore(now)
		if err != nil {
			return StoredEvent{}, err
		}
		if read {
			continue
		}
		var due <-chan time.Time
		if len(s.held) > 0 {
			d := time.Duration(s.held[0].at-now) + time.Millisecond
			if timer == nil {
				timer = time.NewTimer(d)
			} else {
				timer.Reset(d)
			}
			due = timer.C
		}
		select {
		case <-changed:
		case <-due:
		case <-ctx.Done():
			return StoredEvent{}, ctx.Err()
		case <-s.b.closing:
			return StoredEvent{}, ErrClosed
		}
	}
}

// readMore reads one chunk from the next partition that has events,
// buffering what passes the filter. It reports whether it read anything.
func (s *Stream) readMore(now int64) (bool, error) {
	t := s.t
	t.mu.RLock()
	defer t.mu.RUnlock()
	if t.deleted {
		return false, topicNotFound(t.name)
	}
	for len(s.pos) < len(t.parts) {
		s.pos = append(s.pos, 0)
	}
	if s.only >= 0 {
		return s.readPartition(s.only, now)
	}
	for range len(s.pos) {
		p := s.next
		s.next = (s.next + 1) % len(s.pos)
		if read, err := s.readPartition(p, now); read || err != nil {
			return read, err
		}
	}
	return false, nil
}

// readPartition reads one chunk of partition p, if it has events past the
// stream's position there; the caller holds the topic's lock.
func (s *Stream) readPartition(p int, now int64) (bool, error) {
	t := s.t
	l := t.parts[p]
	if s.pos[p] >= l.Next() {
		return false, nil
	}
	var err error
	s.recs, err = l.ReadInto(s.recs[:0], s.pos[p], 256<<10)
	var oor *commitlog.OutOfRangeError
	if errors.As(err, &oor) && oor.Earliest > s.pos[p] {
		s.pos[p] = oor.Earliest
		return true, nil
	}
	if err != nil {
		return false, err
	}
	if len(s.recs) == 0 {
		return false, nil
	}
	for i := range s.recs {
		ev, err := decodeStored(t.name, p, &s.recs[i])
		if err != nil {
			return false, err
		}
		if !s.filter.Match(ev.Event.Type, ev.Event.Subject) {
			continue
		}
		if at, ok, err := ev.Event.DeliverAt(); err == nil && ok && at.UnixNano() > now {
			heap.Push(&s.held, delayed{at: at.UnixNano(), ev: ev})
			continue
		}
		s.buf = append(s.buf, ev)
	}
	s.pos[p] = s.recs[len(s.recs)-1].Offset + 1
	clear(s.recs)
	return true, nil
}
