package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// SIGKILL the server while HTTP publishers and an acking consumer run.
// After a restart on the same data directory every acknowledged publish is
// stored, no acknowledged delivery comes back, and every other event is
// delivered: the subscription resumed exactly where its acks left it.
func TestE2EKillNineDuringPublishes(t *testing.T) {
	if testing.Short() {
		t.Skip("kills real processes")
	}
	dir := t.TempDir()
	p := startServer(t, dir)
	p.must(http.StatusCreated, "PUT", "/v1/topics/orders", `{"partitions": 3}`)
	p.must(http.StatusCreated, "PUT", "/v1/topics/orders/subscriptions/billing", `{"start": "earliest", "ackTimeout": "2s"}`)

	var (
		mu        sync.Mutex
		published = map[string]bool{} // ids whose publish answered 200
		acked     = map[string]bool{} // ids whose ack answered "ok"
		killed    atomic.Bool
		wg        sync.WaitGroup
	)
	killAt := make(chan struct{})
	var once sync.Once
	noteProgress := func() {
		mu.Lock()
		n, a := len(published), len(acked)
		mu.Unlock()
		if n >= 400 && a >= 50 {
			once.Do(func() { close(killAt) })
		}
	}
	httpc := &http.Client{Timeout: 30 * time.Second}
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for seq := 0; !killed.Load(); seq++ {
				var batch []map[string]any
				for i := 0; i < 10; i++ {
					batch = append(batch, structured(fmt.Sprintf("w%d-%d-%d", w, seq, i), "OrderPlaced", fmt.Sprintf("k%d", i%5)))
				}
				body, _ := json.Marshal(batch)
				res, err := httpc.Post(p.url+"/v1/topics/orders/events", "application/cloudevents-batch+json", bytes.NewReader(body))
				if err != nil {
					return // the server is gone
				}
				res.Body.Close()
				if res.StatusCode != 200 {
					if !killed.Load() {
						t.Errorf("publish answered %d", res.StatusCode)
					}
					return
				}
				mu.Lock()
				for _, e := range batch {
					published[e["id"].(string)] = true
				}
				mu.Unlock()
				noteProgress()
			}
		}()
	}
	wg.Add(1)
	go func() { // consumer: pull, ack, remember what was acked
		defer wg.Done()
		for !killed.Load() {
			body := `{"max": 20, "wait": "1s", "consumer": "c"}`
			res, err := httpc.Post(p.url+"/v1/topics/orders/subscriptions/billing/pull", "application/json", bytes.NewReader([]byte(body)))
			if err != nil {
				return
			}
			var pr struct {
				Deliveries []struct {
					Token string
					Event struct{ ID string }
				}
			}
			json.NewDecoder(res.Body).Decode(&pr)
			res.Body.Close()
			for _, d := range pr.Deliveries {
				ab, _ := json.Marshal(map[string]any{"tokens": []string{d.Token}})
				res, err := httpc.Post(p.url+"/v1/topics/orders/subscriptions/billing/ack", "application/json", bytes.NewReader(ab))
				if err != nil {
					return
				}
				var ar struct{ Results []struct{ Status string } }
				json.NewDecoder(res.Body).Decode(&ar)
				res.Body.Close()
				if len(ar.Results) == 1 && ar.Results[0].Status == "ok" {
					mu.Lock()
					acked[d.Event.ID] = true
					mu.Unlock()
					noteProgress()
				}
			}
		}
	}()
	select {
	case <-killAt:
	case <-time.After(60 * time.Second):
		t.Fatal("publishers and consumer made no progress in 60s")
	}
	killed.Store(true)
	p.kill()
	wg.Wait()

	p = startServer(t, dir)
	stored := map[string]bool{}
	for part := 0; part < 3; part++ {
		for from := 0; ; {
			evs := readEvents(t, p, fmt.Sprintf("/v1/topics/orders/events?partition=%d&from=%d&limit=10000", part, from))
			if len(evs) == 0 {
				break
			}
			for _, e := range evs {
				stored[e["id"].(string)] = true
			}
			from += len(evs)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	for id := range published {
		if !stored[id] {
			t.Fatalf("acknowledged publish %s is missing after SIGKILL (%d acknowledged, %d stored)", id, len(published), len(stored))
		}
	}
	// Drain the subscription: nothing acked comes back, and every stored
	// event not acked does. Leases held at the crash survive it and end
	// after the 2s ack timeout, so drain until the stats say nothing is
	// left, not until the first empty pull.
	delivered := map[string]bool{}
	for deadline := time.Now().Add(60 * time.Second); ; {
		if time.Now().After(deadline) {
			t.Fatal("the subscription did not drain within 60s")
		}
		ds := pullFrom(t, p, "orders", "billing", 1000, "1s")
		if len(ds) == 0 {
			st := p.must(http.StatusOK, "GET", "/v1/topics/orders/subscriptions/billing", nil).json(t)["stats"].(map[string]any)
			if st["lag"].(float64) == 0 && st["pending"].(float64) == 0 && st["inFlight"].(float64) == 0 {
				break
			}
			continue
		}
		var tokens []string
		for _, d := range ds {
			id := d["event"].(map[string]any)["id"].(string)
			if acked[id] {
				t.Fatalf("event %s was acknowledged before the crash and delivered again after it", id)
			}
			delivered[id] = true
			tokens = append(tokens, d["token"].(string))
		}
		p.must(http.StatusOK, "POST", "/v1/topics/orders/subscriptions/billing/ack", map[string]any{"tokens": tokens})
	}
	for id := range stored {
		if !acked[id] && !delivered[id] {
			t.Fatalf("stored event %s was neither acknowledged before the crash nor delivered after it", id)
		}
	}
	t.Logf("killed with %d acknowledged publishes and %d acknowledged deliveries; %d stored after restart, %d redelivered",
		len(published), len(acked), len(stored), len(delivered))
}

func pullFrom(t *testing.T, p *proc, topic, sub string, max int, wait string) []map[string]any {
	t.Helper()
	r := p.must(http.StatusOK, "POST", "/v1/topics/"+topic+"/subscriptions/"+sub+"/pull",
		fmt.Sprintf(`{"max": %d, "wait": %q, "consumer": "after"}`, max, wait)).json(t)
	var out []map[string]any
	for _, d := range r["deliveries"].([]any) {
		out = append(out, d.(map[string]any))
	}
	return out
}
