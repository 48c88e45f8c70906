package commitlog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"os"
	"sort"
	"sync"

	"github.com/heraldhq/herald/internal/vfs"
)

// The sparse index of a segment maps offsets and timestamps to the byte
// position of a batch. It holds an entry for the first batch of the segment
// and then one every Options.IndexIntervalBytes of log data, so a read scans
// at most about that many bytes.
//
// Index file (written when a segment is sealed; the active segment's index
// lives in memory and is rebuilt by the recovery scan):
//
//	entries, 16 bytes each:
//	  0 4 relative offset   offset - segment base offset (uint32)
//	  4 4 position          byte position of the batch in the .log (uint32)
//	  8 8 max ts before     largest record timestamp in the segment before
//	                        this batch (int64, math.MinInt64 for none)
//	footer, 24 bytes:
//	  0 8 max timestamp     largest record timestamp in the segment
//	  8 8 next offset       offset after the segment's last record
//	 16 4 entry count       uint32
//	 20 4 crc               CRC-32C of everything before it
//
// Any mismatch (size, CRC, order, positions past the end of the .log) makes
// Open rebuild the index from the segment itself.

const (
	indexEntrySize  = 16
	indexFooterSize = 24
)

type indexEntry struct {
	offset      int64
	pos         int64
	maxTSBefore int64
}

// index is safe for one writer and many readers.
type index struct {
	mu      sync.RWMutex
	entries []indexEntry
}

func (ix *index) add(e indexEntry) {
	ix.mu.Lock()
	ix.entries = append(ix.entries, e)
	ix.mu.Unlock()
}

// lookupOffset returns the position of the last indexed batch whose first
// offset is at most offset (0 when none is).
func (ix *index) lookupOffset(offset int64) indexEntry {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	i := sort.Search(len(ix.entries), func(i int) bool { return ix.entries[i].offset > offset })
	if i == 0 {
		return indexEntry{}
	}
	return ix.entries[i-1]
}

// lookupTime returns the last indexed batch before which every record is
// older than ts: the first record at or after ts cannot come earlier.
func (ix *index) lookupTime(ts int64) indexEntry {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	i := sort.Search(len(ix.entries), func(i int) bool { return ix.entries[i].maxTSBefore >= ts })
	if i == 0 {
		return indexEntry{}
	}
	return ix.entries[i-1]
}

func (ix *index) encode(base, next, maxTS int64) []byte {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	b := make([]byte, 0, len(ix.entries)*indexEntrySize+indexFooterSize)
	for _, e := range ix.entries {
		b = binary.BigEndian.AppendUint32(b, uint32(e.offset-base))
		b = binary.BigEndian.AppendUint32(b, uint32(e.pos))
		b = binary.BigEndian.AppendUint64(b, uint64(e.maxTSBefore))
	}
	b = binary.BigEndian.AppendUint64(b, uint64(maxTS))
	b = binary.BigEndian.AppendUint64(b, uint64(next))
	b = binary.BigEndian.AppendUint32(b, uint32(len(ix.entries)))
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

var errBadIndex = errors.New("damaged index")

// decodeIndex parses an index file of a segment with the given base offset
// and .log size, checking everything it can.
func decodeIndex(b []byte, base, logSize int64) (entries []indexEntry, next, maxTS int64, err error) {
	if len(b) < indexFooterSize || (len(b)-indexFooterSize)%indexEntrySize != 0 {
		return nil, 0, 0, fmt.Errorf("%w: size %d", errBadIndex, len(b))
	}
	f := b[len(b)-indexFooterSize:]
	if crc32.Checksum(b[:len(b)-4], castagnoli) != binary.BigEndian.Uint32(f[20:]) {
		return nil, 0, 0, fmt.Errorf("%w: crc mismatch", errBadIndex)
	}
	maxTS = int64(binary.BigEndian.Uint64(f))
	next = int64(binary.BigEndian.Uint64(f[8:]))
	n := int(binary.BigEndian.Uint32(f[16:]))
	if n != (len(b)-indexFooterSize)/indexEntrySize || next < base {
		return nil, 0, 0, fmt.Errorf("%w: inconsistent footer", errBadIndex)
	}
	entries = make([]indexEntry, n)
	for i := range entries {
		e := b[i*indexEntrySize:]
		entries[i] = indexEntry{
			offset:      base + int64(binary.BigEndian.Uint32(e)),
			pos:         int64(binary.BigEndian.Uint32(e[4:])),
			maxTSBefore: int64(binary.BigEndian.Uint64(e[8:])),
		}
		// maxTSBefore is a running maximum: lookupTime's binary search
		// needs it never to fall, and never to pass the segment's.
		if entries[i].pos >= logSize || entries[i].offset >= next || entries[i].maxTSBefore > maxTS ||
			(i > 0 && (entries[i].offset <= entries[i-1].offset || entries[i].pos <= entries[i-1].pos ||
				entries[i].maxTSBefore < entries[i-1].maxTSBefore)) {
			return nil, 0, 0, fmt.Errorf("%w: entry %d out of order", errBadIndex, i)
		}
	}
	if n > 0 && entries[0].pos != 0 {
		return nil, 0, 0, fmt.Errorf("%w: first entry not at position 0", errBadIndex)
	}
	return entries, next, maxTS, nil
}

func writeIndexFile(fs vfs.FS, path string, data []byte) error {
	f, err := fs.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

const noTimestamp = math.MinInt64
