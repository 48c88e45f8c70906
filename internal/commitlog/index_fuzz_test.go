package commitlog

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"math"
	"testing"
)

// FuzzDecodeIndex guards loadSealed against damaged .index files: no panic,
// and an accepted index holds what reads rely on and re-encodes to its bytes.
func FuzzDecodeIndex(f *testing.F) {
	encode := func(base, next, maxTS int64, entries ...indexEntry) []byte {
		ix := &index{}
		for _, e := range entries {
			ix.add(e)
		}
		return ix.encode(base, next, maxTS)
	}
	empty := encode(0, 0, noTimestamp)
	three := encode(100, 250, 9000,
		indexEntry{offset: 100, pos: 0, maxTSBefore: noTimestamp},
		indexEntry{offset: 140, pos: 4096, maxTSBefore: 5000},
		indexEntry{offset: 201, pos: 8200, maxTSBefore: 8000})
	f.Add(empty, int64(0), int64(0))
	f.Add(three, int64(100), int64(12000))
	f.Add(encode(1<<40, 1<<40+1, 7, indexEntry{offset: 1 << 40, maxTSBefore: noTimestamp}), int64(1<<40), int64(64))
	f.Add(three, int64(100), int64(8200)) // last entry past the .log
	f.Add(three[:len(three)-1], int64(100), int64(12000))
	f.Add(three[indexEntrySize:], int64(100), int64(12000))
	f.Add([]byte{}, int64(0), int64(0))
	f.Add(bytes.Repeat([]byte{0xff}, indexEntrySize+indexFooterSize), int64(0), int64(math.MaxInt64))
	f.Fuzz(func(t *testing.T, b []byte, base, logSize int64) {
		// Segment names parse to a base >= 0 (parseSegmentName); base+2^32
		// must fit an int64 for offsets to mean anything.
		if base < 0 || base > math.MaxInt64-math.MaxUint32 {
			t.Skip()
		}
		checkIndexDecode(t, b, base, logSize)
		// A mutated index almost never keeps a valid CRC; decode it with a
		// fixed one too, so the fuzzer reaches the entries.
		checkIndexDecode(t, withIndexCRC(b), base, logSize)
	})
}

// checkIndexDecode decodes b and, when it is accepted, checks what
// decodeIndex promises and that encoding the result gives b back.
func checkIndexDecode(t *testing.T, b []byte, base, logSize int64) {
	t.Helper()
	entries, next, maxTS, err := decodeIndex(b, base, logSize)
	if err != nil {
		if !errors.Is(err, errBadIndex) {
			t.Fatalf("decodeIndex error %v does not wrap errBadIndex", err)
		}
		return
	}
	if next < base {
		t.Fatalf("next offset %d below base %d", next, base)
	}
	if len(entries) > 0 && entries[0].pos != 0 {
		t.Fatalf("first entry at position %d, want 0", entries[0].pos)
	}
	for i, e := range entries {
		if e.offset < base || e.offset >= next {
			t.Fatalf("entry %d: offset %d outside [%d, %d)", i, e.offset, base, next)
		}
		if e.pos < 0 || e.pos >= logSize {
			t.Fatalf("entry %d: position %d outside [0, %d)", i, e.pos, logSize)
		}
		if e.maxTSBefore > maxTS {
			t.Fatalf("entry %d: max timestamp before it %d over the segment's %d", i, e.maxTSBefore, maxTS)
		}
		if i > 0 && (e.offset <= entries[i-1].offset || e.pos <= entries[i-1].pos || e.maxTSBefore < entries[i-1].maxTSBefore) {
			t.Fatalf("entry %d (%+v) does not follow entry %d (%+v)", i, e, i-1, entries[i-1])
		}
	}
	// Every field is fixed-width, so the only encoding of the result is b.
	if out := (&index{entries: entries}).encode(base, next, maxTS); !bytes.Equal(out, b) {
		t.Fatalf("re-encoded index differs\n in: % x\nout: % x", b, out)
	}
}

// withIndexCRC returns a copy of b whose last 4 bytes are the CRC of the
// rest, as index.encode writes it.
func withIndexCRC(b []byte) []byte {
	if len(b) < 4 {
		return b
	}
	out := bytes.Clone(b)
	binary.BigEndian.PutUint32(out[len(out)-4:], crc32.Checksum(out[:len(out)-4], castagnoli))
	return out
}
