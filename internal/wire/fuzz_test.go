package wire

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/heraldhq/herald/cloudevent"
	"github.com/heraldhq/herald/internal/broker"
	"github.com/heraldhq/herald/internal/commitlog"
)

// Every decoder has a fuzz target checking three promises: it never
// panics and fails only with ErrMalformed; it allocates in proportion to
// its input, not to lengths or counts the input claims; and what it accepts
// re-encodes to the very same bytes (every payload has one encoding), so
// decode -> encode -> decode is stable. Crashers found by
// `go test -run=^$ -fuzz=FuzzX ./internal/wire` are kept in
// testdata/fuzz/FuzzX and run with every `go test`.

// allocsPerByte bounds decoding allocations: a decoded event costs its
// struct (about 200 bytes) plus its text for at least 11 input bytes.
const allocsPerByte = 96

func checkErr(t *testing.T, err error) {
	t.Helper()
	if !errors.Is(err, ErrMalformed) {
		t.Fatalf("decode error %v does not match ErrMalformed", err)
	}
}

func sameBytes(t *testing.T, what string, got, want []byte) {
	t.Helper()
	if !bytes.Equal(got, want) {
		t.Fatalf("%s re-encodes differently:\n got %x\nwant %x", what, got, want)
	}
}

func FuzzParseHeader(f *testing.F) {
	f.Add(AppendHeader(nil, Header{Type: TypePublish, ID: 1, Len: 5}))
	f.Add(AppendHeader(nil, Header{Type: TypeDeliveries | Continued, ID: 1 << 60, Len: maxPayload}))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 1, 0, 0, 0, 0, 0, 0, 0, 1})
	f.Fuzz(func(t *testing.T, in []byte) {
		h, err := ParseHeader(in)
		if err != nil {
			checkErr(t, err)
			return
		}
		if h.Len < 0 || h.Len > maxPayload {
			t.Fatalf("accepted payload length %d", h.Len)
		}
		sameBytes(t, "header", AppendHeader(nil, h), in[:HeaderSize])
	})
}

func FuzzReadFrame(f *testing.F) {
	p, _ := AppendPublish(nil, &Publish{Topic: "t", Events: []cloudevent.Event{sampleEvent("1")}})
	f.Add(append(AppendFrame(nil, TypePublish, 1, p), AppendFrame(nil, TypeCancel, 1, nil)...))
	f.Add(AppendHeader(nil, Header{Type: TypePublish, ID: 1, Len: maxPayload}))
	f.Fuzz(func(t *testing.T, in []byte) {
		r := bytes.NewReader(in)
		buf := make([]byte, HeaderSize)
		var out []byte
		checkAllocs(t, len(in), 4, func() {
			for {
				fr, err := ReadFrame(r, buf)
				if err != nil {
					return
				}
				out = AppendFrame(out, fr.Type, fr.ID, fr.Payload)
			}
		})
		sameBytes(t, "frame stream", out, in[:len(out)])
	})
}

func FuzzPublish(f *testing.F) {
	for _, p := range []Publish{
		{Topic: "orders"},
		{Topic: "t", Events: []cloudevent.Event{sampleEvent("a"), minimalEvent("b"), bigEvent("c", 200)}},
	} {
		b, _ := AppendPublish(nil, &p)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		var p Publish
		var err error
		checkAllocs(t, len(in), allocsPerByte, func() { err = p.Decode(in) })
		if err != nil {
			checkErr(t, err)
			return
		}
		out, err := AppendPublish(nil, &p)
		if err != nil {
			t.Fatalf("decoded events do not encode: %v", err)
		}
		sameBytes(t, "PUBLISH", out, in)
	})
}

func FuzzPublished(f *testing.F) {
	f.Add(AppendPublished(nil, []broker.PublishResult{{Partition: 1, Offset: 5}, {Offset: -1, Duplicate: true}}))
	f.Fuzz(func(t *testing.T, in []byte) {
		var rs []broker.PublishResult
		var err error
		checkAllocs(t, len(in), allocsPerByte, func() { rs, err = DecodePublished(in) })
		if err != nil {
			checkErr(t, err)
			return
		}
		sameBytes(t, "PUBLISHED", AppendPublished(nil, rs), in)
	})
}

func FuzzFetch(f *testing.F) {
	f.Add(AppendFetch(nil, &Fetch{Topic: "t", Sub: "s", Consumer: "c", Max: 10, Wait: time.Second}))
	f.Add(AppendFetch(nil, &Fetch{Max: -1, Wait: -1}))
	f.Fuzz(func(t *testing.T, in []byte) {
		var fe Fetch
		var err error
		checkAllocs(t, len(in), allocsPerByte, func() { err = fe.Decode(in) })
		if err != nil {
			checkErr(t, err)
			return
		}
		sameBytes(t, "FETCH", AppendFetch(nil, &fe), in)
	})
}

func FuzzDeliveries(f *testing.F) {
	for _, ds := range [][]broker.Delivery{
		{sampleDelivery(1, sampleEvent("1")), sampleDelivery(2, minimalEvent("2"))},
		{sampleDelivery(3, bigEvent("3", 300))},
	} {
		b, _ := AppendDeliveryFrames(nil, 1, ds)
		f.Add(b[HeaderSize:])
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		var ds []broker.Delivery
		var err error
		checkAllocs(t, len(in), allocsPerByte, func() { ds, err = DecodeDeliveries(in, nil) })
		n := CountDeliveries(in) // only a size hint when the payload is bad: it checks framing, not events
		if hint := DeliveriesHint([][]byte{in}); hint < 0 || hint > len(in)+1 {
			t.Fatalf("DeliveriesHint = %d for %d bytes", hint, len(in))
		}
		if err != nil {
			checkErr(t, err)
			return
		}
		if n != len(ds) {
			t.Fatalf("CountDeliveries = %d, DecodeDeliveries decoded %d", n, len(ds))
		}
		var out []byte
		for i := range ds {
			if out, err = appendDelivery(out, &ds[i]); err != nil {
				t.Fatal(err)
			}
		}
		sameBytes(t, "DELIVERIES", out, in)
	})
}

func FuzzSettle(f *testing.F) {
	f.Add(AppendSettle(nil, []SettleItem{{Topic: "t", Sub: "s", Token: "0-1-a"}, {Topic: "t", Sub: "s", Token: "x", Delay: time.Second, Text: "e"}}))
	f.Fuzz(func(t *testing.T, in []byte) {
		var items []SettleItem
		var err error
		checkAllocs(t, len(in), allocsPerByte, func() { items, err = DecodeSettle(in) })
		if err != nil {
			checkErr(t, err)
			return
		}
		sameBytes(t, "settle", AppendSettle(nil, items), in)
	})
}

func FuzzSettled(f *testing.F) {
	f.Add(AppendSettled(nil, []*Error{nil, {Code: CodeLeaseExpired, Message: "x"}, {Code: CodeInvalid, Message: "m",
		Fields: []FieldError{{Origin: OriginBoth, Field: "f", Reason: "r", InnerField: "i", InnerReason: "j"}}}}))
	f.Fuzz(func(t *testing.T, in []byte) {
		var st []*Error
		var err error
		checkAllocs(t, len(in), allocsPerByte, func() { st, err = DecodeSettled(in) })
		if err != nil {
			checkErr(t, err)
			return
		}
		sameBytes(t, "SETTLED", AppendSettled(nil, st), in)
	})
}

func FuzzRead(f *testing.F) {
	f.Add(AppendRead(nil, &Read{Topic: "t", Partition: 2, From: 100, Max: 10}))
	f.Fuzz(func(t *testing.T, in []byte) {
		var r Read
		var err error
		checkAllocs(t, len(in), allocsPerByte, func() { err = r.Decode(in) })
		if err != nil {
			checkErr(t, err)
			return
		}
		sameBytes(t, "READ", AppendRead(nil, &r), in)
	})
}

func FuzzEvents(f *testing.F) {
	b, _ := AppendEventFrames(nil, 1, []broker.StoredEvent{sampleDelivery(0, sampleEvent("a")).Event, sampleDelivery(1, minimalEvent("b")).Event})
	f.Add(b[HeaderSize:])
	f.Fuzz(func(t *testing.T, in []byte) {
		var evs []broker.StoredEvent
		var err error
		checkAllocs(t, len(in), allocsPerByte, func() { evs, err = DecodeEvents(in, nil) })
		if err != nil {
			checkErr(t, err)
			return
		}
		var out []byte
		for i := range evs {
			if out, err = appendStored(out, &evs[i]); err != nil {
				t.Fatal(err)
			}
		}
		sameBytes(t, "EVENTS", out, in)
	})
}

func FuzzTail(f *testing.F) {
	f.Add(AppendTail(nil, &Tail{Stream: 1, Max: 256, Wait: time.Second}))
	f.Add(AppendTail(nil, &Tail{Stream: 2, Max: 10, Wait: -1, Open: &TailOpen{Topic: "t",
		Start: broker.StartPosition{Kind: broker.StartTime, Time: t0}, Partition: 3,
		Filter: broker.Filter{Types: []string{"a", "b"}, SubjectPrefix: "x/"}}}))
	f.Fuzz(func(t *testing.T, in []byte) {
		var tl Tail
		var err error
		checkAllocs(t, len(in), allocsPerByte, func() { err = tl.Decode(in) })
		if err != nil {
			checkErr(t, err)
			return
		}
		sameBytes(t, "TAIL", AppendTail(nil, &tl), in)
	})
}

func FuzzCall(f *testing.F) {
	f.Add(AppendCall(nil, &Call{Method: MethodSeek, Args: []byte(`{"topic":"t","sub":"s","position":{"kind":"earliest"}}`)}))
	f.Fuzz(func(t *testing.T, in []byte) {
		var c Call
		var err error
		checkAllocs(t, len(in), allocsPerByte, func() { err = c.Decode(in) })
		if err != nil {
			checkErr(t, err)
			return
		}
		sameBytes(t, "CALL", AppendCall(nil, &c), in)
	})
}

func FuzzError(f *testing.F) {
	for _, e := range []*Error{
		{Code: CodeInvalid, Message: "m", Fields: []FieldError{{Origin: OriginBroker, Field: "max", Reason: "r"}, {Origin: OriginCloudEvent, Field: "id", Reason: "r"}}},
		{Code: CodeQuotaExceeded, Message: "q", Quota: &broker.QuotaError{Topic: "t", MaxBytes: 1, RetryAfter: time.Second}},
		{Code: CodeOffsetOutOfRange, Range: &commitlog.OutOfRangeError{Offset: -1, Earliest: 0, Next: 3}},
	} {
		f.Add(AppendError(nil, e))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		var e *Error
		var err error
		checkAllocs(t, len(in), allocsPerByte, func() { e, err = DecodeError(in) })
		if err != nil {
			checkErr(t, err)
			return
		}
		sameBytes(t, "ERROR", AppendError(nil, e), in)
		_ = e.Error()
		_ = e.Unwrap()
	})
}
