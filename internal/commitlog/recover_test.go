package commitlog

import (
	"bytes"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
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
		r := l.Recovery()
		if r.TruncatedBytes != cut-lastStart || r.ValidAfterCorruption {
			t.Fatalf("cut at %d: report %+v, want %d bytes truncated", cut, r, cut-lastStart)
		}
		if base := mustAppend(t, l, rec(99, 99)); base != int64(wantRecs) {
			t.Fatalf("cut at %d: append after recovery got %d, want %d", cut, base, wantRecs)
		}
		l.Close()
	}
}

// Garbage after the last good batch (a torn write that left junk, or a
// preallocated zero tail) is cut.
func TestGarbageTailIsCut(t *testing.T) {
	for name, tail := range map[string][]byte{
		"zeros":  make([]byte, 100),
		"random": bytes.Repeat([]byte{0xde, 0xad, 0xbe, 0xef}, 30),
	} {
		t.Run(name, func(t *testing.T) {
			batches := testBatches(3)
			dir, _ := writeLog(t, Options{}, batches)
			f, _ := os.OpenFile(segPath(dir, 0), os.O_APPEND|os.O_WRONLY, 0)
			f.Write(tail)
			f.Close()
			l := openLog(t, dir, Options{})
			if l.Next() != int64(countRecords(batches)) || l.Recovery().TruncatedBytes != int64(len(tail)) {
				t.Fatalf("Next %d, report %+v", l.Next(), l.Recovery())
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
	for name, damage := range map[string]func(path string){
		"missing":   func(p string) { os.Remove(p) },
		"truncated": func(p string) { b, _ := os.ReadFile(p); os.WriteFile(p, b[:len(b)-5], 0o644) },
		"flipped":   func(p string) { b, _ := os.ReadFile(p); b[3] ^= 0x10; os.WriteFile(p, b, 0o644) },
		"empty":     func(p string) { os.WriteFile(p, nil, 0o644) },
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
			damage(idx)
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
