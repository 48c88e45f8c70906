package cloudevent

import (
	"fmt"
	"net/http"
	"net/textproto"
	"slices"
)

// Binary content mode of the CloudEvents HTTP binding: each attribute is a
// ce-<name> header, datacontenttype is Content-Type, and the body is Data.

// headerAttrs are the core attributes carried as ce-* headers, with the
// header key as net/http canonicalizes it.
var headerAttrs = [...]struct{ name, key string }{
	{"specversion", "Ce-Specversion"},
	{"id", "Ce-Id"},
	{"source", "Ce-Source"},
	{"type", "Ce-Type"},
	{"subject", "Ce-Subject"},
	{"time", "Ce-Time"},
	{"dataschema", "Ce-Dataschema"},
}

// FromHTTP decodes a binary-mode event from HTTP headers and body. It does
// not call Validate.
//
// Header names are matched without regard to case; each ce-* value is
// unquoted and percent-decoded as the HTTP binding says, and must then be
// valid UTF-8. A ce-<name> header that is not a core attribute becomes
// extension <name> (lower-cased). An attribute sent twice, and a
// ce-datacontenttype header (the binding puts it in Content-Type), are
// errors. Content-Type is taken as is.
//
// A non-empty body becomes Data without a copy: the event shares body's
// memory. An empty body means no data (nil), since HTTP cannot tell empty
// data from none.
//
// Errors are *FieldError naming the attribute (not the header).
func FromHTTP(h http.Header, body []byte) (Event, error) {
	var e Event
	var buf [16]string
	keys := buf[:0]
	for k := range h {
		if hasPrefixFold(k, "ce-") {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys) // so the first error reported does not depend on map order

	seen := 0
	for _, k := range keys {
		vals := h[k]
		if len(vals) == 0 {
			continue
		}
		suffix := k[len("ce-"):]
		if suffix == "" {
			return Event{}, fieldErr(k, "a ce- header needs an attribute name after ce-")
		}
		idx := coreHeaderIndex(suffix)
		name := ""
		if idx >= 0 {
			name = headerAttrs[idx].name
		} else {
			name = asciiLower(suffix)
		}
		if len(vals) > 1 {
			return Event{}, fieldErr(name, fmt.Sprintf("header %s appears %d times; send it once", shortName(k), len(vals)))
		}
		if name == "datacontenttype" {
			return Event{}, fieldErr(name, "send the data content type as the Content-Type header, not ce-datacontenttype")
		}
		v, reason := decodeHeaderValue(vals[0])
		if reason != "" {
			return Event{}, fieldErr(name, "header "+shortName(k)+" "+reason)
		}
		if idx >= 0 {
			if seen&(1<<idx) != 0 {
				return Event{}, fieldErr(name, "appears more than once (header names ignore case)")
			}
			seen |= 1 << idx
		} else if _, dup := e.Extensions[name]; dup {
			return Event{}, fieldErr(name, "appears more than once (header names ignore case)")
		}
		switch name {
		case "specversion":
			e.SpecVersion = v
		case "id":
			e.ID = v
		case "source":
			e.Source = v
		case "type":
			e.Type = v
		case "subject":
			e.Subject = v
		case "dataschema":
			e.DataSchema = v
		case "time":
			if v != "" {
				t, err := parseTime(v)
				if err != nil {
					return Event{}, fieldErr("time", "header ce-time "+timeReason)
				}
				e.Time = t
			}
		default:
			e.SetExtension(name, v)
		}
	}

	if cts := h["Content-Type"]; len(cts) > 1 {
		return Event{}, fieldErr("datacontenttype", fmt.Sprintf("header Content-Type appears %d times; send it once", len(cts)))
	} else if len(cts) == 1 {
		e.DataContentType = cts[0]
	}
	if len(body) > 0 {
		e.Data = body
	}
	return e, nil
}

// WriteHTTPHeaders writes e's attributes into h for binary mode: ce-*
// headers, percent-encoded as the HTTP binding says, and Content-Type. It
// first removes every ce-* header already in h, so h describes e alone.
// The caller writes e.Data as the body.
//
// With no DataContentType it sets h["Content-Type"] to nil, which stops
// net/http from sniffing a type for a response and writes no header.
//
// e should have passed Validate: WriteHTTPHeaders does not check, and an
// invalid event (say, an extension named "id") may not read back the same.
func WriteHTTPHeaders(e Event, h http.Header) {
	for k := range h {
		if hasPrefixFold(k, "ce-") {
			delete(h, k)
		}
	}
	set := func(key, v string) {
		if v != "" {
			h[key] = []string{encodeHeaderValue(v)}
		}
	}
	set("Ce-Specversion", e.SpecVersion)
	set("Ce-Id", e.ID)
	set("Ce-Source", e.Source)
	set("Ce-Type", e.Type)
	set("Ce-Subject", e.Subject)
	set("Ce-Dataschema", e.DataSchema)
	if !e.Time.IsZero() {
		h["Ce-Time"] = []string{string(appendTime(nil, e.Time))}
	}
	for name, v := range e.Extensions {
		h[textproto.CanonicalMIMEHeaderKey("ce-"+name)] = []string{encodeHeaderValue(v)}
	}
	if e.DataContentType != "" {
		h["Content-Type"] = []string{e.DataContentType}
	} else {
		h["Content-Type"] = nil
	}
}

// coreHeaderIndex returns the index in headerAttrs of the attribute named
// by a ce- header suffix (any case), or -1.
func coreHeaderIndex(suffix string) int {
	for i := range headerAttrs {
		if asciiEqualFold(suffix, headerAttrs[i].name) {
			return i
		}
	}
	return -1
}

// asciiLower lower-cases A-Z only: header names are ASCII and compare
// without regard to ASCII case, and any other byte is left alone so the
// mapping is exact and repeatable.
func asciiLower(s string) string {
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if 'A' <= b[j] && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}
