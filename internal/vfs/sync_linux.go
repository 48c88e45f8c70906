package vfs

import (
	"os"
	"syscall"
)

// Sync uses fdatasync: it flushes the data and the size, which is all a
// reader needs, and skips timestamps that would cost a second journal write.
func (f osFile) Sync() error {
	for {
		err := syscall.Fdatasync(int(f.File.Fd()))
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return &os.PathError{Op: "fdatasync", Path: f.File.Name(), Err: err}
		}
		return nil
	}
}

// SyncDir fsyncs the directory, which is how Linux makes its entries
// durable.
func (osFS) SyncDir(name string) error { return syncDir(name) }
