package cli

import (
	"context"
	"fmt"
	"github.com/heraldhq/herald/internal/broker"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/heraldhq/herald/cloudevent"
	"github.com/heraldhq/herald/internal/server"
)

// tail and consume speak the streaming protocol through the SDK, so their
// tests run against a real server, in process on a loopback port, with
// its data in a temporary directory.

// testServer is a running server.
type testServer struct {
	t      *testing.T
	url    string
	cancel context.CancelFunc
	done   chan error
}

func startServer(t *testing.T) *testServer {
	t.Helper()
	cfg := server.DefaultConfig()
	cfg.DataDir, cfg.Listen, cfg.Sync = t.TempDir(), "127.0.0.1:0", "none"
	cfg.AutoCreateTopics = false
	cfg.ShutdownTimeout = 5 * time.Second
	srv, err := server.New(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &testServer{t: t, cancel: cancel, done: make(chan error, 1)}
	ready := make(chan net.Addr, 1)
	go func() { s.done <- srv.Run(ctx, func(a net.Addr) { ready <- a }) }()
	select {
	case a := <-ready:
		s.url = "http://" + a.String()
	case err := <-s.done:
		cancel()
		t.Fatalf("the server did not start: %v", err)
	case <-time.After(waitLimit):
		cancel()
		t.Fatal("the server was not ready in time")
	}
	t.Cleanup(s.stop)
	return s
}

// stop shuts the server down gracefully and waits for it; stopping a
// stopped server does nothing.
func (s *testServer) stop() {
	s.t.Helper()
	s.cancel()
	select {
	case err, ok := <-s.done:
		if ok {
			close(s.done)
		}
		if err != nil {
			s.t.Errorf("the server stopped with: %v", err)
		}
	case <-time.After(waitLimit):
		s.t.Error("the server did not stop in time")
	}
}

// api is an HTTP client of the server, for setting up and checking what
// the commands did.
func (s *testServer) api() *Client {
	s.t.Helper()
	c, err := newClient(s.url, waitLimit)
	if err != nil {
		s.t.Fatal(err)
	}
	s.t.Cleanup(c.close)
	return c
}

// orderEvent is event n of partition p of topic orders: id e-p-n, type
// OrderPlaced, subject eu/n, data {"n": n}, keyed into partition p of
// partitions.
func orderEvent(p, n, partitions int) cloudevent.Event {
	return cloudevent.Event{ID: fmt.Sprintf("e-%d-%d", p, n), Source: "/shop", SpecVersion: "1.0",
		Type: "OrderPlaced", Subject: fmt.Sprintf("eu/%d", n), DataContentType: "application/json",
		Data: fmt.Appendf(nil, `{"n": %d}`, n), Extensions: map[string]string{"partitionkey": keyFor(p, partitions)}}
}

// keyFor returns a partition key the broker places in partition p of n.
func keyFor(p, n int) string {
	for i := 0; ; i++ {
		if k := fmt.Sprint("k", i); broker.PartitionForKey(k, n) == p {
			return k
		}
	}
}

// ordersTopic creates topic orders with one partition per size and
// publishes sizes[p] events (orderEvent) to partition p.
func (s *testServer) ordersTopic(sizes ...int) {
	s.t.Helper()
	ctx := context.Background()
	api := s.api()
	n := len(sizes)
	if _, _, err := api.CreateTopic(ctx, "orders", TopicConfig{Partitions: &n}); err != nil {
		s.t.Fatal(err)
	}
	for p, size := range sizes {
		s.publish(p, size, n)
	}
}

// publish stores count more events in partition p of orders (of
// partitions), numbered from what the partition holds.
func (s *testServer) publish(p, count, partitions int) {
	s.t.Helper()
	if count == 0 {
		return
	}
	ctx := context.Background()
	api := s.api()
	t, err := api.Topic(ctx, "orders")
	if err != nil {
		s.t.Fatal(err)
	}
	first := 0
	for _, o := range t.Offsets {
		if o.Partition == p {
			first = int(o.Next)
		}
	}
	var evs []cloudevent.Event
	for i := range count {
		evs = append(evs, orderEvent(p, first+i, partitions))
	}
	res, err := api.Publish(ctx, "orders", evs)
	if err != nil {
		s.t.Fatal(err)
	}
	for _, r := range res {
		if r.Partition != p {
			s.t.Fatalf("event %s went to partition %d, want %d", r.ID, r.Partition, p)
		}
	}
}
