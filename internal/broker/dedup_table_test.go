package broker

import (
	"math/rand/v2"
	"testing"
)

// tkey builds a key in shard shard whose home is slot home of a shard of
// at least home+1 slots; id tells apart keys with the same home (in bits
// the probe does not use until the shard has 2^32 slots).
func tkey(shard, home, id uint64) dedupKey {
	return dedupKey{shard<<(64-dedupShardBits) | id<<32 | home, id}
}

type tableOp struct {
	do    string // "insert" (lookupOrInsert, storing seq if new), "get" or "delete"
	key   dedupKey
	seq   uint64 // the sequence number to store, or expected
	found bool   // expected: the key was there (for delete: was deleted)
}

func TestDedupTable(t *testing.T) {
	ins := func(k dedupKey, seq uint64) tableOp { return tableOp{"insert", k, seq, false} }
	again := func(k dedupKey, seq uint64) tableOp { return tableOp{"insert", k, seq, true} }
	get := func(k dedupKey, seq uint64) tableOp { return tableOp{"get", k, seq, true} }
	miss := func(k dedupKey) tableOp { return tableOp{"get", k, 0, false} }
	del := func(k dedupKey) tableOp { return tableOp{"delete", k, 0, true} }
	delAbsent := func(k dedupKey) tableOp { return tableOp{"delete", k, 0, false} }
	a, b, c, d, e := tkey(0, 2, 1), tkey(0, 2, 2), tkey(0, 3, 3), tkey(0, 2, 4), tkey(0, 5, 5)
	w1, w2, w3, w4 := tkey(0, 6, 1), tkey(0, 6, 2), tkey(0, 7, 3), tkey(0, 6, 4)
	var fill7, fill13 []tableOp
	for i := range uint64(13) {
		if i < 7 {
			fill7 = append(fill7, ins(tkey(0, i, i+1), i))
		}
		fill13 = append(fill13, ins(tkey(0, i, i+1), i))
	}
	cases := []struct {
		name string
		ops  []tableOp
		at   map[dedupKey]int // slot of each key left, in its shard
		size int              // slots of shard 0, if not 0
	}{
		{"empty", []tableOp{miss(a), delAbsent(a)}, nil, 0},
		{"insert then find", []tableOp{ins(a, 10), get(a, 10), again(a, 10), get(a, 10)},
			map[dedupKey]int{a: 2}, dedupShardMin},
		{"delete", []tableOp{ins(a, 10), del(a), miss(a), delAbsent(a), ins(a, 11), get(a, 11)},
			map[dedupKey]int{a: 2}, 0},
		{"delete absent from a cluster", []tableOp{ins(a, 1), ins(b, 2), delAbsent(d), delAbsent(c), get(a, 1), get(b, 2)},
			map[dedupKey]int{a: 2, b: 3}, 0},
		{"keys differing only in b", []tableOp{ins(dedupKey{7, 1}, 1), ins(dedupKey{7, 2}, 2), get(dedupKey{7, 1}, 1),
			del(dedupKey{7, 1}), miss(dedupKey{7, 1}), get(dedupKey{7, 2}, 2)},
			map[dedupKey]int{{7, 2}: 7}, 0},
		// a b c d e fill slots 2..6; deleting b shifts c, d and e back one
		// slot each, as each has its home at or before the hole.
		{"backward shift through a cluster", []tableOp{ins(a, 1), ins(b, 2), ins(c, 3), ins(d, 4), ins(e, 5), del(b),
			get(a, 1), miss(b), get(c, 3), get(d, 4), get(e, 5)},
			map[dedupKey]int{a: 2, c: 3, d: 4, e: 5}, dedupShardMin},
		// The key in slot 4 is at its home, so it stays when a leaves
		// slot 2: b moves there and slot 3 empties.
		{"backward shift stops at a key at home", []tableOp{ins(a, 1), ins(b, 2), ins(tkey(0, 4, 3), 3), del(a)},
			map[dedupKey]int{b: 2, tkey(0, 4, 3): 4}, 0},
		{"backward shift leaves a later home alone", []tableOp{ins(a, 1), ins(c, 3), del(a), get(c, 3)},
			map[dedupKey]int{c: 3}, 0},
		{"delete the cluster's last", []tableOp{ins(a, 1), ins(b, 2), ins(d, 4), del(d), get(a, 1), get(b, 2)},
			map[dedupKey]int{a: 2, b: 3}, 0},
		// w1 w2 w3 w4 take slots 6 7 0 1, across the end of the array.
		{"backward shift across the end", []tableOp{ins(w1, 1), ins(w2, 2), ins(w3, 3), ins(w4, 4), del(w1),
			get(w2, 2), get(w3, 3), get(w4, 4)},
			map[dedupKey]int{w2: 6, w3: 7, w4: 0}, dedupShardMin},
		{"six keys fit in eight slots", fill7[:6], nil, 8},
		{"the seventh doubles the shard", fill7, nil, 16},
		{"thirteen keys need 32 slots", fill13, nil, 32},
		{"growth keeps every key", append(fill13[:13:13], get(tkey(0, 0, 1), 0), get(tkey(0, 12, 13), 12), again(tkey(0, 5, 6), 5)),
			map[dedupKey]int{tkey(0, 12, 13): 12}, 32},
		{"shards are independent", []tableOp{ins(tkey(0, 1, 1), 1), ins(tkey(dedupShards-1, 1, 1), 2), ins(tkey(1, 1, 1), 3),
			get(tkey(0, 1, 1), 1), get(tkey(dedupShards-1, 1, 1), 2), del(tkey(1, 1, 1))},
			map[dedupKey]int{tkey(0, 1, 1): 1, tkey(dedupShards-1, 1, 1): 1}, dedupShardMin},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var tb dedupTable
			live := map[dedupKey]bool{}
			for i, op := range tc.ops {
				var found bool
				var seq uint64
				switch op.do {
				case "insert":
					var p *uint64
					p, found = tb.lookupOrInsert(op.key)
					if !found {
						*p = op.seq
					}
					seq = *p
					live[op.key] = true
				case "get":
					seq, found = tb.get(op.key)
				case "delete":
					found, seq = tb.delete(op.key), op.seq
					delete(live, op.key)
				}
				if found != op.found || found && seq != op.seq {
					t.Fatalf("op %d: %s %v = %d, %v; want %d, %v", i, op.do, op.key, seq, found, op.seq, op.found)
				}
			}
			checkDedupTable(t, &tb)
			if tb.len() != len(live) {
				t.Errorf("len %d, want %d", tb.len(), len(live))
			}
			for k, want := range tc.at {
				if got := tableSlot(&tb, k); got != want {
					t.Errorf("%v at slot %d, want %d", k, got, want)
				}
			}
			if tc.size != 0 {
				if got := len(tb.shards[0].slots); got != tc.size {
					t.Errorf("shard 0 has %d slots, want %d", got, tc.size)
				}
			}
		})
	}
}

// tableSlot returns the slot holding key in its shard, or -1.
func tableSlot(tb *dedupTable, key dedupKey) int {
	s := tb.shard(key)
	if s == nil {
		return -1
	}
	for i, sl := range s.slots {
		if sl.key == key {
			return i
		}
	}
	return -1
}

// checkDedupTable checks the table's invariants: counts agree with the
// slots, no shard is over 3/4 full, no key is stored twice, and every key
// can be found: no empty slot lies between its home and its slot.
func checkDedupTable(t testing.TB, tb *dedupTable) {
	t.Helper()
	if tb.shards == nil {
		if tb.n != 0 {
			t.Fatalf("no shards but %d keys", tb.n)
		}
		return
	}
	seen := map[dedupKey]bool{}
	total := 0
	for si := range tb.shards {
		s := &tb.shards[si]
		size := len(s.slots)
		if size&(size-1) != 0 || s.n*4 > size*3 {
			t.Fatalf("shard %d: %d keys in %d slots", si, s.n, size)
		}
		if size == 0 {
			continue
		}
		// One walk around the shard, starting after an empty slot: a key
		// can be found if the last empty slot passed lies before its home.
		mask := uint64(size - 1)
		start := uint64(0)
		for s.slots[start].key.a != 0 {
			if start++; start == uint64(size) {
				t.Fatalf("shard %d is full", si)
			}
		}
		empty, n := start, 0
		for k := 1; k <= size; k++ {
			i := (start + uint64(k)) & mask
			sl := s.slots[i]
			if sl.key.a == 0 {
				if sl != (dedupTableSlot{}) {
					t.Fatalf("shard %d slot %d: empty slot holds %+v", si, i, sl)
				}
				empty = i
				continue
			}
			n++
			if seen[sl.key] {
				t.Fatalf("%v stored twice", sl.key)
			}
			seen[sl.key] = true
			if got := int(sl.key.a >> (64 - dedupShardBits)); got != si {
				t.Fatalf("%v in shard %d, belongs in %d", sl.key, si, got)
			}
			if home := sl.key.a & mask; (i-home)&mask >= (i-empty)&mask {
				t.Fatalf("shard %d: %v at slot %d is cut off from its home %d by empty slot %d", si, sl.key, i, home, empty)
			}
		}
		if n != s.n {
			t.Fatalf("shard %d counts %d keys, holds %d", si, s.n, n)
		}
		total += n
	}
	if total != tb.n {
		t.Fatalf("table counts %d keys, holds %d", tb.n, total)
	}
}

// clusteredKey maps 14 bits to a key in shard 0 or the last shard, with
// one of only 8 homes in a small shard (32 once it has 64 slots or more),
// so that long clusters form, wrap around the end of the array and are
// spread again by growth. Keys may share a and differ only in b.
func clusteredKey(v uint16) dedupKey {
	shard := uint64(v&1) * (dedupShards - 1)
	home := uint64(v>>1&7) | uint64(v>>4&3)<<4
	return dedupKey{shard<<(64-dedupShardBits) | 1<<40 | uint64(v>>4&15)<<32 | home, uint64(v >> 8)}
}

// runTableModel applies ops to a dedupTable and to a Go map, and fails at
// the first difference. An op is a kind (0 to 2 insert, 3 and 4 delete, 5
// get) and a key; check says how often to check the whole table.
func runTableModel(t testing.TB, n int, check int, op func(i int) (kind int, key dedupKey)) {
	t.Helper()
	var tb dedupTable
	model := map[dedupKey]uint64{}
	for i := range n {
		kind, key := op(i)
		switch kind {
		case 0, 1, 2:
			p, found := tb.lookupOrInsert(key)
			want, ok := model[key]
			if found != ok || found && *p != want {
				t.Fatalf("op %d: lookupOrInsert %v = %d, %v; want %d, %v", i, key, *p, found, want, ok)
			}
			if !found {
				*p = uint64(i)
				model[key] = uint64(i)
			}
		case 3, 4:
			_, ok := model[key]
			if got := tb.delete(key); got != ok {
				t.Fatalf("op %d: delete %v = %v, want %v", i, key, got, ok)
			}
			delete(model, key)
		default:
			want, ok := model[key]
			if got, found := tb.get(key); found != ok || got != want {
				t.Fatalf("op %d: get %v = %d, %v; want %d, %v", i, key, got, found, want, ok)
			}
		}
		if tb.len() != len(model) {
			t.Fatalf("op %d: len %d, want %d", i, tb.len(), len(model))
		}
		if check > 0 && i%check == 0 {
			checkDedupTable(t, &tb)
		}
	}
	checkDedupTable(t, &tb)
	for k, want := range model {
		if got, ok := tb.get(k); !ok || got != want {
			t.Fatalf("at the end: get %v = %d, %v; want %d", k, got, ok, want)
		}
	}
}

// The table against a Go map, over random sequences of operations on key
// spaces small enough that keys come back again and again: in long
// clusters, or spread over every shard.
func TestDedupTableModel(t *testing.T) {
	for _, tc := range []struct {
		name  string
		space int
		key   func(v int) dedupKey
	}{
		{"clustered 16", 16, func(v int) dedupKey { return clusteredKey(uint16(v)) }},
		{"clustered 300", 300, func(v int) dedupKey { return clusteredKey(uint16(v * 53)) }},
		{"clustered all", 1 << 14, func(v int) dedupKey { return clusteredKey(uint16(v)) }},
		{"random 5000", 5000, func(v int) dedupKey { return randKey(uint64(v)) }},
		{"random 100000", 100000, func(v int) dedupKey { return randKey(uint64(v)) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for seed := range uint64(3) {
				r := rand.New(rand.NewPCG(seed, uint64(tc.space)))
				n := 200000
				if tc.space == 1<<14 {
					n = 20000 // clusters thousands long: slow probes
				}
				runTableModel(t, n, n/20, func(int) (int, dedupKey) {
					return r.IntN(6), tc.key(r.IntN(tc.space))
				})
			}
		})
	}
}

// FuzzDedupTable drives the model of TestDedupTableModel from the input:
// two bytes an op, the first's top bits choosing it, the other 14 bits the
// clustered key.
func FuzzDedupTable(f *testing.F) {
	// Five keys with home 1, then the first deleted: the rest shift back.
	f.Add([]byte{0, 0x02, 0, 0x12, 0, 0x22, 0, 0x32, 0, 0x42, 0x80, 0x02, 0xc0, 0x12})
	// Seven (the shard grows), one deleted inside the cluster, one more.
	f.Add([]byte{0, 0x02, 0, 0x12, 0, 0x22, 0, 0x32, 0, 0x42, 0, 0x52, 0, 0x62, 0x80, 0x32, 0, 0x72})
	// A cluster across the end of the array, its first deleted.
	f.Add([]byte{0, 0x0e, 0, 0x1e, 0, 0x2e, 0, 0x3e, 0x80, 0x0e, 0xc0, 0x3e})
	f.Fuzz(func(t *testing.T, in []byte) {
		// Probes in the clustered keys' long clusters are slow: a few
		// thousand ops say all there is to say.
		in = in[:min(len(in), 8192)]
		runTableModel(t, len(in)/2, 16, func(i int) (int, dedupKey) {
			v := uint16(in[2*i])<<8 | uint16(in[2*i+1])
			return int(v>>14) * 2, clusteredKey(v & (1<<14 - 1)) // kinds 0, 2, 4, 6: insert, insert, delete, get
		})
	})
}

func TestClusteredKeysAreDistinct(t *testing.T) {
	seen := map[dedupKey]uint16{}
	for v := range uint16(1 << 14) {
		k := clusteredKey(v)
		if k.a == 0 {
			t.Fatalf("clusteredKey(%d) is the empty key", v)
		}
		if w, dup := seen[k]; dup {
			t.Fatalf("clusteredKey(%d) = clusteredKey(%d)", v, w)
		}
		seen[k] = v
	}
}
