package wire

import (
	"encoding/binary"
	"fmt"
	"io"
	"slices"
)

// Frame, the unit of the stream protocol (big-endian):
//
//	offset size field
//	     0    4 length      uint32: bytes after this field (9 + payload);
//	                        at least 9, at most MaxFrame (16 MiB)
//	     4    1 type        Type: a request (0x01-0x3f) or a reply (0x80-0xbf);
//	                        bit 0x40 on a reply = Continued: more frames of
//	                        this reply follow
//	     5    8 request id  uint64, chosen by the client; every reply
//	                        frame echoes the id of its request. Id 0 is
//	                        never a request: an ERROR with id 0 is about the
//	                        connection, which the server then closes.
//	    13    . payload     length - 9 bytes, laid out per type (drawn next
//	                        to each encoder: publish.go, fetch.go, settle.go,
//	                        read.go, tail.go, call.go, errors.go)
//
// A reader refuses a length over MaxFrame before allocating anything: the
// peer is broken or hostile and the connection is closed.
const (
	HeaderSize = 13
	// MaxFrame bounds the length field, so a frame is at most 16 MiB + 4
	// bytes. Requests must fit in one frame; long replies (deliveries, read
	// events) are split into frames of about ChunkBytes.
	MaxFrame = 16 << 20
	// ChunkBytes is the payload size after which a reply encoder starts a
	// new Continued frame.
	ChunkBytes = 1 << 20
	// maxPayload is the payload room of the largest frame.
	maxPayload = MaxFrame - (HeaderSize - 4)
)

// Type says what a frame carries.
type Type uint8

// Requests, client to server.
const (
	TypePublish Type = 0x01 // topic + events -> PUBLISHED
	TypeFetch   Type = 0x02 // long-poll lease -> DELIVERIES
	TypeAck     Type = 0x03 // batch of settle items -> SETTLED
	TypeNack    Type = 0x04 // batch of settle items -> SETTLED
	TypeExtend  Type = 0x05 // batch of settle items -> SETTLED
	TypeReject  Type = 0x06 // batch of settle items -> SETTLED
	TypeRead    Type = 0x07 // raw partition read -> EVENTS
	TypeCall    Type = 0x08 // admin method + JSON -> RESULT
	// TypeCancel ends a waiting FETCH or TAIL whose id it carries; empty
	// payload, no reply of its own (the request is answered, with what
	// was ready).
	TypeCancel Type = 0x09
	TypeTail   Type = 0x0a // open or read a tail of a topic, a long poll -> EVENTS
)

// Replies, server to client. Any request may instead get ERROR.
const (
	TypePublished  Type = 0x81
	TypeDeliveries Type = 0x82 // may be Continued
	TypeSettled    Type = 0x83
	TypeEvents     Type = 0x87 // may be Continued
	TypeResult     Type = 0x88
	TypeError      Type = 0x8f

	// Continued marks a reply frame that more frames of the same reply
	// follow.
	Continued Type = 0x40
)

var typeNames = map[Type]string{
	TypePublish: "PUBLISH", TypeFetch: "FETCH", TypeAck: "ACK", TypeNack: "NACK", TypeExtend: "EXTEND",
	TypeReject: "REJECT", TypeRead: "READ", TypeCall: "CALL", TypeCancel: "CANCEL", TypeTail: "TAIL",
	TypePublished: "PUBLISHED", TypeDeliveries: "DELIVERIES", TypeSettled: "SETTLED", TypeEvents: "EVENTS",
	TypeResult: "RESULT", TypeError: "ERROR",
}

func (t Type) String() string {
	if n, ok := typeNames[t&^Continued]; ok {
		if t&Continued != 0 {
			return n + "+"
		}
		return n
	}
	return fmt.Sprintf("type 0x%02x", uint8(t))
}

// IsRequest reports whether t is sent by clients.
func (t Type) IsRequest() bool { return t >= 0x01 && t <= 0x3f }

// Header is a frame's fixed part.
type Header struct {
	Type Type
	ID   uint64
	// Len is the payload length: the length field minus 9.
	Len int
}

// ParseHeader decodes the first HeaderSize bytes of b. It fails on a short
// b and on a length outside [9, MaxFrame].
func ParseHeader(b []byte) (Header, error) {
	if len(b) < HeaderSize {
		return Header{}, fmt.Errorf("%w: frame header is %d bytes, want %d", ErrMalformed, len(b), HeaderSize)
	}
	n := binary.BigEndian.Uint32(b)
	if n < HeaderSize-4 || n > MaxFrame {
		return Header{}, fmt.Errorf("%w: frame length %d is outside 9..%d: the peer is not speaking herald-stream/1",
			ErrMalformed, n, MaxFrame)
	}
	return Header{Type: Type(b[4]), ID: binary.BigEndian.Uint64(b[5:]), Len: int(n) - (HeaderSize - 4)}, nil
}

// AppendHeader appends h. Len must already be final.
func AppendHeader(dst []byte, h Header) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(h.Len+HeaderSize-4))
	dst = append(dst, byte(h.Type))
	return binary.BigEndian.AppendUint64(dst, h.ID)
}

// BeginFrame appends a header whose length is filled in by EndFrame, and
// returns where the frame starts. Encoders then append the payload.
func BeginFrame(dst []byte, t Type, id uint64) (out []byte, start int) {
	start = len(dst)
	return AppendHeader(dst, Header{Type: t, ID: id}), start
}

// EndFrame fills in the length of the frame that starts at start and runs
// to the end of b. It fails if the payload is over the frame limit.
func EndFrame(b []byte, start int) error {
	n := len(b) - start - 4
	if n > MaxFrame {
		return &TooLargeError{Size: n - (HeaderSize - 4)}
	}
	binary.BigEndian.PutUint32(b[start:], uint32(n))
	return nil
}

// TooLargeError: a request does not fit in one frame.
type TooLargeError struct{ Size int }

func (e *TooLargeError) Error() string {
	return fmt.Sprintf("request is %d bytes encoded, over the %d bytes one stream frame carries: send it in smaller batches",
		e.Size, maxPayload)
}

// ReadHeader reads and parses one frame header from r into buf (at least
// HeaderSize bytes, reused by the caller).
func ReadHeader(r io.Reader, buf []byte) (Header, error) {
	if _, err := io.ReadFull(r, buf[:HeaderSize]); err != nil {
		return Header{}, err
	}
	return ParseHeader(buf)
}

// Frame is a whole frame, as ReadFrame returns it.
type Frame struct {
	Header
	Payload []byte
}

// ReadFrame reads one frame. The payload is freshly allocated.
func ReadFrame(r io.Reader, buf []byte) (Frame, error) {
	h, err := ReadHeader(r, buf)
	if err != nil {
		return Frame{}, err
	}
	p, err := ReadPayload(r, h.Len)
	return Frame{Header: h, Payload: p}, err
}

// ReadPayload reads n bytes into a new slice. The slice grows as bytes
// arrive, from 64 KiB, so a length that a peer claims but never sends
// costs at most 64 KiB plus twice what it did send.
func ReadPayload(r io.Reader, n int) ([]byte, error) {
	p := make([]byte, 0, min(n, 64<<10))
	for len(p) < n {
		if len(p) == cap(p) {
			p = slices.Grow(p, min(n, 2*cap(p))-len(p))
		}
		k, err := io.ReadFull(r, p[len(p):min(cap(p), n)])
		p = p[:len(p)+k]
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
	}
	return p, nil
}

// AppendFrame appends a whole frame with payload p.
func AppendFrame(dst []byte, t Type, id uint64, p []byte) []byte {
	dst = AppendHeader(dst, Header{Type: t, ID: id, Len: len(p)})
	return append(dst, p...)
}

// SetID rewrites the request id of the frame that starts b, so a request
// that never reached a connection can be sent again on another.
func SetID(b []byte, id uint64) { binary.BigEndian.PutUint64(b[5:], id) }
