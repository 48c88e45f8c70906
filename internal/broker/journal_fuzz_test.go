package broker

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// The journal's records and the snapshot are read back from disk on every
// open. Whatever bytes are there, decoding must not panic: it fails with
// errBadOp or gives a value that the encoder writes back to the same value.

// journalSeedOps has one operation of every kind, each field the kind
// encodes set to something other than its zero value.
func journalSeedOps() []op {
	return []op{
		{kind: opSeek, part: 1, offset: 42},
		{kind: opDeliver, part: 2, offset: 7, attempts: 3, leaseID: 1 << 40, deadline: 1_700_000_000_000_000_000, consumer: "worker-1"},
		{kind: opExtend, part: 0, offset: 7, leaseID: 9, deadline: -5},
		{kind: opRelease, part: 3, offset: 300, attempts: 2, leaseID: 9, notBefore: 1234, lastErr: "timeout", reason: "rejected"},
		{kind: opSettle, part: 0, offset: 8},
		{kind: opDeadLettered, part: 5, offset: 1 << 50},
		{kind: opDLIntent, part: 1, offset: 9, mark: 77},
		{kind: opRedrive, part: 1, offset: 10, dlqOffset: 3},
		{kind: opRedrivenBelow, offset: 5},
		{kind: opRedrivenMark, offset: 6},
		{kind: opDLQTopic, text: "orders.dlq"},
		{kind: opCounters, attempts: 12},
		{kind: opState, part: 2, offset: 11, attempts: 1, notBefore: 99, lastErr: "boom", reason: "too many attempts",
			dlqOffset: -1, mark: 40, leaseID: 5, deadline: 1000, consumer: "c"},
	}
}

// FuzzDecodeOp guards replay against damaged journal records: no panic, and
// an accepted record is a known kind on a valid partition that round-trips.
func FuzzDecodeOp(f *testing.F) {
	for _, o := range journalSeedOps() {
		b := appendOp(nil, &o)
		f.Add(b)
		f.Add(b[:len(b)-1])
	}
	f.Add([]byte{})
	f.Add([]byte{byte(opSeek)})
	f.Add([]byte{0, 0, 0})
	f.Add([]byte{byte(opState) + 1, 0, 0})
	f.Add(appendOp(nil, &op{kind: opSettle, part: MaxPartitions - 1}))
	f.Add([]byte{byte(opSettle), 0x80, 0x20, 0})                        // partition 4096
	f.Add([]byte{byte(opDLQTopic), 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f}) // string longer than the record
	f.Add([]byte{byte(opSeek), 0, 0, 0})                                // trailing byte
	f.Fuzz(func(t *testing.T, b []byte) {
		o, err := decodeOp(b)
		if err != nil {
			if !errors.Is(err, errBadOp) {
				t.Fatalf("decodeOp error %v does not wrap errBadOp", err)
			}
			return
		}
		if o.kind < opSeek || o.kind > opState {
			t.Fatalf("decodeOp accepted unknown kind %d", o.kind)
		}
		if o.part < 0 || o.part >= MaxPartitions {
			t.Fatalf("decodeOp accepted partition %d", o.part)
		}
		// Varints may arrive in a longer form than the encoder writes, so
		// the bytes can differ; the value must not.
		enc := appendOp(nil, &o)
		back, err := decodeOp(enc)
		if err != nil {
			t.Fatalf("decodeOp(appendOp(%+v)) = %v", o, err)
		}
		if back != o {
			t.Fatalf("round trip changed the op\n got: %+v\nwant: %+v", back, o)
		}
		if len(enc) > len(b) {
			t.Fatalf("re-encoding is longer than the input: %d > %d bytes", len(enc), len(b))
		}
	})
}

// FuzzDecodeSnapshot guards opening a subscription against a damaged state
// file: no panic, and an accepted snapshot's state re-snapshots to itself.
func FuzzDecodeSnapshot(f *testing.F) {
	f.Add(encodeSnapshot(0, newCursorState().snapshotOps()))
	f.Add(encodeSnapshot(0, nil))
	full := encodeSnapshot(3, journalSeedOps())
	f.Add(full)
	f.Add(full[:len(full)-1])
	f.Add(full[:len(full)/2])
	st := newCursorState()
	for _, o := range journalSeedOps() {
		st.apply(&o)
	}
	f.Add(encodeSnapshot(1<<40, st.snapshotOps()))
	f.Add([]byte{})
	f.Add([]byte(snapshotMagic))
	f.Add([]byte("HSS1\x00\x05\x01\x00\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		checkSnapshotDecode(t, b)
		// A mutated snapshot almost never keeps a valid CRC; decode it
		// with a fixed one too, so the fuzzer reaches the operations.
		checkSnapshotDecode(t, withSnapshotCRC(b))
	})
}

// checkSnapshotDecode decodes b and, when it is accepted, checks that the
// state's own snapshot decodes to the same generation and state.
func checkSnapshotDecode(t *testing.T, b []byte) {
	t.Helper()
	st := newCursorState()
	gen, err := decodeSnapshot(b, st)
	if err != nil {
		if !errors.Is(err, errBadOp) {
			t.Fatalf("decodeSnapshot error %v does not wrap errBadOp", err)
		}
		return
	}
	if len(st.parts) > MaxPartitions {
		t.Fatalf("decoded snapshot has %d partitions, more than %d", len(st.parts), MaxPartitions)
	}
	back := newCursorState()
	gen2, err := decodeSnapshot(encodeSnapshot(gen, st.snapshotOps()), back)
	if err != nil {
		t.Fatalf("decodeSnapshot(encodeSnapshot(decoded state)) = %v", err)
	}
	if gen2 != gen {
		t.Fatalf("round trip changed the generation: %d, want %d", gen2, gen)
	}
	// A snapshot writes lease id 0 as "no lease" (live ids skip 0, see
	// subscription.lease), so a deliver of lease 0 comes back without it.
	for _, pc := range st.parts {
		for _, s := range pc.states {
			if s.lease != nil && s.lease.id == 0 {
				s.lease = nil
			}
		}
	}
	if !reflect.DeepEqual(back, st) {
		t.Fatalf("round trip changed the state\n got: %s\nwant: %s", describeCursor(back), describeCursor(st))
	}
}

// withSnapshotCRC returns a copy of b whose last 4 bytes are the CRC of the
// rest, as encodeSnapshot writes it.
func withSnapshotCRC(b []byte) []byte {
	if len(b) < crcSize {
		return b
	}
	out := append([]byte(nil), b...)
	body := out[:len(out)-crcSize]
	binary.BigEndian.PutUint32(out[len(body):], crc32.Checksum(body, castagnoli))
	return out
}

// describeCursor prints a state for a failure message as the operations
// that rebuild it, sorted, since %+v would print only pointers.
func describeCursor(c *cursorState) string {
	var lines []string
	for _, o := range c.snapshotOps() {
		lines = append(lines, fmt.Sprintf("%+v", o))
	}
	slices.Sort(lines)
	return "\n  " + strings.Join(lines, "\n  ")
}
