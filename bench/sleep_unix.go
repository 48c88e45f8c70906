//go:build unix

package main

import (
	"syscall"
	"time"
)

// preciseSleep blocks the calling thread in nanosleep for d: the kernel's
// high-resolution timer (it wakes within ~0.1 ms here), not the Go
// runtime's poller, which waits in whole milliseconds when the process is
// idle. herald bench paces its fixed-rate sender the same way
// (internal/loadgen).
func preciseSleep(d time.Duration) {
	ts := syscall.NsecToTimespec(int64(d))
	for syscall.Nanosleep(&ts, &ts) == syscall.EINTR {
	}
}
