package broker

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
)

// CreateTopic creates a topic. Zero fields of cfg take the broker's
// DefaultTopic, then the built-in defaults.
func (b *Broker) CreateTopic(ctx context.Context, name string, cfg TopicConfig) (TopicInfo, error) {
	if err := b.enter(); err != nil {
		return TopicInfo{}, err
	}
	defer b.leave()
	if err := ValidateName("name", name); err != nil {
		return TopicInfo{}, err
	}
	if err := cfg.Validate(); err != nil {
		return TopicInfo{}, err
	}
	cfg = cfg.withDefaults(b.cfg.DefaultTopic)
	for {
		b.mu.Lock()
		if b.topics[name] != nil {
			b.mu.Unlock()
			return TopicInfo{}, fmt.Errorf("%w: %q", ErrTopicExists, name)
		}
		if wait := b.deleting[name]; wait != nil {
			b.mu.Unlock()
			select {
			case <-wait:
				continue
			case <-ctx.Done():
				return TopicInfo{}, ctx.Err()
			}
		}
		break
	}
	defer b.mu.Unlock()
	t, err := b.newTopic(name, cfg)
	if err != nil {
		return TopicInfo{}, fmt.Errorf("create topic %q: %w", name, err)
	}
	b.topics[name] = t
	b.cfg.Logger.Info("topic created", "topic", name, "partitions", cfg.Partitions)
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.info(), nil
}

// UpdateTopic replaces a topic's configuration (zero fields take defaults,
// as in CreateTopic). Partitions may only grow: stored offsets, cursors and
// the key-to-partition mapping all name partitions. A retention change
// reopens the partition logs, briefly pausing publishes and reads.
func (b *Broker) UpdateTopic(ctx context.Context, name string, cfg TopicConfig) (TopicInfo, error) {
	if err := b.enter(); err != nil {
		return TopicInfo{}, err
	}
	defer b.leave()
	if err := cfg.Validate(); err != nil {
		return TopicInfo{}, err
	}
	t, err := b.topic(name)
	if err != nil {
		return TopicInfo{}, err
	}
	cfg = cfg.withDefaults(b.cfg.DefaultTopic)
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.deleted {
		return TopicInfo{}, topicNotFound(name)
	}
	if cfg.Partitions < len(t.parts) {
		return TopicInfo{}, fieldErr("partitions", "%d is fewer than the current %d: partitions can only grow "+
			"(as in Kafka), because stored offsets and subscription cursors name them; create a new topic to shrink",
			cfg.Partitions, len(t.parts))
	}
	old := t.cfg
	t.cfg = cfg
	if old.Retention != cfg.Retention || old.RetentionBytes != cfg.RetentionBytes {
		// Retention is a commit log option: reopen the logs with the new one.
		if err := t.closePartitions(); err != nil {
			b.cfg.Logger.Error("closing partitions to change retention", "topic", name, "err", err)
		}
	}
	if err := t.openPartitions(cfg.Partitions); err != nil {
		t.cfg = old
		return TopicInfo{}, err
	}
	if err := t.writeMeta(); err != nil {
		t.cfg = old
		return TopicInfo{}, fmt.Errorf("update topic %q: %w", name, err)
	}
	b.cfg.Logger.Info("topic updated", "topic", name, "partitions", cfg.Partitions)
	return t.info(), nil
}

// Topic describes one topic.
func (b *Broker) Topic(name string) (TopicInfo, error) {
	if err := b.enter(); err != nil {
		return TopicInfo{}, err
	}
	defer b.leave()
	t, err := b.topic(name)
	if err != nil {
		return TopicInfo{}, err
	}
	t.mu.RLock()
	defer t.mu.RUnlock()
	if t.deleted {
		return TopicInfo{}, topicNotFound(name)
	}
	return t.info(), nil
}

// Topics describes every topic, sorted by name.
func (b *Broker) Topics() ([]TopicInfo, error) {
	if err := b.enter(); err != nil {
		return nil, err
	}
	defer b.leave()
	out := []TopicInfo{}
	for _, t := range b.topicList() {
		t.mu.RLock()
		if !t.deleted {
			out = append(out, t.info())
		}
		t.mu.RUnlock()
	}
	slices.SortFunc(out, func(a, b TopicInfo) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// DeleteTopic deletes a topic, its events and its subscriptions. Fetches
// waiting on its subscriptions return ErrSubscriptionNotFound. Dead-letter
// topics of its subscriptions are ordinary topics and stay.
func (b *Broker) DeleteTopic(ctx context.Context, name string) error {
	if err := b.enter(); err != nil {
		return err
	}
	defer b.leave()
	b.mu.Lock()
	t := b.topics[name]
	if t == nil {
		b.mu.Unlock()
		if err := ValidateName("name", name); err != nil {
			return err
		}
		return topicNotFound(name)
	}
	delete(b.topics, name)
	done := make(chan struct{})
	b.deleting[name] = done
	b.mu.Unlock()
	defer func() {
		b.mu.Lock()
		delete(b.deleting, name)
		close(done)
		b.mu.Unlock()
	}()

	t.mu.Lock()
	t.deleted = true
	subs := t.subs
	t.subs = map[string]*subscription{}
	t.mu.Unlock()
	var errs []error
	for _, s := range subs {
		errs = append(errs, s.close(false))
	}
	t.mu.Lock()
	errs = append(errs, t.closePartitions())
	t.mu.Unlock()
	t.notify()

	fs := b.cfg.FS
	var rnd [8]byte
	rand.Read(rnd[:])
	gone := filepath.Join(b.root, deletedPrefix+hex.EncodeToString(rnd[:]))
	if err := fs.Rename(t.dir, gone); err != nil {
		return fmt.Errorf("delete topic %q: %w", name, err)
	}
	if err := fs.SyncDir(b.root); err != nil {
		return fmt.Errorf("delete topic %q: %w", name, err)
	}
	if err := removeAll(fs, gone); err != nil {
		// The topic is gone; Open finishes removing the files.
		b.cfg.Logger.Warn("could not remove a deleted topic's files; they are removed on next open",
			"topic", name, "path", gone, "err", err)
	}
	b.cfg.Logger.Info("topic deleted", "topic", name)
	if err := errors.Join(errs...); err != nil {
		b.cfg.Logger.Warn("errors closing a deleted topic", "topic", name, "err", err)
	}
	return nil
}
