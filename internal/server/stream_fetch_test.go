package server

import (
	"fmt"
	"io"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/heraldhq/herald/cloudevent"
	"github.com/heraldhq/herald/internal/broker"
	"github.com/heraldhq/herald/internal/wire"
)

// frames reads frames until every id in ids has been answered, and
// returns them by id. Answers to other ids fail the test.
func (r *rawStream) frames(t *testing.T, ids ...uint64) map[uint64]wire.Frame {
	t.Helper()
	want := map[uint64]bool{}
	for _, id := range ids {
		want[id] = true
	}
	got := map[uint64]wire.Frame{}
	for len(got) < len(ids) {
		f := r.next(t)
		if !want[f.ID] {
			t.Fatalf("got %v id %d, want answers to %v", f.Type, f.ID, ids)
		}
		got[f.ID] = f
	}
	return got
}

// deliveries decodes a DELIVERIES frame.
func deliveries(t *testing.T, f wire.Frame) []broker.Delivery {
	t.Helper()
	ds, err := wire.DecodeDeliveries(f.Payload, nil)
	if f.Type != wire.TypeDeliveries || err != nil {
		t.Fatalf("got %v id %d (%v), want DELIVERIES", f.Type, f.ID, err)
	}
	return ds
}

// publishFrame is a PUBLISH of n events to topic t with ids from first on.
func publishFrame(t *testing.T, id uint64, first, n int) []byte {
	t.Helper()
	evs := make([]cloudevent.Event, n)
	for i := range evs {
		evs[i] = cloudevent.Event{ID: fmt.Sprint(first + i), Source: "s", SpecVersion: "1.0", Type: "t"}
	}
	pub, err := wire.AppendPublish(nil, &wire.Publish{Topic: "t", Events: evs})
	if err != nil {
		t.Fatal(err)
	}
	return wire.AppendFrame(nil, wire.TypePublish, id, pub)
}

func fetchFrame(id uint64, consumer string, max int, wait time.Duration) []byte {
	return wire.AppendFrame(nil, wire.TypeFetch, id, wire.AppendFetch(nil,
		&wire.Fetch{Topic: "t", Sub: "s", Consumer: consumer, Max: max, Wait: wait}))
}

// A client may keep several FETCH requests of one subscription consumer in
// flight (the SDK's subscriber keeps two): the server lets each take its
// events only after the one sent before it, so the replies, read in the
// order sent, hold a partition's events in log order.
func TestStreamPipelinedFetchesTakeEventsInTheOrderSent(t *testing.T) {
	t.Run("a backlog is split in send order", func(t *testing.T) {
		rs := startStreamServer(t)
		r := openStream(t, rs.addr)
		r.setup(t)
		r.write(t, publishFrame(t, 3, 0, 200))
		r.frames(t, 3)
		const fetches = 40
		var burst []byte
		ids := make([]uint64, fetches)
		for i := range ids {
			ids[i] = uint64(10 + i)
			burst = append(burst, fetchFrame(ids[i], "c", 5, 0)...)
		}
		r.write(t, burst)
		got := r.frames(t, ids...)
		last := map[int]int64{}
		total := 0
		for _, id := range ids {
			for _, d := range deliveries(t, got[id]) {
				p, o := d.Event.Partition, d.Event.Offset
				if prev, ok := last[p]; ok && o <= prev {
					t.Fatalf("fetch %d got partition %d offset %d after offset %d in an earlier fetch", id, p, o, prev)
				}
				last[p] = o
				total++
			}
		}
		if total != 200 {
			t.Fatalf("%d events delivered, want 200", total)
		}
	})
	t.Run("waiting fetches are served in send order", func(t *testing.T) {
		rs := startStreamServer(t)
		r := openStream(t, rs.addr)
		r.setup(t)
		// Two long polls, then a call: its answer says both were read.
		r.write(t, append(fetchFrame(10, "c", 1, streamWait), fetchFrame(11, "c", 1, streamWait)...))
		r.send(t, wire.TypeCall, 12, callFrame(t, wire.MethodTopic, wire.TopicArgs{Name: "t"}))
		r.frames(t, 12)
		r.write(t, publishFrame(t, 13, 0, 1))
		got := r.frames(t, 13, 10)
		if ds := deliveries(t, got[10]); len(ds) != 1 || ds[0].Event.Event.ID != "0" {
			t.Fatalf("the first fetch got %d deliveries, want event 0", len(ds))
		}
		r.write(t, publishFrame(t, 14, 1, 1))
		got = r.frames(t, 14, 11)
		if ds := deliveries(t, got[11]); len(ds) != 1 || ds[0].Event.Event.ID != "1" {
			t.Fatalf("the second fetch got %d deliveries, want event 1", len(ds))
		}
	})
	t.Run("a fetch whose wait ends first keeps the next behind the one before", func(t *testing.T) {
		rs := startStreamServer(t)
		r := openStream(t, rs.addr)
		r.setup(t)
		var burst []byte
		burst = append(burst, fetchFrame(10, "c", 1, streamWait)...)
		burst = append(burst, fetchFrame(11, "c", 1, 20*time.Millisecond)...)
		burst = append(burst, fetchFrame(12, "c", 1, streamWait)...)
		r.write(t, burst)
		if ds := deliveries(t, r.frames(t, 11)[11]); len(ds) != 0 {
			t.Fatalf("the short wait got %d deliveries before any event was published", len(ds))
		}
		r.write(t, publishFrame(t, 13, 0, 1))
		got := r.frames(t, 13, 10)
		if ds := deliveries(t, got[10]); len(ds) != 1 {
			t.Fatalf("the first fetch got %d deliveries, want the event", len(ds))
		}
		r.write(t, publishFrame(t, 14, 1, 1))
		if ds := deliveries(t, r.frames(t, 14, 12)[12]); len(ds) != 1 || ds[0].Event.Event.ID != "1" {
			t.Fatalf("the third fetch got %d deliveries, want event 1", len(ds))
		}
	})
	t.Run("other consumers do not wait", func(t *testing.T) {
		rs := startStreamServer(t)
		r := openStream(t, rs.addr)
		r.setup(t)
		// c's long poll holds c's line; d's poll is answered at once.
		r.write(t, append(fetchFrame(10, "c", 1, streamWait), fetchFrame(11, "d", 1, -1)...))
		if ds := deliveries(t, r.frames(t, 11)[11]); len(ds) != 0 {
			t.Fatalf("d's poll got %d deliveries", len(ds))
		}
		r.send(t, wire.TypeCancel, 10, nil)
		r.frames(t, 10)
	})
}

func (r *rawStream) write(t *testing.T, frames []byte) {
	t.Helper()
	if _, err := r.conn.Write(frames); err != nil {
		t.Fatal(err)
	}
}

// requestGoroutines counts the goroutines in runRequests: requests being
// handled and spares parked for the next.
func requestGoroutines() int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return strings.Count(string(buf[:n]), "server.(*streamConn).runRequests(")
		}
		buf = make([]byte, 2*len(buf))
	}
}

// waitForRequestGoroutines waits until requestGoroutines is want, or at
// least want with atLeast.
func waitForRequestGoroutines(t *testing.T, want int, atLeast bool, what string) {
	t.Helper()
	deadline := time.Now().Add(streamWait)
	for got := requestGoroutines(); got != want && !(atLeast && got > want); got = requestGoroutines() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d request goroutines, want %d", what, got, want)
		}
		runtime.Gosched()
	}
}

// A connection keeps at most maxSpareRequests request goroutines parked
// for its next frames, reuses them, and ends them when it closes.
func TestSpareRequestGoroutines(t *testing.T) {
	rs := startStreamServer(t)
	waitForRequestGoroutines(t, 0, false, "before the connection") // other tests' connections are gone
	r := openStream(t, rs.addr)
	r.setup(t)
	const polls = 3 * maxSpareRequests
	var frames []byte
	ids := make([]uint64, polls)
	for i := range polls {
		ids[i] = uint64(100 + i)
		frames = append(frames, fetchFrame(ids[i], fmt.Sprintf("c%d", i), 1, streamWait)...)
	}
	r.write(t, frames)
	// Spares from setup may still be on their way to parking, so a poll
	// may have found none: at least one goroutine per poll.
	waitForRequestGoroutines(t, polls, true, "while every long poll waits")
	for _, id := range ids {
		r.send(t, wire.TypeCancel, id, nil)
	}
	r.frames(t, ids...)
	waitForRequestGoroutines(t, maxSpareRequests, false, "after the polls ended")
	for i := range 3 * maxSpareRequests {
		r.send(t, wire.TypeCall, uint64(1000+i), callFrame(t, wire.MethodCreateTopic, wire.TopicArgs{Name: "t"}))
		r.next(t)
	}
	if got := requestGoroutines(); got != maxSpareRequests {
		t.Fatalf("after one request at a time: %d request goroutines, want the %d spares reused", got, maxSpareRequests)
	}
	r.conn.Close()
	waitForRequestGoroutines(t, 0, false, "after the connection closed")
}

// A FETCH reply is built in buffers the server reuses (deliveryPool,
// framePool): a consumer taking a few hundred thousand events a second
// otherwise has the server allocate, zero and sweep a slice of deliveries
// and a frame for every fetch. Reusing them saves at least the slice of
// deliveries per fetch, with replies small enough to be written at once
// and large enough to go through the writer.
func TestFetchRepliesReuseTheirBuffers(t *testing.T) {
	for _, tc := range []struct {
		name string
		data int
	}{{"written at once", 16}, {"written by the writer", 1024}} {
		t.Run(tc.name, func(t *testing.T) {
			pooled, frame := allocatedPerFetch(t, tc.data, true)
			unpooled, _ := allocatedPerFetch(t, tc.data, false)
			slice := fetchedPerRound * int(unsafe.Sizeof(broker.Delivery{}))
			t.Logf("per fetch: %d bytes allocated reusing the buffers, %d without; deliveries %d bytes, frame %d",
				pooled, unpooled, slice, frame)
			if unpooled-pooled < slice {
				t.Fatalf("reusing the reply buffers saved %d bytes per fetch of %d, less than its deliveries' %d",
					unpooled-pooled, fetchedPerRound, slice)
			}
		})
	}
}

const fetchedPerRound = 100

// allocatedPerFetch runs a server in this process, fetches
// fetchedPerRound events of data bytes each at a time, and returns the
// least the process allocated for one fetch, with the reply buffers
// reused or not, and the size of a reply.
func allocatedPerFetch(t *testing.T, data int, reuse bool) (perFetch, frame int) {
	t.Helper()
	dropReplyBuffers.Store(!reuse)
	t.Cleanup(func() { dropReplyBuffers.Store(false) })
	rs := startStreamServer(t)
	r := openStream(t, rs.addr)
	r.setup(t)
	const rounds, warm = 10, 2 // 1,000 leases: the subscription's default limit
	evs := make([]cloudevent.Event, rounds*fetchedPerRound)
	for i := range evs {
		evs[i] = cloudevent.Event{ID: fmt.Sprint(i), Source: "s", SpecVersion: "1.0", Type: "t",
			Data: []byte(strings.Repeat("x", data))}
	}
	pub, err := wire.AppendPublish(nil, &wire.Publish{Topic: "t", Events: evs})
	if err != nil {
		t.Fatal(err)
	}
	r.write(t, wire.AppendFrame(nil, wire.TypePublish, 3, pub))
	r.frames(t, 3)

	buf := make([]byte, 1<<20) // replies are read without allocating
	fetch := func(id uint64) int {
		r.write(t, fetchFrame(id, "c", fetchedPerRound, -1))
		r.conn.SetReadDeadline(time.Now().Add(streamWait))
		h, err := wire.ReadHeader(r.rd, buf)
		if err != nil || h.Type != wire.TypeDeliveries || h.ID != id {
			t.Fatalf("fetch %d answered %v id %d (%v), want DELIVERIES", id, h.Type, h.ID, err)
		}
		if _, err := io.ReadFull(r.rd, buf[:h.Len]); err != nil {
			t.Fatal(err)
		}
		if n := wire.CountDeliveries(buf[:h.Len]); n != fetchedPerRound {
			t.Fatalf("fetch %d got %d deliveries, want %d", id, n, fetchedPerRound)
		}
		return h.Len
	}
	// The least over the rounds: the window's reads ahead (the filler)
	// and journal compactions allocate in some rounds and not others, and
	// a sync.Pool may miss now and then (a buffer put back on one P is not
	// always found from another).
	var per []int
	for i := range rounds {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		frame = fetch(uint64(10 + i))
		runtime.ReadMemStats(&after)
		if i >= warm {
			per = append(per, int(after.TotalAlloc-before.TotalAlloc))
		}
	}
	return slices.Min(per), frame
}

// A FETCH that finds events ready is answered by the connection's reader
// (fetchNow) without a hand-off to a request goroutine; one that must
// wait is handed off, and long-polls there.
// countDispatched counts the frames of type typ that the server's readers
// hand to request goroutines until the test ends.
func countDispatched(t *testing.T, typ wire.Type) *atomic.Int32 {
	t.Helper()
	var n atomic.Int32
	count := func(h wire.Header) {
		if h.Type == typ {
			n.Add(1)
		}
	}
	dispatchHook.Store(&count)
	t.Cleanup(func() { dispatchHook.Store(nil) })
	return &n
}

func TestAReadyFetchIsAnsweredByTheReader(t *testing.T) {
	fetches := countDispatched(t, wire.TypeFetch)
	rs := startStreamServer(t)
	r := openStream(t, rs.addr)
	r.setup(t)
	r.write(t, publishFrame(t, 3, 0, 10))
	r.frames(t, 3)
	for i := range 2 {
		id := uint64(10 + i)
		r.write(t, fetchFrame(id, "c", 5, streamWait))
		if ds := deliveries(t, r.frames(t, id)[id]); len(ds) != 5 {
			t.Fatalf("fetch %d got %d deliveries, want 5", id, len(ds))
		}
	}
	if n := fetches.Load(); n != 0 {
		t.Fatalf("%d of the fetches that found events ready went to a request goroutine, want none", n)
	}
	r.write(t, fetchFrame(12, "c", 5, streamWait))
	r.send(t, wire.TypeCall, 13, callFrame(t, wire.MethodTopic, wire.TopicArgs{Name: "t"}))
	r.frames(t, 13) // the long poll was read before the call
	if n := fetches.Load(); n != 1 {
		t.Fatalf("%d fetches went to a request goroutine, want the one that waits", n)
	}
	r.write(t, publishFrame(t, 14, 10, 1))
	got := r.frames(t, 14, 12)
	if ds := deliveries(t, got[12]); len(ds) != 1 || ds[0].Event.Event.ID != "10" {
		t.Fatalf("the long poll got %d deliveries, want event 10", len(ds))
	}
}

// A PUBLISH on a connection with nothing else in progress is stored and
// answered by the reader itself (publishNow), small or large; one sent
// while a long poll waits on a request goroutine is handed off.
func TestAPublishOnAnIdleConnectionIsStoredByTheReader(t *testing.T) {
	publishes := countDispatched(t, wire.TypePublish)
	rs := startStreamServer(t)
	r := openStream(t, rs.addr)
	r.setup(t)
	for i := range 3 {
		id := uint64(10 + i)
		r.write(t, publishFrame(t, id, i, 1))
		if f := r.frames(t, id)[id]; f.Type != wire.TypePublished {
			t.Fatalf("publish %d answered %v", id, f.Type)
		}
	}
	if n := publishes.Load(); n != 0 {
		t.Fatalf("%d of the one-event publishes went to a request goroutine, want none", n)
	}
	r.write(t, publishFrame(t, 13, 3, 300)) // over publishNowMax
	r.frames(t, 13)
	if n := publishes.Load(); n != 0 {
		t.Fatalf("%d publishes went to a request goroutine, want none (the large one too)", n)
	}
	r.write(t, fetchFrame(14, "c", 1000, streamWait))
	if ds := deliveries(t, r.frames(t, 14)[14]); len(ds) != 303 {
		t.Fatalf("fetched %d events, want 303", len(ds))
	}
	r.write(t, fetchFrame(15, "c", 5, streamWait))
	r.send(t, wire.TypeCall, 16, callFrame(t, wire.MethodTopic, wire.TopicArgs{Name: "t"}))
	r.frames(t, 16) // the long poll was read before the call
	r.write(t, publishFrame(t, 17, 303, 1))
	got := r.frames(t, 17, 15)
	if n := publishes.Load(); n != 1 {
		t.Fatalf("%d publishes went to a request goroutine, want the one sent during the long poll", n)
	}
	if ds := deliveries(t, got[15]); len(ds) != 1 || ds[0].Event.Event.ID != "303" {
		t.Fatalf("the long poll got %d deliveries, want event 303", len(ds))
	}
}

// A client that sends a frame before its PUBLISH is answered pipelines:
// from then on its large publishes go to request goroutines, even on an
// idle connection, so that a frame never waits for a large one's storing
// to be read.
// The reader sees the early frame in its buffer (frames written together)
// or, after a large frame, waiting on the socket.
func TestAPipeliningClientsPublishesAreHandedOff(t *testing.T) {
	for _, tt := range []struct {
		name string
		send func(t *testing.T, r *rawStream)
	}{
		{"frames written together", func(t *testing.T, r *rawStream) {
			r.write(t, append(publishFrame(t, 10, 0, 1), publishFrame(t, 11, 1, 1)...))
			r.frames(t, 10, 11)
		}},
		{"a frame sent while a large one is stored", func(t *testing.T, r *rawStream) {
			var once sync.Once
			hook := func(sc *streamConn) {
				once.Do(func() { // on the server's reader: no t.Fatal here
					if _, err := r.conn.Write(publishFrame(t, 11, 300, 1)); err != nil {
						t.Error(err)
						return
					}
					deadline := time.Now().Add(streamWait)
					for !sc.waiting() {
						if time.Now().After(deadline) {
							t.Error("the frame sent during the publish never reached the server")
							return
						}
						runtime.Gosched()
					}
				})
			}
			publishHook.Store(&hook)
			defer publishHook.Store(nil)
			r.write(t, publishFrame(t, 10, 0, 300)) // over publishNowMax
			r.frames(t, 10, 11)
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			publishes := countDispatched(t, wire.TypePublish)
			rs := startStreamServer(t)
			r := openStream(t, rs.addr)
			r.setup(t)
			tt.send(t, r)
			before := publishes.Load()
			r.write(t, publishFrame(t, 12, 301, 300)) // alone, on an idle connection
			r.frames(t, 12)
			if publishes.Load() != before+1 {
				t.Fatal("a pipelining client's large publish on an idle connection was stored by the reader")
			}
		})
	}
}
