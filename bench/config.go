package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Config is everything one harness run is told. Flags fill it; defaults
// come from defaultConfig or, with --quick, quickConfig.
type Config struct {
	Quick     bool     // small counts for a smoke run
	Runs      int      // repetitions of each row; the median is reported
	Only      []string // systems to run: herald, nats, redis
	Workloads []int    // workloads to run: 1 to 5

	Batch         int // events per batch / async window / pipeline
	Rate          int // events/s for the end-to-end latency workload
	Subscriptions int // subscriptions in the fan-out workload

	PublishEvents int // workload 1, per row (split between producers)
	SyncEvents    int // workload 2
	ConsumeEvents int // workload 3
	E2EEvents     int // workload 4
	FanOutEvents  int // workload 5, events published (each is delivered Subscriptions times)

	MaxRun  time.Duration // a producer stops sending after this long, whatever its count
	Timeout time.Duration // one run (one row, one system, one repetition) is abandoned after this long

	Dir       string // parent of the temporary data directories
	Out       string // directory for the CSV and JSON results ("" = do not write)
	HeraldSrc string // Herald's repository root, built with go build
	HeraldBin string // a prebuilt herald binary; skips the build
	// HeraldPartitions is the partition count of Herald's bench topic: 1
	// by default, one ordered log like the NATS stream and the Redis stream.
	HeraldPartitions int
	RedisServer      string // redis-server executable (looked up on PATH)
	// NATSServer, when set, is a nats-server executable: NATS then runs as
	// its own process instead of in the harness's.
	NATSServer string
	CPUProfile string // write a CPU profile of the harness process here
}

var allSystems = []string{"herald", "nats", "redis"}

func defaultConfig() Config {
	return Config{
		Runs:             3,
		Only:             allSystems,
		Workloads:        []int{1, 2, 3, 4, 5},
		Batch:            100,
		Rate:             50_000,
		Subscriptions:    10,
		PublishEvents:    200_000,
		SyncEvents:       5_000,
		ConsumeEvents:    100_000,
		E2EEvents:        150_000, // 3 s at 50,000/s
		FanOutEvents:     20_000,  // 200,000 deliveries with 10 subscriptions
		MaxRun:           15 * time.Second,
		Timeout:          3 * time.Minute,
		Out:              "results",
		HeraldSrc:        "..",
		HeraldPartitions: 1,
		RedisServer:      "redis-server",
	}
}

// quickConfig is the smoke run: every row, one repetition, small counts.
func quickConfig() Config {
	c := defaultConfig()
	c.Quick = true
	c.Runs = 1
	c.PublishEvents = 20_000
	c.SyncEvents = 500
	c.ConsumeEvents = 20_000
	c.E2EEvents = 25_000 // 0.5 s at 50,000/s
	c.FanOutEvents = 5_000
	c.MaxRun = 3 * time.Second
	c.Timeout = 30 * time.Second
	return c
}

// parseConfig reads the command line. --quick picks the defaults the other
// flags then change, wherever it stands on the line.
func parseConfig(args []string, stderr io.Writer) (Config, error) {
	c := defaultConfig()
	if slices.Contains(args, "--quick") || slices.Contains(args, "-quick") ||
		slices.Contains(args, "--quick=true") || slices.Contains(args, "-quick=true") {
		c = quickConfig()
	}
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: go run . [flags]   (from bench/)")
		fmt.Fprintln(stderr, "Compares Herald with NATS JetStream and Redis Streams on this machine; see README.md.")
		fs.PrintDefaults()
	}
	fs.BoolVar(&c.Quick, "quick", c.Quick, "smoke run: one repetition, small counts, under a minute")
	fs.IntVar(&c.Runs, "runs", c.Runs, "repetitions of each row; the median is reported")
	only := fs.String("only", strings.Join(c.Only, ","), "systems to run, comma-separated: herald,nats,redis")
	workloads := fs.String("workloads", joinInts(c.Workloads), "workloads to run, comma-separated: 1,2,3,4,5")
	fs.IntVar(&c.Batch, "batch", c.Batch, "events per batch: Herald --batch, NATS async window, Redis pipeline, consumer fetch size")
	fs.IntVar(&c.Rate, "rate", c.Rate, "events/s offered in the end-to-end latency workload (4)")
	fs.IntVar(&c.Subscriptions, "subscriptions", c.Subscriptions, "subscriptions in the fan-out workload (5)")
	fs.IntVar(&c.PublishEvents, "publish-events", c.PublishEvents, "events per publish-throughput row (1)")
	fs.IntVar(&c.SyncEvents, "sync-events", c.SyncEvents, "events in the synchronous publish row (2)")
	fs.IntVar(&c.ConsumeEvents, "consume-events", c.ConsumeEvents, "events in the consume row (3)")
	fs.IntVar(&c.E2EEvents, "e2e-events", c.E2EEvents, "events in the end-to-end latency row (4)")
	fs.IntVar(&c.FanOutEvents, "fanout-events", c.FanOutEvents, "events published in the fan-out row (5)")
	fs.DurationVar(&c.MaxRun, "max-run", c.MaxRun, "a producer stops sending after this long (slow systems report what they did)")
	fs.DurationVar(&c.Timeout, "timeout", c.Timeout, "one run is abandoned after this long")
	fs.StringVar(&c.Dir, "dir", c.Dir, "parent directory for the data directories (default: the system temp dir; must be a real disk, not tmpfs)")
	fs.StringVar(&c.Out, "out", c.Out, "directory for the CSV and JSON results (empty: do not write them)")
	fs.StringVar(&c.HeraldSrc, "herald-src", c.HeraldSrc, "Herald's repository root, to build cmd/herald from")
	fs.StringVar(&c.HeraldBin, "herald-bin", c.HeraldBin, "use this herald binary instead of building one")
	fs.IntVar(&c.HeraldPartitions, "herald-partitions", c.HeraldPartitions, "partitions of Herald's bench topic (1 = one ordered log, like the peers' one stream)")
	fs.StringVar(&c.RedisServer, "redis-server", c.RedisServer, "redis-server executable")
	fs.StringVar(&c.NATSServer, "nats-server", c.NATSServer, "run NATS as its own process from this nats-server executable (build it here with: go build -o nats-server github.com/nats-io/nats-server/v2); default: in this process")
	fs.StringVar(&c.CPUProfile, "cpuprofile", c.CPUProfile, "write a CPU profile of this process (its load generators and the in-process NATS server) to this file")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	c.Only = splitList(*only)
	ws, err := parseInts(*workloads)
	if err != nil {
		return c, fmt.Errorf("--workloads: %w", err)
	}
	c.Workloads = ws
	return c, c.Validate()
}

// Validate reports every setting that cannot work, naming its flag.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if c.Runs < 1 || c.Runs > 100 {
		bad("--runs %d: use 1 to 100", c.Runs)
	}
	if len(c.Only) == 0 {
		bad("--only: name at least one of %s", strings.Join(allSystems, ","))
	}
	for _, s := range c.Only {
		if !slices.Contains(allSystems, s) {
			bad("--only: unknown system %q: use %s", s, strings.Join(allSystems, ","))
		}
	}
	if len(c.Workloads) == 0 {
		bad("--workloads: name at least one of 1,2,3,4,5")
	}
	for _, w := range c.Workloads {
		if w < 1 || w > 5 {
			bad("--workloads: %d is not a workload: use 1 to 5", w)
		}
	}
	if c.Batch < 1 || c.Batch > 10_000 {
		bad("--batch %d: use 1 to 10000", c.Batch)
	}
	if c.Rate < 1 || c.Rate > 1_000_000 {
		bad("--rate %d: use 1 to 1000000", c.Rate)
	}
	if c.Subscriptions < 1 || c.Subscriptions > 100 {
		bad("--subscriptions %d: use 1 to 100", c.Subscriptions)
	}
	for name, n := range map[string]int{"--publish-events": c.PublishEvents, "--sync-events": c.SyncEvents,
		"--consume-events": c.ConsumeEvents, "--e2e-events": c.E2EEvents, "--fanout-events": c.FanOutEvents} {
		if n < 10 || n > 100_000_000 {
			bad("%s %d: use 10 to 100000000", name, n)
		}
	}
	if c.HeraldPartitions < 1 || c.HeraldPartitions > 1024 {
		bad("--herald-partitions %d: use 1 to 1024", c.HeraldPartitions)
	}
	if c.MaxRun <= 0 || c.Timeout <= 0 {
		bad("--max-run and --timeout must be positive")
	}
	if c.NATSServer != "" && slices.Contains(c.Only, "nats") {
		if _, err := exec.LookPath(c.NATSServer); err != nil {
			bad("--nats-server %s: %v; build it here with: go build -o nats-server github.com/nats-io/nats-server/v2", c.NATSServer, err)
		}
	}
	if c.MaxRun >= c.Timeout {
		bad("--max-run %v must be shorter than --timeout %v, to leave time to drain", c.MaxRun, c.Timeout)
	}
	return errors.Join(errs...)
}

func (c Config) runs(system string) bool { return slices.Contains(c.Only, system) }

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, strings.ToLower(f))
		}
	}
	return out
}

func parseInts(s string) ([]int, error) {
	var out []int
	for _, f := range splitList(s) {
		n, err := strconv.Atoi(f)
		if err != nil {
			return nil, fmt.Errorf("%q is not a number", f)
		}
		out = append(out, n)
	}
	return out, nil
}

func joinInts(ns []int) string {
	s := make([]string, len(ns))
	for i, n := range ns {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, ",")
}
