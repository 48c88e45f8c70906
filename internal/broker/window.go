package broker

import (
	"errors"
	"slices"

	"github.com/heraldhq/herald/internal/commitlog"
)

// The window is a subscription's live view of its unsettled events, built
// from the shared partition logs (no copy per subscription) and the durable
// cursor. Everything here runs with the subscription's mu held.
//
// An entry is one unsettled event. It is, at any time, in one of these
// states:
//
//	deferred  its delivery time (deliverat) has not come: it sits in the
//	          timer heap only, holds no body and blocks nothing;
//	waiting   in its ordering group behind an earlier event of the same
//	          partition (ordering partition) or key (ordering key), or in
//	          retry backoff (notBefore in the future, a timer pending);
//	ready     in the ready queue: it may be leased now;
//	leased    in flight to one consumer until its deadline (a timer);
//	dead      out of deliveries or rejected, waiting to be written to the
//	          dead-letter topic; it still blocks its group.
//
// Ordering groups: with ordering partition every entry of a partition is in
// one group; with ordering key, every entry of a (partition, key); with none
// (and for keyless events under key) there are no groups. Only the first
// entry of a group may be delivered, and only while no entry of the group is
// leased or dead. A deferred event joins its group when it becomes due, at
// its offset: delivery time moves an event later, never blocks others.

// lookahead bounds how many unsettled, non-deferred entries a partition
// holds in memory; reading the log pauses until some settle. It is what lets
// ordering key find other keys' events behind a blocked key.
func (s *subscription) lookahead() int {
	return min(max(4*s.cfg.MaxInFlight, 256), 16384)
}

type entry struct {
	part       int
	offset     int64
	key        string
	ev         *StoredEvent // nil when parked (deferred) or not yet reloaded
	deliverAt  int64        // unix ns; > 0 while deferred
	notBefore  int64        // unix ns; retry backoff
	attempts   int
	lastErr    string
	deadReason string
	lease      *leaseState // nil, or &leaseBuf
	leaseBuf   leaseState  // lease's memory, so a lease costs no allocation
	dlqOffset  int64       // >= 0: redriven, the body is in the dead-letter topic
	dlIntent   int64
	group      *group
	timerPos   [timerKinds]int // 1 + index in the timer heap per kind; 0: none
	leaseSeq   uint64          // its live item in the lease queue; 0: none
	settled    bool
	dead       bool
	dlBusy     bool // being written to the dead-letter topic
	inReady    bool
	counted    bool // counts toward the partition's lookahead
}

type groupID struct {
	part int
	key  string
}

type group struct {
	id      groupID
	queue   []*entry // offset order
	blocked int      // members leased or dead
}

// untouched reports whether e holds nothing the log does not: never
// delivered, nacked, redriven or marked for dead-lettering. It must look
// at every field subscription.state saves for an entry (offState's).
func (e *entry) untouched() bool {
	return e.attempts == 0 && e.lease == nil && e.notBefore == 0 && e.lastErr == "" &&
		e.deadReason == "" && e.dlqOffset < 0 && e.dlIntent < 0
}

// subPart is one partition of the window.
type subPart struct {
	entries entryIndex
	readPos int64 // next offset to read from the log
	counted int
	// overlay is durable state for offsets at or above readPos that the
	// window has not reached yet (after open or a config change).
	overlay *partCursor
}

// Timer kinds: an entry has at most one pending timer of each kind, and
// settling it removes them, so the heap never holds more than three items
// per live entry. A lease deadline is usually in the lease queue instead
// (leasequeue.go).
const (
	timerLease   = iota // its lease deadline, when the lease queue cannot take it
	timerDue            // its delivery time, or the end of its backoff
	timerRetryDL        // the next try at writing its dead letter
	timerKinds
)

type timerItem struct {
	at   int64
	e    *entry
	kind int
}

// timerHeap is a min-heap of timers by time. Every entry knows its
// timers' places (timerPos), so setting or clearing one is O(log n). It
// is written out rather than built on container/heap, whose interface
// calls and boxed items (an allocation per push) cost a lease and its ack
// about 250 ns.
type timerHeap []timerItem

func (h timerHeap) less(i, j int) bool { return h[i].at < h[j].at }

func (h timerHeap) swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].e.timerPos[h[i].kind] = i + 1
	h[j].e.timerPos[h[j].kind] = j + 1
}

func (h timerHeap) up(j int) {
	for j > 0 {
		i := (j - 1) / 2
		if !h.less(j, i) {
			break
		}
		h.swap(i, j)
		j = i
	}
}

// down moves item i0 down; it reports whether it moved.
func (h timerHeap) down(i0 int) bool {
	i, n := i0, len(h)
	for {
		j := 2*i + 1
		if j >= n || j < 0 {
			break
		}
		if j2 := j + 1; j2 < n && h.less(j2, j) {
			j = j2
		}
		if !h.less(j, i) {
			break
		}
		h.swap(i, j)
		i = j
	}
	return i > i0
}

func (h *timerHeap) push(it timerItem) {
	*h = append(*h, it)
	it.e.timerPos[it.kind] = len(*h)
	h.up(len(*h) - 1)
}

// remove takes out item i and returns it.
func (h *timerHeap) remove(i int) timerItem {
	old := *h
	n := len(old) - 1
	if n != i {
		old.swap(i, n)
		if !old[:n].down(i) {
			old[:n].up(i)
		}
	}
	it := old[n]
	old[n] = timerItem{}
	*h = old[:n]
	it.e.timerPos[it.kind] = 0
	return it
}

// fix restores the order after item i's time changed.
func (h timerHeap) fix(i int) {
	if !h.down(i) {
		h.up(i)
	}
}

// setTimer makes e's timer of this kind fire at at.
func (s *subscription) setTimer(e *entry, kind int, at int64) {
	if pos := e.timerPos[kind]; pos > 0 {
		s.timers[pos-1].at = at
		s.timers.fix(pos - 1)
	} else {
		s.timers.push(timerItem{at: at, e: e, kind: kind})
	}
	if s.timers[0].e == e && s.timers[0].kind == kind {
		s.kickTimekeeper()
	}
}

func (s *subscription) clearTimer(e *entry, kind int) {
	if pos := e.timerPos[kind]; pos > 0 {
		s.timers.remove(pos - 1)
	}
}

// nextTimer is when the timekeeper must look again (0: nothing pending).
func (s *subscription) nextTimer() int64 {
	switch {
	case s.leases.len() == 0 && len(s.timers) == 0:
		return 0
	case s.leases.len() == 0:
		return s.timers[0].at
	case len(s.timers) == 0:
		return s.leases.front().at
	}
	return min(s.timers[0].at, s.leases.front().at)
}

func (s *subscription) groupFor(e *entry) *group {
	var id groupID
	switch s.cfg.Ordering {
	case OrderPartition:
		id = groupID{part: e.part}
	case OrderKey:
		if e.key == "" {
			return nil
		}
		id = groupID{part: e.part, key: e.key}
	default:
		return nil
	}
	g := s.groups[id]
	if g == nil {
		g = &group{id: id}
		s.groups[id] = g
	}
	return g
}

func (s *subscription) eligible(e *entry, now int64) bool {
	if e.settled || e.lease != nil || e.dead || e.deliverAt > 0 || e.notBefore > now {
		return false
	}
	if g := e.group; g != nil {
		return g.blocked == 0 && g.queue[0] == e
	}
	return true
}

// consider queues e for delivery if it may go now, or sets a timer for the
// end of its backoff.
func (s *subscription) consider(e *entry, now int64) {
	if s.eligible(e, now) {
		if !e.inReady {
			e.inReady = true
			s.ready = append(s.ready, e)
			s.signal()
		}
		return
	}
	if !e.settled && e.lease == nil && !e.dead && e.deliverAt == 0 && e.notBefore > now {
		s.setTimer(e, timerDue, e.notBefore)
	}
}

func (s *subscription) considerGroup(g *group, now int64) {
	if g != nil && len(g.queue) > 0 {
		s.consider(g.queue[0], now)
	}
}

// admit puts an entry that is due into its group and queues it if it may go.
func (s *subscription) admit(e *entry, now int64) {
	if g := s.groupFor(e); g != nil {
		e.group = g
		i, _ := slices.BinarySearchFunc(g.queue, e.offset, func(x *entry, off int64) int {
			switch {
			case x.offset < off:
				return -1
			case x.offset > off:
				return 1
			}
			return 0
		})
		g.queue = slices.Insert(g.queue, i, e)
		if e.lease != nil {
			g.blocked++
		}
	}
	if s.exhausted(e) && e.lease == nil && !e.dead {
		s.markDead(e, s.maxDeliveriesReason())
	} else if e.deadReason != "" && !e.dead {
		s.markDead(e, e.deadReason)
	}
	s.consider(e, now)
	s.considerGroup(e.group, now)
}

func (s *subscription) exhausted(e *entry) bool {
	m := s.cfg.Retry.MaxDeliveries
	return m != Unlimited && e.attempts >= m
}

// addEntry makes a new unsettled entry live in partition sp.
func (s *subscription) addEntry(sp *subPart, e *entry, now int64) {
	sp.entries.put(e)
	if e.lease != nil {
		s.inFlight++
		s.consumers[e.lease.consumer]++
		s.setLeaseTimer(e)
	}
	if e.deliverAt > now && e.attempts == 0 && e.lease == nil && e.deadReason == "" {
		e.ev = nil
		s.setTimer(e, timerDue, e.deliverAt)
		return
	}
	e.deliverAt = 0
	e.counted = true
	sp.counted++
	s.admit(e, now)
}

// lease hands e to consumer until now+AckTimeout.
func (s *subscription) lease(e *entry, consumer string, now int64) {
	s.leaseSeq++
	if s.leaseSeq == 0 {
		s.leaseSeq++
	}
	e.attempts++
	e.notBefore = 0
	e.leaseBuf = leaseState{id: s.leaseSeq, deadline: now + int64(s.cfg.AckTimeout), consumer: consumer}
	e.lease = &e.leaseBuf
	if e.group != nil {
		e.group.blocked++
	}
	s.inFlight++
	s.consumers[consumer]++
	s.setLeaseTimer(e)
}

func (s *subscription) unlease(e *entry) {
	if e.lease == nil {
		return
	}
	c := e.lease.consumer
	e.lease = nil
	s.clearLeaseTimer(e)
	if e.group != nil {
		e.group.blocked--
	}
	s.inFlight--
	if s.consumers[c]--; s.consumers[c] <= 0 {
		delete(s.consumers, c)
	}
	s.signal()
}

func (s *subscription) markDead(e *entry, reason string) {
	if e.dead {
		return
	}
	e.dead = true
	e.deadReason = reason
	if e.group != nil {
		e.group.blocked++
	}
	s.deadQ = append(s.deadQ, e)
}

// settle removes e for good: acked, dead-lettered, or dropped.
func (s *subscription) settle(e *entry, now int64) {
	if e.settled {
		return
	}
	s.unlease(e)
	e.settled = true
	for kind := range timerKinds {
		s.clearTimer(e, kind)
	}
	g := e.group
	if g != nil {
		if e.dead {
			g.blocked--
		}
		switch i := slices.Index(g.queue, e); {
		case i == 0:
			g.queue[0] = nil
			g.queue = g.queue[1:] // the usual case: no copying
		case i > 0:
			g.queue = slices.Delete(g.queue, i, i+1)
		}
		if len(g.queue) == 0 {
			delete(s.groups, g.id)
		}
	}
	sp := s.parts[e.part]
	if sp.entries.get(e.offset) == e {
		sp.entries.del(e.offset)
	}
	if e.counted {
		sp.counted--
	}
	e.ev = nil
	s.considerGroup(g, now)
	s.signal()
}

// expire ends a lease that reached its deadline: the event is delivered
// again at once, or dead-lettered when out of deliveries.
func (s *subscription) expire(e *entry, now int64) {
	s.unlease(e)
	e.lastErr = "ack timeout: the lease expired"
	if s.exhausted(e) {
		s.markDead(e, s.maxDeliveriesReason())
		return
	}
	s.consider(e, now)
	s.considerGroup(e.group, now)
}

// sweep runs every timer that is due, the heap's and the lease queue's
// in the order of their times.
func (s *subscription) sweep(now int64) {
	for {
		heapDue := len(s.timers) > 0 && s.timers[0].at <= now
		queueDue := s.leases.len() > 0 && s.leases.front().at <= now
		if queueDue && (!heapDue || s.leases.front().at <= s.timers[0].at) {
			e := s.leases.pop().e
			if !e.settled && e.lease != nil && e.lease.deadline <= now {
				s.expire(e, now)
			}
			continue
		}
		if !heapDue {
			return
		}
		it := s.timers.remove(0)
		e := it.e
		if e.settled {
			continue
		}
		switch it.kind {
		case timerLease:
			if e.lease != nil && e.lease.deadline <= now {
				s.expire(e, now)
			}
		case timerDue:
			if e.deliverAt > 0 && e.deliverAt <= now {
				e.deliverAt = 0
				e.counted = true
				s.parts[e.part].counted++
				s.admit(e, now)
			} else {
				s.consider(e, now)
			}
		case timerRetryDL:
			if e.dead && !e.dlBusy && !slices.Contains(s.deadQ, e) {
				s.deadQ = append(s.deadQ, e)
				s.kickTimekeeper()
			}
		}
	}
}

// fill reads the partitions past each one's read position into the window,
// up to the lookahead. With full false (a fetch), a partition whose window
// is still at least half full is left to the filler goroutine instead
// (fillAhead), which reads it outside the fetch's critical path and the
// subscription's lock; fill only kicks it.
func (s *subscription) fill(now int64, full bool) error {
	t := s.t
	t.mu.RLock()
	defer t.mu.RUnlock()
	if t.deleted {
		return nil
	}
	for len(s.parts) < len(t.parts) {
		s.parts = append(s.parts, &subPart{})
	}
	limit := s.lookahead()
	shared := len(t.subs) > 1
	kick := false
	buf := readBufs.Get().(*[]byte) // s.recBuf's records share it until the next read
	defer readBufs.Put(buf)
	defer clear(s.recBuf)
	for p, sp := range s.parts {
		l := t.parts[p]
		cache := t.caches[p]
		if !full && s.started && sp.counted >= limit/2 {
			kick = kick || (sp.counted < limit && sp.readPos < l.Next())
			continue
		}
		for sp.counted < limit && sp.readPos < l.Next() {
			if shared {
				s.evBuf = cache.run(sp.readPos, l.Next(), 2048, s.evBuf[:0])
				if len(s.evBuf) > 0 {
					for _, ev := range s.evBuf {
						s.scanRecord(p, sp, nil, ev, now)
					}
					if h := s.b.fillHook; h != nil {
						h(false, sp.readPos, s.evBuf[len(s.evBuf)-1].Offset+1)
					}
					sp.readPos = s.evBuf[len(s.evBuf)-1].Offset + 1
					clear(s.evBuf)
					continue
				}
			}
			var err error
			s.recBuf, err = l.ReadReusing(s.recBuf[:0], buf, sp.readPos, 256<<10)
			var oor *commitlog.OutOfRangeError
			if errors.As(err, &oor) && oor.Earliest > sp.readPos {
				s.log.Warn("events deleted by retention before this subscription read them",
					"partition", p, "from", sp.readPos, "to", oor.Earliest)
				sp.readPos = oor.Earliest
				continue
			}
			if err != nil {
				return err
			}
			if len(s.recBuf) == 0 {
				break
			}
			if shared {
				// Decode every record once for all the subscriptions.
				s.evBuf = s.evBuf[:0]
				for i := range s.recBuf {
					ev, err := decodeStored(t.name, p, &s.recBuf[i])
					if err != nil {
						s.log.Error("skipping an event that does not decode", "partition", p, "offset", s.recBuf[i].Offset, "err", err)
						continue
					}
					s.evBuf = append(s.evBuf, &ev)
				}
				cache.put(s.evBuf)
				for _, ev := range s.evBuf {
					s.scanRecord(p, sp, nil, ev, now)
				}
				clear(s.evBuf)
			} else {
				for i := range s.recBuf {
					s.scanRecord(p, sp, &s.recBuf[i], nil, now)
				}
			}
			if h := s.b.fillHook; h != nil {
				h(false, sp.readPos, s.recBuf[len(s.recBuf)-1].Offset+1)
			}
			sp.readPos = s.recBuf[len(s.recBuf)-1].Offset + 1
		}
		clear(s.recBuf)
	}
	if kick {
		s.kickFiller()
	}
	return nil
}

// scanRecord turns one record read from the log, r, or one event decoded
// already, ev, into an entry, unless it is settled or filtered out.
func (s *subscription) scanRecord(p int, sp *subPart, r *commitlog.Record, ev *StoredEvent, now int64) {
	var off int64
	if ev != nil {
		off = ev.Offset
	} else {
		off = r.Offset
	}
	var st *offState
	if ov := sp.overlay; ov != nil {
		if ov.settledAbove[off] {
			delete(ov.settledAbove, off)
			s.dropOverlayIfDone(sp)
			return
		}
		if st = ov.states[off]; st != nil {
			delete(ov.states, off)
		}
		s.dropOverlayIfDone(sp)
	}
	if sp.entries.get(off) != nil {
		return // redriven and already live
	}
	if ev == nil {
		dec, err := decodeStored(s.t.name, p, r)
		if err != nil {
			s.log.Error("skipping an event that does not decode", "partition", p, "offset", off, "err", err)
			return
		}
		ev = &dec
	}
	if (st == nil || st.lease == nil) && !s.cfg.Filter.Match(ev.Event.Type, ev.Event.Subject) {
		return
	}
	s.addEntry(sp, s.newEntry(ev, st, now), now)
}

func (s *subscription) dropOverlayIfDone(sp *subPart) {
	if ov := sp.overlay; ov != nil && len(ov.states) == 0 && len(ov.settledAbove) == 0 {
		sp.overlay = nil
	}
}

func (s *subscription) newEntry(ev *StoredEvent, st *offState, now int64) *entry {
	e := &entry{part: ev.Partition, offset: ev.Offset, ev: ev, dlqOffset: -1, dlIntent: -1,
		key: ev.Event.Extensions[extPartitionKey]}
	if at, ok, err := ev.Event.DeliverAt(); err == nil && ok && at.UnixNano() > now {
		e.deliverAt = at.UnixNano()
	}
	if st != nil {
		e.attempts, e.notBefore, e.lastErr, e.deadReason = st.attempts, st.notBefore, st.lastErr, st.deadReason
		e.dlqOffset, e.dlIntent = st.dlqOffset, st.dlIntent
		if st.lease != nil {
			e.leaseBuf = *st.lease
			e.lease = &e.leaseBuf
		}
	}
	return e
}

// pick leases up to n ready entries to consumer.
func (s *subscription) pick(consumer string, n int, now int64) []*entry {
	var out []*entry
	for len(out) < n && s.readyHead < len(s.ready) {
		e := s.ready[s.readyHead]
		s.ready[s.readyHead] = nil
		s.readyHead++
		e.inReady = false
		if !s.eligible(e, now) {
			continue
		}
		if e.ev == nil {
			if err := s.loadBody(e); err != nil {
				s.log.Warn("dropping an event whose body cannot be read (deleted by retention?)",
					"partition", e.part, "offset", e.offset, "err", err)
				s.settle(e, now)
				continue
			}
		}
		s.lease(e, consumer, now)
		out = append(out, e)
	}
	if s.readyHead > 64 && s.readyHead*2 > len(s.ready) {
		n := copy(s.ready, s.ready[s.readyHead:])
		clear(s.ready[n:])
		s.ready = s.ready[:n]
		s.readyHead = 0
	}
	return out
}
