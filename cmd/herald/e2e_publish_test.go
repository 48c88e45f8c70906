package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
)

func publishBinary(p *proc, topic, id string, extra ...string) response {
	p.t.Helper()
	h := append([]string{"ce-id: " + id, "ce-source: /e2e", "ce-specversion: 1.0", "ce-type: OrderPlaced",
		"Content-Type: application/json"}, extra...)
	return p.must(http.StatusOK, "POST", "/v1/topics/"+topic+"/events", fmt.Sprintf(`{"n": %q}`, id), h...)
}

func structured(id, typ, key string) map[string]any {
	e := map[string]any{"specversion": "1.0", "id": id, "source": "/e2e", "type": typ, "data": map[string]any{"n": id}}
	if key != "" {
		e["partitionkey"] = key
	}
	return e
}

func readEvents(t *testing.T, p *proc, query string) []map[string]any {
	t.Helper()
	r := p.must(http.StatusOK, "GET", query, nil)
	if ct := r.header.Get("Content-Type"); ct != "application/cloudevents-batch+json" {
		t.Fatalf("read answered Content-Type %q", ct)
	}
	var events []map[string]any
	if err := json.Unmarshal(r.body, &events); err != nil {
		t.Fatalf("read body: %v\n%s", err, r.body)
	}
	return events
}

// Publish in all three CloudEvents modes, then read everything back with
// the position extensions.
func TestE2EPublishThreeModesAndReadBack(t *testing.T) {
	p := startServer(t, t.TempDir())
	p.must(http.StatusCreated, "PUT", "/v1/topics/orders", `{"partitions": 3}`)
	p.must(http.StatusOK, "PUT", "/v1/topics/orders", `{"partitions": 3}`)       // idempotent
	p.must(http.StatusConflict, "PUT", "/v1/topics/orders", `{"partitions": 5}`) // another configuration
	p.must(http.StatusCreated, "PUT", "/v1/topics/orders/subscriptions/audit", `{}`)
	p.must(http.StatusOK, "PUT", "/v1/topics/orders/subscriptions/audit", `{}`)
	p.must(http.StatusConflict, "PUT", "/v1/topics/orders/subscriptions/audit", `{"ordering": "key"}`)

	res := publishBinary(p, "orders", "b-1", "ce-partitionkey: alice", "ce-subject: eu/1").json(t)
	if r := res["results"].([]any)[0].(map[string]any); r["id"] != "b-1" || r["duplicate"] != false {
		t.Fatalf("binary publish result %v", r)
	}
	body, _ := json.Marshal(structured("s-1", "OrderPlaced", "alice"))
	p.must(http.StatusOK, "POST", "/v1/topics/orders/events", body, "Content-Type: application/cloudevents+json")
	batch, _ := json.Marshal([]any{structured("m-1", "OrderPaid", "bob"), structured("m-2", "OrderPaid", "alice"), structured("m-3", "OrderPaid", "")})
	res = p.must(http.StatusOK, "POST", "/v1/topics/orders/events", batch, "Content-Type: application/cloudevents-batch+json").json(t)
	if n := len(res["results"].([]any)); n != 3 {
		t.Fatalf("batch publish returned %d results, want 3", n)
	}

	events := readEvents(t, p, "/v1/topics/orders/events?from=earliest&limit=100")
	if len(events) != 5 {
		t.Fatalf("read %d events, want 5: %v", len(events), events)
	}
	byID := map[string]map[string]any{}
	for _, e := range events {
		byID[e["id"].(string)] = e
		for _, ext := range []string{"heraldtopic", "heraldpartition", "heraldoffset", "heraldtime"} {
			if e[ext] == nil {
				t.Fatalf("event %v lacks %s", e["id"], ext)
			}
		}
	}
	if byID["b-1"]["subject"] != "eu/1" || byID["b-1"]["partitionkey"] != "alice" {
		t.Fatalf("binary-mode attributes lost: %v", byID["b-1"])
	}
	// One key, one partition, in publish order.
	alice := []string{"b-1", "s-1", "m-2"}
	for _, id := range alice[1:] {
		if byID[id]["heraldpartition"] != byID["b-1"]["heraldpartition"] {
			t.Fatalf("events of key alice are on different partitions: %v", events)
		}
	}
	part := byID["b-1"]["heraldpartition"].(string)
	perPart := readEvents(t, p, "/v1/topics/orders/events?from=0&partition="+part)
	var order []string
	for _, e := range perPart {
		if e["partitionkey"] == "alice" {
			order = append(order, e["id"].(string))
		}
	}
	if strings.Join(order, ",") != strings.Join(alice, ",") {
		t.Fatalf("key alice read in order %v, want %v", order, alice)
	}
	// Dedup: the same (source, id) again is a duplicate at the original position.
	again := publishBinary(p, "orders", "b-1", "ce-partitionkey: alice").json(t)["results"].([]any)[0].(map[string]any)
	if again["duplicate"] != true || fmt.Sprint(again["offset"]) != fmt.Sprint(byID["b-1"]["heraldoffset"]) {
		t.Fatalf("republished b-1: %v, want duplicate at offset %v", again, byID["b-1"]["heraldoffset"])
	}
	// Auto-created topics, and reads from a time.
	publishBinary(p, "auto-made", "x-1")
	if got := readEvents(t, p, "/v1/topics/auto-made/events?from=2000-01-01T00:00:00Z"); len(got) != 1 {
		t.Fatalf("read by time found %d events, want 1", len(got))
	}
}

func pull(t *testing.T, p *proc, sub string, max int, wait string) []map[string]any {
	t.Helper()
	r := p.must(http.StatusOK, "POST", "/v1/topics/jobs/subscriptions/"+sub+"/pull",
		fmt.Sprintf(`{"max": %d, "wait": %q, "consumer": "w1"}`, max, wait)).json(t)
	var out []map[string]any
	for _, d := range r["deliveries"].([]any) {
		out = append(out, d.(map[string]any))
	}
	return out
}

func settle(t *testing.T, p *proc, sub, action string, body map[string]any) []any {
	t.Helper()
	return p.must(http.StatusOK, "POST", "/v1/topics/jobs/subscriptions/"+sub+"/"+action, body).json(t)["results"].([]any)
}

// A subscription pulled over HTTP: ack, nack with retry, dead letter after
// the maximum deliveries, and redrive back into the subscription.
func TestE2ESubscriptionAckRetryDeadLetterRedrive(t *testing.T) {
	p := startServer(t, t.TempDir())
	p.must(http.StatusCreated, "PUT", "/v1/topics/jobs", `{}`)
	p.must(http.StatusCreated, "PUT", "/v1/topics/jobs/subscriptions/w",
		`{"start": "earliest", "ackTimeout": "30s", "retry": {"delays": ["1ms"], "maxDeliveries": 2}}`)
	publishBinary(p, "jobs", "ok-1")
	publishBinary(p, "jobs", "bad-1")

	ds := pull(t, p, "w", 10, "5s")
	if len(ds) != 2 {
		t.Fatalf("pulled %d deliveries, want 2", len(ds))
	}
	var okTok, badTok string
	for _, d := range ds {
		ev := d["event"].(map[string]any)
		if d["attempt"].(float64) != 1 || ev["heraldattempt"] != "1" {
			t.Fatalf("first delivery has attempt %v", d["attempt"])
		}
		if ev["id"] == "ok-1" {
			okTok = d["token"].(string)
		} else {
			badTok = d["token"].(string)
		}
	}
	if r := settle(t, p, "w", "ack", map[string]any{"tokens": []string{okTok}}); r[0].(map[string]any)["status"] != "ok" {
		t.Fatalf("ack: %v", r)
	}
	if r := settle(t, p, "w", "ack", map[string]any{"tokens": []string{okTok}}); r[0].(map[string]any)["status"] == "ok" {
		t.Fatalf("a second ack of the same token succeeded: %v", r)
	}
	settle(t, p, "w", "nack", map[string]any{"tokens": []string{badTok}, "error": "db down"})
	ds = pull(t, p, "w", 10, "5s")
	if len(ds) != 1 || ds[0]["attempt"].(float64) != 2 || ds[0]["event"].(map[string]any)["id"] != "bad-1" {
		t.Fatalf("retry delivery: %v", ds)
	}
	settle(t, p, "w", "nack", map[string]any{"tokens": []string{ds[0]["token"].(string)}, "error": "db still down"})

	// Past maxDeliveries the event is a dead letter with its history.
	var dls []any
	for i := 0; i < 100 && len(dls) == 0; i++ {
		dls = p.must(http.StatusOK, "GET", "/v1/topics/jobs/subscriptions/w/deadletters", nil).json(t)["deadLetters"].([]any)
		if len(dls) == 0 {
			pull(t, p, "w", 1, "50ms") // wait on the server, not on a sleep
		}
	}
	if len(dls) != 1 {
		t.Fatalf("dead letters: %v", dls)
	}
	dl := dls[0].(map[string]any)
	if dl["attempts"].(float64) != 2 || dl["error"] != "db still down" || dl["topic"] != "jobs" || dl["subscription"] != "w" ||
		dl["event"].(map[string]any)["id"] != "bad-1" {
		t.Fatalf("dead letter %v", dl)
	}
	id := fmt.Sprint(dl["id"])
	p.must(http.StatusOK, "GET", "/v1/topics/jobs/subscriptions/w/deadletters/"+id, nil)
	p.must(http.StatusNotFound, "GET", "/v1/topics/jobs/subscriptions/w/deadletters/999", nil)
	stats := p.must(http.StatusOK, "GET", "/v1/topics/jobs/subscriptions/w", nil).json(t)["stats"].(map[string]any)
	if stats["deadLettered"].(float64) != 1 {
		t.Fatalf("stats after dead letter: %v", stats)
	}

	// Redrive: it comes back with a fresh attempt count.
	if n := p.must(http.StatusOK, "POST", "/v1/topics/jobs/subscriptions/w/deadletters/redrive", `{}`).json(t)["redriven"]; n.(float64) != 1 {
		t.Fatalf("redriven %v, want 1", n)
	}
	ds = pull(t, p, "w", 10, "5s")
	if len(ds) != 1 || ds[0]["event"].(map[string]any)["id"] != "bad-1" || ds[0]["attempt"].(float64) != 1 {
		t.Fatalf("after redrive: %v", ds)
	}
	settle(t, p, "w", "ack", map[string]any{"tokens": []string{ds[0]["token"].(string)}})
	if ds := pull(t, p, "w", 10, "100ms"); len(ds) != 0 {
		t.Fatalf("everything was acked, yet pulled %v", ds)
	}
}
