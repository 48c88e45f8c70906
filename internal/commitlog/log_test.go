package commitlog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

// openLog opens a log in a fresh temporary directory and closes it when the
// test ends.
func openLog(t testing.TB, dir string, opts Options) *Log {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	l, err := Open(dir, opts)
	if err != nil {
		t.Fatalf("Open(%s): %v", dir, err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// rec builds a record whose value names its sequence number.
func rec(i int, ts int64) Record {
	return Record{
		Timestamp: ts,
		Key:       []byte(fmt.Sprintf("key-%d", i%7)),
		Headers:   []Header{{Key: "n", Value: []byte(fmt.Sprint(i))}},
		Value:     []byte(fmt.Sprintf("value-%06d", i)),
	}
}

func mustAppend(t testing.TB, l *Log, recs ...Record) int64 {
	t.Helper()
	base, err := l.Append(context.Background(), recs)
	if err != nil {
		t.Fatalf("Append: %v", err)
	}
	return base
}

// readAll reads every record from offset to Next().
func readAll(t testing.TB, l *Log, from int64) []Record {
	t.Helper()
	var out []Record
	for off := from; off < l.Next(); {
		recs, err := l.Read(off, 1<<20)
		if err != nil {
			t.Fatalf("Read(%d): %v", off, err)
		}
		if len(recs) == 0 {
			t.Fatalf("Read(%d) returned nothing below Next()=%d", off, l.Next())
		}
		out = append(out, recs...)
		off = recs[len(recs)-1].Offset + 1
	}
	return out
}

func sameRecord(a, b Record) bool {
	if a.Timestamp != b.Timestamp || !bytes.Equal(a.Key, b.Key) || !bytes.Equal(a.Value, b.Value) ||
		(a.Key == nil) != (b.Key == nil) || (a.Value == nil) != (b.Value == nil) || len(a.Headers) != len(b.Headers) {
		return false
	}
	for i := range a.Headers {
		if a.Headers[i].Key != b.Headers[i].Key || !bytes.Equal(a.Headers[i].Value, b.Headers[i].Value) {
			return false
		}
	}
	return true
}

func TestAppendAssignsDenseOffsets(t *testing.T) {
	l := openLog(t, "", Options{})
	var want []Record
	for i := 0; i < 50; i++ {
		n := 1 + i%5
		var batch []Record
		for j := 0; j < n; j++ {
			batch = append(batch, rec(len(want)+j, int64(len(want)+j)))
		}
		base := mustAppend(t, l, batch...)
		if base != int64(len(want)) {
			t.Fatalf("batch %d: base %d, want %d", i, base, len(want))
		}
		want = append(want, batch...)
	}
	got := readAll(t, l, 0)
	if len(got) != len(want) {
		t.Fatalf("read %d records, want %d", len(got), len(want))
	}
	for i := range got {
		if got[i].Offset != int64(i) || !sameRecord(got[i], want[i]) {
			t.Fatalf("record %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestReadFromMiddleOfBatch(t *testing.T) {
	l := openLog(t, "", Options{})
	mustAppend(t, l, rec(0, 0), rec(1, 1), rec(2, 2), rec(3, 3))
	recs, err := l.Read(2, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 || recs[0].Offset != 2 || recs[1].Offset != 3 {
		t.Fatalf("Read(2) = %v, want offsets 2 and 3", recs)
	}
}

func TestReadOutOfRange(t *testing.T) {
	l := openLog(t, "", Options{})
	mustAppend(t, l, rec(0, 0), rec(1, 1))
	if recs, err := l.Read(2, 100); err != nil || len(recs) != 0 {
		t.Fatalf("Read(Next) = %v, %v; want nothing, no error", recs, err)
	}
	_, err := l.Read(3, 100)
	var oor *OutOfRangeError
	if !errors.As(err, &oor) || !errors.Is(err, ErrOffsetOutOfRange) || oor.Earliest != 0 || oor.Next != 2 {
		t.Fatalf("Read(3) error = %v, want out of range with earliest 0, next 2", err)
	}
}

func TestReopenKeepsRecords(t *testing.T) {
	dir := t.TempDir()
	l, err := Open(dir, Options{SegmentBytes: 4096})
	if err != nil {
		t.Fatal(err)
	}
	var want []Record
	for i := 0; i < 300; i++ {
		want = append(want, rec(i, int64(i)))
		mustAppend(t, l, want[i])
	}
	if l.Segments() < 3 {
		t.Fatalf("expected several segments, have %d", l.Segments())
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = openLog(t, dir, Options{SegmentBytes: 4096})
	if l.Next() != 300 {
		t.Fatalf("Next after reopen = %d, want 300", l.Next())
	}
	got := readAll(t, l, 0)
	for i := range want {
		if !sameRecord(got[i], want[i]) {
			t.Fatalf("record %d differs after reopen", i)
		}
	}
	if r := l.Recovery(); r.TruncatedBytes != 0 || len(r.RebuiltIndexes) != 0 {
		t.Fatalf("clean reopen reported repairs: %+v", r)
	}
	want = append(want, rec(300, 300))
	if base := mustAppend(t, l, want[300]); base != 300 {
		t.Fatalf("append after reopen got base %d, want 300", base)
	}
	got = readAll(t, l, 0)
	for i := range want {
		if !sameRecord(got[i], want[i]) {
			t.Fatalf("record %d differs after reopen and append", i)
		}
	}
}

func TestWaitWakesOnAppend(t *testing.T) {
	l := openLog(t, "", Options{})
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		done <- l.Wait(ctx, 0)
	}()
	mustAppend(t, l, rec(0, 0))
	if err := <-done; err != nil {
		t.Fatalf("Wait: %v", err)
	}
}

// AppendQueued calls queued once the batch holds its place: an append
// started from the callback, while the first is still being written and
// fsynced, gets the later offsets.
func TestAppendQueuedFixesTheOrder(t *testing.T) {
	for _, tt := range []struct {
		name   string
		append func(l *Log, recs []Record, queued func()) (int64, error)
	}{
		{"AppendQueued", func(l *Log, recs []Record, queued func()) (int64, error) {
			return l.AppendQueued(context.Background(), recs, queued)
		}},
		{"AppendUnsyncedQueued", func(l *Log, recs []Record, queued func()) (int64, error) {
			return l.AppendUnsyncedQueued(context.Background(), recs, queued)
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			l := openLog(t, "", Options{})
			const n = 100
			bases := make([]int64, n)
			errs := make(chan error, n)
			var appendFrom func(i int)
			appendFrom = func(i int) {
				base, err := tt.append(l, []Record{rec(i, 1), rec(i, 1)}, func() {
					if i+1 < n {
						go appendFrom(i + 1)
					}
				})
				bases[i] = base
				errs <- err
			}
			go appendFrom(0)
			for range n {
				if err := <-errs; err != nil {
					t.Fatal(err)
				}
			}
			for i := 1; i < n; i++ {
				if bases[i] != bases[i-1]+2 {
					t.Fatalf("append %d got offset %d, want %d (right after append %d)", i, bases[i], bases[i-1]+2, i-1)
				}
			}
		})
	}
}
