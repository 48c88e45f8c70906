// Package broker is Herald's messaging core: topics, publishing, and the
// three models of an event-driven system — pub/sub, queues and streams —
// over one durable log per partition (internal/commitlog). It is an
// in-process Go API; the HTTP server and the embedded SDK both call it.
//
// # What it owns
//
//   - Topics (topics.go, topic.go): named, validated (names.go: letters,
//     digits, '.', '_', '-', starting with a letter or digit, at most 249
//     characters — nothing can reach outside the data directory), with
//     partitions that may only grow, retention, a max event size, a dedup
//     window and a byte quota. Layout on disk is drawn in layout.go.
//   - Publishing (publish.go): all-or-nothing validation, one commit-log
//     record per event (key = partitionkey, value = the cloudevent storage
//     encoding, timestamp = publish time by the broker's clock), one append
//     per partition per call, partitions appended concurrently. Keyed events
//     go to FNV-1a-32(key) mod partitions (partitioner.go; stable, part of
//     the contract); the keyless events of one call go together to one
//     partition picked round-robin per call. Broker extensions (herald*) are
//     stripped from published events.
//   - Producer dedup (dedup.go): (source, id) -> original position for the
//     topic's dedup window (default 2 minutes, as JetStream), in memory,
//     rebuilt on open by reading each partition from OffsetForTime(now -
//     window). Concurrent publishes of one id store exactly one copy.
//   - Subscriptions (subscription.go, window.go, delivery.go): durable
//     cursors over the shared log — storing an event costs the same whatever
//     the number of subscriptions. Pull delivery with leases (Fetch, Ack,
//     Nack, Extend, Reject), retry policies, ordering modes, filters,
//     delivery times, in-flight limits.
//   - Dead letters (deadletter.go) and redrive; stats (stats.go); ephemeral
//     tails (tail.go) for tailing and replay without stored state.
//
// # Models
//
// Pub/sub: every subscription of a topic sees every event. Queue: the
// consumers of one subscription share its events; an event is leased to one
// consumer at a time. Stream: a subscription starts at earliest, latest
// (default, as Kafka's auto.offset.reset and a new Pub/Sub subscription),
// an offset (applied to every partition, clamped) or a time, and Seek
// rewinds or skips it; Tail is the ephemeral form.
//
// # Delivery semantics (choices made where the issue is silent)
//
//   - At least once. Fetch is a long poll (a done context makes it a
//     non-blocking poll). Ack (and AckMany, one journal write for a batch), Nack
//     (delay, or 0 for the retry policy), Extend (renews the lease for
//     AckTimeout, default 30s) and Reject (straight to the dead-letter topic
//     with a reason). An expired lease is redelivered at once (the timeout
//     already waited) and counts as a failed attempt. Tokens are
//     "<partition>-<offset>-<lease id>"; a malformed one is ErrUnknownToken,
//     one whose lease is gone (expired, settled, rewound) ErrLeaseExpired.
//   - Retry: exponential (initial 1s, ×2, max 1m, ±20% jitter) or an
//     explicit list of delays; MaxDeliveries default 5 (-1 unlimited).
//   - Ordering (per subscription, default none as in JetStream and RabbitMQ
//     with several consumers): partition = at most one event of a partition
//     in flight, a failed event is retried before its successors (Kafka-like
//     head-of-line blocking); key = the same per (partition, key), keyless
//     events unordered; none = anything ready goes.
//   - Delivery time (the deliverat extension): the event is stored at once
//     and held back, in every subscription and tail, until its time — also
//     across restarts, since the time is in the stored event. A deferred
//     event sits outside the ordering groups and blocks nothing; when due it
//     joins its group at its offset. So delivery time reorders an event
//     later; it never delays an unrelated one. Read is a raw view of the log
//     and shows it at once.
//   - Filters (event type in a set, subject prefix) are applied when the
//     window reads the log: an event that does not match is settled without
//     delivery and costs nothing more.
//   - Backpressure: Fetch by a consumer at MaxInFlightPerConsumer fails with
//     ErrBackpressure; at the subscription's MaxInFlight (default 1000, as
//     JetStream's MaxAckPending) Fetch waits. A topic with MaxBytes refuses a
//     publish that would exceed it with ErrQuotaExceeded (a *QuotaError with
//     a Retry-After hint), counting publishes in progress.
//
// # Durable subscription state
//
// A subscription's position is a snapshot plus a journal (journal.go, the
// format drawn there): a commit log of small operations — deliver (attempt,
// lease id, deadline, consumer), extend, release (nack, reject), settle
// (ack), dead-letter intent and completion, redrive, seek. The change a call
// makes is written before it returns. Seek, reject and the dead-letter steps
// are also fsynced before it returns; deliver, ack, nack and extend are
// fsynced within ackSyncDelay (100 ms), or with the next fsynced operation:
// after a kill -9 nothing is lost, after a power cut the acks of the last
// moment are forgotten and their events delivered again (at least once).
// Lease expiry is not journaled, it follows from the journaled deadline. When the journal reaches CompactAfter
// operations, after a failed journal write, or on Close, the live state is
// written as a new snapshot (atomicfile) with a fresh journal generation.
// On open, snapshot + journal give back: acked events are never
// redelivered; leases survive with their deadline, so a consumer can still
// ack after a restart; unacked events are delivered again when their lease
// ends, with their attempt counts (so MaxDeliveries holds across restarts)
// and backoff. Leases are not lost on restart because the issue asks that
// they survive; the cost is one journal write per Fetch.
//
// # Dead letters and redrive
//
// A dead letter is the original event plus heralddlqreason, heralddlqerror,
// heralddlqattempts, heralddlqtopic, heralddlqpartition, heralddlqoffset,
// heralddlqsub and heralddlqpublished, written to partition 0 of the
// subscription's dead-letter topic (default "<topic>.<sub>.dlq", an ordinary
// topic created with the subscription) — so its offset there is its ID.
// Writing is exactly once across crashes: an intent recording where the
// dead-letter topic ended is journaled first, and recovery looks there
// before writing again. Redrive gives the events back to their subscription
// only (republishing to the topic would hit every subscription): the event
// is re-armed at its original partition and offset, body read from the dead
// letter, attempts reset; the dead letter stays, marked redriven, and a new
// one is written if it fails again. So the unredriven dead letters of a
// subscription are exactly the events it currently gives up on.
//
// # Goroutines
//
// Open starts one retention goroutine (Close stops it) and one timekeeper
// per subscription (started on create/open, stopped on delete/close): it
// runs lease expiry, backoff and delivery-time timers from a heap — no
// polling — writes dead letters and compacts the journal. Every commit log
// has its writer goroutine. Publish uses short-lived goroutines, joined
// before it returns, to append partitions concurrently. Close stops them
// all; Fetch and Stream.Next blocked in a wait return ErrClosed.
//
// # What it does not do
//
// Replication, push delivery (Fetch is a long poll; a push loop is a
// client concern), exactly-once consumption, transactions across topics,
// or ordering across partitions. The dedup index and each subscription's
// window live in memory: the window reads at most 4×MaxInFlight (256 to
// 16384) unsettled events ahead per partition — so under ordering key a
// key blocked that long can hold back keys behind it — and events deferred
// by a delivery time are kept as small entries without their body (a
// subscription with millions of scheduled events pays memory and snapshot
// size for each). A partition log that failed a write stays failed until the
// broker is reopened (commitlog's rule); a subscription journal recovers by
// compaction.
package broker
