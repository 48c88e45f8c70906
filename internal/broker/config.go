package broker

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/heraldhq/herald/internal/commitlog"
	"github.com/heraldhq/herald/internal/vfs"
)

// Config configures a Broker. Zero fields take the defaults listed on each;
// flags, environment and file all fill this one struct.
type Config struct {
	// DataDir holds every topic; required.
	DataDir string
	// Sync is the fsync policy of every partition log and subscription
	// journal. Under commitlog.SyncAlways (the default) a publish, an ack or
	// a delivery returns only once it survives a machine crash.
	Sync commitlog.SyncPolicy
	// DefaultTopic fills the zero fields of every TopicConfig: topics
	// created explicitly, auto-created ones and dead-letter topics.
	DefaultTopic TopicConfig
	// AutoCreateTopics lets Publish create a missing topic (with
	// DefaultTopic) instead of failing with ErrTopicNotFound.
	AutoCreateTopics bool
	// SegmentBytes is the commit log segment size; 0 uses the commit log's
	// default (64 MiB). Retention deletes whole segments, so smaller segments
	// free space sooner.
	SegmentBytes int64
	// RetentionCheck is how often the broker applies retention to every
	// partition; default 1 minute.
	RetentionCheck time.Duration
	// CompactAfter is how many state changes a subscription journal holds
	// before it is folded into a snapshot; default 16384.
	CompactAfter int
	// CompactInterval is the least time between two compactions of one
	// subscription's journal, unless it holds compactCap times
	// CompactAfter state changes; default 100 ms, negative for none. A
	// subscription consuming a few hundred thousand events a second (two
	// state changes each: the lease and the ack) reaches CompactAfter every
	// 30 ms, and each compaction costs a snapshot, a new journal and their
	// fsyncs, and holds the subscription's operations while it cuts the
	// journal. A restart after a crash replays at most compactCap times
	// CompactAfter changes (65,536 by default: about 40 ms more than
	// 16,384, BenchmarkOpenReplaysTheJournal).
	CompactInterval time.Duration
	// Logger receives structured logs; default discards them.
	Logger *slog.Logger
	// Now is the clock for publish times, leases, backoff and delivery
	// times; default time.Now. Tests replace it to control time.
	Now func() time.Time
	// FS is the filesystem seam; default vfs.OS.
	FS vfs.FS
}

// Defaults for zero Config fields.
const (
	DefaultRetentionCheck  = time.Minute
	DefaultCompactAfter    = 16384
	DefaultCompactInterval = 100 * time.Millisecond
)

// Validate reports every field that cannot work.
func (c Config) Validate() error {
	var errs []error
	if c.DataDir == "" {
		errs = append(errs, fieldErr("dataDir", "required: the directory that holds the topics"))
	}
	if c.Sync < commitlog.SyncAlways || c.Sync > commitlog.SyncNone {
		errs = append(errs, fieldErr("sync", "unknown policy %d: use always, interval or none", int(c.Sync)))
	}
	if c.SegmentBytes < 0 {
		errs = append(errs, fieldErr("segmentBytes", "must not be negative"))
	}
	if c.RetentionCheck < 0 {
		errs = append(errs, fieldErr("retentionCheck", "must not be negative"))
	}
	if c.CompactAfter < 0 {
		errs = append(errs, fieldErr("compactAfter", "must not be negative"))
	}
	if err := c.DefaultTopic.validate("defaultTopic."); err != nil {
		errs = append(errs, err)
	}
	if err := (commitlog.Options{SegmentBytes: c.SegmentBytes}).Validate(); err != nil {
		errs = append(errs, fmt.Errorf("%w: segmentBytes: %v", ErrInvalid, err))
	}
	return errors.Join(errs...)
}

func (c Config) withDefaults() Config {
	if c.RetentionCheck == 0 {
		c.RetentionCheck = DefaultRetentionCheck
	}
	if c.CompactAfter == 0 {
		c.CompactAfter = DefaultCompactAfter
	}
	if c.CompactInterval == 0 {
		c.CompactInterval = DefaultCompactInterval
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.FS == nil {
		c.FS = vfs.OS
	}
	c.DefaultTopic = c.DefaultTopic.withDefaults(TopicConfig{})
	return c
}
