package broker

import (
	"context"
	"slices"
	"testing"
	"time"
)

// retryFast redelivers one second after a nack, without jitter.
var retryFast = RetryPolicy{Delays: []time.Duration{time.Second}, MaxDeliveries: 5}

func TestKeyOrderingUnderRetries(t *testing.T) {
	e := newEnv(t)
	e.createTopic("t", TopicConfig{})
	e.createSub("t", "s", SubscriptionConfig{Ordering: OrderKey, Retry: retryFast})
	e.publish("t", ev("a1", "partitionkey=a"), ev("b1", "partitionkey=b"), ev("a2", "partitionkey=a"),
		ev("n1"), ev("b2", "partitionkey=b"), ev("a3", "partitionkey=a"), ev("n2"))

	first := e.poll("t", "s", "c1", 10)
	got := ids(first)
	slices.Sort(got)
	if want := []string{"a1", "b1", "n1", "n2"}; !slices.Equal(got, want) {
		t.Fatalf("first fetch %v, want the head of each key and the keyless events %v", got, want)
	}
	byID := map[string]Delivery{}
	for _, d := range first {
		byID[d.Event.Event.ID] = d
	}
	// a1 fails: a2 must wait for its retry, b continues.
	if err := e.b.Nack(context.Background(), "t", "s", byID["a1"].Token, 0, "boom"); err != nil {
		t.Fatal(err)
	}
	e.ack("t", "s", byID["b1"], byID["n1"], byID["n2"])
	b2 := e.poll("t", "s", "c2", 10)
	if got := ids(b2); !slices.Equal(got, []string{"b2"}) {
		t.Fatalf("after a1 failed and b1 acked got %v, want only b2", got)
	}
	e.ack("t", "s", b2...)
	e.clock.Advance(time.Second)
	retry := e.poll("t", "s", "c3", 10)
	if len(retry) != 1 || retry[0].Event.Event.ID != "a1" || retry[0].Attempt != 2 {
		t.Fatalf("after the backoff got %+v, want a1 attempt 2 (not a2)", ids(retry))
	}
	// The lease expires too: still a1, never a2.
	e.clock.Advance(DefaultAckTimeout)
	if got := e.poll("t", "s", "c3", 10); len(got) != 1 || got[0].Event.Event.ID != "a1" || got[0].Attempt != 3 {
		t.Fatalf("after the lease expired got %v, want a1 attempt 3", ids(got))
	} else {
		e.ack("t", "s", got...)
	}
	if got := ids(e.poll("t", "s", "c1", 10)); !slices.Equal(got, []string{"a2"}) {
		t.Fatalf("after a1 was acked got %v, want a2", got)
	}
}

func TestKeyOrderingMovesOnAfterDeadLetter(t *testing.T) {
	e := newEnv(t)
	e.createTopic("t", TopicConfig{})
	e.createSub("t", "s", SubscriptionConfig{Ordering: OrderKey, Retry: RetryPolicy{Delays: []time.Duration{time.Second}, MaxDeliveries: 2}})
	e.publish("t", ev("a1", "partitionkey=a"), ev("a2", "partitionkey=a"))
	for attempt := 1; attempt <= 2; attempt++ {
		ds := e.poll("t", "s", "c", 10)
		if len(ds) != 1 || ds[0].Event.Event.ID != "a1" {
			t.Fatalf("attempt %d got %v, want a1", attempt, ids(ds))
		}
		if err := e.b.Nack(context.Background(), "t", "s", ds[0].Token, 0, "boom"); err != nil {
			t.Fatal(err)
		}
		e.clock.Advance(time.Second)
	}
	if got := ids(e.poll("t", "s", "c", 10)); !slices.Equal(got, []string{"a2"}) {
		t.Fatalf("after a1 was dead-lettered got %v, want a2", got)
	}
}

func TestPartitionOrdering(t *testing.T) {
	e := newEnv(t)
	e.createTopic("t", TopicConfig{Partitions: 2})
	e.createSub("t", "s", SubscriptionConfig{Ordering: OrderPartition, Retry: retryFast})
	var want [2][]string
	for i := range 6 {
		key := []string{"x", "y"}[i%2]
		id := key + string(rune('0'+i))
		r := e.publish("t", ev(id, "partitionkey="+key))[0]
		want[r.Partition] = append(want[r.Partition], id)
	}
	var got [2][]string
	for round := 0; round < 20; round++ {
		ds := e.poll("t", "s", "c", 10)
		per := map[int]int{}
		for _, d := range ds {
			per[d.Event.Partition]++
			if per[d.Event.Partition] > 1 {
				t.Fatalf("two events of partition %d in flight", d.Event.Partition)
			}
			got[d.Event.Partition] = append(got[d.Event.Partition], d.Event.Event.ID)
			// Fail every first attempt once: order must still hold.
			if d.Attempt == 1 {
				if err := e.b.Nack(context.Background(), "t", "s", d.Token, 0, "once"); err != nil {
					t.Fatal(err)
				}
				got[d.Event.Partition] = got[d.Event.Partition][:len(got[d.Event.Partition])-1]
			} else {
				e.ack("t", "s", d)
			}
		}
		e.clock.Advance(time.Second)
	}
	for p := range 2 {
		if !slices.Equal(got[p], want[p]) {
			t.Fatalf("partition %d acked in order %v, published %v", p, got[p], want[p])
		}
	}
}

func TestOrderingNoneDeliversInParallel(t *testing.T) {
	e := newEnv(t)
	e.createTopic("t", TopicConfig{})
	e.createSub("t", "s", SubscriptionConfig{})
	e.publish("t", ev("a1", "partitionkey=a"), ev("a2", "partitionkey=a"), ev("a3", "partitionkey=a"))
	if got := e.poll("t", "s", "c", 10); len(got) != 3 {
		t.Fatalf("ordering none delivered %d of 3 same-key events at once", len(got))
	}
}
