package herald

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/heraldhq/herald/internal/broker"
)

// Dead letters are browsed and redriven from the SDK, embedded and
// remote alike: what the HTTP API's /deadletters and the CLI's `herald
// dlq` do.
func TestDeadLettersAndRedrive(t *testing.T) {
	for _, tr := range transports() {
		t.Run(tr.name, func(t *testing.T) {
			c, ctx := openWithTopic(t, tr, "jobs")
			from := SubscriptionConfig{Start: FromEarliest}
			for _, sub := range []string{"w", "other"} {
				if err := c.CreateSubscription(ctx, "jobs", sub, from); err != nil {
					t.Fatal(err)
				}
			}
			if dls, err := c.DeadLetters(ctx, "jobs", "w", 0, 10); err != nil || len(dls) != 0 {
				t.Fatalf("dead letters before any = %+v, %v; want none", dls, err)
			}
			ids := make([]string, 3)
			for i := range ids {
				res, err := c.PublishSync(ctx, "jobs", ev("job", "", i))
				if err != nil {
					t.Fatal(err)
				}
				ids[i] = res.ID
			}
			ms := fetchAll(t, c, ctx, 3)
			settle := []func(context.Context) error{
				func(ctx context.Context) error { return ms[0].Reject(ctx, "bad payload") },
				ms[1].Ack,
				func(ctx context.Context) error { return ms[2].Reject(ctx, "no such customer") },
			}
			for i, s := range settle {
				if err := s(ctx); err != nil {
					t.Fatalf("settling message %d: %v", i, err)
				}
			}

			dls := listDeadLetters(t, c, ctx, 1)
			if len(dls) != 2 {
				t.Fatalf("listed %d dead letters, want 2: %+v", len(dls), dls)
			}
			for i, want := range []struct {
				id, reason, data string
				offset           int64
			}{{ids[0], "rejected: bad payload", `{"n":0}`, 0}, {ids[2], "rejected: no such customer", `{"n":2}`, 2}} {
				d := dls[i]
				if d.Event.ID != want.id || d.Reason != want.reason || string(d.Event.Data) != want.data || d.Offset != want.offset ||
					d.Topic != "jobs" || d.Subscription != "w" || d.Partition != 0 || d.Attempts != 1 || d.Redriven ||
					d.PublishTime.IsZero() || d.Time.Before(d.PublishTime) || d.Event.Extension(broker.ExtDLQReason) != "" {
					t.Errorf("dead letter %d = %+v\nwant event %s (%s) at offset %d, %q, one attempt, not redriven, without heralddlq extensions",
						i, d, want.id, want.data, want.offset, want.reason)
				}
			}

			if _, err := c.Redrive(ctx, "jobs", "w"); !isFieldError(err, "ids") {
				t.Fatalf("Redrive naming nothing = %v, want ErrInvalid naming ids", err)
			}
			if _, err := c.Redrive(ctx, "jobs", "w", dls[0].ID, dls[1].ID+100); !isFieldError(err, "ids[1]") {
				t.Fatalf("Redrive of a dead letter that is not = %v, want ErrInvalid naming ids[1]", err)
			}
			if ms, err := c.Fetch(done(ctx), "jobs", "w", "c1", 10); len(ms) != 0 {
				t.Fatalf("a refused redrive gave back %d messages (%v)", len(ms), err)
			}

			if n, err := c.Redrive(ctx, "jobs", "w", dls[0].ID); n != 1 || err != nil {
				t.Fatalf("Redrive of one = %d, %v; want 1", n, err)
			}
			again := fetchAll(t, c, ctx, 1)[0]
			if again.ID != ids[0] || again.Attempt != 1 || string(again.Data) != `{"n":0}` {
				t.Fatalf("redriven: %s attempt %d %s; want %s, attempt 1", again.ID, again.Attempt, again.Data, ids[0])
			}
			if err := again.Ack(ctx); err != nil {
				t.Fatal(err)
			}
			if n, err := c.Redrive(ctx, "jobs", "w", dls[0].ID); n != 0 || err != nil {
				t.Fatalf("Redrive of one already redriven = %d, %v; want 0", n, err)
			}
			if dls := listDeadLetters(t, c, ctx, 10); len(dls) != 2 || !dls[0].Redriven || dls[1].Redriven {
				t.Fatalf("after one redrive: %+v; want the first marked redriven, the second not", dls)
			}

			if n, err := c.RedriveAll(ctx, "jobs", "w"); n != 1 || err != nil {
				t.Fatalf("RedriveAll = %d, %v; want 1, the one not yet redriven", n, err)
			}
			if m := fetchAll(t, c, ctx, 1)[0]; m.ID != ids[2] {
				t.Fatalf("RedriveAll gave back %s, want %s", m.ID, ids[2])
			}

			// The other subscription saw each event once, and no redrive.
			var seen []string
			for len(seen) < 3 {
				ms, err := c.Fetch(ctx, "jobs", "other", "c1", 10)
				if err != nil {
					t.Fatal(err)
				}
				for _, m := range ms {
					seen = append(seen, m.ID)
				}
			}
			if ms, _ := c.Fetch(done(ctx), "jobs", "other", "c1", 10); len(ms) != 0 || fmt.Sprint(seen) != fmt.Sprint(ids) {
				t.Fatalf("the other subscription got %v and then %d more, want %v alone", seen, len(ms), ids)
			}

			if _, err := c.DeadLetters(ctx, "jobs", "nope", 0, 10); !errors.Is(err, ErrSubscriptionNotFound) {
				t.Fatalf("DeadLetters of a missing subscription = %v, want ErrSubscriptionNotFound", err)
			}
			if _, err := c.DeadLetters(ctx, "jobs", "w", 0, 0); !isFieldError(err, "limit") {
				t.Fatalf("DeadLetters with limit 0 = %v, want ErrInvalid", err)
			}
			if _, err := c.RedriveAll(ctx, "nope", "w"); !errors.Is(err, ErrTopicNotFound) {
				t.Fatalf("RedriveAll on a missing topic = %v, want ErrTopicNotFound", err)
			}
		})
	}
}

// listDeadLetters lists every dead letter of jobs/w, limit at a time, as
// a caller pages: from the last ID + 1 until an empty answer.
func listDeadLetters(t *testing.T, c *Client, ctx context.Context, limit int) []DeadLetter {
	t.Helper()
	var all []DeadLetter
	from := int64(0)
	for {
		dls, err := c.DeadLetters(ctx, "jobs", "w", from, limit)
		if err != nil {
			t.Fatal(err)
		}
		if len(dls) > limit {
			t.Fatalf("DeadLetters with limit %d gave %d", limit, len(dls))
		}
		if len(dls) == 0 {
			return all
		}
		all = append(all, dls...)
		from = dls[len(dls)-1].ID + 1
	}
}

// isFieldError reports whether err is ErrInvalid naming field.
func isFieldError(err error, field string) bool {
	var fe *broker.FieldError
	return errors.Is(err, ErrInvalid) && errors.As(err, &fe) && fe.Field == field
}

// done returns a context already ended, which makes Fetch a poll.
func done(ctx context.Context) context.Context {
	ctx, cancel := context.WithCancel(ctx)
	cancel()
	return ctx
}
