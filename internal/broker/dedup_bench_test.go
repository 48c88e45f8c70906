package broker

import (
	"testing"
	"time"
)

// BenchmarkDedupReserve measures the index's share of a publish: reserve a
// new key, complete it, prune the one that left the window. It runs at a
// steady state of about a million live keys, as a busy topic would, so the
// index does not fit in the CPU cache and every probe misses it, as in
// production. Keys are reserved in batches of 100, each batch one
// reservation, its keys' slots touched first and the keys completed after
// all are reserved, as publish does.
// One op is one key.
func BenchmarkDedupReserve(b *testing.B) {
	const live, batch = 1 << 20, 100
	window := time.Duration(live) // key n is published at time n
	d := newDedupIndex()
	var n uint64 // keys reserved so far
	seqs := make([]uint64, batch)
	step := func(count int) {
		mine := d.newBatch()
		now := int64(n)
		d.prune(now, window)
		var sink uint64
		for i := range count { // as publish does: touch, then probe
			sink += d.slots.touch(randKey(n + uint64(i)))
		}
		d.sink = sink
		for i := range count {
			c := d.reserve(randKey(n+uint64(i)), now, window, mine)
			if !c.owner {
				b.Fatalf("key %d: %+v, want to own it", n+uint64(i), c)
			}
			seqs[i] = c.seq
		}
		for i := range count {
			d.complete(seqs[i], 0, int64(n)+int64(i), now)
		}
		d.finish(mine)
		n += uint64(count)
	}
	for n < 2*live { // fill the window, then turn it over once
		step(batch)
	}
	b.ResetTimer()
	for left := b.N; left > 0; left -= batch {
		step(min(left, batch))
	}
	b.StopTimer()
	if got := d.live(); got < live-batch || got > live+batch {
		b.Fatalf("%d live entries, want about %d", got, live)
	}
}

// randKey returns the n-th of a sequence of distinct, uniformly random
// looking keys (splitmix64 is a bijection of n), like the hashes
// dedupIndex.key makes.
func randKey(n uint64) dedupKey {
	a := splitmix64(n)
	if a == 0 {
		a = 1
	}
	return dedupKey{a, splitmix64(^n)}
}

func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}
