// Package commitlog is Herald's storage engine: one append-only,
// segmented, checksummed log per partition.
//
// A Log is a directory of segment files named by the offset of their first
// record (00000000000000000000.log). Records are appended in batches; every
// batch carries a CRC-32C and the format is drawn in batch.go. Each segment
// has a sparse index (.index) from offsets and timestamps to file positions,
// kept in memory for the active segment and written when the segment is
// sealed.
//
// What it guarantees:
//   - Offsets are dense and increasing: the n-th record ever appended has
//     offset n-1, whatever happens to the process.
//   - With SyncAlways (the default) Append returns only after its batch is
//     fsynced. One goroutine owns the file; appenders that arrive while an
//     fsync is running are written and fsynced together (group commit).
//   - Readers run concurrently with the writer and see only whole batches
//     that are already durable under the sync policy: under SyncAlways a
//     reader never sees a record that a crash could take back.
//   - Open verifies the last segment batch by batch and truncates a torn or
//     corrupt tail; it rebuilds a missing or damaged index. A batch whose CRC
//     fails is never returned: reads report ErrCorrupt with the file and
//     position instead of skipping.
//   - Retention deletes whole sealed segments by age and total size; a read
//     below the earliest offset gets ErrOffsetOutOfRange with the valid range.
//
// What it does not do: replication, compaction by key, or compression. A
// failed write or fsync stops the log (see FailedError): the only way back is
// to reopen it, which re-verifies the tail.
package commitlog
