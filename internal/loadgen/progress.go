package loadgen

import (
	"fmt"
	"io"
	"time"
)

// reportProgress prints sent/received counts and rates every quarter
// second until the returned stop is called.
func (r *run) reportProgress(w io.Writer) (stop func()) {
	if w == nil {
		return func() {}
	}
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		start := time.Now()
		for {
			select {
			case <-t.C:
				s, rcv := r.sent.Load(), r.received.Load()
				secs := time.Since(start).Seconds()
				fmt.Fprintf(w, "\r  %6.1fs  sent %10d (%9.0f/s)  received %10d (%9.0f/s) ", secs, s, float64(s)/secs, rcv, float64(rcv)/secs)
			case <-done:
				fmt.Fprint(w, "\r\033[K")
				return
			}
		}
	}()
	return func() { close(done); <-finished }
}
