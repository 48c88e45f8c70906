package main

import (
	"context"
	"errors"
	"fmt"
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
	awaitWindow(ctx, t, redisConsumeWindow(fetch), func() (int, error) {
		pending, err := rdb.XPending(ctx, redisStream, "window").Result()
		switch {
		case errors.Is(err, redis.Nil):
			return 0, nil
		case err != nil:
			return 0, fmt.Errorf("XPENDING: %w", err)
		}
		return int(pending.Count), nil
	})
}
