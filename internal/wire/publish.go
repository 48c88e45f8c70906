package wire

import (
	"encoding/binary"
	"fmt"

	"github.com/heraldhq/herald/cloudevent"
	"github.com/heraldhq/herald/internal/broker"
)

// PUBLISH payload:
//
//	topic      uvarint length + bytes
//	events     repeated until the end of the payload, at least 0:
//	  record   uvarint length + one event in the storage codec
//	           (cloudevent/binary.go), exactly what the broker stores
//
// PUBLISHED payload, one entry per event of the request, in order, until
// the end of the payload:
//
//	partition  uvarint
//	offset     varint
//	duplicate  1 byte: 1 = already stored inside the dedup window, nothing
//	           was stored and partition/offset are the original's; else 0
//
// The event ids are not echoed: the client has them.

// Publish is a PUBLISH request.
type Publish struct {
	Topic  string
	Events []cloudevent.Event
	// Records, set by Decode, are the events' storage records as received
	// (Records[i] encodes Events[i]); they and the events' Data share the
	// decoded payload's memory, so the broker can store them without
	// encoding again. Ignored by AppendPublish.
	Records [][]byte
}

// AppendPublish appends p's payload. An event the storage codec cannot
// encode fails with an *EventError.
func AppendPublish(dst []byte, p *Publish) ([]byte, error) {
	dst = appendString(dst, p.Topic)
	for i := range p.Events {
		var err error
		if dst, err = appendRecord(dst, &p.Events[i]); err != nil {
			return dst, &EventError{Index: i, Err: err}
		}
	}
	return dst, nil
}

// EventError: events[Index] of a request could not be encoded.
type EventError struct {
	Index int
	Err   error
}

func (e *EventError) Error() string {
	return fmt.Sprintf("events[%d] cannot be encoded: %v", e.Index, e.Err)
}

func (e *EventError) Unwrap() error { return e.Err }

// appendRecord appends ev's storage record with its uvarint length. The
// length is written after the record: one byte is reserved and the record
// moved when its length needs more.
func appendRecord(dst []byte, ev *cloudevent.Event) ([]byte, error) {
	start := len(dst)
	dst, err := ev.AppendBinary(append(dst, 0))
	if err != nil {
		return dst[:start], err
	}
	n := len(dst) - start - 1
	if k := uvarintLen(uint64(n)); k > 1 {
		dst = append(dst, make([]byte, k-1)...)
		copy(dst[start+k:], dst[start+1:start+1+n])
	}
	binary.PutUvarint(dst[start:], uint64(n))
	return dst, nil
}

// Decode replaces p with the request in payload b. The events' Data and
// p.Records share b's memory: b must not change while they are used.
func (p *Publish) Decode(b []byte) error {
	d := decoder{b: b, what: "PUBLISH"}
	p.Topic = d.string()
	p.Events, p.Records = p.Events[:0], p.Records[:0]
	if n := countRecords(b[min(d.pos, len(b)):]); cap(p.Events) < n {
		// One allocation each, not a doubling series: an Event is a few
		// hundred bytes and a batch holds up to thousands.
		p.Events, p.Records = make([]cloudevent.Event, 0, n), make([][]byte, 0, n)
	}
	for d.more() {
		rec := d.bytes()
		if d.err != nil {
			return fmt.Errorf("%w: events[%d]: %w", ErrMalformed, len(p.Events), d.err)
		}
		var ev cloudevent.Event
		if err := ev.UnmarshalBinaryShared(rec); err != nil {
			return fmt.Errorf("%w: events[%d]: %w", ErrMalformed, len(p.Events), err)
		}
		p.Events = append(p.Events, ev)
		p.Records = append(p.Records, rec)
	}
	return d.done()
}

// countRecords is how many length-prefixed records b holds, found by
// skipping over them: a size hint for Decode, which checks them itself.
func countRecords(b []byte) int {
	d := decoder{b: b, what: "PUBLISH"}
	n := 0
	for d.more() {
		if d.bytes(); d.err == nil {
			n++
		}
	}
	return n
}

// AppendPublished appends a PUBLISHED payload for results.
func AppendPublished(dst []byte, results []broker.PublishResult) []byte {
	for _, r := range results {
		dst = appendUvarint(dst, uint64(r.Partition))
		dst = appendVarint(dst, r.Offset)
		dst = appendBool(dst, r.Duplicate)
	}
	return dst
}

// DecodePublished decodes a PUBLISHED payload. The results' ID is empty:
// the caller fills it from its events.
func DecodePublished(b []byte) ([]broker.PublishResult, error) {
	d := decoder{b: b, what: "PUBLISHED"}
	out := make([]broker.PublishResult, 0, len(b)/3)
	for d.more() {
		out = append(out, broker.PublishResult{Partition: d.int("partition"), Offset: d.varint(), Duplicate: d.bool()})
	}
	return out, d.done()
}
