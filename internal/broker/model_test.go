package broker

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/heraldhq/herald/cloudevent"
	"github.com/heraldhq/herald/internal/commitlog"
	"pgregory.net/rapid"
)

// The model-based test drives random publishes (with keys, and republished
// ids), fetches by several consumers, acks, nacks, rejects, extends, clock
// moves (lease expiry, backoff), redrives and restarts against the broker
// and a simple reference model, and checks after every step and at the end:
//
//   - no acknowledged publish is lost (the partitions hold exactly the
//     published events, in order, also after restarts);
//   - within a subscription no event is leased to two consumers at once;
//   - ordering partition/key holds, also under retries: an event is
//     delivered only when every earlier event of its partition/key is acked
//     or dead-lettered;
//   - Fetch returns exactly what the model says is ready (no stuck events,
//     limits respected, ErrBackpressure when the consumer is at its limit);
//   - every event is eventually acked or dead-lettered;
//   - the unredriven dead letters are exactly the events that exceeded their
//     deliveries or were rejected, each once.

const (
	modelAckTimeout   = 10 * time.Second
	modelSubLimit     = 6
	modelConsumerCap  = 3
	modelDedupWindow  = 2 * time.Minute
	modelTopic        = "events"
	modelPartitionsHi = 3
)

var modelDelays = []time.Duration{time.Second, 2 * time.Second}

type mpos struct {
	p   int
	off int64
}

type mevent struct {
	id        string
	key       string
	pos       mpos
	published time.Time
}

type mstate int

const (
	mPending mstate = iota
	mLeased
	mAcked
	mDead
)

type mdelivery struct {
	attempts  int
	state     mstate
	token     string
	consumer  string
	deadline  time.Time
	notBefore time.Time
}

type msub struct {
	name          string
	ordering      Ordering
	maxDeliveries int
	ev            map[mpos]*mdelivery
	deaths        int
	tokens        []string // every token issued, for stale-token acks
}

type machine struct {
	e      *env
	parts  int
	events []mevent
	byPos  map[mpos]*mevent
	next   []int64
	subs   []*msub
	seq    int
}

func setRapidDefaults() {
	set := map[string]bool{}
	flag.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if !set["rapid.checks"] && os.Getenv("RAPID_CHECKS") == "" {
		flag.Set("rapid.checks", "100")
	}
	if !set["rapid.steps"] && os.Getenv("RAPID_STEPS") == "" {
		flag.Set("rapid.steps", "100")
	}
}

func TestModel(t *testing.T) {
	setRapidDefaults()
	root := t.TempDir()
	n := 0
	rapid.Check(t, func(rt *rapid.T) {
		n++
		dir, err := os.MkdirTemp(root, "check")
		if err != nil {
			rt.Fatalf("%v", err)
		}
		defer os.RemoveAll(dir)
		m := newMachine(rt, dir)
		defer func() {
			if m.e.b != nil {
				m.e.b.Close()
			}
		}()
		rt.Repeat(map[string]func(*rapid.T){
			"":          m.check,
			"publish":   m.publish,
			"republish": m.republish,
			"fetch":     m.fetch,
			"ack":       m.ack,
			"ackStale":  m.ackStale,
			"nack":      m.nack,
			"reject":    m.reject,
			"extend":    m.extend,
			"advance":   m.advance,
			"restart":   m.restart,
			"crash":     m.crash,
			"redrive":   m.redrive,
		})
		m.drain(rt)
		m.final(rt)
		if os.Getenv("MODEL_STATS") != "" {
			d := 0
			for _, s := range m.subs {
				d += s.deaths + len(s.tokens)
			}
			fmt.Printf("events %d deliveries+deaths %d\n", len(m.events), d)
		}
	})
}

func newMachine(rt *rapid.T, dir string) *machine {
	clock := newFakeClock()
	e := &env{t: rt, dir: dir, clock: clock}
	e.cfg = Config{DataDir: dir, Now: clock.Now, Sync: commitlog.SyncNone,
		CompactAfter: rapid.SampledFrom([]int{0, 8}).Draw(rt, "compactAfter"), CompactInterval: -1}
	e.open()
	m := &machine{e: e, byPos: map[mpos]*mevent{}}
	m.parts = rapid.IntRange(1, modelPartitionsHi).Draw(rt, "partitions")
	m.next = make([]int64, m.parts)
	e.createTopic(modelTopic, TopicConfig{Partitions: m.parts, DedupWindow: modelDedupWindow})
	for i := range 2 {
		s := &msub{
			name:          fmt.Sprintf("s%d", i),
			ordering:      rapid.SampledFrom([]Ordering{OrderNone, OrderPartition, OrderKey}).Draw(rt, "ordering"),
			maxDeliveries: rapid.IntRange(1, 3).Draw(rt, "maxDeliveries"),
			ev:            map[mpos]*mdelivery{},
		}
		e.createSub(modelTopic, s.name, SubscriptionConfig{
			Ordering:               s.ordering,
			AckTimeout:             modelAckTimeout,
			Retry:                  RetryPolicy{Delays: modelDelays, MaxDeliveries: s.maxDeliveries},
			MaxInFlight:            modelSubLimit,
			MaxInFlightPerConsumer: modelConsumerCap,
		})
		m.subs = append(m.subs, s)
	}
	return m
}

func (m *machine) now() time.Time { return m.e.clock.Now() }

func (m *machine) record(id, key string, r PublishResult) {
	p := mpos{r.Partition, r.Offset}
	m.events = append(m.events, mevent{id: id, key: key, pos: p, published: m.now()})
	m.byPos[p] = &m.events[len(m.events)-1]
	// byPos holds pointers into events: rebuild them if append moved it.
	for i := range m.events {
		m.byPos[m.events[i].pos] = &m.events[i]
	}
	for _, s := range m.subs {
		s.ev[p] = &mdelivery{}
	}
}

func (m *machine) publish(rt *rapid.T) {
	n := rapid.IntRange(1, 4).Draw(rt, "n")
	var keys []string
	var batch []string
	for range n {
		key := rapid.SampledFrom([]string{"", "k1", "k2", "k3"}).Draw(rt, "key")
		m.seq++
		batch = append(batch, fmt.Sprintf("e%d", m.seq))
		keys = append(keys, key)
	}
	res := m.e.publish(modelTopic, m.events2(batch, keys)...)
	for i, r := range res {
		if r.Duplicate {
			rt.Fatalf("fresh id %s answered duplicate", batch[i])
		}
		if r.Offset != m.next[r.Partition] {
			rt.Fatalf("event %s at offset %d of partition %d, want %d (offsets must be dense)", batch[i], r.Offset, r.Partition, m.next[r.Partition])
		}
		if keys[i] != "" && r.Partition != PartitionForKey(keys[i], m.parts) {
			rt.Fatalf("key %q went to partition %d, its hash says %d", keys[i], r.Partition, PartitionForKey(keys[i], m.parts))
		}
		m.next[r.Partition]++
		m.record(batch[i], keys[i], r)
	}
}

func (m *machine) events2(ids, keys []string) []cloudevent.Event {
	out := make([]cloudevent.Event, len(ids))
	for i := range ids {
		if keys[i] != "" {
			out[i] = ev(ids[i], "partitionkey="+keys[i])
		} else {
			out[i] = ev(ids[i])
		}
	}
	return out
}

// republish sends an already published id again: a duplicate inside the
// dedup window, a new event after it.
func (m *machine) republish(rt *rapid.T) {
	if len(m.events) == 0 {
		rt.Skip("nothing published")
	}
	orig := m.events[rapid.IntRange(0, len(m.events)-1).Draw(rt, "event")]
	// The latest event with that id decides.
	for _, e := range m.events {
		if e.id == orig.id {
			orig = e
		}
	}
	res := m.e.publish(modelTopic, m.events2([]string{orig.id}, []string{orig.key})...)[0]
	within := !orig.published.Before(m.now().Add(-modelDedupWindow))
	if within {
		if !res.Duplicate || res.Partition != orig.pos.p || res.Offset != orig.pos.off {
			rt.Fatalf("republish of %s inside the window = %+v, want duplicate at %v", orig.id, res, orig.pos)
		}
		return
	}
	if res.Duplicate {
		rt.Fatalf("republish of %s after the window (published %v, now %v) answered duplicate", orig.id, orig.published, m.now())
	}
	if res.Offset != m.next[res.Partition] {
		rt.Fatalf("republished %s at offset %d, want %d", orig.id, res.Offset, m.next[res.Partition])
	}
	m.next[res.Partition]++
	m.record(orig.id, orig.key, res)
}

// unsettled reports whether an event still has to be acked or dead-lettered.
func unsettled(d *mdelivery) bool { return d.state == mPending || d.state == mLeased }

// eligible says whether the model lets the event be delivered now.
func (m *machine) eligible(s *msub, p mpos) bool {
	d := s.ev[p]
	if d.state != mPending || d.notBefore.After(m.now()) {
		return false
	}
	key := m.byPos[p].key
	for q, o := range s.ev {
		if q == p || !unsettled(o) || q.p != p.p {
			continue
		}
		switch s.ordering {
		case OrderPartition:
		case OrderKey:
			if key == "" || m.byPos[q].key != key {
				continue
			}
		default:
			continue
		}
		if o.state == mLeased || q.off < p.off {
			return false
		}
	}
	return true
}

func (m *machine) leasedBy(s *msub, consumer string) (n, total int) {
	for _, d := range s.ev {
		if d.state == mLeased {
			total++
			if d.consumer == consumer {
				n++
			}
		}
	}
	return n, total
}

func (m *machine) pickSub(rt *rapid.T) *msub {
	return m.subs[rapid.IntRange(0, len(m.subs)-1).Draw(rt, "sub")]
}

func (m *machine) fetch(rt *rapid.T) {
	s := m.pickSub(rt)
	consumer := rapid.SampledFrom([]string{"c1", "c2", "c3"}).Draw(rt, "consumer")
	max := rapid.IntRange(1, 5).Draw(rt, "max")
	m.fetchAndCheck(rt, s, consumer, max)
}

func (m *machine) fetchAndCheck(rt *rapid.T, s *msub, consumer string, max int) []Delivery {
	held, total := m.leasedBy(s, consumer)
	ds, err := m.e.b.Fetch(doneCtx(), modelTopic, s.name, consumer, max)
	if held >= modelConsumerCap {
		if !errors.Is(err, ErrBackpressure) {
			rt.Fatalf("consumer %s holds %d leases: Fetch = %v, %v, want ErrBackpressure", consumer, held, ids(ds), err)
		}
		return nil
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		rt.Fatalf("Fetch: %v", err)
	}
	ready := 0
	for p := range s.ev {
		if m.eligible(s, p) {
			ready++
		}
	}
	want := min(max, modelConsumerCap-held, modelSubLimit-total, ready)
	if len(ds) != want {
		var readyPos []mpos
		for p := range s.ev {
			if m.eligible(s, p) {
				readyPos = append(readyPos, p)
			}
		}
		rt.Fatalf("%s: Fetch(max %d) by %s returned %d events %v, the model has %d ready %v (held %d, in flight %d)",
			s.name, max, consumer, len(ds), ids(ds), ready, readyPos, held, total)
	}
	for _, d := range ds {
		p := mpos{d.Event.Partition, d.Event.Offset}
		md, ok := s.ev[p]
		if !ok {
			rt.Fatalf("delivered unknown position %v", p)
		}
		if md.state == mLeased {
			rt.Fatalf("%s: event at %v leased to %s while %s holds it", s.name, p, consumer, md.consumer)
		}
		if !m.eligible(s, p) {
			rt.Fatalf("%s (%s): event at %v (key %q) delivered out of order or too early", s.name, s.ordering, p, m.byPos[p].key)
		}
		if d.Event.Event.ID != m.byPos[p].id {
			rt.Fatalf("event at %v has id %s, want %s", p, d.Event.Event.ID, m.byPos[p].id)
		}
		if d.Attempt != md.attempts+1 {
			rt.Fatalf("event at %v: attempt %d, want %d", p, d.Attempt, md.attempts+1)
		}
		if !d.Deadline.Equal(m.now().Add(modelAckTimeout)) {
			rt.Fatalf("deadline %v, want %v", d.Deadline, m.now().Add(modelAckTimeout))
		}
		md.attempts++
		md.state = mLeased
		md.token = d.Token
		md.consumer = consumer
		md.deadline = d.Deadline
		md.notBefore = time.Time{}
		s.tokens = append(s.tokens, d.Token)
	}
	return ds
}

// pickLeased chooses a leased event of some subscription.
func (m *machine) pickLeased(rt *rapid.T) (*msub, mpos, *mdelivery) {
	s := m.pickSub(rt)
	var leased []mpos
	for p, d := range s.ev {
		if d.state == mLeased {
			leased = append(leased, p)
		}
	}
	if len(leased) == 0 {
		rt.Skip("nothing leased")
	}
	slices.SortFunc(leased, func(a, b mpos) int {
		if a.p != b.p {
			return a.p - b.p
		}
		return int(a.off - b.off)
	})
	p := leased[rapid.IntRange(0, len(leased)-1).Draw(rt, "leased")]
	return s, p, s.ev[p]
}

func (m *machine) ack(rt *rapid.T) {
	s, p, d := m.pickLeased(rt)
	if err := m.e.b.Ack(context.Background(), modelTopic, s.name, d.token); err != nil {
		rt.Fatalf("%s: Ack of %v: %v", s.name, p, err)
	}
	d.state = mAcked
}

func (m *machine) ackStale(rt *rapid.T) {
	s := m.pickSub(rt)
	var stale []string
	for _, tok := range s.tokens {
		valid := false
		for _, d := range s.ev {
			if d.state == mLeased && d.token == tok {
				valid = true
			}
		}
		if !valid {
			stale = append(stale, tok)
		}
	}
	if len(stale) == 0 {
		rt.Skip("no stale token")
	}
	tok := rapid.SampledFrom(stale).Draw(rt, "token")
	if err := m.e.b.Ack(context.Background(), modelTopic, s.name, tok); !errors.Is(err, ErrLeaseExpired) {
		rt.Fatalf("%s: Ack with stale token %s = %v, want ErrLeaseExpired", s.name, tok, err)
	}
}

func (m *machine) die(s *msub, d *mdelivery) {
	d.state = mDead
	s.deaths++
}

func (m *machine) nack(rt *rapid.T) {
	s, p, d := m.pickLeased(rt)
	delay := rapid.SampledFrom([]time.Duration{0, time.Second, 3 * time.Second}).Draw(rt, "delay")
	if err := m.e.b.Nack(context.Background(), modelTopic, s.name, d.token, delay, "boom"); err != nil {
		rt.Fatalf("%s: Nack of %v: %v", s.name, p, err)
	}
	if d.attempts >= s.maxDeliveries {
		m.die(s, d)
		return
	}
	if delay == 0 {
		delay = modelDelays[min(d.attempts, len(modelDelays))-1]
	}
	d.state = mPending
	d.notBefore = m.now().Add(delay)
}

func (m *machine) reject(rt *rapid.T) {
	s, p, d := m.pickLeased(rt)
	if err := m.e.b.Reject(context.Background(), modelTopic, s.name, d.token, "poison"); err != nil {
		rt.Fatalf("%s: Reject of %v: %v", s.name, p, err)
	}
	m.die(s, d)
}

func (m *machine) extend(rt *rapid.T) {
	s, p, d := m.pickLeased(rt)
	if err := m.e.b.Extend(context.Background(), modelTopic, s.name, d.token); err != nil {
		rt.Fatalf("%s: Extend of %v: %v", s.name, p, err)
	}
	d.deadline = m.now().Add(modelAckTimeout)
}

func (m *machine) advanceBy(d time.Duration) {
	m.e.clock.Advance(d)
	for _, s := range m.subs {
		for _, md := range s.ev {
			if md.state == mLeased && !md.deadline.After(m.now()) {
				if md.attempts >= s.maxDeliveries {
					m.die(s, md)
				} else {
					md.state = mPending
				}
			}
		}
	}
}

func (m *machine) advance(rt *rapid.T) {
	m.advanceBy(rapid.SampledFrom([]time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second,
		5 * time.Second, 11 * time.Second, 3 * time.Minute}).Draw(rt, "by"))
}

func (m *machine) restart(rt *rapid.T) {
	m.e.restart()
	m.checkLog(rt)
}

// crash restarts without the snapshots a clean Close writes: the state
// must come back from the journals alone. (The logs use SyncNone, so this is
// a process crash: everything written reached the OS.)
func (m *machine) crash(rt *rapid.T) {
	m.e.b.skipSnapshots = true
	m.e.restart()
	m.checkLog(rt)
}

func (m *machine) redrive(rt *rapid.T) {
	s := m.pickSub(rt)
	n, err := m.e.b.Redrive(context.Background(), modelTopic, s.name, nil)
	if err != nil {
		rt.Fatalf("Redrive: %v", err)
	}
	dead := 0
	for _, d := range s.ev {
		if d.state == mDead {
			dead++
			*d = mdelivery{}
		}
	}
	if n != dead {
		rt.Fatalf("%s: Redrive gave back %d events, the model has %d dead", s.name, n, dead)
	}
}

// check runs after every step.
func (m *machine) check(rt *rapid.T) {
	for _, s := range m.subs {
		st, err := m.e.b.Stats(modelTopic, s.name)
		if err != nil {
			rt.Fatalf("Stats: %v", err)
		}
		_, inFlight := m.leasedBy(s, "")
		lag := 0
		for _, d := range s.ev {
			if d.state == mPending && d.attempts == 0 {
				lag++
			}
		}
		if st.InFlight != inFlight || st.Lag != int64(lag) {
			rt.Fatalf("%s: stats in flight %d, lag %d; the model has %d, %d", s.name, st.InFlight, st.Lag, inFlight, lag)
		}
	}
}

// checkLog reads every partition: exactly the published events, in order.
func (m *machine) checkLog(rt *rapid.T) {
	for p := range m.parts {
		got, err := m.e.b.Read(context.Background(), modelTopic, p, 0, 1<<20)
		if err != nil {
			rt.Fatalf("Read: %v", err)
		}
		if int64(len(got)) != m.next[p] {
			rt.Fatalf("partition %d holds %d events, %d were published", p, len(got), m.next[p])
		}
		for _, g := range got {
			if want := m.byPos[mpos{p, g.Offset}]; want == nil || want.id != g.Event.ID {
				rt.Fatalf("partition %d offset %d holds %s, want %v", p, g.Offset, g.Event.ID, want)
			}
		}
	}
}

// drain lets time pass and acks everything delivered until every event is
// settled.
func (m *machine) drain(rt *rapid.T) {
	for range 200 {
		m.advanceBy(5 * time.Minute)
		done := true
		for _, s := range m.subs {
			for {
				ds := m.fetchAndCheck(rt, s, "drain", 100)
				if len(ds) == 0 {
					break
				}
				for _, d := range ds {
					if err := m.e.b.Ack(context.Background(), modelTopic, s.name, d.Token); err != nil {
						rt.Fatalf("drain Ack: %v", err)
					}
					s.ev[mpos{d.Event.Partition, d.Event.Offset}].state = mAcked
				}
			}
			for _, d := range s.ev {
				if unsettled(d) {
					done = false
				}
			}
		}
		if done {
			return
		}
	}
	rt.Fatalf("events still unsettled after draining")
}

func (m *machine) final(rt *rapid.T) {
	m.checkLog(rt)
	for _, s := range m.subs {
		dls, err := m.e.b.DeadLetters(context.Background(), modelTopic, s.name, 0, 1<<20)
		if err != nil {
			rt.Fatalf("DeadLetters: %v", err)
		}
		if len(dls) != s.deaths {
			rt.Fatalf("%s: %d dead letters, the model has %d deaths", s.name, len(dls), s.deaths)
		}
		live := map[mpos]bool{}
		for _, dl := range dls {
			p := mpos{dl.Partition, dl.Offset}
			if dl.Redriven {
				continue
			}
			if live[p] {
				rt.Fatalf("%s: event at %v dead-lettered twice", s.name, p)
			}
			live[p] = true
			if dl.Event.ID != m.byPos[p].id || dl.Topic != modelTopic || dl.Subscription != s.name || dl.Attempts < 1 {
				rt.Fatalf("%s: dead letter %+v does not describe event %+v", s.name, dl, m.byPos[p])
			}
		}
		for p, d := range s.ev {
			if d.state != mAcked && d.state != mDead {
				rt.Fatalf("%s: event at %v neither acked nor dead-lettered", s.name, p)
			}
			if (d.state == mDead) != live[p] {
				rt.Fatalf("%s: event at %v: model dead=%v, unredriven dead letter=%v", s.name, p, d.state == mDead, live[p])
			}
		}
		st, err := m.e.b.Stats(modelTopic, s.name)
		if err != nil {
			rt.Fatal(err)
		}
		if st.DeadLettered != int64(s.deaths) || st.Pending != 0 || st.InFlight != 0 || st.AwaitingDeadLetter != 0 {
			rt.Fatalf("%s: final stats %+v, want %d dead-lettered and nothing pending", s.name, st, s.deaths)
		}
	}
}
