package wire

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/cloudevent"
	"github.com/heraldhq/herald/internal/broker"
	"github.com/heraldhq/herald/internal/commitlog"
)

func TestHeaderRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		h    Header
	}{
		{"empty payload", Header{Type: TypeCancel, ID: 1}},
		{"largest id", Header{Type: TypePublish, ID: ^uint64(0), Len: 10}},
		{"continued reply", Header{Type: TypeDeliveries | Continued, ID: 7, Len: ChunkBytes}},
		{"largest frame", Header{Type: TypeEvents, ID: 2, Len: maxPayload}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseHeader(AppendHeader(nil, tt.h))
			if err != nil || got != tt.h {
				t.Fatalf("ParseHeader = %+v, %v; want %+v", got, err, tt.h)
			}
		})
	}
}

func TestHeaderRefusesBadLengths(t *testing.T) {
	tests := []struct {
		name   string
		length uint32
	}{
		{"shorter than type and id", 8},
		{"zero", 0},
		{"over 16 MiB", MaxFrame + 1},
		{"absurd", ^uint32(0)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := []byte{byte(tt.length >> 24), byte(tt.length >> 16), byte(tt.length >> 8), byte(tt.length), 1, 0, 0, 0, 0, 0, 0, 0, 1}
			if _, err := ParseHeader(b); !errors.Is(err, ErrMalformed) {
				t.Fatalf("ParseHeader(length %d) = %v, want ErrMalformed", tt.length, err)
			}
		})
	}
	if _, err := ParseHeader(make([]byte, 12)); !errors.Is(err, ErrMalformed) {
		t.Fatalf("short header: %v, want ErrMalformed", err)
	}
}

func TestEndFrameRefusesOversizedRequests(t *testing.T) {
	b, start := BeginFrame(nil, TypePublish, 1)
	b = append(b, make([]byte, maxPayload+1)...)
	var tl *TooLargeError
	if err := EndFrame(b, start); !errors.As(err, &tl) || !strings.Contains(err.Error(), "smaller batches") {
		t.Fatalf("EndFrame = %v, want a TooLargeError saying what to do", err)
	}
	b = b[:len(b)-1]
	if err := EndFrame(b, start); err != nil {
		t.Fatalf("EndFrame at exactly the limit: %v", err)
	}
}

func TestReadPayloadGrowsWithTheBytesThatArrive(t *testing.T) {
	// A header claiming 16 MiB followed by 10 bytes must not allocate 16 MiB.
	in := append(AppendHeader(nil, Header{Type: TypePublish, ID: 1, Len: maxPayload}), make([]byte, 10)...)
	checkAllocs(t, len(in), 8, func() {
		if _, err := ReadFrame(bytes.NewReader(in), make([]byte, HeaderSize)); err == nil {
			t.Fatal("truncated frame read without error")
		}
	})
}

func TestPublishRoundTrip(t *testing.T) {
	big := bigEvent("big", 300)
	tests := []struct {
		name string
		p    Publish
	}{
		{"no events", Publish{Topic: "orders"}},
		{"one minimal event", Publish{Topic: "orders", Events: []cloudevent.Event{minimalEvent("1")}}},
		{"full events", Publish{Topic: "t", Events: []cloudevent.Event{sampleEvent("a"), sampleEvent("b"), minimalEvent("c")}}},
		{"record over 127 bytes (two-byte length)", Publish{Topic: "t", Events: []cloudevent.Event{big, minimalEvent("x")}}},
		{"empty data is kept apart from none", Publish{Topic: "t", Events: []cloudevent.Event{{ID: "1", Data: []byte{}}}}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := AppendPublish(nil, &tt.p)
			if err != nil {
				t.Fatal(err)
			}
			var got Publish
			if err := got.Decode(frame(t, TypePublish, uint64(i+1), p)); err != nil {
				t.Fatal(err)
			}
			if got.Topic != tt.p.Topic {
				t.Fatalf("topic %q, want %q", got.Topic, tt.p.Topic)
			}
			equalEvents(t, got.Events, tt.p.Events)
		})
	}
}

func TestPublishedRoundTrip(t *testing.T) {
	tests := []struct {
		name    string
		results []broker.PublishResult
	}{
		{"none", []broker.PublishResult{}},
		{"stored and duplicate", []broker.PublishResult{{Partition: 0, Offset: 0}, {Partition: 3, Offset: 1 << 40, Duplicate: true}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodePublished(frame(t, TypePublished, 9, AppendPublished(nil, tt.results)))
			if err != nil || !reflect.DeepEqual(got, tt.results) {
				t.Fatalf("got %+v, %v; want %+v", got, err, tt.results)
			}
		})
	}
}

func TestFetchRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		f    Fetch
	}{
		{"long poll", Fetch{Topic: "orders", Sub: "billing", Consumer: "c1", Max: 100, Wait: 30 * time.Second}},
		{"until cancelled", Fetch{Topic: "t", Sub: "s", Consumer: "c", Max: 1}},
		{"poll", Fetch{Topic: "t", Sub: "s", Consumer: "c", Max: 1, Wait: -1}},
		{"invalid max travels for the broker to refuse", Fetch{Topic: "t", Sub: "s", Max: -3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got Fetch
			if err := got.Decode(frame(t, TypeFetch, 1, AppendFetch(nil, &tt.f))); err != nil || got != tt.f {
				t.Fatalf("got %+v, %v; want %+v", got, err, tt.f)
			}
		})
	}
}

func TestDeliveriesRoundTrip(t *testing.T) {
	many := make([]broker.Delivery, 40)
	for i := range many {
		many[i] = sampleDelivery(i, bigEvent("m", 64<<10)) // 40 x 64 KiB: three frames
	}
	tests := []struct {
		name       string
		ds         []broker.Delivery
		wantFrames int
	}{
		{"nothing ready", nil, 1},
		{"one", []broker.Delivery{sampleDelivery(1, sampleEvent("1"))}, 1},
		{"several", []broker.Delivery{sampleDelivery(1, sampleEvent("1")), sampleDelivery(2, minimalEvent("2"))}, 1},
		{"split over continued frames", many, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := AppendDeliveryFrames(nil, 42, tt.ds)
			if err != nil {
				t.Fatal(err)
			}
			fs := frames(t, b)
			if len(fs) != tt.wantFrames {
				t.Fatalf("%d frames, want %d", len(fs), tt.wantFrames)
			}
			var got []broker.Delivery
			for i, f := range fs {
				wantType := TypeDeliveries
				if i < len(fs)-1 {
					wantType |= Continued
				}
				if f.Type != wantType || f.ID != 42 {
					t.Fatalf("frame %d is %v id %d, want %v id 42", i, f.Type, f.ID, wantType)
				}
				if got, err = DecodeDeliveries(f.Payload, got); err != nil {
					t.Fatal(err)
				}
			}
			if len(got) != len(tt.ds) {
				t.Fatalf("%d deliveries, want %d", len(got), len(tt.ds))
			}
			for i := range got {
				g, w := got[i], tt.ds[i]
				if g.Token != w.Token || g.Attempt != w.Attempt || !g.Deadline.Equal(w.Deadline) {
					t.Fatalf("delivery %d = %s/%d/%v, want %s/%d/%v", i, g.Token, g.Attempt, g.Deadline, w.Token, w.Attempt, w.Deadline)
				}
				equalStored(t, g.Event, w.Event)
			}
		})
	}
}

func TestSettleRoundTrip(t *testing.T) {
	tests := []struct {
		name  string
		items []SettleItem
	}{
		{"ack", []SettleItem{{Topic: "t", Sub: "s", Token: "0-1-a"}}},
		{"nack with delay and error", []SettleItem{{Topic: "t", Sub: "s", Token: "0-1-a", Delay: 5 * time.Second, Text: "db down"}}},
		{"batch across subscriptions", []SettleItem{{Topic: "a", Sub: "x", Token: "1"}, {Topic: "b", Sub: "y", Token: "2", Text: "bad"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeSettle(frame(t, TypeAck, 3, AppendSettle(nil, tt.items)))
			if err != nil || !reflect.DeepEqual(got, tt.items) {
				t.Fatalf("got %+v, %v; want %+v", got, err, tt.items)
			}
		})
	}
	if _, err := DecodeSettle(nil); !errors.Is(err, ErrMalformed) {
		t.Fatalf("empty settle: %v, want ErrMalformed", err)
	}
}

// TestDecodeSettleAllocations holds the decoder of a busy consumer's ACK
// frames to one slice and one string for all the tokens: the items share
// their topic and subscription strings.
func TestDecodeSettleAllocations(t *testing.T) {
	items := make([]SettleItem, 100)
	for i := range items {
		items[i] = SettleItem{Topic: "orders", Sub: "billing", Token: fmt.Sprintf("0-%d-abcdef", i)}
	}
	payload := AppendSettle(nil, items)
	var got []SettleItem
	allocs := testing.AllocsPerRun(20, func() {
		got, _ = DecodeSettle(payload)
	})
	if !reflect.DeepEqual(got, items) {
		t.Fatalf("decoded %+v, want %+v", got[:2], items[:2])
	}
	if allocs > 1+1+2 {
		t.Fatalf("%.0f allocations to decode 100 items, want at most %d (one slice, one string for the tokens, topic and sub once)", allocs, 1+1+2)
	}
	if cap(got) > 2*len(items) {
		t.Fatalf("slice capacity %d for %d items: the size estimate is off", cap(got), len(items))
	}
}

// TestDecodeDeliveriesAllocations holds a consumer's decoding of a fetch
// to what its events need: the deliveries' tokens share one string and
// their topic another, so 100 deliveries cost 100 event decodes and a few
// allocations more.
func TestDecodeDeliveriesAllocations(t *testing.T) {
	ev := minimalEvent("1")
	ev.Data = []byte("payload")
	rec, err := ev.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var decoded cloudevent.Event
	perEvent := testing.AllocsPerRun(20, func() { _ = decoded.UnmarshalBinaryShared(rec) })
	ds, payload := sampleReply(t, ev, 100)
	got := make([]broker.Delivery, 0, len(ds))
	allocs := testing.AllocsPerRun(20, func() {
		got, _ = DecodeDeliveries(payload, got[:0])
	})
	if len(got) != len(ds) || got[99].Token != ds[99].Token || got[0].Event.Topic != "orders" {
		t.Fatalf("decoded %d deliveries, the last with token %q", len(got), got[len(got)-1].Token)
	}
	if limit := 100*perEvent + 4; allocs > limit {
		t.Fatalf("%.0f allocations to decode 100 deliveries, want at most %.0f (%.0f per event, the tokens and the topic once)", allocs, limit, perEvent)
	}
}

// TestDeliveriesHint holds the consumer's slice for a reply close to the
// deliveries it holds: never short for alike deliveries (append would
// grow it), and not many times over (memory cleared for nothing).
func TestDeliveriesHint(t *testing.T) {
	small := sampleEvent("s")
	small.Data = make([]byte, 128)
	many := make([]broker.Delivery, 40)
	for i := range many {
		many[i] = sampleDelivery(i, bigEvent("m", 64<<10)) // three frames
	}
	alike := func(n int, ev cloudevent.Event) []broker.Delivery {
		ds := make([]broker.Delivery, n)
		for i := range ds {
			ds[i] = sampleDelivery(i, ev)
		}
		return ds
	}
	tests := []struct {
		name string
		ds   []broker.Delivery
	}{
		{"nothing ready", nil},
		{"one", alike(1, small)},
		{"eight of 128 bytes", alike(8, small)},
		{"a hundred minimal", alike(100, minimalEvent("x"))},
		{"forty of 64 KiB over continued frames", many},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := AppendDeliveryFrames(nil, 1, tt.ds)
			if err != nil {
				t.Fatal(err)
			}
			var payloads [][]byte
			for _, f := range frames(t, b) {
				payloads = append(payloads, f.Payload)
			}
			n := DeliveriesHint(payloads)
			if want := len(tt.ds); n < want || n > want+want/2+len(payloads) {
				t.Fatalf("hint %d for %d deliveries in %d frames, want %d to %d", n, want, len(payloads), want, want+want/2+len(payloads))
			}
		})
	}
}

func TestSettledRoundTrip(t *testing.T) {
	tests := []struct {
		name     string
		statuses []*Error
	}{
		{"all done", []*Error{nil, nil}},
		{"mixed", []*Error{nil, {Code: CodeLeaseExpired, Message: "lease expired"}, nil, {Code: CodeUnknownToken, Message: "bad token"}}},
		{"field error", []*Error{{Code: CodeInvalid, Message: "invalid delay", Fields: []FieldError{{Origin: OriginBroker, Field: "delay", Reason: "too long"}}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeSettled(frame(t, TypeSettled, 3, AppendSettled(nil, tt.statuses)))
			if err != nil || !reflect.DeepEqual(got, tt.statuses) {
				t.Fatalf("got %+v, %v; want %+v", got, err, tt.statuses)
			}
		})
	}
}

func TestReadRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		r    Read
	}{
		{"from zero", Read{Topic: "t", Partition: 0, From: 0, Max: 10}},
		{"deep", Read{Topic: "orders", Partition: 4095, From: 1 << 50, Max: 1000}},
		{"negative from travels for the broker to refuse", Read{Topic: "t", Partition: -1, From: -5, Max: 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got Read
			if err := got.Decode(frame(t, TypeRead, 1, AppendRead(nil, &tt.r))); err != nil || got != tt.r {
				t.Fatalf("got %+v, %v; want %+v", got, err, tt.r)
			}
		})
	}
}

func TestEventsRoundTrip(t *testing.T) {
	tests := []struct {
		name   string
		events []broker.StoredEvent
	}{
		{"end of partition", nil},
		{"two", []broker.StoredEvent{sampleDelivery(0, sampleEvent("a")).Event, sampleDelivery(1, minimalEvent("b")).Event}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := AppendEventFrames(nil, 5, tt.events)
			if err != nil {
				t.Fatal(err)
			}
			var got []broker.StoredEvent
			for _, f := range frames(t, b) {
				if got, err = DecodeEvents(f.Payload, got); err != nil {
					t.Fatal(err)
				}
			}
			if len(got) != len(tt.events) {
				t.Fatalf("%d events, want %d", len(got), len(tt.events))
			}
			for i := range got {
				equalStored(t, got[i], tt.events[i])
			}
		})
	}
}

func TestTailRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		tl   Tail
	}{
		{"read an open tail, long poll", Tail{Stream: 1, Max: 256, Wait: 30 * time.Second}},
		{"read until cancelled", Tail{Stream: 1 << 40, Max: 1}},
		{"close", Tail{Stream: 7, Max: 0, Wait: -1}},
		{"open from latest, every partition", Tail{Stream: 2, Max: 100, Wait: -1,
			Open: &TailOpen{Topic: "orders", Start: broker.StartPosition{Kind: broker.StartLatest}, Partition: -1}}},
		{"open one partition from an offset", Tail{Stream: 3, Max: 100, Wait: -1,
			Open: &TailOpen{Topic: "orders", Start: broker.StartPosition{Kind: broker.StartOffset, Offset: 1 << 33}, Partition: 2}}},
		{"open from a time with a filter", Tail{Stream: 4, Max: 10, Wait: time.Second,
			Open: &TailOpen{Topic: "t", Start: broker.StartPosition{Kind: broker.StartTime, Time: t0}, Partition: -1,
				Filter: broker.Filter{Types: []string{"OrderPlaced", "OrderPaid"}, SubjectPrefix: "eu/"}}}},
		{"bad values travel for the server to refuse", Tail{Stream: 0, Max: -5,
			Open: &TailOpen{Start: broker.StartPosition{Kind: "someday", Offset: -3}, Partition: -9}}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got Tail
			if err := got.Decode(frame(t, TypeTail, uint64(i+1), AppendTail(nil, &tt.tl))); err != nil || !reflect.DeepEqual(got, tt.tl) {
				t.Fatalf("got %+v (open %+v), %v; want %+v (open %+v)", got, got.Open, err, tt.tl, tt.tl.Open)
			}
		})
	}
}

func TestTailRefusesMalformedPayloads(t *testing.T) {
	// stream 1, max 1, wait 0, then the open flag
	tests := []struct {
		name string
		in   []byte
	}{
		{"empty", nil},
		{"open flag is not a boolean", []byte{1, 2, 0, 2}},
		{"open without its fields", []byte{1, 2, 0, 1}},
		{"more types than bytes left", []byte{1, 2, 0, 1, 1, 't', 0, 0, 0, 1, 100, 0}},
		{"trailing bytes", []byte{1, 2, 0, 0, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got Tail
			if err := got.Decode(tt.in); !errors.Is(err, ErrMalformed) {
				t.Fatalf("Decode(%x) = %v, want ErrMalformed", tt.in, err)
			}
		})
	}
	// The same open payload with one type decodes: the bytes above are right.
	var ok Tail
	if err := ok.Decode([]byte{1, 2, 0, 1, 1, 't', 0, 0, 0, 1, 1, 1, 'x', 0}); err != nil || ok.Open.Filter.Types[0] != "x" {
		t.Fatalf("Decode of a well-formed open = %+v, %v", ok.Open, err)
	}
}

func TestCallRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		c    Call
	}{
		{"with args", Call{Method: MethodCreateTopic, Args: []byte(`{"name":"t","config":{"partitions":3}}`)}},
		{"no args", Call{Method: MethodTopic, Args: []byte{}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got Call
			if err := got.Decode(frame(t, TypeCall, 1, AppendCall(nil, &tt.c))); err != nil || !reflect.DeepEqual(got, tt.c) {
				t.Fatalf("got %+v, %v; want %+v", got, err, tt.c)
			}
		})
	}
}

func TestErrorRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		e    *Error
	}{
		{"plain", &Error{Code: CodeTopicNotFound, Message: `topic not found: "x"`}},
		{"fields of every origin", &Error{Code: CodeInvalid, Message: "m", Fields: []FieldError{
			{Origin: OriginBroker, Field: "max", Reason: "r"},
			{Origin: OriginCloudEvent, Field: "source", Reason: "r"},
			{Origin: OriginBoth, Field: "events[0].source", Reason: "r", InnerField: "source", InnerReason: "r"}}}},
		{"quota", &Error{Code: CodeQuotaExceeded, Message: "q", Quota: &broker.QuotaError{Topic: "t", MaxBytes: 4096, Used: 4000, Requested: 200, RetryAfter: time.Minute}}},
		{"range", &Error{Code: CodeOffsetOutOfRange, Message: "r", Range: &commitlog.OutOfRangeError{Offset: 1, Earliest: 5, Next: 9}}},
		{"unknown code from a newer server", &Error{Code: 200, Message: "future"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeError(frame(t, TypeError, 1, AppendError(nil, tt.e)))
			if err != nil || !reflect.DeepEqual(got, tt.e) {
				t.Fatalf("got %+v, %v; want %+v", got, err, tt.e)
			}
		})
	}
}
