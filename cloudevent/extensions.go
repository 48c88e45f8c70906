package cloudevent

import (
	"strings"
	"time"
)

// Extensions Herald gives a meaning to. Publishers set these; the broker
// reads them.
const (
	// ExtPartitionKey chooses the partition: events with the same key land
	// in the same partition, in publish order. From the CloudEvents
	// Partitioning extension.
	ExtPartitionKey = "partitionkey"
	// ExtDeliverAt is an RFC 3339 time before which no subscriber sees the
	// event (delayed delivery). Validate rejects a value that does not
	// parse, because the broker cannot act on it. See DeliverAt.
	ExtDeliverAt = "deliverat"
	// ExtTraceParent is the W3C Trace Context traceparent header value,
	// from the CloudEvents Distributed Tracing extension.
	ExtTraceParent = "traceparent"
	// ExtCorrelationID ties together every event of one conversation or
	// workflow.
	ExtCorrelationID = "correlationid"
	// ExtCausationID is the id of the event that caused this one.
	ExtCausationID = "causationid"
)

// Extensions the broker sets on events it hands to subscribers. They
// describe where the event sits in Herald, so they are not part of what a
// publisher sent. Every name starting with "herald" is reserved for the
// broker; see IsBrokerExtension.
const (
	ExtHeraldTopic     = "heraldtopic"     // topic name
	ExtHeraldPartition = "heraldpartition" // partition number, decimal
	ExtHeraldOffset    = "heraldoffset"    // offset in the partition, decimal
	ExtHeraldTime      = "heraldtime"      // RFC 3339 time the broker stored the event
	ExtHeraldAttempt   = "heraldattempt"   // delivery attempt, 1 for the first, decimal
)

// brokerPrefix starts every extension name the broker owns.
const brokerPrefix = "herald"

// IsBrokerExtension reports whether name is reserved for the broker: the
// ExtHerald* names and any other name starting with "herald", kept free so
// new broker attributes never clash with a publisher's. Validate allows
// them (an event read from Herald carries them); the publish path decides
// whether to strip or refuse them.
func IsBrokerExtension(name string) bool {
	return strings.HasPrefix(name, brokerPrefix)
}

// DeliverAt returns the time set by the deliverat extension. ok is false
// when the extension is absent. A value that is not RFC 3339 returns ok
// true and a *FieldError for "deliverat".
func (e *Event) DeliverAt() (t time.Time, ok bool, err error) {
	v, ok := e.Extensions[ExtDeliverAt]
	if !ok {
		return time.Time{}, false, nil
	}
	t, err = parseTime(v)
	if err != nil {
		return time.Time{}, true, fieldErr(ExtDeliverAt, timeReason)
	}
	return t, true, nil
}

// SetDeliverAt sets the deliverat extension to t, or removes it when t is
// the zero Time.
func (e *Event) SetDeliverAt(t time.Time) {
	if t.IsZero() {
		delete(e.Extensions, ExtDeliverAt)
		return
	}
	e.SetExtension(ExtDeliverAt, string(appendTime(nil, t)))
}
