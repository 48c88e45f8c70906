//go:build !linux

package vfs

import "runtime"

// Sync is os.File.Sync: fsync on most systems, fcntl(F_FULLFSYNC) on macOS
// (its fsync leaves the data in the drive's cache), FlushFileBuffers on
// Windows. Only Linux has fdatasync in the syscall package.
func (f osFile) Sync() error { return f.File.Sync() }

// SyncDir fsyncs the directory where that is how entries are made durable.
// Windows cannot flush a directory handle, so there it does nothing: a
// new or renamed file is durable once NTFS flushes its own log, which
// SyncDir does not wait for. Herald's crash guarantees are tested on
// Linux only.
func (osFS) SyncDir(name string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	return syncDir(name)
}
