package broker

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/vfs"
)

func TestRestartKeepsSubscriptionState(t *testing.T) {
	tests := []struct {
		name         string
		crash        bool
		compactAfter int
	}{
		{"clean close", false, 0},
		{"crash, journal only", true, 0},
		{"crash after compactions", true, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, func(c *Config) { c.CompactAfter, c.CompactInterval = tt.compactAfter, -1 })
			e.createTopic("t", TopicConfig{Partitions: 2})
			e.createSub("t", "s", SubscriptionConfig{AckTimeout: time.Minute, Retry: retryFast})
			publishN(e, "t", 10)
			ds := e.poll("t", "s", "c", 10)
			if len(ds) != 10 {
				t.Fatalf("got %d deliveries", len(ds))
			}
			byID := map[string]Delivery{}
			for _, d := range ds {
				byID[d.Event.Event.ID] = d
			}
			acked := []string{"e00", "e02", "e04", "e06", "e08"}
			for _, id := range acked {
				e.ack("t", "s", byID[id])
			}
			if err := e.b.Nack(context.Background(), "t", "s", byID["e01"].Token, 10*time.Second, "later"); err != nil {
				t.Fatal(err)
			}
			e.b.skipSnapshots = tt.crash
			e.restart()

			// Leases survive: the consumer can still ack what it holds.
			e.ack("t", "s", byID["e03"])
			if got := e.poll("t", "s", "c", 10); len(got) != 0 {
				t.Fatalf("right after the restart got %v; leases still hold and e01 backs off", ids(got))
			}
			e.clock.Advance(10 * time.Second)
			if got := ids(e.poll("t", "s", "c", 10)); !slices.Equal(got, []string{"e01"}) {
				t.Fatalf("after the nack delay got %v, want e01", got)
			}
			e.clock.Advance(time.Minute)
			got := e.poll("t", "s", "c", 10)
			gotIDs := ids(got)
			slices.Sort(gotIDs)
			if want := []string{"e01", "e05", "e07", "e09"}; !slices.Equal(gotIDs, want) {
				t.Fatalf("after the leases expired got %v, want the unacked %v", gotIDs, want)
			}
			for _, d := range got {
				want := 2
				if d.Event.Event.ID == "e01" {
					want = 3
				}
				if d.Attempt != want {
					t.Fatalf("%s attempt %d, want %d (attempt counts survive)", d.Event.Event.ID, d.Attempt, want)
				}
			}
		})
	}
}

func TestJournalCompaction(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.CompactAfter, c.CompactInterval = 4, -1 })
	e.createTopic("t", TopicConfig{})
	e.createSub("t", "s", SubscriptionConfig{})
	publishN(e, "t", 20)
	for _, d := range e.poll("t", "s", "c", 20)[:15] {
		e.ack("t", "s", d)
	}
	s, err := e.b.sub("t", "s")
	if err != nil {
		t.Fatal(err)
	}
	// The timekeeper compacts in the background; a direct call makes the
	// test independent of its timing.
	if err := s.compact(); err != nil {
		t.Fatal(err)
	}
	// A background compaction may have begun meanwhile (its next journal
	// exists before its cut): list the journals between compactions.
	s.cmu.Lock()
	dirs := journalDirs(t, s.dir)
	s.cmu.Unlock()
	if len(dirs) != 1 || dirs[0] == "journal-0" {
		t.Fatalf("journal directories %v, want one of a later generation", dirs)
	}
	e.restart()
	e.clock.Advance(DefaultAckTimeout)
	got := ids(e.poll("t", "s", "c", 20))
	slices.Sort(got)
	if want := []string{"e15", "e16", "e17", "e18", "e19"}; !slices.Equal(got, want) {
		t.Fatalf("after compaction and restart got %v, want %v", got, want)
	}
}

// A snapshot lists only what the log cannot tell: the leased, settled and
// retried events, not the events the window read ahead and never
// delivered. They come back from the log on open, in order, once each.
func TestSnapshotLeavesOutTheUntouchedTail(t *testing.T) {
	e := newEnv(t)
	e.createTopic("t", TopicConfig{})
	e.createSub("t", "s", SubscriptionConfig{})
	publishN(e, "t", 60)
	held := e.poll("t", "s", "c", 5) // e00..e04; the window read all 60
	e.ack("t", "s", held[1], held[3])
	s, err := e.b.sub("t", "s")
	if err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	st := s.state()
	s.mu.Unlock()
	pc := st.parts[0]
	var states []int64
	for off := range pc.states {
		states = append(states, off)
	}
	slices.Sort(states)
	if pc.scanned != 5 || !slices.Equal(states, []int64{0, 2, 4}) || len(pc.settledAbove) != 0 {
		t.Fatalf("state: scanned %d, states %v, settled above %v; want 5, [0 2 4], none", pc.scanned, states, pc.settledAbove)
	}
	if err := s.compact(); err != nil {
		t.Fatal(err)
	}
	e.restart()
	var want []string
	for i := 5; i < 60; i++ {
		want = append(want, fmt.Sprintf("e%02d", i))
	}
	rest := e.poll("t", "s", "c", 100)
	if got := ids(rest); !slices.Equal(got, want) {
		t.Fatalf("after restart got %v, want e05..e59 in order", got)
	}
	e.ack("t", "s", rest...)
	e.clock.Advance(DefaultAckTimeout)
	again := ids(e.poll("t", "s", "c", 100))
	slices.Sort(again)
	if got := again; !slices.Equal(got, []string{"e00", "e02", "e04"}) {
		t.Fatalf("after the leases expired got %v, want the three unacked", got)
	}
}

func journalDirs(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	for _, name := range listDir(t, dir) {
		if strings.HasPrefix(name, journalPrefix) {
			out = append(out, name)
		}
	}
	return out
}

// A crash after the dead letter is stored but before the subscription
// records it must not write it twice.
func TestDeadLetterWrittenOnceAcrossACrash(t *testing.T) {
	e, faulty := faultyEnv(t)
	e.publish("t", ev("bad"))
	d := e.poll("t", "s", "c", 1)[0]
	dlqPart := filepath.Join(e.dir, topicsDir, DeadLetterTopicName("t", "s"), partitionsDir)
	journal := filepath.Join(e.dir, topicsDir, "t", subscriptionsDir, "s")
	var dlqWritten atomic.Bool
	faulty.SetInjector(func(op vfs.Op, path string) vfs.Fault {
		if op == vfs.OpWrite && strings.HasPrefix(path, dlqPart) {
			dlqWritten.Store(true)
		}
		if op == vfs.OpWrite && strings.HasPrefix(path, journal) && dlqWritten.Load() {
			return vfs.Fault{Err: errors.New("disk gone")}
		}
		return vfs.Fault{}
	})
	if err := e.b.Reject(context.Background(), "t", "s", d.Token, "poison"); err != nil {
		t.Fatal(err)
	}
	if !dlqWritten.Load() {
		t.Fatal("the dead letter was never written")
	}
	faulty.SetInjector(nil)
	e.b.skipSnapshots = true
	e.restart()
	dls, err := e.b.DeadLetters(context.Background(), "t", "s", 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(dls) != 1 || dls[0].Reason != "rejected: poison" {
		t.Fatalf("dead letters after the crash: %+v, want exactly one", dls)
	}
	st, _ := e.b.Stats("t", "s")
	if st.DeadLettered != 1 || st.AwaitingDeadLetter != 0 || st.Pending != 0 {
		t.Fatalf("stats %+v", st)
	}
	if got := e.poll("t", "s", "c", 1); len(got) != 0 {
		t.Fatalf("the rejected event came back: %v", ids(got))
	}
}

func TestDeleteTopicAndSubscription(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.createTopic("t", TopicConfig{})
	e.createSub("t", "s", SubscriptionConfig{})
	e.publish("t", ev("a"))
	if err := e.b.DeleteSubscription(ctx, "t", "s"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(e.dir, topicsDir, "t", subscriptionsDir, "s")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("subscription directory still there: %v", err)
	}
	if _, err := e.b.Fetch(doneCtx(), "t", "s", "c", 1); !errors.Is(err, ErrSubscriptionNotFound) {
		t.Fatalf("Fetch on a deleted subscription = %v", err)
	}
	e.createSub("t", "s", SubscriptionConfig{Start: StartPosition{Kind: StartEarliest}})
	if err := e.b.DeleteTopic(ctx, "t"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(e.dir, topicsDir, "t")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("topic directory still there: %v", err)
	}
	if _, err := e.b.Topic("t"); !errors.Is(err, ErrTopicNotFound) {
		t.Fatalf("Topic after delete = %v", err)
	}
	if err := e.b.DeleteTopic(ctx, "t"); !errors.Is(err, ErrTopicNotFound) {
		t.Fatalf("second delete = %v", err)
	}
	// The name is free again, and nothing of the old topic remains.
	e.createTopic("t", TopicConfig{})
	if subs, _ := e.b.Subscriptions("t"); len(subs) != 0 {
		t.Fatalf("recreated topic has subscriptions %v", subs)
	}
	if _, next, _ := e.b.Offsets("t", 0); next != 0 {
		t.Fatalf("recreated topic holds %d events", next)
	}
	// Leftovers of interrupted deletes and creates are cleaned on open.
	root := filepath.Join(e.dir, topicsDir)
	for _, dir := range []string{filepath.Join(root, deletedPrefix+"x", "partitions"), filepath.Join(root, "halfmade", "partitions")} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	e.restart()
	if got := listDir(t, root); !slices.Equal(got, []string{"t", DeadLetterTopicName("t", "s")}) && !slices.Equal(got, []string{DeadLetterTopicName("t", "s"), "t"}) {
		t.Fatalf("topics directory after open: %v", got)
	}
	if infos, _ := e.b.Topics(); len(infos) != 2 {
		t.Fatalf("Topics() = %+v", infos)
	}
}

func TestClosedBrokerRefusesCalls(t *testing.T) {
	e := newEnv(t)
	e.createTopic("t", TopicConfig{})
	if err := e.b.Close(); err != nil {
		t.Fatal(err)
	}
	b := e.b
	e.b = nil
	if err := b.Close(); !errors.Is(err, ErrClosed) {
		t.Fatalf("second Close = %v", err)
	}
	if _, err := b.Publish(context.Background(), "t", nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("Publish after Close = %v", err)
	}
	if _, err := b.Fetch(context.Background(), "t", "s", "c", 1); !errors.Is(err, ErrClosed) {
		t.Fatalf("Fetch after Close = %v", err)
	}
	if leaked := waitNoHeraldGoroutines(5 * time.Second); leaked != "" {
		t.Fatalf("goroutines left after Close:\n%s", leaked)
	}
}

// A failed journal write stops the journal (commitlog refuses writes after
// a failed write or fsync); compaction starts a fresh one and the
// subscription works again without a restart.
func TestJournalFailureRecovers(t *testing.T) {
	e, faulty := faultyEnv(t)
	publishN(e, "t", 3)
	ds := e.poll("t", "s", "c", 3)
	journal := filepath.Join(e.dir, topicsDir, "t", subscriptionsDir, "s", journalPrefix)
	// Every journal write fails during the ack (an ack does not wait for
	// the journal's fsync, so a failing fsync would not reach it).
	var failing atomic.Bool
	failing.Store(true)
	faulty.SetInjector(func(op vfs.Op, path string) vfs.Fault {
		if op == vfs.OpWrite && strings.HasPrefix(path, journal) && failing.Load() {
			return vfs.Fault{Err: errors.New("disk full")}
		}
		return vfs.Fault{}
	})
	if err := e.b.Ack(context.Background(), "t", "s", ds[0].Token); err == nil {
		t.Fatal("ack succeeded although its write failed")
	}
	failing.Store(false)
	s, err := e.b.sub("t", "s")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.compact(); err != nil {
		t.Fatalf("compaction after the failure: %v", err)
	}
	e.ack("t", "s", ds[1])
	e.restart()
	e.clock.Advance(DefaultAckTimeout)
	got := ids(e.poll("t", "s", "c", 3))
	if slices.Contains(got, ds[1].Event.Event.ID) || !slices.Contains(got, ds[2].Event.Event.ID) {
		t.Fatalf("after recovery and restart got %v: %s was acked, %s was not", got, ds[1].Event.Event.ID, ds[2].Event.Event.ID)
	}
}

// Acks do not each pay an fsync: they are written before Ack returns and
// the journal fsyncs them together within ackSyncDelay, so a run of acks
// costs a few journal fsyncs, not one each. A reject (which dead-letters)
// is fsynced before it returns.
func TestAcksShareJournalFsyncs(t *testing.T) {
	e, faulty := faultyEnv(t)
	const n = 200
	publishN(e, "t", n)
	ds := e.poll("t", "s", "c", n)
	journal := filepath.Join(e.dir, topicsDir, "t", subscriptionsDir, "s", journalPrefix)
	var syncs atomic.Int32
	faulty.SetInjector(func(op vfs.Op, path string) vfs.Fault {
		if op == vfs.OpSync && strings.HasPrefix(path, journal) {
			syncs.Add(1)
		}
		return vfs.Fault{}
	})
	start := time.Now()
	for _, d := range ds[:n-1] {
		if err := e.b.Ack(context.Background(), "t", "s", d.Token); err != nil {
			t.Fatal(err)
		}
	}
	elapsed := time.Since(start)
	// One fsync per ackSyncDelay of acking, plus a few to spare: far
	// fewer than one per ack.
	if limit := int32(elapsed/ackSyncDelay) + 4; syncs.Load() > limit || syncs.Load() > n/4 {
		t.Fatalf("%d acks in %v cost %d journal fsyncs, want at most %d", n-1, elapsed, syncs.Load(), min(limit, n/4))
	}
	before := syncs.Load()
	if err := e.b.Reject(context.Background(), "t", "s", ds[n-1].Token, "bad"); err != nil {
		t.Fatal(err)
	}
	if syncs.Load() == before {
		t.Fatal("a reject returned before the journal was fsynced")
	}
}

// A compaction interrupted after its cut (appends already go to the next
// journal, the snapshot still names the previous one) loses nothing: the
// next open replays both journals in order.
func TestCompactionInterruptedAfterTheCut(t *testing.T) {
	e := newEnv(t)
	e.createTopic("t", TopicConfig{})
	e.createSub("t", "s", SubscriptionConfig{AckTimeout: time.Minute})
	publishN(e, "t", 4)
	ds := e.poll("t", "s", "c", 4)
	e.ack("t", "s", ds[0]) // in journal g
	s, err := e.b.sub("t", "s")
	if err != nil {
		t.Fatal(err)
	}
	next, gen, err := s.j.openNext()
	if err != nil {
		t.Fatal(err)
	}
	s.jmu.Lock()
	old := s.j.cut(next, gen)
	s.jmu.Unlock()
	old.Close()
	e.ack("t", "s", ds[1]) // in journal g+1; the snapshot was never written
	e.b.skipSnapshots = true
	e.restart()

	e.ack("t", "s", ds[2]) // its lease, written to journal g, survived too
	e.clock.Advance(time.Minute)
	if got := ids(e.poll("t", "s", "c", 4)); !slices.Equal(got, []string{ds[3].Event.Event.ID}) {
		t.Fatalf("after the restart got %v, want only %s (the others were acked)", got, ds[3].Event.Event.ID)
	}
	// A full compaction then leaves one journal.
	s, err = e.b.sub("t", "s")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.compact(); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		t.Fatal(err)
	}
	var journals []string
	for _, en := range entries {
		if strings.HasPrefix(en.Name(), journalPrefix) {
			journals = append(journals, en.Name())
		}
	}
	if len(journals) != 1 {
		t.Fatalf("journals after a compaction: %v, want one", journals)
	}
}

// A fetch queues its leases in the journal and returns without waiting for
// their write; an ack that follows is written after them, and closing
// waits for them.
func TestFetchDoesNotWaitForItsLeasesWrite(t *testing.T) {
	e, faulty := faultyEnv(t)
	e.publish("t", ev("a"), ev("b"))
	journal := filepath.Join(e.dir, topicsDir, "t", subscriptionsDir, "s")
	release := make(chan struct{})
	held := make(chan struct{}, 1)
	faulty.SetInjector(func(op vfs.Op, path string) vfs.Fault {
		if op == vfs.OpWrite && strings.HasPrefix(path, journal) {
			select {
			case held <- struct{}{}:
				<-release // the first journal write waits for the test
			default:
			}
		}
		return vfs.Fault{}
	})
	var releaseOnce sync.Once
	unblock := func() { releaseOnce.Do(func() { close(release) }) }
	defer unblock()
	fetched := make(chan []Delivery, 1)
	go func() { fetched <- e.poll("t", "s", "c", 2) }()
	var ds []Delivery
	select {
	case ds = <-fetched: // while the write of its leases cannot finish
	case <-time.After(10 * time.Second):
		t.Fatal("Fetch waited for its leases' write")
	}
	if len(ds) != 2 {
		t.Fatalf("fetched %d deliveries, want 2", len(ds))
	}
	select {
	case <-held:
	case <-time.After(10 * time.Second):
		t.Fatal("the leases were never written")
	}
	acked := make(chan error, 1)
	go func() { acked <- e.b.Ack(context.Background(), "t", "s", ds[0].Token) }()
	unblock()
	if err := <-acked; err != nil {
		t.Fatal(err)
	}
	faulty.SetInjector(nil)
	e.b.skipSnapshots = true // recover from the journal alone
	e.restart()
	e.clock.Advance(DefaultAckTimeout)
	got := e.poll("t", "s", "c", 2)
	if len(got) != 1 || got[0].Event.Event.ID != ds[1].Event.Event.ID || got[0].Attempt != 2 {
		t.Fatalf("after a restart got %d deliveries (%v), want %s again on its second attempt", len(got), ids(got), ds[1].Event.Event.ID)
	}
}

// A subscription's journal is not zero-filled ahead of its writes, as
// the topic's log is: nobody waits for the journal's fsyncs, so the fill
// would only add writes to the disk beside the topic's fsyncs
// (journalOptions).
func TestSubscriptionJournalsAreNotZeroFilled(t *testing.T) {
	e, faulty := faultyEnv(t)
	subs := filepath.Join(e.dir, topicsDir, "t", subscriptionsDir)
	var topicFills, journalFills atomic.Int32
	faulty.SetInjector(func(op vfs.Op, path string) vfs.Fault {
		if op != vfs.OpWrite {
			return vfs.Fault{}
		}
		stack := make([]byte, 16<<10)
		if !strings.Contains(string(stack[:runtime.Stack(stack, false)]), "commitlog.(*Log).beforeWrite.func") {
			return vfs.Fault{}
		}
		if strings.HasPrefix(path, subs) {
			journalFills.Add(1)
		} else {
			topicFills.Add(1)
		}
		return vfs.Fault{}
	})
	const n = 50
	publishN(e, "t", n)
	for _, d := range e.poll("t", "s", "c", n) {
		if err := e.b.Ack(context.Background(), "t", "s", d.Token); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.b.Close(); err != nil { // waits for fills in progress
		t.Fatal(err)
	}
	e.b = nil
	if topicFills.Load() == 0 {
		t.Fatal("the topic's log was not zero-filled: the test no longer sees fills")
	}
	if got := journalFills.Load(); got != 0 {
		t.Fatalf("the subscription's journal was zero-filled %d times, want none", got)
	}
}

// faultyEnv is an env on a filesystem that injects the faults a test
// chooses (none until it sets an injector), with topic t and its
// subscription s.
func faultyEnv(t *testing.T) (*env, *vfs.Faulty) {
	t.Helper()
	faulty := vfs.NewFaulty(vfs.OS)
	e := newEnv(t, func(c *Config) { c.FS = faulty })
	e.createTopic("t", TopicConfig{})
	e.createSub("t", "s", SubscriptionConfig{})
	return e, faulty
}

// A journal that reaches CompactAfter is compacted at once the first time,
// then at most once per CompactInterval until it holds compactCap times
// CompactAfter changes; a failed journal is compacted at once.
func TestCompactIntervalHoldsCompactionsBack(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.CompactAfter = 4 })
	e.createTopic("t", TopicConfig{})
	e.createSub("t", "s", SubscriptionConfig{})
	s, err := e.b.sub("t", "s")
	if err != nil {
		t.Fatal(err)
	}
	e.b.Close() // no timekeeper compacts behind the test's back
	e.b = nil
	now := monoNow()
	for _, tc := range []struct {
		name     string
		ops      int64
		last     int64 // monoNow at the last compaction; 0 for none
		interval time.Duration
		failed   bool
		want     bool
	}{
		{"short journal", 3, 0, time.Hour, false, false},
		{"never compacted", 4, 0, time.Hour, false, true},
		{"compacted within the interval", 4, now, time.Hour, false, false},
		{"just under the cap", 4*compactCap - 1, now, time.Hour, false, false},
		{"at the cap", 4 * compactCap, now, time.Hour, false, true},
		{"the interval passed", 4, now - int64(2*time.Hour), time.Hour, false, true},
		{"no interval", 4, now, -1, false, true},
		{"a failed journal", 1, now, time.Hour, true, true},
	} {
		s.j.ops.Store(tc.ops)
		s.compacted.Store(tc.last)
		s.needCompact.Store(tc.failed)
		s.b.cfg.CompactInterval = tc.interval
		if got := s.compactDue(); got != tc.want {
			t.Errorf("%s: compactDue() = %v, want %v", tc.name, got, tc.want)
		}
	}
}
