package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"
)

// line is one row of the table: one row of the plan on one system, with
// the median of its runs.
type line struct {
	Row        row
	Kind       string // herald, nats, redis
	Label      string
	Durability string
	Result     result   // median of the successful runs
	Runs       []result // every successful run
	Err        string   // why no run succeeded, if none did
	Ratio      ratio    // Herald ÷ this system; zero for Herald's own lines
}

// report is everything one harness run measured.
type report struct {
	Started  time.Time
	Finished time.Time
	Config   Config
	Lines    []line
	Skipped  []string // systems left out, and why
	Failed   bool     // a system could not be set up or a run failed
	// WriteFsync is one 4 KiB write+fdatasync in the data directory,
	// measured just before row 2 (measureWriteFsync): the disk's speed at
	// the moment the sync-publish row runs, which it is compared with.
	WriteFsync time.Duration
	// LoopbackRTT is one round trip over TCP on 127.0.0.1 between two
	// processes, measured right after WriteFsync
	// (measureLoopbackRoundTrip): the operating system's floor for a
	// client and a server on one machine, which a sync publish pays on top
	// of its fsync.
	LoopbackRTT time.Duration
}

// compare runs every selected row on every selected system, cfg.Runs
// times each (interleaved: runRow), and returns the medians. Progress
// goes to logw. Every run gets a fresh server and data directory under a
// temporary directory that compare removes before it returns.
func compare(ctx context.Context, cfg Config, logw io.Writer) (*report, error) {
	rep := &report{Started: time.Now(), Config: cfg}
	work, err := os.MkdirTemp(cfg.Dir, "herald-bench-")
	if err != nil {
		return nil, fmt.Errorf("temporary directory: %w (set --dir)", err)
	}
	defer os.RemoveAll(work)
	if onTmpfs(work) {
		fmt.Fprintf(logw, "warning: %s is on tmpfs, where fsync is free: durability costs will not show; use --dir on a disk\n", work)
	}

	systems := setUp(ctx, cfg, work, rep, logw)
	rows := plan(cfg)
	for _, r := range rows {
		if r.Workload == 2 && rep.WriteFsync == 0 {
			if d, err := measureWriteFsync(work, 2000); err == nil {
				rep.WriteFsync = d
				fmt.Fprintf(logw, "one 4 KiB write+fdatasync here: p50 %d µs\n", d.Microseconds())
			} else {
				fmt.Fprintln(logw, "measuring write+fdatasync:", err)
			}
			if d, err := measureLoopbackRoundTrip(ctx, 2000); err == nil {
				rep.LoopbackRTT = d
				fmt.Fprintf(logw, "loopback round trip between two processes here: p50 %d µs\n", d.Microseconds())
			} else {
				fmt.Fprintln(logw, "measuring the loopback round trip:", err)
			}
		}
		for _, ln := range runRow(ctx, cfg, work, r, systems, logw) {
			if ln.Err != "" {
				rep.Failed = true
			}
			rep.Lines = append(rep.Lines, ln)
		}
		if ctx.Err() != nil {
			return rep, ctx.Err()
		}
	}
	computeRatios(rep.Lines)
	rep.Finished = time.Now()
	return rep, nil
}

// setUp returns the systems to compare, in table order, building Herald
// if needed. A system that cannot be set up is reported and left out.
func setUp(ctx context.Context, cfg Config, work string, rep *report, logw io.Writer) []system {
	lim := limits{maxRun: cfg.MaxRun}
	var systems []system
	if cfg.runs("herald") {
		bin := cfg.HeraldBin
		if bin == "" {
			fmt.Fprintf(logw, "building herald from %s ...\n", cfg.HeraldSrc)
			b, err := buildHerald(ctx, cfg.HeraldSrc, work)
			if err != nil {
				rep.Skipped = append(rep.Skipped, "Herald: "+err.Error())
				rep.Failed = true
				fmt.Fprintln(logw, "Herald left out:", err)
			}
			bin = b
		}
		if bin != "" {
			systems = append(systems, &heraldSystem{bin: bin, partitions: cfg.HeraldPartitions})
		}
	}
	if cfg.runs("nats") {
		systems = append(systems, natsSystems(lim, cfg.NATSServer)...)
	}
	if cfg.runs("redis") {
		rs, err := redisSystems(lim, cfg.RedisServer)
		if err != nil {
			rep.Skipped = append(rep.Skipped, err.Error())
			fmt.Fprintln(logw, err)
			if !errors.Is(err, errRedisMissing) {
				rep.Failed = true
			}
		}
		systems = append(systems, rs...)
	}
	return systems
}

// runRow runs one row cfg.Runs times on every system, interleaved: each
// repetition runs every system once, in table order, so that the
// machine's drift within the row (on this VM a row's rate can change by a
// third within seconds) reaches every system alike, where running one
// system's repetitions back to back gave it to whichever ran then. It
// returns one line per system, in table order; if ctx ends, the lines of
// the systems that ran at least once.
func runRow(ctx context.Context, cfg Config, work string, r row, systems []system, logw io.Writer) []line {
	lines := make([]line, len(systems))
	errs := make([][]string, len(systems))
	for j, sys := range systems {
		lines[j] = line{Row: r, Kind: sys.Kind(), Label: sys.Label(), Durability: sys.Durability()}
	}
	for i := range cfg.Runs {
		for j, sys := range systems {
			if ctx.Err() != nil {
				break
			}
			res, err := runOnce(ctx, cfg, work, r, sys)
			if err != nil {
				errs[j] = append(errs[j], err.Error())
				fmt.Fprintf(logw, "%-3s %-15s %-45s run %d/%d: FAILED: %v\n", r.ID, sys.Label(), sys.Durability(), i+1, cfg.Runs, err)
				continue
			}
			lines[j].Runs = append(lines[j].Runs, res)
			fmt.Fprintf(logw, "%-3s %-15s %-45s run %d/%d: %s events/s, p50 %s µs, p99 %s µs\n", r.ID, sys.Label(), sys.Durability(),
				i+1, cfg.Runs, formatCount(res.EventsPerSec), formatMicros(res.P50us), formatMicros(res.P99us))
		}
	}
	var out []line
	for j, ln := range lines {
		switch {
		case len(ln.Runs) > 0:
			ln.Result = median(ln.Runs)
			if n := len(errs[j]); n > 0 {
				ln.Result.Note = joinNotes(ln.Result.Note, fmt.Sprintf("%d of %d runs failed: %s", n, cfg.Runs, errs[j][0]))
			}
		case len(errs[j]) > 0:
			ln.Err = errs[j][0]
		default:
			continue // interrupted before it ran
		}
		out = append(out, ln)
	}
	return out
}

// runOnce runs r once on sys with a fresh data directory, within
// cfg.Timeout.
func runOnce(ctx context.Context, cfg Config, work string, r row, sys system) (result, error) {
	dir, err := os.MkdirTemp(work, sys.Kind()+"-")
	if err != nil {
		return result{}, err
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	res, err := sys.Run(ctx, dir, r)
	if err == nil && r.Rate > 0 && res.EventsPerSec < 0.95*float64(r.Rate) {
		res.Note = joinNotes(res.Note, fmt.Sprintf("saturated: delivered %.0f/s of %d/s offered", res.EventsPerSec, r.Rate))
	}
	return res, err
}

func joinNotes(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	}
	return a + "; " + b
}
