package wire

import (
	"bytes"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/cloudevent"
	"github.com/heraldhq/herald/internal/broker"
)

// sampleEvent is a full event: every attribute, extensions, data.
func sampleEvent(id string) cloudevent.Event {
	return cloudevent.Event{
		ID: id, Source: "urn:test", SpecVersion: "1.0", Type: "com.example.test", Subject: "s/" + id,
		Time:            time.Date(2025, 3, 1, 12, 0, 0, 123456789, time.FixedZone("", 3600)),
		DataContentType: "application/json", DataSchema: "https://example.com/schema",
		Data: []byte(`{"n":1}`), Extensions: map[string]string{"partitionkey": "k", "traceparent": "00-x"},
	}
}

// minimalEvent has no optional attribute and no data.
func minimalEvent(id string) cloudevent.Event {
	return cloudevent.Event{ID: id, Source: "s", SpecVersion: "1.0", Type: "t"}
}

// bigEvent carries n bytes of data.
func bigEvent(id string, n int) cloudevent.Event {
	e := minimalEvent(id)
	e.Data = bytes.Repeat([]byte("x"), n)
	return e
}

var (
	t0 = time.Unix(0, 1_700_000_000_123_456_789).UTC()
	t1 = t0.Add(30 * time.Second)
)

func sampleDelivery(i int, ev cloudevent.Event) broker.Delivery {
	return broker.Delivery{
		Token: "0-" + strings.Repeat("7", i%3+1) + "-1z", Attempt: i%5 + 1, Deadline: t1,
		Event: broker.StoredEvent{Event: ev, Topic: "orders", Partition: i % 4, Offset: int64(i) * 1000, PublishTime: t0},
	}
}

// equalEvents compares events as every encoding sees them.
func equalEvents(t *testing.T, got, want []cloudevent.Event) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d events, want %d", len(got), len(want))
	}
	for i := range got {
		if !got[i].Equal(&want[i]) {
			t.Fatalf("events[%d] = %+v, want %+v", i, got[i], want[i])
		}
	}
}

func equalStored(t *testing.T, got, want broker.StoredEvent) {
	t.Helper()
	if got.Topic != want.Topic || got.Partition != want.Partition || got.Offset != want.Offset || !got.PublishTime.Equal(want.PublishTime) {
		t.Fatalf("stored event = %s/%d/%d at %v, want %s/%d/%d at %v", got.Topic, got.Partition, got.Offset, got.PublishTime,
			want.Topic, want.Partition, want.Offset, want.PublishTime)
	}
	equalEvents(t, []cloudevent.Event{got.Event}, []cloudevent.Event{want.Event})
}

// frames splits a byte stream into frames, failing the test on error.
// sampleReply is n sample deliveries of ev and the payload of the one
// DELIVERIES frame that carries them.
func sampleReply(tb testing.TB, ev cloudevent.Event, n int) ([]broker.Delivery, []byte) {
	tb.Helper()
	ds := make([]broker.Delivery, n)
	for i := range ds {
		ds[i] = sampleDelivery(i, ev)
	}
	b, err := AppendDeliveryFrames(nil, 1, ds)
	if err != nil {
		tb.Fatal(err)
	}
	return ds, b[HeaderSize:]
}

func frames(t *testing.T, b []byte) []Frame {
	t.Helper()
	r := bytes.NewReader(b)
	var out []Frame
	buf := make([]byte, HeaderSize)
	for r.Len() > 0 {
		f, err := ReadFrame(r, buf)
		if err != nil {
			t.Fatalf("frame %d: %v", len(out), err)
		}
		out = append(out, f)
	}
	return out
}

// frame wraps payload p in a single frame and reads it back, checking the
// header survives.
func frame(t *testing.T, typ Type, id uint64, p []byte) []byte {
	t.Helper()
	fs := frames(t, AppendFrame(nil, typ, id, p))
	if len(fs) != 1 || fs[0].Type != typ || fs[0].ID != id {
		t.Fatalf("frame header did not survive: %+v", fs)
	}
	return fs[0].Payload
}

// checkAllocs fails if fn allocates more than the input of n bytes
// justifies: limit bytes per input byte plus a fixed allowance. It reads
// runtime.MemStats, so it measures every goroutine: keep the allowance
// generous.
func checkAllocs(t *testing.T, n int, perByte int, fn func()) {
	t.Helper()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	if got, limit := after.TotalAlloc-before.TotalAlloc, uint64(perByte*n+128<<10); got > limit {
		t.Fatalf("decoding %d bytes allocated %d bytes, over the %d its size justifies", n, got, limit)
	}
}
