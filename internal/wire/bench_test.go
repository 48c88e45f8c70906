package wire

import (
	"testing"

	"github.com/heraldhq/herald/internal/broker"
)

// BenchmarkDecodeDeliveries decodes a reply of 100 deliveries of 128-byte
// events, the harness's consume row, into a slice sized as the remote
// client sizes it. One op is one reply.
func BenchmarkDecodeDeliveries(b *testing.B) {
	ev := minimalEvent("1")
	ev.Data = make([]byte, 128)
	ev.ID = "6e8bc430-9c3a-11d9-9669-0800200c9a66"
	ev.Source = "herald://bench"
	ds, payload := sampleReply(b, ev, 100)
	for b.Loop() {
		got, err := DecodeDeliveries(payload, make([]broker.Delivery, 0, len(ds)))
		if err != nil || len(got) != len(ds) {
			b.Fatalf("decoded %d deliveries: %v", len(got), err)
		}
	}
}
