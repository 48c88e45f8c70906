// Command herald is Herald in one binary: `herald serve` runs the broker and
// event store; every other command is the CLI that talks to a server.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"runtime/trace"
	"syscall"
	"time"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/internal/cli"
	"github.com/heraldhq/herald/internal/gcpolicy"
	"github.com/heraldhq/herald/internal/loadgen"
	"github.com/heraldhq/herald/internal/server"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// HERALD_CPUPROFILE=FILE records a CPU profile of the whole command
	// (serve until it shuts down, bench, ...) for `go tool pprof`;
	// HERALD_TRACE=FILE an execution trace for `go tool trace` (which
	// goroutine waited for which, and for how long, which a CPU profile
	// cannot show); HERALD_MEMPROFILE=FILE the allocation profile (every
	// byte allocated during the command, -sample_index=alloc_space), at
	// exit. See docs/PERFORMANCE.md.
	recorders := []struct {
		env   string
		start func(io.Writer) error
		stop  func(io.Writer) error
	}{
		{"HERALD_CPUPROFILE", pprof.StartCPUProfile, func(io.Writer) error { pprof.StopCPUProfile(); return nil }},
		{"HERALD_TRACE", trace.Start, func(io.Writer) error { trace.Stop(); return nil }},
		{"HERALD_MEMPROFILE", func(io.Writer) error { return nil }, func(w io.Writer) error {
			// The profile stops at the last completed collection; one
			// now brings in what was allocated since (up to a GC cycle's
			// worth: a third of a consume run's bytes were missing).
			runtime.GC()
			return pprof.Lookup("allocs").WriteTo(w, 0)
		}},
	}
	for _, r := range recorders {
		path := os.Getenv(r.env)
		if path == "" {
			continue
		}
		f, err := os.Create(path)
		if err == nil {
			err = r.start(f)
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "herald: %s: %v\n", r.env, err)
			return 2
		}
		defer func() {
			if err := r.stop(f); err != nil {
				fmt.Fprintf(os.Stderr, "herald: %s: %v\n", r.env, err)
			}
			f.Close()
		}()
	}
	if len(args) > 0 && args[0] == "serve" {
		return serve(ctx, args[1:])
	}
	if len(args) > 0 && args[0] == "bench" {
		// A load generator should not measure its own collections: it
		// runs under the server's policy too (as the bench harness runs
		// its own process, and the peers' clients, at GOGC=400).
		gc := func() func() { return gcpolicy.Start(os.Getenv).Stop }
		return loadgen.Main(ctx, args[1:], benchClient, os.Stdout, os.Stderr, gc)
	}
	return cli.Run(ctx, args, os.Stdin, os.Stdout, os.Stderr)
}

// serve runs the server until SIGINT or SIGTERM, then shuts down
// gracefully. Logs go to stderr; the line "herald is ready" carries the
// bound address (listen=HOST:PORT), which tests and scripts wait for.
func serve(ctx context.Context, args []string) int {
	cfg, err := server.LoadConfig(args, os.Getenv)
	var help *server.HelpError
	if errors.As(err, &help) {
		fmt.Fprint(os.Stdout, help.Usage)
		return 0
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "herald serve: %v\n", err)
		return 2
	}
	var level slog.Level
	level.UnmarshalText([]byte(cfg.LogLevel))
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	// The server's GC policy (internal/gcpolicy): GOGC adapts between 400
	// and 100 with the live heap, unless the operator set GOGC.
	if gc := gcpolicy.Start(os.Getenv); gc != nil {
		defer gc.Stop()
		log.Debug("garbage collection: GOGC adapts to the live heap; set GOGC to fix it", "gogc", gc.Percent())
	}
	srv, err := server.New(cfg, log)
	if err != nil {
		fmt.Fprintf(os.Stderr, "herald serve: %v\n", err)
		return 2
	}
	if err := srv.Run(ctx, func(net.Addr) {}); err != nil {
		fmt.Fprintf(os.Stderr, "herald serve: %v\n", err)
		return 1
	}
	return 0
}

// benchClient is how `herald bench` reaches Herald: the server at --url
// over the streaming protocol, or in process with --data. Throughput runs
// batch up to --batch events with a 1 ms linger; fixed-rate runs (--rate,
// e2e) are about latency and send as soon as the previous batch is
// answered (linger 0), as a latency-sensitive service would configure it.
func benchClient(ctx context.Context, cfg loadgen.Config) (*herald.Client, error) {
	linger := time.Millisecond
	if cfg.Rate > 0 {
		linger = 0
	}
	opts := []herald.Option{herald.WithBatching(cfg.Batch, 8<<20, linger)}
	if cfg.DataDir != "" {
		return herald.Open(cfg.DataDir, opts...)
	}
	return herald.Dial(ctx, cfg.URL, opts...)
}
