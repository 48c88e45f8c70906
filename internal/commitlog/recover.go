package commitlog

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/heraldhq/herald/internal/atomicfile"
)

// RecoveryReport says what Open found and repaired.
type RecoveryReport struct {
	// TruncatedBytes were cut from the end of the last segment: a torn
	// write, or a corrupt batch and everything after it.
	TruncatedBytes int64
	// TruncatedAt is the reason for the cut, empty when nothing was cut.
	TruncatedAt string
	// ValidAfterCorruption is set when a batch that checks out follows the
	// corrupt one: more than a torn tail was damaged, and records that had
	// been acknowledged may be gone. Open logs this at error level.
	ValidAfterCorruption bool
	// RebuiltIndexes lists the segments whose index was missing or damaged.
	RebuiltIndexes []string
	// Duration of the whole Open.
	Duration time.Duration
}

// Open opens the log in dir, creating it if needed, and recovers it: the
// last segment is verified batch by batch and cut at the first torn or
// corrupt batch; indexes of sealed segments are loaded, or rebuilt when
// missing or damaged.
func Open(dir string, opts Options) (*Log, error) {
	if err := opts.Validate(); err != nil {
		return nil, fmt.Errorf("open log %s: %w", dir, err)
	}
	opts = opts.withDefaults()
	started := time.Now()
	l := &Log{
		dir:      dir,
		opts:     opts,
		appendCh: make(chan *appendRequest, 1024),
		closing:  make(chan struct{}),
		syncCh:   make(chan written, 64),
		waitCh:   make(chan struct{}),
	}
	if err := l.load(); err != nil {
		for _, s := range l.segments {
			s.release()
		}
		return nil, fmt.Errorf("open log %s: %w", dir, err)
	}
	l.recovery.Duration = time.Since(started)
	l.wg.Add(2)
	go l.writer()
	go l.syncer()
	if opts.RetentionCheck > 0 {
		l.wg.Add(1)
		go l.retainer()
	}
	return l, nil
}

func (l *Log) load() error {
	fs := l.opts.FS
	if err := fs.MkdirAll(l.dir, 0o755); err != nil {
		return err
	}
	entries, err := fs.ReadDir(l.dir)
	if err != nil {
		return err
	}
	var bases []int64
	for _, e := range entries {
		name := e.Name()
		if base, ok := parseSegmentName(name); ok {
			bases = append(bases, base)
		} else if strings.HasSuffix(name, ".tmp") {
			fs.Remove(filepath.Join(l.dir, name))
		}
	}
	sort.Slice(bases, func(i, j int) bool { return bases[i] < bases[j] })
	// Index files whose segment is gone (retention crashed between the two
	// removals) are leftovers.
	for _, e := range entries {
		if stem, ok := strings.CutSuffix(e.Name(), indexSuffix); ok {
			if base, ok := parseSegmentName(stem + logSuffix); ok && !slices.Contains(bases, base) {
				fs.Remove(filepath.Join(l.dir, e.Name()))
			}
		}
	}
	if len(bases) == 0 {
		f, err := fs.OpenFile(filepath.Join(l.dir, segmentName(0)+logSuffix), os.O_CREATE|os.O_RDWR, 0o644)
		if err != nil {
			return err
		}
		if err := fs.SyncDir(l.dir); err != nil {
			f.Close()
			return err
		}
		l.segments = []*segment{newSegment(fs, l.dir, 0, f)}
		return nil
	}
	for i, base := range bases {
		last := i == len(bases)-1
		flag := os.O_RDONLY
		if last {
			// The writer writes at explicit positions (WriteAt at
			// writePos), never at the file offset, which reads leave at 0.
			flag = os.O_RDWR
		}
		f, err := fs.OpenFile(filepath.Join(l.dir, segmentName(base)+logSuffix), flag, 0)
		if err != nil {
			return err
		}
		s := newSegment(fs, l.dir, base, f)
		l.segments = append(l.segments, s)
		if last {
			err = l.recoverActive(s)
		} else {
			err = l.loadSealed(s, bases[i+1])
		}
		if err != nil {
			return err
		}
	}
	l.next.Store(l.segments[len(l.segments)-1].next.Load())
	l.writeNext = l.next.Load()
	return nil
}

// loadSealed reads a sealed segment's index, or rebuilds it by scanning.
func (l *Log) loadSealed(s *segment, nextBase int64) error {
	st, err := s.file.Stat()
	if err != nil {
		return err
	}
	size := st.Size()
	data, err := atomicfile.Read(l.opts.FS, s.indexPath())
	if err == nil {
		entries, next, maxTS, derr := decodeIndex(data, s.base, size)
		if derr == nil && next == nextBase {
			s.index.entries = entries
			s.size.Store(size)
			s.writePos = size
			s.next.Store(next)
			s.maxTS.Store(maxTS)
			return nil
		}
	}
	l.recovery.RebuiltIndexes = append(l.recovery.RebuiltIndexes, s.logPath)
	l.opts.Logger.Warn("rebuilding segment index", "segment", s.logPath)
	end, cause, err := l.scanSegment(s, size)
	if err != nil {
		return err
	}
	if cause != "" || end != size || s.next.Load() != nextBase {
		// A sealed segment was fsynced before the next one was created, so
		// damage here is not a torn write: report it, keep the bytes for
		// inspection; reads that reach them get ErrCorrupt.
		l.opts.Logger.Error("corrupt sealed segment: records past the damage cannot be read",
			"segment", s.logPath, "valid_bytes", end, "file_bytes", size,
			"next_offset", s.next.Load(), "expected_next", nextBase, "reason", cause)
		s.size.Store(size)
		s.next.Store(nextBase)
		return nil
	}
	return writeIndexFile(l.opts.FS, s.indexPath(), s.index.encode(s.base, nextBase, s.maxTS.Load()))
}

// recoverActive verifies the last segment and cuts a torn or corrupt tail.
func (l *Log) recoverActive(s *segment) error {
	st, err := s.file.Stat()
	if err != nil {
		return err
	}
	size := st.Size()
	end, cause, err := l.scanSegment(s, size)
	if err != nil {
		return err
	}
	if end == size {
		return nil
	}
	// Zeros after the data are the room zero-filled ahead of it
	// (prealloc.go), left by a crash: not torn data, and not reported.
	dataEnd, err := l.lastNonZero(s, end, size)
	if err != nil {
		return err
	}
	if dataEnd == end {
		s.zero.zeroed = size
		return nil
	}
	r := &l.recovery
	r.TruncatedBytes = dataEnd - end
	r.TruncatedAt = fmt.Sprintf("%s at byte %d: %s", s.logPath, end, cause)
	r.ValidAfterCorruption = l.validBatchFollows(s, end, dataEnd)
	if r.ValidAfterCorruption {
		l.opts.Logger.Error("corrupt batch in the middle of the last segment; cutting it and everything after it",
			"segment", s.logPath, "position", end, "truncated_bytes", r.TruncatedBytes, "reason", cause)
	} else {
		l.opts.Logger.Warn("truncating torn tail of the last segment",
			"segment", s.logPath, "position", end, "truncated_bytes", r.TruncatedBytes, "reason", cause)
	}
	if err := s.file.Truncate(end); err != nil {
		return err
	}
	return s.file.Sync()
}

// lastNonZero returns the position after the last non-zero byte of s in
// [from, to), or from when they are all zero.
func (l *Log) lastNonZero(s *segment, from, to int64) (int64, error) {
	const chunk = 1 << 20
	last := from
	for pos := from; pos < to; pos += chunk {
		buf, err := l.readChunk(s, pos, min(chunk, to-pos))
		if err != nil {
			return 0, err
		}
		for i := len(buf) - 1; i >= 0; i-- {
			if buf[i] != 0 {
				last = pos + int64(i) + 1
				break
			}
		}
	}
	return last, nil
}

// scanSegment reads a segment from the start, verifying every batch and
// building its index, until the first batch that does not check out. It
// returns the end of the valid data and, if it stopped early, why.
func (l *Log) scanSegment(s *segment, size int64) (end int64, cause string, err error) {
	const chunk = 4 << 20
	var buf []byte
	bufPos := int64(0)
	pos := int64(0)
	next := s.base
	for pos < size {
		if pos+batchHeaderSize > size {
			cause = "incomplete batch header"
			break
		}
		if pos < bufPos || pos+batchHeaderSize > bufPos+int64(len(buf)) {
			if buf, err = l.readChunk(s, pos, min(chunk, size-pos)); err != nil {
				return 0, "", err
			}
			bufPos = pos
		}
		info, perr := parseBatchHeader(buf[pos-bufPos:])
		if perr != nil {
			cause = perr.Error()
			break
		}
		if info.baseOffset != next {
			cause = fmt.Sprintf("base offset %d, expected %d", info.baseOffset, next)
			break
		}
		if pos+int64(info.size) > size {
			cause = "incomplete batch"
			break
		}
		if pos+int64(info.size) > bufPos+int64(len(buf)) {
			if buf, err = l.readChunk(s, pos, min(max(chunk, int64(info.size)), size-pos)); err != nil {
				return 0, "", err
			}
			bufPos = pos
		}
		b := buf[pos-bufPos : pos-bufPos+int64(info.size)]
		if verr := verifyBatch(b); verr != nil {
			cause = verr.Error()
			break
		}
		s.maybeIndex(pos, next, s.maxTS.Load(), l.opts.IndexIntervalBytes)
		if s.firstTS == noTimestamp {
			s.firstTS = info.firstTS
		}
		s.maxTS.Store(max(s.maxTS.Load(), info.maxTS))
		pos += int64(info.size)
		next = info.nextOffset()
	}
	s.writePos = pos
	s.size.Store(pos)
	s.next.Store(next)
	return pos, cause, nil
}

func (l *Log) readChunk(s *segment, pos, n int64) ([]byte, error) {
	buf := make([]byte, n)
	if err := s.readAt(buf, pos); err != nil {
		return nil, err
	}
	return buf, nil
}

// validBatchFollows tells a torn tail (garbage or nothing after the cut)
// from damage in the middle (a well-formed batch after the bad one): it
// looks for a batch whose CRC checks out at any position after end.
func (l *Log) validBatchFollows(s *segment, end, size int64) bool {
	rest := size - end
	if rest > 64<<20 {
		rest = 64 << 20
	}
	buf, err := l.readChunk(s, end, rest)
	if err != nil {
		return false
	}
	for i := 1; i+batchHeaderSize <= len(buf); i++ {
		info, err := parseBatchHeader(buf[i:])
		if err != nil || info.size > len(buf)-i {
			continue
		}
		if verifyBatch(buf[i:i+info.size]) == nil {
			return true
		}
	}
	return false
}
