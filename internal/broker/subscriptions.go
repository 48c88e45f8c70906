package broker

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// SubscriptionInfo describes a subscription.
type SubscriptionInfo struct {
	Topic   string             `json:"topic"`
	Name    string             `json:"name"`
	Created time.Time          `json:"created"`
	Config  SubscriptionConfig `json:"config"`
}

func (s *subscription) info() SubscriptionInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	return SubscriptionInfo{Topic: s.t.name, Name: s.name, Created: s.created, Config: s.cfg}
}

// CreateSubscription creates a durable subscription on topic, starting at
// cfg.Start, and its dead-letter topic if that does not exist.
func (b *Broker) CreateSubscription(ctx context.Context, topic, name string, cfg SubscriptionConfig) (SubscriptionInfo, error) {
	if err := b.enter(); err != nil {
		return SubscriptionInfo{}, err
	}
	defer b.leave()
	if err := ValidateName("name", name); err != nil {
		return SubscriptionInfo{}, err
	}
	if err := cfg.validateFor(topic, name); err != nil {
		return SubscriptionInfo{}, err
	}
	t, err := b.topic(topic)
	if err != nil {
		return SubscriptionInfo{}, err
	}
	cfg = cfg.withDefaults(topic, name)
	if _, err := b.ensureTopic(cfg.DeadLetterTopic, 1); err != nil {
		return SubscriptionInfo{}, fmt.Errorf("create dead-letter topic: %w", err)
	}
	t.subMu.Lock()
	defer t.subMu.Unlock()
	t.mu.RLock()
	exists, deleted := t.subs[name] != nil, t.deleted
	t.mu.RUnlock()
	if deleted {
		return SubscriptionInfo{}, topicNotFound(topic)
	}
	if exists {
		return SubscriptionInfo{}, fmt.Errorf("%w: %q on topic %q", ErrSubscriptionExists, name, topic)
	}
	s, err := createSubscription(ctx, t, name, cfg)
	if err != nil {
		return SubscriptionInfo{}, fmt.Errorf("create subscription %q on %q: %w", name, topic, err)
	}
	t.mu.Lock()
	if t.deleted {
		t.mu.Unlock()
		s.close(false)
		return SubscriptionInfo{}, topicNotFound(topic)
	}
	t.subs[name] = s
	t.mu.Unlock()
	s.start()
	s.log.Info("subscription created", "ordering", cfg.Ordering, "start", cfg.Start.Kind, "dlq", cfg.DeadLetterTopic)
	return s.info(), nil
}

// UpdateSubscription replaces a subscription's configuration (zero fields
// take defaults). Start is ignored: use Seek to move the subscription.
// Leases, attempt counts and retries carry over; events already read are
// filtered and grouped again under the new configuration. Changing the
// dead-letter topic forgets which dead letters were redriven.
func (b *Broker) UpdateSubscription(ctx context.Context, topic, name string, cfg SubscriptionConfig) (SubscriptionInfo, error) {
	if err := b.enter(); err != nil {
		return SubscriptionInfo{}, err
	}
	defer b.leave()
	if err := cfg.validateFor(topic, name); err != nil {
		return SubscriptionInfo{}, err
	}
	s, err := b.sub(topic, name)
	if err != nil {
		return SubscriptionInfo{}, err
	}
	cfg = cfg.withDefaults(topic, name)
	if _, err := b.ensureTopic(cfg.DeadLetterTopic, 1); err != nil {
		return SubscriptionInfo{}, fmt.Errorf("create dead-letter topic: %w", err)
	}
	s.dlMu.Lock()
	defer s.dlMu.Unlock()
	s.jmu.Lock()
	defer s.jmu.Unlock()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return SubscriptionInfo{}, s.errClosed()
	}
	old := s.cfg
	cfg.Start = old.Start
	s.cfg = cfg
	if err := s.writeMeta(); err != nil {
		s.cfg = old
		s.mu.Unlock()
		return SubscriptionInfo{}, fmt.Errorf("update subscription %q on %q: %w", name, topic, err)
	}
	st := s.state()
	var ops []op
	if cfg.DeadLetterTopic != s.dlqTopic {
		st.dlqTopic, st.redrivenBelow, st.redriven = cfg.DeadLetterTopic, 0, map[int64]bool{}
		ops = append(ops, op{kind: opDLQTopic, text: cfg.DeadLetterTopic})
	}
	err = s.rebuild(st, s.now())
	s.mu.Unlock()
	if err != nil {
		return SubscriptionInfo{}, err
	}
	if err := s.appendOps(ctx, ops); err != nil {
		return SubscriptionInfo{}, err
	}
	s.kickTimekeeper()
	return s.info(), nil
}

// Subscription describes one subscription.
func (b *Broker) Subscription(topic, name string) (SubscriptionInfo, error) {
	if err := b.enter(); err != nil {
		return SubscriptionInfo{}, err
	}
	defer b.leave()
	s, err := b.sub(topic, name)
	if err != nil {
		return SubscriptionInfo{}, err
	}
	return s.info(), nil
}

// Subscriptions describes a topic's subscriptions, sorted by name.
func (b *Broker) Subscriptions(topic string) ([]SubscriptionInfo, error) {
	if err := b.enter(); err != nil {
		return nil, err
	}
	defer b.leave()
	t, err := b.topic(topic)
	if err != nil {
		return nil, err
	}
	t.mu.RLock()
	subs := make([]*subscription, 0, len(t.subs))
	for _, s := range t.subs {
		subs = append(subs, s)
	}
	t.mu.RUnlock()
	out := make([]SubscriptionInfo, 0, len(subs))
	for _, s := range subs {
		out = append(out, s.info())
	}
	slices.SortFunc(out, func(a, b SubscriptionInfo) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// DeleteSubscription deletes a subscription and its state. Its leases end;
// Fetch calls waiting on it return ErrSubscriptionNotFound. Its dead-letter
// topic stays.
func (b *Broker) DeleteSubscription(ctx context.Context, topic, name string) error {
	if err := b.enter(); err != nil {
		return err
	}
	defer b.leave()
	t, err := b.topic(topic)
	if err != nil {
		return err
	}
	t.subMu.Lock()
	defer t.subMu.Unlock()
	t.mu.Lock()
	s := t.subs[name]
	delete(t.subs, name)
	t.mu.Unlock()
	if s == nil {
		if err := ValidateName("name", name); err != nil {
			return err
		}
		return subNotFound(topic, name)
	}
	errClose := s.close(false)
	fs := b.cfg.FS
	// subscription.json goes first: without it the rest is a leftover that
	// Open removes.
	if err := fs.Remove(filepath.Join(s.dir, subscriptionFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("delete subscription %q on %q: %w", name, topic, err)
	}
	if err := fs.SyncDir(s.dir); err != nil {
		return fmt.Errorf("delete subscription %q on %q: %w", name, topic, err)
	}
	if err := removeAll(fs, s.dir); err != nil {
		s.log.Warn("could not remove a deleted subscription's files; they are removed on next open", "err", err)
	}
	if errClose != nil {
		s.log.Warn("errors closing a deleted subscription", "err", errClose)
	}
	s.log.Info("subscription deleted")
	return nil
}

// Seek moves a subscription to a position in every partition (rewind to
// replay, or skip ahead). It is for the stream model: leases held, retries
// pending and redriven events are dropped, and delivery restarts at the
// position with fresh attempt counts. Tokens issued before become stale.
func (b *Broker) Seek(ctx context.Context, topic, sub string, pos StartPosition) error {
	if err := b.enter(); err != nil {
		return err
	}
	defer b.leave()
	if err := pos.validate("position"); err != nil {
		return err
	}
	if pos.Kind == "" {
		pos.Kind = StartLatest
	}
	s, err := b.sub(topic, sub)
	if err != nil {
		return err
	}
	s.dlMu.Lock()
	defer s.dlMu.Unlock()
	s.jmu.Lock()
	defer s.jmu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return s.errClosed()
	}
	st := s.state()
	var ops []op
	s.t.mu.RLock()
	for p, l := range s.t.parts {
		off, err := startOffset(l, pos)
		if err != nil {
			s.t.mu.RUnlock()
			return err
		}
		*st.part(p) = *newPartCursor(off)
		ops = append(ops, op{kind: opSeek, part: p, offset: off})
	}
	s.t.mu.RUnlock()
	if err := s.rebuild(st, s.now()); err != nil {
		return err
	}
	// Appending under mu is fine here: jmu is held exclusively, nothing else
	// can be journaling.
	return s.appendOps(ctx, ops)
}
