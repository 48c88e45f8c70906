package broker

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// The timer heap against a plain list: random sets (new and moved),
// clears and pops of the earliest, with every entry's recorded place
// checked after each step.
func TestTimerHeap(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var h timerHeap
	entries := make([]*entry, 50)
	for i := range entries {
		entries[i] = &entry{offset: int64(i)}
	}
	want := map[[2]int]int64{} // (entry, kind) -> time
	check := func(step int) {
		t.Helper()
		if len(h) != len(want) {
			t.Fatalf("step %d: heap holds %d timers, want %d", step, len(h), len(want))
		}
		for i, it := range h {
			if it.e.timerPos[it.kind] != i+1 {
				t.Fatalf("step %d: item %d records place %d", step, i, it.e.timerPos[it.kind])
			}
			if p := (i - 1) / 2; i > 0 && h[p].at > it.at {
				t.Fatalf("step %d: item %d (at %d) under a later parent (at %d)", step, i, it.at, h[p].at)
			}
			if want[[2]int{int(it.e.offset), it.kind}] != it.at {
				t.Fatalf("step %d: item %d at %d, want %d", step, i, it.at, want[[2]int{int(it.e.offset), it.kind}])
			}
		}
	}
	for step := range 20000 {
		e := entries[rng.IntN(len(entries))]
		kind := rng.IntN(timerKinds)
		k := [2]int{int(e.offset), kind}
		switch op := rng.IntN(4); {
		case op <= 1: // set (push or move)
			at := rng.Int64N(1000)
			if pos := e.timerPos[kind]; pos > 0 {
				h[pos-1].at = at
				h.fix(pos - 1)
			} else {
				h.push(timerItem{at: at, e: e, kind: kind})
			}
			want[k] = at
		case op == 2: // clear
			if pos := e.timerPos[kind]; pos > 0 {
				it := h.remove(pos - 1)
				if it.e != e || it.kind != kind || e.timerPos[kind] != 0 {
					t.Fatalf("step %d: removed the wrong item", step)
				}
				delete(want, k)
			}
		default: // pop the earliest
			if len(h) == 0 {
				continue
			}
			var times []int64
			for _, at := range want {
				times = append(times, at)
			}
			it := h.remove(0)
			if it.at != slices.Min(times) {
				t.Fatalf("step %d: popped %d, the earliest is %d", step, it.at, slices.Min(times))
			}
			delete(want, [2]int{int(it.e.offset), it.kind})
		}
		check(step)
	}
}
