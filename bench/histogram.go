package main

import (
	"math"
	"math/bits"
	"time"
)

// histogram counts latencies in log-linear buckets, the way HDR histograms
// do: values below 2^subBits nanoseconds have a bucket each, and every
// power-of-two range above that is cut into 2^(subBits-1) equal buckets. A
// quantile read back is therefore within 1/64 (1.6 %) of the true value,
// whatever its magnitude, in a fixed 30 KB of memory and no allocation per
// record.
//
// A histogram is not safe for concurrent use: give each goroutine its own
// and merge them when the goroutines are done.
type histogram struct {
	counts [bucketCount]uint64
	n      uint64
	sum    float64 // nanoseconds, for the mean
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

func newHistogram() *histogram { return &histogram{min: math.MaxUint64} }

// record adds one latency; negative durations count as zero.
func (h *histogram) record(d time.Duration) {
	v := uint64(0)
	if d > 0 {
		v = uint64(d)
	}
	h.counts[bucketOf(v)]++
	h.n++
	h.sum += float64(v)
	h.min = min(h.min, v)
	h.max = max(h.max, v)
}

// merge adds every count of o into h.
func (h *histogram) merge(o *histogram) {
	if o == nil || o.n == 0 {
		return
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
	h.sum += o.sum
	h.min = min(h.min, o.min)
	h.max = max(h.max, o.max)
}

// count is the number of values recorded.
func (h *histogram) count() uint64 { return h.n }

// quantile returns the value at quantile q (0 < q ≤ 1): the smallest
// recorded value v such that at least q of all values are ≤ v, to within
// the bucket width. It reports the middle of the bucket, clamped to the
// exact minimum and maximum seen, and 0 for an empty histogram.
func (h *histogram) quantile(q float64) time.Duration {
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

// mean is the exact arithmetic mean of the recorded values.
func (h *histogram) mean() time.Duration {
	if h.n == 0 {
		return 0
	}
	return time.Duration(h.sum / float64(h.n))
}
