// Package gcpolicy is the garbage-collection policy of the Herald server.
//
// A broker's live heap is small (a few megabytes of buffers and indexes)
// while it allocates hundreds of megabytes a second (frames, decoded
// events, batches). Under Go's default, GOGC=100, the collector then runs
// every few milliseconds, and each cycle's pauses and mark assists land
// in the latency of whatever request is running: at 50,000 events/s the
// end-to-end p99 fell from 5.3–8.9 ms to 3.9–4.5 ms with the server at
// GOGC=400 (docs/PERFORMANCE.md). A fixed GOGC=400 would also let a
// growing live heap (the dedup index holds a key per event of its window)
// pull the process's memory up to five times its size, so the policy
// adapts after every cycle: GOGC=400 while that costs at most MaxHeadroom
// of garbage, less as the live heap grows, and never under Go's default
// of 100.
//
// The headroom is memory the process touches for the first time as the
// heap grows, and each first touch of a page is a page fault: on the
// 2-vCPU VM of 2026-11-30 one costs 11–23 µs, more than the collections
// a larger headroom saves. With 1 GiB of headroom (the policy until then)
// the server faulted 42,000 times in a consume run of 300,000 events,
// with 64 MiB 26,000 times, and the run went 272,556 → 315,049 events/s
// (4 pairs). A 16 MiB headroom (the fifteenth session) then consumed
// 33% faster than 64 MiB (236,523 → 315,703 events/s, 6 of 6 pairs),
// published 7–10% faster with four producers, delivered the fan-out 7%
// faster and cut the end-to-end p99 from 115 to 90 ms on that VM; one
// producer's publish and a synchronous publish were level
// (docs/performance-history.md, "Changes after the 12:09 run"). A heap
// under 4 MiB live, as an idle or lightly loaded server's is, still
// collects at GOGC=400. An end-to-end run's live heap (6–19 MiB) now gets
// 100–266, not 400: on that VM its p99 fell with the change; on the
// previous one, where the first paragraph's 400 was measured, it was not
// measured again.
package gcpolicy

import (
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"sync/atomic"
)

const (
	// MaxPercent is the GOGC of a small live heap.
	MaxPercent = 400
	// MinPercent is Go's default, which a large live heap gets.
	MinPercent = 100
	// MaxHeadroom bounds the garbage a heap may gather beyond its live
	// bytes before a cycle, while the percentage is above MinPercent:
	// GOGC is 400 up to a live heap of 4 MiB and 100 from 16 MiB.
	MaxHeadroom = 16 << 20
)

// Percent is the GOGC the policy sets for a live heap of live bytes.
func Percent(live uint64) int { return percent(live, MaxHeadroom) }

func percent(live, headroom uint64) int {
	if live == 0 {
		return MaxPercent
	}
	return int(min(max(headroom*100/live, MinPercent), MaxPercent))
}

// Policy is a running policy; Stop ends it.
type Policy struct {
	headroom uint64
	stopped  atomic.Bool
	sample   []metrics.Sample
	mu       sync.Mutex // one tune at a time: cleanups may run concurrently
	percent  atomic.Int64
}

// Start applies the policy unless getenv("GOGC") is set, which is the
// operator's choice and is left alone; it returns nil then. It also
// touches the headroom once (Pretouch), so the first events a fresh
// process handles do not pay its page faults.
func Start(getenv func(string) string) *Policy {
	if getenv("GOGC") != "" {
		return nil
	}
	// Before start: a collection while the 16 MiB are still live would
	// tune the policy for a 16 MiB live heap (GOGC 100) until the next.
	Pretouch(pretouchBytes(debug.SetMemoryLimit(-1)))
	return start(MaxHeadroom)
}

// pretouchBytes is how much of the headroom Start touches under a memory
// limit (GOMEMLIMIT; math.MaxInt64 when there is none): all of it, or a
// quarter of a smaller limit, which the runtime would otherwise collect
// and return to the system at once to stay under.
func pretouchBytes(limit int64) int {
	return int(min(MaxHeadroom, limit/4))
}

// Pretouch writes to every page of n bytes of fresh heap and gives them
// back to the heap unreleased, so that the heap's first n bytes of growth
// reuse pages the process has already faulted in.
//
// Why: the policy lets the heap gather up to MaxHeadroom of garbage, and
// a fresh process touches each of those pages for the first time while it
// handles its first events. On the VM of 2026-11-30 a first touch costs
// 11–23 µs (a page fault the hypervisor takes part in): 50–85 ms for
// 16 MiB, spread over the first 20,000–30,000 events a new server
// stores (docs/PERFORMANCE.md, "First touches of memory"). The JVM's
// -XX:+AlwaysPreTouch does the same for a Kafka broker's heap.
//
// The pages stay: the runtime's scavenger returns free pages to the system
// only beyond about 1.1 times the heap in use at the last collection, and
// the collection that frees these still counts them in use.
func Pretouch(n int) {
	if n <= 0 {
		return
	}
	page := os.Getpagesize()
	b := make([]byte, n)
	for i := 0; i < len(b); i += page {
		b[i] = 1
	}
	runtime.KeepAlive(b) // b is dead from here on, so the collection frees it
	runtime.GC()         // b's pages go back to the heap, still backed by memory
}

func start(headroom uint64) *Policy {
	p := &Policy{headroom: headroom, sample: []metrics.Sample{{Name: "/gc/heap/live:bytes"}}}
	p.tune()
	p.arm()
	return p
}

// Percent is the GOGC the policy set last.
func (p *Policy) Percent() int { return int(p.percent.Load()) }

// Stop ends the policy and restores GOGC=100.
func (p *Policy) Stop() {
	if p == nil || p.stopped.Swap(true) {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	debug.SetGCPercent(MinPercent)
	p.percent.Store(MinPercent)
}

// arm makes the next collection call tune: a cleanup runs once its object
// is found unreachable, which is in the cycle after it was allocated.
func (p *Policy) arm() {
	sentinel := new([64]byte)
	runtime.AddCleanup(sentinel, func(p *Policy) {
		if p.stopped.Load() {
			return
		}
		p.tune()
		p.arm()
	}, p)
}

func (p *Policy) tune() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped.Load() {
		return
	}
	metrics.Read(p.sample)
	var live uint64
	if p.sample[0].Value.Kind() == metrics.KindUint64 {
		live = p.sample[0].Value.Uint64()
	}
	pct := percent(live, p.headroom)
	if int64(pct) != p.percent.Load() {
		debug.SetGCPercent(pct)
		p.percent.Store(int64(pct))
	}
}
