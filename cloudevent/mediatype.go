package cloudevent

import "strings"

// Media types of the CloudEvents JSON formats.
const (
	ContentTypeJSON      = "application/cloudevents+json"       // one structured event
	ContentTypeBatchJSON = "application/cloudevents-batch+json" // a JSON array of structured events
)

// Mode is how an HTTP message carries its event(s), told by its
// Content-Type.
type Mode int

const (
	// ModeBinary: attributes in ce-* headers, data as the body (FromHTTP).
	ModeBinary Mode = iota
	// ModeStructured: the body is one event in the JSON format (ParseJSON).
	ModeStructured
	// ModeBatch: the body is a JSON array of events (ParseBatchJSON).
	ModeBatch
	// ModeUnsupported: a CloudEvents format other than JSON, such as
	// application/cloudevents+avro. Answer 415 Unsupported Media Type.
	ModeUnsupported
)

func (m Mode) String() string {
	switch m {
	case ModeBinary:
		return "binary"
	case ModeStructured:
		return "structured"
	case ModeBatch:
		return "batch"
	case ModeUnsupported:
		return "unsupported"
	}
	return "Mode(?)"
}

// ModeOf tells the content mode from an HTTP Content-Type header value.
// Case and parameters are ignored ("Application/CloudEvents+JSON;
// charset=utf-8" is structured). Any type that is not a CloudEvents format
// means binary mode, as the HTTP binding says.
func ModeOf(contentType string) Mode {
	base := baseMediaType(contentType)
	switch {
	case asciiEqualFold(base, ContentTypeJSON):
		return ModeStructured
	case asciiEqualFold(base, ContentTypeBatchJSON):
		return ModeBatch
	case isCloudEventsFormat(base, "application/cloudevents-batch"),
		isCloudEventsFormat(base, "application/cloudevents"):
		return ModeUnsupported
	}
	return ModeBinary
}

// isCloudEventsFormat reports whether base is prefix or prefix+suffix.
func isCloudEventsFormat(base, prefix string) bool {
	if len(base) < len(prefix) || !asciiEqualFold(base[:len(prefix)], prefix) {
		return false
	}
	return len(base) == len(prefix) || base[len(prefix)] == '+'
}

// baseMediaType returns the media type without parameters or surrounding
// white space. It does not allocate: it runs for every event encoded.
func baseMediaType(contentType string) string {
	if i := strings.IndexByte(contentType, ';'); i >= 0 {
		contentType = contentType[:i]
	}
	return strings.TrimSpace(contentType)
}

// subtype returns the part of a base media type after the '/'.
func subtype(base string) (typ, sub string) {
	typ, sub, _ = strings.Cut(base, "/")
	return typ, sub
}

// isJSONContentType reports whether a datacontenttype declares JSON data:
// per the JSON format spec (§3.1.1), a subtype of "json" or one ending in
// "+json" (application/json, text/json, application/ld+json, ...).
func isJSONContentType(contentType string) bool {
	_, sub := subtype(baseMediaType(contentType))
	return asciiEqualFold(sub, "json") || hasSuffixFold(sub, "+json")
}

// isTextContentType reports whether a non-JSON datacontenttype declares
// text that the JSON format can carry as a string rather than base64:
// text/* and XML (application/xml, */*+xml).
func isTextContentType(contentType string) bool {
	typ, sub := subtype(baseMediaType(contentType))
	return asciiEqualFold(typ, "text") || asciiEqualFold(sub, "xml") || hasSuffixFold(sub, "+xml")
}

func hasSuffixFold(s, suffix string) bool {
	return len(s) >= len(suffix) && asciiEqualFold(s[len(s)-len(suffix):], suffix)
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && asciiEqualFold(s[:len(prefix)], prefix)
}

// asciiEqualFold compares without regard to ASCII case only. Media types
// and header names are ASCII; strings.EqualFold's Unicode folding would let
// "ſ" (U+017F) stand for "s".
func asciiEqualFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}
