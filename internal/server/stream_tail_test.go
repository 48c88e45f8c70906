package server

import (
	"fmt"
	"testing"
	"time"

	"github.com/heraldhq/herald/cloudevent"
	"github.com/heraldhq/herald/internal/broker"
	"github.com/heraldhq/herald/internal/wire"
)

// tailSetup creates topic t with two partitions and publishes events
// "a" and "b" to partition 0, then "c" to partition 1 (keyless events of
// one publish share a partition, round-robin per publish).
func (r *rawStream) tailSetup(t *testing.T) {
	t.Helper()
	r.send(t, wire.TypeCall, 1, callFrame(t, wire.MethodCreateTopic, wire.TopicArgs{Name: "t", Config: broker.TopicConfig{Partitions: 2}}))
	if f := r.next(t); f.Type != wire.TypeResult {
		t.Fatalf("create topic: %v", f.Type)
	}
	r.publish(t, 2, "a", "b")
	r.publish(t, 3, "c")
}

// publish stores events with the given ids in topic t and waits for the
// answer.
func (r *rawStream) publish(t *testing.T, id uint64, ids ...string) {
	t.Helper()
	var evs []cloudevent.Event
	for _, i := range ids {
		evs = append(evs, cloudevent.Event{ID: i, Source: "s", SpecVersion: "1.0", Type: "T" + i})
	}
	p, err := wire.AppendPublish(nil, &wire.Publish{Topic: "t", Events: evs})
	if err != nil {
		t.Fatal(err)
	}
	r.send(t, wire.TypePublish, id, p)
	if f := r.next(t); f.Type != wire.TypePublished || f.ID != id {
		t.Fatalf("publish answered %v id %d", f.Type, f.ID)
	}
}

// tail sends a TAIL and returns the ids and positions of the events it is
// answered with, as "id@partition/offset".
func (r *rawStream) tail(t *testing.T, id uint64, req *wire.Tail) []string {
	t.Helper()
	r.send(t, wire.TypeTail, id, wire.AppendTail(nil, req))
	return r.events(t, id)
}

// events reads the EVENTS reply to id.
func (r *rawStream) events(t *testing.T, id uint64) []string {
	t.Helper()
	var got []string
	for {
		f := r.next(t)
		if f.Type&^wire.Continued != wire.TypeEvents || f.ID != id {
			e, _ := wire.DecodeError(f.Payload)
			t.Fatalf("got %v id %d (%v), want EVENTS id %d", f.Type, f.ID, e, id)
		}
		evs, err := wire.DecodeEvents(f.Payload, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range evs {
			got = append(got, fmt.Sprintf("%s@%d/%d", e.Event.ID, e.Partition, e.Offset))
		}
		if f.Type&wire.Continued == 0 {
			return got
		}
	}
}

func earliest(partition int) *wire.TailOpen {
	return &wire.TailOpen{Topic: "t", Start: broker.StartPosition{Kind: broker.StartEarliest}, Partition: partition}
}

func TestStreamTailReadsFollowsAndCloses(t *testing.T) {
	rs := startStreamServer(t)
	r := openStream(t, rs.addr)
	r.tailSetup(t)

	// Opening polls: what is stored comes at once, in partition order.
	got := r.tail(t, 10, &wire.Tail{Stream: 1, Max: 100, Wait: -1, Open: earliest(-1)})
	if fmt.Sprint(got) != "[a@0/0 b@0/1 c@1/0]" {
		t.Fatalf("opening poll answered %v", got)
	}
	// max bounds a reply; one partition only.
	if got := r.tail(t, 11, &wire.Tail{Stream: 2, Max: 1, Wait: -1, Open: earliest(0)}); fmt.Sprint(got) != "[a@0/0]" {
		t.Fatalf("max 1 answered %v", got)
	}
	if got := r.tail(t, 12, &wire.Tail{Stream: 2, Max: 5, Wait: -1}); fmt.Sprint(got) != "[b@0/1]" {
		t.Fatalf("the next read answered %v", got)
	}
	// A long poll waits for the next event; a publish on the same
	// connection ends it. The two answers come in either order.
	r.send(t, wire.TypeTail, 13, wire.AppendTail(nil, &wire.Tail{Stream: 1, Max: 100}))
	p, err := wire.AppendPublish(nil, &wire.Publish{Topic: "t", Events: []cloudevent.Event{{ID: "d", Source: "s", SpecVersion: "1.0", Type: "T"}}})
	if err != nil {
		t.Fatal(err)
	}
	r.send(t, wire.TypePublish, 14, p)
	answers := map[uint64]wire.Frame{}
	for len(answers) < 2 {
		f := r.next(t)
		answers[f.ID] = f
	}
	evs, err := wire.DecodeEvents(answers[13].Payload, nil)
	if answers[14].Type != wire.TypePublished || answers[13].Type != wire.TypeEvents || err != nil || len(evs) != 1 || evs[0].Event.ID != "d" {
		t.Fatalf("publish answered %v; the long poll answered %v with %d events (%v), want d", answers[14].Type, answers[13].Type, len(evs), err)
	}
	// CANCEL ends a wait with nothing.
	r.send(t, wire.TypeTail, 15, wire.AppendTail(nil, &wire.Tail{Stream: 1, Max: 100}))
	r.send(t, wire.TypeCancel, 15, nil)
	if got := r.events(t, 15); len(got) != 0 {
		t.Fatalf("a cancelled wait answered %v", got)
	}
	// Closing answers at once; the tail is gone; closing again is fine.
	for _, id := range []uint64{16, 17} {
		if got := r.tail(t, id, &wire.Tail{Stream: 1, Max: 0}); len(got) != 0 {
			t.Fatalf("close answered %v", got)
		}
	}
	r.send(t, wire.TypeTail, 18, wire.AppendTail(nil, &wire.Tail{Stream: 1, Max: 1, Wait: -1}))
	r.expectError(t, 18, wire.CodeInvalid)
}

func TestStreamTailRefusals(t *testing.T) {
	rs := startStreamServer(t)
	r := openStream(t, rs.addr)
	r.tailSetup(t)
	r.tail(t, 10, &wire.Tail{Stream: 1, Max: 1, Wait: -1, Open: earliest(-1)})
	tests := []struct {
		name string
		req  wire.Tail
		code wire.Code
	}{
		{"read a tail never opened", wire.Tail{Stream: 99, Max: 1, Wait: -1}, wire.CodeInvalid},
		{"open a number already open", wire.Tail{Stream: 1, Max: 1, Wait: -1, Open: earliest(-1)}, wire.CodeInvalid},
		{"negative max", wire.Tail{Stream: 1, Max: -1, Wait: -1}, wire.CodeInvalid},
		{"missing topic", wire.Tail{Stream: 2, Max: 1, Wait: -1, Open: &wire.TailOpen{Topic: "nope", Partition: -1}}, wire.CodeTopicNotFound},
		{"unknown start kind", wire.Tail{Stream: 2, Max: 1, Wait: -1,
			Open: &wire.TailOpen{Topic: "t", Start: broker.StartPosition{Kind: "someday"}, Partition: -1}}, wire.CodeInvalid},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := uint64(20 + i)
			r.send(t, wire.TypeTail, id, wire.AppendTail(nil, &tt.req))
			r.expectError(t, id, tt.code)
		})
	}
	t.Run("at most streamMaxTails open", func(t *testing.T) {
		for n := range streamMaxTails - 1 {
			r.tail(t, uint64(100+n), &wire.Tail{Stream: uint64(100 + n), Max: 1, Wait: -1, Open: earliest(-1)})
		}
		r.send(t, wire.TypeTail, 99, wire.AppendTail(nil, &wire.Tail{Stream: 99, Max: 1, Wait: -1, Open: earliest(-1)}))
		r.expectError(t, 99, wire.CodeInvalid)
	})
}

func TestStreamTailShutdownAnswersAWaitingTail(t *testing.T) {
	rs := startStreamServer(t)
	r := openStream(t, rs.addr)
	r.tailSetup(t)
	open := &wire.TailOpen{Topic: "t", Start: broker.StartPosition{Kind: broker.StartLatest}, Partition: -1}
	r.send(t, wire.TypeTail, 10, wire.AppendTail(nil, &wire.Tail{Stream: 1, Max: 1, Open: open}))
	// Answered only once the tail is being served (requests run
	// concurrently, but this one is read after the TAIL).
	r.send(t, wire.TypeCall, 11, callFrame(t, wire.MethodTopic, wire.TopicArgs{Name: "t"}))
	if f := r.next(t); f.ID != 11 {
		t.Fatalf("got id %d, want the answer to 11", f.ID)
	}
	stopped := make(chan struct{})
	go func() {
		rs.stop(t)
		close(stopped)
	}()
	r.expectError(t, 10, wire.CodeClosed)
	r.expectError(t, 0, wire.CodeClosed)
	r.conn.Close() // the server lingers until the client closes its side
	select {
	case <-stopped:
	case <-time.After(streamWait):
		t.Fatal("Run did not return after the stream ended")
	}
}
