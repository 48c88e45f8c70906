package remote

import (
	"errors"
	"fmt"

	"github.com/heraldhq/herald/internal/broker"
	"github.com/heraldhq/herald/internal/wire"
)

// ErrConnectionLost: a call failed because the connection to the server
// failed or the server shut down, not because the broker refused it.
// Errors that match it are *ConnError: retrying is safe, and the next call
// reconnects by itself.
var ErrConnectionLost = errors.New("connection to the herald server lost")

// errClosed is what calls return after Close: like the embedded broker
// after its Close, it matches broker.ErrClosed, and it is not retryable.
var errClosed = fmt.Errorf("%w: the remote connection was closed (Close was called); dial a new one", broker.ErrClosed)

// ConnError is a call cut short by the connection. It matches
// ErrConnectionLost and unwraps to its cause.
//
// Retrying is always safe in Herald, whatever MaybeApplied says:
//   - Publish: the broker deduplicates by (source, id) within the topic's
//     dedup window (default 2 minutes), so a retried publish that was in
//     fact stored answers Duplicate with the original position. Only a
//     topic with DedupWindow disabled can store such a retry twice.
//   - Fetch: subscription state lives on the server. Deliveries leased to
//     a fetch whose reply was lost come back when their lease expires;
//     fetch again.
//   - Ack, Nack, Extend, Reject: a repeat of one that was applied answers
//     ErrLeaseExpired.
//   - Admin calls: a repeated create answers ErrTopicExists or
//     ErrSubscriptionExists; the rest are reads or idempotent.
//   - Tail: a tail lives on its connection and ends with it; open a new
//     one from the last position seen.
type ConnError struct {
	// Op is the call: "publish", "fetch", "ack", "CreateTopic"...
	Op string
	// MaybeApplied is set when the request reached the socket before the
	// connection failed: the server may have applied it, and its answer
	// is lost. Clear, the server did not run it.
	MaybeApplied bool
	// Err is the cause: a network error, the server's shutdown notice, or
	// the context that ended while waiting for a connection.
	Err error
}

func (e *ConnError) Error() string {
	if e.Op == opTail {
		return fmt.Sprintf("%s: connection lost (%v): the tail ended with it; open a new one from the last position seen "+
			"(the client reconnects by itself)", e.Op, e.Err)
	}
	if !e.MaybeApplied {
		return fmt.Sprintf("%s: %v; it was not applied: retry (the client reconnects by itself)", e.Op, e.Err)
	}
	what := "it may have been applied; retrying is safe"
	switch e.Op {
	case opPublish:
		what = "the events may be stored; retrying is safe: the broker deduplicates by (source, id) within the topic's dedup window"
	case opFetch:
		what = "fetch again: deliveries leased to this fetch come back when their lease expires"
	case opAck, opNack, opExtend, opReject:
		what = "it may have been applied; retrying is safe: a repeat of an applied " + e.Op + " answers ErrLeaseExpired"
	}
	return fmt.Sprintf("%s: connection lost after the request was sent (%v): %s", e.Op, e.Err, what)
}

// Is makes every ConnError match ErrConnectionLost.
func (e *ConnError) Is(target error) bool { return target == ErrConnectionLost }

func (e *ConnError) Unwrap() error { return e.Err }

// Retryable reports that the call can be made again; it always can (see
// the type's doc).
func (e *ConnError) Retryable() bool { return true }

// IsRetryable reports whether err says the call can simply be made again:
// the connection was lost or the server shut down.
func IsRetryable(err error) bool {
	var r interface{ Retryable() bool }
	return errors.As(err, &r) && r.Retryable()
}

// The operations, as ConnError.Op names them.
const (
	opPublish = "publish"
	opFetch   = "fetch"
	opAck     = "ack"
	opNack    = "nack"
	opExtend  = "extend"
	opReject  = "reject"
	opRead    = "read"
	opTail    = "tail"
)

var errShuttingDown = errors.New("the server is shutting down")

// ErrSilent is why a connection was given up when nothing came from the
// server for two ping intervals, a ping included (Options.PingInterval):
// the server stopped answering without closing the connection. The calls
// it cuts short are *ConnError, matching ErrConnectionLost too.
var ErrSilent = errors.New("the connection went silent")

// replyError turns an ERROR from the server into the call's error. The
// server's shutdown notice becomes a retryable *ConnError, not
// broker.ErrClosed: from here the server is restarting, and only Close
// closes a Conn.
func replyError(op string, e *wire.Error) error {
	if e.Code == wire.CodeClosed {
		return &ConnError{Op: op, Err: errShuttingDown}
	}
	return e
}

// malformedReply is the error for a reply the client cannot decode.
func malformedReply(op string, err error) error {
	return fmt.Errorf("%s: the server's reply is malformed (is the server the same Herald version?): %w", op, err)
}
