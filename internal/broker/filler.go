package broker

import (
	"sync"

	"github.com/heraldhq/herald/internal/commitlog"
)

// The filler reads a subscription's window ahead of its consumers. Reading
// and decoding the next records (fill) used to happen inside the fetch
// that found the window short, under the subscription's lock: every tenth
// fetch of a consumer draining a backlog read ~1,000 events first, and
// acks waited for it. Now a fetch fills the window itself only when a
// partition's read-ahead is below half the lookahead (a consumer that is
// caught up, or the first fetch); otherwise it kicks the filler, which
// reads and decodes without the lock and takes it only to add the entries.

// kickFiller asks the filler to top the window up; it never blocks.
func (s *subscription) kickFiller() {
	select {
	case s.fillKick <- struct{}{}:
	default:
	}
}

// filler runs fillAhead when kicked, until the subscription stops.
func (s *subscription) filler() {
	defer close(s.fillerDone)
	for {
		select {
		case <-s.stop:
			return
		case <-s.fillKick:
			s.fillAhead()
		}
	}
}

// fillAhead tops up each partition's read-ahead to the lookahead, one read
// at a time: it notes the read position under the lock, reads and decodes
// without it, and adds the events under it again, unless a fetch moved the
// position meanwhile (then they are dropped; the fetch read them). It holds
// jmu shared, as a fetch does, so a compaction's rebuild cannot swap the
// window under it. It takes the topic's lock only to look up the
// partitions, never while it waits for the subscription's (a fetch takes
// them the other way round).
func (s *subscription) fillAhead() {
	s.jmu.RLock()
	defer s.jmu.RUnlock()
	t := s.t
	t.mu.RLock()
	if t.deleted {
		t.mu.RUnlock()
		return
	}
	logs, caches := t.parts[:len(t.parts):len(t.parts)], t.caches[:len(t.caches):len(t.caches)]
	shared := len(t.subs) > 1
	t.mu.RUnlock()
	limit := s.lookahead()
	for p := range logs {
		l, cache := logs[p], caches[p]
		for {
			s.mu.Lock()
			if s.closed || p >= len(s.parts) {
				s.mu.Unlock()
				return
			}
			sp := s.parts[p]
			from, want := sp.readPos, limit-sp.counted
			s.mu.Unlock()
			next := l.Next()
			if want <= 0 || from >= next {
				break
			}
			evs := s.fillEvs[:0]
			if shared {
				evs = cache.run(from, next, min(want, 2048), evs)
			}
			if len(evs) == 0 {
				var err error
				buf := readBufs.Get().(*[]byte)
				s.fillRecs, err = l.ReadReusing(s.fillRecs[:0], buf, from, 256<<10)
				if err != nil || len(s.fillRecs) == 0 {
					clear(s.fillRecs)
					readBufs.Put(buf)
					break // retention, a failure: the fetch's own fill reports them
				}
				evs = decodeAll(t.name, p, s.fillRecs, evs)
				last := s.fillRecs[len(s.fillRecs)-1].Offset
				clear(s.fillRecs)
				readBufs.Put(buf) // decodeAll copied what the events keep
				if shared {
					cache.put(evs)
				}
				if len(evs) == 0 || evs[len(evs)-1].Offset != last {
					// A record that does not decode: leave it to the fetch's
					// fill, which logs and skips it.
					clear(evs)
					s.fillEvs = evs[:0]
					break
				}
			}
			s.mu.Lock()
			added := false
			if !s.closed && p < len(s.parts) && s.parts[p] == sp && sp.readPos == from {
				now := s.now()
				for _, ev := range evs {
					s.scanRecord(p, sp, nil, ev, now)
				}
				if h := s.b.fillHook; h != nil {
					h(true, from, evs[len(evs)-1].Offset+1)
				}
				sp.readPos = evs[len(evs)-1].Offset + 1
				added = true
				s.signal()
			}
			s.mu.Unlock()
			clear(evs)
			s.fillEvs = evs[:0]
			if !added {
				break
			}
		}
	}
}

// readBufs are the buffers a window's fill reads the log into
// (Log.ReadReusing). A fill decodes every record into memory of its own
// (decodeStored), so its buffer goes back as soon as the read is decoded:
// consuming 100,000 events allocated a 256 KiB buffer per read, 27 MB
// of the server's 227. A pool, not a buffer per subscription, so that an
// idle subscription holds none.
var readBufs = sync.Pool{New: func() any { return new([]byte) }}

// decodeAll appends the decoded events of recs to dst, stopping at the
// first that does not decode.
func decodeAll(topic string, p int, recs []commitlog.Record, dst []*StoredEvent) []*StoredEvent {
	for i := range recs {
		ev, err := decodeStored(topic, p, &recs[i])
		if err != nil {
			return dst
		}
		dst = append(dst, &ev)
	}
	return dst
}
