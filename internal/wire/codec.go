package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"
)

// ErrMalformed: bytes that are not a well-formed frame or payload. Errors
// that match it say where decoding stopped. A peer that sends one is
// broken or speaks another version: the connection is closed.
var ErrMalformed = errors.New("malformed stream frame")

// The primitives every payload is built from. Unsigned lengths and counts
// are uvarints, signed numbers (offsets, nanosecond times and durations)
// zig-zag varints, as in encoding/binary; a string is a uvarint length and
// its bytes. Decoders accept only the shortest varint for each value and
// reject trailing bytes, so every payload has exactly one encoding:
// decode-then-encode gives back the input byte for byte (the fuzz tests
// check it).

func appendString[S string | []byte](dst []byte, s S) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

func appendUvarint(dst []byte, v uint64) []byte { return binary.AppendUvarint(dst, v) }
func appendVarint(dst []byte, v int64) []byte   { return binary.AppendVarint(dst, v) }

// appendTime writes t as Unix nanoseconds; the decoder gives it back in
// UTC, as the broker makes every time it hands out.
func appendTime(dst []byte, t time.Time) []byte { return appendVarint(dst, t.UnixNano()) }

func appendBool(dst []byte, v bool) []byte {
	if v {
		return append(dst, 1)
	}
	return append(dst, 0)
}

func uvarintLen(v uint64) int {
	n := 1
	for ; v >= 0x80; v >>= 7 {
		n++
	}
	return n
}

// decoder reads the primitives, bounds-checked. After the first error every
// read returns zero values and err keeps that first error, so a payload
// decoder reads all its fields and checks err once.
type decoder struct {
	b   []byte
	pos int
	err error
	// what names the payload in error messages ("publish", "deliveries").
	what string
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s payload at byte %d: %s", ErrMalformed, d.what, d.pos, fmt.Sprintf(format, args...))
	}
}

func (d *decoder) left() int { return len(d.b) - d.pos }

func (d *decoder) more() bool { return d.err == nil && d.pos < len(d.b) }

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	// One byte, the usual length or count, is always minimal: a fast path
	// (varints were a fifth of decoding a DELIVERIES frame).
	if d.pos < len(d.b) && d.b[d.pos] < 0x80 {
		v := uint64(d.b[d.pos])
		d.pos++
		return v
	}
	v, n := binary.Uvarint(d.b[d.pos:])
	if n <= 0 || n != uvarintLen(v) {
		d.fail("truncated, overlong or non-minimal uvarint")
		return 0
	}
	d.pos += n
	return v
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	if d.pos < len(d.b) && d.b[d.pos] < 0x80 { // one byte: always minimal
		ux := uint64(d.b[d.pos])
		d.pos++
		return int64(ux>>1) ^ -int64(ux&1)
	}
	v, n := binary.Varint(d.b[d.pos:])
	zz := uint64(v) << 1
	if v < 0 {
		zz = ^zz
	}
	if n <= 0 || n != uvarintLen(zz) {
		d.fail("truncated, overlong or non-minimal varint")
		return 0
	}
	d.pos += n
	return v
}

// int reads a uvarint that must fit in an int32: counts, attempts,
// partitions.
func (d *decoder) int(field string) int {
	v := d.uvarint()
	if v > math.MaxInt32 {
		d.fail("%s %d is out of range", field, v)
		return 0
	}
	return int(v)
}

// sint reads a varint that must fit in an int32: client-given numbers the
// broker validates itself (a negative max gets the broker's own error).
func (d *decoder) sint(field string) int {
	v := d.varint()
	if v < math.MinInt32 || v > math.MaxInt32 {
		d.fail("%s %d is out of range", field, v)
		return 0
	}
	return int(v)
}

// ClampInt32 bounds a count the client sends to the int32 range sint
// accepts; no broker limit comes near it.
func ClampInt32(v int) int { return max(min(v, math.MaxInt32), math.MinInt32) }

func (d *decoder) byte() byte {
	if d.err != nil {
		return 0
	}
	if d.pos >= len(d.b) {
		d.fail("truncated")
		return 0
	}
	c := d.b[d.pos]
	d.pos++
	return c
}

func (d *decoder) bool() bool {
	switch c := d.byte(); c {
	case 0:
		return false
	case 1:
		return true
	default:
		d.fail("boolean byte %d, want 0 or 1", c)
		return false
	}
}

// bytes reads a length-prefixed field. The result aliases the payload.
func (d *decoder) bytes() []byte {
	n := d.uvarint()
	if d.err != nil {
		return nil
	}
	if n > uint64(d.left()) {
		d.fail("length %d exceeds the %d bytes left", n, d.left())
		return nil
	}
	b := d.b[d.pos : d.pos+int(n) : d.pos+int(n)]
	d.pos += int(n)
	return b
}

func (d *decoder) string() string { return string(d.bytes()) }

// stringAs is string that returns same, without allocating, when the
// bytes spell it.
func (d *decoder) stringAs(same string) string {
	b := d.bytes()
	if string(b) == same {
		return same
	}
	return string(b)
}

func (d *decoder) time() time.Time { return time.Unix(0, d.varint()).UTC() }

func (d *decoder) duration() time.Duration { return time.Duration(d.varint()) }

// rest returns the bytes left, aliasing the payload.
func (d *decoder) rest() []byte {
	if d.err != nil {
		return nil
	}
	b := d.b[d.pos:len(d.b):len(d.b)]
	d.pos = len(d.b)
	return b
}

// done fails on trailing bytes and returns the first error.
func (d *decoder) done() error {
	if d.err == nil && d.pos != len(d.b) {
		d.fail("%d unexpected bytes after the payload", len(d.b)-d.pos)
	}
	return d.err
}
