package broker

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
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
// Compaction switches appends to an empty journal-<g+1>, writes the state
// at the switch as a snapshot of generation g+1, then deletes journal-<g>
// (see compact below). Open reads the generation from the snapshot,
// replays that journal and any later one, and removes older ones.
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
	// queued counts the writes of queue still in flight. They are
	// started under the subscription's jmu held shared; cut and close,
	// which hold it exclusively, wait for them before they fsync or close
	// the log.
	queued sync.WaitGroup
}

func journalDir(dir string, gen int64) string {
	return filepath.Join(dir, journalPrefix+strconv.FormatInt(gen, 10))
}

// createJournalState writes the first snapshot of a new subscription.
func createJournalState(fs vfs.FS, dir string, st *cursorState) error {
	return atomicfile.Write(fs, filepath.Join(dir, snapshotFile), encodeSnapshot(0, st.snapshotOps()))
}

// openJournal loads the snapshot and replays the journals after it: its
// own generation's, then any later ones an interrupted compaction left
// (their operations follow the cut the compaction made; see compact). It
// removes journals older than the snapshot, and appends go on in the
// newest.
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
	gens := []int64{gen}
	for _, e := range entries {
		g, ok := strings.CutPrefix(e.Name(), journalPrefix)
		if !ok {
			continue
		}
		n, err := strconv.ParseInt(g, 10, 64)
		switch {
		case err == nil && n > gen:
			gens = append(gens, n)
		case err != nil || n < gen:
			if err := removeAll(fs, filepath.Join(dir, e.Name())); err != nil {
				return nil, nil, err
			}
		}
	}
	slices.Sort(gens)
	j := &journal{fs: fs, dir: dir, opts: opts, now: now}
	var ops int64
	for i, g := range gens {
		log, err := commitlog.Open(journalDir(dir, g), opts)
		if err != nil {
			return nil, nil, err
		}
		j.log, j.gen = log, g
		n, err := j.replay(st)
		ops += n
		if err == nil && i < len(gens)-1 {
			err = log.Close()
		}
		if err != nil {
			log.Close()
			return nil, nil, err
		}
	}
	j.ops.Store(ops)
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
	sc := j.records(ops)
	defer sc.release()
	recs := sc.recs
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

// queue appends ops, which must be harmless to lose in a crash (leases:
// the event is then delivered again), and returns as soon as they hold
// their place in the journal, without waiting for the write: every
// operation appended after it returns is written after them, so an ack
// never lands before its lease. written gets the write's outcome on the
// commit log's writer goroutine, so it must not block. An error returned
// means nothing was queued. The caller holds the subscription's jmu
// shared (see queued).
//
// A fetch used to wait for its leases' write inside its turn: p50 35 µs,
// p99 0.7 ms per fetch of 100, 17% of a consume run's time. Then a
// goroutine per fetch waited for it instead; now nothing waits.
func (j *journal) queue(ops []op, written func(error)) error {
	if len(ops) == 0 {
		return nil
	}
	sc := j.records(ops)
	defer sc.release()
	j.queued.Add(1)
	err := j.log.AppendUnsyncedAsync(sc.recs, func(_ int64, err error) {
		if err != nil {
			err = fmt.Errorf("write subscription state: %w", err)
		}
		written(err)
		j.queued.Done()
	})
	if err != nil {
		j.queued.Done()
		return fmt.Errorf("write subscription state: %w", err)
	}
	j.ops.Add(int64(len(ops)))
	return nil
}

// records encodes ops as one record each, in one buffer they alias. The
// commit log copies records into its batch before an append returns (or
// is queued), so the caller releases them right after.
func (j *journal) records(ops []op) *recordScratch {
	sc := scratchPool.Get().(*recordScratch)
	ts := j.now()
	for i := range ops {
		start := len(sc.buf)
		sc.buf = appendOp(sc.buf, &ops[i])
		sc.recs = append(sc.recs, commitlog.Record{Timestamp: ts, Value: sc.buf[start:len(sc.buf):len(sc.buf)]})
	}
	return sc
}

// recordScratch is the memory records encodes into, reused: a fetch or an
// ack batch allocated two slices for it every time.
type recordScratch struct {
	buf  []byte
	recs []commitlog.Record
}

var scratchPool = sync.Pool{New: func() any { return new(recordScratch) }}

// opSlices holds the op slices that a fetch (its leases) and an ack batch
// build, for reuse: write and queue encode the ops before they return, so
// nothing holds them after. They were about a tenth of the bytes a
// consume run allocated on the server (`herald bench consume`, the allocs
// profile), and every byte allocated is a byte of heap to grow into and
// collect.
var opSlices = sync.Pool{New: func() any { return new([]op) }}

// borrowOps returns an empty op slice with room for n, from opSlices.
// Every op past its length is zero.
func borrowOps(n int) *[]op {
	p := opSlices.Get().(*[]op)
	*p = slices.Grow((*p)[:0], n)
	return p
}

// returnOps gives p back to opSlices; used is what the caller wrote into
// it (a prefix of its room), which must no longer be used. Only used is
// cleared, so that its strings do not outlive it: the rest is zero
// already, and clearing a large slice's whole room after every small
// batch would cost more than the allocation it saves.
func returnOps(p *[]op, used []op) {
	if cap(*p) > 4096 {
		return // one very large batch's; not worth keeping
	}
	clear(used)
	*p = (*p)[:0]
	opSlices.Put(p)
}

// release gives sc back for reuse; its records must no longer be used.
func (sc *recordScratch) release() {
	if cap(sc.buf) > 1<<20 || cap(sc.recs) > 1<<14 {
		return // one large write's; not worth keeping
	}
	clear(sc.recs)
	sc.buf, sc.recs = sc.buf[:0], sc.recs[:0]
	scratchPool.Put(sc)
}

// Compaction folds the journal into a snapshot in three steps, so that
// the subscription waits only for the middle one (it took ~3 ms under the
// lock when done in one step, six times a second at 50,000 events/s):
//
//  1. openNext opens an empty journal of the next generation; nothing
//     uses it yet.
//  2. cut, under the subscription's exclusive jmu with the state taken
//     there: fsync the current journal (a later operation must not be
//     durable while one it follows is not) and send appends to the new one.
//  3. settle writes the state as the new generation's snapshot, then
//     closes the old journal and removes every older one.
//
// A crash before the snapshot leaves the old snapshot, its journal and
// the new journal: openJournal replays them in order. A crash after
// leaves the new snapshot; older journals are removed on open.

// openNext opens the journal of the generation after the current one.
// Compactions are serialised by the subscription (cmu).
func (j *journal) openNext() (*commitlog.Log, int64, error) {
	gen := j.gen + 1
	log, err := commitlog.Open(journalDir(j.dir, gen), j.opts)
	if err != nil {
		return nil, 0, fmt.Errorf("open subscription journal %d: %w", gen, err)
	}
	return log, gen, nil
}

// cut fsyncs the current journal and makes log (of generation gen) the
// one appended to; it returns the old one. The caller holds jmu for
// writing, so no append is in flight. A journal that failed cannot be
// fsynced; the snapshot of the state taken at the cut replaces it.
func (j *journal) cut(log *commitlog.Log, gen int64) *commitlog.Log {
	old := j.log
	j.queued.Wait() // Sync covers what is written, not what is queued
	old.Sync()
	j.log, j.gen = log, gen
	j.ops.Store(0)
	return old
}

// settle writes st, the state at the cut to generation gen, as the
// snapshot, then closes old and removes the journals before gen.
func (j *journal) settle(gen int64, st *cursorState, old *commitlog.Log) error {
	if err := atomicfile.Write(j.fs, filepath.Join(j.dir, snapshotFile), encodeSnapshot(gen, st.snapshotOps())); err != nil {
		old.Close() // its files stay: the old snapshot still needs them
		return fmt.Errorf("write subscription snapshot: %w", err)
	}
	old.Close()
	entries, err := j.fs.ReadDir(j.dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		g, ok := strings.CutPrefix(e.Name(), journalPrefix)
		if n, err := strconv.ParseInt(g, 10, 64); ok && err == nil && n < gen {
			if err := removeAll(j.fs, filepath.Join(j.dir, e.Name())); err != nil && !errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("remove compacted journal: %w", err)
			}
		}
	}
	return nil
}

// compact does all three steps at once; the caller holds jmu for writing
// and st is the state now (closing a subscription).
func (j *journal) compact(st *cursorState) error {
	log, gen, err := j.openNext()
	if err != nil {
		return err
	}
	return j.settle(gen, st, j.cut(log, gen))
}

func (j *journal) close() error {
	j.queued.Wait()
	return j.log.Close()
}
