package wire

import (
	"time"

	"github.com/heraldhq/herald/internal/broker"
)

// A tail reads a topic from a position and follows it (broker.Tail), with
// no state on the server beyond the connection: a client opens a tail with
// its first TAIL and reads it with more TAILs, each a long poll answered
// by EVENTS. The server keeps the tail (its position in every partition,
// and events held back until their deliverat) between TAILs, until a TAIL
// with max 0 closes it or the connection ends.
//
// TAIL payload:
//
//	stream     uvarint: the client's number for the tail, unique among the
//	           tails open on the connection
//	max        varint: answer at most this many events, at least 1; 0
//	           closes the tail instead, answered at once with an empty
//	           EVENTS
//	wait       varint nanoseconds, as FETCH's: > 0 long-polls at most that
//	           long; 0 waits until an event is ready or a CANCEL with this
//	           request's id arrives; < 0 polls
//	open       1 byte: 1 opens the tail with the fields below (its first
//	           TAIL, which also reads); 0 reads an open one, and the
//	           payload ends here
//	topic      uvarint length + bytes
//	start      uvarint length + bytes: where reading starts, a
//	           broker.StartKind (latest, earliest, offset or time; the
//	           broker refuses others)
//	offset     varint: the offset of kind offset, in every partition
//	time       varint Unix nanoseconds: the time of kind time; 0 is no
//	           time (the zero time.Time)
//	partition  varint: only this partition's events; -1 every partition
//	types      uvarint count, then uvarint length + bytes each: only events
//	           of these types; none: every type
//	subject    uvarint length + bytes: only events whose subject starts
//	           with it
//
// EVENTS payload (read.go): the events that were ready, in the tail's
// order: offset order within a partition, partitions interleaved. Empty:
// the wait ended first.

// Tail is a TAIL request.
type Tail struct {
	Stream uint64
	Max    int
	Wait   time.Duration
	// Open is set on the TAIL that opens the stream, nil on the others.
	Open *TailOpen
}

// TailOpen says where a tail starts and which events it passes.
type TailOpen struct {
	Topic     string
	Start     broker.StartPosition
	Partition int // -1: every partition
	Filter    broker.Filter
}

// AppendTail appends t's payload.
func AppendTail(dst []byte, t *Tail) []byte {
	dst = appendUvarint(dst, t.Stream)
	dst = appendVarint(dst, int64(t.Max))
	dst = appendVarint(dst, int64(t.Wait))
	dst = appendBool(dst, t.Open != nil)
	if o := t.Open; o != nil {
		dst = appendString(dst, o.Topic)
		dst = appendString(dst, string(o.Start.Kind))
		dst = appendVarint(dst, o.Start.Offset)
		var at int64
		if !o.Start.Time.IsZero() {
			at = o.Start.Time.UnixNano()
		}
		dst = appendVarint(dst, at)
		dst = appendVarint(dst, int64(o.Partition))
		dst = appendUvarint(dst, uint64(len(o.Filter.Types)))
		for _, typ := range o.Filter.Types {
			dst = appendString(dst, typ)
		}
		dst = appendString(dst, o.Filter.SubjectPrefix)
	}
	return dst
}

// Decode replaces t with the request in payload b.
func (t *Tail) Decode(b []byte) error {
	d := decoder{b: b, what: "TAIL"}
	*t = Tail{Stream: d.uvarint(), Max: d.sint("max"), Wait: d.duration()}
	if d.bool() {
		o := &TailOpen{Topic: d.string()}
		o.Start.Kind = broker.StartKind(d.string())
		o.Start.Offset = d.varint()
		if at := d.varint(); at != 0 {
			o.Start.Time = time.Unix(0, at).UTC()
		}
		o.Partition = d.sint("partition")
		n := d.uvarint()
		if n > uint64(d.left()) { // each type takes at least its length byte
			d.fail("%d types in %d bytes", n, d.left())
			n = 0
		}
		for range n {
			o.Filter.Types = append(o.Filter.Types, d.string())
		}
		o.Filter.SubjectPrefix = d.string()
		t.Open = o
	}
	return d.done()
}
