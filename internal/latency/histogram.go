// Package latency records latencies in a histogram of fixed size, for the
// load generator (herald bench) and the side-by-side harness (bench/).
//
// Why a histogram and not the samples: a load generator records a latency
// per event, hundreds of thousands a second, on the same cores as the
// system it measures. Keeping every sample grows a slice to megabytes,
// and each growth copies it and touches fresh pages (page faults cost
// 11–23 µs each on the project's VM); sorting them at the end costs more.
// A histogram costs a few nanoseconds per record and nothing else. Both of
// Herald's load generators record the same way, so neither system in a
// side-by-side row pays more to be measured than the other.
package latency

import (
	"math"
	"math/bits"
	"time"
)

// Histogram counts latencies in log-linear buckets, the way HDR histograms
// do: values below 2^subBits nanoseconds have a bucket each, and every
// power-of-two range above that is cut into 2^(subBits-1) equal buckets. A
// quantile read back is therefore within 1/64 (1.6 %) of the true value,
// whatever its magnitude, in a fixed 30 KB of memory and no allocation per
// record.
//
// The zero value is an empty histogram ready to use. A Histogram is not
// safe for concurrent use: give each goroutine its own and merge them when
// the goroutines are done.
type Histogram struct {
	counts [bucketCount]uint64
	n      uint64
	min    uint64
	max    uint64
}

const (
	subBits     = 7                            // 2^7 = 128 exact buckets at the bottom
	halfSub     = 1 << (subBits - 1)           // 64 buckets per power of two above them
	bucketCount = (64 - subBits + 2) * halfSub // the last bucket ends at 2^64-1
)

// bucketOf maps a value to its bucket index.
//
//	v < 128:                    index v
//	v in [2^k, 2^(k+1)), k ≥ 7: index (k-5)*64 + (v >> (k-6)) - 64
//
// so each power of two above 127 gets 64 buckets of width 2^(k-6).
func bucketOf(v uint64) int {
	if v < 1<<subBits {
		return int(v)
	}
	k := bits.Len64(v) - 1 // 2^k ≤ v < 2^(k+1)
	shift := k - (subBits - 1)
	return (k-subBits+2)*halfSub + int(v>>shift) - halfSub
}

// bucketRange returns the smallest and largest value that map to index i.
func bucketRange(i int) (lo, hi uint64) {
	if i < 1<<subBits {
		return uint64(i), uint64(i)
	}
	k := i/halfSub + subBits - 2
	shift := k - (subBits - 1)
	top := uint64(i%halfSub + halfSub) // the value's top subBits-1 bits
	lo = top << shift
	return lo, lo + (1 << shift) - 1
}

// Record adds one latency; a negative duration counts as zero.
func (h *Histogram) Record(d time.Duration) {
	v := uint64(0)
	if d > 0 {
		v = uint64(d)
	}
	h.counts[bucketOf(v)]++
	if h.n == 0 {
		h.min, h.max = v, v
	}
	h.n++
	h.min = min(h.min, v)
	h.max = max(h.max, v)
}

// Merge adds every count of o into h.
func (h *Histogram) Merge(o *Histogram) {
	if o == nil || o.n == 0 {
		return
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	if h.n == 0 {
		h.min, h.max = o.min, o.max
	}
	h.n += o.n
	h.min = min(h.min, o.min)
	h.max = max(h.max, o.max)
}

// Count is the number of latencies recorded.
func (h *Histogram) Count() uint64 { return h.n }

// Quantile returns the latency at quantile q (0 < q ≤ 1): the smallest
// recorded value v such that at least q of all values are ≤ v, to within
// the bucket width. It reports the middle of the bucket, clamped to the
// exact minimum and maximum seen, and 0 for an empty histogram.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	rank = max(rank, 1)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			lo, hi := bucketRange(i)
			v := lo + (hi-lo)/2
			return time.Duration(min(max(v, h.min), h.max))
		}
	}
	return time.Duration(h.max)
}

// Micros returns the p50, p90, p99 and p99.9 latencies in microseconds, as
// the load generators' summaries print them.
func (h *Histogram) Micros() (p50, p90, p99, p999 float64) {
	us := func(q float64) float64 { return float64(h.Quantile(q)) / float64(time.Microsecond) }
	return us(0.50), us(0.90), us(0.99), us(0.999)
}
