package loadgen

import (
	"syscall"
	"time"
)

// sleepHoldsProc is true: a thread in nanosleep keeps its scheduler P.
const sleepHoldsProc = true

// preciseSleep blocks the calling thread in nanosleep for d: the kernel's
// high-resolution timer, not the runtime's millisecond-grained poller.
func preciseSleep(d time.Duration) {
	ts := syscall.NsecToTimespec(int64(d))
	for syscall.Nanosleep(&ts, &ts) == syscall.EINTR {
	}
}
