package broker

import (
	"errors"
	"fmt"
	"time"
)

// Sentinel errors. Callers branch on them with errors.Is; the HTTP layer
// maps each to one status code. Every error the broker returns wraps at most
// one of them and says, in its message, what to do next.
var (
	// ErrInvalid: a request or configuration is malformed (HTTP 400). Errors
	// that match it are usually *FieldError and name the offending field.
	ErrInvalid = errors.New("invalid request")
	// ErrTopicNotFound: no topic has that name (404).
	ErrTopicNotFound = errors.New("topic not found")
	// ErrTopicExists: CreateTopic found the name taken (409).
	ErrTopicExists = errors.New("topic already exists")
	// ErrSubscriptionNotFound: the topic has no subscription of that name (404).
	ErrSubscriptionNotFound = errors.New("subscription not found")
	// ErrSubscriptionExists: CreateSubscription found the name taken (409).
	ErrSubscriptionExists = errors.New("subscription already exists")
	// ErrQuotaExceeded: the topic's byte quota would be exceeded. Retryable
	// once retention frees space or the quota is raised (429 + Retry-After);
	// errors matching it are *QuotaError.
	ErrQuotaExceeded = errors.New("topic byte quota exceeded")
	// ErrBackpressure: the consumer already holds as many leases as its
	// MaxInFlightPerConsumer allows; ack or nack some first (429).
	ErrBackpressure = errors.New("too many events in flight")
	// ErrUnknownToken: the delivery token is malformed or names no
	// partition of the topic (409). It was not produced by this broker.
	ErrUnknownToken = errors.New("unknown delivery token")
	// ErrLeaseExpired: the token is well formed but its lease is no longer
	// held: it expired (the event will be or was redelivered), the event was
	// already settled, or the subscription was rewound (410).
	ErrLeaseExpired = errors.New("lease expired or no longer held")
	// ErrEventTooLarge: an encoded event exceeds the topic's MaxEventBytes (413).
	ErrEventTooLarge = errors.New("event too large")
	// ErrClosed: the broker is closed (503).
	ErrClosed = errors.New("broker is closed")
)

// FieldError says which field of a request or configuration is wrong and
// why. It matches ErrInvalid. Field uses the JSON name, dotted for nested
// fields ("retry.maxDeliveries", "events[3].type").
type FieldError struct {
	Field  string
	Reason string
	// Err is the underlying error, when another package found the problem
	// (a *cloudevent.FieldError for an invalid event).
	Err error
}

func (e *FieldError) Error() string {
	return fmt.Sprintf("invalid %s: %s", e.Field, e.Reason)
}

// Is makes every FieldError match ErrInvalid.
func (e *FieldError) Is(target error) bool { return target == ErrInvalid }

func (e *FieldError) Unwrap() error { return e.Err }

func fieldErr(field, format string, args ...any) *FieldError {
	return &FieldError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// QuotaError reports a refused publish. RetryAfter is a hint for the HTTP
// Retry-After header: retention may free space by then.
type QuotaError struct {
	Topic      string
	MaxBytes   int64
	Used       int64
	Requested  int64
	RetryAfter time.Duration
}

func (e *QuotaError) Error() string {
	return fmt.Sprintf("topic %q byte quota exceeded: %d bytes stored, %d requested, quota %d; "+
		"retry later (retention frees space) or raise maxBytes", e.Topic, e.Used, e.Requested, e.MaxBytes)
}

// Is makes every QuotaError match ErrQuotaExceeded.
func (e *QuotaError) Is(target error) bool { return target == ErrQuotaExceeded }

func topicNotFound(name string) error {
	return fmt.Errorf("%w: %q (create it first, or enable AutoCreateTopics)", ErrTopicNotFound, name)
}

func subNotFound(topic, name string) error {
	return fmt.Errorf("%w: %q on topic %q (create it first)", ErrSubscriptionNotFound, name, topic)
}
