package broker

import (
	"cmp"
	"hash/maphash"
	"slices"
	"sync"
	"time"

	"github.com/heraldhq/herald/cloudevent"
)

// dedupIndex remembers, per topic, the position of every event published
// inside the dedup window, keyed by (source, id). It lives in memory and is
// rebuilt on open by reading each partition from the start of the window.
//
// A busy topic holds millions of keys (2 minutes at 100,000 events/s is 12
// million), so the index stores no pointers the garbage collector would
// have to scan on every cycle: a key is a 128-bit hash of (source, id)
// under random per-process seeds, and a completed entry is a plain
// position. Two different keys would have to collide in 128 bits for an
// event to be taken for a duplicate: about 10^-24 with 12 million keys.
//
// Concurrent publishes of the same key are resolved by reservation: the
// first reserves the key for its batch, the others wait for that batch to
// be stored and then look again (finding the position, or, if the store
// failed, reserving the key themselves). Exactly one copy is stored.
type dedupIndex struct {
	seed1, seed2 maphash.Seed

	mu sync.Mutex
	// slots maps every key inside the window, stored or being stored, to
	// its entry's sequence number. An event costs two probe sequences of
	// this table, the hot path's largest structure: one when reserved
	// (lookup and insert at once) and one when pruned; completing an entry
	// updates it in chunks without a probe.
	slots dedupTable
	// chunks hold the entries in reservation order, dedupChunk to a
	// chunk, from chunks[0][head] on; the entry with sequence number seq is
	// number seq-base counting from chunks[0][0]. Chunks, not one slice,
	// so that growing never copies millions of entries. Pruning pops from
	// the front and drops whole chunks. Publish times come from one clock
	// and only move forward within a run (a clock that steps back, or two
	// publishes reserving out of time order, delays pruning a little,
	// never breaks it).
	chunks [][]dedupEntry
	head   int
	base   uint64
	// sink keeps the compiler from dropping publish's touches of slots.
	sink uint64
	// batches are the reservations of the stores in progress, by id.
	batches   map[int64]*dedupBatch
	nextBatch int64
}

// dedupEntry is one key's slot. dead marks an entry that no longer
// speaks for its key (its store failed, or the key expired and was
// reserved again): pruning drops it without touching the table.
type dedupEntry struct {
	key  dedupKey
	slot dedupSlot
	dead bool
}

// dedupKey is the hash of an event's (source, id). a is never 0: that
// marks an empty slot in dedupTable.
type dedupKey struct{ a, b uint64 }

// dedupSlot is where a key was stored or, with partition -1, the id of the
// batch storing it now (in offset).
type dedupSlot struct {
	offset    int64
	published int64 // unix ns
	partition int32
}

const slotPending = -1

// dedupBatch is the reservation of one store: its keys are pending until
// done is closed.
type dedupBatch struct {
	id   int64
	done chan struct{}
}

func newDedupIndex() *dedupIndex {
	return &dedupIndex{seed1: maphash.MakeSeed(), seed2: maphash.MakeSeed(),
		batches: map[int64]*dedupBatch{}}
}

// dedupChunk is how many entries one chunk holds (192 KiB).
const dedupChunk = 4096

// entry returns the entry with sequence number seq. The caller holds d.mu.
func (d *dedupIndex) entry(seq uint64) *dedupEntry {
	i := seq - d.base
	return &d.chunks[i/dedupChunk][i%dedupChunk]
}

// add appends an entry for key and returns its sequence number, for the
// caller to map key to. The caller holds d.mu.
func (d *dedupIndex) add(key dedupKey, slot dedupSlot) uint64 {
	if n := len(d.chunks); n == 0 || len(d.chunks[n-1]) == dedupChunk {
		d.chunks = append(d.chunks, make([]dedupEntry, 0, dedupChunk))
	}
	last := len(d.chunks) - 1
	seq := d.base + uint64(last)*dedupChunk + uint64(len(d.chunks[last]))
	d.chunks[last] = append(d.chunks[last], dedupEntry{key: key, slot: slot})
	return seq
}

// live is how many entries have not been pruned. The caller holds d.mu.
func (d *dedupIndex) live() int {
	if len(d.chunks) == 0 {
		return 0
	}
	return (len(d.chunks)-1)*dedupChunk + len(d.chunks[len(d.chunks)-1]) - d.head
}

// key hashes ev's (source, id). Source cannot contain NUL (validation
// refuses control characters), so the separator keeps pairs apart.
func (d *dedupIndex) key(ev *cloudevent.Event) dedupKey {
	var h maphash.Hash
	h.SetSeed(d.seed1)
	h.WriteString(ev.Source)
	h.WriteByte(0)
	h.WriteString(ev.ID)
	a := h.Sum64()
	h.SetSeed(d.seed2)
	h.WriteString(ev.Source)
	h.WriteByte(0)
	h.WriteString(ev.ID)
	if a == 0 {
		// 0 marks an empty slot in dedupTable. Folding it into 1 leaves
		// collisions as rare: two keys must still agree on b as well.
		a = 1
	}
	return dedupKey{a, h.Sum64()}
}

// newBatch starts a reservation. The caller holds d.mu.
func (d *dedupIndex) newBatch() *dedupBatch {
	d.nextBatch++
	b := &dedupBatch{id: d.nextBatch, done: make(chan struct{})}
	d.batches[b.id] = b
	return b
}

// finish ends a reservation: its waiters look again. The caller holds d.mu.
func (d *dedupIndex) finish(b *dedupBatch) {
	delete(d.batches, b.id)
	close(b.done)
}

// dedupClaim is the outcome of reserve for one event: this publish owns
// the key and must store the event (seq names its entry, for complete or
// abort); or the key is a duplicate stored at slot; or another publish is
// storing it, and the caller waits on wait and then reserves again.
type dedupClaim struct {
	owner     bool
	seq       uint64
	duplicate bool
	slot      dedupSlot
	wait      chan struct{}
}

// reserve looks up key at time now for the publish whose reservation is
// mine. One probe sequence finds the key or, if it is new, the slot it
// takes. The caller holds d.mu.
func (d *dedupIndex) reserve(key dedupKey, now int64, window time.Duration, mine *dedupBatch) dedupClaim {
	seq, found := d.slots.lookupOrInsert(key)
	if found {
		e := d.entry(*seq)
		switch {
		case e.slot.partition == slotPending:
			return dedupClaim{wait: d.batches[e.slot.offset].done}
		case e.slot.published >= now-int64(window):
			return dedupClaim{duplicate: true, slot: e.slot}
		}
		e.dead = true // expired, not yet pruned: the new entry speaks for the key
	}
	*seq = d.add(key, dedupSlot{partition: slotPending, offset: mine.id, published: now})
	return dedupClaim{owner: true, seq: *seq}
}

// complete records where the reserved entry seq was stored. The caller
// holds d.mu.
func (d *dedupIndex) complete(seq uint64, partition int, offset, published int64) {
	d.entry(seq).slot = dedupSlot{offset: offset, published: published, partition: int32(partition)}
}

// abort releases the reserved entry seq, whose store failed. The caller
// holds d.mu.
func (d *dedupIndex) abort(seq uint64) {
	e := d.entry(seq)
	e.dead = true
	d.slots.delete(e.key)
}

// prune forgets keys published before the window. It stops at an entry
// still being stored. The caller holds d.mu.
func (d *dedupIndex) prune(now int64, window time.Duration) {
	cut := now - int64(window)
	for len(d.chunks) > 0 && d.head < len(d.chunks[0]) {
		e := &d.chunks[0][d.head]
		if !e.dead {
			if e.slot.partition == slotPending || e.slot.published >= cut {
				break
			}
			d.slots.delete(e.key)
		}
		d.head++
		if d.head == dedupChunk { // the front chunk is spent
			d.chunks[0] = nil
			d.chunks = d.chunks[1:]
			d.base += dedupChunk
			d.head = 0
		}
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
		key  dedupKey
		slot dedupSlot
	}
	var all []found
	for p, l := range t.parts {
		off, err := l.OffsetForTime(from)
		if err != nil {
			return err
		}
		err = scanPartition(l, off, l.Next(), func(st StoredEvent) bool {
			all = append(all, found{t.dedup.key(&st.Event),
				dedupSlot{partition: int32(p), offset: st.Offset, published: st.PublishTime.UnixNano()}})
			return true
		}, t.name, p)
		if err != nil {
			return err
		}
	}
	// Keep the first position of a key, order by publish time for pruning.
	slices.SortStableFunc(all, func(a, b found) int { return cmp.Compare(a.slot.published, b.slot.published) })
	for _, f := range all {
		if seq, dup := t.dedup.slots.lookupOrInsert(f.key); !dup {
			*seq = t.dedup.add(f.key, f.slot)
		}
	}
	return nil
}
