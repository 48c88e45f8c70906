package commitlog

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/vfs"
)

// Benchmarks for the storage hot paths. docs/PERFORMANCE.md records their
// medians and the command that produced them.

func benchRecords(batch, size int) []Record {
	recs := make([]Record, batch)
	now := time.Now().UnixNano()
	for i := range recs {
		recs[i] = Record{Timestamp: now, Key: []byte("user-42"), Value: make([]byte, size)}
	}
	return recs
}

// BenchmarkAppend: 4 concurrent appenders (as a server under load has),
// so group commit coalesces their batches. One op is one batch.
func BenchmarkAppend(b *testing.B) {
	for _, policy := range []SyncPolicy{SyncAlways, SyncInterval, SyncNone} {
		for _, batch := range []int{1, 100, 1000} {
			for _, size := range []int{128, 1024} {
				name := fmt.Sprintf("sync=%s/batch=%d/size=%d", policy, batch, size)
				b.Run(name, func(b *testing.B) {
					l, err := Open(b.TempDir(), Options{Sync: policy})
					if err != nil {
						b.Fatal(err)
					}
					defer l.Close()
					b.SetBytes(int64(batch * size))
					b.SetParallelism(2) // 2 × GOMAXPROCS appenders
					b.ResetTimer()
					start := time.Now()
					b.RunParallel(func(pb *testing.PB) {
						recs := benchRecords(batch, size)
						for pb.Next() {
							if _, err := l.Append(context.Background(), recs); err != nil {
								b.Error(err)
								return
							}
						}
					})
					b.ReportMetric(float64(b.N*batch)/time.Since(start).Seconds(), "records/s")
				})
			}
		}
	}
}

// BenchmarkAppendLatency: one appender, one record per append, SyncAlways.
// ns/op is the latency an acknowledged single publish pays; compare it with
// BenchmarkWriteFsync4KiB on the same disk.
func BenchmarkAppendLatency(b *testing.B) {
	l, err := Open(b.TempDir(), Options{Sync: SyncAlways})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	recs := benchRecords(1, 128)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := l.Append(context.Background(), recs); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkWriteFsync4KiB is the floor the disk sets: append 4 KiB to a
// file and make it durable, with fdatasync (what the log uses) and with
// fsync.
func BenchmarkWriteFsync4KiB(b *testing.B) {
	for _, mode := range []string{"fdatasync", "fsync"} {
		b.Run(mode, func(b *testing.B) {
			f, err := os.OpenFile(filepath.Join(b.TempDir(), "f"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			vf := fileSync(f, mode)
			buf := make([]byte, 4096)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := f.Write(buf); err != nil {
					b.Fatal(err)
				}
				if err := vf(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func fileSync(f *os.File, mode string) func() error {
	if mode == "fsync" {
		return f.Sync
	}
	vf, err := vfs.OS.OpenFile(f.Name(), os.O_WRONLY, 0)
	if err != nil {
		panic(err)
	}
	return vf.Sync
}

// BenchmarkReadSequential reads a 128 B-record log front to back, 1 MiB
// per call. One op is one record.
func BenchmarkReadSequential(b *testing.B) {
	l, err := Open(b.TempDir(), Options{Sync: SyncNone})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	recs := benchRecords(1000, 128)
	for l.Next() < int64(b.N) {
		if _, err := l.Append(context.Background(), recs); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(128)
	b.ResetTimer()
	var buf []Record
	for off := int64(0); off < int64(b.N); {
		buf, err = l.ReadInto(buf[:0], off, 1<<20)
		if err != nil {
			b.Fatal(err)
		}
		off += int64(len(buf))
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkReopen1GiB: reopen a 1 GiB log whose last segment ends in a
// torn batch, as after a crash. One op is one Open (recovery included).
func BenchmarkReopen1GiB(b *testing.B) {
	dir := b.TempDir()
	l, err := Open(dir, Options{Sync: SyncNone})
	if err != nil {
		b.Fatal(err)
	}
	recs := benchRecords(1000, 1024)
	for l.Size() < 1<<30 {
		if _, err := l.Append(context.Background(), recs); err != nil {
			b.Fatal(err)
		}
	}
	// Leave the active segment half full and end it with a torn batch.
	for l.Size()%DefaultSegmentBytes < DefaultSegmentBytes/2 {
		if _, err := l.Append(context.Background(), recs); err != nil {
			b.Fatal(err)
		}
	}
	next := l.Next()
	l.Close()
	torn, _ := encodeBatch(nil, recs)
	last := filepath.Join(dir, segmentName(lastBase(b, dir))+logSuffix)
	f, err := os.OpenFile(last, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		putBaseOffset(torn, next)
		f.Write(torn[:len(torn)/2])
		b.StartTimer()
		l, err := Open(dir, Options{})
		if err != nil {
			b.Fatal(err)
		}
		if l.Next() != next || l.Recovery().TruncatedBytes == 0 {
			b.Fatalf("recovery: next %d want %d, report %+v", l.Next(), next, l.Recovery())
		}
		b.StopTimer()
		l.Close()
		b.StartTimer()
	}
	f.Close()
}

func lastBase(b *testing.B, dir string) int64 {
	entries, _ := os.ReadDir(dir)
	var last int64
	for _, e := range entries {
		if base, ok := parseSegmentName(e.Name()); ok && base > last {
			last = base
		}
	}
	return last
}
