// Package loadgen is `herald bench`: a load generator that drives Herald
// through the Go SDK, so what it measures is what an application gets.
//
// Modes: publish (throughput, or latency with --sync or --rate), consume
// (a backlog drained with one ack per event), e2e (publish-to-delivery
// latency at a fixed rate, measured from the intended send time so a
// stalled server cannot hide its stall: no coordinated omission). With
// --subscriptions N, publish also runs N subscriptions that each receive
// everything (fan-out) and reports their aggregate delivery rate.
//
// The summary's last line with --json is one JSON object with at least
// events_per_sec, mib_per_sec, p50_us, p90_us, p99_us, p999_us: the
// comparison harness in bench/ reads it.
package loadgen
