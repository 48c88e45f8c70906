package main

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// Server-Sent Events push a subscription's deliveries; acks go over HTTP.
func TestE2ESubscriptionSSE(t *testing.T) {
	p := startServer(t, t.TempDir())
	p.must(http.StatusCreated, "PUT", "/v1/topics/feed", `{}`)
	p.must(http.StatusCreated, "PUT", "/v1/topics/feed/subscriptions/browser", `{"start": "earliest"}`)
	for _, id := range []string{"a", "b", "c"} {
		publishBinary(p, "feed", id)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", p.url+"/v1/topics/feed/subscriptions/browser/sse?consumer=tab1", nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("sse answered %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	sc := bufio.NewScanner(res.Body)
	var ids, tokens []string
	for len(ids) < 3 && sc.Scan() {
		line := sc.Text()
		if data, ok := strings.CutPrefix(line, "data: "); ok {
			var d struct {
				Token string
				Event map[string]any
			}
			if err := json.Unmarshal([]byte(data), &d); err != nil {
				t.Fatalf("sse data %q: %v", data, err)
			}
			ids = append(ids, d.Event["id"].(string))
			tokens = append(tokens, d.Token)
		}
	}
	if strings.Join(ids, ",") != "a,b,c" {
		t.Fatalf("sse delivered %v", ids)
	}
	r := p.must(http.StatusOK, "POST", "/v1/topics/feed/subscriptions/browser/ack", map[string]any{"tokens": tokens}).json(t)
	for _, res := range r["results"].([]any) {
		if res.(map[string]any)["status"] != "ok" {
			t.Fatalf("ack of an SSE delivery: %v", r)
		}
	}
	// A new event arrives on the open stream.
	publishBinary(p, "feed", "d")
	for sc.Scan() {
		if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			if !strings.Contains(data, `"id":"d"`) {
				t.Fatalf("expected event d on the live stream, got %s", data)
			}
			return
		}
	}
	t.Fatalf("stream ended before the live event: %v", sc.Err())
}

// WebSocket: deliveries pushed, acks and nacks over the same socket.
func TestE2ESubscriptionWebSocket(t *testing.T) {
	p := startServer(t, t.TempDir())
	p.must(http.StatusCreated, "PUT", "/v1/topics/feed", `{}`)
	p.must(http.StatusCreated, "PUT", "/v1/topics/feed/subscriptions/app",
		`{"start": "earliest", "retry": {"delays": ["1ms"], "maxDeliveries": 5}}`)
	publishBinary(p, "feed", "w1")
	publishBinary(p, "feed", "w2")

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, strings.Replace(p.url, "http", "ws", 1)+"/v1/topics/feed/subscriptions/app/ws?consumer=phone&maxInFlight=1", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.CloseNow()
	type msg struct {
		Type, Token, Status, Detail string
		Attempt                     int
		Event                       map[string]any
	}
	read := func() msg {
		t.Helper()
		_, data, err := conn.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var m msg
		json.Unmarshal(data, &m)
		return m
	}
	send := func(v map[string]any) {
		data, _ := json.Marshal(v)
		if err := conn.Write(ctx, websocket.MessageText, data); err != nil {
			t.Fatal(err)
		}
	}
	// maxInFlight=1: w1 first, and nothing else until it is settled.
	m := read()
	if m.Type != "delivery" || m.Event["id"] != "w1" || m.Attempt != 1 {
		t.Fatalf("first message %+v", m)
	}
	send(map[string]any{"type": "nack", "token": m.Token, "error": "try later"})
	// The nack frees the one slot: the next delivery may come before the
	// nack's answer (they are written by different goroutines).
	nackAnswered := false
	seen := map[string]int{}
	for !nackAnswered || len(seen) < 2 || seen["w1"] < 2 {
		m = read()
		if m.Type != "delivery" {
			if !nackAnswered {
				if m.Type != "settled" || m.Status != "ok" {
					t.Fatalf("nack answer %+v", m)
				}
				nackAnswered = true
			}
			continue // an ack's answer
		}
		seen[m.Event["id"].(string)] = m.Attempt
		send(map[string]any{"type": "ack", "token": m.Token})
	}
	if seen["w1"] != 2 || seen["w2"] != 1 {
		t.Fatalf("attempts seen %v, want w1 redelivered once and w2 once", seen)
	}
	send(map[string]any{"type": "dance", "token": "x"})
	for {
		if m = read(); m.Type == "error" {
			break
		}
	}
	if !strings.Contains(m.Detail, "unknown message type") {
		t.Fatalf("error for a bad message: %+v", m)
	}
	conn.Close(websocket.StatusNormalClosure, "")
}

// A live tail (no stored state) of a topic from the start.
func TestE2ETailStream(t *testing.T) {
	p := startServer(t, t.TempDir())
	publishBinary(p, "logs", "l1")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", p.url+"/v1/topics/logs/events/stream?from=earliest", nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	sc := bufio.NewScanner(res.Body)
	var got []string
	for len(got) < 2 && sc.Scan() {
		if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			var e map[string]any
			json.Unmarshal([]byte(data), &e)
			got = append(got, e["id"].(string))
			if len(got) == 1 {
				publishBinary(p, "logs", "l2")
			}
		}
	}
	if strings.Join(got, ",") != "l1,l2" {
		t.Fatalf("tail saw %v", got)
	}
}
