package broker

import (
	"context"
	"slices"
	"testing"
	"time"
)

func TestDelayedDelivery(t *testing.T) {
	for _, restart := range []string{"none", "clean", "crash"} {
		t.Run("restart="+restart, func(t *testing.T) {
			e := newEnv(t)
			e.createTopic("t", TopicConfig{})
			e.createSub("t", "s", SubscriptionConfig{Ordering: OrderKey})
			at := e.clock.Now().Add(time.Hour).Format(time.RFC3339)
			e.publish("t", ev("later", "partitionkey=k", "deliverat="+at), ev("now", "partitionkey=k"))
			// Stored at once...
			if _, next, _ := e.b.Offsets("t", 0); next != 2 {
				t.Fatalf("%d events stored, want 2", next)
			}
			// ...not delivered before its time, and not blocking its key.
			first := e.poll("t", "s", "c", 10)
			if got := ids(first); !slices.Equal(got, []string{"now"}) {
				t.Fatalf("got %v, want only the undelayed event", got)
			}
			e.ack("t", "s", first...)
			switch restart {
			case "clean":
				e.restart()
			case "crash":
				e.b.skipSnapshots = true
				e.restart()
			}
			e.clock.Advance(time.Hour - time.Second)
			if got := e.poll("t", "s", "c", 10); len(got) != 0 {
				t.Fatalf("delayed event delivered an hour early minus a second: %v", ids(got))
			}
			st, _ := e.b.Stats("t", "s")
			if st.Delayed != 1 {
				t.Fatalf("stats %+v, want 1 delayed", st)
			}
			e.clock.Advance(time.Second)
			got := e.poll("t", "s", "c", 10)
			if len(got) != 1 || got[0].Event.Event.ID != "later" || got[0].Attempt != 1 {
				t.Fatalf("at its time got %v", ids(got))
			}
		})
	}
}

func TestDelayedDeliveryWithPartitionOrdering(t *testing.T) {
	e := newEnv(t)
	e.createTopic("t", TopicConfig{})
	e.createSub("t", "s", SubscriptionConfig{Ordering: OrderPartition})
	at := e.clock.Now().Add(time.Minute).Format(time.RFC3339)
	e.publish("t", ev("d", "deliverat="+at), ev("x"), ev("y"))
	for _, want := range []string{"x", "y"} {
		got := e.poll("t", "s", "c", 10)
		if len(got) != 1 || got[0].Event.Event.ID != want {
			t.Fatalf("got %v, want %s: a delayed event must not hold its partition", ids(got), want)
		}
		e.ack("t", "s", got...)
	}
	e.clock.Advance(time.Minute)
	if got := ids(e.poll("t", "s", "c", 10)); !slices.Equal(got, []string{"d"}) {
		t.Fatalf("got %v, want d", got)
	}
}

func TestTailHoldsBackDelayedEvents(t *testing.T) {
	e := newEnv(t)
	e.createTopic("t", TopicConfig{})
	at := e.clock.Now().Add(time.Minute).Format(time.RFC3339)
	e.publish("t", ev("d", "deliverat="+at), ev("x"))
	st, err := e.b.Tail(context.Background(), "t", StartPosition{Kind: StartEarliest}, Filter{})
	if err != nil {
		t.Fatal(err)
	}
	first, err := st.Next(context.Background())
	if err != nil || first.Event.ID != "x" {
		t.Fatalf("first = %v, %v; want x", first.Event.ID, err)
	}
	short, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if got, err := st.Next(short); err == nil {
		t.Fatalf("tail returned %s before its delivery time", got.Event.ID)
	}
	e.clock.Advance(time.Minute)
	if got, err := st.Next(context.Background()); err != nil || got.Event.ID != "d" {
		t.Fatalf("after its time = %v, %v; want d", got.Event.ID, err)
	}
	// Read is the raw log: both are there.
	all, err := e.b.Read(context.Background(), "t", 0, 0, 10)
	if err != nil || len(all) != 2 {
		t.Fatalf("Read = %d events, %v", len(all), err)
	}
}
