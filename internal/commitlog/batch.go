package commitlog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
)

// A segment file is a sequence of record batches, back to back, with nothing
// in between. All integers are big-endian unless marked varint (zig-zag
// signed, as encoding/binary.PutVarint) or uvarint.
//
// Batch:
//
//	offset size field
//	     0    8 base offset      offset of the first record (int64)
//	     8    4 length           bytes that follow this field (uint32)
//	    12    4 crc              CRC-32C (Castagnoli) of bytes 16..end
//	    16    1 version          format version, 1
//	    17    2 attributes       uint16, 0 (reserved: compression, ...)
//	    19    4 record count     uint32, at least 1
//	    23    8 first timestamp  unix nanoseconds (int64)
//	    31    8 max timestamp    largest record timestamp in the batch (int64),
//	                             the last one when timestamps do not go back
//	    39    . records          record count records
//
// Record:
//
//	varint   length of the rest of the record
//	uvarint  offset delta      offset - base offset (equals its index)
//	varint   timestamp delta   timestamp - first timestamp
//	varint   key length        -1 for a nil key
//	bytes    key
//	uvarint  header count
//	  per header: uvarint key length, key bytes,
//	              varint value length (-1 for nil), value bytes
//	varint   value length      -1 for a nil value
//	bytes    value
//
// The base offset sits outside the CRC so that the single writer goroutine
// can assign it after an appender has encoded and checksummed its batch in
// parallel; recovery and reads instead check that base offsets run on
// without gaps, which catches a damaged base offset.

const (
	batchVersion    = 1
	batchHeaderSize = 39
	crcStart        = 16 // the CRC covers bytes from here to the batch end
	// maxBatchBytes bounds the length field a reader will believe.
	maxBatchBytes = 64 << 20
	// maxSegmentBytes keeps positions inside the index's uint32.
	maxSegmentBytes = math.MaxUint32
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Header is an application-defined key/value pair carried with a record.
type Header struct {
	Key   string
	Value []byte
}

// Record is one entry of the log.
type Record struct {
	// Offset is assigned by Append and set on records returned by reads.
	Offset int64
	// Timestamp in unix nanoseconds, set by the caller.
	Timestamp int64
	Key       []byte
	Headers   []Header
	Value     []byte
}

// batchInfo is the decoded fixed header of a batch.
type batchInfo struct {
	baseOffset int64
	size       int // whole batch, header included
	count      int
	firstTS    int64
	maxTS      int64
}

func (b batchInfo) nextOffset() int64 { return b.baseOffset + int64(b.count) }

// encodeBatch appends the encoded batch for recs to dst with base offset 0;
// the writer patches the base offset with putBaseOffset.
func encodeBatch(dst []byte, recs []Record) ([]byte, error) {
	if len(recs) == 0 {
		return dst, ErrEmptyBatch
	}
	if len(recs) > math.MaxUint32 {
		return dst, ErrBatchTooLarge
	}
	start := len(dst)
	first := recs[0].Timestamp
	last := first
	for i := range recs {
		last = max(last, recs[i].Timestamp)
	}
	dst = append(dst, make([]byte, batchHeaderSize)...)
	h := dst[start:]
	h[16] = batchVersion
	binary.BigEndian.PutUint16(h[17:], 0)
	binary.BigEndian.PutUint32(h[19:], uint32(len(recs)))
	binary.BigEndian.PutUint64(h[23:], uint64(first))
	binary.BigEndian.PutUint64(h[31:], uint64(last))

	var scratch [binary.MaxVarintLen64]byte
	for i := range recs {
		r := &recs[i]
		bodyLen := recordBodyLen(r, int64(i), first)
		dst = append(dst, scratch[:binary.PutVarint(scratch[:], int64(bodyLen))]...)
		dst = binary.AppendUvarint(dst, uint64(i))
		dst = binary.AppendVarint(dst, r.Timestamp-first)
		dst = appendBytes(dst, r.Key)
		dst = binary.AppendUvarint(dst, uint64(len(r.Headers)))
		for _, hd := range r.Headers {
			dst = binary.AppendUvarint(dst, uint64(len(hd.Key)))
			dst = append(dst, hd.Key...)
			dst = appendBytes(dst, hd.Value)
		}
		dst = appendBytes(dst, r.Value)
		if len(dst)-start > maxBatchBytes {
			return dst[:start], ErrBatchTooLarge
		}
	}
	b := dst[start:]
	binary.BigEndian.PutUint32(b[8:], uint32(len(b)-12))
	binary.BigEndian.PutUint32(b[12:], crc32Checksum(b[crcStart:]))
	return dst, nil
}

func appendBytes(dst, b []byte) []byte {
	if b == nil {
		return binary.AppendVarint(dst, -1)
	}
	dst = binary.AppendVarint(dst, int64(len(b)))
	return append(dst, b...)
}

func varintLen(v int64) int {
	u := uint64(v) << 1
	if v < 0 {
		u = ^u
	}
	return uvarintLen(u)
}

func uvarintLen(u uint64) int {
	n := 1
	for u >= 0x80 {
		u >>= 7
		n++
	}
	return n
}

func bytesLen(b []byte) int {
	if b == nil {
		return varintLen(-1)
	}
	return varintLen(int64(len(b))) + len(b)
}

func recordBodyLen(r *Record, delta, firstTS int64) int {
	n := uvarintLen(uint64(delta)) + varintLen(r.Timestamp-firstTS) + bytesLen(r.Key)
	n += uvarintLen(uint64(len(r.Headers)))
	for _, h := range r.Headers {
		n += uvarintLen(uint64(len(h.Key))) + len(h.Key) + bytesLen(h.Value)
	}
	return n + bytesLen(r.Value)
}

func putBaseOffset(batch []byte, base int64) {
	binary.BigEndian.PutUint64(batch, uint64(base))
}

var errShortHeader = errors.New("incomplete batch header")

// parseBatchHeader decodes the fixed header at the start of b, checking
// everything that can be checked without the body. It needs batchHeaderSize
// bytes. The returned size is the whole batch, which b may not yet hold.
func parseBatchHeader(b []byte) (batchInfo, error) {
	if len(b) < batchHeaderSize {
		return batchInfo{}, errShortHeader
	}
	length := binary.BigEndian.Uint32(b[8:])
	info := batchInfo{
		baseOffset: int64(binary.BigEndian.Uint64(b)),
		size:       int(length) + 12,
		count:      int(binary.BigEndian.Uint32(b[19:])),
		firstTS:    int64(binary.BigEndian.Uint64(b[23:])),
		maxTS:      int64(binary.BigEndian.Uint64(b[31:])),
	}
	switch {
	case length < batchHeaderSize-12 || length > maxBatchBytes:
		return info, fmt.Errorf("batch length %d out of bounds", length)
	case b[16] != batchVersion:
		return info, fmt.Errorf("unknown batch version %d", b[16])
	case binary.BigEndian.Uint16(b[17:]) != 0:
		return info, fmt.Errorf("unsupported batch attributes %#x", binary.BigEndian.Uint16(b[17:]))
	case info.count == 0:
		return info, errors.New("batch has no records")
	case info.baseOffset < 0:
		return info, fmt.Errorf("negative base offset %d", info.baseOffset)
	}
	return info, nil
}

// verifyBatch checks the CRC of a whole batch b (exactly info.size bytes).
func verifyBatch(b []byte) error {
	want := binary.BigEndian.Uint32(b[12:])
	if got := crc32Checksum(b[crcStart:]); got != want {
		return fmt.Errorf("crc mismatch: stored %08x, computed %08x", want, got)
	}
	return nil
}

// decodeBatch verifies and decodes a whole batch, appending to dst the
// records whose offset is at least from. Returned records alias b.
func decodeBatch(dst []Record, b []byte, from int64) ([]Record, batchInfo, error) {
	info, err := parseBatchHeader(b)
	if err != nil {
		return dst, info, err
	}
	if info.size != len(b) {
		return dst, info, fmt.Errorf("batch length %d does not match %d bytes given", info.size, len(b))
	}
	if err := verifyBatch(b); err != nil {
		return dst, info, err
	}
	body := b[batchHeaderSize:]
	for i := 0; i < info.count; i++ {
		var r Record
		var rest []byte
		r, rest, err = decodeRecord(body, info, i)
		if err != nil {
			return dst, info, fmt.Errorf("record %d: %w", i, err)
		}
		body = rest
		if r.Offset >= from {
			dst = append(dst, r)
		}
	}
	if len(body) != 0 {
		return dst, info, fmt.Errorf("%d trailing bytes after the last record", len(body))
	}
	return dst, info, nil
}

var errTruncatedRecord = errors.New("truncated record")

func decodeRecord(b []byte, info batchInfo, index int) (Record, []byte, error) {
	length, n := binary.Varint(b)
	if n <= 0 || length < 0 || length > int64(len(b)-n) {
		return Record{}, nil, errTruncatedRecord
	}
	rest := b[n+int(length):]
	body := b[n : n+int(length)]
	delta, n := binary.Uvarint(body)
	if n <= 0 || delta != uint64(index) {
		return Record{}, nil, fmt.Errorf("offset delta %d, want %d", delta, index)
	}
	body = body[n:]
	tsDelta, n := binary.Varint(body)
	if n <= 0 {
		return Record{}, nil, errTruncatedRecord
	}
	body = body[n:]
	r := Record{Offset: info.baseOffset + int64(index), Timestamp: info.firstTS + tsDelta}
	var err error
	if r.Key, body, err = readBytes(body); err != nil {
		return Record{}, nil, err
	}
	count, n := binary.Uvarint(body)
	if n <= 0 || count > uint64(len(body)) {
		return Record{}, nil, errTruncatedRecord
	}
	body = body[n:]
	if count > 0 {
		r.Headers = make([]Header, count)
		for i := range r.Headers {
			kl, n := binary.Uvarint(body)
			if n <= 0 || kl > uint64(len(body)-n) {
				return Record{}, nil, errTruncatedRecord
			}
			r.Headers[i].Key = string(body[n : n+int(kl)])
			body = body[n+int(kl):]
			if r.Headers[i].Value, body, err = readBytes(body); err != nil {
				return Record{}, nil, err
			}
		}
	}
	if r.Value, body, err = readBytes(body); err != nil {
		return Record{}, nil, err
	}
	if len(body) != 0 {
		return Record{}, nil, fmt.Errorf("%d unread bytes in record", len(body))
	}
	return r, rest, nil
}

func readBytes(b []byte) ([]byte, []byte, error) {
	l, n := binary.Varint(b)
	if n <= 0 || l < -1 || l > int64(len(b)-n) {
		return nil, nil, errTruncatedRecord
	}
	if l == -1 {
		return nil, b[n:], nil
	}
	return b[n : n+int(l) : n+int(l)], b[n+int(l):], nil
}

func crc32Checksum(b []byte) uint32 { return crc32.Checksum(b, castagnoli) }
