package commitlog

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// appendRequest carries one encoded batch from Append to the writer.
type appendRequest struct {
	batch []byte // encoded, base offset still unset
	count int
	first int64 // timestamp of the first record
	maxTS int64
	base  int64 // set by the writer
	err   error // set by the writer
	done  chan struct{}
}

var requestPool = sync.Pool{New: func() any {
	return &appendRequest{done: make(chan struct{}, 1)}
}}

// Append stores recs as one batch and returns the offset given to the
// first; the others follow it. Under SyncAlways it returns once the batch is
// fsynced. The records' Offset fields are ignored and left unchanged.
//
// If ctx ends while the batch is waiting for the writer, Append returns the
// context's error and the batch may or may not have been stored.
func (l *Log) Append(ctx context.Context, recs []Record) (int64, error) {
	if l.closed.Load() {
		return 0, ErrClosed
	}
	if f := l.failed.Load(); f != nil {
		return 0, f
	}
	req := requestPool.Get().(*appendRequest)
	req.err, req.base = nil, 0
	defer func() {
		if req != nil {
			requestPool.Put(req)
		}
	}()
	var err error
	req.batch, err = encodeBatch(req.batch[:0], recs)
	if err != nil {
		return 0, err
	}
	if len(req.batch) > l.opts.MaxBatchBytes {
		return 0, fmt.Errorf("%w: %d bytes encoded, the limit is %d", ErrBatchTooLarge, len(req.batch), l.opts.MaxBatchBytes)
	}
	req.count = len(recs)
	req.first = recs[0].Timestamp
	req.maxTS = recs[0].Timestamp
	for i := range recs {
		req.maxTS = max(req.maxTS, recs[i].Timestamp)
	}
	// sendMu makes the closed check and the send one step against Close,
	// so every request sent is answered by the writer or by Close's drain.
	l.sendMu.RLock()
	if l.closed.Load() {
		l.sendMu.RUnlock()
		return 0, ErrClosed
	}
	select {
	case l.appendCh <- req:
		l.sendMu.RUnlock()
	case <-ctx.Done():
		l.sendMu.RUnlock()
		return 0, ctx.Err()
	}
	select {
	case <-req.done:
	case <-ctx.Done():
		// The writer still owns req; leave it to the garbage collector.
		req = nil
		return 0, ctx.Err()
	}
	if req.err != nil {
		return 0, req.err
	}
	return req.base, nil
}

// maxGroupBytes bounds how much one group commit writes.
const maxGroupBytes = 8 << 20

// writer is the goroutine that owns the active segment: it takes every
// waiting append, writes them with one write, fsyncs once (group commit),
// makes them visible and answers them. Started by Open, stopped by Close.
func (l *Log) writer() {
	defer l.wg.Done()
	var tick <-chan time.Time
	if l.opts.Sync == SyncInterval {
		t := time.NewTicker(l.opts.SyncInterval)
		defer t.Stop()
		tick = t.C
	}
	var (
		group []*appendRequest
		buf   []byte
		dirty bool
	)
	for {
		select {
		case req := <-l.appendCh:
			group = append(group[:0], req)
			size := len(req.batch)
		drain:
			for size < maxGroupBytes {
				select {
				case r := <-l.appendCh:
					group = append(group, r)
					size += len(r.batch)
				default:
					break drain
				}
			}
			var err error
			buf, err = l.commit(group, buf[:0])
			if err == nil && l.opts.Sync != SyncAlways {
				dirty = true
			}
			for _, r := range group {
				if err != nil {
					r.err = err
				}
				r.done <- struct{}{}
			}
			if cap(buf) > 2*maxGroupBytes {
				buf = nil
			}
		case <-tick:
			if dirty {
				if err := l.activeSegment().file.Sync(); err != nil {
					l.fail(err)
				}
				dirty = false
			}
		case <-l.closing:
			return
		}
	}
}

func (l *Log) activeSegment() *segment {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.segments[len(l.segments)-1]
}

func (l *Log) fail(err error) *FailedError {
	f := &FailedError{Err: err}
	if l.failed.CompareAndSwap(nil, f) {
		l.opts.Logger.Error("commit log stopped after a storage error; reopen to recover",
			"dir", l.dir, "err", err)
		return f
	}
	return l.failed.Load()
}

// commit writes a group of batches, rolling segments as needed, syncs under
// SyncAlways, then publishes the new records to readers. buf is the writer's
// reusable buffer for coalescing; commit returns it, possibly grown.
func (l *Log) commit(group []*appendRequest, buf []byte) ([]byte, error) {
	if f := l.failed.Load(); f != nil {
		return buf, f
	}
	seg := l.activeSegment()
	next := seg.next.Load()
	var single []byte // a group of one is written without a copy
	flush := func() error {
		out := buf
		if single != nil {
			out = single
		}
		if len(out) == 0 {
			return nil
		}
		_, err := seg.file.Write(out)
		buf, single = buf[:0], nil
		return err
	}
	for _, r := range group {
		if seg.writePos > 0 && (seg.writePos+int64(len(r.batch)) > l.opts.SegmentBytes ||
			(l.opts.SegmentAge > 0 && r.maxTS-seg.firstTS >= int64(l.opts.SegmentAge))) {
			if err := flush(); err != nil {
				return buf, l.fail(err)
			}
			var err error
			if seg, err = l.roll(seg, next); err != nil {
				return buf, l.fail(err)
			}
		}
		putBaseOffset(r.batch, next)
		r.base = next
		seg.maybeIndex(seg.writePos, next, seg.maxTS.Load(), l.opts.IndexIntervalBytes)
		if seg.firstTS == noTimestamp {
			seg.firstTS = r.first
		}
		if r.maxTS > seg.maxTS.Load() {
			seg.maxTS.Store(r.maxTS)
		}
		if len(group) == 1 {
			single = r.batch
		} else {
			buf = append(buf, r.batch...)
		}
		seg.writePos += int64(len(r.batch))
		next += int64(r.count)
	}
	if err := flush(); err != nil {
		return buf, l.fail(err)
	}
	if l.opts.Sync == SyncAlways {
		if err := seg.file.Sync(); err != nil {
			return buf, l.fail(err)
		}
	}
	l.publish(seg, next)
	return buf, nil
}

// publish makes everything the writer wrote to seg, up to offset next,
// visible to readers and wakes those waiting.
func (l *Log) publish(seg *segment, next int64) {
	seg.size.Store(seg.writePos)
	seg.next.Store(next)
	l.next.Store(next)
	l.notify()
}

// roll seals seg (whose bytes are written) and makes a new active segment
// starting at next. The sealed segment is fsynced whatever the policy, its
// index written, and the new file's directory entry made durable, so that
// recovery only ever has to repair the last segment.
func (l *Log) roll(seg *segment, next int64) (*segment, error) {
	if err := seg.file.Sync(); err != nil {
		return nil, err
	}
	l.publish(seg, next)
	if err := writeIndexFile(l.opts.FS, seg.indexPath(), seg.index.encode(seg.base, next, seg.maxTS.Load())); err != nil {
		return nil, err
	}
	path := filepath.Join(l.dir, segmentName(next)+logSuffix)
	f, err := l.opts.FS.OpenFile(path, os.O_CREATE|os.O_RDWR|os.O_TRUNC|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	if err := l.opts.FS.SyncDir(l.dir); err != nil {
		f.Close()
		return nil, err
	}
	ns := newSegment(l.opts.FS, l.dir, next, f)
	l.mu.Lock()
	l.segments = append(l.segments, ns)
	l.mu.Unlock()
	return ns, nil
}
