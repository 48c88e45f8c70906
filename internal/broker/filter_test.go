package broker

import (
	"slices"
	"testing"
)

func TestFilters(t *testing.T) {
	tests := []struct {
		name   string
		filter Filter
		want   []string
	}{
		{"empty matches all", Filter{}, []string{"a", "b", "c", "d"}},
		{"one type", Filter{Types: []string{"order.created"}}, []string{"a", "c"}},
		{"several types", Filter{Types: []string{"order.created", "order.paid"}}, []string{"a", "b", "c"}},
		{"subject prefix", Filter{SubjectPrefix: "eu/"}, []string{"a", "b"}},
		{"type and prefix", Filter{Types: []string{"order.created"}, SubjectPrefix: "eu/"}, []string{"a"}},
		{"nothing matches", Filter{Types: []string{"nope"}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			e.createTopic("t", TopicConfig{})
			e.createSub("t", "s", SubscriptionConfig{Filter: tt.filter})
			e.publish("t",
				ev("a", "type=order.created", "subject=eu/1"),
				ev("b", "type=order.paid", "subject=eu/2"),
				ev("c", "type=order.created", "subject=us/3"),
				ev("d", "type=user.created", "subject=us/4"))
			got := ids(e.poll("t", "s", "c", 10))
			slices.Sort(got)
			if !slices.Equal(got, tt.want) {
				t.Fatalf("delivered %v, want %v", got, tt.want)
			}
			// Filtered-out events are settled: nothing is left behind.
			e.ack("t", "s", e.poll("t", "s", "c", 10)...)
			st, _ := e.b.Stats("t", "s")
			if st.Lag != 0 || st.Pending != 0 {
				t.Fatalf("stats %+v: skipped events must not count as pending", st)
			}
			// The same filter on a tail.
			stream, err := e.b.Tail(doneCtx(), "t", StartPosition{Kind: StartEarliest}, tt.filter)
			if err != nil {
				t.Fatal(err)
			}
			var tailed []string
			for {
				se, err := stream.Next(doneCtx())
				if err != nil {
					break
				}
				tailed = append(tailed, se.Event.ID)
			}
			slices.Sort(tailed)
			if !slices.Equal(tailed, tt.want) {
				t.Fatalf("tail saw %v, want %v", tailed, tt.want)
			}
		})
	}
}
