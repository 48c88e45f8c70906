package broker

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Broker is Herald's in-process API: topics, publishing, reading and
// subscriptions over one data directory. It is safe for concurrent use.
//
// Goroutines: Open starts the retention goroutine (stopped by Close) and one
// timekeeper per subscription (see subscription.go); every partition log and
// subscription journal runs its own commit-log writer. Close stops them all.
type Broker struct {
	cfg  Config
	root string

	// opMu is held for reading by every API call and for writing by Close,
	// so Close waits for calls in progress and later calls see closed.
	opMu    sync.RWMutex
	closed  atomic.Bool
	closing chan struct{} // closed when Close starts: long waits end

	mu       sync.RWMutex // guards topics and deleting
	topics   map[string]*topic
	deleting map[string]chan struct{} // names whose directory is being removed

	wg sync.WaitGroup // the retention goroutine

	// skipSnapshots makes Close leave subscription journals as they are,
	// as a crash would: tests use it to check that replay alone is enough.
	skipSnapshots bool
	// parkHook, when set (by tests, before any Fetch), is called each time a
	// Fetch starts waiting, so a test can act once it is parked.
	parkHook func()
	// fillHook, when set (by tests, before any Fetch), is called after each
	// read into a window with the entries' offsets: by a fetch (its fill) or
	// by the filler goroutine (background).
	fillHook func(background bool, from, to int64)
}

// Open opens (or creates) the data directory, every topic and every
// subscription in it. Subscriptions come back where they were: acked events
// stay acked, leases still held keep their deadline, and the rest is
// delivered again.
func Open(cfg Config) (*Broker, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("broker config: %w", err)
	}
	cfg = cfg.withDefaults()
	b := &Broker{
		cfg:      cfg,
		root:     filepath.Join(cfg.DataDir, topicsDir),
		closing:  make(chan struct{}),
		topics:   map[string]*topic{},
		deleting: map[string]chan struct{}{},
	}
	if err := b.load(); err != nil {
		for _, t := range b.topics {
			t.close()
		}
		return nil, err
	}
	for _, t := range b.topics {
		for _, s := range t.subs {
			s.start()
		}
	}
	b.wg.Add(1)
	go b.retention()
	return b, nil
}

func (b *Broker) load() error {
	fs := b.cfg.FS
	if err := fs.MkdirAll(b.root, 0o755); err != nil {
		return fmt.Errorf("create data directory: %w", err)
	}
	entries, err := fs.ReadDir(b.root)
	if err != nil {
		return err
	}
	for _, e := range entries {
		name := e.Name()
		dir := filepath.Join(b.root, name)
		if strings.HasPrefix(name, deletedPrefix) {
			if err := removeAll(fs, dir); err != nil {
				return fmt.Errorf("finish deleting %s: %w", dir, err)
			}
			continue
		}
		if !e.IsDir() || ValidateName("name", name) != nil {
			b.cfg.Logger.Warn("ignoring unexpected entry in the data directory", "path", dir)
			continue
		}
		m, err := readTopicMeta(b, dir)
		if errors.Is(err, os.ErrNotExist) {
			// An interrupted CreateTopic.
			if err := removeAll(fs, dir); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return fmt.Errorf("open topic %q: %w", name, err)
		}
		m.Name = name
		t, err := b.loadTopic(dir, m)
		if err != nil {
			return err
		}
		b.topics[name] = t
	}
	ctx := context.Background()
	for _, t := range b.topics {
		if err := t.loadSubscriptions(ctx); err != nil {
			return err
		}
	}
	return nil
}

// Close stops every goroutine, waits for calls in progress, persists
// subscription state and closes every log. Blocked Fetch and Stream.Next
// calls return ErrClosed.
func (b *Broker) Close() error {
	if !b.closed.CompareAndSwap(false, true) {
		return ErrClosed
	}
	close(b.closing)
	b.wg.Wait()
	b.mu.RLock()
	topics := make([]*topic, 0, len(b.topics))
	for _, t := range b.topics {
		topics = append(topics, t)
	}
	b.mu.RUnlock()
	// Timekeepers do not take opMu; stop them before waiting for calls (and
	// without holding a topic lock they may need to finish).
	var subs []*subscription
	for _, t := range topics {
		t.mu.RLock()
		for _, s := range t.subs {
			subs = append(subs, s)
		}
		t.mu.RUnlock()
	}
	for _, s := range subs {
		s.stopTimekeeper()
	}
	b.opMu.Lock()
	defer b.opMu.Unlock()
	var errs []error
	for _, t := range topics {
		errs = append(errs, t.close())
	}
	return errors.Join(errs...)
}

// close closes the topic's subscriptions, then its logs.
func (t *topic) close() error {
	t.mu.Lock()
	subs := t.subs
	t.mu.Unlock()
	var errs []error
	for _, s := range subs {
		errs = append(errs, s.close(!t.b.skipSnapshots))
	}
	t.mu.Lock()
	errs = append(errs, t.closePartitions())
	t.mu.Unlock()
	return errors.Join(errs...)
}

// enter starts an API call; every successful enter is paired with leave.
func (b *Broker) enter() error {
	b.opMu.RLock()
	if b.closed.Load() {
		b.opMu.RUnlock()
		return ErrClosed
	}
	return nil
}

func (b *Broker) leave() { b.opMu.RUnlock() }

func (b *Broker) now() time.Time { return b.cfg.Now() }

// retention applies every topic's retention each RetentionCheck, until
// Close. One goroutine for the broker instead of one per partition log.
func (b *Broker) retention() {
	defer b.wg.Done()
	tick := time.NewTicker(b.cfg.RetentionCheck)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			for _, t := range b.topicList() {
				t.enforceRetention()
			}
		case <-b.closing:
			return
		}
	}
}

func (b *Broker) topicList() []*topic {
	b.mu.RLock()
	defer b.mu.RUnlock()
	out := make([]*topic, 0, len(b.topics))
	for _, t := range b.topics {
		out = append(out, t)
	}
	return out
}

// topic returns a live topic by name.
func (b *Broker) topic(name string) (*topic, error) {
	b.mu.RLock()
	t := b.topics[name]
	b.mu.RUnlock()
	if t == nil {
		if err := ValidateName("topic", name); err != nil {
			return nil, err
		}
		return nil, topicNotFound(name)
	}
	return t, nil
}

// ensureTopic returns the named topic, creating it with the default
// configuration (and partitions, when not zero) if it is missing. Used for
// auto-created and dead-letter topics.
func (b *Broker) ensureTopic(name string, partitions int) (*topic, error) {
	if t, err := b.topic(name); err == nil {
		return t, nil
	}
	if err := ValidateName("topic", name); err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if t := b.topics[name]; t != nil {
		return t, nil
	}
	if b.deleting[name] != nil {
		return nil, fmt.Errorf("topic %q is being deleted: retry once the delete finishes", name)
	}
	cfg := TopicConfig{Partitions: partitions}.withDefaults(b.cfg.DefaultTopic)
	t, err := b.newTopic(name, cfg)
	if err != nil {
		return nil, fmt.Errorf("create topic %q: %w", name, err)
	}
	b.topics[name] = t
	b.cfg.Logger.Info("topic created", "topic", name, "partitions", cfg.Partitions)
	return t, nil
}
