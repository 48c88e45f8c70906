package main

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestBucketRangeContainsEveryValueMappedToIt(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	values := []uint64{0, 1, 127, 128, 129, 255, 256, 1000, 1 << 40, 1<<63 - 1, 1 << 63, 1<<64 - 1}
	for range 10000 {
		values = append(values, r.Uint64()>>r.IntN(64))
	}
	for _, v := range values {
		i := bucketOf(v)
		if i < 0 || i >= bucketCount {
			t.Fatalf("bucketOf(%d) = %d, outside [0, %d)", v, i, bucketCount)
		}
		lo, hi := bucketRange(i)
		if v < lo || v > hi {
			t.Fatalf("bucketOf(%d) = %d whose range is [%d, %d]", v, i, lo, hi)
		}
		if hi-lo > lo/halfSub+1 && lo >= 1<<subBits {
			t.Fatalf("bucket %d [%d, %d] is wider than 1/%d of its value", i, lo, hi, halfSub)
		}
	}
}

func TestBucketsAreContiguous(t *testing.T) {
	_, prevHi := bucketRange(0)
	for i := 1; i < bucketCount; i++ {
		lo, hi := bucketRange(i)
		if lo != prevHi+1 {
			t.Fatalf("bucket %d starts at %d, want %d", i, lo, prevHi+1)
		}
		if hi == 1<<64-1 {
			return
		}
		prevHi = hi
	}
	t.Fatal("buckets end before the largest uint64")
}

func TestQuantilesMatchASortedSampleWithinBucketWidth(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	h := newHistogram()
	var sample []time.Duration
	for range 100000 {
		// A long-tailed mix: most around 80 µs, some up to 50 ms.
		d := time.Duration(60_000 + r.ExpFloat64()*20_000)
		if r.IntN(100) == 0 {
			d = time.Duration(r.Int64N(int64(50 * time.Millisecond)))
		}
		h.record(d)
		sample = append(sample, d)
	}
	slices.Sort(sample)
	for _, q := range []float64{0.5, 0.9, 0.99, 0.999, 1} {
		idx := int(float64(len(sample))*q+0.999999) - 1
		want := sample[idx]
		got := h.quantile(q)
		if diff := float64(got-want) / float64(want); diff > 0.02 || diff < -0.02 {
			t.Errorf("quantile(%v) = %v, exact %v (%.2f%% off)", q, got, want, 100*diff)
		}
	}
}

func TestMergeEqualsRecordingIntoOne(t *testing.T) {
	a, b, all := newHistogram(), newHistogram(), newHistogram()
	for i := range 1000 {
		d := time.Duration(i*i) * time.Microsecond
		if i%2 == 0 {
			a.record(d)
		} else {
			b.record(d)
		}
		all.record(d)
	}
	a.merge(b)
	if a.count() != all.count() || a.quantile(0.99) != all.quantile(0.99) || a.mean() != all.mean() {
		t.Fatalf("merged: n=%d p99=%v mean=%v; direct: n=%d p99=%v mean=%v",
			a.count(), a.quantile(0.99), a.mean(), all.count(), all.quantile(0.99), all.mean())
	}
}

func TestEmptyHistogramReportsZero(t *testing.T) {
	h := newHistogram()
	if h.quantile(0.5) != 0 || h.mean() != 0 {
		t.Fatal("empty histogram should report zero")
	}
}
