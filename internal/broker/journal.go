package broker

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/heraldhq/herald/internal/atomicfile"
	"github.com/heraldhq/herald/internal/commitlog"
	"github.com/heraldhq/herald/internal/vfs"
)

// A subscription's durable state is a snapshot plus a journal of the
// operations since (see cursor.go for what they mean):
//
//	subscriptions/<sub>/state            snapshot, replaced with atomicfile
//	subscriptions/<sub>/journal-<gen>/   commit log of operations after it
//
// Every operation is one commit-log record whose value is:
//
//	byte     kind
//	uvarint  partition
//	varint   offset
//	then, by kind (str = uvarint length + bytes):
//	  seek            -                               offset = new scanned
//	  deliver         uvarint attempts, uvarint lease id, varint deadline, str consumer
//	  extend          uvarint lease id, varint deadline
//	  release         uvarint attempts, uvarint lease id, varint not-before,
//	                  str last error, str dead reason
//	  settle          -                               (acked)
//	  dead-lettered   -
//	  dl-intent       varint mark                     (DLQ end when it began)
//	  redrive         varint dlq offset
//	  redriven-below  -                               offset = the mark
//	  redriven-mark   -                               offset = the dlq offset
//	  dlq-topic       str topic
//	  counters        uvarint dead-lettered total
//	  state           uvarint attempts, varint not-before, str last error,
//	                  str dead reason, varint dlq offset, varint dl mark,
//	                  uvarint lease id (0: none), varint deadline, str consumer
//
// The snapshot file is:
//
//	4 bytes  magic "HSS1"
//	uvarint  generation (the journal that follows it)
//	repeated uvarint length + operation, as above
//	4 bytes  CRC-32C of everything before
//
// Compaction writes the live state as a snapshot of generation g+1 with an
// empty journal-<g+1>, then deletes journal-<g>. A crash at any point leaves
// either the old snapshot with its journal or the new one: Open reads the
// generation from the snapshot and removes every other journal directory.
// Appends are group-committed by the commit log, so concurrent acks share
// one fsync.

type opKind byte

const (
	opSeek opKind = 1 + iota
	opDeliver
	opExtend
	opRelease
	opSettle
	opDeadLettered
	opDLIntent
	opRedrive
	opRedrivenBelow
	opRedrivenMark
	opDLQTopic
	opCounters
	opState
)

// op is one change to a subscription's durable state. Only the fields its
// kind uses are encoded.
type op struct {
	kind      opKind
	part      int
	offset    int64
	attempts  int
	leaseID   uint64
	deadline  int64
	notBefore int64
	consumer  string
	lastErr   string
	reason    string
	text      string
	dlqOffset int64
	mark      int64
}

func appendStr(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendOp(b []byte, o *op) []byte {
	b = append(b, byte(o.kind))
	b = binary.AppendUvarint(b, uint64(o.part))
	b = binary.AppendVarint(b, o.offset)
	switch o.kind {
	case opDeliver:
		b = binary.AppendUvarint(b, uint64(o.attempts))
		b = binary.AppendUvarint(b, o.leaseID)
		b = binary.AppendVarint(b, o.deadline)
		b = appendStr(b, o.consumer)
	case opExtend:
		b = binary.AppendUvarint(b, o.leaseID)
		b = binary.AppendVarint(b, o.deadline)
	case opRelease:
		b = binary.AppendUvarint(b, uint64(o.attempts))
		b = binary.AppendUvarint(b, o.leaseID)
		b = binary.AppendVarint(b, o.notBefore)
		b = appendStr(b, o.lastErr)
		b = appendStr(b, o.reason)
	case opDLIntent:
		b = binary.AppendVarint(b, o.mark)
	case opRedrive:
		b = binary.AppendVarint(b, o.dlqOffset)
	case opDLQTopic:
		b = appendStr(b, o.text)
	case opCounters:
		b = binary.AppendUvarint(b, uint64(o.attempts))
	case opState:
		b = binary.AppendUvarint(b, uint64(o.attempts))
		b = binary.AppendVarint(b, o.notBefore)
		b = appendStr(b, o.lastErr)
		b = appendStr(b, o.reason)
		b = binary.AppendVarint(b, o.dlqOffset)
		b = binary.AppendVarint(b, o.mark)
		b = binary.AppendUvarint(b, o.leaseID)
		b = binary.AppendVarint(b, o.deadline)
		b = appendStr(b, o.consumer)
	}
	return b
}

var errBadOp = errors.New("malformed subscription state record")

// opReader decodes fields in order, remembering the first failure.
type opReader struct {
	b   []byte
	err error
}

func (r *opReader) uvarint() uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = errBadOp
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *opReader) varint() int64 {
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.err = errBadOp
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *opReader) str() string {
	n := r.uvarint()
	if r.err != nil || n > uint64(len(r.b)) {
		r.err = errBadOp
		return ""
	}
	s := string(r.b[:n])
	r.b = r.b[n:]
	return s
}

func decodeOp(b []byte) (op, error) {
	if len(b) == 0 {
		return op{}, errBadOp
	}
	o := op{kind: opKind(b[0])}
	r := &opReader{b: b[1:]}
	o.part = int(r.uvarint())
	o.offset = r.varint()
	switch o.kind {
	case opSeek, opSettle, opDeadLettered, opRedrivenBelow, opRedrivenMark:
	case opDeliver:
		o.attempts = int(r.uvarint())
		o.leaseID = r.uvarint()
		o.deadline = r.varint()
		o.consumer = r.str()
	case opExtend:
		o.leaseID = r.uvarint()
		o.deadline = r.varint()
	case opRelease:
		o.attempts = int(r.uvarint())
		o.leaseID = r.uvarint()
		o.notBefore = r.varint()
		o.lastErr = r.str()
		o.reason = r.str()
	case opDLIntent:
		o.mark = r.varint()
	case opRedrive:
		o.dlqOffset = r.varint()
	case opDLQTopic:
		o.text = r.str()
	case opCounters:
		o.attempts = int(r.uvarint())
	case opState:
		o.attempts = int(r.uvarint())
		o.notBefore = r.varint()
		o.lastErr = r.str()
		o.reason = r.str()
		o.dlqOffset = r.varint()
		o.mark = r.varint()
		o.leaseID = r.uvarint()
		o.deadline = r.varint()
		o.consumer = r.str()
	default:
		return op{}, fmt.Errorf("%w: unknown kind %d", errBadOp, b[0])
	}
	if r.err == nil && len(r.b) != 0 {
		r.err = fmt.Errorf("%w: %d trailing bytes", errBadOp, len(r.b))
	}
	if o.part < 0 || o.part >= MaxPartitions {
		r.err = fmt.Errorf("%w: partition %d", errBadOp, o.part)
	}
	return o, r.err
}

const (
	snapshotFile   = "state"
	snapshotMagic  = "HSS1"
	journalPrefix  = "journal-"
	crcSize        = 4
	snapshotHeader = len(snapshotMagic)
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func encodeSnapshot(gen int64, ops []op) []byte {
	b := append([]byte(nil), snapshotMagic...)
	b = binary.AppendUvarint(b, uint64(gen))
	var scratch []byte
	for i := range ops {
		scratch = appendOp(scratch[:0], &ops[i])
		b = binary.AppendUvarint(b, uint64(len(scratch)))
		b = append(b, scratch...)
	}
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

func decodeSnapshot(b []byte, st *cursorState) (gen int64, err error) {
	if len(b) < snapshotHeader+crcSize || string(b[:snapshotHeader]) != snapshotMagic {
		return 0, fmt.Errorf("%w: not a subscription snapshot", errBadOp)
	}
	body := b[:len(b)-crcSize]
	if crc32.Checksum(body, castagnoli) != binary.BigEndian.Uint32(b[len(b)-crcSize:]) {
		return 0, fmt.Errorf("%w: snapshot checksum mismatch", errBadOp)
	}
	r := &opReader{b: body[snapshotHeader:]}
	gen = int64(r.uvarint())
	for r.err == nil && len(r.b) > 0 {
		n := r.uvarint()
		if r.err != nil || n > uint64(len(r.b)) {
			return 0, fmt.Errorf("%w: truncated snapshot", errBadOp)
		}
		o, err := decodeOp(r.b[:n])
		if err != nil {
			return 0, err
		}
		st.apply(&o)
		r.b = r.b[n:]
	}
	return gen, r.err
}

// journal is a subscription's durable state store. append is safe for
// concurrent use; compact and close must be called with no append running
// (the subscription's jmu, held exclusively, guarantees it).
type journal struct {
	fs   vfs.FS
	dir  string
	opts commitlog.Options
	gen  int64
	log  *commitlog.Log
	ops  atomic.Int64 // operations appended since the snapshot
	now  func() int64
}

func journalDir(dir string, gen int64) string {
	return filepath.Join(dir, journalPrefix+strconv.FormatInt(gen, 10))
}

// createJournalState writes the first snapshot of a new subscription.
func createJournalState(fs vfs.FS, dir string, st *cursorState) error {
	return atomicfile.Write(fs, filepath.Join(dir, snapshotFile), encodeSnapshot(0, st.snapshotOps()))
}

// openJournal loads the snapshot, replays the journal after it and removes
// journals of other generations left by an interrupted compaction.
func openJournal(fs vfs.FS, dir string, opts commitlog.Options, now func() int64) (*journal, *cursorState, error) {
	data, err := atomicfile.Read(fs, filepath.Join(dir, snapshotFile))
	if err != nil {
		return nil, nil, fmt.Errorf("read subscription state: %w", err)
	}
	st := newCursorState()
	gen, err := decodeSnapshot(data, st)
	if err != nil {
		return nil, nil, fmt.Errorf("subscription state %s: %w", dir, err)
	}
	entries, err := fs.ReadDir(dir)
	if err != nil {
		return nil, nil, err
	}
	for _, e := range entries {
		if g, ok := strings.CutPrefix(e.Name(), journalPrefix); ok && g != strconv.FormatInt(gen, 10) {
			if err := removeAll(fs, filepath.Join(dir, e.Name())); err != nil {
				return nil, nil, err
			}
		}
	}
	log, err := commitlog.Open(journalDir(dir, gen), opts)
	if err != nil {
		return nil, nil, err
	}
	j := &journal{fs: fs, dir: dir, opts: opts, gen: gen, log: log, now: now}
	n, err := j.replay(st)
	if err != nil {
		log.Close()
		return nil, nil, err
	}
	j.ops.Store(n)
	return j, st, nil
}

func (j *journal) replay(st *cursorState) (int64, error) {
	var n int64
	var recs []commitlog.Record
	for off := j.log.Earliest(); off < j.log.Next(); {
		var err error
		recs, err = j.log.ReadInto(recs[:0], off, 1<<20)
		if err != nil {
			return n, fmt.Errorf("replay subscription journal %s: %w", j.log.Dir(), err)
		}
		if len(recs) == 0 {
			break
		}
		for i := range recs {
			o, err := decodeOp(recs[i].Value)
			if err != nil {
				return n, fmt.Errorf("replay subscription journal %s at %d: %w", j.log.Dir(), recs[i].Offset, err)
			}
			st.apply(&o)
			n++
		}
		off = recs[len(recs)-1].Offset + 1
	}
	return n, nil
}

// write appends ops as one batch. It returns once they are durable (under
// SyncAlways), or, unsynced, once they are written: they survive the
// process being killed, and a power loss once the journal's next fsync
// covers them (commitlog AppendUnsynced, UnsyncedDelay).
func (j *journal) write(ctx context.Context, ops []op, unsynced bool) error {
	if len(ops) == 0 {
		return nil
	}
	// One buffer for all the ops; records alias it.
	size := 0
	for i := range ops {
		size += 24 + len(ops[i].consumer) + len(ops[i].lastErr) + len(ops[i].reason) + len(ops[i].text)
	}
	buf := make([]byte, 0, size)
	recs := make([]commitlog.Record, len(ops))
	ts := j.now()
	for i := range ops {
		start := len(buf)
		buf = appendOp(buf, &ops[i])
		recs[i] = commitlog.Record{Timestamp: ts, Value: buf[start:len(buf):len(buf)]}
	}
	appendRecs := j.log.Append
	if unsynced {
		appendRecs = j.log.AppendUnsynced
	}
	if _, err := appendRecs(ctx, recs); err != nil {
		return fmt.Errorf("write subscription state: %w", err)
	}
	j.ops.Add(int64(len(ops)))
	return nil
}

// compact replaces the journal with a snapshot of st and an empty journal
// of the next generation.
func (j *journal) compact(st *cursorState) error {
	next := j.gen + 1
	log, err := commitlog.Open(journalDir(j.dir, next), j.opts)
	if err != nil {
		return err
	}
	if err := atomicfile.Write(j.fs, filepath.Join(j.dir, snapshotFile), encodeSnapshot(next, st.snapshotOps())); err != nil {
		log.Close()
		removeAll(j.fs, journalDir(j.dir, next))
		return fmt.Errorf("write subscription snapshot: %w", err)
	}
	old := j.log
	j.log, j.gen = log, next
	j.ops.Store(0)
	old.Close()
	if err := removeAll(j.fs, old.Dir()); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove compacted journal: %w", err)
	}
	return nil
}

func (j *journal) close() error { return j.log.Close() }
