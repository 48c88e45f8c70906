package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// Hostile and malformed input: each gets the right 4xx with a problem body
// naming the field; the server stays up; nothing stored is lost or stored
// half.
func TestE2EHostileInput(t *testing.T) {
	p := startServer(t, t.TempDir(), "--max-body-bytes", "65536", "--max-event-bytes", "4096")
	p.must(http.StatusCreated, "PUT", "/v1/topics/safe", `{}`)
	publishBinary(p, "safe", "keep-1")
	ce := func(extra ...string) []string {
		return append([]string{"ce-id: x", "ce-source: /s", "ce-specversion: 1.0", "ce-type: T"}, extra...)
	}
	validEvent := func(id string) map[string]any { return structured(id, "T", "") }
	batchWithBad, _ := json.Marshal([]any{validEvent("half-1"), validEvent("half-2"), map[string]any{"specversion": "1.0", "id": "half-3", "type": "T"}})
	huge := strings.Repeat("x", 70000)
	bigEvent, _ := json.Marshal(map[string]any{"specversion": "1.0", "id": "big", "source": "/s", "type": "T", "data": strings.Repeat("y", 5000)})
	tests := []struct {
		name    string
		method  string
		path    string
		body    any
		headers []string
		status  int
		field   string
	}{
		{"malformed structured JSON", "POST", "/v1/topics/safe/events", `{"specversion": "1.0", "id": `, []string{"Content-Type: application/cloudevents+json"}, 400, ""},
		{"missing source", "POST", "/v1/topics/safe/events", `{"specversion":"1.0","id":"a","type":"T"}`, []string{"Content-Type: application/cloudevents+json"}, 400, "source"},
		{"wrong specversion", "POST", "/v1/topics/safe/events", `{"specversion":"0.3","id":"a","source":"/s","type":"T"}`, []string{"Content-Type: application/cloudevents+json"}, 400, "specversion"},
		{"binary without ce-id", "POST", "/v1/topics/safe/events", "data", []string{"ce-source: /s", "ce-specversion: 1.0", "ce-type: T"}, 400, "ce-id"},
		{"invalid UTF-8 in JSON", "POST", "/v1/topics/safe/events", []byte("{\"specversion\":\"1.0\",\"id\":\"\xff\xfe\",\"source\":\"/s\",\"type\":\"T\"}"), []string{"Content-Type: application/cloudevents+json"}, 400, ""},
		{"invalid UTF-8 in header", "POST", "/v1/topics/safe/events", "d", ce("ce-subject: \xff\xfe"), 400, "ce-subject"},
		{"batch with one bad event", "POST", "/v1/topics/safe/events", batchWithBad, []string{"Content-Type: application/cloudevents-batch+json"}, 400, "[2].source"},
		{"batch that is not an array", "POST", "/v1/topics/safe/events", `{"a":1}`, []string{"Content-Type: application/cloudevents-batch+json"}, 400, ""},
		{"empty batch", "POST", "/v1/topics/safe/events", `[]`, []string{"Content-Type: application/cloudevents-batch+json"}, 400, ""},
		{"body over the limit", "POST", "/v1/topics/safe/events", huge, ce(), 413, ""},
		{"event over the limit", "POST", "/v1/topics/safe/events", bigEvent, []string{"Content-Type: application/cloudevents+json"}, 413, ""},
		{"unsupported format", "POST", "/v1/topics/safe/events", `x`, []string{"Content-Type: application/cloudevents+avro"}, 415, "Content-Type"},
		{"no CloudEvent at all", "POST", "/v1/topics/safe/events", `hello`, []string{"Content-Type: text/plain"}, 415, "Content-Type"},
		{"path traversal topic", "PUT", "/v1/topics/..%2F..%2Fetc", `{}`, nil, 400, "topic"},
		{"dot-dot topic", "POST", "/v1/topics/%2E%2E/events", "d", ce(), 400, "topic"},
		{"control character topic", "PUT", "/v1/topics/a%07b", `{}`, nil, 400, "topic"},
		{"400-character topic", "PUT", "/v1/topics/" + strings.Repeat("t", 400), `{}`, nil, 400, "topic"},
		{"slash in subscription", "PUT", "/v1/topics/safe/subscriptions/a%2Fb", `{}`, nil, 400, "subscription"},
		{"unknown config field", "PUT", "/v1/topics/t2", `{"partitons": 3}`, nil, 400, "partitons"},
		{"wrong config type", "PUT", "/v1/topics/t2", `{"partitions": "three"}`, nil, 400, "partitions"},
		{"bad duration", "PUT", "/v1/topics/t2", `{"retention": "soon"}`, nil, 400, "retention"},
		{"too many partitions", "PUT", "/v1/topics/t2", `{"partitions": 100000}`, nil, 400, "partitions"},
		{"shrinking partitions", "PATCH", "/v1/topics/three", `{"partitions": 2}`, nil, 400, "partitions"},
		{"bad ordering", "PUT", "/v1/topics/safe/subscriptions/s", `{"ordering": "sorted"}`, nil, 400, "ordering"},
		{"bad start", "PUT", "/v1/topics/safe/subscriptions/s", `{"start": "yesterday"}`, nil, 400, "start"},
		{"bad from", "GET", "/v1/topics/safe/events?from=soon", nil, nil, 400, "from"},
		{"numeric from without partition", "GET", "/v1/topics/safe/events?from=3", nil, nil, 400, "partition"},
		{"offset below retention", "GET", "/v1/topics/safe/events?from=99&partition=0", nil, nil, 400, "from"},
		{"bad limit", "GET", "/v1/topics/safe/events?limit=-1", nil, nil, 400, "limit"},
		{"unknown topic", "GET", "/v1/topics/nope", nil, nil, 404, "topic"},
		{"unknown subscription", "POST", "/v1/topics/safe/subscriptions/nope/pull", `{}`, nil, 404, "subscription"},
		{"garbage token", "POST", "/v1/topics/safe/subscriptions/nope/ack", `{"tokens": ["x"]}`, nil, 404, "subscription"},
		{"no tokens", "POST", "/v1/topics/safe/subscriptions/s0/ack", `{}`, nil, 400, "tokens"},
		{"pull wait too long", "POST", "/v1/topics/safe/subscriptions/s0/pull", `{"wait": "10h"}`, nil, 400, "wait"},
		{"unknown route", "GET", "/v2/everything", nil, nil, 404, ""},
		{"wrong method", "DELETE", "/v1/topics/safe/events", nil, nil, 405, ""},
	}
	p.must(http.StatusCreated, "PUT", "/v1/topics/safe/subscriptions/s0", `{}`)
	p.must(http.StatusCreated, "PUT", "/v1/topics/three", `{"partitions": 3}`)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := p.do(tt.method, tt.path, tt.body, tt.headers...)
			if r.status != tt.status {
				t.Fatalf("status %d, want %d: %s", r.status, tt.status, r.body)
			}
			if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
				t.Fatalf("Content-Type %q, want application/problem+json: %s", ct, r.body)
			}
			var prob struct {
				Status int
				Field  string
				Detail string
			}
			if err := json.Unmarshal(r.body, &prob); err != nil || prob.Status != tt.status || prob.Detail == "" {
				t.Fatalf("problem body %s (%v)", r.body, err)
			}
			if tt.field != "" && prob.Field != tt.field {
				t.Fatalf("problem names field %q, want %q: %s", prob.Field, tt.field, r.body)
			}
		})
	}
	// Still up, the stored event intact, nothing of the bad batch stored.
	p.must(http.StatusOK, "GET", "/healthz", nil)
	events := readEvents(t, p, "/v1/topics/safe/events?from=earliest")
	if len(events) != 1 || events[0]["id"] != "keep-1" {
		t.Fatalf("after hostile input the topic holds %v, want only keep-1", events)
	}
}

// Slow clients are cut off by the server's timeouts instead of holding
// connections forever; others are served meanwhile.
func TestE2ESlowClients(t *testing.T) {
	p := startServer(t, t.TempDir(), "--read-header-timeout", "500ms", "--read-timeout", "1s")
	addr := strings.TrimPrefix(p.url, "http://")
	// Headers that never finish.
	slowHeaders, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer slowHeaders.Close()
	fmt.Fprintf(slowHeaders, "POST /v1/topics/x/events HTTP/1.1\r\nHost: x\r\n")
	// A body that never finishes.
	slowBody, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer slowBody.Close()
	fmt.Fprintf(slowBody, "POST /v1/topics/x/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/cloudevents+json\r\nContent-Length: 1000\r\n\r\n{\"id\":")

	p.must(http.StatusOK, "GET", "/healthz", nil)
	for _, c := range []net.Conn{slowHeaders, slowBody} {
		c.SetReadDeadline(time.Now().Add(20 * time.Second))
		buf := make([]byte, 4096)
		for {
			if _, err := c.Read(buf); err != nil {
				if ne, ok := err.(net.Error); ok && ne.Timeout() {
					t.Fatal("the server kept a slow client's connection open for 20s")
				}
				break // closed by the server
			}
		}
	}
	if r := p.do("GET", "/v1/topics/x", nil); r.status != 404 {
		t.Fatalf("the half-sent publish created topic x: %d %s", r.status, r.body)
	}
}

// SIGTERM: streams in flight end cleanly, the server exits 0, and a
// restart finds everything, including the subscription's position.
func TestE2EGracefulShutdown(t *testing.T) {
	dir := t.TempDir()
	p := startServer(t, dir)
	p.must(http.StatusCreated, "PUT", "/v1/topics/q", `{}`)
	p.must(http.StatusCreated, "PUT", "/v1/topics/q/subscriptions/s", `{"start": "earliest"}`)
	publishBinary(p, "q", "acked")
	publishBinary(p, "q", "not-acked")
	ds := pullFrom(t, p, "q", "s", 1, "5s")
	p.must(http.StatusOK, "POST", "/v1/topics/q/subscriptions/s/ack", map[string]any{"tokens": []string{ds[0]["token"].(string)}})

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", p.url+"/v1/topics/q/events/stream?from=latest", nil)
	res, err := http.DefaultClient.Do(req) // returns once the stream's headers are flushed
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	p.stop() // fails the test unless the exit is clean and prompt
	if _, err := io.ReadAll(res.Body); err != nil {
		t.Fatalf("the stream in flight at SIGTERM did not end cleanly: %v", err)
	}
	p = startServer(t, dir)
	if evs := readEvents(t, p, "/v1/topics/q/events?from=earliest"); len(evs) != 2 {
		t.Fatalf("after a graceful restart: %v", evs)
	}
	// The lease on "not-acked" was given back at shutdown or expires; the
	// acked event never returns.
	ds = pullFrom(t, p, "q", "s", 10, "40s")
	if len(ds) != 1 || ds[0]["event"].(map[string]any)["id"] != "not-acked" {
		t.Fatalf("after restart the subscription delivered %v, want only not-acked", ds)
	}
}

// With --auto-create-topics=false a publish to an unknown topic is a 404
// naming the topic, and creates nothing.
func TestE2ENoAutoCreate(t *testing.T) {
	p := startServer(t, t.TempDir(), "--auto-create-topics=false")
	r := p.do("POST", "/v1/topics/ghost/events", `{"n":1}`,
		"ce-id: 1", "ce-source: /s", "ce-specversion: 1.0", "ce-type: T", "Content-Type: application/json")
	if r.status != http.StatusNotFound || !strings.Contains(string(r.body), `"field":"topic"`) {
		t.Fatalf("publish to an unknown topic: %d %s, want 404 naming the topic", r.status, r.body)
	}
	p.must(http.StatusNotFound, "GET", "/v1/topics/ghost", nil)
	p.must(http.StatusCreated, "PUT", "/v1/topics/ghost", `{}`)
	publishBinary(p, "ghost", "1")
}
