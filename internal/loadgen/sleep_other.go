//go:build !linux

package loadgen

import "time"

// sleepHoldsProc is false: time.Sleep parks the goroutine, not the P.
const sleepHoldsProc = false

// preciseSleep is time.Sleep: the syscall package has Nanosleep on Linux
// and a few BSDs only.
func preciseSleep(d time.Duration) { time.Sleep(d) }
