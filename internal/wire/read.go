package wire

import "github.com/heraldhq/herald/internal/broker"

// READ payload:
//
//	topic      uvarint length + bytes
//	partition  varint (the broker answers a bad one)
//	from       varint: the first offset to read
//	max        varint: at most this many events
//
// EVENTS payload: stored events (drawn in fetch.go) until the end of the
// payload; a long reply is split into frames, all but the last typed
// EVENTS|Continued. An empty payload: nothing at that offset yet.

// Read is a READ request.
type Read struct {
	Topic     string
	Partition int
	From      int64
	Max       int
}

// AppendRead appends r's payload.
func AppendRead(dst []byte, r *Read) []byte {
	dst = appendString(dst, r.Topic)
	dst = appendVarint(dst, int64(r.Partition))
	dst = appendVarint(dst, r.From)
	return appendVarint(dst, int64(r.Max))
}

// Decode replaces r with the request in payload b.
func (r *Read) Decode(b []byte) error {
	d := decoder{b: b, what: "READ"}
	*r = Read{Topic: d.string(), Partition: d.sint("partition"), From: d.varint(), Max: d.sint("max")}
	return d.done()
}

// AppendEventFrames appends the EVENTS reply to request id as one or more
// frames of about ChunkBytes each.
func AppendEventFrames(dst []byte, id uint64, events []broker.StoredEvent) ([]byte, error) {
	return appendChunked(dst, TypeEvents, id, len(events), func(dst []byte, i int) ([]byte, error) {
		return appendStored(dst, &events[i])
	})
}

// DecodeEvents appends the events of one EVENTS frame to dst.
func DecodeEvents(b []byte, dst []broker.StoredEvent) ([]broker.StoredEvent, error) {
	d := decoder{b: b, what: "EVENTS"}
	var topic string
	for d.more() {
		dst = append(dst, broker.StoredEvent{})
		d.storedInto(&dst[len(dst)-1], &topic)
	}
	return dst, d.done()
}
