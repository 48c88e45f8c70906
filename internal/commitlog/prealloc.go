package commitlog

// Zero-filling ahead of the writer (SyncAlways only, unless
// Options.NoZeroFill).
//
// An fdatasync after appending to a file must also commit the file's new
// size, a filesystem journal transaction: on this project's disk that
// makes a small append+fdatasync cost ~190 µs, where overwriting bytes
// that already exist costs ~100 µs. So, like PostgreSQL's zero-filled WAL
// segments, the active segment is extended with zeros ahead of the data,
// in chunks, by a helper goroutine that fdatasyncs them itself; the
// writer then writes into bytes that exist, and every group commit's
// fdatasync flushes data only. The zeros past the data are not part of the
// log: recovery stops at the first batch header that does not check out
// and cuts the zero tail silently (zeros are not a torn write), and a
// segment is truncated to its data when it is sealed or the log closed.

import "fmt"

const (
	// zeroChunk is how much one fill adds.
	zeroChunk = 1 << 20
	// zeroLowWater: a fill starts when the data comes this close to the
	// end of the zeros, so the next chunk is ready before it is needed.
	zeroLowWater = 512 << 10
)

// zeroFill is a fill in progress: [start, end) of the segment.
type zeroFill struct {
	start, end int64
	done       chan error // receives the fill's outcome once
}

// zeroFills is the writer's state of zero-filling for the active segment.
// Writer only.
type zeroFills struct {
	zeroed  int64     // bytes below this exist (zeros or data) and are durable
	pending *zeroFill // at most one fill runs at a time
}

// zeroBuf is the zeros every fill writes, shared by all logs and never
// written to. (It was a 1 MiB buffer per segment: subscription journals,
// which roll at every compaction, allocated one each time.)
var zeroBuf [zeroChunk]byte

// beforeWrite is called by the writer before it writes [pos, end) of seg:
// it waits for a fill that overlaps the range (the two must not race), and
// starts the next fill when the data nears the end of the zeros.
func (l *Log) beforeWrite(seg *segment, pos, end int64) {
	z := &seg.zero
	if z.pending != nil {
		wait := end > z.pending.start
		select {
		case err := <-z.pending.done:
			l.fillDone(seg, err)
		default:
			if wait {
				l.fillDone(seg, <-z.pending.done)
			}
		}
	}
	if l.opts.Sync != SyncAlways || l.opts.NoZeroFill || z.pending != nil || end+zeroLowWater <= z.zeroed || z.zeroed >= l.opts.SegmentBytes {
		return
	}
	start := max(z.zeroed, end)
	stop := min(start+zeroChunk, l.opts.SegmentBytes)
	if stop <= start {
		return
	}
	f := &zeroFill{start: start, end: stop, done: make(chan error, 1)}
	z.pending = f
	zeros, file := zeroBuf[:stop-start], seg.file
	go func() {
		_, err := file.WriteAt(zeros, f.start)
		if err == nil {
			err = file.Sync()
		}
		f.done <- err
	}()
}

// fillDone records the outcome of the pending fill. A failed fill (a full
// disk) is not an error of the log: the writer appends past the zeros as
// it would without them, and the next write decides for itself.
func (l *Log) fillDone(seg *segment, err error) {
	z := &seg.zero
	f := z.pending
	z.pending = nil
	if err != nil {
		l.opts.Logger.Debug("zero-filling ahead of the log failed; appending without it", "segment", seg.logPath, "err", err)
		return
	}
	// Bytes between the old frontier and the fill's start (written as data
	// meanwhile) exist too; nothing below f.end is a hole.
	z.zeroed = max(z.zeroed, f.end)
}

// waitZeroFill waits for a fill in progress on seg, if any.
func (l *Log) waitZeroFill(seg *segment) {
	if z := &seg.zero; z.pending != nil {
		l.fillDone(seg, <-z.pending.done)
	}
}

// settleZeros waits for a fill in progress and cuts seg back to its data:
// before a segment is sealed, and when the log closes.
func (l *Log) settleZeros(seg *segment) error {
	l.waitZeroFill(seg)
	z := &seg.zero
	if z.zeroed <= seg.writePos {
		return nil
	}
	if err := seg.file.Truncate(seg.writePos); err != nil {
		return fmt.Errorf("cut the zero-filled tail of %s: %w", seg.logPath, err)
	}
	z.zeroed = seg.writePos
	return nil
}
