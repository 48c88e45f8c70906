package main

import (
	"context"
	"errors"
	"os/exec"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// TestRedisConsumerHoldsTwoReadsUnhandled checks the window the harness
// gives a Redis consumer: with its handler stuck on the first entry, the
// consumer group has delivered redisConsumeWindow(fetch) entries and no
// more (XPENDING): the read being handled and the one read ahead, the
// window of Herald's subscriber in `herald bench` and of the NATS consumer.
func TestRedisConsumerHoldsTwoReadsUnhandled(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a server")
	}
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skip("redis-server not installed")
	}
	const fetch = 10
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := startRedis(ctx, bin, t.TempDir(), "everysec")
	if err != nil {
		t.Fatal(err)
	}
	defer b.close()
	_, stop := subscribeStuck(ctx, t, b, fetch)
	defer stop()

	rdb := b.client()
	defer rdb.Close()
	want := int64(redisConsumeWindow(fetch))
	wait, done := context.WithTimeout(ctx, 10*time.Second)
	defer done()
	for {
		pending, err := rdb.XPending(ctx, redisStream, "window").Result()
		if err != nil && !errors.Is(err, redis.Nil) {
			t.Fatalf("XPENDING: %v (waiting for %d pending)", err, want)
		}
		var n int64
		if pending != nil {
			n = pending.Count
		}
		switch {
		case n > want:
			t.Fatalf("%d entries delivered with the handler stuck, want at most %d", n, want)
		case n == want:
			return
		}
		select {
		case <-wait.Done():
			t.Fatalf("%d entries delivered with the handler stuck, want %d", n, want)
		case <-time.After(5 * time.Millisecond): // poll the server's count
		}
	}
}
