package gcpolicy

import (
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestPercentFallsFromFourHundredToTheDefaultAsTheLiveHeapGrows(t *testing.T) {
	const mib = 1 << 20
	tests := []struct {
		live uint64
		want int
	}{
		{0, 400},
		{2 * mib, 400},
		{4 * mib, 400},
		{5 * mib, 320},
		{8 * mib, 200},
		{12 * mib, 133},
		{16 * mib, 100},
		{64 * mib, 100},
		{8192 * mib, 100},
	}
	for _, tt := range tests {
		if got := Percent(tt.live); got != tt.want {
			t.Errorf("Percent(%d MiB) = %d, want %d", tt.live/mib, got, tt.want)
		}
	}
}

// gogc reads the GC percentage in force.
func gogc() int {
	p := debug.SetGCPercent(100)
	debug.SetGCPercent(p)
	return p
}

func TestStartLeavesAnOperatorsGOGCAlone(t *testing.T) {
	before := gogc()
	p := Start(func(k string) string {
		if k == "GOGC" {
			return "50"
		}
		return ""
	})
	if p != nil || gogc() != before {
		t.Fatalf("Start with GOGC set: policy %v, GOGC %d -> %d; want no policy and no change", p, before, gogc())
	}
	p.Stop() // a nil policy stops quietly
}

// The policy retunes after collections: a live heap over the headroom
// brings GOGC down to 100, and it goes back up once that heap is garbage.
func TestPolicyRetunesAfterCollections(t *testing.T) {
	const headroom = 32 << 20
	p := start(headroom)
	defer p.Stop()
	if p.Percent() != MaxPercent || gogc() != MaxPercent {
		t.Fatalf("small heap: policy %d, GOGC %d; want %d", p.Percent(), gogc(), MaxPercent)
	}
	live := make([]byte, 3*headroom)
	waitFor(t, p, MinPercent)
	runtime.KeepAlive(live)
	live = nil
	waitFor(t, p, MaxPercent)

	p.Stop()
	if gogc() != MinPercent {
		t.Fatalf("after Stop GOGC is %d, want %d", gogc(), MinPercent)
	}
	runtime.GC()
	runtime.GC()
	if gogc() != MinPercent {
		t.Fatalf("a stopped policy retuned GOGC to %d", gogc())
	}
}

// waitFor collects until the policy has set want, for at most 10 s.
func waitFor(t *testing.T, p *Policy, want int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for p.Percent() != want || gogc() != want {
		if time.Now().After(deadline) {
			t.Fatalf("policy %d, GOGC %d after 10 s of collections; want %d", p.Percent(), gogc(), want)
		}
		runtime.GC()
		runtime.Gosched()
	}
}

func TestStartTouchesAQuarterOfASmallMemoryLimitAtMost(t *testing.T) {
	const mib = 1 << 20
	tests := []struct {
		limit int64
		want  int
	}{
		{math.MaxInt64, MaxHeadroom}, // no GOMEMLIMIT
		{1 << 30, MaxHeadroom},
		{64 * mib, MaxHeadroom},
		{32 * mib, 8 * mib},
		{4 * mib, 1 * mib},
		{0, 0},
	}
	for _, tt := range tests {
		if got := pretouchBytes(tt.limit); got != tt.want {
			t.Errorf("pretouchBytes(%d MiB) = %d MiB, want %d", tt.limit/mib, got/mib, tt.want/mib)
		}
	}
}

// Pretouch leaves its bytes in the heap as free pages that are resident:
// the runtime counts them free and not returned to the system, and (where
// /proc tells) the process's resident memory grew by as much, which only
// writing to each page does.
func TestPretouchLeavesTouchedPagesInTheHeap(t *testing.T) {
	const n = 16 << 20
	debug.FreeOSMemory() // as a fresh process: nothing free and resident
	free, rss := heapFree(t), resident()
	Pretouch(n)
	if got := heapFree(t) - free; got < n/2 {
		t.Errorf("the heap's free, unreleased bytes grew by %d MiB, want about %d", got>>20, n>>20)
	}
	if rss > 0 {
		if got := resident() - rss; got < n/2 {
			t.Errorf("resident memory grew by %d MiB, want about %d: the pages were not touched", got>>20, n>>20)
		}
	}
}

// heapFree is the runtime's count of heap bytes that are free and still
// backed by memory.
func heapFree(t *testing.T) int64 {
	t.Helper()
	s := []metrics.Sample{{Name: "/memory/classes/heap/free:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		t.Skip("this Go does not report /memory/classes/heap/free:bytes")
	}
	return int64(s[0].Value.Uint64())
}

// resident is the process's resident memory from /proc/self/statm, 0
// where there is none.
func resident() int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0
	}
	pages, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil {
		return 0
	}
	return pages * int64(os.Getpagesize())
}
