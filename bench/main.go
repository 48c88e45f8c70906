// Command bench compares Herald with NATS JetStream and Redis Streams on
// this machine, in one run: the same workloads, the same event counts and
// sizes, a fresh server per run, each system at the durability it names.
// It prints one table and writes the same numbers as CSV and JSON under
// results/. See README.md for what each row measures.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"runtime/pprof"
	"strings"
	"sync"
	"syscall"
)

func main() {
	if os.Getenv(echoEnv) != "" {
		// Started by measureLoopbackRoundTrip as its echo peer, not by a user.
		os.Exit(runEcho(os.Stdout, os.Stderr))
	}
	// This process generates the peers' load and hosts nats-server: it runs
	// at GOGC=400, as Herald's load generator and server do (Herald's
	// internal/gcpolicy, 400 while the live heap is small), so that no
	// system's numbers carry its client's collections at Go's default.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(loadGOGC)
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// loadGOGC is the GC percentage of the harness process.
const loadGOGC = 400

// run is the whole command; it returns the exit code: 0 when every row
// ran, 1 when a row or a system failed, 2 for a bad command line, 130 when
// interrupted.
func run(args []string, stdout, stderr io.Writer) int {
	cfg, err := parseConfig(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "bench:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	if cfg.CPUProfile != "" {
		f, err := os.Create(cfg.CPUProfile)
		if err != nil {
			fmt.Fprintln(stderr, "bench:", err)
			return 2
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(stderr, "bench:", err)
			return 2
		}
		defer pprof.StopCPUProfile()
	}
	command := commandLine(args)
	// What the run prints goes to the terminal and, with its table, into
	// results/ as the run's .txt.
	var logged lockedBuffer
	logw := io.MultiWriter(stderr, &logged)
	fmt.Fprintf(logw, "%s\n", command)
	rep, err := compare(ctx, cfg, logw)
	if rep == nil {
		fmt.Fprintln(stderr, "bench:", err)
		return 1
	}
	m := describeMachine(cfg.RedisServer, cfg.NATSServer)
	m.WriteFsyncP50us = float64(rep.WriteFsync.Nanoseconds()) / 1e3
	m.LoopbackRTTP50us = float64(rep.LoopbackRTT.Nanoseconds()) / 1e3
	var table strings.Builder
	printTable(&table, rep, m, command)
	fmt.Fprintln(stdout)
	io.WriteString(stdout, table.String())
	if err != nil {
		fmt.Fprintln(stderr, "bench: stopped early:", err)
		return 130
	}
	if cfg.Out != "" {
		paths, err := writeResults(cfg.Out, rep, m, command, logged.String()+"\n"+table.String())
		if err != nil {
			fmt.Fprintln(stderr, "bench: writing results:", err)
			return 1
		}
		fmt.Fprintf(stdout, "\nwrote %s\n", strings.Join(paths, ", "))
	}
	if rep.Failed {
		return 1
	}
	return 0
}

// commandLine is how to run this again, for the report.
func commandLine(args []string) string {
	parts := []string{"cd bench && go run ."}
	for _, a := range args {
		if strings.ContainsAny(a, " '\"$\\") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		parts = append(parts, a)
	}
	return strings.Join(parts, " ")
}

// lockedBuffer collects the run's log; the harness's goroutines may write
// to it at once.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
