//go:build !linux

package vfs

import "runtime"

// Sync is os.File.Sync: fsync on most systems, fcntl(F_FULLFSYNC) on macOS
// (its fsync leaves the data in the drive's cache), FlushFileBuffers on
// Windows. Only Linux has fdatasync in the syscall package.
func (f osFile) Sync() error { return f.File.Sync() }

// SyncDir fsyncs the directory where that is how entries are made durable.
// Windows cannot flush a directory handle; NTFS journals its own metadata,
// so a rename or a new file there needs nothing more.
func (osFS) SyncDir(name string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	return syncDir(name)
}
