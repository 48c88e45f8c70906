package commitlog

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/heraldhq/herald/internal/vfs"
)

const (
	logSuffix   = ".log"
	indexSuffix = ".index"
)

// segment is one file of the log and its sparse index.
//
// Ownership: the Log's writer goroutine is the only one that writes the
// file, and writePos, firstTS are its alone. Readers use the atomics: size
// is the number of bytes that hold whole, visible batches, next the offset
// after them. A segment is closed (and, if retention deleted it, removed)
// when the last reference is released; the Log holds one reference and every
// read takes one for its duration.
type segment struct {
	base    int64
	logPath string
	file    vfs.File
	fs      vfs.FS
	index   index

	size  atomic.Int64
	next  atomic.Int64
	maxTS atomic.Int64

	writePos int64     // writer only
	firstTS  int64     // writer only: timestamp of the first batch, for roll by age
	lastIdx  int64     // writer only: position of the last index entry
	zero     zeroFills // writer only: zero-filling ahead (prealloc.go)

	refs    atomic.Int32
	deleted atomic.Bool
}

func segmentName(base int64) string { return fmt.Sprintf("%020d", base) }

func parseSegmentName(name string) (int64, bool) {
	stem, ok := strings.CutSuffix(name, logSuffix)
	if !ok || len(stem) != 20 {
		return 0, false
	}
	base, err := strconv.ParseInt(stem, 10, 64)
	return base, err == nil && base >= 0
}

func (s *segment) indexPath() string {
	return strings.TrimSuffix(s.logPath, logSuffix) + indexSuffix
}

func newSegment(fs vfs.FS, dir string, base int64, file vfs.File) *segment {
	s := &segment{
		base:    base,
		logPath: filepath.Join(dir, segmentName(base)+logSuffix),
		file:    file,
		fs:      fs,
		lastIdx: -1,
		firstTS: noTimestamp,
	}
	s.next.Store(base)
	s.maxTS.Store(noTimestamp)
	s.refs.Store(1)
	return s
}

func (s *segment) acquire() { s.refs.Add(1) }

// release drops a reference; the last one closes the file and, for a
// segment deleted by retention, removes its files.
func (s *segment) release() {
	if s.refs.Add(-1) != 0 {
		return
	}
	s.file.Close()
	if s.deleted.Load() {
		s.fs.Remove(s.logPath)
		s.fs.Remove(s.indexPath())
	}
}

// readAt fills b from position pos, treating a short read inside the
// visible size as corruption (the file lost data under us).
func (s *segment) readAt(b []byte, pos int64) error {
	n, err := s.file.ReadAt(b, pos)
	if n == len(b) {
		return nil
	}
	if err == nil || errors.Is(err, io.EOF) {
		return &CorruptError{File: s.logPath, Position: pos + int64(n), Reason: "file shorter than its recorded size"}
	}
	return fmt.Errorf("read %s: %w", s.logPath, err)
}

// addIndexEntry records a batch at pos in the sparse index when it is the
// first of the segment or far enough from the previous entry.
func (s *segment) maybeIndex(pos, base, maxTSBefore int64, interval int) {
	if s.lastIdx >= 0 && pos-s.lastIdx < int64(interval) {
		return
	}
	s.index.add(indexEntry{offset: base, pos: pos, maxTSBefore: maxTSBefore})
	s.lastIdx = pos
}
