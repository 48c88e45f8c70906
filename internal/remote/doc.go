// Package remote is the network transport of the Go SDK: Conn implements
// Backend, the interface the SDK (package herald) needs, over the
// herald-stream/1 protocol (internal/wire) to a Herald server, so an
// application behaves the same with the broker embedded or remote.
//
// # What it owns
//
//   - Dialing (dial.go): an HTTP/1.1 Upgrade on the server's normal
//     listener (GET /v1/stream), so one port serves the JSON API and the
//     stream.
//   - Pipelining (session.go): every call is a frame with its own request
//     id; calls from any number of goroutines share one connection and
//     their replies come back in any order. A writer goroutine coalesces
//     queued frames into few writes; concurrent Acks (Nacks, Extends,
//     Rejects) are merged into one batch frame, answered item by item.
//   - Errors (errors.go): a server's refusal comes back as an error that
//     matches what the embedded broker returns — errors.Is finds the same
//     sentinels, errors.As the same *broker.FieldError (with its field),
//     *cloudevent.FieldError, *broker.QuotaError and
//     *commitlog.OutOfRangeError, and the message is the server's own.
//     The conformance tests run the same calls against both and compare.
//   - Tails (tail.go): a tail of a topic is opened on the server by a
//     TAIL and read by more TAILs, long polls whose answers are read ahead
//     into a buffer; a Next whose context ends leaves its TAIL in flight
//     for the next Next, so no event is lost between calls. A tail lives
//     on the connection that opened it and ends with it.
//   - Reconnection (conn.go): see below.
//
// # Connection loss, retry and reconnect
//
// A call cut short by the connection fails with a *ConnError, which
// matches ErrConnectionLost and has Retryable() == true, and MaybeApplied
// when the request had reached the socket. Retrying is always safe in
// Herald: a publish whose reply was lost is deduplicated by (source, id)
// within the topic's dedup window; a lost fetch's deliveries come back
// when their leases expire (and subscription positions live on the
// server, so nothing acked is lost); a repeated settle answers
// ErrLeaseExpired. Calls other than Fetch that provably did not run — not
// yet written, or pending when the server said goodbye at shutdown (it
// answers every request it read before it does) — are sent again on the
// next connection by themselves. A Fetch returns its ConnError at once, so
// a consumer loop sees the drop and calls Fetch again. A server shutting
// down answers waiting fetches this way too: ErrConnectionLost, not
// broker.ErrClosed, which only Close gives.
//
// A connection can also fail silently: a server process stopped or stuck,
// or a host gone behind a half-open TCP connection, where TCP keepalive
// is slow or, with the server's kernel still answering, blind. A session's
// watchdog pings a connection it has read nothing from for
// Options.PingInterval (default 15s) and fails the session when another
// interval brings nothing either (ErrSilent, inside a *ConnError).
//
// The first call after a drop reconnects: one dial at a time, the other
// callers waiting for it; failed attempts are spaced by exponential
// backoff with jitter (Options.MinBackoff up to MaxBackoff); a call waits
// for a connection at most ReconnectTimeout and its context.
//
// # Flow control
//
// Fetch's max is the consumer's credit. The server admits 256 outstanding
// requests per connection and then stops reading it, so TCP backpressure
// reaches callers as a wait to send. A waiting Fetch counts as outstanding
// (for at most 30s per round on the server): keep long polls per Conn well
// below that limit, or their settles queue behind them.
//
// # Goroutines
//
// Each connection has a reader goroutine (routes replies to calls; never
// blocks on a caller), a writer goroutine (owns every write) and, unless
// pings are off, a watchdog (wakes once a PingInterval). They are
// started by the dial and end when the connection fails or Close is
// called; Close waits for them, and nothing runs between connections.
// Callers block only on their own reply, the writer's queue (TCP
// backpressure reaching them) and their context.
//
// # What it does not do
//
// Load balancing or several connections (one Conn is one connection;
// dial more for more), TLS configuration beyond https:// with the system
// roots, authentication (Herald has none), or retrying a call that may
// have been applied: that choice is the caller's, helped by ConnError.
// One Publish carries at most 16 MiB of encoded events (one frame), and a
// Read that fails returns no events, where the embedded broker returns
// those it read before the error.
package remote
