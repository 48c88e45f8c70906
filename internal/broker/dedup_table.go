package broker

// dedupTable maps dedup keys to entry sequence numbers: dedupIndex's
// slots. A Go map would do, but at a busy topic's size (millions of keys)
// every probe misses the CPU cache, a publish costs three of them, and each
// hashes again a key that is already a uniformly random hash. This table
// takes its slot straight from the key's bits, and lets reserve find a key
// and claim its slot in one probe sequence.
//
// It is split into dedupShards independent open-addressing tables, chosen
// by the key's top bits, each probing linearly from the slot named by the
// key's low bits. A shard doubles when it would pass 3/4 full, so one
// growth moves about 1/dedupShards of the keys: a millisecond or two at 12
// million keys, where doubling one array would stall publishing for tens.
// Shards never shrink (nor does a Go map). Deletion shifts the rest of the
// cluster back instead of leaving tombstones, so a long-running topic,
// which deletes every key it inserts, never degrades.
//
// The slot arrays hold no pointers, so the garbage collector never scans
// them. A slot whose key has a == 0 is empty: dedupIndex.key never makes
// such a key, and callers must not pass one.
type dedupTable struct {
	shards *[dedupShards]dedupShard // nil until the first insert
	n      int
}

const (
	dedupShardBits = 8
	dedupShards    = 1 << dedupShardBits
	// dedupShardMin is a shard's first size, in slots.
	dedupShardMin = 8
)

type dedupShard struct {
	slots []dedupTableSlot // len is a power of two, or 0
	n     int
}

type dedupTableSlot struct {
	key dedupKey
	seq uint64
}

// shard returns key's shard, nil if the table is empty.
func (t *dedupTable) shard(key dedupKey) *dedupShard {
	if t.shards == nil {
		return nil
	}
	return &t.shards[key.a>>(64-dedupShardBits)]
}

// len is how many keys the table holds.
func (t *dedupTable) len() int { return t.n }

// get returns key's sequence number.
func (t *dedupTable) get(key dedupKey) (uint64, bool) {
	s := t.shard(key)
	if s == nil || len(s.slots) == 0 {
		return 0, false
	}
	mask := uint64(len(s.slots) - 1)
	for i := key.a & mask; ; i = (i + 1) & mask {
		switch sl := &s.slots[i]; sl.key {
		case key:
			return sl.seq, true
		case dedupKey{}:
			return 0, false
		}
	}
}

// lookupOrInsert returns the sequence number of key and true if the table
// holds it; otherwise it inserts key and returns its sequence number,
// zero, for the caller to set, and false. seq is valid until the next
// insert or delete.
func (t *dedupTable) lookupOrInsert(key dedupKey) (seq *uint64, found bool) {
	if t.shards == nil {
		t.shards = new([dedupShards]dedupShard)
	}
	s := &t.shards[key.a>>(64-dedupShardBits)]
	if (s.n+1)*4 > len(s.slots)*3 { // (even if key is there: growing early is harmless)
		s.grow()
	}
	mask := uint64(len(s.slots) - 1)
	for i := key.a & mask; ; i = (i + 1) & mask {
		sl := &s.slots[i]
		if sl.key == key {
			return &sl.seq, true
		}
		if sl.key.a == 0 {
			sl.key = key
			s.n++
			t.n++
			return &sl.seq, false
		}
	}
}

// touch reads the slot where a probe for key starts, so that the cache
// line is on its way before the probe needs it. Touching a batch's keys
// first lets their cache misses overlap (they are independent loads)
// instead of being paid one after another in the probes.
func (t *dedupTable) touch(key dedupKey) uint64 {
	s := t.shard(key)
	if s == nil || len(s.slots) == 0 {
		return 0
	}
	return s.slots[key.a&uint64(len(s.slots)-1)].key.a
}

// grow doubles the shard (or gives it its first slots) and moves its keys.
func (s *dedupShard) grow() {
	old := s.slots
	s.slots = make([]dedupTableSlot, max(2*len(old), dedupShardMin))
	mask := uint64(len(s.slots) - 1)
	for _, sl := range old {
		if sl.key.a == 0 {
			continue
		}
		i := sl.key.a & mask
		for s.slots[i].key.a != 0 {
			i = (i + 1) & mask
		}
		s.slots[i] = sl
	}
}

// delete removes key, if the table holds it, and reports whether it did.
func (t *dedupTable) delete(key dedupKey) bool {
	s := t.shard(key)
	if s == nil || len(s.slots) == 0 {
		return false
	}
	mask := uint64(len(s.slots) - 1)
	i := key.a & mask
	for s.slots[i].key != key {
		if s.slots[i].key.a == 0 {
			return false
		}
		i = (i + 1) & mask
	}
	// Backward shift: a later key of the cluster moves into the hole if
	// the hole lies between its home and its slot (it would have been
	// stored there); the hole then moves to where it was. The cluster ends
	// at an empty slot, which the hole becomes.
	for j := (i + 1) & mask; ; j = (j + 1) & mask {
		k := s.slots[j].key
		if k.a == 0 {
			break
		}
		if (j-k.a)&mask >= (j-i)&mask { // home is at or before the hole
			s.slots[i] = s.slots[j]
			i = j
		}
	}
	s.slots[i] = dedupTableSlot{}
	s.n--
	t.n--
	return true
}
