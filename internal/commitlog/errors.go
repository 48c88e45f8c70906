package commitlog

import (
	"errors"
	"fmt"
	"strconv"
)

var (
	// ErrOffsetOutOfRange: the offset asked for is not in the log (deleted
	// by retention, or beyond its end). Errors that match it are
	// *OutOfRangeError and carry the valid range.
	ErrOffsetOutOfRange = errors.New("offset out of range")
	// ErrCorrupt: a stored batch failed its checksum or structure checks.
	// Herald never serves such a batch; the error names the file and byte
	// position so an operator can inspect or restore it.
	ErrCorrupt = errors.New("corrupt log data")
	// ErrClosed: the log was closed.
	ErrClosed = errors.New("log is closed")
	// ErrBatchTooLarge: an append exceeds Options.MaxBatchBytes.
	ErrBatchTooLarge = errors.New("batch too large")
	// ErrEmptyBatch: Append was called with no records.
	ErrEmptyBatch = errors.New("empty batch")
)

// OutOfRangeError says which offsets are valid, so a reader can reposition.
type OutOfRangeError struct {
	Offset   int64 // the offset asked for
	Earliest int64 // the earliest offset still stored
	Next     int64 // the offset the next append will get
}

func (e *OutOfRangeError) Error() string {
	return fmt.Sprintf("offset %d out of range: valid offsets are %d to %d (earliest %d)",
		e.Offset, e.Earliest, e.Next-1, e.Earliest)
}

func (e *OutOfRangeError) Is(target error) bool { return target == ErrOffsetOutOfRange }

// CorruptError locates damaged data.
type CorruptError struct {
	File     string
	Position int64
	Reason   string
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("corrupt log data in %s at byte %d: %s", e.File, e.Position, e.Reason)
}

func (e *CorruptError) Is(target error) bool { return target == ErrCorrupt }

// FailedError wraps the write or fsync error that stopped a log. After a
// failed fsync the kernel may have dropped the dirty pages, so retrying the
// fsync could falsely report success; the log refuses further appends until
// it is reopened and its tail verified again.
type FailedError struct{ Err error }

func (e *FailedError) Error() string {
	return "log stopped after a storage error (reopen it to recover): " + e.Err.Error()
}

func (e *FailedError) Unwrap() error { return e.Err }

func itoa(v int64) string { return strconv.FormatInt(v, 10) }
