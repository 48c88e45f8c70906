package commitlog

import (
	"encoding/binary"
	"errors"
	"testing"
)

func encodeTestBatch(t testing.TB, base int64, recs []Record) []byte {
	t.Helper()
	b, err := encodeBatch(nil, recs)
	if err != nil {
		t.Fatal(err)
	}
	putBaseOffset(b, base)
	return b
}

func TestBatchRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		recs []Record
	}{
		{"one empty record", []Record{{}}},
		{"nil and empty differ", []Record{{Key: []byte{}, Value: nil}, {Key: nil, Value: []byte{}}}},
		{"headers", []Record{{Headers: []Header{{"a", []byte("1")}, {"", nil}, {"c", []byte{}}}, Value: []byte("v")}}},
		{"timestamps go back", []Record{{Timestamp: 100}, {Timestamp: 50}, {Timestamp: 200}}},
		{"negative timestamps", []Record{{Timestamp: -5}, {Timestamp: 1 << 62}}},
		{"many", func() []Record {
			var r []Record
			for i := 0; i < 1000; i++ {
				r = append(r, rec(i, int64(i)*1000))
			}
			return r
		}()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := encodeTestBatch(t, 42, tt.recs)
			got, info, err := decodeBatch(nil, b, 0)
			if err != nil {
				t.Fatal(err)
			}
			if info.baseOffset != 42 || info.count != len(tt.recs) || info.size != len(b) {
				t.Fatalf("info = %+v", info)
			}
			maxTS := tt.recs[0].Timestamp
			for _, r := range tt.recs {
				maxTS = max(maxTS, r.Timestamp)
			}
			if info.maxTS != maxTS || info.firstTS != tt.recs[0].Timestamp {
				t.Fatalf("timestamps first=%d max=%d, want %d, %d", info.firstTS, info.maxTS, tt.recs[0].Timestamp, maxTS)
			}
			for i := range tt.recs {
				if got[i].Offset != 42+int64(i) || !sameRecord(got[i], tt.recs[i]) {
					t.Fatalf("record %d = %+v, want %+v", i, got[i], tt.recs[i])
				}
			}
		})
	}
}

func TestBatchHeaderLayout(t *testing.T) {
	b := encodeTestBatch(t, 7, []Record{{Timestamp: 11, Value: []byte("x")}, {Timestamp: 13}})
	be := binary.BigEndian
	if be.Uint64(b[0:]) != 7 || int(be.Uint32(b[8:])) != len(b)-12 || b[16] != batchVersion ||
		be.Uint32(b[19:]) != 2 || be.Uint64(b[23:]) != 11 || be.Uint64(b[31:]) != 13 {
		t.Fatalf("header does not match the documented layout: % x", b[:batchHeaderSize])
	}
}

// Every single-bit flip in the CRC-covered part is detected; a flip in the
// base offset is caught by offset continuity, tested in recovery tests.
func TestBatchDetectsEveryBitFlip(t *testing.T) {
	b := encodeTestBatch(t, 0, []Record{rec(1, 1), rec(2, 2)})
	for i := 8; i < len(b); i++ {
		for bit := 0; bit < 8; bit++ {
			c := append([]byte(nil), b...)
			c[i] ^= 1 << bit
			if _, _, err := decodeBatch(nil, c, 0); err == nil {
				t.Fatalf("flip of bit %d in byte %d went undetected", bit, i)
			}
		}
	}
}

func TestEncodeRejects(t *testing.T) {
	if _, err := encodeBatch(nil, nil); !errors.Is(err, ErrEmptyBatch) {
		t.Fatalf("empty batch: %v", err)
	}
	big := []Record{{Value: make([]byte, maxBatchBytes)}}
	if _, err := encodeBatch(nil, big); !errors.Is(err, ErrBatchTooLarge) {
		t.Fatalf("huge batch: %v", err)
	}
}

// FuzzDecodeBatch: arbitrary bytes never panic, and whatever decodes
// re-encodes to exactly the same bytes (so nothing bad is ever returned as
// good: the CRC and structure checks accept only what the encoder makes).
func FuzzDecodeBatch(f *testing.F) {
	f.Add(encodeTestBatch(f, 0, []Record{{}}))
	f.Add(encodeTestBatch(f, 5, []Record{rec(1, 10), rec(2, 5)}))
	f.Add(encodeTestBatch(f, 1<<40, []Record{{Key: []byte("k"), Headers: []Header{{"h", nil}}, Value: []byte("v")}}))
	f.Add([]byte{})
	f.Add(make([]byte, batchHeaderSize))
	f.Fuzz(func(t *testing.T, b []byte) {
		recs, info, err := decodeBatch(nil, b, 0)
		if err != nil {
			return
		}
		again := encodeTestBatch(t, info.baseOffset, recs)
		if string(again) != string(b) {
			t.Fatalf("decoded batch re-encodes differently:\n in % x\nout % x", b, again)
		}
	})
}

// FuzzDecodeBatchBody reaches past the CRC: it makes the length and CRC of
// the input right before decoding, so the fuzzer explores record parsing.
// Decoding must never panic, and what decodes must survive a round trip.
func FuzzDecodeBatchBody(f *testing.F) {
	f.Add(encodeTestBatch(f, 0, []Record{rec(1, 10), rec(2, 5)}))
	f.Add(encodeTestBatch(f, 9, []Record{{Headers: []Header{{"a", []byte("b")}}}}))
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) < batchHeaderSize || len(b) > 1<<20 {
			return
		}
		b = append([]byte(nil), b...)
		binary.BigEndian.PutUint32(b[8:], uint32(len(b)-12))
		binary.BigEndian.PutUint32(b[12:], crc32Checksum(b[crcStart:]))
		recs, info, err := decodeBatch(nil, b, 0)
		if err != nil {
			return
		}
		again := encodeTestBatch(t, info.baseOffset, recs)
		recs2, _, err := decodeBatch(nil, again, 0)
		if err != nil || len(recs2) != len(recs) {
			t.Fatalf("re-encoded batch does not decode: %v", err)
		}
		for i := range recs {
			if !sameRecord(recs[i], recs2[i]) || recs[i].Offset != recs2[i].Offset {
				t.Fatalf("record %d changed in a round trip", i)
			}
		}
	})
}
