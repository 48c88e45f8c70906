//go:build !unix

package loadgen

import "time"

// sleepHoldsProc is false: time.Sleep parks the goroutine, not the P.
const sleepHoldsProc = false

// preciseSleep is time.Sleep where nanosleep is not available.
func preciseSleep(d time.Duration) { time.Sleep(d) }
