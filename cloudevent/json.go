package cloudevent

import (
	"bytes"
	"encoding/base64"
	"slices"
	"strings"
)

// ParseJSON decodes one event in the CloudEvents JSON format
// (application/cloudevents+json). It does not call Validate.
//
// It follows the JSON format spec, and decides where the spec leaves room:
//
//   - The input must be valid UTF-8 and valid JSON, and a member must not
//     appear twice (also not once escaped and once not).
//   - Core attributes must be JSON strings. null means absent, for every
//     attribute.
//   - Any other member is an extension. A string is kept as is; a number
//     must be an integer (CloudEvents has no other number type) and is kept
//     as its JSON text, so 5 becomes "5" and -0 stays "-0"; true and false
//     become "true" and "false"; objects and arrays are refused. They are
//     written back as JSON strings.
//   - "data" with a JSON datacontenttype (*/json, */*+json) or none: Data is
//     the member's exact JSON text, white space inside included, and a
//     missing datacontenttype is set to "application/json", as the spec
//     advises, so the event says what its bytes are in every encoding.
//     "data": null is the JSON value null ("null"), as the spec says.
//   - "data" with any other datacontenttype must be a JSON string; Data is
//     its content. null there means no data.
//   - "data_base64" is standard base64 (RFC 4648, padded); Data is the
//     decoded bytes. Giving both "data" and "data_base64" is an error.
//   - "time" is RFC 3339; offsets are kept, the location is UTC or unnamed.
//
// Errors a member is to blame for are *FieldError; broken JSON matches
// ErrMalformed. The event never aliases b.
func ParseJSON(b []byte) (Event, error) {
	if err := checkJSON(b); err != nil {
		return Event{}, err
	}
	r := jsonReader{b: b}
	r.skipSpace()
	if r.peek() != '{' {
		return Event{}, malformed("a structured event must be a JSON object")
	}
	var e Event
	if err := r.readEvent(&e); err != nil {
		return Event{}, err
	}
	if r.skipSpace(); r.i != len(b) {
		return Event{}, malformed("unexpected data after the event at byte %d", r.i)
	}
	return e, nil
}

// UnmarshalJSON implements json.Unmarshaler with ParseJSON. JSON null
// leaves e unchanged, as encoding/json expects.
func (e *Event) UnmarshalJSON(b []byte) error {
	if string(bytes.TrimSpace(b)) == "null" {
		return nil
	}
	ev, err := ParseJSON(b)
	if err != nil {
		return err
	}
	*e = ev
	return nil
}

// Members with a fixed meaning, by index.
const (
	mSpecVersion = iota
	mID
	mSource
	mType
	mSubject
	mTime
	mDataContentType
	mDataSchema
	numStringMembers // the members above are JSON strings
	mData            = numStringMembers
	mDataBase64      = numStringMembers + 1
	mExtension       = -1
)

var memberNames = [...]string{"specversion", "id", "source", "type", "subject", "time", "datacontenttype", "dataschema", "data", "data_base64"}

func memberIndex(name []byte) int {
	switch string(name) {
	case "specversion":
		return mSpecVersion
	case "id":
		return mID
	case "source":
		return mSource
	case "type":
		return mType
	case "subject":
		return mSubject
	case "time":
		return mTime
	case "datacontenttype":
		return mDataContentType
	case "dataschema":
		return mDataSchema
	case "data":
		return mData
	case "data_base64":
		return mDataBase64
	}
	return mExtension
}

// span locates decoded text in the text buffer of readEvent.
type span struct{ start, end int }

// extSpan is one extension member; null ones are kept to catch duplicates.
type extSpan struct {
	name, value span
	null        bool
}

// The decoded text of every attribute of one event is gathered in one
// buffer (on the stack while it fits), so that a single string allocation
// serves them all: the fields of the Event are substrings of it.

// addText appends b to text and says where it went.
func addText(text, b []byte) ([]byte, span) {
	start := len(text)
	text = append(text, b...)
	return text, span{start, len(text)}
}

// addStringText appends the content of the JSON string token tok.
func addStringText(text, tok []byte) ([]byte, span, error) {
	start := len(text)
	text, err := appendStringContent(text, tok)
	return text, span{start, len(text)}, err
}

// readEvent decodes the object at r.i into e.
func (r *jsonReader) readEvent(e *Event) error {
	if err := r.expect('{'); err != nil {
		return err
	}
	var (
		stackText [512]byte
		stackExts [8]extSpan
		text      = stackText[:0]
		exts      = stackExts[:0]
		core      [numStringMembers]span
		seen      [numStringMembers + 2]bool
		data, b64 []byte // raw tokens; nil if the member is absent
	)
	r.skipSpace()
	if r.peek() == '}' {
		r.i++
		return nil
	}
	for {
		keyTok, err := r.value()
		if err != nil {
			return err
		}
		var key span
		text, key, err = addStringText(text, keyTok)
		if err != nil {
			return err
		}
		if err := r.expect(':'); err != nil {
			return err
		}
		val, err := r.value()
		if err != nil {
			return err
		}

		idx := memberIndex(text[key.start:key.end])
		if idx != mExtension {
			text = text[:key.start] // the name is known; drop it
			if seen[idx] {
				return fieldErr(memberNames[idx], "appears more than once")
			}
			seen[idx] = true
		}
		switch idx {
		case mData:
			data = val
		case mDataBase64:
			if val[0] != '"' && val[0] != 'n' {
				return fieldErr("data_base64", "must be a JSON string holding base64")
			}
			b64 = val
		case mExtension:
			x := extSpan{name: key}
			switch val[0] {
			case 'n':
				x.null = true
			case 't', 'f':
				text, x.value = addText(text, val) // "true" or "false"
			case '"':
				if text, x.value, err = addStringText(text, val); err != nil {
					return err
				}
			case '{', '[':
				return fieldErr(string(text[key.start:key.end]), "extension values must be a string, number or boolean, not an object or array")
			default:
				if bytes.ContainsAny(val, ".eE") {
					return fieldErr(string(text[key.start:key.end]), "extension numbers must be integers (CloudEvents has no other number type); send other values as strings")
				}
				text, x.value = addText(text, val) // the integer's JSON text
			}
			exts = append(exts, x)
		default: // a string attribute
			switch val[0] {
			case 'n': // null: absent
			case '"':
				if text, core[idx], err = addStringText(text, val); err != nil {
					return err
				}
			default:
				return fieldErr(memberNames[idx], "must be a JSON string")
			}
		}

		r.skipSpace()
		switch r.peek() {
		case ',':
			r.i++
			continue
		case '}':
			r.i++
			return buildEvent(e, string(text), &core, exts, data, b64)
		}
		return malformed("expected ',' or '}' at byte %d", r.i)
	}
}

// buildEvent fills e once its object has been read: all text is in s.
func buildEvent(e *Event, s string, core *[numStringMembers]span, exts []extSpan, data, b64 []byte) error {
	str := func(sp span) string { return s[sp.start:sp.end] }
	e.SpecVersion = str(core[mSpecVersion])
	e.ID = str(core[mID])
	e.Source = str(core[mSource])
	e.Type = str(core[mType])
	e.Subject = str(core[mSubject])
	e.DataContentType = str(core[mDataContentType])
	e.DataSchema = str(core[mDataSchema])
	if ts := str(core[mTime]); ts != "" {
		t, err := parseTime(ts)
		if err != nil {
			return fieldErr("time", timeReason)
		}
		e.Time = t
	}

	if len(exts) > 0 {
		// Sorting finds duplicates in O(n log n), even for hostile input
		// with thousands of members.
		slices.SortFunc(exts, func(a, b extSpan) int { return strings.Compare(str(a.name), str(b.name)) })
		n := 0
		for i, x := range exts {
			if i > 0 && str(x.name) == str(exts[i-1].name) {
				return fieldErr(str(x.name), "appears more than once")
			}
			if !x.null {
				n++
			}
		}
		if n > 0 {
			e.Extensions = make(map[string]string, n)
			for _, x := range exts {
				if !x.null {
					e.Extensions[str(x.name)] = str(x.value)
				}
			}
		}
	}
	return resolveData(e, data, b64)
}

// resolveData sets e.Data from the raw "data" and "data_base64" tokens once
// the whole object, and so datacontenttype, has been read.
func resolveData(e *Event, data, b64 []byte) error {
	jsonData := e.DataContentType == "" || isJSONContentType(e.DataContentType)
	hasData := data != nil && (data[0] != 'n' || jsonData)
	hasB64 := b64 != nil && b64[0] != 'n'
	switch {
	case hasData && hasB64:
		return fieldErr("data_base64", "must not appear together with data; send one or the other")
	case hasB64:
		if len(b64) < 2 {
			return malformed("data_base64 is not a string")
		}
		enc := b64[1 : len(b64)-1]
		if bytes.IndexByte(enc, '\\') >= 0 { // base64 never needs escapes, but JSON allows them
			var err error
			if enc, err = appendStringContent(nil, b64); err != nil {
				return err
			}
		}
		dec := make([]byte, base64.StdEncoding.DecodedLen(len(enc)))
		n, err := base64.StdEncoding.Decode(dec, enc)
		if err != nil {
			return fieldErr("data_base64", "must be standard base64 (RFC 4648, with padding)")
		}
		e.Data = dec[:n]
	case hasData && jsonData:
		e.Data = bytes.Clone(data)
		if e.DataContentType == "" {
			e.DataContentType = "application/json"
		}
	case hasData:
		if data[0] != '"' {
			return fieldErr("data", "must be a JSON string when datacontenttype is not JSON; send binary data as data_base64")
		}
		s, err := appendStringContent(make([]byte, 0, len(data)), data)
		if err != nil {
			return err
		}
		e.Data = s
	}
	return nil
}
