package commitlog

import "time"

// EnforceRetention deletes the oldest sealed segments that are past
// RetentionAge (their newest record is older) or that take the log over
// RetentionBytes. The active segment is never deleted. It returns how many
// segments it deleted. A reader holding a deleted segment finishes its read;
// the files are removed when it lets go.
func (l *Log) EnforceRetention() (int, error) {
	if l.closed.Load() {
		return 0, ErrClosed
	}
	now := l.opts.Now().UnixNano()
	l.mu.Lock()
	var total int64
	for _, s := range l.segments {
		total += s.size.Load()
	}
	n := 0
	for n < len(l.segments)-1 {
		s := l.segments[n]
		expired := l.opts.RetentionAge > 0 && s.maxTS.Load() < now-int64(l.opts.RetentionAge)
		oversize := l.opts.RetentionBytes > 0 && total > l.opts.RetentionBytes
		if !expired && !oversize {
			break
		}
		total -= s.size.Load()
		n++
	}
	deleted := append([]*segment(nil), l.segments[:n]...)
	l.segments = append(l.segments[:0:0], l.segments[n:]...)
	l.mu.Unlock()

	for _, s := range deleted {
		l.opts.Logger.Info("retention deleted segment", "segment", s.logPath,
			"first_offset", s.base, "next_offset", s.next.Load())
		s.deleted.Store(true)
		s.release()
	}
	if n > 0 {
		if err := l.opts.FS.SyncDir(l.dir); err != nil {
			return n, err
		}
	}
	return n, nil
}

// retainer runs EnforceRetention every RetentionCheck until Close.
func (l *Log) retainer() {
	defer l.wg.Done()
	t := time.NewTicker(l.opts.RetentionCheck)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			if _, err := l.EnforceRetention(); err != nil {
				l.opts.Logger.Error("retention failed", "dir", l.dir, "err", err)
			}
		case <-l.closing:
			return
		}
	}
}

// Sync fsyncs the active segment, whatever the policy. It is how a caller
// using SyncInterval or SyncNone makes everything appended so far durable.
func (l *Log) Sync() error {
	if l.closed.Load() {
		return ErrClosed
	}
	return l.activeSegment().file.Sync()
}

// Close stops the writer, fsyncs the active segment and closes the files.
// Appends waiting for the writer fail with ErrClosed; reads in progress
// finish.
func (l *Log) Close() error {
	// Setting closed under sendMu waits out appends that are sending; later
	// ones see closed and never send.
	l.sendMu.Lock()
	if l.closed.Load() {
		l.sendMu.Unlock()
		return ErrClosed
	}
	l.closed.Store(true)
	l.sendMu.Unlock()
	close(l.closing)
	l.wg.Wait()
	// Answer appends the writer never took.
	for {
		select {
		case r := <-l.appendCh:
			r.answer(ErrClosed)
			continue
		default:
		}
		break
	}
	var err error
	seg := l.activeSegment()
	if l.failed.Load() == nil {
		err = l.settleZeros(seg)
		if err == nil {
			err = seg.file.Sync()
		}
	} else {
		l.waitZeroFill(seg) // it must not touch the file once it is closed
	}
	l.mu.Lock()
	for _, s := range l.segments {
		s.release()
	}
	l.mu.Unlock()
	return err
}
