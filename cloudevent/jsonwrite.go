package cloudevent

import (
	"encoding/base64"
	"encoding/json"
	"slices"
	"unicode/utf8"
)

// MarshalJSON encodes e in the CloudEvents JSON format. It does not call
// Validate, so an incomplete event can still be logged or inspected, but it
// fails on what JSON cannot carry: strings that are not valid UTF-8, an
// extension named like a core attribute, a time outside years 0000-9999.
//
// The output is deterministic: core attributes in a fixed order,
// extensions sorted by name (always as JSON strings), data last. Data is
// written so that ParseJSON gives back the same bytes, never altered:
//
//   - JSON datacontenttype and Data one JSON value with no white space
//     around it: "data" holds the value verbatim.
//   - text datacontenttype (text/*, application/xml, */*+xml) and Data
//     valid UTF-8: "data" holds it as a JSON string.
//   - anything else, including Data that claims to be JSON but is not (or
//     has white space around it, like a trailing newline) and Data with no
//     datacontenttype: "data_base64".
//
// Calling it through json.Marshal works too, but encoding/json then
// compacts the output, which removes white space inside JSON data.
func (e Event) MarshalJSON() ([]byte, error) {
	return e.appendJSON(make([]byte, 0, e.jsonSizeHint()))
}

// jsonSizeHint estimates the encoded size, so encoding allocates once.
func (e *Event) jsonSizeHint() int {
	n := 160 + len(e.ID) + len(e.Source) + len(e.SpecVersion) + len(e.Type) +
		len(e.Subject) + len(e.DataContentType) + len(e.DataSchema) + len(e.Data)*4/3
	for k, v := range e.Extensions {
		n += len(k) + len(v) + 6
	}
	return n
}

func (e *Event) appendJSON(dst []byte) ([]byte, error) {
	dst = append(dst, '{')
	first := true
	var err error
	member := func(name, value string) {
		if value == "" || err != nil {
			return
		}
		if !utf8.ValidString(value) {
			err = fieldErr(name, "must be valid UTF-8 to be written as JSON")
			return
		}
		if !first {
			dst = append(dst, ',')
		}
		first = false
		dst = appendJSONString(dst, name)
		dst = append(dst, ':')
		dst = appendJSONString(dst, value)
	}
	member("specversion", e.SpecVersion)
	member("id", e.ID)
	member("source", e.Source)
	member("type", e.Type)
	member("subject", e.Subject)
	if !e.Time.IsZero() && err == nil {
		if !rfc3339Representable(e.Time) {
			return nil, fieldErr("time", "must have a year from 0000 to 9999 to be written in RFC 3339")
		}
		if !first {
			dst = append(dst, ',')
		}
		first = false
		dst = append(dst, `"time":"`...)
		dst = appendTime(dst, e.Time)
		dst = append(dst, '"')
	}
	member("datacontenttype", e.DataContentType)
	member("dataschema", e.DataSchema)
	if err != nil {
		return nil, err
	}

	var buf [16]string
	for _, name := range sortedKeys(e.Extensions, buf[:0]) {
		if !utf8.ValidString(name) {
			return nil, fieldErr(name, "extension names must be valid UTF-8 to be written as JSON")
		}
		if coreNames[name] {
			return nil, fieldErr(name, "is a core CloudEvents attribute name, so an extension must not use it")
		}
		if !first {
			dst = append(dst, ',')
		}
		first = false
		dst = appendJSONString(dst, name)
		dst = append(dst, ':')
		v := e.Extensions[name]
		if !utf8.ValidString(v) {
			return nil, fieldErr(name, "must be valid UTF-8 to be written as JSON")
		}
		dst = appendJSONString(dst, v)
	}

	if e.Data != nil {
		if !first {
			dst = append(dst, ',')
		}
		ct := e.DataContentType
		switch {
		case ct != "" && isJSONContentType(ct) && isBareJSONValue(e.Data):
			dst = append(dst, `"data":`...)
			dst = append(dst, e.Data...)
		case ct != "" && isTextContentType(ct) && !isJSONContentType(ct) && utf8.Valid(e.Data):
			dst = append(dst, `"data":`...)
			dst = appendJSONString(dst, e.Data)
		default:
			dst = append(dst, `"data_base64":"`...)
			dst = base64.StdEncoding.AppendEncode(dst, e.Data)
			dst = append(dst, '"')
		}
	}
	return append(dst, '}'), nil
}

// isBareJSONValue reports whether b is exactly one JSON value, valid UTF-8,
// with no white space around it: what ParseJSON captures as "data".
func isBareJSONValue(b []byte) bool {
	if len(b) == 0 || isJSONSpace(b[0]) || isJSONSpace(b[len(b)-1]) {
		return false
	}
	return utf8.Valid(b) && json.Valid(b)
}

func isJSONSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// sortedKeys appends the keys of m to buf, sorted. With a buffer on the
// caller's stack, small maps cost no allocation.
func sortedKeys(m map[string]string, buf []string) []string {
	for k := range m {
		buf = append(buf, k)
	}
	slices.Sort(buf)
	return buf
}

// appendJSONString appends s, valid UTF-8, as a JSON string. Only what JSON
// requires is escaped (quote, backslash, control characters), so HTML
// characters and non-ASCII text stay readable.
func appendJSONString[S string | []byte](dst []byte, s S) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		dst = append(dst, s[start:i]...)
		switch c {
		case '"', '\\':
			dst = append(dst, '\\', c)
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		default:
			dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		}
		start = i + 1
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
