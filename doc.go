// Package herald is the Go SDK for Herald, the event broker and event store.
//
// One Client type, two constructors: Open runs Herald inside your process
// on a data directory (no server, same guarantees), Dial connects to a
// `herald serve` over its streaming protocol. Code written against one runs
// unchanged on the other; the same behaviour suite tests both.
//
// The reliability patterns are the defaults:
//
//   - Publish is asynchronous and batched (size and linger), and returns a
//     future; an event without an id gets a random one, so a retry after a
//     lost reply is deduplicated by the broker instead of stored twice.
//     PublishSync waits for the acknowledgement, which (with the default
//     sync policy) means the event is fsynced.
//   - Subscribe runs a handler per event with bounded concurrency:
//     returning nil acknowledges it, returning an error nacks it so it is
//     retried under the subscription's backoff policy, and an error wrapped
//     with Permanent sends it straight to the dead-letter topic. Ordering
//     (per partition or per key) and the in-flight limit are enforced by
//     the broker, so concurrency never breaks them. Cancelling the context
//     stops fetching and waits for in-flight handlers to finish and settle.
//   - Remote clients reconnect by themselves; subscription positions live
//     on the server, so a reconnect never loses an acknowledged position.
//
// What it does not do: exactly-once handler execution. A handler can run
// more than once for one event (a crash before its ack, a lease that
// expired); make handlers idempotent, for example by the event id.
package herald
