package commitlog

import (
	"context"
	"sort"
	"sync"
	"sync/atomic"
)

// Log is one partition: an append-only sequence of records in segment files.
//
// A Log is safe for concurrent use: any number of goroutines may Append and
// read at once. It owns one writer goroutine (started by Open, stopped by
// Close) and, when Options.RetentionCheck is set, one retention goroutine.
type Log struct {
	dir  string
	opts Options

	// mu guards segments (the slice, not the segments' contents).
	mu       sync.RWMutex
	segments []*segment // sorted by base; the last is active

	next atomic.Int64 // offset after the last visible record

	// wmu is held by whoever writes: the writer goroutine, or an appender
	// writing its own batch (writeInline). It guards writeNext and the
	// active segment's write state.
	wmu       sync.Mutex
	writeNext int64        // offset after the last written record
	queuedN   atomic.Int64 // requests sent or being sent to appendCh, not yet written
	// syncing counts written groups not yet made durable and answered (by
	// the syncer or a leading appender); fsyncMu makes them take turns.
	syncing atomic.Int32
	fsyncMu sync.Mutex

	appendCh chan *appendRequest
	syncCh   chan written
	sendMu   sync.RWMutex
	closing  chan struct{}
	wg       sync.WaitGroup
	closed   atomic.Bool
	failed   atomic.Pointer[FailedError]

	waitMu sync.Mutex
	waitCh chan struct{} // closed and replaced when next advances

	recovery RecoveryReport
}

// Dir is the directory holding the log's files.
func (l *Log) Dir() string { return l.dir }

// Next is the offset the next appended record will get: one past the last
// record a reader can see.
func (l *Log) Next() int64 { return l.next.Load() }

// Earliest is the offset of the oldest record still stored (equal to Next
// when the log is empty).
func (l *Log) Earliest() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.segments[0].base
}

// Size is the number of bytes of visible batches across all segments.
func (l *Log) Size() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	var n int64
	for _, s := range l.segments {
		n += s.size.Load()
	}
	return n
}

// Segments is the number of segment files.
func (l *Log) Segments() int {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return len(l.segments)
}

// Recovery reports what Open found and repaired.
func (l *Log) Recovery() RecoveryReport { return l.recovery }

// Wait blocks until a record with the given offset is visible (Next() >
// offset), the context ends, or the log closes.
func (l *Log) Wait(ctx context.Context, offset int64) error {
	for {
		l.waitMu.Lock()
		ch := l.waitCh
		l.waitMu.Unlock()
		if l.next.Load() > offset {
			return nil
		}
		if l.closed.Load() {
			return ErrClosed
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		case <-l.closing:
			return ErrClosed
		}
	}
}

// Changed returns a channel that is closed the next time records become
// visible; callers that multiplex many logs select on it, then call Changed
// again.
func (l *Log) Changed() <-chan struct{} {
	l.waitMu.Lock()
	defer l.waitMu.Unlock()
	return l.waitCh
}

func (l *Log) notify() {
	l.waitMu.Lock()
	close(l.waitCh)
	l.waitCh = make(chan struct{})
	l.waitMu.Unlock()
}

// segmentFor returns, with a reference taken, the segment holding offset.
func (l *Log) segmentFor(offset int64) (*segment, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed.Load() {
		return nil, ErrClosed
	}
	next := l.next.Load()
	earliest := l.segments[0].base
	if offset < earliest || offset > next {
		return nil, &OutOfRangeError{Offset: offset, Earliest: earliest, Next: next}
	}
	i := sort.Search(len(l.segments), func(i int) bool { return l.segments[i].base > offset }) - 1
	s := l.segments[i]
	s.acquire()
	return s, nil
}

// Read returns records starting at offset, whole batches of about maxBytes
// at most but always at least one batch when offset < Next(). At Next() it
// returns no records and no error: wait with Wait and read again. Below
// Earliest() or above Next() it returns an error matching
// ErrOffsetOutOfRange. The returned records own their memory.
func (l *Log) Read(offset int64, maxBytes int) ([]Record, error) {
	return l.ReadInto(nil, offset, maxBytes)
}

// ReadInto is Read appending to dst, so a caller can reuse its slice.
func (l *Log) ReadInto(dst []Record, offset int64, maxBytes int) ([]Record, error) {
	return l.read(dst, nil, offset, maxBytes)
}

// ReadReusing is ReadInto reading into *buf, which it replaces with a
// larger one when it is too small, so a caller that reads again and again
// (a subscription filling its window) allocates no read buffer per call.
// The records share *buf's memory and are valid only until *buf is read
// into again: the caller must copy what it keeps, as the broker decodes
// each record into memory of its own.
func (l *Log) ReadReusing(dst []Record, buf *[]byte, offset int64, maxBytes int) ([]Record, error) {
	return l.read(dst, buf, offset, maxBytes)
}

func (l *Log) read(dst []Record, reuse *[]byte, offset int64, maxBytes int) ([]Record, error) {
	// A roll between segmentFor and the check below can leave us holding the
	// sealed segment for an offset the next one holds: look again, a bounded
	// number of times (a roll is rare; each retry sees a newer state).
	for try := 0; try < 3; try++ {
		s, err := l.segmentFor(offset)
		if err != nil {
			return dst, err
		}
		if offset < s.next.Load() {
			start := s.index.lookupOffset(offset)
			dst, err = s.scan(dst, reuse, start, func(b batchInfo) scanAction {
				if b.nextOffset() <= offset {
					return scanSkip
				}
				return scanTake
			}, offset, maxBytes)
			s.release()
			return dst, err
		}
		s.release()
		if offset >= l.next.Load() {
			return dst, nil
		}
	}
	return dst, nil
}

// OffsetForTime returns the offset of the first record whose timestamp is
// at or after ts (unix nanoseconds), or Next() when there is none. With
// timestamps that go backwards it returns the first record after every
// batch whose timestamps are all older, as Kafka's time index does.
func (l *Log) OffsetForTime(ts int64) (int64, error) {
	l.mu.RLock()
	segs := make([]*segment, 0, 2)
	for _, s := range l.segments {
		if s.maxTS.Load() >= ts {
			s.acquire()
			segs = append(segs, s)
			break
		}
	}
	l.mu.RUnlock()
	if len(segs) == 0 {
		return l.next.Load(), nil
	}
	s := segs[0]
	defer s.release()
	recs, err := s.scan(nil, nil, s.index.lookupTime(ts), func(b batchInfo) scanAction {
		if b.maxTS < ts {
			return scanSkip
		}
		return scanTake
	}, 0, 1)
	if err != nil {
		return 0, err
	}
	// The first batch whose max timestamp qualifies holds the answer.
	for _, r := range recs {
		if r.Timestamp >= ts {
			return r.Offset, nil
		}
	}
	return l.next.Load(), nil
}

type scanAction int

// readBuffer returns a buffer of n bytes: *reuse's memory when reuse is
// not nil (grown to n when it is smaller), else a new one.
func readBuffer(reuse *[]byte, n int64) []byte {
	if reuse == nil {
		return make([]byte, n)
	}
	if int64(cap(*reuse)) < n {
		*reuse = make([]byte, n)
	}
	return (*reuse)[:n]
}

const (
	scanSkip scanAction = iota
	scanTake
)

// readChunk is how much a scan reads at a time when the caller asks for
// less: large enough to amortize the syscall over many small batches.
const readChunk = 64 << 10

// scan reads batches from an index entry onward, skipping those decide
// rejects, and decodes the taken ones into dst (records at or after from)
// until maxBytes of batches are taken. Every batch is checked: its CRC, and
// that base offsets run on without gaps from the index entry. With reuse
// not nil, the first read goes into *reuse (see ReadReusing); any later
// one needs a fresh buffer, as records already decoded share the first.
func (s *segment) scan(dst []Record, reuse *[]byte, start indexEntry, decide func(batchInfo) scanAction, from int64, maxBytes int) ([]Record, error) {
	end := s.size.Load()
	pos := start.pos
	want := start.offset
	if start.pos == 0 {
		want = s.base
	}
	taken := 0
	var buf []byte
	bufPos := int64(0)
	for pos < end && (taken == 0 || taken < maxBytes) {
		// Make sure buf holds the header at pos.
		if pos < bufPos || pos+batchHeaderSize > bufPos+int64(len(buf)) {
			n := min(max(int64(maxBytes-taken), readChunk), end-pos)
			if n < batchHeaderSize {
				return dst, &CorruptError{File: s.logPath, Position: pos, Reason: "truncated batch header"}
			}
			buf, reuse = readBuffer(reuse, n), nil // the records decoded from buf share it
			bufPos = pos
			if err := s.readAt(buf, pos); err != nil {
				return dst, err
			}
		}
		hdr := buf[pos-bufPos:]
		info, err := parseBatchHeader(hdr)
		if err != nil {
			return dst, &CorruptError{File: s.logPath, Position: pos, Reason: err.Error()}
		}
		if info.baseOffset != want {
			return dst, &CorruptError{File: s.logPath, Position: pos,
				Reason: "base offset " + itoa(info.baseOffset) + ", expected " + itoa(want)}
		}
		if pos+int64(info.size) > end {
			return dst, &CorruptError{File: s.logPath, Position: pos, Reason: "batch runs past the end of the segment"}
		}
		if decide(info) == scanTake {
			if int64(len(hdr)) < int64(info.size) {
				// Re-read so the whole batch is in one fresh buffer.
				n := min(max(int64(info.size), int64(maxBytes-taken), readChunk), end-pos)
				buf, reuse = readBuffer(reuse, n), nil
				bufPos = pos
				if err := s.readAt(buf, pos); err != nil {
					return dst, err
				}
				hdr = buf
			}
			dst, _, err = decodeBatch(dst, hdr[:info.size], from)
			if err != nil {
				return dst, &CorruptError{File: s.logPath, Position: pos, Reason: err.Error()}
			}
			taken += info.size
		}
		pos += int64(info.size)
		want = info.nextOffset()
	}
	return dst, nil
}
