// Package vfs is the filesystem seam under Herald's storage.
//
// Everything that touches disk in Herald (the commit log, metadata files) goes
// through the FS interface instead of the os package, so tests can inject the
// failures real disks produce: failed fsyncs, short writes, full disks, failed
// renames. OS is the real implementation; Faulty wraps any FS and injects
// errors chosen by a test.
//
// The interface is deliberately small: it holds only the operations the
// storage code needs, so a fault-injecting implementation stays easy to write.
package vfs
