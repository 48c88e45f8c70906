package herald

import (
	"context"
	"errors"
	"time"

	"github.com/heraldhq/herald/internal/commitlog"
)

// Replay calls fn for every event of topic published at or after since, up
// to the end of the log as it was when Replay started: partition by
// partition, each in offset order. It stores no state (no subscription);
// fn returning an error stops the replay with that error. Events deleted by
// retention meanwhile are skipped.
func (c *Client) Replay(ctx context.Context, topic string, since time.Time, fn func(*Message) error) error {
	info, err := c.backend.Topic(topic)
	if err != nil {
		return err
	}
	for p := 0; p < info.Config.Partitions; p++ {
		_, end, err := c.backend.Offsets(topic, p)
		if err != nil {
			return err
		}
		from, err := c.backend.OffsetForTime(topic, p, since)
		if err != nil {
			return err
		}
		for from < end {
			events, err := c.backend.Read(ctx, topic, p, from, int(min(end-from, 1000)))
			var oor *commitlog.OutOfRangeError
			if errors.As(err, &oor) {
				from = oor.Earliest // retention moved the start
				continue
			}
			if err != nil {
				return err
			}
			if len(events) == 0 {
				break
			}
			for _, se := range events {
				if se.Offset >= end {
					break
				}
				m := &Message{Event: se.Event, Topic: topic, Partition: se.Partition, Offset: se.Offset,
					PublishTime: se.PublishTime, c: c}
				if err := fn(m); err != nil {
					return err
				}
				from = se.Offset + 1
			}
		}
	}
	return nil
}
