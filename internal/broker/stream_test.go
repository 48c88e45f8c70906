package broker

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"
)

// publishTimed publishes e0..e4, one second apart.
func publishTimed(e *env) (times []time.Time) {
	for i := range 5 {
		times = append(times, e.clock.Now())
		e.publish("t", ev(fmt.Sprint("e", i)))
		e.clock.Advance(time.Second)
	}
	return times
}

func TestSubscriptionStartPositions(t *testing.T) {
	e := newEnv(t)
	e.createTopic("t", TopicConfig{})
	times := publishTimed(e)
	tests := []struct {
		name  string
		start StartPosition
		want  []string
	}{
		{"default is latest", StartPosition{}, nil},
		{"latest", StartPosition{Kind: StartLatest}, nil},
		{"earliest", StartPosition{Kind: StartEarliest}, []string{"e0", "e1", "e2", "e3", "e4"}},
		{"offset", StartPosition{Kind: StartOffset, Offset: 3}, []string{"e3", "e4"}},
		{"offset past the end", StartPosition{Kind: StartOffset, Offset: 99}, nil},
		{"time", StartPosition{Kind: StartTime, Time: times[2]}, []string{"e2", "e3", "e4"}},
		{"time between events", StartPosition{Kind: StartTime, Time: times[2].Add(time.Millisecond)}, []string{"e3", "e4"}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name := fmt.Sprint("s", i)
			e.createSub("t", name, SubscriptionConfig{Start: tt.start})
			got := ids(e.poll("t", name, "c", 10))
			slices.Sort(got)
			if !slices.Equal(got, tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestSeekRewindsAndSkips(t *testing.T) {
	e := newEnv(t)
	e.createTopic("t", TopicConfig{})
	e.createSub("t", "s", SubscriptionConfig{Start: StartPosition{Kind: StartEarliest}})
	times := publishTimed(e)
	all := e.poll("t", "s", "c", 10)
	e.ack("t", "s", all[:4]...)
	ctx := context.Background()
	if err := e.b.Seek(ctx, "t", "s", StartPosition{Kind: StartEarliest}); err != nil {
		t.Fatal(err)
	}
	if err := e.b.Ack(ctx, "t", "s", all[4].Token); !errors.Is(err, ErrLeaseExpired) {
		t.Fatalf("token from before the seek = %v, want ErrLeaseExpired", err)
	}
	again := e.poll("t", "s", "c", 10)
	if len(again) != 5 || again[0].Attempt != 1 {
		t.Fatalf("after rewinding to earliest got %v", ids(again))
	}
	if err := e.b.Seek(ctx, "t", "s", StartPosition{Kind: StartTime, Time: times[3]}); err != nil {
		t.Fatal(err)
	}
	e.restart()
	if got := ids(e.poll("t", "s", "c", 10)); !slices.Equal(got, []string{"e3", "e4"}) {
		t.Fatalf("after seeking to a time and restarting got %v", got)
	}
	if err := e.b.Seek(ctx, "t", "s", StartPosition{Kind: StartLatest}); err != nil {
		t.Fatal(err)
	}
	if got := e.poll("t", "s", "c", 10); len(got) != 0 {
		t.Fatalf("after seeking to latest got %v", ids(got))
	}
	wantField(t, e.b.Seek(ctx, "t", "s", StartPosition{Kind: "sideways"}), "position.kind")
}

func TestTailReplaysThenFollows(t *testing.T) {
	e := newEnv(t)
	e.createTopic("t", TopicConfig{Partitions: 2})
	publishN(e, "t", 4)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := e.b.Tail(ctx, "t", StartPosition{Kind: StartEarliest}, Filter{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for range 4 {
		se, err := st.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, se.Event.ID)
	}
	slices.Sort(got)
	if !slices.Equal(got, []string{"e00", "e01", "e02", "e03"}) {
		t.Fatalf("replay %v", got)
	}
	next := make(chan string, 1)
	go func() {
		se, err := st.Next(ctx)
		if err != nil {
			t.Errorf("Next: %v", err)
		}
		next <- se.Event.ID
	}()
	e.publish("t", ev("live"))
	select {
	case id := <-next:
		if id != "live" {
			t.Fatalf("followed %s, want live", id)
		}
	case <-ctx.Done():
		t.Fatal("tail did not see a new event")
	}
	// Ephemeral: the tail left nothing on disk, and subscriptions are unaware.
	if subs, _ := e.b.Subscriptions("t"); len(subs) != 0 {
		t.Fatalf("a tail created subscriptions: %v", subs)
	}
	st.Close()
	if _, err := st.Next(ctx); err == nil {
		t.Fatal("Next after Close succeeded")
	}
}

// A tail of one partition reads that partition only, in offset order.
func TestTailPartitionReadsOnlyItsPartition(t *testing.T) {
	e := newEnv(t)
	e.createTopic("t", TopicConfig{Partitions: 2})
	var want []string
	for i := range 40 {
		res := e.publish("t", ev(fmt.Sprint("e", i), fmt.Sprint("partitionkey=k", i)))
		if res[0].Partition == 1 {
			want = append(want, fmt.Sprint("e", i))
		}
	}
	if len(want) == 0 || len(want) == 40 {
		t.Fatalf("%d of 40 events in partition 1: the keys do not spread", len(want))
	}
	st, err := e.b.TailPartition(context.Background(), "t", 1, StartPosition{Kind: StartEarliest}, Filter{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for {
		se, err := st.Next(doneCtx())
		if err != nil {
			break // nothing more ready
		}
		if se.Partition != 1 {
			t.Fatalf("event %s from partition %d", se.Event.ID, se.Partition)
		}
		got = append(got, se.Event.ID)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("tail of partition 1 = %v, want %v", got, want)
	}
	if st.pos[0] != 0 {
		t.Fatalf("the tail of partition 1 read partition 0 up to %d", st.pos[0])
	}
	for _, tt := range []struct {
		partition int
		field     string
	}{{-1, "partition"}, {2, "partition"}} {
		_, err := e.b.TailPartition(context.Background(), "t", tt.partition, StartPosition{Kind: StartEarliest}, Filter{})
		wantField(t, err, tt.field)
	}
}

func TestReadOffsetsAndTimes(t *testing.T) {
	e := newEnv(t)
	e.createTopic("t", TopicConfig{})
	times := publishTimed(e)
	ctx := context.Background()
	got, err := e.b.Read(ctx, "t", 0, 1, 2)
	if err != nil || len(got) != 2 || got[0].Event.ID != "e1" || got[1].Offset != 2 || !got[0].PublishTime.Equal(times[1]) {
		t.Fatalf("Read(1, 2) = %+v, %v", got, err)
	}
	if got, err := e.b.Read(ctx, "t", 0, 5, 10); err != nil || len(got) != 0 {
		t.Fatalf("Read at the end = %v, %v; want nothing", got, err)
	}
	if _, err := e.b.Read(ctx, "t", 0, 6, 10); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("Read past the end = %v, want ErrOffsetOutOfRange", err)
	}
	if _, err := e.b.Read(ctx, "t", 3, 0, 10); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Read of a missing partition = %v, want ErrInvalid", err)
	}
	if off, err := e.b.OffsetForTime("t", 0, times[3]); err != nil || off != 3 {
		t.Fatalf("OffsetForTime = %d, %v; want 3", off, err)
	}
	if earliest, next, err := e.b.Offsets("t", 0); err != nil || earliest != 0 || next != 5 {
		t.Fatalf("Offsets = %d, %d, %v", earliest, next, err)
	}
}
