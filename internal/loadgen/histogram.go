package loadgen

import (
	"slices"
	"sync"
	"time"
)

// latencies collects samples from many goroutines; percentiles sort them.
// Exact (no buckets): a run holds at most a few million samples.
type latencies struct {
	mu      sync.Mutex
	samples []time.Duration
}

func (l *latencies) addAll(ds []time.Duration) {
	l.mu.Lock()
	l.samples = append(l.samples, ds...)
	l.mu.Unlock()
}

// percentiles returns p50, p90, p99, p99.9 in microseconds.
func (l *latencies) percentiles() (p50, p90, p99, p999 float64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.samples) == 0 {
		return
	}
	slices.Sort(l.samples)
	at := func(q float64) float64 {
		i := int(q * float64(len(l.samples)-1))
		return float64(l.samples[i]) / float64(time.Microsecond)
	}
	return at(0.50), at(0.90), at(0.99), at(0.999)
}
