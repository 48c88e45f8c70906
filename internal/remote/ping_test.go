package remote

import (
	"bufio"
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/broker"
	"github.com/heraldhq/herald/internal/wire"
)

// silentServer upgrades every stream and then reads its frames without
// ever answering: a server process that is stuck, as the client sees it.
// It counts the CALL Ping frames it reads.
func silentServer(t *testing.T) (url string, pings *atomic.Int32) {
	t.Helper()
	pings = new(atomic.Int32)
	var conns sync.WaitGroup
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		conns.Add(1)
		defer conns.Done()
		defer conn.Close()
		brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: " + streamProtocol + "\r\n\r\n")
		brw.Flush()
		hdr := make([]byte, wire.HeaderSize)
		for {
			f, err := wire.ReadFrame(brw.Reader, hdr)
			if err != nil {
				return
			}
			var c wire.Call
			if f.Type == wire.TypeCall && c.Decode(f.Payload) == nil && c.Method == wire.MethodPing {
				pings.Add(1)
			}
		}
	}))
	t.Cleanup(func() {
		srv.CloseClientConnections()
		srv.Close()
		conns.Wait()
	})
	return srv.URL, pings
}

// A server that stops answering without closing the connection is found
// by the pings: a Fetch waiting on it ends with a retryable
// ErrConnectionLost after two to three ping intervals, not when its own
// long wait runs out.
func TestASilentConnectionIsFoundByItsPings(t *testing.T) {
	url, pings := silentServer(t)
	const every = 30 * time.Millisecond
	c, err := Dial(testCtx(t), url, Options{PingInterval: every, MinBackoff: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	_, err = c.Fetch(testCtx(t), "t", "s", "c", 10)
	took := time.Since(start)
	if !errors.Is(err, ErrConnectionLost) || !IsRetryable(err) || !strings.Contains(err.Error(), "silent") {
		t.Fatalf("Fetch on a silent connection = %v, want a retryable ErrConnectionLost that says it went silent", err)
	}
	if took < 2*every || took > waitLimit/2 {
		t.Errorf("found after %v, want two to three intervals of %v", took, every)
	}
	if pings.Load() == 0 {
		t.Error("the server read no ping before the connection was given up")
	}
}

// A live connection on which nothing moves for many ping intervals (a
// long poll on an empty subscription) stays up: the server answers each
// ping.
func TestPingsKeepAQuietLiveConnection(t *testing.T) {
	ts := startServer(t, t.TempDir(), "127.0.0.1:0")
	c, err := Dial(testCtx(t), ts.url, Options{PingInterval: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	mustTopic(t, c, "t", broker.TopicConfig{})
	mustSub(t, c, "t", "s", broker.SubscriptionConfig{})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if ds, err := c.Fetch(ctx, "t", "s", "c", 10); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a 2 s long poll with pings every 200 ms = %d deliveries, %v; want it to wait out its deadline", len(ds), err)
	}
	if _, err := c.Topic(testCtx(t), "t"); err != nil {
		t.Fatalf("the connection after the long poll: %v", err)
	}
}

// Frames no caller waits for (CANCEL, ping) are counted in unwritten as
// every queued frame is: the writer uncounts each frame it writes, and a
// count below the frames still queued would let a caller's direct write
// overtake them, breaking the order of pipelined publishes.
func TestUnansweredFramesKeepTheQueueCount(t *testing.T) {
	tests := []struct {
		name  string
		queue func(s *session)
		want  wire.Type
	}{
		{"cancel", func(s *session) { s.cancel(7) }, wire.TypeCancel},
		{"ping", func(s *session) { s.ping() }, wire.TypeCall},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client, server := net.Pipe()
			s := newSession(client, bufio.NewReader(client), new(atomic.Uint64))
			var wg sync.WaitGroup
			s.start(&wg, 0)
			defer func() { s.fail(errClosed); server.Close(); wg.Wait() }()
			tt.queue(s)
			f, err := wire.ReadFrame(bufio.NewReader(server), make([]byte, wire.HeaderSize))
			if err != nil || f.Type != tt.want {
				t.Fatalf("read %v, %v; want a frame of type %v", f.Type, err, tt.want)
			}
			// The writer uncounted the frame before flushing it.
			if n := s.unwritten.Load(); n != 0 {
				t.Fatalf("unwritten = %d once the writer wrote the only frame queued, want 0", n)
			}
		})
	}
}

func TestPingIntervalDefaults(t *testing.T) {
	tests := []struct{ set, want time.Duration }{
		{0, 15 * time.Second}, // the zero value pings
		{-1, -1},              // negative turns pings off: start runs no watchdog
		{5 * time.Second, 5 * time.Second},
	}
	for _, tt := range tests {
		if got := (Options{PingInterval: tt.set}).withDefaults().PingInterval; got != tt.want {
			t.Errorf("PingInterval %v became %v, want %v", tt.set, got, tt.want)
		}
	}
}
