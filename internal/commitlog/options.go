package commitlog

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/heraldhq/herald/internal/vfs"
)

// SyncPolicy says when appended bytes are fsynced, and so what an append's
// return promises.
type SyncPolicy int

const (
	// SyncAlways fsyncs before Append returns: an acknowledged record
	// survives a crash of the process or the machine. The default.
	SyncAlways SyncPolicy = iota
	// SyncInterval fsyncs every Options.SyncInterval. Append returns once
	// the bytes are written to the OS; a machine crash can lose the last
	// interval, a process crash loses nothing.
	SyncInterval
	// SyncNone leaves flushing to the OS page cache.
	SyncNone
)

func (p SyncPolicy) String() string {
	switch p {
	case SyncAlways:
		return "always"
	case SyncInterval:
		return "interval"
	case SyncNone:
		return "none"
	}
	return fmt.Sprintf("SyncPolicy(%d)", int(p))
}

// ParseSyncPolicy parses "always", "interval" or "none".
func ParseSyncPolicy(s string) (SyncPolicy, error) {
	switch s {
	case "always", "":
		return SyncAlways, nil
	case "interval":
		return SyncInterval, nil
	case "none":
		return SyncNone, nil
	}
	return 0, fmt.Errorf("unknown sync policy %q: use always, interval or none", s)
}

// Options configure a Log. The zero value is usable: Open fills defaults.
type Options struct {
	// SegmentBytes rolls the active segment once it holds this many bytes.
	SegmentBytes int64
	// SegmentAge rolls the active segment once its first batch is this old;
	// 0 never rolls by age.
	SegmentAge time.Duration
	// Sync is the fsync policy; SyncInterval uses SyncInterval.
	Sync         SyncPolicy
	SyncInterval time.Duration
	// UnsyncedDelay, under SyncAlways, is how long batches written with
	// AppendUnsynced may wait for their fsync when no Append waits for
	// one: they share the next Append's fsync, or get their own after this
	// delay. 0 fsyncs them at once. Fewer fsyncs for records whose loss in
	// a power cut is harmless (a subscription's leases and acks).
	UnsyncedDelay time.Duration
	// NoZeroFill, under SyncAlways, appends without zero-filling ahead of
	// the writer (prealloc.go). The fill makes every fsync of the log
	// cheaper but writes each byte twice; a log whose fsyncs nobody waits
	// for (a subscription journal, fsynced every UnsyncedDelay) only adds
	// that writing to the disk's queue, where it slows the fsyncs of the
	// logs that are waited for.
	NoZeroFill bool
	// IndexIntervalBytes is the distance in log bytes between two sparse
	// index entries: a read scans at most this much before its offset.
	IndexIntervalBytes int
	// MaxBatchBytes is the largest encoded batch Append accepts.
	MaxBatchBytes int
	// RetentionAge deletes whole segments whose newest record is older;
	// 0 keeps forever.
	RetentionAge time.Duration
	// RetentionBytes deletes the oldest segments while the log is larger;
	// 0 has no limit. The active segment is never deleted.
	RetentionBytes int64
	// RetentionCheck is how often retention runs in the background; 0
	// means only when EnforceRetention is called.
	RetentionCheck time.Duration

	FS     vfs.FS
	Logger *slog.Logger
	// Now is the clock for roll and retention decisions (tests replace it).
	Now func() time.Time
}

// Defaults used by Open for zero fields.
const (
	DefaultSegmentBytes       = 64 << 20
	DefaultSyncInterval       = 50 * time.Millisecond
	DefaultIndexIntervalBytes = 4 << 10
	DefaultMaxBatchBytes      = 16 << 20
)

func (o Options) withDefaults() Options {
	if o.SegmentBytes == 0 {
		o.SegmentBytes = DefaultSegmentBytes
	}
	if o.SyncInterval == 0 {
		o.SyncInterval = DefaultSyncInterval
	}
	if o.IndexIntervalBytes == 0 {
		o.IndexIntervalBytes = DefaultIndexIntervalBytes
	}
	if o.MaxBatchBytes == 0 {
		o.MaxBatchBytes = DefaultMaxBatchBytes
	}
	if o.FS == nil {
		o.FS = vfs.OS
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// Validate reports the first option that cannot work.
func (o Options) Validate() error {
	var errs []error
	if o.SegmentBytes < 0 || (o.SegmentBytes > 0 && o.SegmentBytes < 4096) {
		errs = append(errs, fmt.Errorf("segment bytes %d: must be at least 4096", o.SegmentBytes))
	}
	if o.SegmentBytes > maxSegmentBytes {
		errs = append(errs, fmt.Errorf("segment bytes %d: must be at most %d", o.SegmentBytes, int64(maxSegmentBytes)))
	}
	if o.Sync < SyncAlways || o.Sync > SyncNone {
		errs = append(errs, fmt.Errorf("sync policy %d: use SyncAlways, SyncInterval or SyncNone", o.Sync))
	}
	if o.SyncInterval < 0 || o.UnsyncedDelay < 0 || o.SegmentAge < 0 || o.RetentionAge < 0 || o.RetentionCheck < 0 {
		errs = append(errs, errors.New("durations must not be negative"))
	}
	if o.RetentionBytes < 0 || o.IndexIntervalBytes < 0 || o.MaxBatchBytes < 0 {
		errs = append(errs, errors.New("sizes must not be negative"))
	}
	if o.MaxBatchBytes > maxBatchBytes {
		errs = append(errs, fmt.Errorf("max batch bytes %d: must be at most %d", o.MaxBatchBytes, maxBatchBytes))
	}
	return errors.Join(errs...)
}
