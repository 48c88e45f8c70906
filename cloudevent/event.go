package cloudevent

import (
	"bytes"
	"maps"
	"time"
)

// SpecVersion10 is the only CloudEvents spec version Herald accepts.
const SpecVersion10 = "1.0"

// Event is one CloudEvent: its context attributes and its data.
//
// An empty string means the attribute is absent; CloudEvents gives an empty
// string no other meaning for these attributes. The zero Event is not valid
// (id, source, specversion and type are required); Validate says what is
// missing.
//
// An Event is a plain value: methods never keep it, and it is not safe to
// modify from several goroutines at once. Copying an Event copies the Data
// slice header and the Extensions map reference, not their contents; use
// Clone for an independent copy.
type Event struct {
	ID          string // "id": unique within Source
	Source      string // "source": URI-reference of the producer
	SpecVersion string // "specversion": "1.0"
	Type        string // "type": e.g. "com.example.order.created"
	Subject     string // "subject": the thing the event is about, within Source

	// Time is "time", when the occurrence happened. The zero Time means
	// absent. Encodings keep the instant and the UTC offset; the location
	// name (e.g. "Europe/Paris") is not kept.
	Time time.Time

	// DataContentType is "datacontenttype", the media type of Data, e.g.
	// "application/json". Empty means not stated: the encodings then treat
	// Data as opaque bytes, so set it whenever Data is JSON or text.
	DataContentType string
	// DataSchema is "dataschema", an absolute URI of the schema Data
	// follows.
	DataSchema string

	// Data is the event payload, exactly as bytes: the JSON text when
	// DataContentType is JSON, the raw bytes otherwise. nil means the event
	// has no data; an empty non-nil slice means empty data, and every
	// encoding in this package keeps that difference except HTTP binary
	// mode, where an empty body reads back as nil.
	Data []byte

	// Extensions holds the extension attributes by name. Herald keeps
	// every value as a string: CloudEvents gives each of its types a
	// canonical string form, and strings survive every encoding unchanged.
	// See ParseJSON for how JSON numbers and booleans are read. nil and an
	// empty map mean the same.
	Extensions map[string]string
}

// Extension returns the value of extension name, or "" if it is not set.
func (e *Event) Extension(name string) string {
	return e.Extensions[name]
}

// SetExtension sets extension name to value, creating the map if needed.
// It does not check the name; Validate does.
func (e *Event) SetExtension(name, value string) {
	if e.Extensions == nil {
		e.Extensions = make(map[string]string)
	}
	e.Extensions[name] = value
}

// Clone returns a deep copy of e: its Data and Extensions can be changed
// without touching e. nil Data and nil Extensions stay nil.
func (e *Event) Clone() Event {
	c := *e
	if e.Data != nil {
		c.Data = bytes.Clone(e.Data)
	}
	if e.Extensions != nil {
		c.Extensions = maps.Clone(e.Extensions)
	}
	return c
}

// Equal reports whether e and o are the same event as every encoding in
// this package sees it: equal attributes, the same instant and UTC offset
// for Time (the location name is ignored, as the encodings drop it), the
// same Data bytes with nil and empty told apart, and the same extensions
// (a nil map equals an empty one).
func (e *Event) Equal(o *Event) bool {
	if e.ID != o.ID || e.Source != o.Source || e.SpecVersion != o.SpecVersion ||
		e.Type != o.Type || e.Subject != o.Subject ||
		e.DataContentType != o.DataContentType || e.DataSchema != o.DataSchema {
		return false
	}
	if !sameTime(e.Time, o.Time) {
		return false
	}
	if (e.Data == nil) != (o.Data == nil) || !bytes.Equal(e.Data, o.Data) {
		return false
	}
	return maps.Equal(e.Extensions, o.Extensions)
}

// sameTime reports whether a and b are both zero, or the same instant with
// the same UTC offset.
func sameTime(a, b time.Time) bool {
	if a.IsZero() || b.IsZero() {
		return a.IsZero() == b.IsZero()
	}
	_, ao := a.Zone()
	_, bo := b.Zone()
	return a.Equal(b) && ao == bo
}
