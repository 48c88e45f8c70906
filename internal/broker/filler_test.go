package broker

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/cloudevent"
)

// fillLog records the reads into a subscription's window (fillHook).
type fillLog struct {
	mu    sync.Mutex
	reads []fillRead
	more  chan struct{}
}

type fillRead struct {
	background bool
	from, to   int64
}

func watchFills(e *env) *fillLog {
	fl := &fillLog{more: make(chan struct{}, 1)}
	e.b.fillHook = func(background bool, from, to int64) {
		fl.mu.Lock()
		fl.reads = append(fl.reads, fillRead{background, from, to})
		fl.mu.Unlock()
		select {
		case fl.more <- struct{}{}:
		default:
		}
	}
	return fl
}

func (fl *fillLog) take() []fillRead {
	fl.mu.Lock()
	defer fl.mu.Unlock()
	r := fl.reads
	fl.reads = nil
	return r
}

// waitBackground waits for a background read that reaches at least to.
func (fl *fillLog) waitBackground(t *testing.T, to int64) []fillRead {
	t.Helper()
	var seen []fillRead
	deadline := time.After(10 * time.Second)
	for {
		for _, r := range fl.take() {
			seen = append(seen, r)
			if r.background && r.to >= to {
				return seen
			}
		}
		select {
		case <-fl.more:
		case <-deadline:
			t.Fatalf("no background read up to offset %d; reads: %+v", to, seen)
		}
	}
}

func manyEvents(n int) []cloudevent.Event {
	evs := make([]cloudevent.Event, n)
	for i := range evs {
		evs[i] = ev(fmt.Sprint(i))
	}
	return evs
}

// windowOf returns subscription sub of topic and a count of the events
// its first partition's window holds.
func windowOf(t *testing.T, e *env, topic, sub string) (*subscription, func() int) {
	t.Helper()
	s, err := e.b.sub(topic, sub)
	if err != nil {
		t.Fatal(err)
	}
	return s, func() int {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.parts[0].counted
	}
}

// A fetch fills a window below half its read-ahead itself; one at least
// half full it leaves to the filler goroutine, which reads the rest
// outside the fetch.
func TestTheFillerReadsAheadOfTheFetches(t *testing.T) {
	e := newEnv(t)
	e.createTopic("t", TopicConfig{Partitions: 1})
	// MaxInFlight 16: a read-ahead of 256 events, half of it 128.
	e.createSub("t", "s", SubscriptionConfig{MaxInFlight: 16})
	s, counted := windowOf(t, e, "t", "s")
	fl := watchFills(e)
	// 2 KiB events: one read of the log (256 KiB) brings ~120 of them.
	for i := 0; i < 1000; i += 100 {
		evs := manyEvents(100)
		for j := range evs {
			evs[j].ID = fmt.Sprint(i + j)
			evs[j].Data = make([]byte, 2048)
		}
		e.publish("t", evs...)
	}
	if ds := e.poll("t", "s", "c", 16); len(ds) != 16 {
		t.Fatalf("first fetch got %d events, want 16", len(ds))
	} else {
		e.ack("t", "s", ds...)
	}
	reads := fl.take()
	if len(reads) == 0 || reads[0].background || reads[0].from != 0 {
		t.Fatalf("the first fetch (an empty window) did not read the log itself: %+v", reads)
	}
	readTo := reads[len(reads)-1].to
	// Consume until the window is short of its read-ahead, but still more
	// than half full: the next fetch must leave the reading to the filler.
	for counted() >= s.lookahead() {
		ds := e.poll("t", "s", "c", 16)
		if len(ds) == 0 {
			t.Fatal("nothing to fetch")
		}
		e.ack("t", "s", ds...)
	}
	if c := counted(); c < s.lookahead()/2 {
		t.Fatalf("the window fell to %d, below half", c)
	}
	if reads := fl.take(); len(reads) > 0 {
		t.Fatalf("reads while the window was full: %+v", reads)
	}
	e.poll("t", "s", "c", 16)
	for _, r := range fl.waitBackground(t, readTo+1) {
		if !r.background {
			t.Fatalf("a fetch read the log with its window at least half full: %+v", r)
		}
	}
	if c := counted(); c < s.lookahead() {
		t.Fatalf("after the filler the window holds %d, want at least %d", c, s.lookahead())
	}
}

// Fetches and the filler together deliver every event of a backlog once,
// in log order; both read the log in the run.
func TestTheFillerAndFetchesDeliverEveryEventOnceInOrder(t *testing.T) {
	e := newEnv(t)
	e.createTopic("t", TopicConfig{Partitions: 1})
	e.createSub("t", "s", SubscriptionConfig{MaxInFlight: 64}) // a read-ahead of 256
	s, counted := windowOf(t, e, "t", "s")
	fl := watchFills(e)
	const total = 5000
	evs := manyEvents(total)
	for i := range evs {
		evs[i].Data = make([]byte, 1024) // ~240 events per read of the log
	}
	for i := 0; i < total; i += 1000 {
		e.publish("t", evs[i:i+1000]...)
	}
	var byFetch, byFiller int
	tally := func(reads []fillRead) {
		for _, r := range reads {
			if r.background {
				byFiller++
			} else {
				byFetch++
			}
		}
	}
	next := int64(0)
	deadline := time.Now().Add(20 * time.Second)
	for next < total {
		if time.Now().After(deadline) {
			t.Fatalf("delivered up to offset %d of %d", next, total)
		}
		c := counted()
		ds := e.poll("t", "s", "c", 64)
		if byFiller == 0 && c >= s.lookahead()/2 && c < s.lookahead() && next+int64(c) < total {
			// That fetch kicked the filler: let it read once, so that the
			// run mixes both paths for sure.
			tally(fl.waitBackground(t, next+int64(c)+1))
		}
		for _, d := range ds {
			if d.Event.Offset != next {
				t.Fatalf("got offset %d, want %d", d.Event.Offset, next)
			}
			next++
		}
		e.ack("t", "s", ds...)
		tally(fl.take())
	}
	if ds := e.poll("t", "s", "c", 64); len(ds) != 0 {
		t.Fatalf("%d more deliveries after all %d were acked", len(ds), total)
	}
	tally(fl.take())
	if byFetch == 0 || byFiller == 0 {
		t.Fatalf("reads of the log: %d by fetches, %d by the filler; want both", byFetch, byFiller)
	}
}
