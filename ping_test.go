package herald

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// A server that upgrades the stream and then answers nothing: stuck, as
// its clients see it.
func silentServer(t *testing.T) string {
	t.Helper()
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
		brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: herald-stream/1\r\n\r\n")
		brw.Flush()
		io.Copy(io.Discard, conn)
	}))
	t.Cleanup(func() {
		srv.CloseClientConnections()
		srv.Close()
		conns.Wait()
	})
	return srv.URL
}

// WithPingInterval finds a connection that went silent: a Fetch waiting
// on it ends with ErrConnectionLost instead of waiting out its context.
func TestWithPingIntervalGivesUpASilentConnection(t *testing.T) {
	c, err := Dial(context.Background(), silentServer(t), WithPingInterval(30*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := c.Fetch(ctx, "jobs", "w", "c1", 10); !errors.Is(err, ErrConnectionLost) {
		t.Fatalf("Fetch on a silent connection = %v, want ErrConnectionLost", err)
	}
}
