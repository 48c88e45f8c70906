package commitlog

import (
	"bytes"
	"errors"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// writeLog fills a fresh log with the given batches, closes it, and returns
// its directory and the byte position where each batch starts in the first
// segment.
func writeLog(t *testing.T, opts Options, batches [][]Record) (string, []int64) {
	t.Helper()
	dir := t.TempDir()
	l, err := Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	var starts []int64
	for _, b := range batches {
		starts = append(starts, l.Size())
		mustAppend(t, l, b...)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return dir, starts
}

func segPath(dir string, base int64) string {
	return filepath.Join(dir, segmentName(base)+logSuffix)
}

func testBatches(n int) [][]Record {
	var out [][]Record
	i := 0
	for b := 0; b < n; b++ {
		var batch []Record
		for j := 0; j <= b%3; j++ {
			batch = append(batch, rec(i, int64(i)))
			i++
		}
		out = append(out, batch)
	}
	return out
}

func countRecords(batches [][]Record) int {
	n := 0
	for _, b := range batches {
		n += len(b)
	}
	return n
}

// A log cut at every byte position inside its last batch reopens with
// exactly the whole batches before the cut, and takes appends again.
func TestTornTailAtEveryByte(t *testing.T) {
	batches := testBatches(6)
	dir, starts := writeLog(t, Options{}, batches)
	full, err := os.ReadFile(segPath(dir, 0))
	if err != nil {
		t.Fatal(err)
	}
	lastStart := starts[len(starts)-1]
	wantRecs := countRecords(batches[:len(batches)-1])
	for cut := lastStart; cut < int64(len(full)); cut++ {
		cdir := t.TempDir()
		if err := os.WriteFile(segPath(cdir, 0), full[:cut], 0o644); err != nil {
			t.Fatal(err)
		}
		l, err := Open(cdir, Options{})
		if err != nil {
			t.Fatalf("cut at %d: Open: %v", cut, err)
		}
		if l.Next() != int64(wantRecs) {
			t.Fatalf("cut at %d: Next = %d, want %d", cut, l.Next(), wantRecs)
		}
		got := readAll(t, l, 0)
		var want []Record
		for _, b := range batches[:len(batches)-1] {
			want = append(want, b...)
		}
		for i := range want {
			if !sameRecord(got[i], want[i]) {
				t.Fatalf("cut at %d: record %d differs", cut, i)
			}
		}
		// Zeros at the end of the cut are not reported: they look like
		// the room zero-filled ahead of the data (prealloc.go).
		torn := bytes.TrimRight(full[lastStart:cut], "\x00")
		r := l.Recovery()
		if r.TruncatedBytes != int64(len(torn)) || r.ValidAfterCorruption {
			t.Fatalf("cut at %d: report %+v, want %d bytes truncated", cut, r, len(torn))
		}
		if base := mustAppend(t, l, rec(99, 99)); base != int64(wantRecs) {
			t.Fatalf("cut at %d: append after recovery got %d, want %d", cut, base, wantRecs)
		}
		l.Close()
	}
}

// Garbage after the last good batch (a torn write that left junk) is cut
// and reported; a zero-filled tail (the room filled ahead of the data) is
// written over and not reported. Either way the next append follows the
// last good batch.
func TestGarbageTailIsCut(t *testing.T) {
	junk := bytes.Repeat([]byte{0xde, 0xad, 0xbe, 0xef}, 30)
	for _, tt := range []struct {
		name     string
		tail     []byte
		reported int64
	}{
		{"zeros", make([]byte, 100), 0},
		{"random", junk, int64(len(junk))},
		{"random then zeros", append(slices.Clone(junk), make([]byte, 4096)...), int64(len(junk))},
	} {
		t.Run(tt.name, func(t *testing.T) {
			batches := testBatches(3)
			dir, _ := writeLog(t, Options{}, batches)
			f, _ := os.OpenFile(segPath(dir, 0), os.O_APPEND|os.O_WRONLY, 0)
			f.Write(tt.tail)
			f.Close()
			l := openLog(t, dir, Options{})
			n := int64(countRecords(batches))
			if l.Next() != n || l.Recovery().TruncatedBytes != tt.reported {
				t.Fatalf("Next %d, report %+v; want Next %d, %d bytes reported", l.Next(), l.Recovery(), n, tt.reported)
			}
			if base := mustAppend(t, l, rec(99, 99)); base != n {
				t.Fatalf("append after recovery at %d, want %d", base, n)
			}
			l.Close()
			l = openLog(t, dir, Options{})
			if got := readAll(t, l, 0); len(got) != int(n)+1 || !sameRecord(got[n], rec(99, 99)) {
				t.Fatalf("after a second reopen: %d records, want %d ending with the appended one", len(got), n+1)
			}
		})
	}
}

// A corrupt batch in the last segment followed by good batches is more
// than a torn write: Open still cuts (it cannot serve past the damage) but
// says so loudly in the report and the error log.
func TestCorruptionFollowedByValidDataIsReported(t *testing.T) {
	batches := testBatches(5)
	dir, starts := writeLog(t, Options{}, batches)
	path := segPath(dir, 0)
	data, _ := os.ReadFile(path)
	data[starts[2]+batchHeaderSize+2] ^= 0xff
	os.WriteFile(path, data, 0o644)

	var logs bytes.Buffer
	l := openLog(t, dir, Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	r := l.Recovery()
	if !r.ValidAfterCorruption || l.Next() != int64(countRecords(batches[:2])) {
		t.Fatalf("report %+v, Next %d", r, l.Next())
	}
	if !strings.Contains(logs.String(), "level=ERROR") {
		t.Fatalf("corruption in the middle was not logged as an error:\n%s", logs.String())
	}
}

// A batch that fails its CRC in a sealed segment is never served: the read
// that reaches it gets ErrCorrupt naming the file; records before it still
// read.
func TestCorruptSealedSegmentIsNeverServed(t *testing.T) {
	opts := Options{SegmentBytes: 4096}
	var batches [][]Record
	for i := 0; i < 200; i++ {
		batches = append(batches, []Record{rec(i, int64(i))})
	}
	dir, _ := writeLog(t, opts, batches)
	path := segPath(dir, 0)
	data, _ := os.ReadFile(path)
	data[len(data)-3] ^= 0x01 // inside the last batch of the first segment
	os.WriteFile(path, data, 0o644)

	l := openLog(t, dir, opts)
	if l.Segments() < 2 {
		t.Fatal("test needs a sealed segment")
	}
	var lastGood int64
	for off := int64(0); ; off++ {
		recs, err := l.Read(off, 1)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), path) {
				t.Fatalf("Read(%d) error = %v, want ErrCorrupt naming %s", off, err, path)
			}
			break
		}
		if len(recs) == 0 {
			t.Fatal("read the whole log without meeting the corrupt batch")
		}
		lastGood = off
	}
	if lastGood == 0 {
		t.Fatal("records before the damage should still read")
	}
}

func TestDamagedIndexIsRebuilt(t *testing.T) {
	for name, damage := range map[string]func(t *testing.T, path string){
		"missing":   func(_ *testing.T, p string) { os.Remove(p) },
		"truncated": func(_ *testing.T, p string) { b, _ := os.ReadFile(p); os.WriteFile(p, b[:len(b)-5], 0o644) },
		"flipped":   func(_ *testing.T, p string) { b, _ := os.ReadFile(p); b[3] ^= 0x10; os.WriteFile(p, b, 0o644) },
		"empty":     func(_ *testing.T, p string) { os.WriteFile(p, nil, 0o644) },
		// A valid CRC over wrong contents: the last entry's running
		// maximum of timestamps falls back to the first's.
		"timestamps falling": func(t *testing.T, p string) {
			b, _ := os.ReadFile(p)
			entries, next, maxTS, err := decodeIndex(b, 0, math.MaxInt64)
			if err != nil || len(entries) < 3 {
				t.Fatalf("decode the written index: %d entries, %v", len(entries), err)
			}
			entries[len(entries)-1].maxTSBefore = entries[0].maxTSBefore
			os.WriteFile(p, (&index{entries: entries}).encode(0, next, maxTS), 0o644)
		},
	} {
		t.Run(name, func(t *testing.T) {
			opts := Options{SegmentBytes: 4096, IndexIntervalBytes: 256}
			var batches [][]Record
			for i := 0; i < 200; i++ {
				batches = append(batches, []Record{rec(i, int64(i))})
			}
			dir, _ := writeLog(t, opts, batches)
			idx := filepath.Join(dir, segmentName(0)+indexSuffix)
			want, err := os.ReadFile(idx)
			if err != nil {
				t.Fatal(err)
			}
			damage(t, idx)
			l := openLog(t, dir, opts)
			if got := l.Recovery().RebuiltIndexes; len(got) != 1 {
				t.Fatalf("rebuilt %v, want the first segment", got)
			}
			if got, _ := os.ReadFile(idx); !bytes.Equal(got, want) {
				t.Fatal("rebuilt index differs from the one written at seal time")
			}
			for off := int64(0); off < l.Next(); off += 17 {
				recs, err := l.Read(off, 1)
				if err != nil || recs[0].Offset != off {
					t.Fatalf("Read(%d) = %v, %v", off, recs, err)
				}
			}
		})
	}
}

func TestEmptyDirectoryAndLeftovers(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "00000000000000000000.index.tmp"), []byte("x"), 0o644)
	os.WriteFile(filepath.Join(dir, segmentName(500)+indexSuffix), []byte("orphan"), 0o644)
	l := openLog(t, dir, Options{})
	if l.Next() != 0 || l.Earliest() != 0 {
		t.Fatalf("empty log: next %d earliest %d", l.Next(), l.Earliest())
	}
	for _, name := range []string{"00000000000000000000.index.tmp", segmentName(500) + indexSuffix} {
		if _, err := os.Stat(filepath.Join(dir, name)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("leftover %s not removed", name)
		}
	}
}
