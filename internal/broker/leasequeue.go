package broker

// leaseQueue holds lease deadlines in the order the leases were given.
// Every lease of a subscription gets the same ack timeout, so deadlines
// come in order almost always, and a queue does in O(1) what the timer
// heap did in O(log n) with a write to two entries per level: pushing
// was cheap, but every ack removed its lease's timer from the heap's top
// half (70 ns per event of a consume run, a tenth of the broker's share).
// A deadline earlier than the last one queued (an extend after a change
// of the ack timeout, a lease restored from the journal) goes to the heap
// as before.
//
// An ack does not take its item out: the item goes stale, and is dropped
// when it reaches the front. So that a long-held lease at the front
// cannot keep the acked entries behind it for a whole ack timeout, the
// queue is compacted when stale items outnumber live ones.
//
// Invariant, kept by trim after every change: the front item, if any, is
// live. The subscription's mu guards the queue.
type leaseQueue struct {
	items []leaseItem
	head  int
	live  int    // items whose entry still waits on them
	seq   uint64 // the last item's sequence number
}

// leaseItem is one lease deadline. It is live while its entry's leaseSeq
// is its seq: a lease that ends, or gets another deadline, changes or
// clears the entry's leaseSeq, which leaves the item stale.
type leaseItem struct {
	at  int64
	e   *entry
	seq uint64
}

func (it *leaseItem) isLive() bool { return it.e.leaseSeq == it.seq }

func (q *leaseQueue) len() int { return len(q.items) - q.head }

// accepts reports whether a deadline at may be queued: no earlier than the
// last one.
func (q *leaseQueue) accepts(at int64) bool {
	return q.len() == 0 || at >= q.items[len(q.items)-1].at
}

// push queues e's lease deadline at, which accepts allowed, and makes it
// e's live timer.
func (q *leaseQueue) push(e *entry, at int64) {
	q.seq++
	e.leaseSeq = q.seq
	q.items = append(q.items, leaseItem{at: at, e: e, seq: q.seq})
	q.live++
	if q.len() > 2*q.live+1024 {
		q.compact()
	}
}

// front is the earliest live item; the queue must not be empty.
func (q *leaseQueue) front() *leaseItem { return &q.items[q.head] }

// drop makes e's queued deadline stale: its lease ended or moved.
func (q *leaseQueue) drop(e *entry) {
	if e.leaseSeq == 0 {
		return
	}
	e.leaseSeq = 0
	q.live--
	q.trim()
}

// pop takes the front item, which is live, off the queue and clears its
// entry's timer.
func (q *leaseQueue) pop() leaseItem {
	it := q.items[q.head]
	it.e.leaseSeq = 0
	q.live--
	q.items[q.head] = leaseItem{}
	q.head++
	q.trim()
	return it
}

// trim drops stale items from the front, and moves the rest down once
// the dropped ones are the larger part of the slice.
func (q *leaseQueue) trim() {
	for q.head < len(q.items) && !q.items[q.head].isLive() {
		q.items[q.head] = leaseItem{}
		q.head++
	}
	if q.head == len(q.items) {
		q.items, q.head = q.items[:0], 0
		return
	}
	if q.head > 64 && q.head*2 > len(q.items) {
		n := copy(q.items, q.items[q.head:])
		clear(q.items[n:])
		q.items, q.head = q.items[:n], 0
	}
}

// compact keeps only the live items, in order.
func (q *leaseQueue) compact() {
	n := 0
	for _, it := range q.items[q.head:] {
		if it.isLive() {
			q.items[n] = it
			n++
		}
	}
	clear(q.items[n:])
	q.items, q.head = q.items[:n], 0
}

// reset empties the queue; the caller drops the entries with it.
func (q *leaseQueue) reset() {
	q.items, q.head, q.live = nil, 0, 0
}

// setLeaseTimer makes e's lease expire at its deadline: in the lease
// queue when the deadline is no earlier than the last one there, else in
// the timer heap.
func (s *subscription) setLeaseTimer(e *entry) {
	at := e.lease.deadline
	s.clearLeaseTimer(e)
	if !s.leases.accepts(at) {
		s.setTimer(e, timerLease, at)
		return
	}
	first := s.leases.len() == 0
	s.leases.push(e, at)
	if first && (len(s.timers) == 0 || at < s.timers[0].at) {
		s.kickTimekeeper()
	}
}

// clearLeaseTimer drops e's lease timer, wherever it is.
func (s *subscription) clearLeaseTimer(e *entry) {
	s.clearTimer(e, timerLease)
	s.leases.drop(e)
}
