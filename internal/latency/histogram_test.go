package latency

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
	var h Histogram
	var sample []time.Duration
	for range 100000 {
		// A long-tailed mix: most around 80 µs, some up to 50 ms.
		d := time.Duration(60_000 + r.ExpFloat64()*20_000)
		if r.IntN(100) == 0 {
			d = time.Duration(r.Int64N(int64(50 * time.Millisecond)))
		}
		h.Record(d)
		sample = append(sample, d)
	}
	slices.Sort(sample)
	for _, q := range []float64{0.5, 0.9, 0.99, 0.999, 1} {
		idx := int(float64(len(sample))*q+0.999999) - 1
		want := sample[idx]
		got := h.Quantile(q)
		if diff := float64(got-want) / float64(want); diff > 0.02 || diff < -0.02 {
			t.Errorf("Quantile(%v) = %v, exact %v (%.2f%% off)", q, got, want, 100*diff)
		}
	}
}

func TestQuantilesAreClampedToTheValuesSeen(t *testing.T) {
	tests := []struct {
		name     string
		values   []time.Duration
		min, max time.Duration
	}{
		{"one value", []time.Duration{1234567}, 1234567, 1234567},
		{"exact small values", []time.Duration{7, 90, 127}, 7, 127},
		{"a wide spread", []time.Duration{1500, 2 * time.Second, 40 * time.Millisecond}, 1500, 2 * time.Second},
		{"negative counts as zero", []time.Duration{-5, 3}, 0, 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var h Histogram
			for _, v := range tc.values {
				h.Record(v)
			}
			if got := h.Quantile(0.0001); got != tc.min {
				t.Errorf("lowest quantile = %v, want the minimum %v", got, tc.min)
			}
			if got := h.Quantile(1); got != tc.max {
				t.Errorf("Quantile(1) = %v, want the maximum %v", got, tc.max)
			}
		})
	}
}

func TestMergeEqualsRecordingIntoOne(t *testing.T) {
	var a, b, all, empty Histogram
	for i := range 1000 {
		d := time.Duration(i*i+1) * time.Microsecond
		if i%2 == 0 {
			a.Record(d)
		} else {
			b.Record(d)
		}
		all.Record(d)
	}
	empty.Merge(&a) // into a zero Histogram: its minimum must come from a
	empty.Merge(&b)
	a.Merge(&b)
	for _, got := range []*Histogram{&a, &empty} {
		for _, q := range []float64{0.0001, 0.5, 0.99, 1} {
			if got.Count() != all.Count() || got.Quantile(q) != all.Quantile(q) {
				t.Fatalf("merged: n=%d Quantile(%v)=%v; direct: n=%d %v", got.Count(), q, got.Quantile(q), all.Count(), all.Quantile(q))
			}
		}
	}
}

func TestEmptyHistogramReportsZero(t *testing.T) {
	var h Histogram
	h.Merge(nil)
	h.Merge(&Histogram{})
	if p50, p90, p99, p999 := h.Micros(); h.Count() != 0 || p50 != 0 || p90 != 0 || p99 != 0 || p999 != 0 {
		t.Fatalf("empty histogram: n=%d micros %v %v %v %v, want zeros", h.Count(), p50, p90, p99, p999)
	}
}

func TestMicrosReadsTheFourQuantiles(t *testing.T) {
	var h Histogram
	for i := 1; i <= 1000; i++ {
		h.Record(time.Duration(i) * time.Microsecond)
	}
	p50, p90, p99, p999 := h.Micros()
	for _, c := range []struct {
		name      string
		got, want float64
	}{{"p50", p50, 500}, {"p90", p90, 900}, {"p99", p99, 990}, {"p99.9", p999, 999}} {
		if d := (c.got - c.want) / c.want; d > 0.02 || d < -0.02 {
			t.Errorf("%s = %.1f µs, want about %.0f", c.name, c.got, c.want)
		}
	}
}

// BenchmarkRecord is the cost a load generator pays per event measured.
func BenchmarkRecord(b *testing.B) {
	var h Histogram
	d := 150 * time.Microsecond
	for i := 0; b.Loop(); i++ {
		h.Record(d + time.Duration(i&1023))
	}
}
