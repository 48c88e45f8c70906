package remote

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heraldhq/herald/internal/broker"
	"github.com/heraldhq/herald/internal/wire"
)

// Options tunes a Conn. The zero value works.
type Options struct {
	// DialTimeout bounds one connection attempt (TCP and the HTTP
	// upgrade); default 10s.
	DialTimeout time.Duration
	// CallTimeout bounds the methods that take no context (Topic,
	// Subscription, OffsetForTime, Offsets) and a Fetch with an expired
	// context, which polls; default 30s.
	CallTimeout time.Duration
	// ReconnectTimeout bounds how long a call waits for a lost connection
	// to come back before it fails with ErrConnectionLost; the call's
	// context bounds it too. Default 1 minute.
	ReconnectTimeout time.Duration
	// MinBackoff and MaxBackoff bound the wait between failed connection
	// attempts: it doubles from MinBackoff up to MaxBackoff, each wait
	// drawn at random from its upper half (jitter), so clients cut off
	// together do not come back together. Defaults 50ms and 5s.
	MinBackoff, MaxBackoff time.Duration
	// PingInterval is how long a connection may be silent, nothing read
	// from it, before it is pinged; when a second interval passes with
	// still nothing, the connection is taken for dead: calls waiting on
	// it fail with ErrConnectionLost and the next call reconnects. So a
	// server that stopped answering without closing the connection is
	// found after two to three intervals. Default 15s; negative turns
	// pings off.
	PingInterval time.Duration
	// Logger receives connection events (lost, reconnected) at Info and
	// Debug; default discards them.
	Logger *slog.Logger
}

func (o Options) withDefaults() Options {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.DialTimeout, 10*time.Second)
	def(&o.CallTimeout, 30*time.Second)
	def(&o.ReconnectTimeout, time.Minute)
	def(&o.MinBackoff, 50*time.Millisecond)
	def(&o.MaxBackoff, 5*time.Second)
	if o.PingInterval == 0 {
		o.PingInterval = 15 * time.Second
	}
	o.MaxBackoff = max(o.MaxBackoff, o.MinBackoff)
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// Conn is a Backend over one streaming connection to a Herald server
// (protocol: internal/wire). It is safe for concurrent use, and meant to
// be shared: calls from many goroutines are pipelined on the one
// connection, matched to their replies by request id, and their frames
// coalesced into few writes; concurrent Acks (Nacks, Extends, Rejects)
// travel as one batch frame.
//
// When the connection fails, calls in flight fail with a *ConnError (it
// matches ErrConnectionLost, and says whether the request may have been
// applied; retrying is always safe). The next call reconnects, waiting
// between attempts with exponential backoff and jitter, for at most
// Options.ReconnectTimeout and its context. Calls that had not reached the
// socket when the connection failed are sent again on the new one.
//
// Goroutines: each connection has a reader and a writer goroutine (see
// session); they end when the connection fails or Close is called, and
// Close waits for them. No goroutine runs between connections.
type Conn struct {
	base string // "http://host:port/prefix", no trailing slash
	u    *url.URL
	opts Options
	log  *slog.Logger
	ids  atomic.Uint64

	// closing ends when Close is called, cutting short reconnects.
	closing  context.Context
	closeNow context.CancelFunc
	mu       sync.Mutex
	cur      *session
	dialing  chan struct{} // closed when the dial in progress ends
	failures int           // failed dials in a row
	retryAt  time.Time     // no dial before this
	lastErr  error         // why the last dial or connection failed
	closed   bool
	sessions sync.WaitGroup // every session's reader and writer
}

var _ Backend = (*Conn)(nil)

// Dial connects to the Herald server whose HTTP base URL is rawURL
// ("http://127.0.0.1:7070") and upgrades the connection to the streaming
// protocol. It makes one attempt, bounded by ctx and DialTimeout; later
// reconnects are automatic.
func Dial(ctx context.Context, rawURL string, opts Options) (*Conn, error) {
	u, err := parseBaseURL(rawURL)
	if err != nil {
		return nil, err
	}
	opts = opts.withDefaults()
	c := &Conn{base: u.Redacted(), u: u, opts: opts, log: opts.Logger}
	s, err := c.connect(ctx)
	if err != nil {
		return nil, err
	}
	c.closing, c.closeNow = context.WithCancel(context.Background())
	c.cur = s
	return c, nil
}

// connect dials and starts a session.
func (c *Conn) connect(ctx context.Context) (*session, error) {
	dctx, cancel := context.WithTimeout(ctx, c.opts.DialTimeout)
	defer cancel()
	conn, rd, err := dialStream(dctx, c.u)
	if err != nil {
		return nil, err
	}
	s := newSession(conn, rd, &c.ids)
	s.start(&c.sessions, c.opts.PingInterval)
	return s, nil
}

// Close closes the connection. Calls in flight and later calls fail with
// an error matching broker.ErrClosed. It waits for the connection's
// goroutines to end.
func (c *Conn) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	s, dialing := c.cur, c.dialing
	c.cur = nil
	c.mu.Unlock()
	c.closeNow()
	if dialing != nil {
		<-dialing // a new session is closed by its dialer, seeing closed
	}
	if s != nil {
		s.fail(errClosed)
	}
	c.sessions.Wait()
	return nil
}

// session returns a live session, reconnecting if needed.
func (c *Conn) session(ctx context.Context, op string) (*session, error) {
	c.mu.Lock()
	s, closed := c.cur, c.closed
	c.mu.Unlock()
	if closed {
		return nil, errClosed
	}
	if s != nil && !s.isDead() {
		return s, nil
	}
	return c.reconnect(ctx, op)
}

// reconnect dials a new session: one dial at a time, the other callers
// waiting for it, with backoff between failed attempts, for at most
// ReconnectTimeout.
func (c *Conn) reconnect(ctx context.Context, op string) (*session, error) {
	ctx, stop := context.WithTimeout(ctx, c.opts.ReconnectTimeout)
	defer stop()
	defer context.AfterFunc(c.closing, stop)()
	for {
		c.mu.Lock()
		if c.closed {
			c.mu.Unlock()
			return nil, errClosed
		}
		if s := c.cur; s != nil && !s.isDead() {
			c.mu.Unlock()
			return s, nil
		}
		if c.cur != nil {
			c.lastErr = c.cur.cause()
			c.cur = nil
			c.log.Info("connection to herald lost; reconnecting", "url", c.base, "err", c.lastErr)
		}
		if ch := c.dialing; ch != nil {
			c.mu.Unlock()
			select {
			case <-ch:
				continue
			case <-ctx.Done():
				return nil, c.noConnection(ctx, op)
			}
		}
		wait := time.Until(c.retryAt)
		ch := make(chan struct{})
		c.dialing = ch
		c.mu.Unlock()

		s, err := c.redial(ctx, wait)

		c.mu.Lock()
		c.dialing = nil
		close(ch)
		switch {
		case err == nil && c.closed:
			c.mu.Unlock()
			s.fail(errClosed)
			return nil, errClosed
		case err == nil:
			c.cur, c.failures = s, 0
			c.mu.Unlock()
			c.log.Info("reconnected to herald", "url", c.base)
			return s, nil
		case ctx.Err() == nil: // the attempt failed, not the caller
			c.failures++
			c.retryAt = time.Now().Add(backoff(c.opts.MinBackoff, c.opts.MaxBackoff, c.failures))
			c.lastErr = err
			c.log.Debug("reconnect failed", "url", c.base, "attempt", c.failures, "err", err)
		}
		c.mu.Unlock()
		if ctx.Err() != nil {
			return nil, c.noConnection(ctx, op)
		}
	}
}

// redial waits out the backoff, then connects.
func (c *Conn) redial(ctx context.Context, wait time.Duration) (*session, error) {
	if wait > 0 {
		t := time.NewTimer(wait)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return c.connect(ctx)
}

// noConnection is the error of a call that found no connection in time.
func (c *Conn) noConnection(ctx context.Context, op string) error {
	c.mu.Lock()
	last, closed := c.lastErr, c.closed
	c.mu.Unlock()
	if closed {
		return errClosed
	}
	if last == nil {
		last = errors.New("no answer")
	}
	return &ConnError{Op: op, Err: fmt.Errorf("no connection to %s: %w (last error: %v)", c.base, context.Cause(ctx), last)}
}

// backoff is the wait after n failed attempts: min doubled n-1 times,
// capped at max, then drawn from its upper half.
func backoff(minWait, maxWait time.Duration, n int) time.Duration {
	d := maxWait
	if n < 32 {
		d = min(maxWait, minWait<<(n-1))
	}
	return d/2 + rand.N(d/2+1)
}

// roundTrip sends the request frame (its id is set here), waits for the
// reply and returns its payloads, checking its type is want; an ERROR
// becomes the call's error. A FETCH is cancelled on the server when ctx
// ends first.
//
// Calls other than FETCH that provably did not run (never written to a
// socket, unread by a server that said goodbye, or refused by a server
// shutting down) are sent again on the next connection. A FETCH returns
// its *ConnError instead, so a consumer loop sees the connection drop and
// decides.
func (c *Conn) roundTrip(ctx context.Context, op string, frame []byte, want wire.Type) ([][]byte, error) {
	payloads, _, err := c.roundTripOn(ctx, op, frame, want)
	return payloads, err
}

// roundTripOn is roundTrip that also returns the session that answered,
// for a request that leaves state on its connection (a TAIL opening a
// tail). When ctx ends after the request may have been sent, it returns
// that session with ctx's error, so the caller can undo the request.
func (c *Conn) roundTripOn(ctx context.Context, op string, frame []byte, want wire.Type) ([][]byte, *session, error) {
	payloads, s, _, err := c.roundTripFree(ctx, op, frame, want)
	return payloads, s, err
}

// roundTripFree is roundTripOn that also reports whether the frame is
// free for reuse: sent once, and its write returned (call.written, read
// after the answer, so the writer's last read of the frame happens before
// the caller's next write into it; the answer itself comes through the
// socket, which orders nothing for the memory model). After a resend a
// dead session's writer may still hold the frame.
func (c *Conn) roundTripFree(ctx context.Context, op string, frame []byte, want wire.Type) ([][]byte, *session, bool, error) {
	fetch := want == wire.TypeDeliveries
	for attempt := 1; ; attempt++ {
		s, err := c.session(ctx, op)
		if err != nil {
			return nil, nil, false, err
		}
		cl, sent, err := c.send(ctx, s, op, frame)
		if !sent {
			continue // the session just died; this call was not sent
		}
		if err != nil {
			return nil, nil, false, err
		}
		// The frame is written or queued behind the ones sent before it,
		// and the server takes a connection's PUBLISH frames in order: a
		// pipelining publisher may send its next batch (broker.OnQueued).
		broker.Queued(ctx)
		var r result
		select {
		case r = <-cl.reply:
		case <-ctx.Done():
			s.forget(cl.id)
			if fetch && cl.sent.Load() {
				s.cancel(cl.id)
			}
			return nil, s, false, ctx.Err()
		}
		payloads, err := reply(op, r, want)
		if !fetch && attempt < maxResends && notApplied(err) {
			continue
		}
		return payloads, s, attempt == 1 && cl.written.Load(), err
	}
}

// send registers a call of frame (its id is set here) on s and queues it
// for the writer; its reply comes on the call's reply channel. sent is
// false when s died first, so the call was not sent; err is set when ctx
// ended first.
func (c *Conn) send(ctx context.Context, s *session, op string, frame []byte) (cl *call, sent bool, err error) {
	cl = &call{op: op, id: c.ids.Add(1), frame: frame, reply: make(chan result, 1)}
	wire.SetID(frame, cl.id)
	if err := s.register(cl); err != nil {
		return nil, false, nil
	}
	if s.tryWrite(cl) {
		return cl, true, nil
	}
	s.unwritten.Add(1)
	select {
	case s.out <- cl:
	case <-s.dead:
		s.unwritten.Add(-1)
		// fail answers cl.
	case <-ctx.Done():
		s.unwritten.Add(-1)
		s.forget(cl.id)
		return nil, true, ctx.Err()
	}
	return cl, true, nil
}

// maxResends bounds how often one call is sent again.
const maxResends = 5

// notApplied reports whether err says the call did not run.
func notApplied(err error) bool {
	if err == nil {
		return false // the common case, without errors.As's allocation
	}
	var ce *ConnError
	return errors.As(err, &ce) && !ce.MaybeApplied
}

// reply checks a result's type: the expected one, or ERROR turned into
// the call's error.
func reply(op string, r result, want wire.Type) ([][]byte, error) {
	if r.err != nil {
		return nil, r.err
	}
	switch r.typ &^ wire.Continued {
	case want:
		return r.payloads, nil
	case wire.TypeError:
		e, err := wire.DecodeError(r.payloads[len(r.payloads)-1])
		if err != nil {
			return nil, malformedReply(op, err)
		}
		return nil, replyError(op, e)
	}
	return nil, malformedReply(op, fmt.Errorf("%w: %v answers a %s request", wire.ErrMalformed, r.typ, op))
}

// settle queues one settle item for the next batch and waits for its
// status. An item that never reached the socket of a failed connection is
// queued again on the next one.
func (c *Conn) settle(ctx context.Context, op string, kind int, item wire.SettleItem) error {
	for attempt := 1; ; attempt++ {
		s, err := c.session(ctx, op)
		if err != nil {
			return err
		}
		it := &settleItem{op: op, item: item, done: make(chan error, 1)}
		if err := s.queueSettle(kind, it); err != nil {
			continue
		}
		select {
		case err := <-it.done:
			if attempt < maxResends && notApplied(err) {
				continue
			}
			return err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// noCtx is the context of the methods that take none.
func (c *Conn) noCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), c.opts.CallTimeout)
}

// callCtx bounds a metadata call by Options.CallTimeout as well as ctx:
// a lookup a long-lived caller makes (a Tail's, a Subscribe's) must not
// wait as long as that caller's context.
func (c *Conn) callCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, c.opts.CallTimeout)
}
