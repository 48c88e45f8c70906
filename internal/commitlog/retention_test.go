package commitlog

import (
	"context"
	"errors"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/vfs"
)

// fakeClock is a settable clock for roll and retention decisions.
type fakeClock struct{ ns atomic.Int64 }

func (c *fakeClock) now() time.Time { return time.Unix(0, c.ns.Load()) }

func TestRollBySize(t *testing.T) {
	l := openLog(t, "", Options{SegmentBytes: 4096})
	for i := 0; i < 100; i++ {
		mustAppend(t, l, Record{Value: make([]byte, 500)})
	}
	// 500-byte values make ~540-byte batches: 7 fit in 4096 bytes.
	if got, want := l.Segments(), 15; got != want {
		t.Fatalf("segments = %d, want %d", got, want)
	}
}

func TestRollByAge(t *testing.T) {
	l := openLog(t, "", Options{SegmentAge: time.Hour})
	hour := int64(time.Hour)
	for _, ts := range []int64{0, hour / 2, hour - 1, hour, hour + 5, 3 * hour} {
		mustAppend(t, l, Record{Timestamp: ts})
	}
	// Segments start at ts 0, hour, 3*hour.
	if got := l.Segments(); got != 3 {
		t.Fatalf("segments = %d, want 3", got)
	}
}

func TestRetentionByAge(t *testing.T) {
	clock := &fakeClock{}
	l := openLog(t, "", Options{SegmentBytes: 4096, RetentionAge: time.Hour, Now: clock.now})
	hour := int64(time.Hour)
	for i := 0; i < 30; i++ { // old records: timestamps in the first hour
		mustAppend(t, l, Record{Timestamp: int64(i), Value: make([]byte, 500)})
	}
	for i := 0; i < 30; i++ { // new records, two hours later
		mustAppend(t, l, Record{Timestamp: 2*hour + int64(i), Value: make([]byte, 500)})
	}
	clock.ns.Store(2*hour + 100)
	n, err := l.EnforceRetention()
	if err != nil || n == 0 {
		t.Fatalf("EnforceRetention = %d, %v; want segments deleted", n, err)
	}
	earliest := l.Earliest()
	if earliest > 30 || earliest < 25 {
		t.Fatalf("earliest = %d: want every old-only segment gone and the new records kept", earliest)
	}
	_, err = l.Read(0, 100)
	var oor *OutOfRangeError
	if !errors.As(err, &oor) || oor.Earliest != earliest {
		t.Fatalf("Read(0) after retention: %v, want out of range naming earliest %d", err, earliest)
	}
	if got := readAll(t, l, earliest); int64(len(got)) != 60-earliest {
		t.Fatalf("read %d records from earliest, want %d", len(got), 60-earliest)
	}
}

func TestRetentionByBytesKeepsActiveSegment(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, Options{SegmentBytes: 4096, RetentionBytes: 10000})
	for i := 0; i < 200; i++ {
		mustAppend(t, l, Record{Value: make([]byte, 500)})
	}
	if _, err := l.EnforceRetention(); err != nil {
		t.Fatal(err)
	}
	if l.Size() > 10000 {
		t.Fatalf("size %d over the 10000-byte limit", l.Size())
	}
	files, _ := os.ReadDir(dir)
	if want := 2 * l.Segments(); len(files) != want-1 { // .log each, .index for sealed ones
		t.Fatalf("%d files on disk for %d segments: deleted segments left files", len(files), l.Segments())
	}
	// A tiny limit still keeps the active segment.
	l2 := openLog(t, "", Options{SegmentBytes: 4096, RetentionBytes: 1})
	mustAppend(t, l2, Record{Value: make([]byte, 100)})
	l2.EnforceRetention()
	if l2.Next() != 1 || l2.Earliest() != 0 {
		t.Fatal("retention deleted the active segment")
	}
}

// A reader holding a segment that retention deletes finishes its read.
func TestReadDuringRetention(t *testing.T) {
	l := openLog(t, "", Options{SegmentBytes: 4096, RetentionBytes: 4096})
	for i := 0; i < 100; i++ {
		mustAppend(t, l, Record{Value: make([]byte, 500)})
	}
	s, err := l.segmentFor(0)
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := l.EnforceRetention(); n == 0 {
		t.Fatal("nothing deleted")
	}
	recs, err := s.scan(nil, nil, indexEntry{}, func(batchInfo) scanAction { return scanTake }, 0, 1<<20)
	s.release()
	if err != nil || len(recs) == 0 {
		t.Fatalf("read of a deleted-but-held segment: %d records, %v", len(recs), err)
	}
	if _, err := os.Stat(s.logPath); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("segment file not removed after the last reader let go")
	}
}

func TestOffsetForTime(t *testing.T) {
	l := openLog(t, "", Options{SegmentBytes: 4096, IndexIntervalBytes: 128})
	for i := 0; i < 200; i++ { // timestamps 0, 10, 20, ...
		mustAppend(t, l, Record{Timestamp: int64(i) * 10, Value: make([]byte, 50)})
	}
	tests := []struct{ ts, want int64 }{
		{-5, 0}, {0, 0}, {1, 1}, {10, 1}, {995, 100}, {1990, 199}, {1991, 200}, {1 << 60, 200},
	}
	for _, tt := range tests {
		if got, err := l.OffsetForTime(tt.ts); err != nil || got != tt.want {
			t.Errorf("OffsetForTime(%d) = %d, %v; want %d", tt.ts, got, err, tt.want)
		}
	}
}

// Readers running alongside appenders never see a partial batch, a gap or
// a record out of order.
func TestReadWhileWrite(t *testing.T) {
	l := openLog(t, "", Options{SegmentBytes: 16 << 10, Sync: SyncNone})
	const writers, perWriter = 4, 300
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < perWriter; i++ {
				batch := []Record{rec(i, 1), rec(i, 2), rec(i, 3)}
				if _, err := l.Append(context.Background(), batch); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	total := int64(writers * perWriter * 3)
	readErr := make(chan error, 2)
	for r := 0; r < 2; r++ {
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			next := int64(0)
			for next < total {
				if err := l.Wait(ctx, next); err != nil {
					readErr <- err
					return
				}
				recs, err := l.Read(next, 4096)
				if err != nil {
					readErr <- err
					return
				}
				for _, rc := range recs {
					if rc.Offset != next {
						readErr <- errors.New("gap or disorder at offset " + itoa(next))
						return
					}
					if rc.Timestamp != (rc.Offset%3)+1 {
						readErr <- errors.New("a batch was split or mixed at offset " + itoa(rc.Offset))
						return
					}
					next++
				}
			}
			readErr <- nil
		}()
	}
	wg.Wait()
	for r := 0; r < 2; r++ {
		if err := <-readErr; err != nil {
			t.Fatal(err)
		}
	}
}

func TestSyncPolicies(t *testing.T) {
	for _, p := range []SyncPolicy{SyncAlways, SyncInterval, SyncNone} {
		t.Run(p.String(), func(t *testing.T) {
			dir := t.TempDir()
			l, err := Open(dir, Options{Sync: p, SyncInterval: time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			for i := 0; i < 20; i++ {
				mustAppend(t, l, rec(i, int64(i)))
			}
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			l = openLog(t, dir, Options{Sync: p})
			if l.Next() != 20 {
				t.Fatalf("Next = %d after reopen, want 20", l.Next())
			}
		})
	}
	for _, s := range []string{"always", "interval", "none"} {
		if p, err := ParseSyncPolicy(s); err != nil || p.String() != s {
			t.Errorf("ParseSyncPolicy(%q) = %v, %v", s, p, err)
		}
	}
	if _, err := ParseSyncPolicy("sometimes"); err == nil {
		t.Error("ParseSyncPolicy accepted nonsense")
	}
}

// After a failed fsync the log refuses appends (the kernel may have dropped
// the pages, so a later fsync could lie) and reports what happened; a reopen
// verifies the tail and goes on.
func TestFailedSyncStopsTheLog(t *testing.T) {
	dir := t.TempDir()
	fs := vfs.NewFaulty(vfs.OS)
	l, err := Open(dir, Options{FS: fs})
	if err != nil {
		t.Fatal(err)
	}
	mustAppend(t, l, rec(0, 0))
	fs.SetInjector(func(op vfs.Op, _ string) vfs.Fault {
		if op == vfs.OpSync {
			return vfs.Fault{Err: vfs.ErrInjected}
		}
		return vfs.Fault{}
	})
	_, err = l.Append(context.Background(), []Record{rec(1, 1)})
	var failed *FailedError
	if !errors.As(err, &failed) || !errors.Is(err, vfs.ErrInjected) {
		t.Fatalf("append with failing fsync: %v, want FailedError wrapping the fault", err)
	}
	fs.SetInjector(nil)
	if _, err := l.Append(context.Background(), []Record{rec(2, 2)}); !errors.As(err, &failed) {
		t.Fatalf("append after a failed fsync: %v, want the log stopped", err)
	}
	if l.Next() != 1 {
		t.Fatalf("Next = %d: the unacknowledged record became visible", l.Next())
	}
	l.Close()
	l = openLog(t, dir, Options{})
	if base := mustAppend(t, l, rec(3, 3)); base < 1 {
		t.Fatalf("reopened log appended at %d", base)
	}
}

// A full disk (short write) fails the append and leaves a tail that
// recovery cuts.
func TestShortWriteIsRecovered(t *testing.T) {
	dir := t.TempDir()
	fs := vfs.NewFaulty(vfs.OS)
	l, err := Open(dir, Options{FS: fs})
	if err != nil {
		t.Fatal(err)
	}
	mustAppend(t, l, rec(0, 0), rec(1, 1))
	fs.SetInjector(func(op vfs.Op, _ string) vfs.Fault {
		if op == vfs.OpWrite {
			return vfs.Fault{ShortWrite: 20}
		}
		return vfs.Fault{}
	})
	if _, err := l.Append(context.Background(), []Record{rec(2, 2)}); err == nil {
		t.Fatal("append succeeded on a full disk")
	}
	l.Close()
	l = openLog(t, dir, Options{})
	// The 20 torn bytes are reported, less any zeros they end with (those
	// look like the zero-filled room ahead of the data).
	if r := l.Recovery(); l.Next() != 2 || r.TruncatedBytes < 1 || r.TruncatedBytes > 20 {
		t.Fatalf("after reopen: next %d, report %+v", l.Next(), l.Recovery())
	}
}

func TestClosedLog(t *testing.T) {
	l, err := Open(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	if _, err := l.Append(context.Background(), []Record{{}}); !errors.Is(err, ErrClosed) {
		t.Errorf("Append after Close: %v", err)
	}
	if _, err := l.Read(0, 1); !errors.Is(err, ErrClosed) {
		t.Errorf("Read after Close: %v", err)
	}
	if err := l.Wait(context.Background(), 5); !errors.Is(err, ErrClosed) {
		t.Errorf("Wait after Close: %v", err)
	}
}

func TestOptionsValidate(t *testing.T) {
	tests := []struct {
		name string
		opts Options
		ok   bool
	}{
		{"zero is fine", Options{}, true},
		{"tiny segments", Options{SegmentBytes: 10}, false},
		{"huge segments", Options{SegmentBytes: 1 << 40}, false},
		{"bad policy", Options{Sync: 9}, false},
		{"negative age", Options{RetentionAge: -1}, false},
		{"negative bytes", Options{RetentionBytes: -1}, false},
	}
	for _, tt := range tests {
		if err := tt.opts.Validate(); (err == nil) != tt.ok {
			t.Errorf("%s: Validate() = %v", tt.name, err)
		}
	}
}

// AppendUnsynced answers after the write, before the fsync: with every
// fsync failing it still succeeds, its record never becomes visible, and
// the next Append reports the failed fsync. Without faults its records
// are readable and survive a reopen like any other.
func TestAppendUnsyncedDoesNotWaitForTheFsync(t *testing.T) {
	dir := t.TempDir()
	fs := vfs.NewFaulty(vfs.OS)
	l, err := Open(dir, Options{FS: fs})
	if err != nil {
		t.Fatal(err)
	}
	if base, err := l.AppendUnsynced(context.Background(), []Record{rec(0, 0)}); err != nil || base != 0 {
		t.Fatalf("AppendUnsynced = %d, %v; want 0, nil", base, err)
	}
	mustAppend(t, l, rec(1, 1))
	if got := readAll(t, l, 0); len(got) != 2 || !sameRecord(got[0], rec(0, 0)) {
		t.Fatalf("read %d records after AppendUnsynced+Append, want 2 starting with the unsynced one", len(got))
	}

	fs.SetInjector(func(op vfs.Op, _ string) vfs.Fault {
		if op == vfs.OpSync {
			return vfs.Fault{Err: vfs.ErrInjected}
		}
		return vfs.Fault{}
	})
	if base, err := l.AppendUnsynced(context.Background(), []Record{rec(2, 2)}); err != nil || base != 2 {
		t.Fatalf("AppendUnsynced with failing fsyncs = %d, %v; want 2, nil (it must not wait for the fsync)", base, err)
	}
	var failed *FailedError
	if _, err := l.Append(context.Background(), []Record{rec(3, 3)}); !errors.As(err, &failed) {
		t.Fatalf("Append after the unsynced record's fsync failed: %v, want FailedError", err)
	}
	if l.Next() != 2 {
		t.Fatalf("Next = %d: a record whose fsync failed became visible", l.Next())
	}
	fs.SetInjector(nil)
	l.Close()
	l = openLog(t, dir, Options{})
	if got := readAll(t, l, 0); len(got) < 2 || !sameRecord(got[1], rec(1, 1)) {
		t.Fatalf("after reopen read %d records, want at least the 2 acknowledged", len(got))
	}
}

// With UnsyncedDelay, AppendUnsynced batches wait for the next Append's
// fsync (becoming visible with it) or, with no Append, for their own fsync
// after the delay.
func TestUnsyncedDelayDefersTheFsync(t *testing.T) {
	ctx := context.Background()
	t.Run("the next Append syncs them", func(t *testing.T) {
		l := openLog(t, "", Options{UnsyncedDelay: time.Hour})
		if _, err := l.AppendUnsynced(ctx, []Record{rec(0, 0)}); err != nil {
			t.Fatal(err)
		}
		if l.Next() != 0 {
			t.Fatalf("Next = %d before any fsync, want 0", l.Next())
		}
		if base := mustAppend(t, l, rec(1, 1)); base != 1 {
			t.Fatalf("Append at %d, want 1", base)
		}
		if got := readAll(t, l, 0); len(got) != 2 {
			t.Fatalf("read %d records after the Append, want 2", len(got))
		}
	})
	t.Run("the delay syncs them", func(t *testing.T) {
		l := openLog(t, "", Options{UnsyncedDelay: 5 * time.Millisecond})
		if _, err := l.AppendUnsynced(ctx, []Record{rec(0, 0)}); err != nil {
			t.Fatal(err)
		}
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if err := l.Wait(wctx, 0); err != nil {
			t.Fatalf("the unsynced record never became visible: %v", err)
		}
	})
}
