package cli

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestMain fails the run if any goroutine started by this package outlives
// the tests: stream readers, input readers and HTTP requests must all end
// with the command that started them.
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		if leaked := waitForLeaks(5 * time.Second); leaked != "" {
			fmt.Fprintf(os.Stderr, "goroutines leaked:\n%s\n", leaked)
			code = 1
		}
	}
	os.Exit(code)
}

// waitForLeaks waits up to limit for goroutines running this package's
// code to end (HTTP connections close asynchronously), and returns the
// stacks of those that remain.
func waitForLeaks(limit time.Duration) string {
	deadline := time.Now().Add(limit)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		leaked := ourGoroutines()
		if leaked == "" || time.Now().After(deadline) {
			return leaked
		}
		<-tick.C
	}
}

func ourGoroutines() string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var out []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "internal/cli.") && !strings.Contains(g, "internal/cli.TestMain") &&
			!strings.Contains(g, "internal/cli.waitForLeaks") {
			out = append(out, g)
		}
	}
	return strings.Join(out, "\n\n")
}
