package wire

import (
	"slices"
	"time"

	"github.com/heraldhq/herald/internal/broker"
)

// FETCH payload:
//
//	topic      uvarint length + bytes
//	sub        uvarint length + bytes
//	consumer   uvarint length + bytes
//	max        varint: at most this many deliveries (the client's credit;
//	           the broker refuses max < 1)
//	wait       varint nanoseconds: > 0 long-polls at most that long;
//	           0 waits until a delivery is ready or a CANCEL for this id
//	           arrives; < 0 polls (answers at once with what is ready)
//
// DELIVERIES payload, one entry per delivery until the end of the payload
// (an empty payload is "nothing ready when the wait ended"); a long reply
// is split into several frames, all but the last typed
// DELIVERIES|Continued:
//
//	token        uvarint length + bytes
//	attempt      uvarint
//	deadline     varint, Unix nanoseconds of the lease's end
//	stored event (below)
//
// Stored event, shared with EVENTS (read.go):
//
//	topic        uvarint length + bytes
//	partition    uvarint
//	offset       varint
//	publish time varint, Unix nanoseconds
//	record       uvarint length + the event in the storage codec

// Fetch is a FETCH request.
type Fetch struct {
	Topic, Sub, Consumer string
	Max                  int
	Wait                 time.Duration
}

// AppendFetch appends f's payload.
func AppendFetch(dst []byte, f *Fetch) []byte {
	dst = appendString(dst, f.Topic)
	dst = appendString(dst, f.Sub)
	dst = appendString(dst, f.Consumer)
	dst = appendVarint(dst, int64(f.Max))
	return appendVarint(dst, int64(f.Wait))
}

// Decode replaces f with the request in payload b.
func (f *Fetch) Decode(b []byte) error {
	d := decoder{b: b, what: "FETCH"}
	*f = Fetch{Topic: d.string(), Sub: d.string(), Consumer: d.string(), Max: d.sint("max"), Wait: d.duration()}
	return d.done()
}

// AppendDeliveryFrames appends the DELIVERIES reply to request id as one
// or more frames of about ChunkBytes each.
func AppendDeliveryFrames(dst []byte, id uint64, ds []broker.Delivery) ([]byte, error) {
	size := HeaderSize
	for i := range ds {
		// token, topic and record, plus up to 40 bytes of numbers and length prefixes
		size += len(ds[i].Token) + len(ds[i].Event.Topic) + len(ds[i].Event.Record()) + 40
	}
	size += size / ChunkBytes * HeaderSize
	dst = slices.Grow(dst, size) // one allocation instead of a doubling series
	return appendChunked(dst, TypeDeliveries, id, len(ds), func(dst []byte, i int) ([]byte, error) {
		return appendDelivery(dst, &ds[i])
	})
}

func appendDelivery(dst []byte, dl *broker.Delivery) ([]byte, error) {
	dst = appendString(dst, dl.Token)
	dst = appendUvarint(dst, uint64(dl.Attempt))
	dst = appendTime(dst, dl.Deadline)
	return appendStored(dst, &dl.Event)
}

func appendStored(dst []byte, st *broker.StoredEvent) ([]byte, error) {
	dst = appendString(dst, st.Topic)
	dst = appendUvarint(dst, uint64(st.Partition))
	dst = appendVarint(dst, st.Offset)
	dst = appendTime(dst, st.PublishTime)
	if rec := st.Record(); rec != nil {
		// The record as stored, which decodes to the same event, without
		// encoding the event again.
		dst = appendUvarint(dst, uint64(len(rec)))
		return append(dst, rec...), nil
	}
	return appendRecord(dst, &st.Event)
}

// DeliveriesHint estimates how many deliveries the DELIVERIES payloads
// hold, for sizing the slice DecodeDeliveries appends to: their length
// divided by the first delivery's encoded size, plus a quarter. A
// consumer's deliveries are mostly alike in size, and skipping one costs
// a few varints where counting them all cost a sixth of decoding a reply.
// A short estimate only means append grows; a long one is memory cleared
// at allocation and collected later (with a fixed 32 bytes per delivery,
// a fetch that may take 1,000 events and got 8 had room for 60: 7% of an
// end-to-end consumer's CPU).
func DeliveriesHint(payloads [][]byte) int {
	total := 0
	for _, p := range payloads {
		total += len(p)
	}
	if total == 0 {
		return 0
	}
	first := 32 // the least a delivery takes, if the first one is malformed
	if d := (decoder{b: payloads[0], what: "DELIVERIES"}); d.more() {
		d.skipDelivery()
		if d.err == nil {
			first = max(first, d.pos)
		}
	}
	n := total / first
	return n + n/4 + len(payloads)
}

// skipDelivery moves past one delivery without decoding it.
func (d *decoder) skipDelivery() {
	d.bytes()   // token
	d.uvarint() // attempt
	d.varint()  // deadline
	d.bytes()   // topic
	d.uvarint() // partition
	d.varint()  // offset
	d.varint()  // publish time
	d.bytes()   // record
}

// CountDeliveries is how many deliveries the DELIVERIES payload b holds,
// found by skipping over them without allocating: a test that measures a
// server's allocations counts its replies with it. (The remote client
// sizes its slice with DeliveriesHint instead, which reads only the first
// delivery.) It checks the framing only: for a payload
// DecodeDeliveries refuses it is just an estimate.
func CountDeliveries(b []byte) int {
	d := decoder{b: b, what: "DELIVERIES"}
	n := 0
	for d.more() {
		d.skipDelivery()
		if d.err == nil {
			n++
		}
	}
	return n
}

// DecodeDeliveries appends the deliveries of one DELIVERIES frame to dst.
func DecodeDeliveries(b []byte, dst []broker.Delivery) ([]broker.Delivery, error) {
	d := decoder{b: b, what: "DELIVERIES"}
	// Every token of the frame is copied into one buffer that becomes one
	// string, and each Token a slice of it: one allocation per frame
	// instead of one per delivery. A frame's deliveries share their topic.
	first := len(dst)
	tokens := make([]byte, 0, 2048) // sizes that keep a fetch of 100 off the heap
	ends := make([]int, 0, 128)
	var topic string
	for d.more() {
		tokens = append(tokens, d.bytes()...)
		ends = append(ends, len(tokens))
		// Decoded in place: a Delivery is a few hundred bytes, and
		// building it aside cost two copies of each.
		dst = append(dst, broker.Delivery{})
		dl := &dst[len(dst)-1]
		dl.Attempt, dl.Deadline = d.int("attempt"), d.time()
		d.storedInto(&dl.Event, &topic)
	}
	all, start := string(tokens), 0
	for i, end := range ends {
		dst[first+i].Token = all[start:end]
		start = end
	}
	return dst, d.done()
}

// storedInto decodes a stored event into st, in place (a StoredEvent is
// a few hundred bytes); topic is the previous one's, reused when it is
// the same.
func (d *decoder) storedInto(st *broker.StoredEvent, topic *string) {
	*topic = d.stringAs(*topic)
	st.Topic = *topic
	st.Partition, st.Offset, st.PublishTime = d.int("partition"), d.varint(), d.time()
	rec := d.bytes()
	if d.err != nil {
		return
	}
	if err := st.Event.UnmarshalBinaryShared(rec); err != nil {
		d.fail("event: %v", err)
	}
}

// appendChunked appends n items as frames of type t for request id, each
// holding whole items and starting a new one once ChunkBytes is reached;
// all frames but the last carry Continued. Zero items give one empty
// frame.
func appendChunked(dst []byte, t Type, id uint64, n int, item func(dst []byte, i int) ([]byte, error)) ([]byte, error) {
	dst, start := BeginFrame(dst, t, id)
	for i := range n {
		var err error
		if dst, err = item(dst, i); err != nil {
			return dst, err
		}
		if len(dst)-start-HeaderSize >= ChunkBytes && i < n-1 {
			dst[start+4] = byte(t | Continued)
			if err := EndFrame(dst, start); err != nil {
				return dst, err
			}
			dst, start = BeginFrame(dst, t, id)
		}
	}
	return dst, EndFrame(dst, start)
}
