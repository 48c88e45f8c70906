package commitlog

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
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
	// written: answer once the batch is written, without waiting for its
	// fsync (AppendUnsynced).
	written bool
	// onWritten, for AppendUnsyncedAsync, is the answer: the writer calls
	// it instead of signalling done, and then owns the request.
	onWritten func(base int64, err error)
	done      chan struct{}
}

// answer gives r its outcome: through done to the appender waiting, or,
// for an async request, by calling its onWritten and putting r back in
// the pool (nobody else holds it).
func (r *appendRequest) answer(err error) {
	if r.onWritten == nil {
		r.err = err
		r.done <- struct{}{}
		return
	}
	f, base := r.onWritten, r.base
	r.onWritten = nil
	requestPool.Put(r)
	f(base, err)
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
	return l.append(ctx, recs, false, nil)
}

// AppendUnsynced is Append that returns once the batch is written to its
// segment file, without waiting for the fsync: the batch survives the
// process being killed, and becomes durable against a power loss with the
// fsync that follows: under SyncAlways, the next Append's, or one of its
// own after Options.UnsyncedDelay. Readers see it only once it is durable,
// as with Append. Use it for records whose loss in a power cut is
// harmless, such as a subscription's leases and acks: a later Append to
// the same log returns only after everything written before it is durable
// too.
func (l *Log) AppendUnsynced(ctx context.Context, recs []Record) (int64, error) {
	return l.append(ctx, recs, true, nil)
}

// AppendQueued is Append that calls queued as soon as the batch holds its
// place in the log, before it is written: an append started after queued
// returns gets later offsets. A producer can so have several batches in
// flight without reordering them. queued is not called if Append fails
// before the batch is queued.
func (l *Log) AppendQueued(ctx context.Context, recs []Record, queued func()) (int64, error) {
	return l.append(ctx, recs, false, queued)
}

// AppendUnsyncedAsync is AppendUnsynced for a caller that need not wait
// for the write (a subscription's leases): it returns as soon as the batch
// holds its place in the log (an append started after it returns gets
// later offsets), with no goroutine left waiting. The writer calls written
// with the batch's first offset and the outcome once the batch is written
// (or the log failed or closed first); it runs on the writer's goroutine
// and must not block. An error returned means nothing was queued, and
// written is not called. The writer always writes these batches, since
// the caller does not wait for the write.
func (l *Log) AppendUnsyncedAsync(recs []Record, written func(base int64, err error)) error {
	req, err := l.prepare(recs, true)
	if err != nil {
		return err
	}
	req.onWritten = written
	l.sendMu.RLock()
	defer l.sendMu.RUnlock()
	if l.closed.Load() {
		req.onWritten = nil
		requestPool.Put(req)
		return ErrClosed
	}
	l.queuedN.Add(1)
	l.appendCh <- req
	return nil
}

// prepare takes a request from the pool and encodes recs into it.
func (l *Log) prepare(recs []Record, unsynced bool) (*appendRequest, error) {
	if l.closed.Load() {
		return nil, ErrClosed
	}
	if f := l.failed.Load(); f != nil {
		return nil, f
	}
	req := requestPool.Get().(*appendRequest)
	req.err, req.base, req.written = nil, 0, unsynced
	var err error
	req.batch, err = encodeBatch(req.batch[:0], recs)
	if err == nil && len(req.batch) > l.opts.MaxBatchBytes {
		err = fmt.Errorf("%w: %d bytes encoded, the limit is %d", ErrBatchTooLarge, len(req.batch), l.opts.MaxBatchBytes)
	}
	if err != nil {
		requestPool.Put(req)
		return nil, err
	}
	req.count = len(recs)
	req.first = recs[0].Timestamp
	req.maxTS = recs[0].Timestamp
	for i := range recs {
		req.maxTS = max(req.maxTS, recs[i].Timestamp)
	}
	return req, nil
}

func (l *Log) append(ctx context.Context, recs []Record, unsynced bool, queued func()) (int64, error) {
	req, err := l.prepare(recs, unsynced)
	if err != nil {
		return 0, err
	}
	defer func() {
		if req != nil {
			requestPool.Put(req)
		}
	}()
	// sendMu makes the closed check and the send one step against Close,
	// so every request sent is answered by the writer or by Close's drain.
	l.sendMu.RLock()
	if l.closed.Load() {
		l.sendMu.RUnlock()
		return 0, ErrClosed
	}
	if w, lead, ok := l.writeInline(req); ok {
		if queued != nil {
			queued()
		}
		if lead {
			l.syncGroups([]written{w})
		}
		l.sendMu.RUnlock()
	} else {
		l.queuedN.Add(1)
		select {
		case l.appendCh <- req:
			l.sendMu.RUnlock()
			if queued != nil {
				queued()
			}
		case <-ctx.Done():
			l.queuedN.Add(-1)
			l.sendMu.RUnlock()
			return 0, ctx.Err()
		}
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

// written is a group the writer has written and the syncer must make
// durable, visible and answered.
type written struct {
	seg   *segment
	end   int64 // position after the group in seg
	next  int64 // offset after the group
	group []*appendRequest
	err   error
}

// writer is the goroutine that owns the active segment's writes: it takes
// every waiting append, writes them with one write and passes the group to
// the syncer. While the syncer fsyncs one group the writer is already
// writing the next: write and fsync overlap, and everything that arrives
// during an fsync shares the next one (group commit). Started by Open; it
// stops when Close closes l.closing, and then closes l.syncCh.
func (l *Log) writer() {
	defer l.wg.Done()
	defer close(l.syncCh)
	var buf []byte
	for {
		select {
		case req := <-l.appendCh:
			group := []*appendRequest{req}
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
			l.wmu.Lock()
			var w written
			buf, w = l.write(group, buf[:0])
			l.queuedN.Add(-int64(len(group)))
			w.group = answerWritten(w.group, w.err)
			l.toSyncer(w)
			l.wmu.Unlock()
			if cap(buf) > 2*maxGroupBytes {
				buf = nil
			}
		case <-l.closing:
			return
		}
	}
}

// writeInline writes req on the calling goroutine, as the writer would
// have, when nothing is queued for the writer and no one is writing; ok
// reports whether it did. It saves the two goroutine hand-offs (to the
// writer and back) that cost an idle log tens of microseconds on a busy
// machine. Order holds: an append queued before (queuedN counts it until
// it is written) sends this one to the writer too. The caller holds
// sendMu.RLock, so Close waits for it.
//
// With lead, the caller also makes the batch durable and visible itself
// (syncGroups), saving the hand-offs to the syncer and back: it leads when
// no written group is waiting for its fsync (syncing is 0), so nothing
// earlier is left unpublished. Batches written while it fsyncs go to the
// syncer, which fsyncs them together after it (fsyncMu): group commit is
// unchanged.
func (l *Log) writeInline(req *appendRequest) (w written, lead, ok bool) {
	if l.queuedN.Load() > 0 || !l.wmu.TryLock() {
		return written{}, false, false
	}
	defer l.wmu.Unlock()
	if l.queuedN.Load() > 0 {
		return written{}, false, false
	}
	group := [1]*appendRequest{req}
	_, w = l.write(group[:], nil)
	w.group = answerWritten(w.group, w.err)
	if len(w.group) > 0 && l.opts.Sync != SyncInterval && l.syncing.CompareAndSwap(0, 1) {
		return w, true, true
	}
	l.toSyncer(w)
	return written{}, false, true
}

// toSyncer hands a written group to the syncer; the caller holds wmu, so
// groups reach it in the order they were written.
func (l *Log) toSyncer(w written) {
	l.syncing.Add(1)
	l.syncCh <- w
}

// answerWritten answers the AppendUnsynced requests of a group that has
// just been written (with err, the write's outcome) and returns the
// requests still waiting for the fsync. The answered ones belong to their
// appenders again and must not be touched after.
func answerWritten(group []*appendRequest, err error) []*appendRequest {
	waiting := group[:0]
	for _, r := range group {
		if r.written {
			r.answer(err)
			continue
		}
		waiting = append(waiting, r)
	}
	return waiting
}

// syncer makes written groups durable (under SyncAlways, one fsync for all
// that are waiting), then visible to readers, then answers their appenders.
// Under SyncInterval it fsyncs on a ticker instead. Started by Open; it
// stops when the writer closes l.syncCh, after answering every group.
func (l *Log) syncer() {
	defer l.wg.Done()
	var tick <-chan time.Time
	if l.opts.Sync == SyncInterval {
		t := time.NewTicker(l.opts.SyncInterval)
		defer t.Stop()
		tick = t.C
	}
	// Groups of AppendUnsynced batches only wait (lazy) up to
	// UnsyncedDelay for an fsync that someone waits for, or for the timer.
	var lazyTimer *time.Timer
	var lazyDue <-chan time.Time
	var (
		pending []written
		dirty   bool
	)
	for {
		select {
		case w, ok := <-l.syncCh:
			if !ok {
				return
			}
			pending = append(pending, w)
		drain:
			for {
				select {
				case w, ok := <-l.syncCh:
					if !ok {
						break drain
					}
					pending = append(pending, w)
				default:
					break drain
				}
			}
			if l.opts.Sync == SyncAlways && l.opts.UnsyncedDelay > 0 && !waited(pending) {
				if lazyDue == nil {
					if lazyTimer == nil {
						lazyTimer = time.NewTimer(l.opts.UnsyncedDelay)
						defer func() { lazyTimer.Stop() }()
					} else {
						lazyTimer.Reset(l.opts.UnsyncedDelay)
					}
					lazyDue = lazyTimer.C
				}
				continue
			}
		case <-lazyDue:
		case <-tick:
			if dirty && l.failure() == nil {
				if err := l.activeSegment().file.Sync(); err != nil {
					l.fail(err)
				}
				dirty = false
			}
			continue
		}
		if lazyDue != nil {
			lazyTimer.Stop()
			lazyDue = nil
		}
		if l.syncGroups(pending) {
			dirty = true
		}
		clear(pending)
		pending = pending[:0]
	}
}

// syncGroups makes written groups durable (under SyncAlways, one fsync per
// segment for all of them), then visible to readers, then answers their
// appenders; it reports whether it published any. The syncer and a
// leading appender (writeInline) take turns here (fsyncMu): two fsyncs of
// one file at once could each miss the other's error.
func (l *Log) syncGroups(groups []written) (published bool) {
	l.fsyncMu.Lock()
	defer l.fsyncMu.Unlock()
	defer l.syncing.Add(-int32(len(groups)))
	err := l.failure()
	if err == nil && l.opts.Sync == SyncAlways {
		var synced *segment
		for _, w := range groups {
			if w.err == nil && w.seg != synced {
				if serr := w.seg.file.Sync(); serr != nil {
					err = l.fail(serr)
					break
				}
				synced = w.seg
			}
		}
	}
	for _, w := range groups {
		werr := w.err
		if werr == nil && err != nil {
			werr = err
		}
		if werr == nil {
			l.publish(w.seg, w.end, w.next)
			published = true
		}
		for _, r := range w.group {
			r.answer(werr)
		}
	}
	return published
}

// waited reports whether an appender waits for one of the groups: only
// AppendUnsynced batches (answered already) leave a group empty.
func waited(groups []written) bool {
	for _, w := range groups {
		if len(w.group) > 0 || w.err != nil {
			return true
		}
	}
	return false
}

func (l *Log) activeSegment() *segment {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.segments[len(l.segments)-1]
}

// failure returns the error that stopped the log, or nil.
func (l *Log) failure() error {
	if f := l.failed.Load(); f != nil {
		return f
	}
	return nil
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

// write assigns offsets to a group of batches and writes them, rolling
// segments as needed. buf is the writer's reusable buffer for coalescing;
// write returns it, possibly grown.
func (l *Log) write(group []*appendRequest, buf []byte) ([]byte, written) {
	if err := l.failure(); err != nil {
		return buf, written{group: group, err: err}
	}
	seg := l.activeSegment()
	next := l.writeNext
	var single []byte // a group of one is written without a copy
	flush := func() error {
		out := buf
		if single != nil {
			out = single
		}
		if len(out) == 0 {
			return nil
		}
		pos := seg.writePos - int64(len(out))
		l.beforeWrite(seg, pos, seg.writePos)
		_, err := seg.file.WriteAt(out, pos)
		buf, single = buf[:0], nil
		return err
	}
	for _, r := range group {
		if seg.writePos > 0 && (seg.writePos+int64(len(r.batch)) > l.opts.SegmentBytes ||
			(l.opts.SegmentAge > 0 && r.maxTS-seg.firstTS >= int64(l.opts.SegmentAge))) {
			if err := flush(); err != nil {
				return buf, written{group: group, err: l.fail(err)}
			}
			var err error
			if seg, err = l.roll(seg, next); err != nil {
				return buf, written{group: group, err: l.fail(err)}
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
		return buf, written{group: group, err: l.fail(err)}
	}
	l.writeNext = next
	return buf, written{seg: seg, end: seg.writePos, next: next, group: group}
}

// publish makes seg's bytes up to end, and offsets up to next, visible to
// readers and wakes those waiting. Values only grow: a roll may already
// have published a sealed segment whole.
func (l *Log) publish(seg *segment, end, next int64) {
	storeMax(&seg.size, end)
	storeMax(&seg.next, next)
	if storeMax(&l.next, next) {
		l.notify()
	}
}

// storeMax raises v to n unless it is already at least n; the writer (at a
// roll) and the syncer both publish, so updates must never go backwards.
func storeMax(v *atomic.Int64, n int64) bool {
	for {
		cur := v.Load()
		if n <= cur {
			return false
		}
		if v.CompareAndSwap(cur, n) {
			return true
		}
	}
}

// roll seals seg (whose bytes are written) and makes a new active segment
// starting at next. The sealed segment is fsynced whatever the policy, its
// index written, and the new file's directory entry made durable, so that
// recovery only ever has to repair the last segment.
func (l *Log) roll(seg *segment, next int64) (*segment, error) {
	if err := l.settleZeros(seg); err != nil {
		return nil, err
	}
	if err := seg.file.Sync(); err != nil {
		return nil, err
	}
	// Everything written to seg is durable now, including groups the syncer
	// has not answered yet: publish it whole, since groups after the roll
	// will only name the new segment.
	l.publish(seg, seg.writePos, next)
	if err := writeIndexFile(l.opts.FS, seg.indexPath(), seg.index.encode(seg.base, next, seg.maxTS.Load())); err != nil {
		return nil, err
	}
	path := filepath.Join(l.dir, segmentName(next)+logSuffix)
	f, err := l.opts.FS.OpenFile(path, os.O_CREATE|os.O_RDWR|os.O_TRUNC, 0o644)
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
