package broker

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/cloudevent"
)

func TestDedup(t *testing.T) {
	tests := []struct {
		name string
		cfg  TopicConfig
		// between runs after the first publish.
		between func(e *env)
		second  cloudevent.Event
		dup     bool
	}{
		{"same id inside the window", TopicConfig{}, nil, ev("a"), true},
		{"same id with another key is still the same event", TopicConfig{Partitions: 4}, nil, ev("a", "partitionkey=other"), true},
		{"same id from another source", TopicConfig{}, nil, ev("a", "source=/elsewhere"), false},
		{"same id just inside the window", TopicConfig{DedupWindow: time.Minute},
			func(e *env) { e.clock.Advance(time.Minute) }, ev("a"), true},
		{"same id after the window", TopicConfig{DedupWindow: time.Minute},
			func(e *env) { e.clock.Advance(time.Minute + time.Nanosecond) }, ev("a"), false},
		{"same id after a restart", TopicConfig{}, func(e *env) { e.restart() }, ev("a"), true},
		{"same id after a restart past the window", TopicConfig{DedupWindow: time.Minute},
			func(e *env) { e.clock.Advance(2 * time.Minute); e.restart() }, ev("a"), false},
		{"dedup disabled", TopicConfig{DedupWindow: Disabled}, nil, ev("a"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			e.createTopic("t", tt.cfg)
			e.publish("t", ev("x"), ev("y"))
			first := e.publish("t", ev("a", "partitionkey=k"))[0]
			if tt.between != nil {
				tt.between(e)
			}
			second := e.publish("t", tt.second)[0]
			if second.Duplicate != tt.dup {
				t.Fatalf("second publish = %+v, want duplicate=%v", second, tt.dup)
			}
			if tt.dup && (second.Partition != first.Partition || second.Offset != first.Offset) {
				t.Fatalf("duplicate answered %d/%d, the original is at %d/%d", second.Partition, second.Offset, first.Partition, first.Offset)
			}
			if !tt.dup && second.Partition == first.Partition && second.Offset == first.Offset {
				t.Fatalf("a new event got the original's position")
			}
			total := int64(0)
			info, _ := e.b.Topic("t")
			for _, p := range info.Partitions {
				total += p.Next
			}
			want := int64(4)
			if tt.dup {
				want = 3
			}
			if total != want {
				t.Fatalf("topic holds %d events, want %d", total, want)
			}
		})
	}
}

func TestDedupInsideOneBatch(t *testing.T) {
	e := newEnv(t)
	e.createTopic("t", TopicConfig{})
	res := e.publish("t", ev("a"), ev("b"), ev("a"))
	if res[0].Duplicate || res[1].Duplicate || !res[2].Duplicate || res[2].Offset != res[0].Offset {
		t.Fatalf("results %+v: the third should be a duplicate of the first", res)
	}
	if _, next, _ := e.b.Offsets("t", 0); next != 2 {
		t.Fatalf("stored %d events, want 2", next)
	}
}

// Concurrent publishes of one (source, id) store it exactly once, and
// every caller learns the same position.
func TestDedupConcurrentPublishers(t *testing.T) {
	e := newEnv(t)
	e.createTopic("t", TopicConfig{Partitions: 3})
	const publishers = 8
	for round := range 20 {
		id := fmt.Sprint("id-", round)
		results := make([]PublishResult, publishers)
		errs := make([]error, publishers)
		var wg sync.WaitGroup
		for i := range publishers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				// Each publisher also sends its own event, in varying order, so
				// reservations interleave.
				batch := []cloudevent.Event{ev(id), ev(fmt.Sprint(id, "-", i))}
				if i%2 == 1 {
					batch[0], batch[1] = batch[1], batch[0]
				}
				res, err := e.b.Publish(context.Background(), "t", batch)
				errs[i] = err
				if err == nil {
					results[i] = res[i%2]
				}
			}()
		}
		wg.Wait()
		stored := 0
		for i := range publishers {
			if errs[i] != nil {
				t.Fatal(errs[i])
			}
			if !results[i].Duplicate {
				stored++
			}
			if results[i].Partition != results[0].Partition || results[i].Offset != results[0].Offset {
				t.Fatalf("publishers disagree on the position of %s: %+v vs %+v", id, results[i], results[0])
			}
		}
		if stored != 1 {
			t.Fatalf("%s stored by %d publishers, want exactly 1", id, stored)
		}
	}
	total := int64(0)
	for p := range 3 {
		_, next, _ := e.b.Offsets("t", p)
		total += next
	}
	if want := int64(20 * (publishers + 1)); total != want {
		t.Fatalf("topic holds %d events, want %d", total, want)
	}
}

func TestPublishValidationIsAllOrNothing(t *testing.T) {
	e := newEnv(t)
	e.createTopic("t", TopicConfig{MaxEventBytes: 1024})
	bad := ev("b")
	bad.Type = ""
	badTime := ev("c", "deliverat=tomorrow")
	big := ev("d")
	big.Data = make([]byte, 2048)
	tests := []struct {
		name  string
		batch []cloudevent.Event
		is    error
		field string
	}{
		{"missing type", []cloudevent.Event{ev("a"), bad}, ErrInvalid, "events[1].type"},
		{"unparsable delivery time", []cloudevent.Event{badTime}, ErrInvalid, "events[0].deliverat"},
		{"too large", []cloudevent.Event{ev("a"), big}, ErrEventTooLarge, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.b.Publish(context.Background(), "t", tt.batch)
			if !errors.Is(err, tt.is) {
				t.Fatalf("Publish = %v, want %v", err, tt.is)
			}
			if tt.field != "" {
				var fe *FieldError
				if !errors.As(err, &fe) || fe.Field != tt.field {
					t.Fatalf("error %v does not name %s", err, tt.field)
				}
				if !errors.Is(err, cloudevent.ErrInvalid) {
					t.Fatalf("error %v lost the cloudevent error", err)
				}
			}
			if _, next, _ := e.b.Offsets("t", 0); next != 0 {
				t.Fatalf("%d events stored by a refused publish", next)
			}
		})
	}
}

func TestPublishByteQuota(t *testing.T) {
	e := newEnv(t)
	e.createTopic("t", TopicConfig{MaxBytes: 8192})
	payload := strings.Repeat("x", 1000)
	stored := 0
	var qerr error
	for i := range 20 {
		event := ev(fmt.Sprint(i))
		event.Data = []byte(payload)
		if _, err := e.b.Publish(context.Background(), "t", []cloudevent.Event{event}); err != nil {
			qerr = err
			break
		}
		stored++
	}
	if !errors.Is(qerr, ErrQuotaExceeded) {
		t.Fatalf("publishing past the quota = %v, want ErrQuotaExceeded", qerr)
	}
	var q *QuotaError
	if !errors.As(qerr, &q) || q.RetryAfter <= 0 || q.MaxBytes != 8192 || !strings.Contains(qerr.Error(), "retry") {
		t.Fatalf("quota error %#v should carry the quota and a retry hint", qerr)
	}
	if stored < 5 || stored > 8 {
		t.Fatalf("stored %d events of ~1 KB under an 8 KiB quota", stored)
	}
	info, _ := e.b.Topic("t")
	if info.Bytes > 8192 {
		t.Fatalf("topic holds %d bytes, over its quota", info.Bytes)
	}
	// Raising the quota makes the same publish succeed: the error is retryable.
	if _, err := e.b.UpdateTopic(context.Background(), "t", TopicConfig{MaxBytes: 1 << 20}); err != nil {
		t.Fatal(err)
	}
	event := ev("after")
	event.Data = []byte(payload)
	e.publish("t", event)
}

func TestPartitionKeyHashIsStable(t *testing.T) {
	// The mapping is part of Herald's contract: FNV-1a 32-bit mod n.
	tests := []struct {
		key  string
		n    int
		want int
	}{
		{"", 7, 2166136261 % 7},
		{"a", 1000, 0xe40c292c % 1000}, // FNV-1a("a") from the FNV reference
		{"order-42", 16, int(fnv32a("order-42") % 16)},
		{"customer/eu/17", 12, int(fnv32a("customer/eu/17") % 12)},
	}
	for _, tt := range tests {
		if got := PartitionForKey(tt.key, tt.n); got != tt.want {
			t.Errorf("PartitionForKey(%q, %d) = %d, want %d", tt.key, tt.n, got, tt.want)
		}
	}
	e := newEnv(t)
	e.createTopic("t", TopicConfig{Partitions: 8})
	for i := range 30 {
		key := fmt.Sprint("k", i%5)
		r := e.publish("t", ev(fmt.Sprint(i), "partitionkey="+key))[0]
		if r.Partition != PartitionForKey(key, 8) {
			t.Fatalf("key %s stored in partition %d, its hash says %d", key, r.Partition, PartitionForKey(key, 8))
		}
	}
}

// fnv32a is the reference FNV-1a from its definition, independent of the
// broker's inlined copy.
func fnv32a(s string) uint32 {
	h := uint32(0x811c9dc5)
	for _, c := range []byte(s) {
		h ^= uint32(c)
		h *= 0x01000193
	}
	return h
}

func TestKeylessEventsAreSpread(t *testing.T) {
	e := newEnv(t)
	e.createTopic("t", TopicConfig{Partitions: 4})
	perPartition := map[int]int{}
	for i := range 8 {
		res := e.publish("t", ev(fmt.Sprint(i, "a")), ev(fmt.Sprint(i, "b")))
		if res[0].Partition != res[1].Partition {
			t.Fatalf("one call's keyless events went to partitions %d and %d; they stick together", res[0].Partition, res[1].Partition)
		}
		perPartition[res[0].Partition]++
	}
	for p := range 4 {
		if perPartition[p] != 2 {
			t.Fatalf("calls per partition %v, want round-robin (2 each)", perPartition)
		}
	}
}

func TestPublishStripsBrokerExtensions(t *testing.T) {
	e := newEnv(t)
	e.createTopic("t", TopicConfig{})
	in := ev("a", "heraldtopic=forged", "heraldoffset=7", "heralddlqreason=x", "custom=kept")
	e.publish("t", in)
	if in.Extensions["heraldtopic"] != "forged" {
		t.Fatalf("Publish modified the caller's event")
	}
	got, err := e.b.Read(context.Background(), "t", 0, 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	x := got[0].Event.Extensions
	if len(x) != 1 || x["custom"] != "kept" {
		t.Fatalf("stored extensions %v, want only custom", x)
	}
	out := got[0].WithHeraldExtensions(2)
	if out.Extensions[cloudevent.ExtHeraldTopic] != "t" || out.Extensions[cloudevent.ExtHeraldOffset] != "0" ||
		out.Extensions[cloudevent.ExtHeraldAttempt] != "2" || got[0].Event.Extensions[cloudevent.ExtHeraldTopic] != "" {
		t.Fatalf("WithHeraldExtensions = %v (and must not touch the stored event)", out.Extensions)
	}
}

func TestPublishTopicMissingOrAutoCreated(t *testing.T) {
	e := newEnv(t)
	if _, err := e.b.Publish(context.Background(), "nope", []cloudevent.Event{ev("a")}); !errors.Is(err, ErrTopicNotFound) {
		t.Fatalf("Publish to a missing topic = %v, want ErrTopicNotFound", err)
	}
	auto := newEnv(t, func(c *Config) { c.AutoCreateTopics = true; c.DefaultTopic.Partitions = 2 })
	auto.publish("fresh", ev("a"))
	info, err := auto.b.Topic("fresh")
	if err != nil || len(info.Partitions) != 2 {
		t.Fatalf("auto-created topic: %+v, %v", info, err)
	}
}

// PublishEncoded stores the records it is given as they are, validates the
// events all the same, re-encodes an event that carries broker extensions
// (they are dropped), and refuses records that do not match the events.
func TestPublishEncodedStoresTheRecords(t *testing.T) {
	e := newEnv(t)
	e.createTopic("t", TopicConfig{})
	plain := ev("a")
	withExt := ev("b")
	withExt.SetExtension(cloudevent.ExtHeraldPartition, "7")
	events := []cloudevent.Event{plain, withExt}
	records := make([][]byte, len(events))
	for i := range events {
		b, err := events[i].MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		records[i] = b
	}
	ctx := context.Background()
	if _, err := e.b.PublishEncoded(ctx, "t", events, records); err != nil {
		t.Fatal(err)
	}
	got, err := e.b.Read(ctx, "t", 0, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || !got[0].Event.Equal(&plain) || got[1].Event.Extension(cloudevent.ExtHeraldPartition) != "" {
		t.Fatalf("read back %+v: want the plain event, then the other without its broker extension", got)
	}
	bad := ev("c")
	bad.Source = ""
	rec, _ := bad.MarshalBinary()
	if _, err := e.b.PublishEncoded(ctx, "t", []cloudevent.Event{bad}, [][]byte{rec}); !errors.Is(err, cloudevent.ErrInvalid) {
		t.Fatalf("an invalid event with its record: %v, want ErrInvalid", err)
	}
	if _, err := e.b.PublishEncoded(ctx, "t", events, records[:1]); !errors.Is(err, ErrInvalid) {
		t.Fatalf("one record for two events: %v, want ErrInvalid", err)
	}
}

// The dedup index forgets what leaves the window without losing what is
// inside it: a key that expired and was published again must stay a
// duplicate after its old entry is pruned, and the index holds only the
// window's keys.
func TestDedupIndexPrunesOnlyWhatLeftTheWindow(t *testing.T) {
	e := newEnv(t)
	e.createTopic("t", TopicConfig{DedupWindow: time.Minute})
	first := e.publish("t", ev("a"))[0]
	e.clock.Advance(time.Minute + time.Second)
	again := e.publish("t", ev("a"))[0] // expired: stored again; the old entry is superseded
	if again.Duplicate || again.Offset == first.Offset {
		t.Fatalf("publish after the window = %+v, want a new event", again)
	}
	// Publishes over more than a window (and across several of the
	// index's chunks) prune the old entries.
	for i := range 9000 {
		e.publish("t", ev(fmt.Sprintf("n%d", i)))
		if i%100 == 0 {
			e.clock.Advance(time.Second)
		}
	}
	for _, id := range []string{"n8999", "n4000", "n3000"} { // 0, 50 and 60 s ago
		if dup := e.publish("t", ev(id))[0]; !dup.Duplicate {
			t.Fatalf("%s, inside the window, was forgotten: %+v", id, dup)
		}
	}
	if dup := e.publish("t", ev("n2000"))[0]; dup.Duplicate { // 70 s ago
		t.Fatalf("n2000, outside the window, is still remembered: %+v", dup)
	}
	tp, err := e.b.topic("t")
	if err != nil {
		t.Fatal(err)
	}
	tp.dedup.mu.Lock()
	keys, live := tp.dedup.slots.len(), tp.dedup.live()
	tp.dedup.mu.Unlock()
	// 100 publishes per clock second: about 6,100 keys are inside the
	// 1-minute window (the loop's and the checks above).
	if keys > 6200 || live > keys+100 {
		t.Fatalf("index holds %d keys in %d live entries, want about one window's 6,100", keys, live)
	}
	e.clock.Advance(2 * time.Minute)
	e.publish("t", ev("late"))
	tp.dedup.mu.Lock()
	keys = tp.dedup.slots.len()
	tp.dedup.mu.Unlock()
	if keys != 1 {
		t.Fatalf("after the window passed the index holds %d keys, want 1 (the last publish)", keys)
	}
}
