package broker

import (
	"errors"
	"time"
)

// TopicConfig is a topic's configuration. Zero fields take the broker's
// Config.DefaultTopic, then the built-in defaults below. UpdateTopic replaces
// the whole configuration: read it with Topic, change fields, write it back.
type TopicConfig struct {
	// Partitions is the number of independent logs; events with the same
	// partition key share one and stay in order. Default 1. It may only grow:
	// shrinking would renumber partitions under stored offsets and cursors.
	Partitions int `json:"partitions,omitempty"`
	// Retention deletes whole segments whose newest event is older; default
	// 7 days (Kafka's). Forever (-1) keeps events until deleted by size.
	Retention time.Duration `json:"retention,omitempty"`
	// RetentionBytes deletes the oldest segments of a partition while it is
	// larger; 0 has no limit. Like Kafka's retention.bytes it is per
	// partition.
	RetentionBytes int64 `json:"retentionBytes,omitempty"`
	// MaxEventBytes bounds one encoded event; default 1 MiB. Larger events
	// are refused with ErrEventTooLarge.
	MaxEventBytes int `json:"maxEventBytes,omitempty"`
	// DedupWindow is how long a (source, id) pair is remembered for producer
	// deduplication; default 2 minutes (JetStream's duplicate window).
	// Disabled (-1) turns deduplication off.
	DedupWindow time.Duration `json:"dedupWindow,omitempty"`
	// MaxBytes is a quota on the bytes stored by the whole topic; 0 has no
	// limit. A publish that would exceed it fails with ErrQuotaExceeded, a
	// retryable error, instead of filling the disk.
	MaxBytes int64 `json:"maxBytes,omitempty"`
}

// Forever and Disabled are the negative values that turn Retention and
// DedupWindow off, since zero means "use the default".
const (
	Forever  time.Duration = -1
	Disabled time.Duration = -1
)

// Built-in topic defaults and limits.
const (
	DefaultPartitions    = 1
	DefaultRetention     = 7 * 24 * time.Hour
	DefaultMaxEventBytes = 1 << 20
	DefaultDedupWindow   = 2 * time.Minute

	MaxPartitions    = 4096
	MaxEventBytes    = 8 << 20
	MaxDedupWindow   = 7 * 24 * time.Hour
	minMaxBytesQuota = 4096
)

// withDefaults fills zero fields from d, then from the built-in defaults.
func (c TopicConfig) withDefaults(d TopicConfig) TopicConfig {
	if c.Partitions == 0 {
		c.Partitions = d.Partitions
	}
	if c.Partitions == 0 {
		c.Partitions = DefaultPartitions
	}
	if c.Retention == 0 {
		c.Retention = d.Retention
	}
	if c.Retention == 0 {
		c.Retention = DefaultRetention
	}
	if c.RetentionBytes == 0 {
		c.RetentionBytes = d.RetentionBytes
	}
	if c.MaxEventBytes == 0 {
		c.MaxEventBytes = d.MaxEventBytes
	}
	if c.MaxEventBytes == 0 {
		c.MaxEventBytes = DefaultMaxEventBytes
	}
	if c.DedupWindow == 0 {
		c.DedupWindow = d.DedupWindow
	}
	if c.DedupWindow == 0 {
		c.DedupWindow = DefaultDedupWindow
	}
	if c.MaxBytes == 0 {
		c.MaxBytes = d.MaxBytes
	}
	return c
}

// Validate reports every field that cannot work, before defaults are
// applied (zero fields are valid).
func (c TopicConfig) Validate() error { return c.validate("") }

func (c TopicConfig) validate(prefix string) error {
	var errs []error
	add := func(field, format string, args ...any) {
		errs = append(errs, fieldErr(prefix+field, format, args...))
	}
	if c.Partitions < 0 || c.Partitions > MaxPartitions {
		add("partitions", "%d: must be between 1 and %d", c.Partitions, MaxPartitions)
	}
	if c.Retention < 0 && c.Retention != Forever {
		add("retention", "%v: must be positive, or -1 (forever)", c.Retention)
	}
	if c.RetentionBytes < 0 {
		add("retentionBytes", "must not be negative (0 means no limit)")
	}
	if c.MaxEventBytes < 0 || c.MaxEventBytes > MaxEventBytes {
		add("maxEventBytes", "%d: must be between 1 and %d", c.MaxEventBytes, MaxEventBytes)
	}
	if (c.DedupWindow < 0 && c.DedupWindow != Disabled) || c.DedupWindow > MaxDedupWindow {
		add("dedupWindow", "%v: must be between 1ns and %v, or -1 (disabled)", c.DedupWindow, MaxDedupWindow)
	}
	if c.MaxBytes < 0 || (c.MaxBytes > 0 && c.MaxBytes < minMaxBytesQuota) {
		add("maxBytes", "%d: must be 0 (no quota) or at least %d", c.MaxBytes, minMaxBytesQuota)
	}
	return errors.Join(errs...)
}
