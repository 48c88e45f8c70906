package herald

import (
	"context"
	"time"
)

// Replay calls fn for every event of topic published at or after since, up
// to the end of the log as it was when Replay started: partition by
// partition, each in offset order. It stores no state (no subscription);
// fn returning an error stops the replay with that error. Events deleted by
// retention meanwhile are skipped. It is Tail from FromTime(since).
func (c *Client) Replay(ctx context.Context, topic string, since time.Time, fn func(*Message) error) error {
	return c.Tail(ctx, topic, fn, TailFrom(FromTime(since)))
}
