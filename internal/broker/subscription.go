package broker

import (
	"cmp"
	"context"
	crand "crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heraldhq/herald/internal/atomicfile"
	"github.com/heraldhq/herald/internal/commitlog"
)

// subscription is a durable cursor over a topic's shared log plus its live
// window (window.go), leases and dead-letter state.
//
// Locks, always taken in this order: cmu (compaction and close), dlMu
// (dead-lettering, redrive, seek, config changes), jmu (the journal:
// read-held by operations that apply a change and journal it, write-held
// by seek, redrive, close and the cut of a compaction),
// mu (the live state). A change is applied in memory and appended to the
// journal inside one jmu read section, so a snapshot (taken under jmu
// write) never misses a change whose journal record it discards.
//
// Goroutines: one timekeeper, started by start and stopped by
// stopTimekeeper (from close). It owns nothing; under mu it runs due timers
// (lease expiry, backoff, delivery times), writes dead letters and compacts
// the journal. It never takes the broker's opMu, so Close can wait for it.
type subscription struct {
	b       *Broker
	t       *topic
	name    string
	dir     string
	created time.Time
	log     *slog.Logger

	cmu  sync.Mutex // serialises compactions
	dlMu sync.Mutex
	jmu  sync.RWMutex
	j    *journal

	mu            sync.Mutex
	cfg           SubscriptionConfig
	parts         []*subPart
	groups        map[groupID]*group
	ready         []*entry
	readyHead     int
	timers        timerHeap
	leases        leaseQueue
	inFlight      int
	consumers     map[string]int
	deadQ         []*entry
	dlInFlight    int // entries being written to the dead-letter topic
	deadLettered  int64
	dlqTopic      string
	redrivenBelow int64
	redriven      map[int64]bool
	leaseSeq      uint64
	rng           *rand.Rand
	recBuf        []commitlog.Record
	evBuf         []*StoredEvent // fill's events from or for the topic's eventCache
	sig           chan struct{}  // closed and replaced by signal when waiters > 0
	waiters       int
	closed        bool
	deleted       bool

	needCompact atomic.Bool  // the journal failed: start a fresh one
	compacted   atomic.Int64 // monoNow at the last compaction's cut; 0 before the first

	kick     chan struct{}
	stop     chan struct{}
	done     chan struct{}
	stopOnce sync.Once
	started  bool
	tkCtx    context.Context
	tkCancel context.CancelFunc

	// The filler goroutine (fillAhead) and what only it uses.
	fillKick   chan struct{}
	fillerDone chan struct{}
	fillRecs   []commitlog.Record
	fillEvs    []*StoredEvent
}

// subscriptionMeta is subscription.json.
type subscriptionMeta struct {
	Name    string             `json:"name"`
	Topic   string             `json:"topic"`
	Created time.Time          `json:"created"`
	Config  SubscriptionConfig `json:"config"`
}

func newSubscription(t *topic, name string, cfg SubscriptionConfig, created time.Time) *subscription {
	var seed [16]byte
	crand.Read(seed[:])
	s := &subscription{
		b: t.b, t: t, name: name, dir: subscriptionDir(t.dir, name), created: created, cfg: cfg,
		log:       t.b.cfg.Logger.With("topic", t.name, "subscription", name),
		groups:    map[groupID]*group{},
		consumers: map[string]int{},
		redriven:  map[int64]bool{},
		// Lease ids continue from a random point so that tokens from before
		// a restart cannot match a new lease.
		leaseSeq:   binary.LittleEndian.Uint64(seed[:8]) >> 1,
		rng:        rand.New(rand.NewPCG(binary.LittleEndian.Uint64(seed[:8]), binary.LittleEndian.Uint64(seed[8:]))),
		sig:        make(chan struct{}),
		kick:       make(chan struct{}, 1),
		stop:       make(chan struct{}),
		done:       make(chan struct{}),
		fillKick:   make(chan struct{}, 1),
		fillerDone: make(chan struct{}),
	}
	s.tkCtx, s.tkCancel = context.WithCancel(context.Background())
	return s
}

func (s *subscription) now() int64 { return s.b.cfg.Now().UnixNano() }

// ackSyncDelay bounds how long a lease, ack, nack or extend waits for the
// journal's fsync when nothing else needs one (commitlog UnsyncedDelay):
// at most this much of a subscription's progress is forgotten in a power
// cut, and redelivered (Kafka's consumers commit their offsets every 5 s
// by default). Many acks then share one fsync, and a topic's
// subscriptions do not each keep the disk busy: with ten subscriptions
// and 10 ms, their 1,000 journal fsyncs a second slowed the publisher's.
const ackSyncDelay = 100 * time.Millisecond

// journalOptions are the options of a subscription's journal. It is not
// zero-filled (commitlog NoZeroFill): nobody waits for its fsyncs, so the
// fill would only put a second write of every byte on the disk beside
// the topics' fsyncs, which publishers wait for.
func (s *subscription) journalOptions() commitlog.Options {
	return commitlog.Options{
		Sync: s.b.cfg.Sync, SegmentBytes: 4 << 20, FS: s.b.cfg.FS,
		Logger: s.log, Now: s.b.cfg.Now, UnsyncedDelay: ackSyncDelay, NoZeroFill: true,
	}
}

func (s *subscription) writeMeta() error {
	data, err := json.MarshalIndent(subscriptionMeta{Name: s.name, Topic: s.t.name, Created: s.created, Config: s.cfg}, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(s.b.cfg.FS, filepath.Join(s.dir, subscriptionFile), data)
}

// createSubscription makes a new subscription on disk and opens it. The
// caller holds t.subMu and has checked that the name is free.
func createSubscription(ctx context.Context, t *topic, name string, cfg SubscriptionConfig) (*subscription, error) {
	fs := t.b.cfg.FS
	s := newSubscription(t, name, cfg, t.b.now().UTC())
	if err := removeAll(fs, s.dir); err != nil {
		return nil, err
	}
	if err := fs.MkdirAll(s.dir, 0o755); err != nil {
		return nil, err
	}
	st := newCursorState()
	st.dlqTopic = cfg.DeadLetterTopic
	t.mu.RLock()
	for p, l := range t.parts {
		off, err := startOffset(l, cfg.Start)
		if err != nil {
			t.mu.RUnlock()
			return nil, err
		}
		st.part(p).scanned = off
	}
	t.mu.RUnlock()
	if err := createJournalState(fs, s.dir, st); err != nil {
		return nil, err
	}
	if err := s.writeMeta(); err != nil {
		return nil, err
	}
	if err := fs.SyncDir(filepath.Dir(s.dir)); err != nil {
		return nil, err
	}
	if err := s.open(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// loadSubscription opens a subscription stored on disk.
func loadSubscription(ctx context.Context, t *topic, name string) (*subscription, error) {
	dir := subscriptionDir(t.dir, name)
	data, err := atomicfile.Read(t.b.cfg.FS, filepath.Join(dir, subscriptionFile))
	if err != nil {
		return nil, err
	}
	var m subscriptionMeta
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, subscriptionFile), err)
	}
	s := newSubscription(t, name, m.Config.withDefaults(t.name, name), m.Created)
	if err := s.open(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// open replays the durable state, builds the window and finishes any
// dead-lettering a crash interrupted.
func (s *subscription) open(ctx context.Context) error {
	j, st, err := openJournal(s.b.cfg.FS, s.dir, s.journalOptions(), s.now)
	if err != nil {
		return err
	}
	s.j = j
	s.mu.Lock()
	err = s.rebuild(st, s.now())
	s.mu.Unlock()
	if err != nil {
		j.close()
		return err
	}
	return nil
}

// start launches the timekeeper.
func (s *subscription) start() {
	s.started = true
	go s.timekeeper()
	go s.filler()
}

func (s *subscription) stopTimekeeper() {
	s.stopOnce.Do(func() {
		close(s.stop)
		s.tkCancel()
		if s.started {
			<-s.done
			<-s.fillerDone
		}
	})
}

// close stops the subscription. With persist it folds the journal into a
// snapshot so the next open is fast; without (deleting) it just lets go.
func (s *subscription) close(persist bool) error {
	s.stopTimekeeper()
	s.cmu.Lock()
	defer s.cmu.Unlock()
	s.dlMu.Lock()
	defer s.dlMu.Unlock()
	s.jmu.Lock()
	defer s.jmu.Unlock()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.deleted = !persist && !s.b.skipSnapshots
	close(s.sig)
	s.sig = make(chan struct{})
	var st *cursorState
	if persist && s.j.ops.Load() > 0 {
		st = s.state()
	}
	s.mu.Unlock()
	var errs []error
	if st != nil {
		if err := s.j.compact(st); err != nil {
			errs = append(errs, err)
		}
	}
	errs = append(errs, s.j.close())
	return errors.Join(errs...)
}

// errClosed is what a call on a closed subscription returns.
func (s *subscription) errClosed() error {
	if s.deleted {
		return subNotFound(s.t.name, s.name)
	}
	return ErrClosed
}

// signal wakes Fetch calls waiting for something to change.
func (s *subscription) signal() {
	if s.waiters > 0 {
		close(s.sig)
		s.sig = make(chan struct{})
		s.waiters = 0
	}
}

func (s *subscription) kickTimekeeper() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// timekeeper runs timers when they are due, writes dead letters and
// compacts the journal. See the subscription doc comment for ownership.
func (s *subscription) timekeeper() {
	defer close(s.done)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return
		}
		now := s.now()
		s.sweep(now)
		next := s.nextTimer()
		needDL := len(s.deadQ) > 0
		s.mu.Unlock()
		if needDL {
			if err := s.runDeadLetters(s.tkCtx); err != nil && s.tkCtx.Err() == nil {
				s.log.Error("writing dead letters failed; retrying", "err", err)
			}
		}
		if err := s.maybeCompact(); err != nil {
			s.log.Error("compacting subscription state failed", "err", err)
		}
		var due <-chan time.Time
		if next > 0 {
			timer.Reset(max(time.Duration(next-now), 0) + time.Millisecond)
			due = timer.C
		}
		select {
		case <-s.stop:
			return
		case <-s.kick:
		case <-due:
		}
	}
}

// appendOps journals ops (the caller holds jmu for reading, or for writing
// when it is the only writer). It asks the timekeeper to compact when the
// journal is long, or when it failed: a compaction starts a fresh journal,
// which is how a subscription recovers from a failed write without a
// restart.
func (s *subscription) appendOps(ctx context.Context, ops []op) error {
	return s.journalOps(ctx, ops, false)
}

// journalOps is appendOps; unsynced returns before the fsync (leases).
func (s *subscription) journalOps(ctx context.Context, ops []op, unsynced bool) error {
	err := s.j.write(ctx, ops, unsynced)
	s.journalFailed(err)
	return err
}

// queueLeases queues a fetch's deliver ops (journal.queue). A write that
// fails after they were queued fails the journal's log: the subscription
// compacts (into a new journal), and the leases, kept in memory and in the
// snapshot, are lost only to a crash before that.
func (s *subscription) queueLeases(ops []op) error {
	err := s.j.queue(ops, func(err error) {
		if err != nil {
			s.log.Warn("writing leases to the subscription's journal failed; compacting", "err", err)
			s.journalFailed(err)
		}
	})
	s.journalFailed(err)
	return err
}

// journalFailed reacts to the outcome of a journal write: a failed log
// (commitlog.FailedError) or a long journal makes the timekeeper compact.
func (s *subscription) journalFailed(err error) {
	var failed *commitlog.FailedError
	if errors.As(err, &failed) {
		s.needCompact.Store(true)
		s.kickTimekeeper()
	} else if s.compactDue() {
		s.kickTimekeeper()
	}
}

// maybeCompact compacts when the journal is long or failed.
func (s *subscription) maybeCompact() error {
	if !s.compactDue() {
		return nil
	}
	return s.compact()
}

func (s *subscription) compactDue() bool {
	if s.needCompact.Load() {
		return true
	}
	ops, after := s.j.ops.Load(), int64(s.b.cfg.CompactAfter)
	switch {
	case ops < after:
		return false
	case ops >= compactCap*after || s.b.cfg.CompactInterval < 0:
		return true
	}
	last := s.compacted.Load()
	return last == 0 || time.Duration(monoNow()-last) >= s.b.cfg.CompactInterval
}

// compactCap times CompactAfter is as long as a journal grows while
// CompactInterval holds its compaction back.
const compactCap = 4

// monoNow is the time on the monotonic clock, which the wall clock's
// steps (and a test's fake clock, Config.Now) do not move.
func monoNow() int64 { return int64(time.Since(monoStart)) + 1 }

var monoStart = time.Now()

// compact folds the journal into a snapshot. Operations wait only while
// it cuts the journal (journal.cut); the snapshot is written after.
func (s *subscription) compact() error {
	s.cmu.Lock()
	defer s.cmu.Unlock()
	next, gen, err := s.j.openNext()
	if err != nil {
		return err
	}
	s.jmu.Lock()
	s.mu.Lock()
	if s.closed { // close compacted already; the new journal is not needed
		s.mu.Unlock()
		s.jmu.Unlock()
		next.Close()
		return removeAll(s.j.fs, next.Dir())
	}
	st := s.state()
	s.mu.Unlock()
	old := s.j.cut(next, gen)
	s.compacted.Store(monoNow())
	s.needCompact.Store(false) // a failure from here on is the new journal's
	s.jmu.Unlock()
	if err := s.j.settle(gen, st, old); err != nil {
		s.needCompact.Store(true)
		return err
	}
	return nil
}

// state folds the live window back into durable form. The caller holds mu.
func (s *subscription) state() *cursorState {
	st := newCursorState()
	st.deadLettered = s.deadLettered
	st.dlqTopic = s.dlqTopic
	st.redrivenBelow = s.redrivenBelow
	for off := range s.redriven {
		st.redriven[off] = true
	}
	for p, sp := range s.parts {
		pc := st.part(p)
		// The window reads ahead of what it leases (up to 16384 events per
		// partition): its tail of untouched entries, contiguous up to
		// readPos, is left out and the state says the log was scanned only
		// up to its start; opening reads those events again and gets the
		// same entries. Listing them made every compaction write thousands
		// of states.
		pc.scanned = sp.readPos
		for pc.scanned > 0 {
			if e := sp.entries.get(pc.scanned - 1); e == nil || !e.untouched() {
				break
			}
			pc.scanned--
		}
		if ov := sp.overlay; ov != nil {
			for off, os := range ov.states {
				pc.states[off] = os
			}
			for off := range ov.settledAbove {
				pc.settledAbove[off] = true
			}
		}
		sp.entries.each(func(e *entry) {
			if e.offset >= pc.scanned {
				return
			}
			os := newOffState()
			os.attempts, os.notBefore, os.lastErr, os.deadReason = e.attempts, e.notBefore, e.lastErr, e.deadReason
			os.dlqOffset, os.dlIntent = e.dlqOffset, e.dlIntent
			if e.lease != nil {
				l := *e.lease
				os.lease = &l
			}
			pc.states[e.offset] = os
		})
	}
	return st
}

// rebuild replaces the live window with one built from durable state:
// unsettled offsets below each partition's scanned position are loaded now,
// the rest is read from the log by fill. The caller holds mu.
func (s *subscription) rebuild(st *cursorState, now int64) error {
	for _, sp := range s.parts {
		sp.entries.each(func(e *entry) {
			e.settled = true // invalidates ready slots
			e.timerPos = [timerKinds]int{}
			e.leaseSeq = 0
		})
	}
	s.parts = nil
	s.groups = map[groupID]*group{}
	s.ready, s.readyHead = nil, 0
	s.timers = nil
	s.leases.reset()
	s.inFlight = 0
	s.consumers = map[string]int{}
	s.deadQ = nil
	s.dlInFlight = 0
	s.deadLettered = st.deadLettered
	s.dlqTopic = st.dlqTopic
	if s.dlqTopic == "" {
		s.dlqTopic = s.cfg.DeadLetterTopic
	}
	s.redrivenBelow = st.redrivenBelow
	s.redriven = map[int64]bool{}
	for off := range st.redriven {
		s.redriven[off] = true
	}
	s.t.mu.RLock()
	nparts := len(s.t.parts)
	s.t.mu.RUnlock()
	for p := range max(nparts, len(st.parts)) {
		pc := st.part(p)
		sp := &subPart{readPos: pc.scanned}
		s.parts = append(s.parts, sp)
		var below []int64
		ov := newPartCursor(pc.scanned)
		for off, os := range pc.states {
			if off < pc.scanned {
				below = append(below, off)
			} else {
				ov.states[off] = os
			}
		}
		for off := range pc.settledAbove {
			ov.settledAbove[off] = true
		}
		if len(ov.states) > 0 || len(ov.settledAbove) > 0 {
			sp.overlay = ov
		}
		slices.Sort(below)
		if err := s.loadBelow(p, sp, pc, below, now); err != nil {
			return err
		}
	}
	// Read ahead now, so leases recorded after the snapshot are held again
	// (and their timers run) before anyone asks.
	if err := s.fill(now, true); err != nil {
		return err
	}
	s.signal()
	s.kickTimekeeper()
	return nil
}

// loadBelow makes live the unsettled offsets below a partition's scanned
// position, reading their bodies from the log (or the dead-letter topic for
// redriven ones).
func (s *subscription) loadBelow(p int, sp *subPart, pc *partCursor, offs []int64, now int64) error {
	var cache []commitlog.Record
	for _, off := range offs {
		os := pc.states[off]
		var ev StoredEvent
		var err error
		if os.dlqOffset >= 0 {
			ev, err = s.readDeadLetterBody(p, off, os.dlqOffset)
		} else {
			ev, err = s.readOne(p, off, &cache)
		}
		if err != nil {
			if errors.Is(err, commitlog.ErrOffsetOutOfRange) || errors.Is(err, ErrTopicNotFound) {
				s.log.Warn("an unsettled event is gone (retention or a deleted dead-letter topic); skipping it",
					"partition", p, "offset", off, "err", err)
				continue
			}
			return err
		}
		if os.lease == nil && !s.cfg.Filter.Match(ev.Event.Type, ev.Event.Subject) {
			continue
		}
		s.addEntry(sp, s.newEntry(&ev, os, now), now)
	}
	return nil
}

// readOne reads one event of the subscription's topic, keeping the rest of
// the batch in cache for the next offset.
func (s *subscription) readOne(p int, off int64, cache *[]commitlog.Record) (StoredEvent, error) {
	c := *cache
	if len(c) == 0 || off < c[0].Offset || off > c[len(c)-1].Offset {
		s.t.mu.RLock()
		l, err := s.t.partition(p)
		if err == nil {
			c, err = l.ReadInto(c[:0], off, 64<<10)
		}
		s.t.mu.RUnlock()
		if err != nil {
			return StoredEvent{}, err
		}
		*cache = c
		if len(c) == 0 || c[0].Offset != off {
			return StoredEvent{}, &commitlog.OutOfRangeError{Offset: off}
		}
	}
	i, _ := slices.BinarySearchFunc(c, off, func(r commitlog.Record, off int64) int { return cmp.Compare(r.Offset, off) })
	return decodeStored(s.t.name, p, &c[i])
}

// loadBody reads the body of a parked entry. The caller holds mu.
func (s *subscription) loadBody(e *entry) error {
	var ev StoredEvent
	var err error
	if e.dlqOffset >= 0 {
		ev, err = s.readDeadLetterBody(e.part, e.offset, e.dlqOffset)
	} else {
		var cache []commitlog.Record
		ev, err = s.readOne(e.part, e.offset, &cache)
	}
	if err != nil {
		return err
	}
	e.ev = &ev
	return nil
}
