package main

import (
	"context"
	"fmt"
	"time"
)

// system is one system under test in one durability setting, such as
// "NATS JetStream with sync_interval: always". It starts a fresh server with
// an empty data directory for every run and stops it afterwards.
type system interface {
	Kind() string       // "herald", "nats" or "redis", as --only names it
	Label() string      // the name in the table
	Durability() string // what an acknowledged event survives, in a few words
	// Run performs one repetition of r against a fresh server whose data
	// lives in dir, and stops the server before it returns.
	Run(ctx context.Context, dir string, r row) (result, error)
}

// broker is a running peer (NATS or Redis) as the workload drivers use
// it: the drivers are written once, so every peer is measured the same way.
type broker interface {
	// producer opens a client connection that keeps at most window events
	// unacknowledged. onAck, if not nil, is called once per acknowledged
	// event with the time passed to publishAsync, from one goroutine at a
	// time; it has been called for every event when flush returns.
	producer(ctx context.Context, window int, onAck func(sentAt time.Time)) (producer, error)
	// subscribe creates a durable subscription named name on the bench
	// topic that starts at the first event ever published, and starts
	// delivering: onEvent (if not nil) is called for each event, from one
	// goroutine, before the event is acknowledged on its own. fetch is how
	// many events one read asks for.
	subscribe(ctx context.Context, name string, fetch int, onEvent func(payload []byte)) (subscription, error)
	// close stops the server and removes nothing (the caller owns dir).
	close()
}

// producer publishes events on one connection. It is used by one goroutine.
type producer interface {
	// publishAsync sends payload, or queues it to go with the next ones;
	// it blocks while window events are unacknowledged. The payload must
	// not change until flush returns.
	publishAsync(ctx context.Context, payload []byte, sentAt time.Time) error
	// sendQueued sends whatever publishAsync queued (it may wait for the
	// acknowledgements to do so).
	sendQueued(ctx context.Context) error
	// flush sends whatever is queued and waits until every event published
	// so far is acknowledged; it returns the first publish error.
	flush(ctx context.Context) error
	// publishSync sends one event and waits for its acknowledgement.
	publishSync(ctx context.Context, payload []byte) error
	close()
}

// subscription delivers events to its onEvent from its own goroutine,
// which it owns: close stops it and waits for it.
type subscription interface {
	// waitFor returns when total events (counted since subscribe) have been
	// delivered and their acknowledgements have reached the server.
	waitFor(ctx context.Context, total int) error
	close()
}

// brokerSystem is a peer system: a way to start a fresh broker, run through
// the shared workload drivers.
type brokerSystem struct {
	kind, label, durability string
	start                   func(ctx context.Context, dir string) (broker, error)
	limits                  limits
}

// limits bound every run in time, beside its event count.
type limits struct {
	maxRun time.Duration // producers stop sending after this long
}

func (s *brokerSystem) Kind() string       { return s.kind }
func (s *brokerSystem) Label() string      { return s.label }
func (s *brokerSystem) Durability() string { return s.durability }

func (s *brokerSystem) Run(ctx context.Context, dir string, r row) (result, error) {
	b, err := s.start(ctx, dir)
	if err != nil {
		return result{}, fmt.Errorf("start %s: %w", s.label, err)
	}
	defer b.close()
	switch r.Workload {
	case 1:
		return runPublish(ctx, b, r, s.limits)
	case 2:
		return runSyncPublish(ctx, b, r, s.limits)
	case 3:
		return runConsume(ctx, b, r, s.limits)
	case 4:
		return runEndToEnd(ctx, b, r, s.limits)
	case 5:
		return runFanOut(ctx, b, r, s.limits)
	}
	return result{}, fmt.Errorf("workload %d does not exist", r.Workload)
}
