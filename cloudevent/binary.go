package cloudevent

import (
	"bytes"
	"encoding/binary"
	"math"
	"slices"
	"time"
	"unsafe"
)

// The storage codec: how the broker keeps an event inside a commit-log
// record. Lengths are unsigned varints (uvarint) and signed numbers zig-zag
// varints (varint), as in encoding/binary.
//
// Event record, version 1:
//
//	offset size field
//	     0    1 version          1
//	     1    1 flags            bit 0: time present
//	                             bit 1: data present (Data != nil; empty data is present)
//	                             bits 2-7: 0
//	     2    . id               uvarint length, then the bytes
//	          . source           uvarint length, bytes
//	          . specversion      uvarint length, bytes
//	          . type             uvarint length, bytes
//	          . subject          uvarint length, bytes
//	          . datacontenttype  uvarint length, bytes
//	          . dataschema       uvarint length, bytes
//	  if time present:
//	          . seconds          varint, Unix seconds
//	          . nanoseconds      uvarint, below 1e9
//	          . UTC offset       varint, seconds east of UTC (int32 range)
//	          . extension count  uvarint
//	  per extension, names in strictly increasing byte order:
//	          . name             uvarint length, bytes
//	          . value            uvarint length, bytes
//	  if data present:
//	          . data             uvarint length, bytes
//	  end: the record is exactly this long; trailing bytes are an error.
//
// An empty attribute costs one byte. Sorted extensions make the encoding of
// an event unique, so equal events give equal bytes; the decoder accepts
// only that encoding (minimal varints, sorted names), so any change to a
// stored record is either an error or a different event. Data comes last so the
// decoder can copy all attribute text with one allocation, without
// dragging the payload along. The decoder checks every length against the
// bytes left before using it, so a damaged or hostile record yields an
// error, never a panic, and never makes it allocate more than the record's
// own size (plus a small map overhead).

const (
	binaryVersion  = 1
	flagTime       = 1 << 0
	flagData       = 1 << 1
	knownFlags     = flagTime | flagData
	numBinaryAttrs = 7
)

// MarshalBinary encodes e in the storage format above. It does not call
// Validate.
func (e *Event) MarshalBinary() ([]byte, error) {
	return e.AppendBinary(nil)
}

// AppendBinary appends e's storage encoding to dst (encoding.BinaryAppender).
// It computes the size first, so it allocates at most once (for up to 16
// extensions; more need one more allocation to sort their names), and not
// at all when dst has room.
func (e *Event) AppendBinary(dst []byte) ([]byte, error) {
	var buf [16]string
	names := sortedKeys(e.Extensions, buf[:0])

	var flags byte
	var sec, nsec, off int64
	n := 2 + 1 // version, flags, extension count (fixed below)
	attrs := e.binaryAttrs()
	for _, s := range attrs {
		n += uvarintLen(len(s)) + len(s)
	}
	if !e.Time.IsZero() {
		flags |= flagTime
		sec, nsec = e.Time.Unix(), int64(e.Time.Nanosecond())
		_, o := e.Time.Zone()
		if o < math.MinInt32 || o > math.MaxInt32 {
			return nil, fieldErr("time", "has a UTC offset that does not fit in 32 bits")
		}
		off = int64(o)
		n += varintLen(sec) + uvarintLen(uint64(nsec)) + varintLen(off)
	}
	n += uvarintLen(len(names)) - 1
	for _, name := range names {
		v := e.Extensions[name]
		n += uvarintLen(len(name)) + len(name) + uvarintLen(len(v)) + len(v)
	}
	if e.Data != nil {
		flags |= flagData
		n += uvarintLen(len(e.Data)) + len(e.Data)
	}

	dst = slices.Grow(dst, n)
	dst = append(dst, binaryVersion, flags)
	for _, s := range attrs {
		dst = appendBytes(dst, s)
	}
	if flags&flagTime != 0 {
		dst = binary.AppendVarint(dst, sec)
		dst = binary.AppendUvarint(dst, uint64(nsec))
		dst = binary.AppendVarint(dst, off)
	}
	dst = binary.AppendUvarint(dst, uint64(len(names)))
	for _, name := range names {
		dst = appendBytes(dst, name)
		dst = appendBytes(dst, e.Extensions[name])
	}
	if e.Data != nil {
		dst = appendBytes(dst, e.Data)
	}
	return dst, nil
}

// binaryAttrs lists the string attributes in record order.
func (e *Event) binaryAttrs() [numBinaryAttrs]string {
	return [numBinaryAttrs]string{e.ID, e.Source, e.SpecVersion, e.Type, e.Subject, e.DataContentType, e.DataSchema}
}

func appendBytes[S string | []byte](dst []byte, s S) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

func uvarintLen[N int | uint64](n N) int {
	l := 1
	for u := uint64(n); u >= 0x80; u >>= 7 {
		l++
	}
	return l
}

// varintLen is the size of binary.AppendVarint(nil, v).
func varintLen(v int64) int {
	u := uint64(v) << 1 // zig-zag
	if v < 0 {
		u = ^u
	}
	return uvarintLen(u)
}

// UnmarshalBinary decodes a record written by MarshalBinary into e,
// replacing all of e. e never aliases b: the attribute strings share one
// allocation, Data another. Errors match ErrMalformed and leave e as it
// was.
func (e *Event) UnmarshalBinary(b []byte) error { return e.unmarshalBinary(b, copyAll) }

// UnmarshalBinaryShared is UnmarshalBinary whose Data shares b's memory
// instead of copying it: for a decoder that owns b and will not change it
// while the event lives (a server decoding a request it just read), it
// saves a copy of every payload.
func (e *Event) UnmarshalBinaryShared(b []byte) error { return e.unmarshalBinary(b, shareData) }

// UnmarshalBinaryOwned is UnmarshalBinaryShared whose attribute strings
// also point into b, which becomes the event's: for a decoder that made b
// a private copy of a record for this event alone (the broker reading its
// log), it saves the allocation and copy of the attribute text. The
// caller must never change b, nor hand it to anything that could: the
// strings would change with it.
func (e *Event) UnmarshalBinaryOwned(b []byte) error { return e.unmarshalBinary(b, ownAll) }

// How an unmarshalled event shares the record's memory.
const (
	copyAll   = iota // nothing: attribute text and Data are copies
	shareData        // Data points into the record
	ownAll           // Data and the attribute text point into the record
)

func (e *Event) unmarshalBinary(b []byte, share int) error {
	if len(b) < 2 {
		return malformed("event record is %d bytes; the shortest record is 10", len(b))
	}
	if b[0] != binaryVersion {
		return malformed("event record version %d; this build reads version %d", b[0], binaryVersion)
	}
	flags := b[1]
	if flags&^knownFlags != 0 {
		return malformed("event record has unknown flags %#x", flags)
	}

	// Pass 1: check the structure and find every field, allocating nothing.
	r := binReader{b: b, pos: 2}
	var attrs [numBinaryAttrs][2]int // start, end in b
	for i := range attrs {
		attrs[i][0], attrs[i][1] = r.bytes()
	}
	var t time.Time
	if flags&flagTime != 0 {
		sec := r.varint()
		nsec := r.uvarint()
		off := r.varint()
		if r.err == nil {
			switch {
			case nsec >= 1e9:
				r.fail("nanoseconds %d out of range", nsec)
			case off < math.MinInt32 || off > math.MaxInt32:
				r.fail("UTC offset %d out of range", off)
			default:
				t = time.Unix(sec, int64(nsec))
				if t.IsZero() {
					r.fail("time flag set for the zero time")
				} else if off == 0 {
					t = t.UTC()
				} else {
					t = t.In(time.FixedZone("", int(off)))
				}
			}
		}
	}
	count := r.uvarint()
	if r.err == nil && count > uint64(len(b)-r.pos)/2 { // each extension takes 2 bytes or more
		r.fail("extension count %d exceeds what %d remaining bytes can hold", count, len(b)-r.pos)
	}
	extStart := r.pos
	var prev []byte
	for i := uint64(0); i < count && r.err == nil; i++ {
		ns, ne := r.bytes()
		r.bytes()
		name := b[ns:ne]
		if i > 0 && bytes.Compare(prev, name) >= 0 && r.err == nil {
			r.fail("extension names out of order or repeated at %q", name)
		}
		prev = name
	}
	attrEnd := r.pos
	dataStart, dataEnd := -1, -1
	if flags&flagData != 0 {
		dataStart, dataEnd = r.bytes()
	}
	if r.err == nil && r.pos != len(b) {
		r.fail("%d unexpected bytes after the record", len(b)-r.pos)
	}
	if r.err != nil {
		return r.err
	}

	// Pass 2: build the event. One string holds all attribute text.
	var text string
	if share == ownAll {
		text = unsafe.String(unsafe.SliceData(b[2:attrEnd]), attrEnd-2)
	} else {
		text = string(b[2:attrEnd])
	}
	str := func(start, end int) string { return text[start-2 : end-2] }
	*e = Event{
		ID:              str(attrs[0][0], attrs[0][1]),
		Source:          str(attrs[1][0], attrs[1][1]),
		SpecVersion:     str(attrs[2][0], attrs[2][1]),
		Type:            str(attrs[3][0], attrs[3][1]),
		Subject:         str(attrs[4][0], attrs[4][1]),
		DataContentType: str(attrs[5][0], attrs[5][1]),
		DataSchema:      str(attrs[6][0], attrs[6][1]),
		Time:            t,
	}
	if count > 0 {
		e.Extensions = make(map[string]string, count)
		r = binReader{b: b, pos: extStart}
		for range count {
			ns, ne := r.bytes()
			vs, ve := r.bytes()
			e.Extensions[str(ns, ne)] = str(vs, ve)
		}
	}
	switch {
	case dataStart >= 0 && share != copyAll:
		e.Data = b[dataStart:dataEnd:dataEnd]
	case dataStart >= 0:
		e.Data = append(make([]byte, 0, dataEnd-dataStart), b[dataStart:dataEnd]...)
	}
	return nil
}

// binReader reads varints and length-prefixed bytes, bounds-checked. After
// the first error every read returns zeros and err keeps that error.
type binReader struct {
	b   []byte
	pos int
	err error
}

func (r *binReader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = malformed("event record at byte %d: "+format, append([]any{r.pos}, args...)...)
	}
}

func (r *binReader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b[r.pos:])
	if n <= 0 || n != uvarintLen(v) {
		r.fail("truncated, overlong or non-minimal varint")
		return 0
	}
	r.pos += n
	return v
}

func (r *binReader) varint() int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.b[r.pos:])
	if n <= 0 || n != varintLen(v) {
		r.fail("truncated, overlong or non-minimal varint")
		return 0
	}
	r.pos += n
	return v
}

// bytes reads a length-prefixed field and returns where it lies in b.
func (r *binReader) bytes() (start, end int) {
	n := r.uvarint()
	if r.err != nil {
		return r.pos, r.pos
	}
	if n > uint64(len(r.b)-r.pos) {
		r.fail("length %d exceeds the %d bytes left", n, len(r.b)-r.pos)
		return r.pos, r.pos
	}
	start = r.pos
	r.pos += int(n)
	return start, r.pos
}
