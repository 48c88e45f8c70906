package loadgen

import (
	"sync"

	"github.com/heraldhq/herald/internal/latency"
)

// latencies gathers the latency histograms of many goroutines: each
// records into its own (no lock, no allocation per event) and adds it here
// when it is done, as bench/ gathers its peers' consumers' and producers'.
// Until 2026-11-30 it kept every sample, and a ten-subscription run spent a
// third of the bench process's CPU growing, copying and sorting them.
type latencies struct {
	mu sync.Mutex
	h  latency.Histogram
}

// add merges h into l.
func (l *latencies) add(h *latency.Histogram) {
	l.mu.Lock()
	l.h.Merge(h)
	l.mu.Unlock()
}

// percentiles returns p50, p90, p99 and p99.9 in microseconds, to within
// the histogram's 1/64 of each value.
func (l *latencies) percentiles() (p50, p90, p99, p999 float64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.h.Micros()
}
