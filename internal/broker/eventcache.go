package broker

import "sync"

// eventCache holds the events most recently decoded from one partition,
// so that a topic's subscriptions, which read the same new records at
// about the same time, read and decode each record once and share it.
// With ten subscriptions, reading and decoding the window was a fifth of
// the server's CPU, done ten times over.
//
// A shared StoredEvent is read only (its doc says so); the SDK gives an
// embedded handler its own copy of Data and Extensions.
//
// Only topics with more than one subscription use it: one subscription
// has no one to share with. It holds at most eventCacheSlots events per
// partition, most of which the subscriptions' windows hold anyway.
type eventCache struct {
	mu    sync.Mutex
	slots *[eventCacheSlots]cachedEvent // nil until the first put
}

// eventCacheSlots is a power of two; offset off lives in slot
// off % eventCacheSlots.
const eventCacheSlots = 1024

type cachedEvent struct {
	off int64
	ev  *StoredEvent
}

// run appends to dst the cached events from offset from on, in order,
// stopping at the first offset not cached, at to, or after max events.
func (c *eventCache) run(from, to int64, max int, dst []*StoredEvent) []*StoredEvent {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.slots == nil {
		return dst
	}
	for off := from; off < to && max > 0; off, max = off+1, max-1 {
		ce := &c.slots[off&(eventCacheSlots-1)]
		if ce.ev == nil || ce.off != off {
			break
		}
		dst = append(dst, ce.ev)
	}
	return dst
}

// put caches evs, each in its slot unless the slot holds a later offset:
// a subscription far behind the others (replaying, or slow) must not
// evict the new records the ones at the head share.
func (c *eventCache) put(evs []*StoredEvent) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.slots == nil {
		c.slots = new([eventCacheSlots]cachedEvent)
	}
	for _, ev := range evs {
		slot := &c.slots[ev.Offset&(eventCacheSlots-1)]
		if slot.ev == nil || ev.Offset > slot.off {
			*slot = cachedEvent{off: ev.Offset, ev: ev}
		}
	}
}
