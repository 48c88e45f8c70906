package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald"
)

// SIGKILL the server while SDK publishers and an SDK consumer run over the
// streaming protocol. After a restart on the same address, every publish
// the SDK acknowledged is stored; the consumer reconnects by itself and
// resumes: nothing it acknowledged comes back, and every other event is
// delivered to it.
func TestE2ESDKKillNine(t *testing.T) {
	if testing.Short() {
		t.Skip("kills real processes")
	}
	dir := t.TempDir()
	p := startServer(t, dir)
	addr := strings.TrimPrefix(p.url, "http://")
	p.must(http.StatusCreated, "PUT", "/v1/topics/orders", `{"partitions": 2}`)

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	client, err := herald.Dial(ctx, p.url, herald.WithBatching(50, 1<<20, time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()

	var (
		mu         sync.Mutex
		published  = map[string]bool{} // acknowledged by the SDK
		handled    = map[string]int{}  // handler calls per id
		ackedFirst = map[string]bool{} // handled before the kill (acked: the handler returned nil)
		killed     atomic.Bool
	)
	// The consumer runs across the crash and must reconnect by itself.
	subCtx, stopSub := context.WithCancel(ctx)
	subDone := make(chan error, 1)
	progress := make(chan struct{}, 1)
	go func() {
		subDone <- client.Subscribe(subCtx, "orders", "billing", func(_ context.Context, m *herald.Message) error {
			mu.Lock()
			handled[m.ID]++
			if !killed.Load() {
				ackedFirst[m.ID] = true
			}
			mu.Unlock()
			select {
			case progress <- struct{}{}:
			default:
			}
			return nil
		}, herald.WithStart(herald.FromEarliest), herald.Concurrency(4), herald.WithAckTimeout(2*time.Second))
	}()

	pubCtx, stopPub := context.WithCancel(ctx)
	var pubs sync.WaitGroup
	for w := 0; w < 3; w++ {
		pubs.Add(1)
		go func() {
			defer pubs.Done()
			for i := 0; pubCtx.Err() == nil; i++ {
				e := herald.Event{ID: fmt.Sprintf("w%d-%d", w, i), Source: "/e2e", Type: "OrderPlaced"}
				e.SetExtension("partitionkey", fmt.Sprintf("k%d", i%7))
				res, err := client.PublishSync(pubCtx, "orders", e)
				if err != nil {
					var perr *herald.PublishError
					if errors.As(err, &perr) && !perr.Retryable {
						t.Errorf("publish failed and says a retry is unsafe: %v", err)
						return
					}
					continue // retryable: the server is down or restarting
				}
				if res.ID != e.ID {
					t.Errorf("publish of %s answered for %s", e.ID, res.ID)
				}
				mu.Lock()
				published[e.ID] = true
				mu.Unlock()
			}
		}()
	}
	// Kill once both sides have made progress.
	for {
		mu.Lock()
		n, h := len(published), len(handled)
		mu.Unlock()
		if n >= 300 && h >= 100 {
			break
		}
		select {
		case <-progress:
		case <-time.After(100 * time.Millisecond): // publishers make progress without signalling
		case <-ctx.Done():
			t.Fatal("no progress before the kill")
		}
	}
	killed.Store(true)
	p.kill()
	p = startServerAt(t, dir, addr)

	// Publishers continue through the restart; stop them after a few more.
	mu.Lock()
	before := len(published)
	mu.Unlock()
	for {
		mu.Lock()
		n := len(published)
		mu.Unlock()
		if n >= before+100 {
			break
		}
		select {
		case <-time.After(50 * time.Millisecond):
		case <-ctx.Done():
			t.Fatal("publishers did not resume after the restart")
		}
	}
	stopPub()
	pubs.Wait()
	if err := client.Flush(ctx); err != nil { // batches still in flight land before the snapshot below
		t.Fatal(err)
	}

	// Every acknowledged publish is stored.
	stored := map[string]bool{}
	for part := 0; part < 2; part++ {
		for _, e := range readEvents(t, p, fmt.Sprintf("/v1/topics/orders/events?partition=%d&from=earliest&limit=10000", part)) {
			stored[e["id"].(string)] = true
		}
	}
	mu.Lock()
	for id := range published {
		if !stored[id] {
			mu.Unlock()
			t.Fatalf("publish %s was acknowledged to the SDK but is not stored after SIGKILL", id)
		}
	}
	mu.Unlock()

	// The consumer catches up with everything stored.
	for {
		mu.Lock()
		missing := 0
		for id := range stored {
			if handled[id] == 0 {
				missing++
			}
		}
		mu.Unlock()
		if missing == 0 {
			break
		}
		select {
		case <-progress:
		case <-time.After(200 * time.Millisecond):
		case <-ctx.Done():
			t.Fatalf("the consumer did not resume: %d stored events never handled", missing)
		}
	}
	stopSub()
	if err := <-subDone; err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	// Handled twice is allowed only for events whose ack may have been lost
	// in the crash: handled before the kill. Nothing handled after the
	// restart came back.
	mu.Lock()
	defer mu.Unlock()
	for id := range handled {
		if !stored[id] {
			t.Fatalf("event %s was delivered but is not stored after the crash", id)
		}
	}
	again := 0
	for id, n := range handled {
		if n > 1 {
			if !ackedFirst[id] {
				t.Fatalf("event %s handled %d times, all after the restart", id, n)
			}
			again++
		}
	}
	t.Logf("%d publishes acknowledged, %d stored, %d handled; %d handled again (acks in flight at the kill)",
		len(published), len(stored), len(handled), again)
}
