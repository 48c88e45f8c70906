package loadgen

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/heraldhq/herald/internal/term"
)

// Main is `herald bench`: it parses args, runs, and prints the summary
// (a table, or with --json one JSON object on the last line). It returns
// the exit code. prepare, when not nil, runs once the arguments are
// valid, before the run, and the func it returns after it: the command's
// GC policy, which touches its heap at start, is not paid for --help or a
// bad flag.
func Main(ctx context.Context, args []string, connect Connect, stdout, stderr io.Writer, prepare func() (done func())) int {
	cfg, err := ParseArgs(args, stdout, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "herald bench:", err)
		return 2
	}
	if prepare != nil {
		defer prepare()()
	}
	var progress io.Writer
	if f, ok := stderr.(*os.File); ok && term.IsTerminal(f) {
		progress = stderr
	}
	s, err := Run(ctx, cfg, connect, progress)
	if err != nil {
		fmt.Fprintln(stderr, "herald bench:", err)
		return 1
	}
	if cfg.JSON {
		json.NewEncoder(stdout).Encode(s)
		return 0
	}
	fmt.Fprintf(stdout, "%s: %d events of %d B in %.2fs\n", s.Mode, s.Events, s.Size, s.Seconds)
	fmt.Fprintf(stdout, "  throughput  %12.0f events/s  %8.1f MiB/s\n", s.EventsPerSec, s.MiBPerSec)
	if s.PublishEventsPerSec > 0 {
		fmt.Fprintf(stdout, "  published   %12.0f events/s  (%d subscriptions, delivery is the aggregate)\n", s.PublishEventsPerSec, s.Subscriptions)
	}
	label := "publish latency"
	if s.Mode == "e2e" || s.Subscriptions > 0 {
		label = "publish-to-delivery latency"
	}
	if s.P50us > 0 {
		fmt.Fprintf(stdout, "  %s  p50 %.0f µs  p90 %.0f µs  p99 %.0f µs  p99.9 %.0f µs\n", label, s.P50us, s.P90us, s.P99us, s.P999us)
	}
	if s.PublishLegP50us > 0 || s.DeliveryLegP50us > 0 {
		fmt.Fprintf(stdout, "    %-18s p50 %.0f µs  p99 %.0f µs\n", "sent to stored", s.PublishLegP50us, s.PublishLegP99us)
		fmt.Fprintf(stdout, "    %-18s p50 %.0f µs  p99 %.0f µs  (stored: the server's clock)\n", "stored to handled", s.DeliveryLegP50us, s.DeliveryLegP99us)
	}
	return 0
}
