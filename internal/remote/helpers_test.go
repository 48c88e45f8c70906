package remote

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald/cloudevent"
	"github.com/heraldhq/herald/internal/broker"
	"github.com/heraldhq/herald/internal/server"
	"github.com/heraldhq/herald/internal/wire"
)

// waitLimit bounds every wait on a signal in these tests.
const waitLimit = 20 * time.Second

// testServer is a real Herald server, in process, on a loopback port.
type testServer struct {
	t      testing.TB
	dir    string
	addr   string // host:port it listens on
	url    string
	cancel context.CancelFunc
	done   chan error
}

// serverConfig is the configuration every test server starts from: no
// auto-created topics, so a missing topic is an error the tests can see.
func serverConfig(dir, listen string) server.Config {
	cfg := server.DefaultConfig()
	cfg.DataDir = dir
	cfg.Listen = listen
	cfg.AutoCreateTopics = false
	cfg.ShutdownTimeout = 5 * time.Second
	return cfg
}

// startServer runs a server with data in dir, listening on listen
// ("127.0.0.1:0" for any port), and waits until it is ready.
func startServer(t testing.TB, dir, listen string) *testServer {
	t.Helper()
	return startServerConfig(t, serverConfig(dir, listen))
}

func startServerConfig(t testing.TB, cfg server.Config) *testServer {
	t.Helper()
	log := slog.New(slog.DiscardHandler)
	if os.Getenv("HERALD_TEST_LOG") != "" {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	srv, err := server.New(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ts := &testServer{t: t, dir: cfg.DataDir, cancel: cancel, done: make(chan error, 1)}
	ready := make(chan net.Addr, 1)
	go func() { ts.done <- srv.Run(ctx, func(a net.Addr) { ready <- a }) }()
	select {
	case a := <-ready:
		ts.addr = a.String()
		ts.url = "http://" + ts.addr
	case err := <-ts.done:
		cancel()
		t.Fatalf("server exited before it was ready: %v", err)
	case <-time.After(waitLimit):
		cancel()
		t.Fatal("server not ready in time")
	}
	t.Cleanup(func() { ts.stop() })
	return ts
}

// stop shuts the server down gracefully and waits for Run to return.
func (ts *testServer) stop() {
	ts.t.Helper()
	ts.cancel()
	select {
	case err, ok := <-ts.done:
		if ok && err != nil {
			ts.t.Errorf("server stopped with %v", err)
		}
		if ok {
			close(ts.done)
		}
	case <-time.After(waitLimit):
		ts.t.Fatal("server did not stop in time")
	}
}

// dial connects a Conn, closed when the test ends.
func dial(t testing.TB, url string) *Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	c, err := Dial(ctx, url, Options{MinBackoff: 10 * time.Millisecond, MaxBackoff: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// testCtx is a context bounded by waitLimit.
func testCtx(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	t.Cleanup(cancel)
	return ctx
}

var eventSeq atomic.Int64

// newEvent is a valid event with a unique id and data of n bytes.
func newEvent(n int) cloudevent.Event {
	data := make([]byte, n)
	for i := range data {
		data[i] = 'a' + byte(i%26)
	}
	return cloudevent.Event{ID: fmt.Sprintf("ev-%d", eventSeq.Add(1)), Source: "urn:test", SpecVersion: "1.0",
		Type: "com.example.test", DataContentType: "text/plain", Data: data}
}

func newEvents(count, size int) []cloudevent.Event {
	out := make([]cloudevent.Event, count)
	for i := range out {
		out[i] = newEvent(size)
	}
	return out
}

// mustTopic creates a topic.
func mustTopic(t testing.TB, b Backend, name string, cfg broker.TopicConfig) {
	t.Helper()
	if _, err := b.CreateTopic(testCtx(t), name, cfg); err != nil {
		t.Fatal(err)
	}
}

// mustSub creates a subscription.
func mustSub(t testing.TB, b Backend, topic, name string, cfg broker.SubscriptionConfig) {
	t.Helper()
	if _, err := b.CreateSubscription(testCtx(t), topic, name, cfg); err != nil {
		t.Fatal(err)
	}
}

// fetchN fetches until n deliveries arrived.
func fetchN(t testing.TB, b Backend, topic, sub string, n int) []broker.Delivery {
	t.Helper()
	ctx := testCtx(t)
	var out []broker.Delivery
	for len(out) < n {
		ds, err := b.Fetch(ctx, topic, sub, "c1", n-len(out))
		if err != nil {
			t.Fatalf("fetch after %d of %d deliveries: %v", len(out), n, err)
		}
		out = append(out, ds...)
	}
	return out
}

// openBroker opens an embedded broker, for comparing behaviours.
func openBroker(t testing.TB) *broker.Broker {
	t.Helper()
	b, err := broker.Open(broker.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// waitDead waits until c has seen its connection die.
func waitDead(t testing.TB, c *Conn) {
	t.Helper()
	c.mu.Lock()
	s := c.cur
	c.mu.Unlock()
	if s == nil {
		return
	}
	select {
	case <-s.dead:
	case <-time.After(waitLimit):
		t.Fatal("the client did not notice the connection drop")
	}
}

// proxy forwards stream connections to a server, frame by frame, so a
// test can see requests go by and cut connections at chosen frames.
type proxy struct {
	t      testing.TB
	ln     net.Listener
	target string
	// onFrame, if set, sees every frame; toServer says its direction.
	// Returning true cuts the connection instead of forwarding the frame.
	onFrame func(toServer bool, h wire.Header) (cut bool)
}

func startProxy(t testing.TB, target string, onFrame func(toServer bool, h wire.Header) bool) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{t: t, ln: ln, target: target, onFrame: onFrame}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			client, err := ln.Accept()
			if err != nil {
				return
			}
			server, err := net.Dial("tcp", target)
			if err != nil {
				client.Close()
				continue
			}
			cut := func() {
				client.Close()
				server.Close()
			}
			wg.Go(func() { p.pipe(server, client, true, cut) })
			wg.Go(func() { p.pipe(client, server, false, cut) })
		}
	})
	return p
}

func (p *proxy) url() string { return "http://" + p.ln.Addr().String() }

// pipe copies the HTTP handshake from src to dst, then frames, until
// either side fails.
func (p *proxy) pipe(dst, src net.Conn, toServer bool, cut func()) {
	defer cut()
	rd := bufio.NewReader(src)
	for {
		line, err := rd.ReadString('\n')
		if err != nil {
			return
		}
		if _, err := io.WriteString(dst, line); err != nil {
			return
		}
		if line == "\r\n" {
			break
		}
	}
	hdr := make([]byte, wire.HeaderSize)
	for {
		f, err := wire.ReadFrame(rd, hdr)
		if err != nil {
			return
		}
		if p.onFrame != nil && p.onFrame(toServer, f.Header) {
			return
		}
		if _, err := dst.Write(wire.AppendFrame(nil, f.Type, f.ID, f.Payload)); err != nil {
			return
		}
	}
}
