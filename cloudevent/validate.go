package cloudevent

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"mime"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"unicode/utf8"
)

// Limits Validate enforces. CloudEvents sets none; these keep one event's
// metadata small enough to index, log and put in HTTP headers (servers
// commonly cap a header line at 8 KiB). Data size is limited by the broker,
// not here.
const (
	MaxAttributeLen     = 1024 // bytes, for every string attribute and extension value
	MaxExtensions       = 64   // extension attributes per event
	MaxExtensionNameLen = 20   // bytes; the CloudEvents spec recommends at most 20
)

// coreNames are the attribute names of CloudEvents 1.0 plus the two JSON
// members for data. An extension must not use any of them.
var coreNames = map[string]bool{
	"id": true, "source": true, "specversion": true, "type": true, "subject": true,
	"time": true, "datacontenttype": true, "dataschema": true, "data": true, "data_base64": true,
}

// validCache remembers strings one check found valid: a stream of events
// carries the same few sources and content types over and over, and
// parsing them again for every event was a tenth of the publish path. It
// stops growing at maxValidCached strings, so hostile input cannot make it
// large; past that, strings are parsed every time.
type validCache struct {
	m sync.Map // string -> struct{}
	n atomic.Int32
}

const maxValidCached = 4096

var validSources, validMediaTypes validCache

func (c *validCache) check(s string, valid func(string) bool) bool {
	if _, ok := c.m.Load(s); ok {
		return true
	}
	if !valid(s) {
		return false
	}
	if c.n.Load() < maxValidCached && c.n.Add(1) <= maxValidCached {
		c.m.Store(s, struct{}{})
	}
	return true
}

// isMediaType: ParseMediaType also accepts a lone token (a
// Content-Disposition); a media type needs type/subtype.
func isMediaType(s string) bool {
	mt, _, err := mime.ParseMediaType(s)
	return err == nil && strings.Contains(mt, "/")
}

// Validate checks e against CloudEvents 1.0 and Herald's conventions and
// returns nil or every problem it finds: a *FieldError, or several joined
// with errors.Join (core attributes first, then extensions by name). All
// match ErrInvalid.
//
// The rules: id, source, specversion and type are required; specversion is
// "1.0"; source is a URI-reference; dataschema is an absolute URI;
// datacontenttype is a media type (RFC 2045); time can be written in
// RFC 3339 without loss (four-digit year, offset in whole minutes);
// extension names are 1-20 characters a-z or 0-9 and are not core names;
// every string is valid UTF-8 of at most MaxAttributeLen bytes without
// control characters (U+0000-U+001F, U+007F-U+009F) or Unicode
// noncharacters, as the spec's String type says; there are at most
// MaxExtensions extensions; and deliverat, if set, is RFC 3339.
//
// The decoders (ParseJSON, FromHTTP, UnmarshalBinary) do not call Validate:
// the HTTP layer validates what clients publish, and an event read back
// from storage was validated before it was stored.
func (e *Event) Validate() error {
	var errs []error
	add := func(field, reason string) { errs = append(errs, fieldErr(field, reason)) }

	check := func(field, value string, required bool) bool {
		if reason := stringProblem(value, required); reason != "" {
			add(field, reason)
			return false
		}
		return value != ""
	}
	check("id", e.ID, true)
	if check("source", e.Source, true) {
		if !validSources.check(e.Source, func(s string) bool { _, err := url.Parse(s); return err == nil }) {
			add("source", "must be a URI-reference (RFC 3986), like /orders or https://example.com/orders")
		}
	}
	if check("specversion", e.SpecVersion, true) && e.SpecVersion != SpecVersion10 {
		add("specversion", `must be "1.0", the CloudEvents version Herald speaks`)
	}
	check("type", e.Type, true)
	check("subject", e.Subject, false)
	if !e.Time.IsZero() && !exactRFC3339(e.Time) {
		add("time", "must be writable in RFC 3339: a year from 0000 to 9999 and a UTC offset in whole minutes, under 24 hours")
	}
	if check("datacontenttype", e.DataContentType, false) {
		if !validMediaTypes.check(e.DataContentType, isMediaType) {
			add("datacontenttype", "must be a media type (RFC 2045), like application/json or text/plain; charset=utf-8")
		}
	}
	if check("dataschema", e.DataSchema, false) {
		if u, err := url.Parse(e.DataSchema); err != nil || !u.IsAbs() {
			add("dataschema", "must be an absolute URI, like https://example.com/schemas/order.json")
		}
	}

	if n := len(e.Extensions); n > MaxExtensions {
		add("extensions", fmt.Sprintf("the event has %d extension attributes; the limit is %d", n, MaxExtensions))
	}
	var extErrs []*FieldError
	for name, value := range e.Extensions {
		if reason := extensionNameProblem(name); reason != "" {
			extErrs = append(extErrs, fieldErr(name, reason))
			continue
		}
		if reason := stringProblem(value, false); reason != "" {
			extErrs = append(extErrs, fieldErr(name, reason))
			continue
		}
		if name == ExtDeliverAt {
			if _, err := parseTime(value); err != nil {
				extErrs = append(extErrs, fieldErr(name, timeReason))
			}
		}
	}
	slices.SortFunc(extErrs, func(a, b *FieldError) int { return cmp.Compare(a.Field, b.Field) })
	for _, fe := range extErrs {
		errs = append(errs, fe)
	}

	switch len(errs) {
	case 0:
		return nil
	case 1:
		return errs[0]
	}
	return errors.Join(errs...)
}

// ValidateBatch validates every event of a batch. Field names in the
// errors carry the index of the event: "[3].source".
func ValidateBatch(events []Event) error {
	var errs []error
	for i := range events {
		if err := events[i].Validate(); err != nil {
			errs = append(errs, atIndex(err, i))
		}
	}
	return errors.Join(errs...)
}

// stringProblem checks one string attribute value and returns why it is
// not allowed, or "".
func stringProblem(s string, required bool) string {
	if s == "" {
		if required {
			return "is required"
		}
		return ""
	}
	if len(s) > MaxAttributeLen {
		return fmt.Sprintf("is %d bytes long; the limit is %d", len(s), MaxAttributeLen)
	}
	if printableASCII(s) { // ids, types and sources nearly always are
		return ""
	}
	return runeProblem(s)
}

// runeProblem decodes s and returns why its encoding or one of its runes
// is not allowed, or "".
func runeProblem(s string) string {
	if !utf8.ValidString(s) {
		return "must be valid UTF-8"
	}
	for i, r := range s {
		if forbiddenRune(r) {
			return fmt.Sprintf("contains %U at byte %d; control characters (U+0000-U+001F, U+007F-U+009F) and Unicode noncharacters are not allowed", r, i)
		}
	}
	return ""
}

// printableASCII reports whether s holds only U+0020 to U+007E: valid
// UTF-8 without a forbidden rune, found without decoding runes (every
// event is validated twice on its way in, by the SDK and the server).
func printableASCII(s string) bool {
	// Eight bytes at a time: a byte below 0x20 borrows into its top bit
	// when 0x20 is taken from it (exact for bytes under 0x80); a byte of
	// 0x7f or more has its top bit set itself or once 1 is added. A carry
	// between bytes comes only from a byte that is flagged already.
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	i := 0
	for ; i+8 <= len(s); i += 8 {
		w := binary.LittleEndian.Uint64([]byte(s[i : i+8]))
		if ((w-0x20*ones)&^w|(w+ones)|w)&highs != 0 {
			return false
		}
	}
	for ; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e {
			return false
		}
	}
	return true
}

// forbiddenRune reports whether the CloudEvents String type excludes r:
// control characters and noncharacters. (Surrogates cannot appear in valid
// UTF-8.)
func forbiddenRune(r rune) bool {
	switch {
	case r < 0x20, r >= 0x7f && r <= 0x9f:
		return true
	case r >= 0xfdd0 && r <= 0xfdef, r&0xfffe == 0xfffe:
		return true
	}
	return false
}

// extensionNameProblem returns why name cannot be an extension name, or "".
func extensionNameProblem(name string) string {
	if coreNames[name] {
		return "is a core CloudEvents attribute name, so an extension must not use it"
	}
	if name == "" || len(name) > MaxExtensionNameLen {
		return "extension names must be 1 to 20 lower-case letters or digits (a-z, 0-9)"
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; (c < 'a' || c > 'z') && (c < '0' || c > '9') {
			return "extension names must be 1 to 20 lower-case letters or digits (a-z, 0-9)"
		}
	}
	return ""
}
