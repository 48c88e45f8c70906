package cloudevent

import (
	"strings"
	"unicode/utf8"
)

// HTTP binary mode carries attribute values in headers, which allow only
// printable ASCII. The HTTP binding (§3.1.3.2) therefore percent-encodes
// space, '"', '%' and every byte outside U+0021-U+007E (control characters
// included), upper-case hex, one byte of UTF-8 at a time. A receiver first
// undoes RFC 7230 quoted strings (older senders quoted values with spaces),
// then percent-decodes once, and must reject a result that is not valid
// UTF-8 (overlong forms like %C0%A0 included).

// encodeHeaderValue percent-encodes s for a ce-* header. It allocates only
// when something needs encoding.
func encodeHeaderValue(s string) string {
	n := 0
	for i := 0; i < len(s); i++ {
		if needsPercent(s[i]) {
			n++
		}
	}
	if n == 0 {
		return s
	}
	const hex = "0123456789ABCDEF"
	b := make([]byte, 0, len(s)+2*n)
	for i := 0; i < len(s); i++ {
		if c := s[i]; needsPercent(c) {
			b = append(b, '%', hex[c>>4], hex[c&0xf])
		} else {
			b = append(b, c)
		}
	}
	return string(b)
}

func needsPercent(c byte) bool { return c <= ' ' || c > '~' || c == '"' || c == '%' }

// decodeHeaderValue reverses encodeHeaderValue and accepts what older
// senders wrote. On failure it returns why, for a FieldError.
func decodeHeaderValue(v string) (string, string) {
	if strings.IndexByte(v, '"') >= 0 {
		var ok bool
		if v, ok = unquoteHeader(v); !ok {
			return "", "has an unterminated double-quoted string"
		}
	}
	if strings.IndexByte(v, '%') >= 0 {
		var ok bool
		if v, ok = percentDecode(v); !ok {
			return "", "has a '%' not followed by two hex digits; write a literal % as %25"
		}
	}
	if !utf8.ValidString(v) {
		return "", "is not valid UTF-8 once percent-decoded"
	}
	return v, ""
}

// unquoteHeader removes RFC 7230 quoted-string quoting: the quotes go,
// and inside them a backslash escapes the next byte.
func unquoteHeader(v string) (string, bool) {
	b := make([]byte, 0, len(v))
	inQuotes := false
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case c == '"':
			inQuotes = !inQuotes
		case c == '\\' && inQuotes:
			if i+1 == len(v) {
				return "", false
			}
			i++
			b = append(b, v[i])
		default:
			b = append(b, c)
		}
	}
	if inQuotes {
		return "", false
	}
	return string(b), true
}

// percentDecode decodes %XX sequences (either case of hex).
func percentDecode(v string) (string, bool) {
	b := make([]byte, 0, len(v))
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c != '%' {
			b = append(b, c)
			continue
		}
		if i+2 >= len(v) {
			return "", false
		}
		hi, ok1 := unhex(v[i+1])
		lo, ok2 := unhex(v[i+2])
		if !ok1 || !ok2 {
			return "", false
		}
		b = append(b, hi<<4|lo)
		i += 2
	}
	return string(b), true
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
