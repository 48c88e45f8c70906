package herald

import (
	"errors"
	"fmt"
	"time"

	"github.com/heraldhq/herald/internal/broker"
	"github.com/heraldhq/herald/internal/remote"
)

// Errors a caller branches on with errors.Is. They are the broker's own,
// so embedded and remote clients return the same ones.
var (
	ErrTopicNotFound        = broker.ErrTopicNotFound
	ErrSubscriptionNotFound = broker.ErrSubscriptionNotFound
	ErrInvalid              = broker.ErrInvalid
	ErrQuotaExceeded        = broker.ErrQuotaExceeded
	ErrEventTooLarge        = broker.ErrEventTooLarge
	ErrTopicExists          = broker.ErrTopicExists
	ErrSubscriptionExists   = broker.ErrSubscriptionExists
	// ErrClosed: the client was closed.
	ErrClosed = errors.New("herald: client is closed")
	// ErrConnectionLost (a client from Dial): the call was cut short by
	// the connection to the server, which failed, went silent
	// (WithPingInterval) or was closed by a server shutting down; the
	// broker did not refuse it. Retrying is safe (a publish is
	// deduplicated, a fetch's leases come back), and the next call
	// reconnects by itself.
	ErrConnectionLost = remote.ErrConnectionLost
)

// PublishError is why a publish failed, and whether trying again is safe.
type PublishError struct {
	Topic string
	Err   error
	// Retryable: the publish may succeed later (quota, backpressure, a lost
	// connection, a context that ended first). A retry of the same event
	// (same source and id) is safe even if the first attempt was stored:
	// the broker deduplicates it within the topic's dedup window.
	Retryable bool
	// IDs are the ids the failed call gave its events, in order, those the
	// client made up for events without one included: the event of a
	// Publish or PublishSync, every event of a PublishBatch. Set them on
	// the events to retry without storing any twice. Empty when the call
	// failed before the events had ids (an invalid event).
	IDs []string
}

func (e *PublishError) Error() string {
	hint := "not retryable: fix the event or the topic"
	if e.Retryable {
		hint = "retryable: publishing the same event again is safe (deduplicated by source and id)"
		if len(e.IDs) > 1 {
			hint = "retryable: publishing the same events again is safe (deduplicated by source and id)"
		}
	}
	return fmt.Sprintf("herald: publish%s to %q failed (%s): %v", e.naming(), e.Topic, hint, e.Err)
}

// naming names the events of the failed call in its message, for a log
// to say which: one id, or a batch's count, first and last id.
func (e *PublishError) naming() string {
	switch n := len(e.IDs); n {
	case 0:
		return ""
	case 1:
		return fmt.Sprintf(" of event %q", e.IDs[0])
	default:
		return fmt.Sprintf(" of %d events (ids %q to %q)", n, e.IDs[0], e.IDs[n-1])
	}
}

func (e *PublishError) Unwrap() error { return e.Err }

// retryable reports whether an error from the backend is worth retrying.
func retryable(err error) bool {
	var r interface{ Retryable() bool }
	if errors.As(err, &r) {
		return r.Retryable()
	}
	return errors.Is(err, broker.ErrQuotaExceeded) || errors.Is(err, broker.ErrBackpressure)
}

// permanentError marks a handler error that must not be retried.
type permanentError struct{ err error }

func (e permanentError) Error() string { return e.err.Error() }
func (e permanentError) Unwrap() error { return e.err }

// Permanent wraps a handler error so the event goes straight to the
// dead-letter topic (reject) instead of being retried: for events that can
// never succeed, such as a payload that does not parse.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return permanentError{err}
}

// retryAfterError asks for a specific retry delay.
type retryAfterError struct {
	err   error
	delay time.Duration
}

func (e retryAfterError) Error() string { return e.err.Error() }
func (e retryAfterError) Unwrap() error { return e.err }

// RetryAfter wraps a handler error so the event is retried after delay
// instead of the subscription's backoff (for example, a rate limit that
// says when to come back).
func RetryAfter(err error, delay time.Duration) error {
	if err == nil {
		return nil
	}
	return retryAfterError{err, delay}
}
