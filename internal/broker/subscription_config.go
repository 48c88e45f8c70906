package broker

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Ordering says which deliveries of a subscription may be in flight
// together.
type Ordering string

const (
	// OrderNone delivers any ready event to any consumer: maximum
	// parallelism, no order. The default, as in JetStream and RabbitMQ
	// queues with several consumers.
	OrderNone Ordering = "none"
	// OrderPartition keeps strict order per partition: at most one event of
	// a partition is in flight, and a failed event is retried before the
	// next one of its partition is delivered (head-of-line blocking, as a
	// Kafka consumer sees it).
	OrderPartition Ordering = "partition"
	// OrderKey keeps strict order per partition key with parallelism across
	// keys: a key's next event waits until the previous one is acked or
	// dead-lettered. Events without a key are not ordered.
	OrderKey Ordering = "key"
)

// StartKind says where a subscription or a tail starts reading.
type StartKind string

const (
	// StartLatest: only events published from now on (Kafka's
	// auto.offset.reset=latest, a new Google Pub/Sub subscription). The
	// default.
	StartLatest StartKind = "latest"
	// StartEarliest: everything still stored.
	StartEarliest StartKind = "earliest"
	// StartOffset: StartPosition.Offset in every partition, clamped to what
	// is stored.
	StartOffset StartKind = "offset"
	// StartTime: in every partition, the first event published at or after
	// StartPosition.Time.
	StartTime StartKind = "time"
)

// StartPosition is where reading starts.
type StartPosition struct {
	Kind   StartKind `json:"kind,omitempty"`
	Offset int64     `json:"offset,omitempty"`
	Time   time.Time `json:"time,omitzero"`
}

// Validate checks the position; field prefixes errors ("start.").
func (p StartPosition) validate(field string) error {
	switch p.Kind {
	case "", StartLatest, StartEarliest:
	case StartOffset:
		if p.Offset < 0 {
			return fieldErr(field+".offset", "%d: must not be negative", p.Offset)
		}
	case StartTime:
		if p.Time.IsZero() {
			return fieldErr(field+".time", "required when kind is %q", StartTime)
		}
	default:
		return fieldErr(field+".kind", "%q: use latest, earliest, offset or time", p.Kind)
	}
	return nil
}

// Filter selects the events a subscription receives. Events that do not
// match are skipped (settled without delivery). An empty filter matches
// everything.
type Filter struct {
	// Types: the event type must be one of these (exact match); empty
	// matches every type.
	Types []string `json:"types,omitempty"`
	// SubjectPrefix: the event subject must start with it.
	SubjectPrefix string `json:"subjectPrefix,omitempty"`
}

const maxFilterTypes = 256

func (f Filter) validate(field string) error {
	if len(f.Types) > maxFilterTypes {
		return fieldErr(field+".types", "%d types, the limit is %d", len(f.Types), maxFilterTypes)
	}
	for i, t := range f.Types {
		if t == "" {
			return fieldErr(fmt.Sprintf("%s.types[%d]", field, i), "must not be empty")
		}
	}
	return nil
}

// Match reports whether an event with this type and subject passes.
func (f Filter) Match(typ, subject string) bool {
	if len(f.Types) > 0 {
		found := false
		for _, t := range f.Types {
			if t == typ {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return strings.HasPrefix(subject, f.SubjectPrefix)
}

// RetryPolicy says when a failed event is delivered again and when it gives
// up. A failure is a nack, or a lease that expired (an expired lease is
// redelivered at once: the ack timeout already waited).
type RetryPolicy struct {
	// Initial is the delay after the first failure; default 1s.
	Initial time.Duration `json:"initial,omitempty"`
	// Multiplier grows the delay after each further failure; default 2.
	Multiplier float64 `json:"multiplier,omitempty"`
	// Max caps the delay; default 1 minute.
	Max time.Duration `json:"max,omitempty"`
	// Jitter randomizes each delay by up to ± this fraction, so that
	// consumers failing together do not retry together; default 0.2, a
	// negative value turns it off.
	Jitter float64 `json:"jitter,omitempty"`
	// Delays, when set, replaces the exponential schedule: failure n waits
	// Delays[n-1], the last entry repeating. No jitter is applied.
	Delays []time.Duration `json:"delays,omitempty"`
	// MaxDeliveries is how many times an event is delivered before it goes
	// to the dead-letter topic; default 5, Unlimited (-1) never gives up.
	MaxDeliveries int `json:"maxDeliveries,omitempty"`
}

// Unlimited turns off MaxDeliveries.
const Unlimited = -1

// Built-in subscription defaults.
const (
	DefaultAckTimeout    = 30 * time.Second
	DefaultRetryInitial  = time.Second
	DefaultRetryFactor   = 2.0
	DefaultRetryMax      = time.Minute
	DefaultRetryJitter   = 0.2
	DefaultMaxDeliveries = 5
	DefaultMaxInFlight   = 1000

	MaxAckTimeout  = 12 * time.Hour
	maxRetryDelay  = 24 * time.Hour
	maxRetryDelays = 64
	MaxInFlight    = 1 << 20
)

func (r RetryPolicy) withDefaults() RetryPolicy {
	if r.Initial == 0 {
		r.Initial = DefaultRetryInitial
	}
	if r.Multiplier == 0 {
		r.Multiplier = DefaultRetryFactor
	}
	if r.Max == 0 {
		r.Max = max(DefaultRetryMax, r.Initial)
	}
	if r.Jitter == 0 {
		r.Jitter = DefaultRetryJitter
	}
	if r.Jitter < 0 {
		r.Jitter = 0
	}
	if r.MaxDeliveries == 0 {
		r.MaxDeliveries = DefaultMaxDeliveries
	}
	return r
}

func (r RetryPolicy) validate(field string) error {
	var errs []error
	add := func(f, format string, args ...any) { errs = append(errs, fieldErr(field+"."+f, format, args...)) }
	if r.Initial < 0 || r.Initial > maxRetryDelay {
		add("initial", "%v: must be between 0 and %v", r.Initial, maxRetryDelay)
	}
	if r.Multiplier != 0 && (r.Multiplier < 1 || r.Multiplier > 100) {
		add("multiplier", "%v: must be between 1 and 100", r.Multiplier)
	}
	if r.Max < 0 || r.Max > maxRetryDelay {
		add("max", "%v: must be between 0 and %v", r.Max, maxRetryDelay)
	}
	if r.Max > 0 && r.Initial > r.Max {
		add("max", "%v is below initial %v", r.Max, r.Initial)
	}
	if r.Jitter > 1 {
		add("jitter", "%v: must be at most 1 (a fraction of the delay)", r.Jitter)
	}
	if len(r.Delays) > maxRetryDelays {
		add("delays", "%d delays, the limit is %d", len(r.Delays), maxRetryDelays)
	}
	for i, d := range r.Delays {
		if d < 0 || d > maxRetryDelay {
			add(fmt.Sprintf("delays[%d]", i), "%v: must be between 0 and %v", d, maxRetryDelay)
		}
	}
	if r.MaxDeliveries < Unlimited {
		add("maxDeliveries", "%d: must be positive, or -1 (unlimited)", r.MaxDeliveries)
	}
	return errors.Join(errs...)
}

// SubscriptionConfig configures a subscription. Zero fields take the
// defaults named on each field.
type SubscriptionConfig struct {
	Filter Filter `json:"filter,omitzero"`
	// Ordering: none (default), partition or key.
	Ordering Ordering `json:"ordering,omitempty"`
	// Start is where a new subscription begins; default latest. It is used
	// only by CreateSubscription: move an existing one with Seek.
	Start StartPosition `json:"start,omitzero"`
	// AckTimeout is how long a lease lasts before the event is redelivered;
	// default 30s. Extend renews it.
	AckTimeout time.Duration `json:"ackTimeout,omitempty"`
	Retry      RetryPolicy   `json:"retry,omitzero"`
	// MaxInFlight bounds the leases held across all consumers; default 1000
	// (JetStream's MaxAckPending). Fetch waits while it is reached.
	MaxInFlight int `json:"maxInFlight,omitempty"`
	// MaxInFlightPerConsumer bounds the leases one consumer holds; default
	// MaxInFlight. Fetch by a consumer at its limit fails with
	// ErrBackpressure.
	MaxInFlightPerConsumer int `json:"maxInFlightPerConsumer,omitempty"`
	// DeadLetterTopic receives events that exhausted their deliveries or
	// were rejected; default "<topic>.<subscription>.dlq". It is created
	// when missing; it must differ from the subscription's topic.
	DeadLetterTopic string `json:"deadLetterTopic,omitempty"`
}

// DeadLetterTopicName is the default dead-letter topic of a subscription.
func DeadLetterTopicName(topic, sub string) string { return topic + "." + sub + ".dlq" }

func (c SubscriptionConfig) withDefaults(topic, name string) SubscriptionConfig {
	if c.Ordering == "" {
		c.Ordering = OrderNone
	}
	if c.Start.Kind == "" {
		c.Start.Kind = StartLatest
	}
	if c.AckTimeout == 0 {
		c.AckTimeout = DefaultAckTimeout
	}
	c.Retry = c.Retry.withDefaults()
	if c.MaxInFlight == 0 {
		c.MaxInFlight = DefaultMaxInFlight
	}
	if c.MaxInFlightPerConsumer == 0 {
		c.MaxInFlightPerConsumer = c.MaxInFlight
	}
	if c.DeadLetterTopic == "" {
		c.DeadLetterTopic = DeadLetterTopicName(topic, name)
	}
	return c
}

// Validate reports every field that cannot work, before defaults are
// applied (zero fields are valid).
func (c SubscriptionConfig) Validate() error {
	var errs []error
	switch c.Ordering {
	case "", OrderNone, OrderPartition, OrderKey:
	default:
		errs = append(errs, fieldErr("ordering", "%q: use none, partition or key", c.Ordering))
	}
	errs = append(errs, c.Filter.validate("filter"), c.Start.validate("start"), c.Retry.validate("retry"))
	if c.AckTimeout < 0 || c.AckTimeout > MaxAckTimeout {
		errs = append(errs, fieldErr("ackTimeout", "%v: must be between 1ms and %v", c.AckTimeout, MaxAckTimeout))
	} else if c.AckTimeout > 0 && c.AckTimeout < time.Millisecond {
		errs = append(errs, fieldErr("ackTimeout", "%v: must be at least 1ms", c.AckTimeout))
	}
	if c.MaxInFlight < 0 || c.MaxInFlight > MaxInFlight {
		errs = append(errs, fieldErr("maxInFlight", "%d: must be between 1 and %d", c.MaxInFlight, MaxInFlight))
	}
	if c.MaxInFlightPerConsumer < 0 || c.MaxInFlightPerConsumer > MaxInFlight {
		errs = append(errs, fieldErr("maxInFlightPerConsumer", "%d: must be between 1 and %d", c.MaxInFlightPerConsumer, MaxInFlight))
	}
	if c.DeadLetterTopic != "" {
		if err := ValidateName("deadLetterTopic", c.DeadLetterTopic); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// validateFor adds the checks that need the topic and subscription names.
func (c SubscriptionConfig) validateFor(topic, name string) error {
	if err := c.Validate(); err != nil {
		return err
	}
	d := c.withDefaults(topic, name)
	if d.DeadLetterTopic == topic {
		return fieldErr("deadLetterTopic", "%q is the subscription's own topic: dead letters would be delivered again", topic)
	}
	if err := ValidateName("deadLetterTopic", d.DeadLetterTopic); err != nil {
		return fieldErr("deadLetterTopic", "the default name %s is too long: set deadLetterTopic explicitly", quoteName(d.DeadLetterTopic))
	}
	return nil
}
