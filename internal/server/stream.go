package server

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"

	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/heraldhq/herald/internal/broker"
	"github.com/heraldhq/herald/internal/wire"
)

// The streaming protocol (internal/wire, herald-stream/1) on the HTTP
// listener: GET /v1/stream with "Connection: Upgrade" and "Upgrade:
// herald-stream/1" is answered 101 Switching Protocols, and the connection
// then carries frames both ways. The remote Go SDK (internal/remote) uses
// it; curl users have the JSON API.
//
// Goroutines, per connection. The handler's goroutine is the reader: it
// decodes frame headers and starts one goroutine per request, then, when
// reading ends, waits for them all. One writer goroutine, started by the
// handler and ended when the reply queue is closed, owns every write to
// the socket: it writes replies as they come and flushes when the queue is
// empty, so replies that finish together share one syscall. Request
// goroutines own nothing but their request; they never block on the
// queue (see streamMaxRequests).
//
// Flow control. At most streamMaxRequests requests, and streamMaxBytes of
// request payload, are outstanding per connection; a request stops
// counting once its reply is written. At the limit the reader stops
// reading the socket, and TCP pushes back on the client. A FETCH counts as
// outstanding while it long-polls, so a client keeps its long polls per
// connection well below the limit; FETCH's max is itself the consumer's
// credit: it asks for as many deliveries as it has room for.
//
// Shutdown. When the server shuts down (streamContext ends) the reader
// stops, long polls are cancelled and answered with ErrClosed (the code
// the client turns into a retryable "connection lost"), other requests run
// to completion and are answered, a connection-level ERROR says the server
// is going away, and the connection is closed. A client that goes away
// cancels its connection's requests.
const (
	streamProtocol    = "herald-stream/1"
	streamMaxRequests = 256
	streamMaxBytes    = 64 << 20
	streamBufferBytes = 64 << 10
	// streamLinger bounds how long a closing connection waits for the
	// client to close its side.
	streamLinger = 2 * time.Second
	// streamSettleWorkers bounds the broker calls one settle batch runs at
	// once; concurrent calls share the journal's fsync (group commit).
	streamSettleWorkers = 32
)

// stream upgrades the request to the streaming protocol and serves it
// until the client leaves or the server shuts down.
func (s *Server) stream(w http.ResponseWriter, r *http.Request) {
	if !headerHasToken(r.Header, "Connection", "upgrade") || !strings.EqualFold(r.Header.Get("Upgrade"), streamProtocol) {
		w.Header().Set("Upgrade", streamProtocol)
		s.writeProblem(w, r, &problem{Type: problemBase + "upgrade-required", Title: "Upgrade required",
			Status: http.StatusUpgradeRequired, Field: "Upgrade",
			Detail: "GET /v1/stream speaks " + streamProtocol + ": send Connection: Upgrade and Upgrade: " + streamProtocol +
				" (the Go SDK's remote client does), or use the JSON API under /v1/topics"})
		return
	}
	b := s.broker.Load()
	if b == nil || !s.ready.Load() {
		s.writeProblem(w, r, &problem{Type: problemBase + "unavailable", Title: "Not ready", Status: http.StatusServiceUnavailable,
			Detail: "the server is recovering its data or shutting down; retry shortly", retryAfter: time.Second})
		return
	}
	ctx, done := s.streamContext(r)
	defer done()
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		s.writeProblem(w, r, &problem{Type: problemBase + "upgrade-required", Title: "Upgrade not possible",
			Status: http.StatusHTTPVersionNotSupported, Detail: "the stream protocol needs HTTP/1.1: " + err.Error()})
		return
	}
	defer conn.Close()
	// The server's read and write timeouts are for requests; the stream
	// is long-lived and sets its own write deadlines.
	conn.SetDeadline(time.Time{})
	if _, err := conn.Write([]byte("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: " + streamProtocol + "\r\n\r\n")); err != nil {
		return
	}
	// Bytes the client pipelined behind its request sit in brw's buffer.
	buffered, _ := brw.Reader.Peek(brw.Reader.Buffered())
	rd := bufio.NewReaderSize(io.MultiReader(bytes.NewReader(bytes.Clone(buffered)), conn), streamBufferBytes)
	log := s.log.With("remote", r.RemoteAddr)
	log.Debug("stream opened")
	newStreamConn(s, b, conn, rd, log).serve(ctx)
	log.Debug("stream closed")
}

// headerHasToken reports whether a comma-separated header holds token.
func headerHasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for t := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// streamConn is one upgraded connection.
type streamConn struct {
	s    *Server
	b    *broker.Broker
	conn net.Conn
	rd   *bufio.Reader
	log  *slog.Logger

	shutdown context.Context // ends when the server shuts down
	// work is the context of every request: it ends when the client is
	// gone, not at shutdown, so requests already read finish.
	work       context.Context
	cancelWork context.CancelFunc
	// reading ends the reader: at shutdown, or when the writer fails.
	reading     context.Context
	stopReading context.CancelFunc

	out        chan streamReply // to the writer
	writerDone chan struct{}
	// wmu guards bw and wfailed, the socket's buffered write side. The
	// writer holds it while it writes; a request goroutine that finds it
	// free with nothing queued writes its own reply (tryReply), saving the
	// writer's wake-up on an idle connection.
	wmu      sync.Mutex
	bw       *bufio.Writer
	wfailed  error
	requests sync.WaitGroup
	limit    streamBudget

	// spare takes a request to a parked request goroutine (runRequests);
	// spares counts them; ended, closed once every request is done, ends
	// them.
	spare  chan request
	spares atomic.Int32
	// dispatched counts the requests on request goroutines: publishNow
	// stores a frame on the reader only while it is 0.
	dispatched atomic.Int32
	// pipelines is set, for good, once the client sent a PUBLISH while
	// another of its requests was in progress, or any frame before a
	// PUBLISH the reader stored was answered (reader only; publishNow).
	pipelines bool
	// waiting reports whether the client has sent bytes the reader has
	// not read yet; nil where the connection cannot tell (peek_unix.go).
	waiting func() bool
	ended   chan struct{}

	mu      sync.Mutex
	fetches map[uint64]*waitingFetch // long polls a CANCEL may end
	tails   tailStreams              // the connection's open tails (stream_tail.go)
	// lines holds, per subscription consumer, the turn of its last FETCH
	// read: the next one takes events only after it (fetchTurn).
	lines map[fetchLine]chan struct{}
}

// streamReply is what the writer writes: one or more frames answering one
// request (weight is its payload size, given back to the budget once
// written), or a connection-level frame (counted false).
type streamReply struct {
	frames  []byte
	weight  int
	counted bool
	pooled  bool // frames came from framePool and go back once written
}

// framePool and deliveryPool hold the buffers a FETCH reply is built in:
// a fetch of a hundred events is a slice of deliveries of about 30 KiB
// and a frame of about 25 KiB, which consuming at a few hundred thousand
// events a second otherwise allocates, zeroes and sweeps thousands of
// times a second (7% of a consuming server's CPU). Buffers larger than
// maxPooledBytes, from fetches far larger than usual, are left to the
// garbage collector.
var (
	framePool    sync.Pool // of *[]byte
	deliveryPool = sync.Pool{New: func() any { return new([]broker.Delivery) }}
)

const maxPooledBytes = 1 << 20

// dropReplyBuffers, set by a test, turns the pools off to measure what
// they save.
var dropReplyBuffers atomic.Bool

// getFrame returns an empty buffer from framePool, or nil.
func getFrame() []byte {
	if fp, ok := framePool.Get().(*[]byte); ok {
		return *fp
	}
	return nil
}

// getDeliveries returns an empty slice from deliveryPool, in the box
// putDeliveries takes back with the slice it grew into.
func getDeliveries() (*[]broker.Delivery, []broker.Delivery) {
	dp := deliveryPool.Get().(*[]broker.Delivery)
	return dp, (*dp)[:0]
}

// putDeliveries returns ds to deliveryPool, cleared so the pool keeps no
// event's memory alive.
func putDeliveries(dp *[]broker.Delivery, ds []broker.Delivery) {
	clear(ds)
	if cap(ds)*int(unsafe.Sizeof(broker.Delivery{})) <= maxPooledBytes && !dropReplyBuffers.Load() {
		*dp = ds[:0]
		deliveryPool.Put(dp)
	}
}

// putFrame returns a written reply's frames to framePool.
func putFrame(b []byte) {
	if cap(b) > maxPooledBytes || dropReplyBuffers.Load() {
		return
	}
	b = b[:0]
	framePool.Put(&b)
}

func newStreamConn(s *Server, b *broker.Broker, conn net.Conn, rd *bufio.Reader, log *slog.Logger) *streamConn {
	sc := &streamConn{s: s, b: b, conn: conn, rd: rd, log: log,
		out: make(chan streamReply, streamMaxRequests+1), writerDone: make(chan struct{}),
		limit:   streamBudget{maxN: streamMaxRequests, maxBytes: streamMaxBytes, free: make(chan struct{})},
		fetches: map[uint64]*waitingFetch{}, lines: map[fetchLine]chan struct{}{},
		spare: make(chan request), ended: make(chan struct{})}
	sc.bw = bufio.NewWriterSize(conn, streamBufferBytes)
	sc.waiting = bytesWaiting(conn)
	return sc
}

func (sc *streamConn) serve(shutdown context.Context) {
	sc.shutdown = shutdown
	sc.work, sc.cancelWork = context.WithCancel(context.WithoutCancel(shutdown))
	sc.reading, sc.stopReading = context.WithCancel(shutdown)
	defer sc.cancelWork()
	go sc.writeLoop()
	unblock := context.AfterFunc(sc.reading, func() { sc.conn.SetReadDeadline(time.Now()) })
	err := sc.readLoop()
	unblock()
	var last *wire.Error
	switch {
	case shutdown.Err() != nil:
		last = &wire.Error{Code: wire.CodeClosed, Message: "the server is shutting down: reconnect and call again " +
			"(the remote client redials by itself); leases and subscription positions are kept"}
	case errors.Is(err, wire.ErrMalformed):
		sc.log.Info("closing a stream that sent a malformed frame", "err", err)
		last = &wire.Error{Code: wire.CodeProtocol, Message: err.Error() + "; closing the connection"}
		sc.cancelWork()
	default: // the client left, or the writer failed
		sc.cancelWork()
	}
	sc.requests.Wait()
	close(sc.ended)
	if last != nil {
		sc.out <- streamReply{frames: sc.errorFrame(0, last)}
	}
	close(sc.out)
	<-sc.writerDone
	sc.lingerClose()
}

// lingerClose ends the connection without losing the last replies: closing
// a socket with unread requests in it sends a reset, which can destroy
// replies the client has not read yet. So it closes the write side, then
// reads and drops what the client still sends until it closes too, for at
// most streamLinger.
func (sc *streamConn) lingerClose() {
	cw, ok := sc.conn.(interface{ CloseWrite() error })
	if !ok || cw.CloseWrite() != nil {
		return
	}
	sc.conn.SetReadDeadline(time.Now().Add(streamLinger))
	io.Copy(io.Discard, sc.conn)
}

// readLoop reads frames until the connection fails or reading is stopped.
func (sc *streamConn) readLoop() error {
	hdr := make([]byte, wire.HeaderSize)
	for {
		h, err := wire.ReadHeader(sc.rd, hdr)
		if err != nil {
			return err
		}
		if h.Type == wire.TypeCancel {
			if _, err := sc.rd.Discard(h.Len); err != nil {
				return err
			}
			sc.mu.Lock()
			if w := sc.fetches[h.ID]; w != nil {
				w.cancel()
			}
			sc.mu.Unlock()
			continue
		}
		if err := sc.limit.acquire(sc.reading, h.Len); err != nil {
			return err
		}
		payload, err := wire.ReadPayload(sc.rd, h.Len)
		if err != nil {
			return err
		}
		// A FETCH or TAIL is made cancellable here, before the next frame
		// (maybe its CANCEL) is read.
		var w *waitingFetch
		if h.Type == wire.TypeFetch || h.Type == wire.TypeTail {
			w = &waitingFetch{}
			w.ctx, w.cancel = context.WithCancel(sc.work)
			if h.Type == wire.TypeFetch {
				w.decodeErr = w.fetch.Decode(payload)
				if w.decodeErr == nil {
					w.prev, w.turn = sc.fetchTurn(fetchLine{w.fetch.Topic, w.fetch.Sub, w.fetch.Consumer})
				}
			}
			sc.mu.Lock()
			sc.fetches[h.ID] = w
			sc.mu.Unlock()
		}
		sc.requests.Add(1)
		if h.Type == wire.TypeFetch && sc.fetchNow(w, h) {
			continue
		}
		if h.Type != wire.TypePublish {
			sc.dispatch(request{w: w, h: h, payload: payload})
			continue
		}
		if sc.publishNow(h, payload) {
			continue
		}
		if sc.dispatched.Load() != 0 || sc.rd.Buffered() != 0 {
			sc.pipelines = true // this frame came while others were in progress
		}
		// A connection's PUBLISH frames are stored in the order they
		// arrive: the next frame is read once this one's events hold their
		// place in their partitions (or it failed), while its fsync and
		// answer proceed. A client can so pipeline batches of one key.
		placed := make(chan struct{})
		sc.dispatch(request{w: w, h: h, payload: payload, placed: placed})
		<-placed
	}
}

// request is one frame for a request goroutine (see handle).
type request struct {
	w       *waitingFetch
	h       wire.Header
	payload []byte
	placed  chan struct{}
}

// dispatch runs r on a request goroutine: a spare one if one is parked,
// else a new one.
func (sc *streamConn) dispatch(r request) {
	if hook := dispatchHook.Load(); hook != nil {
		(*hook)(r.h)
	}
	sc.dispatched.Add(1)
	select {
	case sc.spare <- r:
	default:
		go sc.runRequests(r)
	}
}

// dispatchHook, when set, sees every frame dispatch hands to a request
// goroutine (tests).
var dispatchHook atomic.Pointer[func(wire.Header)]

// publishHook, when set, runs as a PUBLISH frame's storing begins
// (tests).
var publishHook atomic.Pointer[func(*streamConn)]

// maxSpareRequests bounds the request goroutines a connection keeps parked.
const maxSpareRequests = 8

// runRequests handles r, then parks as a spare for the next request until
// the connection ends, unless maxSpareRequests are parked already. A spare
// keeps the stack earlier requests grew through the broker's calls: a new
// goroutine per frame grew it again every time, and its spawn and stack
// growth were 6% of a consuming server's CPU.
func (sc *streamConn) runRequests(r request) {
	for {
		sc.handle(r.w, r.h, r.payload, r.placed, true)
		if sc.spares.Add(1) > maxSpareRequests {
			sc.spares.Add(-1)
			return
		}
		select {
		case r = <-sc.spare:
			sc.spares.Add(-1)
		case <-sc.ended:
			return
		}
	}
}

// writeLoop writes queued replies until out is closed. After a
// write fails it keeps draining out, so request goroutines never block.
func (sc *streamConn) writeLoop() {
	defer close(sc.writerDone)
	for r := range sc.out {
		sc.wmu.Lock()
		sc.writeLocked(r, len(sc.out) == 0)
		sc.wmu.Unlock()
	}
}

// tryReply writes r on the calling request goroutine when the writer is
// idle and nothing is queued; it reports whether it did. Only small
// replies: a large one goes through the writer, so a slow client never
// holds a request goroutine.
func (sc *streamConn) tryReply(r streamReply) bool {
	if len(r.frames) > directReplyMax || !sc.wmu.TryLock() {
		return false
	}
	defer sc.wmu.Unlock()
	if len(sc.out) > 0 {
		return false
	}
	sc.writeLocked(r, true)
	return true
}

// directReplyMax is the largest reply a request goroutine writes itself.
const directReplyMax = 32 << 10

// writeLocked writes r and, with flush, flushes the socket; the caller
// holds wmu. After a write fails it only gives back budgets, so request
// goroutines never block, and it stops the connection.
func (sc *streamConn) writeLocked(r streamReply, flush bool) {
	if sc.wfailed == nil {
		_, sc.wfailed = sc.bw.Write(r.frames)
	}
	if r.pooled {
		putFrame(r.frames)
	}
	if r.counted {
		sc.limit.release(r.weight)
	}
	if sc.wfailed == nil && flush {
		if t := sc.s.cfg.WriteTimeout; t > 0 {
			sc.conn.SetWriteDeadline(time.Now().Add(t))
		}
		sc.wfailed = sc.bw.Flush()
	}
	if sc.wfailed != nil && sc.reading.Err() == nil {
		sc.log.Debug("stream write failed; closing", "err", sc.wfailed)
		sc.stopReading()
		sc.cancelWork()
	}
}

// waitingFetch is a FETCH or TAIL that a CANCEL with its id can end. A
// FETCH is decoded as it is read, to take its turn (fetchTurn).
type waitingFetch struct {
	ctx    context.Context
	cancel context.CancelFunc

	fetch      wire.Fetch
	decodeErr  error
	prev, turn chan struct{}
}

// fetchLine names the FETCH frames that take their events in the order
// they arrive on a connection: one subscription consumer's.
type fetchLine struct{ topic, sub, consumer string }

// fetchTurn queues a FETCH of line: it takes events once prev (nil for
// the first) is closed, and closes turn once it has taken its own. So a
// client may pipeline fetches of one subscription on a connection and
// handle their replies in the order it sent them without reordering its
// events, as it may pipeline publishes. Other subscriptions, and other
// requests, still run concurrently.
func (sc *streamConn) fetchTurn(line fetchLine) (prev, turn chan struct{}) {
	turn = make(chan struct{})
	sc.mu.Lock()
	prev = sc.lines[line]
	sc.lines[line] = turn
	sc.mu.Unlock()
	return prev, turn
}

// endTurn closes w's turn, once its predecessor's has closed (a FETCH
// whose wait ended first took nothing, and must not let its successor
// overtake that predecessor).
func (sc *streamConn) endTurn(w *waitingFetch) {
	end := func() {
		line := fetchLine{w.fetch.Topic, w.fetch.Sub, w.fetch.Consumer}
		sc.mu.Lock()
		if sc.lines[line] == w.turn {
			delete(sc.lines, line)
		}
		sc.mu.Unlock()
		close(w.turn)
	}
	if w.prev == nil {
		end()
		return
	}
	select {
	case <-w.prev:
		end()
	default:
		go func() { <-w.prev; end() }()
	}
}

// handle answers one request on a request goroutine (runRequests, with
// dispatched set) or, for publishNow, on the reader; w is set for a FETCH
// or TAIL, and placed for a dispatched PUBLISH, closed once its events
// hold their place in their partitions.
func (sc *streamConn) handle(w *waitingFetch, h wire.Header, payload []byte, placed chan struct{}, dispatched bool) {
	defer sc.requests.Done()
	var reply []byte
	pooled := false
	defer func() {
		if v := recover(); v != nil {
			sc.log.Error("stream request panic", "type", h.Type, "panic", v, "stack", string(debug.Stack()))
			reply, pooled = sc.errorFrame(h.ID, errors.New("panic")), false
		}
		if dispatched {
			// Before the reply: a client's next frame, sent once it has
			// this reply, finds the connection idle (publishNow).
			sc.dispatched.Add(-1)
		} else if h.Type == wire.TypePublish && !sc.pipelines {
			// Stored by the reader (publishNow): a frame the client sent
			// before this reply pipelines, and waited for this one. Only
			// a large frame asks the socket (a system call): a small
			// one's wait is short.
			sc.pipelines = sc.rd.Buffered() != 0 || (h.Len > publishNowMax && sc.waiting())
		}
		if r := (streamReply{frames: reply, weight: h.Len, counted: true, pooled: pooled}); !sc.tryReply(r) {
			sc.out <- r
		}
	}()
	var err error
	switch h.Type {
	case wire.TypePublish:
		reply, err = sc.publish(h.ID, payload, placed)
	case wire.TypeFetch:
		reply, err = sc.fetch(w, h.ID)
		pooled = err == nil
	case wire.TypeAck, wire.TypeNack, wire.TypeExtend, wire.TypeReject:
		reply, err = sc.settle(h.Type, h.ID, payload)
	case wire.TypeRead:
		reply, err = sc.read(h.ID, payload)
	case wire.TypeTail:
		reply, err = sc.tail(w, h.ID, payload)
	case wire.TypeCall:
		reply, err = sc.call(h.ID, payload)
	default:
		err = &wire.Error{Code: wire.CodeProtocol, Message: fmt.Sprintf("%v is not a request this server knows: "+
			"the client speaks a newer protocol; upgrade the server", h.Type)}
	}
	if err != nil {
		reply = sc.errorFrame(h.ID, err)
	}
}

// errorFrame is the ERROR reply to id for err; server faults are logged
// here, since the client only hears that one happened.
func (sc *streamConn) errorFrame(id uint64, err error) []byte {
	e := wire.ErrorFor(err)
	if e.Code == wire.CodeInternal {
		sc.log.Error("stream request failed", "err", err)
	}
	b, start := wire.BeginFrame(nil, wire.TypeError, id)
	b = wire.AppendError(b, e)
	if wire.EndFrame(b, start) != nil { // a message too long for a frame
		b, start = wire.BeginFrame(b[:0], wire.TypeError, id)
		b = wire.AppendError(b, &wire.Error{Code: e.Code, Message: e.Code.String()})
		wire.EndFrame(b, start)
	}
	return b
}

// publishNow stores and answers a PUBLISH on the reader's goroutine when
// the connection has nothing else in progress (no request on a request
// goroutine) and no other frame waiting to be read, and reports whether
// it did; otherwise the frame goes to a request goroutine, and the reader
// reads on once its events hold their place. That is the case of a client
// that sends one frame and waits for its answer, PublishSync or
// PublishBatch: the hand-off to a request goroutine and the wake-up of
// the reader once the events were placed cost a sync publish about a
// tenth of its round trip (`herald bench publish --sync` p50 231 -> 206
// µs, 8 pairs) and a producer of batches of 100 6-7% of its rate (1a and
// 1c, 8 and 6 pairs).
//
// Frames that arrive while the reader stores this one are read after its
// fsync. For a small frame that costs little (eight goroutines publishing
// one event at a time over one connection, BenchmarkRemotePublish/batch=1:
// level). A frame over publishNowMax takes longer to decode and store, and
// a client pipelining them (several topics over one connection, or
// several batches in flight) would pay for it; so the first frame that
// comes while a PUBLISH is in progress, which the reader sees before it
// answers (handle: in its buffer or, after a large frame, waiting on the
// socket), marks the connection as pipelining, and its large frames go to
// request goroutines from then on. A large frame also needs a connection
// that can see waiting bytes, and no PUBLISH in progress on any
// connection: with four producers of large batches, storing on the
// readers was level at best (1d, 30 pairs).
func (sc *streamConn) publishNow(h wire.Header, payload []byte) bool {
	if sc.dispatched.Load() != 0 || sc.rd.Buffered() != 0 {
		return false
	}
	if h.Len > publishNowMax && (sc.pipelines || sc.waiting == nil || sc.s.publishing.Load() != 0) {
		return false
	}
	sc.handle(nil, h, payload, nil, false)
	return true
}

// publishNowMax is the largest PUBLISH frame publishNow stores without
// looking at the client's pipelining or at other connections: a few small
// events.
const publishNowMax = 4 << 10

// publish stores one PUBLISH frame's events; placed, when not nil, is
// closed as soon as they hold their place, or on return.
func (sc *streamConn) publish(id uint64, payload []byte, placed chan struct{}) ([]byte, error) {
	sc.s.publishing.Add(1)
	defer sc.s.publishing.Add(-1)
	if hook := publishHook.Load(); hook != nil {
		(*hook)(sc)
	}
	ctx := sc.work
	if placed != nil {
		ctx = broker.OnQueued(ctx, func() { close(placed) })
		defer broker.Queued(ctx)
	}
	var p wire.Publish
	if err := p.Decode(payload); err != nil {
		return nil, err
	}
	results, err := sc.b.PublishEncoded(ctx, p.Topic, p.Events, p.Records)
	if err != nil {
		return nil, err
	}
	b, start := wire.BeginFrame(make([]byte, 0, wire.HeaderSize+len(results)*8), wire.TypePublished, id)
	b = wire.AppendPublished(b, results)
	return b, wire.EndFrame(b, start)
}

// fetch long-polls the broker. Its wait ends with the request's wait, a
// CANCEL from the client, the client leaving, or the server shutting
// down; only the last is an error (CodeClosed), the others answer with
// what is ready, possibly nothing.
func (sc *streamConn) fetch(w *waitingFetch, id uint64) ([]byte, error) {
	defer func() {
		w.cancel()
		sc.mu.Lock()
		if sc.fetches[id] == w { // a client may reuse ids
			delete(sc.fetches, id)
		}
		sc.mu.Unlock()
	}()
	if w.decodeErr != nil {
		return nil, w.decodeErr
	}
	ctx, done := sc.longPoll(w, w.fetch.Wait)
	defer done()
	dp, ds := getDeliveries()
	ds, err := sc.fetchInTurn(ctx, w, ds)
	defer func() { putDeliveries(dp, ds) }()
	if err := sc.pollError(ctx, err, "fetch again (the remote client reconnects); "+
		"the subscription's position and leases are kept"); err != nil {
		return nil, err
	}
	return wire.AppendDeliveryFrames(getFrame(), id, ds)
}

// fetchNow answers a FETCH on the reader's goroutine when it is the
// FETCH's turn and events are ready, and reports whether it did;
// otherwise the FETCH goes to a request goroutine like any request. A
// consumer's fetches are the critical path of consuming: the hand-off to
// a request goroutine waited for the reader to park (tens of µs under
// load), and with the fetch answered here consume ran 332,508 -> 361,186
// events/s (8 pairs). The reader does not wait for events: TryFetchAppend
// neither waits for them nor writes dead letters, though like any fetch
// it may read the log into a window running low, or wait out a
// compaction's cut (a few ms). Its reply is written as any
// request's (tryReply: at once when the writer is idle, else queued), so
// a client that stops reading holds the reader in that write until the
// write timeout, as it would hold a request goroutine.
func (sc *streamConn) fetchNow(w *waitingFetch, h wire.Header) (answered bool) {
	if w.decodeErr != nil || (w.prev != nil && !isClosed(w.prev)) {
		return false
	}
	dp, ds := getDeliveries()
	finishing := false
	defer func() {
		if v := recover(); v != nil {
			if finishing { // the FETCH's turn and reply may be half done: let the connection's handler recover
				panic(v)
			}
			sc.log.Error("stream request panic", "type", h.Type, "panic", v, "stack", string(debug.Stack()))
			sc.finishFetch(w, h, streamReply{frames: sc.errorFrame(h.ID, errors.New("panic")), weight: h.Len, counted: true})
			answered = true
		}
		putDeliveries(dp, ds)
	}()
	f := &w.fetch
	ds, ok, err := sc.b.TryFetchAppend(f.Topic, f.Sub, f.Consumer, f.Max, ds)
	if err != nil || !ok {
		return false
	}
	r := streamReply{weight: h.Len, counted: true, pooled: true}
	if r.frames, err = wire.AppendDeliveryFrames(getFrame(), h.ID, ds); err != nil {
		r = streamReply{frames: sc.errorFrame(h.ID, err), weight: h.Len, counted: true}
	}
	finishing = true
	sc.finishFetch(w, h, r)
	return true
}

// finishFetch ends a FETCH answered on the reader (fetchNow): its turn,
// its place among the cancellable requests, its reply.
func (sc *streamConn) finishFetch(w *waitingFetch, h wire.Header, r streamReply) {
	sc.endTurn(w)
	w.cancel()
	sc.mu.Lock()
	if sc.fetches[h.ID] == w {
		delete(sc.fetches, h.ID)
	}
	sc.mu.Unlock()
	if !sc.tryReply(r) {
		sc.out <- r
	}
	sc.requests.Done()
}

// isClosed reports whether ch is closed.
func isClosed(ch chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// fetchInTurn waits for w's turn, takes its events and ends its turn,
// before the reply is encoded. A wait that ends first takes nothing.
func (sc *streamConn) fetchInTurn(ctx context.Context, w *waitingFetch, dst []broker.Delivery) ([]broker.Delivery, error) {
	defer sc.endTurn(w)
	if w.prev != nil {
		select {
		case <-w.prev:
		case <-ctx.Done():
			return dst, ctx.Err()
		}
	}
	f := &w.fetch
	return sc.b.FetchAppend(ctx, f.Topic, f.Sub, f.Consumer, f.Max, dst)
}

// pollError is what a long poll that returned err answers: nil when its
// wait merely ended (it answers with what is ready), CodeClosed with what
// to do next when the server is shutting down, err otherwise.
func (sc *streamConn) pollError(ctx context.Context, err error, next string) error {
	switch {
	case err == nil:
		return nil
	case !pollEnded(ctx, err):
		return err
	case sc.shutdown.Err() != nil:
		return &wire.Error{Code: wire.CodeClosed, Message: "the server is shutting down: " + next}
	}
	return nil
}

// longPoll returns the context a FETCH or TAIL waits under: w's (ended by
// a CANCEL, the client leaving, or shutdown), limited to wait; a negative
// wait is a poll (a done context answers with what is ready). done ends it.
func (sc *streamConn) longPoll(w *waitingFetch, wait time.Duration) (ctx context.Context, done func()) {
	stopAtShutdown := context.AfterFunc(sc.shutdown, w.cancel)
	ctx, cancel := w.ctx, context.CancelFunc(func() {})
	switch {
	case wait > 0:
		ctx, cancel = context.WithTimeout(ctx, wait)
	case wait < 0:
		ctx, cancel = context.WithCancel(ctx)
		cancel()
	}
	return ctx, func() { cancel(); stopAtShutdown() }
}

// pollEnded reports whether err only says a long poll's wait ended, which
// is answered with what is ready, not as an error.
func pollEnded(ctx context.Context, err error) bool {
	return ctx.Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded))
}

// settle runs a batch of acks, nacks, extends or rejects, concurrently so
// their journal writes share fsyncs, and answers one status per item.
func (sc *streamConn) settle(t wire.Type, id uint64, payload []byte) ([]byte, error) {
	items, err := wire.DecodeSettle(payload)
	if err != nil {
		return nil, err
	}
	statuses := make([]*wire.Error, len(items))
	if t == wire.TypeAck {
		sc.ackMany(items, statuses)
		b, start := wire.BeginFrame(nil, wire.TypeSettled, id)
		b = wire.AppendSettled(b, statuses)
		return b, wire.EndFrame(b, start)
	}
	one := func(i int) {
		it := &items[i]
		var err error
		switch t {
		case wire.TypeAck:
			err = sc.b.Ack(sc.work, it.Topic, it.Sub, it.Token)
		case wire.TypeNack:
			err = sc.b.Nack(sc.work, it.Topic, it.Sub, it.Token, it.Delay, it.Text)
		case wire.TypeExtend:
			err = sc.b.Extend(sc.work, it.Topic, it.Sub, it.Token)
		case wire.TypeReject:
			err = sc.b.Reject(sc.work, it.Topic, it.Sub, it.Token, it.Text)
		}
		if err != nil {
			statuses[i] = wire.ErrorFor(err)
			if statuses[i].Code == wire.CodeInternal {
				sc.log.Error("stream settle failed", "topic", it.Topic, "subscription", it.Sub, "err", err)
			}
		}
	}
	if len(items) == 1 {
		one(0)
	} else {
		var wg sync.WaitGroup
		next := make(chan int, len(items))
		for i := range items {
			next <- i
		}
		close(next)
		for range min(len(items), streamSettleWorkers) {
			wg.Go(func() {
				for i := range next {
					one(i)
				}
			})
		}
		wg.Wait()
	}
	b, start := wire.BeginFrame(nil, wire.TypeSettled, id)
	b = wire.AppendSettled(b, statuses)
	return b, wire.EndFrame(b, start)
}

// ackMany acks items with one journal write per subscription
// (broker.AckMany), so a frame of acks costs one write (and a share of
// the journal's next fsync), not one each, and fills statuses. It runs on
// a request goroutine: settling ACK frames on the reader instead, like
// fetchNow, delayed the next FETCH more than it saved (consume 436,973 ->
// 422,298 events/s, 8 pairs).
func (sc *streamConn) ackMany(items []wire.SettleItem, statuses []*wire.Error) {
	type subKey struct{ topic, sub string }
	groups := make(map[subKey][]int, 1)
	for i := range items {
		k := subKey{items[i].Topic, items[i].Sub}
		groups[k] = append(groups[k], i)
	}
	fail := func(i int, err error) {
		statuses[i] = wire.ErrorFor(err)
		if statuses[i].Code == wire.CodeInternal {
			sc.log.Error("stream ack failed", "topic", items[i].Topic, "subscription", items[i].Sub, "err", err)
		}
	}
	ack := func(k subKey, idx []int) {
		tokens := make([]string, len(idx))
		for j, i := range idx {
			tokens[j] = items[i].Token
		}
		errs, err := sc.b.AckMany(sc.work, k.topic, k.sub, tokens)
		for j, i := range idx {
			switch {
			case err != nil:
				fail(i, err)
			case errs[j] != nil:
				fail(i, errs[j])
			}
		}
	}
	if len(groups) == 1 { // the usual frame: one consumer's acks
		for k, idx := range groups {
			ack(k, idx)
		}
		return
	}
	var wg sync.WaitGroup
	for k, idx := range groups {
		wg.Go(func() { ack(k, idx) })
	}
	wg.Wait()
}

func (sc *streamConn) read(id uint64, payload []byte) ([]byte, error) {
	var r wire.Read
	if err := r.Decode(payload); err != nil {
		return nil, err
	}
	events, err := sc.b.Read(sc.work, r.Topic, r.Partition, r.From, r.Max)
	if err != nil {
		return nil, err
	}
	return wire.AppendEventFrames(nil, id, events)
}

// call answers the admin and metadata methods of wire.Call.
func (sc *streamConn) call(id uint64, payload []byte) ([]byte, error) {
	var c wire.Call
	if err := c.Decode(payload); err != nil {
		return nil, err
	}
	result, err := sc.invoke(c.Method, c.Args)
	if err != nil {
		return nil, err
	}
	data, err := json.Marshal(result)
	if err != nil {
		return nil, err
	}
	b, start := wire.BeginFrame(nil, wire.TypeResult, id)
	b = append(b, data...)
	return b, wire.EndFrame(b, start)
}

func (sc *streamConn) invoke(method string, args []byte) (any, error) {
	ctx, b := sc.work, sc.b
	var (
		topic wire.TopicArgs
		sub   wire.SubscriptionArgs
		seek  wire.SeekArgs
		off   wire.OffsetArgs
	)
	switch method {
	case wire.MethodTopics:
		return orError(b.Topics())
	case wire.MethodCreateTopic, wire.MethodTopic, wire.MethodDeleteTopic, wire.MethodUpdateTopic:
		if err := callArgs(method, args, &topic); err != nil {
			return nil, err
		}
		switch method {
		case wire.MethodTopic:
			return orError(b.Topic(topic.Name))
		case wire.MethodDeleteTopic:
			return nil, b.DeleteTopic(ctx, topic.Name)
		case wire.MethodUpdateTopic:
			return orError(b.UpdateTopic(ctx, topic.Name, topic.Config))
		}
		return orError(b.CreateTopic(ctx, topic.Name, topic.Config))
	case wire.MethodCreateSubscription, wire.MethodUpdateSubscription, wire.MethodSubscription, wire.MethodDeleteSubscription,
		wire.MethodSubscriptions, wire.MethodStats:
		if err := callArgs(method, args, &sub); err != nil {
			return nil, err
		}
		switch method {
		case wire.MethodSubscriptions:
			return orError(b.Subscriptions(sub.Topic))
		case wire.MethodStats:
			return orError(b.Stats(sub.Topic, sub.Name))
		case wire.MethodCreateSubscription:
			return orError(b.CreateSubscription(ctx, sub.Topic, sub.Name, sub.Config))
		case wire.MethodUpdateSubscription:
			return orError(b.UpdateSubscription(ctx, sub.Topic, sub.Name, sub.Config))
		case wire.MethodDeleteSubscription:
			return nil, b.DeleteSubscription(ctx, sub.Topic, sub.Name)
		}
		return orError(b.Subscription(sub.Topic, sub.Name))
	case wire.MethodSeek:
		if err := callArgs(method, args, &seek); err != nil {
			return nil, err
		}
		return nil, b.Seek(ctx, seek.Topic, seek.Sub, seek.Position)
	case wire.MethodOffsetForTime, wire.MethodOffsets:
		if err := callArgs(method, args, &off); err != nil {
			return nil, err
		}
		if method == wire.MethodOffsets {
			earliest, next, err := b.Offsets(off.Topic, off.Partition)
			return orError(wire.OffsetsResult{Earliest: earliest, Next: next}, err)
		}
		o, err := b.OffsetForTime(off.Topic, off.Partition, off.Time)
		return orError(wire.OffsetsResult{Offset: o}, err)
	case wire.MethodDeadLetters:
		var dl wire.DeadLettersArgs
		if err := callArgs(method, args, &dl); err != nil {
			return nil, err
		}
		dls, err := b.DeadLetters(ctx, dl.Topic, dl.Sub, dl.From, min(dl.Limit, deadLetterPageMax))
		if err != nil {
			return nil, err
		}
		return deadLettersFitting(dls, wire.MaxFrame-wire.HeaderSize)
	case wire.MethodPing:
		return nil, nil
	case wire.MethodRedrive:
		var rd wire.RedriveArgs
		if err := callArgs(method, args, &rd); err != nil {
			return nil, err
		}
		n, err := b.Redrive(ctx, rd.Topic, rd.Sub, rd.IDs)
		return orError(wire.RedriveResult{Redriven: n}, err)
	}
	return nil, &wire.Error{Code: wire.CodeProtocol, Message: fmt.Sprintf("CALL %q: no such method on this server; "+
		"the client is newer than the server: upgrade the server", method)}
}

// deadLetterPageMax caps a DeadLetters CALL's limit, as the HTTP API caps
// its own: the broker gathers the whole page in memory before it is cut
// to one frame. A variable for tests.
var deadLetterPageMax = maxReadLimit

// deadLettersFitting encodes the first of dls that fit in budget bytes
// as a JSON array, and at least one: a RESULT is one frame, and the
// caller lists on from the last id + 1. A dead letter holds an event of
// at most broker.MaxEventBytes, whose JSON fits a frame.
func deadLettersFitting(dls []broker.DeadLetter, budget int) (json.RawMessage, error) {
	out := []byte{'['}
	for i := range dls {
		item, err := json.Marshal(&dls[i])
		if err != nil {
			return nil, err
		}
		if i > 0 && len(out)+1+len(item)+1 > budget {
			break
		}
		if i > 0 {
			out = append(out, ',')
		}
		out = append(out, item...)
	}
	return append(out, ']'), nil
}

// orError drops the result when there is an error, so the reply is the
// error alone.
func orError[T any](v T, err error) (any, error) {
	if err != nil {
		return nil, err
	}
	return v, nil
}

func callArgs(method string, args []byte, v any) error {
	if err := json.Unmarshal(args, v); err != nil {
		return &wire.Error{Code: wire.CodeProtocol, Message: fmt.Sprintf("CALL %s: arguments are not the JSON this server expects: %v", method, err)}
	}
	return nil
}

// streamBudget counts a connection's outstanding requests and their
// payload bytes. One goroutine (the reader) acquires; the writer
// releases. A request larger than maxBytes is admitted when it is alone.
type streamBudget struct {
	mu             sync.Mutex
	n, bytes       int
	maxN, maxBytes int
	free           chan struct{} // closed and replaced at every release
}

func (l *streamBudget) acquire(ctx context.Context, size int) error {
	for {
		l.mu.Lock()
		if l.n < l.maxN && (l.bytes+size <= l.maxBytes || l.n == 0) {
			l.n++
			l.bytes += size
			l.mu.Unlock()
			return nil
		}
		free := l.free
		l.mu.Unlock()
		select {
		case <-free:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (l *streamBudget) release(size int) {
	l.mu.Lock()
	l.n--
	l.bytes -= size
	close(l.free)
	l.free = make(chan struct{})
	l.mu.Unlock()
}
