package herald

import (
	"context"
	"net"
	"sync"
	"testing"

	"github.com/heraldhq/herald/internal/server"
)

// remoteTransports runs the behaviour suite against `herald serve` (in
// process, on loopback) through Dial. Opening a data directory again
// restarts its server, as the restart test needs.
func remoteTransports() []transport {
	return []transport{{name: "remote", open: openRemote}}
}

var (
	serversMu sync.Mutex
	servers   = map[string]func(){} // data dir -> stop its server
)

func openRemote(t testing.TB, dir string, opts ...Option) *Client {
	t.Helper()
	serversMu.Lock()
	if stop, ok := servers[dir]; ok {
		stop()
		delete(servers, dir)
	}
	serversMu.Unlock()

	cfg := server.DefaultConfig()
	cfg.DataDir, cfg.Listen = dir, "127.0.0.1:0"
	srv, err := server.New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx, func(a net.Addr) { ready <- a.String() }) }()
	var addr string
	select {
	case addr = <-ready:
	case err := <-done:
		cancel()
		t.Fatalf("server did not start: %v", err)
	}
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("server stopped with: %v", err)
			}
		})
	}
	serversMu.Lock()
	servers[dir] = stop
	serversMu.Unlock()

	c, err := Dial(context.Background(), "http://"+addr, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.Close()
		serversMu.Lock()
		if servers[dir] != nil {
			delete(servers, dir)
		}
		serversMu.Unlock()
		stop()
	})
	return c
}
