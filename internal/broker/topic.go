package broker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heraldhq/herald/internal/atomicfile"
	"github.com/heraldhq/herald/internal/commitlog"
)

// topic is one topic: its partition logs, its subscriptions and its dedup
// index.
//
// Locking: mu is held for reading across every use of a partition log
// (appends, reads), so UpdateTopic can reopen logs with new retention and
// DeleteTopic can close them while holding it for writing. Never take a
// subscription's mu while holding a topic's mu for writing: subscriptions
// take the topic's read lock under their own.
type topic struct {
	b       *Broker
	name    string
	dir     string
	created time.Time

	mu      sync.RWMutex
	cfg     TopicConfig
	parts   []*commitlog.Log
	caches  []*eventCache // one per partition, for the subscriptions' windows
	subs    map[string]*subscription
	deleted bool

	subMu sync.Mutex // serializes creating and deleting subscriptions

	dedup    *dedupIndex
	rr       atomic.Uint32 // round-robin partition for keyless publishes
	reserved atomic.Int64  // bytes of publishes in progress, for the quota

	sigMu sync.Mutex
	sig   chan struct{} // closed and replaced after every append
}

// topicMeta is topic.json.
type topicMeta struct {
	Name    string      `json:"name"`
	Created time.Time   `json:"created"`
	Config  TopicConfig `json:"config"`
}

// TopicInfo describes a topic.
type TopicInfo struct {
	Name          string          `json:"name"`
	Created       time.Time       `json:"created"`
	Config        TopicConfig     `json:"config"`
	Partitions    []PartitionInfo `json:"partitions"`
	Bytes         int64           `json:"bytes"`
	Subscriptions int             `json:"subscriptions"`
}

// PartitionInfo describes one partition's offsets.
type PartitionInfo struct {
	Partition int   `json:"partition"`
	Earliest  int64 `json:"earliest"`
	Next      int64 `json:"next"`
	Bytes     int64 `json:"bytes"`
}

func (t *topic) logOptions(cfg TopicConfig) commitlog.Options {
	bc := t.b.cfg
	o := commitlog.Options{
		Sync:           bc.Sync,
		SegmentBytes:   bc.SegmentBytes,
		RetentionBytes: cfg.RetentionBytes,
		FS:             bc.FS,
		Logger:         bc.Logger.With("topic", t.name),
		Now:            bc.Now,
	}
	if cfg.Retention > 0 {
		o.RetentionAge = cfg.Retention
	}
	return o
}

// openPartitions opens the logs of partitions [len(t.parts), n).
func (t *topic) openPartitions(n int) error {
	opts := t.logOptions(t.cfg)
	for p := len(t.parts); p < n; p++ {
		o := opts
		o.Logger = opts.Logger.With("partition", p)
		l, err := commitlog.Open(partitionDir(t.dir, p), o)
		if err != nil {
			return fmt.Errorf("open partition %d of topic %q: %w", p, t.name, err)
		}
		t.parts = append(t.parts, l)
		t.caches = append(t.caches, &eventCache{})
	}
	return nil
}

func (t *topic) closePartitions() error {
	var errs []error
	for _, l := range t.parts {
		if err := l.Close(); err != nil && !errors.Is(err, commitlog.ErrClosed) {
			errs = append(errs, err)
		}
	}
	t.parts, t.caches = nil, nil
	return errors.Join(errs...)
}

func (t *topic) writeMeta() error {
	data, err := json.MarshalIndent(topicMeta{Name: t.name, Created: t.created, Config: t.cfg}, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(t.b.cfg.FS, filepath.Join(t.dir, topicFile), data)
}

func readTopicMeta(b *Broker, dir string) (topicMeta, error) {
	var m topicMeta
	data, err := atomicfile.Read(b.cfg.FS, filepath.Join(dir, topicFile))
	if err != nil {
		return m, err
	}
	if err := json.Unmarshal(data, &m); err != nil {
		return m, fmt.Errorf("%s: %w", filepath.Join(dir, topicFile), err)
	}
	return m, nil
}

// info describes the topic; the caller holds t.mu for reading.
func (t *topic) info() TopicInfo {
	ti := TopicInfo{Name: t.name, Created: t.created, Config: t.cfg, Subscriptions: len(t.subs)}
	for p, l := range t.parts {
		pi := PartitionInfo{Partition: p, Earliest: l.Earliest(), Next: l.Next(), Bytes: l.Size()}
		ti.Partitions = append(ti.Partitions, pi)
		ti.Bytes += pi.Bytes
	}
	return ti
}

// size is the bytes stored across partitions; the caller holds t.mu.
func (t *topic) size() int64 {
	var n int64
	for _, l := range t.parts {
		n += l.Size()
	}
	return n
}

// changed returns a channel closed after the next append to any partition.
func (t *topic) changed() <-chan struct{} {
	t.sigMu.Lock()
	defer t.sigMu.Unlock()
	return t.sig
}

func (t *topic) notify() {
	t.sigMu.Lock()
	close(t.sig)
	t.sig = make(chan struct{})
	t.sigMu.Unlock()
}

// partition returns partition p's log; the caller holds t.mu for reading.
func (t *topic) partition(p int) (*commitlog.Log, error) {
	if t.deleted {
		return nil, topicNotFound(t.name)
	}
	if p < 0 || p >= len(t.parts) {
		return nil, fieldErr("partition", "%d: topic %q has partitions 0 to %d", p, t.name, len(t.parts)-1)
	}
	return t.parts[p], nil
}

// enforceRetention applies retention to every partition.
func (t *topic) enforceRetention() {
	t.mu.RLock()
	defer t.mu.RUnlock()
	for p, l := range t.parts {
		if _, err := l.EnforceRetention(); err != nil && !errors.Is(err, commitlog.ErrClosed) {
			t.b.cfg.Logger.Error("retention failed", "topic", t.name, "partition", p, "err", err)
		}
	}
}

// newTopic creates a topic on disk. The caller holds b.mu.
func (b *Broker) newTopic(name string, cfg TopicConfig) (*topic, error) {
	t := &topic{b: b, name: name, dir: topicDir(b.root, name), created: b.cfg.Now().UTC(), cfg: cfg,
		subs: map[string]*subscription{}, sig: make(chan struct{})}
	t.dedup = newDedupIndex()
	fs := b.cfg.FS
	if err := removeAll(fs, t.dir); err != nil {
		return nil, err
	}
	if err := fs.MkdirAll(filepath.Join(t.dir, subscriptionsDir), 0o755); err != nil {
		return nil, err
	}
	if err := t.openPartitions(cfg.Partitions); err != nil {
		t.closePartitions()
		return nil, err
	}
	if err := t.writeMeta(); err != nil {
		t.closePartitions()
		removeAll(fs, t.dir)
		return nil, err
	}
	if err := fs.SyncDir(b.root); err != nil {
		t.closePartitions()
		return nil, err
	}
	return t, nil
}

// loadTopic opens an existing topic's partitions and rebuilds its dedup
// index; subscriptions are opened later, once every topic is loaded.
func (b *Broker) loadTopic(dir string, m topicMeta) (*topic, error) {
	t := &topic{b: b, name: m.Name, dir: dir, created: m.Created, cfg: m.Config.withDefaults(b.cfg.DefaultTopic),
		subs: map[string]*subscription{}, sig: make(chan struct{})}
	t.dedup = newDedupIndex()
	if err := t.openPartitions(t.cfg.Partitions); err != nil {
		t.closePartitions()
		return nil, err
	}
	if err := t.rebuildDedup(); err != nil {
		t.closePartitions()
		return nil, err
	}
	return t, nil
}

// loadSubscriptions opens every subscription stored under the topic.
func (t *topic) loadSubscriptions(ctx context.Context) error {
	fs := t.b.cfg.FS
	dir := filepath.Join(t.dir, subscriptionsDir)
	if err := fs.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	entries, err := fs.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		name := e.Name()
		if !e.IsDir() || ValidateName("name", name) != nil {
			continue
		}
		sdir := subscriptionDir(t.dir, name)
		if _, err := fs.Stat(filepath.Join(sdir, subscriptionFile)); errors.Is(err, os.ErrNotExist) {
			// An interrupted create: it never existed.
			if err := removeAll(fs, sdir); err != nil {
				return err
			}
			continue
		}
		s, err := loadSubscription(ctx, t, name)
		if err != nil {
			return fmt.Errorf("open subscription %q of topic %q: %w", name, t.name, err)
		}
		t.subs[name] = s
	}
	return nil
}
