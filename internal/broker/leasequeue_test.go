package broker

import (
	"math/rand/v2"
	"testing"
)

// The lease queue against a map of live deadlines: random pushes (of
// deadlines in order), drops (acks, in any order) and pops of the front,
// with the front's liveness, the live count and the queue's bound checked
// after each step. For the first half one lease is held, as a slow
// consumer's would be, so the front cannot move past it: only compaction
// keeps the acked leases behind it from piling up.
func TestLeaseQueueAgreesWithAMap(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	var q leaseQueue
	want := map[*entry]int64{}
	var at int64
	held := &entry{offset: -1}
	q.push(held, at)
	want[held] = at
	var live []*entry // the entries of want but held, for picking one
	maxLen := 0
	check := func(step int, pushed bool) {
		t.Helper()
		if q.live != len(want) {
			t.Fatalf("step %d: %d live, want %d", step, q.live, len(want))
		}
		if q.len() > 0 && !q.front().isLive() {
			t.Fatalf("step %d: the front is stale", step)
		}
		// Compaction runs at a push: acks since then may have left more.
		if pushed && q.len() > 2*q.live+1024 {
			t.Fatalf("step %d: %d items for %d live ones", step, q.len(), q.live)
		}
		maxLen = max(maxLen, q.len())
	}
	pops := 0
	for step := range 200_000 {
		if step == 100_000 {
			q.drop(held)
			delete(want, held)
		}
		op := rng.IntN(10)
		switch {
		case op < 5: // a lease
			at += rng.Int64N(3)
			e := &entry{offset: int64(step)}
			q.push(e, at)
			want[e] = at
			live = append(live, e)
		case op < 9 && len(live) > 0: // an ack, mostly of an early lease
			i := min(rng.IntN(len(live)), rng.IntN(len(live)))
			e := live[i]
			live = append(live[:i], live[i+1:]...)
			q.drop(e)
			delete(want, e)
		case op == 9 && q.len() > 0 && q.front().e != held: // expiry of the earliest
			front := q.front().at
			for _, at := range want {
				if at < front {
					t.Fatalf("step %d: the front is at %d, but a live lease is at %d", step, front, at)
				}
			}
			it := q.pop()
			if want[it.e] != it.at || it.e.leaseSeq != 0 {
				t.Fatalf("step %d: popped a lease at %d, want %d, and cleared", step, it.at, want[it.e])
			}
			delete(want, it.e)
			pops++
			for i, e := range live {
				if e == it.e {
					live = append(live[:i], live[i+1:]...)
					break
				}
			}
		}
		check(step, op < 5)
	}
	for q.len() > 0 {
		q.pop()
	}
	if q.live != 0 || len(want) != len(live) {
		t.Fatalf("after draining: %d live, want %d", q.live, len(live))
	}
	if pops < 1000 {
		t.Fatalf("only %d expiries", pops)
	}
	if maxLen < 1024 {
		t.Fatalf("the queue never grew past %d items: the test did not reach compaction", maxLen)
	}
}
