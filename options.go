package herald

import (
	"log/slog"
	"os"
	"strconv"
	"time"

	"github.com/heraldhq/herald/internal/broker"
	"github.com/heraldhq/herald/internal/commitlog"
)

// Option configures a Client.
type Option func(*clientOptions)

type clientOptions struct {
	source      string
	batchSize   int
	batchBytes  int
	linger      time.Duration
	maxInFlight int
	keyFunc     func(*Event) string
	sync        commitlog.SyncPolicy
	logger      *slog.Logger
	autoCreate  bool
	callTimeout time.Duration
	pingEvery   time.Duration
}

func defaultClientOptions() clientOptions {
	host, _ := os.Hostname()
	return clientOptions{
		source:      "/herald-sdk/" + host + "/" + strconv.Itoa(os.Getpid()),
		batchSize:   1000,
		batchBytes:  1 << 20,
		linger:      2 * time.Millisecond,
		maxInFlight: 1,
		autoCreate:  true,
		logger:      slog.New(slog.DiscardHandler),
	}
}

// WithSource sets the CloudEvents source given to published events that
// have none.
func WithSource(source string) Option { return func(o *clientOptions) { o.source = source } }

// WithBatching sets how Publish batches: a batch is sent when it holds size
// events or bytes of data, or linger after its first event, whichever comes
// first. Defaults: 1000 events, 1 MiB, 2ms.
func WithBatching(size, bytes int, linger time.Duration) Option {
	return func(o *clientOptions) {
		o.batchSize, o.batchBytes, o.linger = max(1, size), max(1, bytes), max(0, linger)
	}
}

// WithMaxInFlightBatches sets how many batches of one topic may await their
// acknowledgement at once (default 1). Batches in flight together are still
// stored in publish order, so a key's events keep their order: each batch
// is sent once the one before holds its place in its partitions, and the
// server takes a connection's batches in the order they arrive (Kafka's
// max.in.flight.requests with idempotence, minus its retries). More than
// one lets the next batch travel while the previous one is fsynced, which
// helps over a slow link. The cost: if a batch fails, the batches sent
// after it may already be stored, so retrying the failed one puts its
// events after theirs; so does a batch the client resends after its
// connection dropped. Keep 1 where a key's order must survive failures.
func WithMaxInFlightBatches(n int) Option {
	return func(o *clientOptions) { o.maxInFlight = max(1, n) }
}

// WithCallTimeout bounds, for a client from Dial, each call to the server
// that has no context of its own: the lookups Tail, Replay and Subscribe
// begin with (a topic's partitions, a subscription's settings) and a
// Fetch whose context has already ended, which polls. Default 30s. A
// method's context bounds everything else.
func WithCallTimeout(d time.Duration) Option {
	return func(o *clientOptions) { o.callTimeout = max(0, d) }
}

// WithPingInterval sets, for a client from Dial, how long its connection
// may stay silent before the client pings the server. When another
// interval passes with no answer, the connection is taken for dead:
// calls waiting on it fail with an error that is retryable, Subscribe
// goes on by itself, and the next call reconnects. So a server that
// stopped answering without closing the connection (a stopped process,
// a host gone behind a half-open TCP connection) is found after two to
// three intervals. Default 15s; a negative d turns pings off.
func WithPingInterval(d time.Duration) Option {
	return func(o *clientOptions) { o.pingEvery = d }
}

// WithKeyFunc extracts the partition key of events published without one
// (the partitionkey extension). Events of one key stay in order.
func WithKeyFunc(f func(*Event) string) Option { return func(o *clientOptions) { o.keyFunc = f } }

// WithLogger sets the logger; the default discards.
func WithLogger(l *slog.Logger) Option { return func(o *clientOptions) { o.logger = l } }

// WithSyncPolicy sets, for an embedded client, when appended events are
// fsynced: "always" (the default: an acknowledged publish is on disk),
// "interval" or "none". A remote client uses the server's policy.
func WithSyncPolicy(policy string) Option {
	return func(o *clientOptions) {
		if p, err := commitlog.ParseSyncPolicy(policy); err == nil {
			o.sync = p
		}
	}
}

// SubscribeOption configures a subscription and its consumer loop.
type SubscribeOption func(*subscribeOptions)

type subscribeOptions struct {
	cfg         broker.SubscriptionConfig
	set         map[string]bool // which config fields the caller chose
	concurrency int
	prefetch    int
	consumer    string
}

func (o *subscribeOptions) mark(field string) {
	if o.set == nil {
		o.set = map[string]bool{}
	}
	o.set[field] = true
}

// Concurrency is how many handlers run at once; default 1.
func Concurrency(n int) SubscribeOption {
	return func(o *subscribeOptions) { o.concurrency = max(1, n) }
}

// Prefetch is how many deliveries may be fetched ahead of the handlers;
// default max(4 × Concurrency, 64). A fetch asks for about half of it
// (the first for all of it), and a remote subscriber keeps two fetches in
// flight, so a second long poll waits at the server when the first is
// answered (their events still reach the handlers in log order). More
// makes each fetch serve more events; with slow handlers keep it small,
// since a prefetched event's lease runs while it waits (one that expires
// is skipped and redelivered). Acks go in batches of up to Prefetch (at
// most 1,024), each sent at most 5 ms after its first ack (at once if one
// of its leases ends within 10 ms, or if a fetch is refused for
// backpressure). Prefetched events and handled ones whose acks are on
// their way count against the subscription's MaxInFlightPerConsumer; at
// that limit the broker refuses a fetch (backpressure) and Subscribe asks
// again as soon as some of its acks are answered.
func Prefetch(n int) SubscribeOption {
	return func(o *subscribeOptions) { o.prefetch = max(1, n) }
}

// ConsumerName names this consumer to the broker (leases and the
// per-consumer in-flight limit are per consumer). Default: host and pid.
func ConsumerName(name string) SubscribeOption {
	return func(o *subscribeOptions) { o.consumer = name }
}

// Ordering modes, see WithOrdering.
const (
	OrderNone      = broker.OrderNone
	OrderPartition = broker.OrderPartition
	OrderKey       = broker.OrderKey
)

// WithOrdering sets the subscription's ordering: OrderNone (default),
// OrderPartition, or OrderKey (a key's next event waits until the previous
// one is acked or dead-lettered; keys run in parallel).
func WithOrdering(mode broker.Ordering) SubscribeOption {
	return func(o *subscribeOptions) { o.cfg.Ordering = mode; o.mark("ordering") }
}

// RetryPolicy is the subscription's retry schedule; see broker.RetryPolicy.
type RetryPolicy = broker.RetryPolicy

// WithRetry sets the retry policy: exponential backoff with jitter, or an
// explicit list of delays, and the maximum number of deliveries before the
// event is dead-lettered.
func WithRetry(p RetryPolicy) SubscribeOption {
	return func(o *subscribeOptions) { o.cfg.Retry = p; o.mark("retry") }
}

// WithAckTimeout sets how long a handler may run before its event is
// redelivered elsewhere; default 30s.
func WithAckTimeout(d time.Duration) SubscribeOption {
	return func(o *subscribeOptions) { o.cfg.AckTimeout = d; o.mark("ackTimeout") }
}

// WithMaxInFlight bounds the unsettled events of the whole subscription.
func WithMaxInFlight(n int) SubscribeOption {
	return func(o *subscribeOptions) { o.cfg.MaxInFlight = n; o.mark("maxInFlight") }
}

// Filter selects events by type and subject prefix.
type Filter = broker.Filter

// WithFilter delivers only matching events; the others are skipped.
func WithFilter(f Filter) SubscribeOption {
	return func(o *subscribeOptions) { o.cfg.Filter = f; o.mark("filter") }
}

// WithDeadLetterTopic names the dead-letter topic; default
// "<topic>.<subscription>.dlq".
func WithDeadLetterTopic(name string) SubscribeOption {
	return func(o *subscribeOptions) { o.cfg.DeadLetterTopic = name; o.mark("deadLetterTopic") }
}

// StartPosition says where a new subscription starts.
type StartPosition = broker.StartPosition

// FromEarliest, FromLatest, FromOffset and FromTime are start positions.
var (
	FromEarliest = StartPosition{Kind: broker.StartEarliest}
	FromLatest   = StartPosition{Kind: broker.StartLatest}
)

// FromOffset starts every partition at offset.
func FromOffset(offset int64) StartPosition {
	return StartPosition{Kind: broker.StartOffset, Offset: offset}
}

// FromTime starts at the first event published at or after t.
func FromTime(t time.Time) StartPosition { return StartPosition{Kind: broker.StartTime, Time: t} }

// WithStart sets where a new subscription starts (default FromLatest). It
// does not move an existing subscription: use Client.Seek for that.
func WithStart(p StartPosition) SubscribeOption {
	return func(o *subscribeOptions) { o.cfg.Start = p; o.mark("start") }
}

// TailOption configures Client.Tail.
type TailOption func(*tailOptions)

type tailOptions struct {
	start        StartPosition
	startSet     bool
	partition    int // -1: every partition
	onePartition bool
	follow       bool
	filter       Filter
}

// Follow keeps Tail going after the stored events: it calls fn for each
// new event as it is published, until its context ends.
func Follow() TailOption { return func(o *tailOptions) { o.follow = true } }

// TailFrom sets where Tail starts: FromEarliest (the default), FromLatest
// (the default with Follow), FromOffset (in every partition, or in the one
// TailPartition picks) or FromTime.
func TailFrom(p StartPosition) TailOption {
	return func(o *tailOptions) { o.start, o.startSet = p, true }
}

// TailPartition makes Tail read partition p only.
func TailPartition(p int) TailOption {
	return func(o *tailOptions) { o.partition, o.onePartition = p, true }
}

// TailFilter passes only the events that match f.
func TailFilter(f Filter) TailOption { return func(o *tailOptions) { o.filter = f } }
