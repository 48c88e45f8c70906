package broker

// cursorState is the durable form of a subscription's position: what a
// snapshot holds and what replaying the journal rebuilds. The live window
// (window.go) is built from it on open and folded back into it for a
// snapshot.
//
// Per partition the position is:
//
//	scanned       every offset below it has been looked at: it is settled
//	              (acked, dead-lettered, or skipped by the filter) unless it
//	              has an entry in states;
//	states        the offsets that are not settled and have something to
//	              remember (below scanned: all unsettled offsets; at or above:
//	              offsets with delivery state, journaled after the snapshot);
//	settledAbove  offsets at or above scanned that were settled after the
//	              snapshot.
//
// Everything the journal records is merged so that two operations that
// reached the journal in a different order than they happened in memory
// still give the same result: attempt counts only grow, a release only
// clears the lease it names, settlement is final (only redrive and seek, which
// are exclusive, undo it).
type cursorState struct {
	parts         []*partCursor
	deadLettered  int64
	dlqTopic      string
	redrivenBelow int64          // every DLQ offset below it was redriven
	redriven      map[int64]bool // DLQ offsets at or above redrivenBelow that were
}

type partCursor struct {
	scanned      int64
	states       map[int64]*offState
	settledAbove map[int64]bool
}

// offState is what a subscription remembers about one unsettled event.
type offState struct {
	attempts  int
	notBefore int64 // unix ns: a nack's backoff
	lastErr   string
	// deadReason is set once the event must go to the dead-letter topic
	// (rejected, or out of deliveries).
	deadReason string
	lease      *leaseState
	// dlqOffset >= 0 marks a redriven event: its body is read from the
	// dead-letter topic (partition 0) at that offset.
	dlqOffset int64
	// dlIntent >= 0: dead-lettering started when the dead-letter topic's
	// partition 0 ended at this offset; recovery looks for the record from
	// there before writing it again.
	dlIntent int64
}

type leaseState struct {
	id       uint64
	deadline int64 // unix ns
	consumer string
}

func newOffState() *offState { return &offState{dlqOffset: -1, dlIntent: -1} }

func newCursorState() *cursorState {
	return &cursorState{redriven: map[int64]bool{}}
}

func newPartCursor(scanned int64) *partCursor {
	return &partCursor{scanned: scanned, states: map[int64]*offState{}, settledAbove: map[int64]bool{}}
}

// part returns partition p's cursor, creating the partitions up to it (a
// partition added to the topic starts at offset 0: nothing published to it
// is missed).
func (c *cursorState) part(p int) *partCursor {
	for len(c.parts) <= p {
		c.parts = append(c.parts, newPartCursor(0))
	}
	return c.parts[p]
}

// unsettled returns the state of an offset that is known not to be settled,
// creating it at or above scanned; nil when the offset is settled.
func (pc *partCursor) unsettled(off int64, create bool) *offState {
	if st, ok := pc.states[off]; ok {
		return st
	}
	if !create || off < pc.scanned || pc.settledAbove[off] {
		return nil
	}
	st := newOffState()
	pc.states[off] = st
	return st
}

func (pc *partCursor) settle(off int64) {
	delete(pc.states, off)
	if off >= pc.scanned {
		pc.settledAbove[off] = true
	}
}

// apply folds one journal or snapshot operation into the state.
func (c *cursorState) apply(o *op) {
	switch o.kind {
	case opDLQTopic:
		c.dlqTopic = o.text
		c.redrivenBelow = 0
		c.redriven = map[int64]bool{}
		return
	case opRedrivenBelow:
		c.redrivenBelow = max(c.redrivenBelow, o.offset)
		for off := range c.redriven {
			if off < c.redrivenBelow {
				delete(c.redriven, off)
			}
		}
		return
	case opCounters:
		c.deadLettered = int64(o.attempts)
		return
	case opRedrivenMark:
		if o.offset >= c.redrivenBelow {
			c.redriven[o.offset] = true
		}
		return
	}
	pc := c.part(o.part)
	switch o.kind {
	case opSeek:
		*pc = *newPartCursor(o.offset)
	case opState:
		st := newOffState()
		st.attempts, st.notBefore, st.lastErr, st.deadReason = o.attempts, o.notBefore, o.lastErr, o.reason
		st.dlqOffset, st.dlIntent = o.dlqOffset, o.mark
		if o.leaseID != 0 {
			st.lease = &leaseState{id: o.leaseID, deadline: o.deadline, consumer: o.consumer}
		}
		delete(pc.settledAbove, o.offset)
		pc.states[o.offset] = st
	case opDeliver:
		if st := pc.unsettled(o.offset, true); st != nil && o.attempts >= st.attempts {
			st.attempts = o.attempts
			st.lease = &leaseState{id: o.leaseID, deadline: o.deadline, consumer: o.consumer}
			st.notBefore = 0
		}
	case opExtend:
		if st := pc.unsettled(o.offset, false); st != nil && st.lease != nil && st.lease.id == o.leaseID {
			st.lease.deadline = max(st.lease.deadline, o.deadline)
		}
	case opRelease:
		if st := pc.unsettled(o.offset, false); st != nil {
			if st.lease != nil && st.lease.id == o.leaseID {
				st.lease = nil
			}
			if o.attempts >= st.attempts {
				st.attempts, st.notBefore, st.lastErr, st.deadReason = o.attempts, o.notBefore, o.lastErr, o.reason
			}
		}
	case opSettle:
		pc.settle(o.offset)
	case opDeadLettered:
		pc.settle(o.offset)
		c.deadLettered++
	case opDLIntent:
		if st := pc.unsettled(o.offset, false); st != nil {
			st.dlIntent = o.mark
		}
	case opRedrive:
		st := newOffState()
		st.dlqOffset = o.dlqOffset
		delete(pc.settledAbove, o.offset)
		pc.states[o.offset] = st
		if o.dlqOffset >= c.redrivenBelow {
			c.redriven[o.dlqOffset] = true
		}
	}
}

// snapshotOps lists the operations that rebuild the state from nothing.
func (c *cursorState) snapshotOps() []op {
	ops := []op{{kind: opDLQTopic, text: c.dlqTopic}, {kind: opRedrivenBelow, offset: c.redrivenBelow},
		{kind: opCounters, attempts: int(c.deadLettered)}}
	for off := range c.redriven {
		ops = append(ops, op{kind: opRedrivenMark, offset: off})
	}
	for p, pc := range c.parts {
		ops = append(ops, op{kind: opSeek, part: p, offset: pc.scanned})
		for off, st := range pc.states {
			o := op{kind: opState, part: p, offset: off, attempts: st.attempts, notBefore: st.notBefore,
				lastErr: st.lastErr, reason: st.deadReason, dlqOffset: st.dlqOffset, mark: st.dlIntent}
			if st.lease != nil {
				o.leaseID, o.deadline, o.consumer = st.lease.id, st.lease.deadline, st.lease.consumer
			}
			ops = append(ops, o)
		}
		for off := range pc.settledAbove {
			ops = append(ops, op{kind: opSettle, part: p, offset: off})
		}
	}
	return ops
}
