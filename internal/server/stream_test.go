package server

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/cloudevent"
	"github.com/heraldhq/herald/internal/broker"
	"github.com/heraldhq/herald/internal/wire"
)

// These tests speak the stream protocol byte by byte, as a client of
// another language would; internal/remote tests it through the Go client.

const streamWait = 20 * time.Second // bounds every wait in these tests

// runningServer is a server started by Run on a loopback port.
type runningServer struct {
	addr   string
	cancel context.CancelFunc
	done   chan error
}

func startStreamServer(t *testing.T) *runningServer {
	t.Helper()
	cfg := DefaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.Listen = "127.0.0.1:0"
	s, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	rs := &runningServer{cancel: cancel, done: make(chan error, 1)}
	ready := make(chan net.Addr, 1)
	go func() { rs.done <- s.Run(ctx, func(a net.Addr) { ready <- a }) }()
	select {
	case a := <-ready:
		rs.addr = a.String()
	case err := <-rs.done:
		t.Fatalf("server exited: %v", err)
	case <-time.After(streamWait):
		t.Fatal("server not ready")
	}
	t.Cleanup(func() { rs.stop(t) })
	return rs
}

func (rs *runningServer) stop(t *testing.T) {
	t.Helper()
	rs.cancel()
	select {
	case err, ok := <-rs.done:
		if ok {
			close(rs.done)
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		}
	case <-time.After(streamWait):
		t.Fatal("server did not stop")
	}
}

// rawStream is an upgraded connection.
type rawStream struct {
	conn net.Conn
	rd   *bufio.Reader
}

func openStream(t *testing.T, addr string) *rawStream {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	io.WriteString(conn, "GET /v1/stream HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, Upgrade\r\nUpgrade: herald-stream/1\r\n\r\n")
	rd := bufio.NewReader(conn)
	conn.SetReadDeadline(time.Now().Add(streamWait))
	resp, err := http.ReadResponse(rd, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols || resp.Header.Get("Upgrade") != streamProtocol {
		t.Fatalf("upgrade answered %s, Upgrade %q", resp.Status, resp.Header.Get("Upgrade"))
	}
	return &rawStream{conn: conn, rd: rd}
}

func (r *rawStream) send(t *testing.T, typ wire.Type, id uint64, payload []byte) {
	t.Helper()
	if _, err := r.conn.Write(wire.AppendFrame(nil, typ, id, payload)); err != nil {
		t.Fatal(err)
	}
}

func (r *rawStream) next(t *testing.T) wire.Frame {
	t.Helper()
	r.conn.SetReadDeadline(time.Now().Add(streamWait))
	f, err := wire.ReadFrame(r.rd, make([]byte, wire.HeaderSize))
	if err != nil {
		t.Fatalf("reading a frame: %v", err)
	}
	return f
}

func (r *rawStream) expectError(t *testing.T, id uint64, code wire.Code) *wire.Error {
	t.Helper()
	f := r.next(t)
	if f.Type != wire.TypeError || f.ID != id {
		t.Fatalf("got %v id %d, want ERROR id %d", f.Type, f.ID, id)
	}
	e, err := wire.DecodeError(f.Payload)
	if err != nil || e.Code != code {
		t.Fatalf("ERROR %+v (%v), want code %v", e, err, code)
	}
	return e
}

// setup creates topic t and subscription s, waiting for each answer:
// requests on one connection run concurrently.
func (r *rawStream) setup(t *testing.T) {
	t.Helper()
	r.send(t, wire.TypeCall, 1, callFrame(t, wire.MethodCreateTopic, wire.TopicArgs{Name: "t"}))
	if f := r.next(t); f.Type != wire.TypeResult {
		t.Fatalf("create topic: %v", f.Type)
	}
	r.send(t, wire.TypeCall, 2, callFrame(t, wire.MethodCreateSubscription, wire.SubscriptionArgs{Topic: "t", Name: "s"}))
	if f := r.next(t); f.Type != wire.TypeResult {
		t.Fatalf("create subscription: %v", f.Type)
	}
}

func callFrame(t *testing.T, method string, args any) []byte {
	t.Helper()
	data, err := json.Marshal(args)
	if err != nil {
		t.Fatal(err)
	}
	return wire.AppendCall(nil, &wire.Call{Method: method, Args: data})
}

func TestStreamNeedsTheUpgradeHeaders(t *testing.T) {
	rs := startStreamServer(t)
	tests := []struct {
		name    string
		headers map[string]string
	}{
		{"plain GET", nil},
		{"other protocol", map[string]string{"Connection": "Upgrade", "Upgrade": "websocket"}},
		{"no Connection: Upgrade", map[string]string{"Upgrade": streamProtocol}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", "http://"+rs.addr+"/v1/stream", nil)
			for k, v := range tt.headers {
				req.Header.Set(k, v)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusUpgradeRequired || !strings.Contains(string(body), streamProtocol) {
				t.Fatalf("%s: %s", resp.Status, body)
			}
		})
	}
}

func TestStreamAnswersPipelinedRequestsOutOfOrder(t *testing.T) {
	rs := startStreamServer(t)
	r := openStream(t, rs.addr)
	r.send(t, wire.TypeCall, 1, callFrame(t, wire.MethodCreateTopic, wire.TopicArgs{Name: "t"}))
	if f := r.next(t); f.Type != wire.TypeResult || f.ID != 1 {
		t.Fatalf("create topic: %v id %d", f.Type, f.ID)
	}
	r.send(t, wire.TypeCall, 2, callFrame(t, wire.MethodCreateSubscription, wire.SubscriptionArgs{Topic: "t", Name: "s"}))
	if f := r.next(t); f.Type != wire.TypeResult || f.ID != 2 {
		t.Fatalf("create subscription: %v id %d", f.Type, f.ID)
	}
	// A long poll (id 3) first, then a publish (id 4) in the same write:
	// the publish is answered while the poll waits, then the poll gets
	// the event.
	fetch := wire.AppendFrame(nil, wire.TypeFetch, 3, wire.AppendFetch(nil, &wire.Fetch{Topic: "t", Sub: "s", Consumer: "c", Max: 5}))
	ev := cloudevent.Event{ID: "1", Source: "s", SpecVersion: "1.0", Type: "t"}
	pub, err := wire.AppendPublish(nil, &wire.Publish{Topic: "t", Events: []cloudevent.Event{ev}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.conn.Write(append(fetch, wire.AppendFrame(nil, wire.TypePublish, 4, pub)...)); err != nil {
		t.Fatal(err)
	}
	got := map[uint64]wire.Frame{}
	for len(got) < 2 {
		f := r.next(t)
		got[f.ID] = f
	}
	if res, err := wire.DecodePublished(got[4].Payload); got[4].Type != wire.TypePublished || err != nil || len(res) != 1 {
		t.Fatalf("publish answered %v %+v %v", got[4].Type, res, err)
	}
	ds, err := wire.DecodeDeliveries(got[3].Payload, nil)
	if got[3].Type != wire.TypeDeliveries || err != nil || len(ds) != 1 || ds[0].Event.Event.ID != "1" {
		t.Fatalf("fetch answered %v with %d deliveries (%v)", got[3].Type, len(ds), err)
	}
	// A batch of acks: one good token, one already settled, one garbage,
	// and one for another subscription that does not exist (a frame may
	// mix subscriptions: each is acked on its own, its status in place).
	r.send(t, wire.TypeAck, 5, wire.AppendSettle(nil, []wire.SettleItem{
		{Topic: "t", Sub: "s", Token: ds[0].Token}, {Topic: "t", Sub: "s", Token: ds[0].Token},
		{Topic: "t", Sub: "nope", Token: ds[0].Token}, {Topic: "t", Sub: "s", Token: "x"}}))
	f := r.next(t)
	statuses, err := wire.DecodeSettled(f.Payload)
	if f.Type != wire.TypeSettled || f.ID != 5 || err != nil || len(statuses) != 4 {
		t.Fatalf("ack batch answered %v id %d: %+v %v", f.Type, f.ID, statuses, err)
	}
	if !errors.Is(statuses[2], broker.ErrSubscriptionNotFound) {
		t.Fatalf("the other subscription's ack: %v, want ErrSubscriptionNotFound", statuses[2])
	}
	statuses = append(statuses[:2], statuses[3])
	okCount, expired, unknown := 0, 0, 0
	for _, st := range statuses {
		switch {
		case st == nil:
			okCount++
		case errors.Is(st, broker.ErrLeaseExpired):
			expired++
		case errors.Is(st, broker.ErrUnknownToken):
			unknown++
		}
	}
	if okCount != 1 || expired != 1 || unknown != 1 {
		t.Fatalf("statuses %+v: want one done, one lease expired, one unknown token", statuses)
	}
}

func TestStreamFetchWaitsAndCancels(t *testing.T) {
	rs := startStreamServer(t)
	r := openStream(t, rs.addr)
	r.setup(t)
	tests := []struct {
		name   string
		wait   time.Duration
		cancel bool
	}{
		{"a wait that ends answers nothing", 20 * time.Millisecond, false},
		{"a poll answers at once", -1, false},
		{"CANCEL ends an unbounded wait", 0, true},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := uint64(10 + i)
			r.send(t, wire.TypeFetch, id, wire.AppendFetch(nil, &wire.Fetch{Topic: "t", Sub: "s", Consumer: "c", Max: 1, Wait: tt.wait}))
			if tt.cancel {
				r.send(t, wire.TypeCancel, id, nil)
			}
			f := r.next(t)
			if f.Type != wire.TypeDeliveries || f.ID != id || len(f.Payload) != 0 {
				t.Fatalf("got %v id %d with %d bytes, want an empty DELIVERIES id %d", f.Type, f.ID, len(f.Payload), id)
			}
		})
	}
}

func TestStreamRefusesBadFrames(t *testing.T) {
	rs := startStreamServer(t)
	t.Run("unknown request type: that request fails, the connection stays", func(t *testing.T) {
		r := openStream(t, rs.addr)
		r.send(t, 0x3e, 7, []byte("future"))
		r.expectError(t, 7, wire.CodeProtocol)
		r.send(t, wire.TypeCall, 8, callFrame(t, wire.MethodTopic, wire.TopicArgs{Name: "nope"}))
		if e := r.expectError(t, 8, wire.CodeTopicNotFound); !strings.Contains(e.Message, "nope") {
			t.Fatalf("message %q", e.Message)
		}
	})
	t.Run("malformed payload: that request fails", func(t *testing.T) {
		r := openStream(t, rs.addr)
		r.send(t, wire.TypePublish, 1, []byte{0xff})
		r.expectError(t, 1, wire.CodeProtocol)
		r.send(t, wire.TypeCall, 2, []byte("\x04Nope{}"))
		r.expectError(t, 2, wire.CodeProtocol)
		r.send(t, wire.TypeCall, 3, callFrame(t, wire.MethodTopic, "not an object"))
		r.expectError(t, 3, wire.CodeProtocol)
	})
	t.Run("malformed event record names the event", func(t *testing.T) {
		r := openStream(t, rs.addr)
		r.send(t, wire.TypePublish, 1, []byte("\x01t\x03abc"))
		e := r.expectError(t, 1, wire.CodeEventMalformed)
		if !strings.Contains(e.Message, "events[0]") {
			t.Fatalf("message %q does not name the event", e.Message)
		}
	})
	t.Run("oversized frame: the connection is closed", func(t *testing.T) {
		r := openStream(t, rs.addr)
		hdr := wire.AppendHeader(nil, wire.Header{Type: wire.TypePublish, ID: 1})
		hdr[0] = 0x7f // length far over 16 MiB
		if _, err := r.conn.Write(hdr); err != nil {
			t.Fatal(err)
		}
		r.expectError(t, 0, wire.CodeProtocol)
		if _, err := r.rd.ReadByte(); err != io.EOF {
			t.Fatalf("after a fatal error: %v, want EOF", err)
		}
		r.conn.Close()
	})
}

func TestStreamShutdownAnswersLongPollsAndSaysGoodbye(t *testing.T) {
	rs := startStreamServer(t)
	r := openStream(t, rs.addr)
	r.setup(t)
	r.send(t, wire.TypeFetch, 3, wire.AppendFetch(nil, &wire.Fetch{Topic: "t", Sub: "s", Consumer: "c", Max: 1}))
	// The call after the fetch is answered only once the fetch is being
	// served, so the server holds the fetch when it shuts down.
	r.send(t, wire.TypeCall, 4, callFrame(t, wire.MethodTopic, wire.TopicArgs{Name: "t"}))
	if f := r.next(t); f.ID != 4 {
		t.Fatalf("got id %d, want the answer to 4", f.ID)
	}
	stopped := make(chan struct{})
	go func() {
		rs.stop(t)
		close(stopped)
	}()
	r.expectError(t, 3, wire.CodeClosed)
	r.expectError(t, 0, wire.CodeClosed)
	if _, err := r.rd.ReadByte(); err != io.EOF {
		t.Fatalf("after goodbye: %v, want EOF", err)
	}
	r.conn.Close() // the server lingers until the client closes its side
	select {
	case <-stopped:
	case <-time.After(streamWait):
		t.Fatal("Run did not return after the stream ended")
	}
}

func TestStreamBudgetStopsReadingAtTheLimit(t *testing.T) {
	tests := []struct {
		name        string
		maxN, bytes int
		take        []int // sizes acquired before the one that must wait
		next        int
	}{
		{"request count", 2, 1 << 20, []int{10, 10}, 10},
		{"payload bytes", 100, 1000, []int{600, 300}, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := streamBudget{maxN: tt.maxN, maxBytes: tt.bytes, free: make(chan struct{})}
			for _, n := range tt.take {
				if err := l.acquire(context.Background(), n); err != nil {
					t.Fatal(err)
				}
			}
			ctx, cancel := context.WithCancel(context.Background())
			admitted := make(chan error, 1)
			go func() { admitted <- l.acquire(ctx, tt.next) }()
			// The waiter is not admitted while nothing is released: a
			// cancelled acquire proves it was still waiting.
			cancel()
			if err := <-admitted; !errors.Is(err, context.Canceled) {
				t.Fatalf("acquire over the limit: %v, want it to wait", err)
			}
			go func() { admitted <- l.acquire(context.Background(), tt.next) }()
			l.release(tt.take[0])
			select {
			case err := <-admitted:
				if err != nil {
					t.Fatal(err)
				}
			case <-time.After(streamWait):
				t.Fatal("a release did not admit the waiting request")
			}
		})
	}
	t.Run("a request larger than the byte budget runs alone", func(t *testing.T) {
		l := streamBudget{maxN: 10, maxBytes: 100, free: make(chan struct{})}
		if err := l.acquire(context.Background(), 1000); err != nil {
			t.Fatal(err)
		}
	})
}
