package remote

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heraldhq/herald/internal/wire"
)

// session is one connection to the server: the socket, its reader and
// writer goroutines, and the requests waiting for replies. A Conn has one
// session at a time and makes a new one after it dies.
//
// Goroutines: start launches the reader and the writer; both end when the
// session dies (fail), which closes the socket, so neither outlives it.
// The reader owns the socket's read side and every reply routing; the
// writer owns the write side and the settle queues' draining. Callers
// only register calls and queue frames.
type session struct {
	conn net.Conn
	rd   *bufio.Reader
	ids  *atomic.Uint64 // the Conn's request ids, unique across sessions

	out chan *call // frames to write, in order
	// unwritten counts the calls queued on out and not yet written: a
	// direct write (tryWrite) waits while it is above 0, so frames reach
	// the socket in the order they were queued. Ordered pipelined
	// publishes depend on it.
	unwritten atomic.Int32
	kick      chan struct{} // settle items are queued (capacity 1)
	// wmu guards bw, the socket's buffered write side. The writer holds it
	// while it writes; a caller that finds it free and nothing queued
	// writes its own frame (tryWrite), saving the wake-up of the writer on
	// an idle connection. The writer holds it from taking a frame off out
	// until it is written.
	wmu  sync.Mutex
	bw   *bufio.Writer
	dead chan struct{} // closed by fail
	// frames counts the frames read: the watchdog's sign of life.
	frames atomic.Uint64

	mu      sync.Mutex
	err     error            // why the session died; set once, before dead is closed
	pending map[uint64]*call // requests written or queued, by id
	settleQ [4][]*settleItem // ACK, NACK, EXTEND, REJECT items waiting for the writer

	// Writer only: buffers writeSettles reuses, so a busy consumer's acks
	// cost no allocation per frame.
	settleScratch []wire.SettleItem
	settleFrame   []byte
}

// call is one request and its reply.
type call struct {
	op    string
	id    uint64
	frame []byte
	// sent is set by the writer just before the frame goes to the socket:
	// from then on the server may apply it.
	sent atomic.Bool
	// written is set by whoever wrote the frame once the write returned:
	// from then on nothing reads frame (remote.Conn.Publish reuses it).
	written atomic.Bool
	// reply receives the answer or the session's failure; capacity 1.
	reply chan result
	// chunks collects a Continued reply; owned by the reader.
	chunks [][]byte
	// items is set for a settle batch: the reader answers each item.
	items []*settleItem
}

// result is a reply: its type and payload frames, or why there is none.
type result struct {
	typ      wire.Type
	payloads [][]byte
	err      error
}

// settleItem is one Ack, Nack, Extend or Reject waiting to be batched.
// Its outcome goes to done, or, for an item of an AckMany, into its
// group's slot idx.
type settleItem struct {
	op    string
	item  wire.SettleItem
	sent  atomic.Bool
	done  chan error // capacity 1
	group *settleGroup
	idx   int
}

// settleGroup collects the outcomes of the items of one AckMany: one
// allocation for the batch instead of a channel per item.
type settleGroup struct {
	errs []error
	left atomic.Int32
	done chan struct{} // closed once every item is answered
}

func newSettleGroup(n int) *settleGroup {
	g := &settleGroup{errs: make([]error, n), done: make(chan struct{})}
	g.left.Store(int32(n))
	return g
}

// answer delivers the item's outcome, exactly once.
func (it *settleItem) answer(err error) {
	if g := it.group; g != nil {
		g.errs[it.idx] = err
		if g.left.Add(-1) == 0 {
			close(g.done)
		}
		return
	}
	it.done <- err
}

// settleKinds are the request types of the settle queues, by index.
var settleKinds = [4]wire.Type{wire.TypeAck, wire.TypeNack, wire.TypeExtend, wire.TypeReject}

// directWriteMax is the largest frame a caller writes itself (tryWrite).
const directWriteMax = 32 << 10

// maxSettleBatch bounds the items of one settle frame.
const maxSettleBatch = 1024

func newSession(conn net.Conn, rd *bufio.Reader, ids *atomic.Uint64) *session {
	return &session{conn: conn, rd: rd, ids: ids, out: make(chan *call, 256), kick: make(chan struct{}, 1),
		dead: make(chan struct{}), pending: map[uint64]*call{}, bw: bufio.NewWriterSize(conn, 64<<10)}
}

// start runs the reader and the writer, and with pingEvery > 0 the
// watchdog; wg counts them.
func (s *session) start(wg *sync.WaitGroup, pingEvery time.Duration) {
	wg.Add(2)
	go func() {
		defer wg.Done()
		s.readLoop()
	}()
	go func() {
		defer wg.Done()
		s.writeLoop()
	}()
	if pingEvery > 0 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.watch(pingEvery)
		}()
	}
}

// watch guards against a connection that went silent without closing: a
// server process that is stopped or stuck, or a host gone behind a
// half-open TCP connection, which TCP keepalive finds late or, for a
// stopped process whose kernel still answers, never. When nothing at all
// was read for a whole interval it sends a ping (CALL Ping; a server
// that does not know the method answers with an error, which shows it
// alive as well); when nothing arrives for
// another whole interval, it fails the session. Calls waiting on it then
// end with a *ConnError, and the next call reconnects. A busy connection
// costs nothing but a counter: the reader counts frames, and the
// watchdog reads the count once an interval.
func (s *session) watch(interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	seen, pinged := s.frames.Load(), false
	for {
		select {
		case <-s.dead:
			return
		case <-t.C:
		}
		switch n := s.frames.Load(); {
		case n != seen:
			seen, pinged = n, false
		case !pinged:
			s.ping()
			pinged = true
		default:
			s.fail(fmt.Errorf("%w: nothing came from the server for at least %v, though it was pinged", ErrSilent, 2*interval))
			return
		}
	}
}

// ping asks the server for any answer. Nobody waits for it: the reader
// counts the answer as a frame and drops it, its id being unknown. Like
// cancel it never blocks; a full queue means frames are going out, and
// their answers will do.
func (s *session) ping() {
	payload := wire.AppendCall(nil, &wire.Call{Method: wire.MethodPing, Args: []byte("{}")})
	s.queueUnanswered(&call{op: "ping", frame: wire.AppendFrame(nil, wire.TypeCall, s.ids.Add(1), payload)})
}

// cause says why the session died.
func (s *session) cause() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

func (s *session) isDead() bool {
	select {
	case <-s.dead:
		return true
	default:
		return false
	}
}

// register adds c to the pending calls; it fails once the session died.
func (s *session) register(c *call) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return s.err
	}
	s.pending[c.id] = c
	return nil
}

// forget drops a call whose caller stopped waiting; a late reply is
// discarded.
func (s *session) forget(id uint64) {
	s.mu.Lock()
	delete(s.pending, id)
	s.mu.Unlock()
}

// queueSettle adds a settle item for the writer's next batch of its kind.
func (s *session) queueSettle(kind int, it *settleItem) error {
	s.mu.Lock()
	if s.err != nil {
		s.mu.Unlock()
		return s.err
	}
	s.settleQ[kind] = append(s.settleQ[kind], it)
	s.mu.Unlock()
	select {
	case s.kick <- struct{}{}:
	default: // the writer is already told
	}
	return nil
}

// queueSettles adds several settle items of one kind under one lock.
func (s *session) queueSettles(kind int, items []*settleItem) error {
	s.mu.Lock()
	if s.err != nil {
		s.mu.Unlock()
		return s.err
	}
	s.settleQ[kind] = append(s.settleQ[kind], items...)
	s.mu.Unlock()
	select {
	case s.kick <- struct{}{}:
	default:
	}
	return nil
}

// cancel asks the server to end the waiting FETCH id. It never blocks:
// with the queue full the cancel is dropped, and the server ends the
// fetch when its wait (at most fetchWaitCap) runs out.
func (s *session) cancel(id uint64) {
	s.queueUnanswered(&call{op: "cancel", frame: wire.AppendFrame(nil, wire.TypeCancel, id, nil)})
}

// queueUnanswered queues a frame no caller waits on, unless the queue is
// full. It counts the frame in unwritten as send does, since the writer
// uncounts every frame it writes: uncounted, the count went below the
// frames still queued, and a direct write (tryWrite) could overtake them.
func (s *session) queueUnanswered(c *call) {
	s.unwritten.Add(1)
	select {
	case s.out <- c:
	default:
		s.unwritten.Add(-1)
	}
}

// fail kills the session once: it records why, closes the socket (which
// ends the reader and the writer), and answers every pending call and
// queued settle item with the failure.
func (s *session) fail(cause error) { s.failAll(cause, false) }

// failAll is fail; unread says the server read none of the pending
// requests (it said goodbye after answering every one it read), so none
// of them ran.
func (s *session) failAll(cause error, unread bool) {
	s.mu.Lock()
	if s.err != nil {
		s.mu.Unlock()
		return
	}
	s.err = cause
	pending := s.pending
	s.pending = nil
	queued := s.settleQ
	s.settleQ = [4][]*settleItem{}
	s.mu.Unlock()
	close(s.dead)
	s.conn.Close()
	for _, c := range pending {
		if c.items != nil {
			for _, it := range c.items {
				it.answer(lostError(it.op, it.sent.Load() && !unread, cause))
			}
			continue
		}
		c.reply <- result{err: lostError(c.op, c.sent.Load() && !unread, cause)}
	}
	for _, items := range queued {
		for _, it := range items {
			it.answer(lostError(it.op, false, cause))
		}
	}
}

// lostError is the error of a call cut short by the session's death.
func lostError(op string, maybeApplied bool, cause error) error {
	if cause == errClosed {
		return errClosed
	}
	return &ConnError{Op: op, MaybeApplied: maybeApplied, Err: cause}
}

// readLoop routes replies to their calls until the connection fails.
func (s *session) readLoop() {
	hdr := make([]byte, wire.HeaderSize)
	for {
		f, err := wire.ReadFrame(s.rd, hdr)
		if err != nil {
			s.fail(err)
			return
		}
		s.frames.Add(1)
		if f.ID == 0 {
			// About the connection: the server is going away, or refused
			// what we sent. Going away, it has answered every request it
			// read: those still pending never ran.
			e, err := wire.DecodeError(f.Payload)
			switch {
			case err != nil:
				s.fail(malformedReply("connection", err))
			case e.Code == wire.CodeClosed:
				s.failAll(errShuttingDown, true)
			default:
				s.fail(fmt.Errorf("the server closed the connection: %w", e))
			}
			return
		}
		final := f.Type&wire.Continued == 0
		s.mu.Lock()
		c := s.pending[f.ID]
		if c != nil && final {
			delete(s.pending, f.ID)
		}
		s.mu.Unlock()
		if c == nil {
			continue // its caller stopped waiting
		}
		c.chunks = append(c.chunks, f.Payload)
		if !final {
			continue
		}
		if c.items != nil {
			s.settled(c, f.Type)
			continue
		}
		c.reply <- result{typ: f.Type, payloads: c.chunks}
	}
}

// settled answers the items of a settle batch from its reply.
func (s *session) settled(c *call, t wire.Type) {
	answer := func(err error) {
		for _, it := range c.items {
			it.answer(err)
		}
	}
	payload := c.chunks[len(c.chunks)-1]
	switch t {
	case wire.TypeSettled:
		statuses, err := wire.DecodeSettled(payload)
		if err == nil && len(statuses) != len(c.items) {
			err = errors.New("SETTLED has the wrong number of statuses")
		}
		if err != nil {
			answer(malformedReply(c.op, err))
			return
		}
		for i, it := range c.items {
			if statuses[i] == nil {
				it.answer(nil)
			} else {
				it.answer(replyError(it.op, statuses[i]))
			}
		}
	case wire.TypeError:
		e, err := wire.DecodeError(payload)
		if err != nil {
			answer(malformedReply(c.op, err))
			return
		}
		for _, it := range c.items {
			it.answer(replyError(it.op, e))
		}
	default:
		answer(malformedReply(c.op, errors.New("unexpected "+t.String())))
	}
}

// writeLoop writes queued frames and settle batches, flushing when nothing
// more is waiting, until the session dies.
func (s *session) writeLoop() {
	bw := s.bw
	write := func(c *call) error {
		c.sent.Store(true)
		_, err := bw.Write(c.frame)
		c.written.Store(true)
		s.unwritten.Add(-1)
		return err
	}
	for {
		var err error
		var first *call
		kicked := false
		select {
		case first = <-s.out:
		case <-s.kick:
			kicked = true
		case <-s.dead:
			return
		}
		s.wmu.Lock()
		if first != nil {
			err = write(first)
		}
		if kicked {
			err = s.writeSettles(bw)
		}
	drain:
		for err == nil {
			select {
			case c := <-s.out:
				err = write(c)
			case <-s.kick:
				err = s.writeSettles(bw)
			default:
				err = bw.Flush()
				break drain
			}
		}
		s.wmu.Unlock()
		if err != nil {
			s.fail(err)
			return
		}
	}
}

// tryWrite writes c's frame on the caller's goroutine when the writer is
// idle and nothing is queued before it; it reports whether it did. Only
// small frames, which the socket buffer takes at once: a caller must not
// block on a slow server where its context cannot reach it. A write error
// kills the session, which answers c.
func (s *session) tryWrite(c *call) bool {
	if len(c.frame) > directWriteMax || !s.wmu.TryLock() {
		return false
	}
	if s.unwritten.Load() > 0 || s.isDead() {
		s.wmu.Unlock()
		return false
	}
	c.sent.Store(true)
	_, err := s.bw.Write(c.frame)
	c.written.Store(true)
	if err == nil {
		err = s.bw.Flush()
	}
	s.wmu.Unlock()
	if err != nil {
		s.fail(err)
	}
	return true
}

// writeSettles takes every queued settle item and writes them as batches,
// one frame per kind and at most maxSettleBatch items.
func (s *session) writeSettles(bw *bufio.Writer) error {
	s.mu.Lock()
	queued := s.settleQ
	s.settleQ = [4][]*settleItem{}
	s.mu.Unlock()
	items := s.settleScratch[:0]
	defer func() { clear(items); s.settleScratch = items[:0] }()
	for k, q := range queued {
		for len(q) > 0 {
			batch := q[:min(len(q), maxSettleBatch)]
			q = q[len(batch):]
			c := &call{op: batch[0].op, id: s.ids.Add(1), items: batch}
			items = items[:0]
			for _, it := range batch {
				items = append(items, it.item)
			}
			b, start := wire.BeginFrame(s.settleFrame[:0], settleKinds[k], c.id)
			b = wire.AppendSettle(b, items)
			s.settleFrame = b // bw.Write copies it
			if err := wire.EndFrame(b, start); err != nil {
				for _, it := range batch {
					it.answer(err)
				}
				continue
			}
			if err := s.register(c); err != nil {
				for _, it := range batch {
					it.answer(lostError(it.op, false, err))
				}
				continue
			}
			for _, it := range batch {
				it.sent.Store(true)
			}
			if _, err := bw.Write(b); err != nil {
				return err
			}
		}
	}
	return nil
}
