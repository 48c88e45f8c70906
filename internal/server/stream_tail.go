package server

import (
	"context"
	"fmt"
	"sync"

	"github.com/heraldhq/herald/internal/broker"
	"github.com/heraldhq/herald/internal/wire"
)

// TAIL on the streaming protocol (wire/tail.go): a connection opens tails
// of topics and reads them with long polls. Each tail is a broker.Stream
// (the one the SSE tail uses) kept between requests, with its position in
// every partition and the events it holds back until their deliverat. The
// connection owns its tails: one ends with a TAIL of max 0 or with the
// connection. A Stream owns no goroutine, so dropping it is enough.
//
// A waiting TAIL is a long poll like FETCH: it counts against the
// connection's request budget while it waits, a CANCEL with its id ends
// the wait, and at shutdown it is answered with CodeClosed.

const (
	// streamMaxTails bounds the tails open on one connection.
	streamMaxTails = 64
	// tailReplyBytes: a TAIL stops gathering events once they hold about
	// this much data, so one reply stays a few frames long.
	tailReplyBytes = 4 << 20
)

// tailStreams are the tails open on one connection, by the client's
// number. The zero value is ready to use.
type tailStreams struct {
	mu   sync.Mutex
	open map[uint64]*openTail
}

// openTail is one tail. Its mutex lets one TAIL at a time read it: a
// broker.Stream is not safe for concurrent use.
type openTail struct {
	mu     sync.Mutex
	stream *broker.Stream // of one partition when asked (TailPartition)
}

// tail answers a TAIL: it opens the tail first if asked, then waits for
// events as fetch does. The wait ends with the request's wait, a CANCEL,
// the client leaving or the server shutting down; only the last is an
// error (CodeClosed), the others answer with what is ready, maybe nothing.
func (sc *streamConn) tail(w *waitingFetch, id uint64, payload []byte) ([]byte, error) {
	defer func() {
		w.cancel()
		sc.mu.Lock()
		if sc.fetches[id] == w {
			delete(sc.fetches, id)
		}
		sc.mu.Unlock()
	}()
	var req wire.Tail
	if err := req.Decode(payload); err != nil {
		return nil, err
	}
	switch {
	case req.Max < 0:
		return nil, &broker.FieldError{Field: "max", Reason: fmt.Sprintf("%d: must be at least 1 (0 closes the tail)", req.Max)}
	case req.Max == 0:
		sc.tails.close(req.Stream)
		return wire.AppendEventFrames(nil, id, nil)
	}
	ot, err := sc.tails.get(sc.work, sc.b, &req)
	if err != nil {
		return nil, err
	}
	ctx, done := sc.longPoll(w, req.Wait)
	defer done()
	events, err := ot.read(ctx, req.Max)
	if err := sc.pollError(ctx, err, "the tail ended; open a new one from the last position you saw"); err != nil {
		return nil, err
	}
	return wire.AppendEventFrames(nil, id, events)
}

// get returns the tail the request reads, opening it when the request
// says so.
func (ts *tailStreams) get(ctx context.Context, b *broker.Broker, req *wire.Tail) (*openTail, error) {
	if req.Open == nil {
		ts.mu.Lock()
		ot := ts.open[req.Stream]
		ts.mu.Unlock()
		if ot == nil {
			return nil, &broker.FieldError{Field: "stream", Reason: fmt.Sprintf(
				"%d: no tail of that number is open on this connection (a tail lives on the connection that opened it)", req.Stream)}
		}
		return ot, nil
	}
	o := req.Open
	var st *broker.Stream
	var err error
	if o.Partition >= 0 {
		st, err = b.TailPartition(ctx, o.Topic, int(o.Partition), o.Start, o.Filter)
	} else {
		st, err = b.Tail(ctx, o.Topic, o.Start, o.Filter)
	}
	if err != nil {
		return nil, err
	}
	ts.mu.Lock()
	defer ts.mu.Unlock()
	var refuse string
	switch {
	case ts.open[req.Stream] != nil:
		refuse = "a tail of that number is already open on this connection"
	case len(ts.open) >= streamMaxTails:
		refuse = fmt.Sprintf("the connection has %d tails open, the most it may: close one first", streamMaxTails)
	}
	if refuse != "" {
		st.Close()
		return nil, &broker.FieldError{Field: "stream", Reason: fmt.Sprintf("%d: %s", req.Stream, refuse)}
	}
	if ts.open == nil {
		ts.open = map[uint64]*openTail{}
	}
	ot := &openTail{stream: st}
	ts.open[req.Stream] = ot
	return ot, nil
}

// close ends a tail; closing one that is not open does nothing.
func (ts *tailStreams) close(n uint64) {
	ts.mu.Lock()
	ot := ts.open[n]
	delete(ts.open, n)
	ts.mu.Unlock()
	if ot != nil {
		ot.stream.Close()
	}
}

// read gathers up to max events of the tail: it waits for the
// first until ctx ends, then takes only what is ready. An error after some
// events were gathered is left for the next read.
func (ot *openTail) read(ctx context.Context, max int) ([]broker.StoredEvent, error) {
	ot.mu.Lock()
	defer ot.mu.Unlock()
	ready, cancel := context.WithCancel(context.Background())
	cancel() // Next with a done context answers with what is ready
	var out []broker.StoredEvent
	size := 0
	for len(out) < max && size < tailReplyBytes {
		wait := ctx
		if len(out) > 0 {
			wait = ready
		}
		ev, err := ot.stream.Next(wait)
		if err != nil {
			if len(out) > 0 {
				return out, nil
			}
			return nil, err
		}
		out = append(out, ev)
		size += len(ev.Event.Data) + 64
	}
	return out, nil
}
