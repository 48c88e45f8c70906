package broker

import (
	"fmt"
	"slices"
	"testing"
)

// The subscriptions of one topic decode each new record once and share
// the event; each still applies its own filter, in log order, through
// cache misses (a subscription behind the others) and slot reuse (more
// events than the cache holds).
func TestSubscriptionsShareDecodedEvents(t *testing.T) {
	e := newEnv(t)
	e.createTopic("t", TopicConfig{})
	e.createSub("t", "all1", SubscriptionConfig{MaxInFlight: 5000})
	e.createSub("t", "all2", SubscriptionConfig{MaxInFlight: 5000})
	e.createSub("t", "odd", SubscriptionConfig{MaxInFlight: 5000, Filter: Filter{Types: []string{"odd"}}})

	e.publish("t", ev("first"))
	a, b := e.poll("t", "all1", "c", 1), e.poll("t", "all2", "c", 1)
	if len(a) != 1 || len(b) != 1 || &a[0].Event.Event.Data[0] != &b[0].Event.Event.Data[0] {
		t.Fatalf("the two subscriptions did not share one decoded event: %v %v", ids(a), ids(b))
	}
	e.ack("t", "all1", a...)
	e.ack("t", "all2", b...)

	const n = 3 * eventCacheSlots
	var all, odd []string
	for i := range n {
		id := fmt.Sprintf("e%04d", i)
		typ := "even"
		if i%2 == 1 {
			typ = "odd"
			odd = append(odd, id)
		}
		all = append(all, id)
		e.publish("t", ev(id, "type="+typ))
	}
	all = append([]string{"first"}, all...)
	drain := func(sub string) []string {
		t.Helper()
		var got []string
		for len(got) < n+1 {
			ds := e.poll("t", sub, "c", 700)
			if len(ds) == 0 {
				break
			}
			e.ack("t", sub, ds...)
			got = append(got, ids(ds)...)
		}
		return got
	}
	// all1 reads far ahead of all2 (misses for all2), odd filters.
	if got := drain("all1"); !slices.Equal(got, all[1:]) {
		t.Fatalf("all1 got %d events, want %d in log order", len(got), len(all)-1)
	}
	if got := drain("odd"); !slices.Equal(got, odd) {
		t.Fatalf("odd got %d events, want the %d odd ones in log order", len(got), len(odd))
	}
	if got := drain("all2"); !slices.Equal(got, all[1:]) {
		t.Fatalf("all2 got %d events, want %d in log order", len(got), len(all)-1)
	}
}

// A subscription far behind puts old records: they take no slot that
// holds a later offset, so the subscriptions at the head keep sharing.
func TestEventCacheKeepsTheNewerRecord(t *testing.T) {
	var c eventCache
	events := func(from, to int64) []*StoredEvent {
		var evs []*StoredEvent
		for off := from; off < to; off++ {
			evs = append(evs, &StoredEvent{Offset: off})
		}
		return evs
	}
	head := eventCacheSlots * 5
	c.put(events(int64(head), int64(head+100)))
	c.put(events(int64(head-2*eventCacheSlots), int64(head-2*eventCacheSlots+100))) // the laggard, same slots
	if got := c.run(int64(head), int64(head+100), 1000, nil); len(got) != 100 {
		t.Fatalf("after a laggard's put the head's run has %d events, want 100", len(got))
	}
	if got := c.run(int64(head-2*eventCacheSlots), int64(head), 1000, nil); len(got) != 0 {
		t.Fatalf("the laggard's records were cached over newer ones: a run of %d", len(got))
	}
	c.put(events(int64(head+eventCacheSlots), int64(head+eventCacheSlots+10))) // newer replaces older
	if got := c.run(int64(head+eventCacheSlots), int64(head+eventCacheSlots+10), 1000, nil); len(got) != 10 {
		t.Fatalf("newer records did not take their slots: a run of %d", len(got))
	}
}
