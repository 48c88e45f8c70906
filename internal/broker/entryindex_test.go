package broker

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// TestEntryIndexAgreesWithAMap runs random operations shaped like a
// window's on an entryIndex and on a map, and compares them after each:
// entries read forward and settled mostly in order, with some held back
// (deferred, leased long), some added far behind (redriven), and jumps in
// the offsets read (filtered out, deleted by retention).
func TestEntryIndexAgreesWithAMap(t *testing.T) {
	tests := []struct {
		name                     string
		seed                     uint64
		ops                      int
		settleOldest, holdBack   float64 // chances that a settle takes the oldest, that a new entry is held back
		addBehind, jump          float64 // chances that an add is far behind, that the read position jumps
		maxJump, settleWhenAbove int
	}{
		{"in order", 1, 20000, 0.9, 0, 0, 0, 0, 100},
		{"random settles", 2, 20000, 0, 0, 0, 0, 0, 300},
		{"held back", 3, 30000, 0.8, 0.01, 0, 0, 0, 200},
		{"redriven behind", 4, 20000, 0.5, 0, 0.02, 0, 0, 200},
		{"jumps", 5, 20000, 0.5, 0.005, 0.01, 0.01, 100000, 100},
		{"large window", 6, 12000, 0.7, 0.001, 0.001, 0.001, 5000, 2000},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(tc.seed, 7))
			var x entryIndex
			model := map[int64]*entry{}
			var held []int64 // offsets settled only at the end
			next := int64(0)
			peak, sawFar := 0, false
			add := func(off int64) {
				if model[off] != nil {
					return
				}
				e := &entry{offset: off}
				x.put(e)
				model[off] = e
			}
			for i := range tc.ops {
				switch {
				case r.Float64() < tc.addBehind && next > 10:
					add(r.Int64N(next))
				case len(model)-len(held) < tc.settleWhenAbove || r.IntN(2) == 0:
					if r.Float64() < tc.jump {
						next += 1 + r.Int64N(int64(tc.maxJump))
					}
					add(next)
					if r.Float64() < tc.holdBack {
						held = append(held, next)
					}
					next++
				default:
					off := settleable(r, model, held, tc.settleOldest)
					x.del(off)
					delete(model, off)
				}
				peak = max(peak, len(model))
				sawFar = sawFar || len(x.far) > 0
				if i%97 == 0 || i == tc.ops-1 {
					checkIndex(t, &x, model, next)
				}
			}
			for off := range model {
				x.del(off)
				delete(model, off)
			}
			checkIndex(t, &x, model, next)
			x.del(next + 5) // absent: no effect
			checkIndex(t, &x, model, next)
			if (tc.holdBack > 0 || tc.addBehind > 0) && !sawFar {
				t.Error("no entry ever moved to the map: the case does not test it")
			}
			// The ring grew with the live entries, not with the offsets
			// they spread over.
			if limit := 2 * max(minRingSlots, ringDensity*(peak+1)); len(x.slots) > limit {
				t.Errorf("the ring has %d slots for at most %d live entries; want at most %d", len(x.slots), peak, limit)
			}
		})
	}
}

// settleable picks a live offset that is not held back: the lowest with
// chance oldest, else a random one.
func settleable(r *rand.Rand, model map[int64]*entry, held []int64, oldest float64) int64 {
	var offs []int64
	for off := range model {
		if !slices.Contains(held, off) {
			offs = append(offs, off)
		}
	}
	slices.Sort(offs)
	if r.Float64() < oldest {
		return offs[0]
	}
	return offs[r.IntN(len(offs))]
}

func checkIndex(t *testing.T, x *entryIndex, model map[int64]*entry, next int64) {
	t.Helper()
	if n := x.inUse + len(x.far); n != len(model) {
		t.Fatalf("%d entries counted, want %d", n, len(model))
	}
	seen := map[int64]bool{}
	x.each(func(e *entry) {
		if model[e.offset] != e || seen[e.offset] {
			t.Fatalf("each gave offset %d: not live or twice", e.offset)
		}
		seen[e.offset] = true
	})
	if len(seen) != len(model) {
		t.Fatalf("each gave %d entries, want %d", len(seen), len(model))
	}
	for off, e := range model {
		if got := x.get(off); got != e {
			t.Fatalf("get(%d) = %v, want its entry", off, got)
		}
	}
	for _, off := range []int64{-1, next, next + 1, next + 100000} {
		if model[off] == nil && x.get(off) != nil {
			t.Fatalf("get(%d) found an entry that is not live", off)
		}
	}
}
