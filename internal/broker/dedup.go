package broker

import (
	"cmp"
	"context"
	"slices"
	"sync"
	"time"

	"github.com/heraldhq/herald/cloudevent"
)

// dedupIndex remembers, per topic, the position of every event published
// inside the dedup window, keyed by (source, id). It lives in memory and is
// rebuilt on open by reading each partition from the start of the window.
//
// Concurrent publishes of the same (source, id) are resolved by
// reservation: the first reserves the key, the others wait for it to be
// stored (then answer "duplicate" with its position) or to fail (then one of
// them reserves it in turn). Exactly one copy is stored.
type dedupIndex struct {
	mu      sync.Mutex
	entries map[string]*dedupEntry
	// order holds completed keys in publish order from orderHead on, so
	// pruning pops from the front. Publish times come from one clock and
	// only move forward within a run (a clock that steps back delays
	// pruning, never breaks it).
	order     []dedupOrder
	orderHead int
}

type dedupEntry struct {
	partition int
	offset    int64
	published int64         // unix ns
	done      chan struct{} // closed when stored or failed; nil once stored at load
	failed    bool
}

type dedupOrder struct {
	key       string
	published int64
}

func newDedupIndex() *dedupIndex {
	return &dedupIndex{entries: map[string]*dedupEntry{}}
}

func dedupKey(ev *cloudevent.Event) string { return ev.Source + "\x00" + ev.ID }

// dedupClaim is the outcome of reserve for one event.
type dedupClaim struct {
	entry *dedupEntry
	owner bool // this publish must store the event and complete the entry
}

// reserve looks up key at time now: a live completed entry or one in
// progress is returned for the caller to report or wait on; otherwise the
// caller owns a new reservation. The caller holds d.mu.
func (d *dedupIndex) reserve(key string, now int64, window time.Duration) dedupClaim {
	if e, ok := d.entries[key]; ok {
		switch {
		case e.done != nil && !isClosed(e.done):
			return dedupClaim{entry: e} // in progress: wait for it
		case !e.failed && e.published >= now-int64(window):
			return dedupClaim{entry: e} // a duplicate
		}
	}
	e := &dedupEntry{done: make(chan struct{})}
	d.entries[key] = e
	return dedupClaim{entry: e, owner: true}
}

func isClosed(ch chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// complete records where an owned reservation was stored.
func (d *dedupIndex) complete(key string, e *dedupEntry, partition int, offset, published int64) {
	e.partition, e.offset, e.published = partition, offset, published
	d.order = append(d.order, dedupOrder{key: key, published: published})
	close(e.done)
}

// abort releases an owned reservation whose publish failed.
func (d *dedupIndex) abort(key string, e *dedupEntry) {
	e.failed = true
	if d.entries[key] == e {
		delete(d.entries, key)
	}
	close(e.done)
}

// prune forgets keys published before the window. The caller holds d.mu.
func (d *dedupIndex) prune(now int64, window time.Duration) {
	cut := now - int64(window)
	for d.orderHead < len(d.order) && d.order[d.orderHead].published < cut {
		o := d.order[d.orderHead]
		if e := d.entries[o.key]; e != nil && e.published == o.published && (e.done == nil || isClosed(e.done)) {
			delete(d.entries, o.key)
		}
		d.order[d.orderHead] = dedupOrder{}
		d.orderHead++
	}
	// Reclaim the pruned front once it is most of the slice: amortized O(1).
	if d.orderHead > 1024 && d.orderHead*2 > len(d.order) {
		n := copy(d.order, d.order[d.orderHead:])
		d.order = d.order[:n]
		d.orderHead = 0
	}
}

// wait blocks until a reservation held by another publish resolves.
func (e *dedupEntry) wait(ctx context.Context) error {
	if e.done == nil {
		return nil
	}
	select {
	case <-e.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// rebuildDedup refills the index from every partition's events inside the
// window. Called by loadTopic before the topic is reachable.
func (t *topic) rebuildDedup() error {
	if t.cfg.DedupWindow <= 0 {
		return nil
	}
	now := t.b.now().UnixNano()
	from := now - int64(t.cfg.DedupWindow)
	type found struct {
		key string
		e   *dedupEntry
	}
	var all []found
	for p, l := range t.parts {
		off, err := l.OffsetForTime(from)
		if err != nil {
			return err
		}
		err = scanPartition(l, off, l.Next(), func(st StoredEvent) bool {
			all = append(all, found{dedupKey(&st.Event), &dedupEntry{partition: p, offset: st.Offset, published: st.PublishTime.UnixNano()}})
			return true
		}, t.name, p)
		if err != nil {
			return err
		}
	}
	// Keep the first position of a key, order by publish time for pruning.
	slices.SortStableFunc(all, func(a, b found) int { return cmp.Compare(a.e.published, b.e.published) })
	for _, f := range all {
		if _, dup := t.dedup.entries[f.key]; dup {
			continue
		}
		t.dedup.entries[f.key] = f.e
		t.dedup.order = append(t.dedup.order, dedupOrder{key: f.key, published: f.e.published})
	}
	return nil
}
