package cloudevent

import (
	"bytes"
	"encoding/json"
	"errors"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// The structured decoders do not use encoding/json's reflection: it cannot
// report duplicate members, it replaces invalid UTF-8 silently, and it
// allocates for every token. Instead the input is checked once up front
// (valid UTF-8, then json.Valid) and jsonReader walks the now trusted text,
// only finding where tokens start and end. It still checks every index it
// touches, so a bug here returns an error rather than panicking.

// checkJSON accepts b only if it is valid UTF-8 and valid JSON, and says
// where it is not.
func checkJSON(b []byte) error {
	if !utf8.Valid(b) {
		return malformed("the JSON is not valid UTF-8 (first bad byte at offset %d)", firstInvalidUTF8(b))
	}
	if json.Valid(b) {
		return nil
	}
	var raw json.RawMessage
	err := json.Unmarshal(b, &raw)
	if se, ok := errors.AsType[*json.SyntaxError](err); ok {
		return malformed("invalid JSON at byte %d: %v", se.Offset, se)
	}
	if err == nil {
		return malformed("invalid JSON")
	}
	return malformed("invalid JSON: %v", err)
}

func firstInvalidUTF8(b []byte) int {
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n == 1 {
			return i
		}
		i += n
	}
	return len(b)
}

// jsonReader walks JSON text that checkJSON accepted.
type jsonReader struct {
	b []byte
	i int
}

func (r *jsonReader) skipSpace() {
	for r.i < len(r.b) {
		switch r.b[r.i] {
		case ' ', '\t', '\n', '\r':
			r.i++
		default:
			return
		}
	}
}

// peek returns the next byte, or 0 at the end of the input.
func (r *jsonReader) peek() byte {
	if r.i < len(r.b) {
		return r.b[r.i]
	}
	return 0
}

// expect skips white space and consumes c.
func (r *jsonReader) expect(c byte) error {
	r.skipSpace()
	if r.peek() != c {
		return malformed("expected %q at byte %d", c, r.i)
	}
	r.i++
	return nil
}

// value skips white space and the JSON value that follows, and returns the
// value's exact bytes (no surrounding white space). Its first byte tells
// the kind: '"' string, '{' object, '[' array, 't'/'f' boolean, 'n' null,
// anything else a number.
func (r *jsonReader) value() ([]byte, error) {
	r.skipSpace()
	start := r.i
	if start >= len(r.b) {
		return nil, malformed("unexpected end of JSON at byte %d", start)
	}
	switch r.b[start] {
	case '"':
		if err := r.skipString(); err != nil {
			return nil, err
		}
	case '{', '[':
		if err := r.skipNested(); err != nil {
			return nil, err
		}
	default: // number or literal: runs until a delimiter
		for r.i < len(r.b) {
			switch r.b[r.i] {
			case ',', '}', ']', ' ', '\t', '\n', '\r':
				return r.b[start:r.i], nil
			}
			r.i++
		}
	}
	return r.b[start:r.i], nil
}

// skipString moves past the string starting at r.i.
func (r *jsonReader) skipString() error {
	for i := r.i + 1; i < len(r.b); i++ {
		switch r.b[i] {
		case '\\':
			i++ // the escaped byte; \uXXXX's digits need no care
		case '"':
			r.i = i + 1
			return nil
		}
	}
	return malformed("unterminated string at byte %d", r.i)
}

// skipNested moves past the object or array starting at r.i.
func (r *jsonReader) skipNested() error {
	start, depth := r.i, 0
	for r.i < len(r.b) {
		switch r.b[r.i] {
		case '"':
			if err := r.skipString(); err != nil {
				return err
			}
			continue
		case '{', '[':
			depth++
		case '}', ']':
			depth--
			if depth == 0 {
				r.i++
				return nil
			}
		}
		r.i++
	}
	return malformed("unterminated object or array at byte %d", start)
}

// appendStringContent appends the content of the JSON string token tok
// (quotes included) to dst, with escapes decoded.
func appendStringContent(dst, tok []byte) ([]byte, error) {
	if len(tok) < 2 || tok[0] != '"' || tok[len(tok)-1] != '"' {
		return nil, malformed("expected a JSON string")
	}
	s := tok[1 : len(tok)-1]
	if bytes.IndexByte(s, '\\') < 0 {
		return append(dst, s...), nil
	}
	return unescape(dst, s)
}

// unescape appends s, the inside of a JSON string, to dst with escapes
// decoded the way encoding/json decodes them: a \u escape of a lone
// surrogate becomes U+FFFD.
func unescape(dst, s []byte) ([]byte, error) {
	for i := 0; i < len(s); {
		c := s[i]
		if c != '\\' {
			dst = append(dst, c)
			i++
			continue
		}
		if i+1 >= len(s) {
			return nil, malformed("string ends inside an escape")
		}
		switch s[i+1] {
		case '"', '\\', '/':
			dst = append(dst, s[i+1])
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r1 := hex4(s[i+2:])
			if r1 < 0 {
				return nil, malformed("bad \\u escape in string")
			}
			i += 6
			if utf16.IsSurrogate(r1) {
				if i+1 < len(s) && s[i] == '\\' && s[i+1] == 'u' {
					if r2 := hex4(s[i+2:]); r2 >= 0 {
						if dec := utf16.DecodeRune(r1, r2); dec != unicode.ReplacementChar {
							dst = utf8.AppendRune(dst, dec)
							i += 6
							continue
						}
					}
				}
				r1 = unicode.ReplacementChar
			}
			dst = utf8.AppendRune(dst, r1)
			continue
		default:
			return nil, malformed("bad escape \\%c in string", s[i+1])
		}
		i += 2
	}
	return dst, nil
}

// hex4 decodes four hex digits at the start of b, or returns -1.
func hex4(b []byte) rune {
	if len(b) < 4 {
		return -1
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return -1
		}
		r = r*16 + rune(c)
	}
	return r
}
