package main

import (
	"encoding/binary"
	"math/rand/v2"
	"time"
)

// An event's payload is size bytes: the first 8 hold a time as Unix
// nanoseconds, little-endian (the intended send time in the end-to-end
// workload, the send time in fan-out, zero elsewhere); the rest are random
// so that no system gains from compressing them.
//
//	0        8                                  size
//	+--------+-----------------------------------+
//	| stamp  | random filler                     |
//	+--------+-----------------------------------+
const stampBytes = 8

// newPayload returns a fresh payload of size bytes stamped with t.
func newPayload(size int, t time.Time, filler []byte) []byte {
	p := make([]byte, size)
	copy(p[stampBytes:], filler)
	binary.LittleEndian.PutUint64(p, uint64(t.UnixNano()))
	return p
}

// newFiller returns random bytes to copy into payloads.
func newFiller(size int) []byte {
	r := rand.New(rand.NewPCG(uint64(size), 42))
	b := make([]byte, size)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// stampOf reads the time a payload carries.
func stampOf(p []byte) time.Time {
	if len(p) < stampBytes {
		return time.Time{}
	}
	return time.Unix(0, int64(binary.LittleEndian.Uint64(p)))
}
