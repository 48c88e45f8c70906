package commitlog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/vfs"
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
		{"AppendUnsyncedAsync", func(l *Log, recs []Record, queued func()) (int64, error) {
			// Its return is the queued signal; the writer gives the outcome.
			type outcome struct {
				base int64
				err  error
			}
			written := make(chan outcome, 1)
			if err := l.AppendUnsyncedAsync(recs, func(base int64, err error) { written <- outcome{base, err} }); err != nil {
				return 0, err
			}
			queued()
			o := <-written
			return o.base, o.err
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

// An append to an idle log is written by its caller's goroutine, without
// the two hand-offs through the writer; an AppendUnsyncedAsync (whose
// caller does not wait for the write) is left to the writer.
func TestAnIdleLogIsWrittenByItsAppender(t *testing.T) {
	fs := vfs.NewFaulty(vfs.OS)
	l := openLog(t, "", Options{FS: fs})
	// Which goroutine wrote each batch (zero fills aside).
	writers := watchWho(fs, vfs.OpWrite, "commitlog.(*Log).write(",
		"commitlog.(*Log).writeInline(", "the appender", "the writer")
	ctx := context.Background()
	for _, tt := range []struct {
		name   string
		append func() error
		want   string
	}{
		{"Append", func() error { _, err := l.Append(ctx, []Record{rec(0, 0)}); return err }, "the appender"},
		{"AppendUnsynced", func() error { _, err := l.AppendUnsynced(ctx, []Record{rec(1, 0)}); return err }, "the appender"},
		{"AppendQueued", func() error { _, err := l.AppendQueued(ctx, []Record{rec(2, 0)}, func() {}); return err }, "the appender"},
		{"AppendUnsyncedAsync", func() error {
			written := make(chan error, 1)
			if err := l.AppendUnsyncedAsync([]Record{rec(3, 0)}, func(_ int64, err error) { written <- err }); err != nil {
				return err
			}
			return <-written
		}, "the writer"},
	} {
		writers()
		if err := tt.append(); err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if got := writers(); len(got) != 1 || got[0] != tt.want {
			t.Errorf("%s on an idle log was written by %v, want by %s", tt.name, got, tt.want)
		}
	}
	fs.SetInjector(nil)
	mustAppend(t, l, rec(4, 0)) // makes the unsynced ones visible
	if got := readAll(t, l, 0); len(got) != 5 {
		t.Fatalf("read %d records, want 5", len(got))
	}
}

// Appends written by their callers and appends written by the writer mix
// without losing, repeating or reordering any: each chain of AppendQueued
// calls (the next starts from the previous one's queued) gets rising
// offsets, and every record is read back once, at its offset.
func TestInlineAndWriterAppendsKeepTheOrder(t *testing.T) {
	l := openLog(t, "", Options{SegmentBytes: 64 << 10}) // rolls too
	const chains, perChain, others = 4, 60, 4
	ctx := context.Background()
	var wg sync.WaitGroup
	bases := make([][]int64, chains)
	errs := make(chan error, chains*perChain+others*perChain)
	for c := range chains {
		bases[c] = make([]int64, perChain)
		var step func(i int)
		step = func(i int) {
			defer wg.Done()
			n := c*perChain + i
			base, err := l.AppendQueued(ctx, []Record{rec(n, 1), rec(n, 1)}, func() {
				if i+1 < perChain {
					wg.Add(1)
					go step(i + 1)
				}
			})
			bases[c][i] = base
			if err != nil {
				errs <- err
			}
		}
		wg.Add(1)
		go step(0)
	}
	for o := range others {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perChain {
				n := (chains+o)*perChain + i
				var err error
				switch i % 3 {
				case 0:
					_, err = l.Append(ctx, []Record{rec(n, 1), rec(n, 1)})
				case 1:
					_, err = l.AppendUnsynced(ctx, []Record{rec(n, 1), rec(n, 1)})
				default:
					written := make(chan error, 1)
					if err = l.AppendUnsyncedAsync([]Record{rec(n, 1), rec(n, 1)}, func(_ int64, err error) { written <- err }); err == nil {
						err = <-written
					}
				}
				if err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	mustAppend(t, l, rec(-1, 1)) // makes the unsynced ones visible
	for c := range chains {
		for i := 1; i < perChain; i++ {
			if bases[c][i] <= bases[c][i-1] {
				t.Fatalf("chain %d: append %d got offset %d, not after append %d's %d", c, i, bases[c][i], i-1, bases[c][i-1])
			}
		}
	}
	got := readAll(t, l, 0)
	if want := (chains+others)*perChain*2 + 1; len(got) != want {
		t.Fatalf("read %d records, want %d", len(got), want)
	}
	seen := map[string]int{}
	for i, r := range got {
		if r.Offset != int64(i) {
			t.Fatalf("record %d has offset %d", i, r.Offset)
		}
		seen[string(r.Value)]++
	}
	for v, n := range seen {
		if n != 2 && v != string(rec(-1, 1).Value) {
			t.Fatalf("%s read %d times, want 2", v, n)
		}
	}
	for c := range chains {
		for i, base := range bases[c] {
			want := rec(c*perChain+i, 1).Value
			if !bytes.Equal(got[base].Value, want) || !bytes.Equal(got[base+1].Value, want) {
				t.Fatalf("chain %d append %d: offsets %d and %d hold %q and %q", c, i, base, base+1, got[base].Value, got[base+1].Value)
			}
		}
	}
}

// AppendUnsyncedAsync answers every batch it queued exactly once: written,
// or failed when the log closes first; a batch it refused is not answered.
func TestAppendUnsyncedAsyncAnswersOnce(t *testing.T) {
	l := openLog(t, "", Options{})
	var mu sync.Mutex
	answers := map[int]int{}
	var errs []error
	const n = 200
	queued := 0
	for i := range n {
		err := l.AppendUnsyncedAsync([]Record{rec(i, 1)}, func(_ int64, err error) {
			mu.Lock()
			answers[i]++
			if err != nil {
				errs = append(errs, err)
			}
			mu.Unlock()
		})
		if err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
		queued++
		if i == n/2 {
			l.Close() // answers the rest of what is queued with ErrClosed
			break
		}
	}
	if err := l.AppendUnsyncedAsync([]Record{rec(n, 1)}, func(int64, error) {
		t.Error("a refused batch was answered")
	}); !errors.Is(err, ErrClosed) {
		t.Fatalf("AppendUnsyncedAsync after Close: %v, want ErrClosed", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(answers) != queued {
		t.Fatalf("%d of %d queued batches answered", len(answers), queued)
	}
	for i, k := range answers {
		if k != 1 {
			t.Fatalf("batch %d answered %d times", i, k)
		}
	}
	for _, err := range errs {
		if !errors.Is(err, ErrClosed) {
			t.Fatalf("a batch failed with %v, want ErrClosed or success", err)
		}
	}
}

// An Append to a log with no fsync pending is made durable by its caller
// (no hand-off to the syncer and back); one written while such an fsync
// runs goes to the syncer, which fsyncs only after it (two fsyncs of a
// file at once could each miss the other's error).
func TestAnIdleLogIsFsyncedByItsAppender(t *testing.T) {
	fs := vfs.NewFaulty(vfs.OS)
	l := openLog(t, "", Options{FS: fs})
	// Which goroutine fsynced each group (zero fills and rolls aside).
	take := watchWho(fs, vfs.OpSync, "commitlog.(*Log).syncGroups(",
		"commitlog.(*Log).syncer(", "the syncer", "the appender")
	for i := range 3 {
		mustAppend(t, l, rec(i, 0))
		if got := take(); len(got) != 1 || got[0] != "the appender" {
			t.Fatalf("append %d on an idle log was fsynced by %v, want by the appender", i, got)
		}
	}
	// As if an appender were in its fsync: the next append goes to the
	// syncer, which must wait for that fsync to end.
	l.syncing.Add(1)
	l.fsyncMu.Lock()
	done := make(chan error, 1)
	go func() { _, err := l.Append(context.Background(), []Record{rec(3, 0)}); done <- err }()
	select {
	case err := <-done:
		t.Fatalf("an append finished (%v) while another fsync was running", err)
	case <-time.After(50 * time.Millisecond): // it waits; a bug would have finished by now
	}
	l.fsyncMu.Unlock()
	l.syncing.Add(-1)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := take(); len(got) != 1 || got[0] != "the syncer" {
		t.Fatalf("the append behind a running fsync was fsynced by %v, want by the syncer", got)
	}
	if l.Next() != 4 {
		t.Fatalf("Next = %d, want 4", l.Next())
	}
}

// Appenders racing an fsync failure: every append acknowledged is visible,
// and nothing else is (a failed group is never published, even when
// another fsync of the file succeeds).
func TestConcurrentAppendsAroundAFailedFsync(t *testing.T) {
	fs := vfs.NewFaulty(vfs.OS)
	l := openLog(t, "", Options{FS: fs})
	var syncs atomic.Int32
	fs.SetInjector(func(op vfs.Op, _ string) vfs.Fault {
		if op == vfs.OpSync && syncs.Add(1) == 40 {
			return vfs.Fault{Err: vfs.ErrInjected}
		}
		return vfs.Fault{}
	})
	var mu sync.Mutex
	var acked int64 // end offset of the furthest acknowledged append
	var wg sync.WaitGroup
	for p := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				base, err := l.Append(context.Background(), []Record{rec(p*1000+i, 0), rec(p*1000+i, 0)})
				if err != nil {
					return
				}
				mu.Lock()
				acked = max(acked, base+2)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if syncs.Load() < 40 {
		t.Fatalf("only %d fsyncs", syncs.Load())
	}
	if l.Next() != acked {
		t.Fatalf("Next = %d, but acknowledged appends end at %d", l.Next(), acked)
	}
}

// watchWho makes fs record, for each op whose stack holds frame, whether
// the stack also holds marker (named yes) or not (named no); the returned
// function takes what was recorded so far.
func watchWho(fs *vfs.Faulty, op vfs.Op, frame, marker, yes, no string) func() []string {
	var mu sync.Mutex
	var seen []string
	fs.SetInjector(func(o vfs.Op, _ string) vfs.Fault {
		if o != op {
			return vfs.Fault{}
		}
		stack := make([]byte, 16<<10)
		s := string(stack[:runtime.Stack(stack, false)])
		if !strings.Contains(s, frame) {
			return vfs.Fault{}
		}
		who := no
		if strings.Contains(s, marker) {
			who = yes
		}
		mu.Lock()
		seen = append(seen, who)
		mu.Unlock()
		return vfs.Fault{}
	})
	return func() []string {
		mu.Lock()
		defer mu.Unlock()
		s := seen
		seen = nil
		return s
	}
}

// ReadReusing returns what ReadInto does, reads into the caller's buffer
// (growing it only when it is too small), and reads a batch larger than
// the buffer whole.
func TestReadReusing(t *testing.T) {
	l := openLog(t, "", Options{})
	var want []Record
	for i := range 40 {
		batch := []Record{rec(len(want), int64(i)), rec(len(want)+1, int64(i))}
		if i == 20 {
			batch[1].Value = bytes.Repeat([]byte{'x'}, 3*readChunk) // past any first read
		}
		mustAppend(t, l, batch...)
		want = append(want, batch...)
	}
	for _, tt := range []struct {
		name     string
		bufCap   int
		maxBytes int
	}{
		{"empty buffer, one batch", 0, 1},
		{"small buffer, 4 KiB", 512, 4 << 10},
		{"large buffer, 256 KiB", 1 << 20, 256 << 10},
	} {
		t.Run(tt.name, func(t *testing.T) {
			buf := make([]byte, 0, tt.bufCap)
			var recs []Record
			for off := int64(0); off < l.Next(); {
				var err error
				recs, err = l.ReadReusing(recs[:0], &buf, off, tt.maxBytes)
				if err != nil || len(recs) == 0 {
					t.Fatalf("ReadReusing(%d): %d records, %v", off, len(recs), err)
				}
				into, err := l.ReadInto(nil, off, tt.maxBytes)
				if err != nil || len(into) != len(recs) {
					t.Fatalf("ReadInto(%d): %d records, %v; ReadReusing read %d", off, len(into), err, len(recs))
				}
				for i := range recs {
					if recs[i].Offset != off+int64(i) || !sameRecord(recs[i], want[off+int64(i)]) {
						t.Fatalf("ReadReusing(%d): record %d = offset %d %q, want %q", off, i, recs[i].Offset, recs[i].Value, want[off+int64(i)].Value)
					}
				}
				off = recs[len(recs)-1].Offset + 1
			}
			if tt.bufCap >= 256<<10 && cap(buf) != tt.bufCap {
				t.Errorf("a buffer large enough was replaced: cap %d, was %d", cap(buf), tt.bufCap)
			}
			if cap(buf) == 0 {
				t.Error("the buffer was never read into")
			}
		})
	}
}

// The records of a read share the caller's buffer: the next read into it
// may overwrite them, which is why the broker copies what it keeps.
func TestReadReusingReadsIntoTheCallersBuffer(t *testing.T) {
	l := openLog(t, "", Options{})
	mustAppend(t, l, rec(0, 0))
	buf := make([]byte, 0, 64<<10)
	recs, err := l.ReadReusing(nil, &buf, 0, 1)
	if err != nil || len(recs) != 1 {
		t.Fatalf("ReadReusing: %d records, %v", len(recs), err)
	}
	full := buf[:cap(buf)]
	if i := bytes.Index(full, recs[0].Value); i < 0 || &full[i] != &recs[0].Value[0] {
		t.Fatal("the record's value is not in the caller's buffer")
	}
}
