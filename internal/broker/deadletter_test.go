package broker

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"testing"
	"time"
)

// failUntilDead nacks an event until it is dead-lettered and returns the
// deliveries it saw.
func failUntilDead(t *testing.T, e *env, sub string, max int) {
	t.Helper()
	for attempt := 1; attempt <= max; attempt++ {
		ds := e.poll("t", sub, "c", 1)
		if len(ds) != 1 || ds[0].Attempt != attempt {
			t.Fatalf("attempt %d: got %+v", attempt, ds)
		}
		if err := e.b.Nack(context.Background(), "t", sub, ds[0].Token, 0, "error "+strconv.Itoa(attempt)); err != nil {
			t.Fatal(err)
		}
		e.clock.Advance(time.Second)
	}
}

func TestDeadLetterAfterMaxDeliveries(t *testing.T) {
	e := newEnv(t)
	e.createTopic("t", TopicConfig{Partitions: 2})
	e.createSub("t", "s", SubscriptionConfig{Retry: RetryPolicy{Delays: []time.Duration{time.Second}, MaxDeliveries: 3}})
	orig := ev("poison", "partitionkey=k", "custom=v", "subject=x")
	r := e.publish("t", orig)[0]
	failUntilDead(t, e, "s", 3)
	if got := e.poll("t", "s", "c", 1); len(got) != 0 {
		t.Fatalf("delivered a 4th time: %+v", got)
	}
	dls, err := e.b.DeadLetters(context.Background(), "t", "s", 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(dls) != 1 {
		t.Fatalf("%d dead letters, want 1", len(dls))
	}
	dl := dls[0]
	if dl.Event.ID != "poison" || dl.Event.Subject != "x" || string(dl.Event.Data) != "poison" ||
		dl.Event.Extensions["custom"] != "v" || dl.Attempts != 3 || dl.LastError != "error 3" ||
		dl.Reason != "max deliveries reached (3)" || dl.Topic != "t" || dl.Partition != r.Partition ||
		dl.Offset != r.Offset || dl.Subscription != "s" || dl.Redriven {
		t.Fatalf("dead letter %+v does not describe the event", dl)
	}
	// The dead-letter topic is an ordinary topic.
	raw, err := e.b.Read(context.Background(), DeadLetterTopicName("t", "s"), 0, 0, 10)
	if err != nil || len(raw) != 1 {
		t.Fatalf("Read of the dead-letter topic: %d events, %v", len(raw), err)
	}
	x := raw[0].Event.Extensions
	if x[ExtDLQReason] == "" || x[ExtDLQError] != "error 3" || x[ExtDLQAttempts] != "3" || x[ExtDLQTopic] != "t" ||
		x[ExtDLQPartition] != strconv.Itoa(r.Partition) || x[ExtDLQOffset] != "0" || x[ExtDLQSubscription] != "s" {
		t.Fatalf("dead-letter extensions %v", x)
	}
	st, _ := e.b.Stats("t", "s")
	if st.DeadLettered != 1 || st.Pending != 0 || st.InFlight != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestExpiredLeasesCountTowardMaxDeliveries(t *testing.T) {
	e := newEnv(t)
	e.createTopic("t", TopicConfig{})
	e.createSub("t", "s", SubscriptionConfig{AckTimeout: time.Second, Retry: RetryPolicy{MaxDeliveries: 2}})
	e.publish("t", ev("slow"))
	for range 2 {
		if ds := e.poll("t", "s", "c", 1); len(ds) != 1 {
			t.Fatalf("got %d deliveries", len(ds))
		}
		e.clock.Advance(time.Second)
	}
	dls, err := e.b.DeadLetters(context.Background(), "t", "s", 0, 10)
	if err != nil || len(dls) != 1 || dls[0].LastError == "" || dls[0].Attempts != 2 {
		t.Fatalf("dead letters %+v, %v", dls, err)
	}
}

func TestRejectGoesStraightToTheDeadLetterTopic(t *testing.T) {
	e := newEnv(t)
	e.createTopic("t", TopicConfig{})
	e.createSub("t", "s", SubscriptionConfig{DeadLetterTopic: "graveyard"})
	e.publish("t", ev("bad"))
	d := e.poll("t", "s", "c", 1)[0]
	if err := e.b.Reject(context.Background(), "t", "s", d.Token, "schema mismatch"); err != nil {
		t.Fatal(err)
	}
	dls, err := e.b.DeadLetters(context.Background(), "t", "s", 0, 10)
	if err != nil || len(dls) != 1 || dls[0].Reason != "rejected: schema mismatch" || dls[0].Attempts != 1 {
		t.Fatalf("dead letters %+v, %v", dls, err)
	}
	if _, err := e.b.Topic("graveyard"); err != nil {
		t.Fatalf("the configured dead-letter topic: %v", err)
	}
	if err := e.b.Ack(context.Background(), "t", "s", d.Token); !errors.Is(err, ErrLeaseExpired) {
		t.Fatalf("ack after reject = %v", err)
	}
}

func TestRedrive(t *testing.T) {
	tests := []struct {
		name    string
		ids     func(dls []DeadLetter) []int64
		want    []string
		restart bool
	}{
		{"all", func([]DeadLetter) []int64 { return nil }, []string{"a", "b", "c"}, false},
		{"selected", func(dls []DeadLetter) []int64 { return []int64{dls[0].ID, dls[2].ID} }, []string{"a", "c"}, false},
		{"all, then restart", func([]DeadLetter) []int64 { return nil }, []string{"a", "b", "c"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			e.createTopic("t", TopicConfig{})
			e.createSub("t", "s", SubscriptionConfig{})
			e.createSub("t", "other", SubscriptionConfig{})
			e.publish("t", ev("a"), ev("b"), ev("c"), ev("ok"))
			for _, d := range e.poll("t", "s", "c", 10) {
				if d.Event.Event.ID == "ok" {
					e.ack("t", "s", d)
				} else if err := e.b.Reject(context.Background(), "t", "s", d.Token, "no"); err != nil {
					t.Fatal(err)
				}
			}
			e.ack("t", "other", e.poll("t", "other", "c", 10)...)
			dls, err := e.b.DeadLetters(context.Background(), "t", "s", 0, 10)
			if err != nil || len(dls) != 3 {
				t.Fatalf("dead letters %d, %v", len(dls), err)
			}
			n, err := e.b.Redrive(context.Background(), "t", "s", tt.ids(dls))
			if err != nil || n != len(tt.want) {
				t.Fatalf("Redrive = %d, %v; want %d", n, err, len(tt.want))
			}
			if tt.restart {
				e.restart()
			}
			back := e.poll("t", "s", "c", 10)
			got := ids(back)
			slices.Sort(got)
			if !slices.Equal(got, tt.want) {
				t.Fatalf("redriven deliveries %v, want %v", got, tt.want)
			}
			for _, d := range back {
				if d.Attempt != 1 || d.Event.Event.Extensions[ExtDLQReason] != "" {
					t.Fatalf("redriven delivery %+v should start over, without dead-letter attributes", d)
				}
			}
			// Only this subscription gets them back.
			if other := e.poll("t", "other", "c", 10); len(other) != 0 {
				t.Fatalf("redrive reached another subscription: %v", ids(other))
			}
			// Redriving again gives nothing twice; a new failure is a new dead letter.
			if n, err := e.b.Redrive(context.Background(), "t", "s", nil); err != nil || n != 3-len(tt.want) {
				t.Fatalf("second Redrive = %d, %v", n, err)
			}
			if err := e.b.Reject(context.Background(), "t", "s", back[0].Token, "again"); err != nil {
				t.Fatal(err)
			}
			e.ack("t", "s", back[1:]...)
			dls, err = e.b.DeadLetters(context.Background(), "t", "s", 0, 10)
			if err != nil {
				t.Fatal(err)
			}
			redriven, live := 0, 0
			for _, dl := range dls {
				if dl.Redriven {
					redriven++
				} else {
					live++
				}
			}
			if len(dls) != 4 || redriven != 3 || live != 1 {
				t.Fatalf("dead letters after a new failure: %d (%d redriven, %d live), want 4 (3, 1)", len(dls), redriven, live)
			}
		})
	}
}

func TestRedriveRejectsForeignIDs(t *testing.T) {
	e := newEnv(t)
	e.createTopic("t", TopicConfig{})
	e.createSub("t", "s", SubscriptionConfig{})
	e.publish("t", ev("a"))
	d := e.poll("t", "s", "c", 1)[0]
	if err := e.b.Reject(context.Background(), "t", "s", d.Token, "no"); err != nil {
		t.Fatal(err)
	}
	_, err := e.b.Redrive(context.Background(), "t", "s", []int64{0, 99})
	wantField(t, err, "ids[1]")
	if got := e.poll("t", "s", "c", 1); len(got) != 0 {
		t.Fatalf("a failed redrive gave back %v", ids(got))
	}
}
