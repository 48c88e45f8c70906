package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Herald is measured as a user would run it: the real binary, `herald
// serve` on a loopback port with a fresh data directory per run, loaded by
// `herald bench`, the load generator built into the same binary, over
// loopback. The harness only starts them and reads the last line of
// `herald bench --json`.
type heraldSystem struct {
	bin        string
	partitions int // of the bench topic
}

func (h *heraldSystem) Kind() string  { return "herald" }
func (h *heraldSystem) Label() string { return "Herald" }
func (h *heraldSystem) Durability() string {
	return "fsync before ack, group commit (--sync always)"
}

// buildHerald compiles cmd/herald from the repository at src into dir.
func buildHerald(ctx context.Context, src, dir string) (string, error) {
	bin := filepath.Join(dir, "herald")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/herald")
	cmd.Dir = src
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build ./cmd/herald in %s: %w\n%s", src, err, out)
	}
	return bin, nil
}

// heraldReady matches the line `herald serve` logs when it listens.
var heraldReady = regexp.MustCompile(`herald is ready.*\blisten=(\S+)`)

func (h *heraldSystem) Run(ctx context.Context, dir string, r row) (result, error) {
	srv, err := startHerald(ctx, h.bin, dir)
	if err != nil {
		return result{}, err
	}
	defer srv.close()
	args := heraldBenchArgs(r, "http://"+srv.addr, h.partitions)
	cmd := exec.CommandContext(ctx, h.bin, args...)
	var stdout bytes.Buffer
	stderr := &lineTail{}
	cmd.Stdout = &stdout
	cmd.Stderr = tailWriter{stderr}
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Run(); err != nil {
		return result{}, fmt.Errorf("herald %s: %w\n%s", strings.Join(args, " "), err, stderr)
	}
	res, err := parseHeraldBench(stdout.Bytes())
	if err != nil {
		return result{}, fmt.Errorf("herald %s: %w", strings.Join(args, " "), err)
	}
	return res, nil
}

// heraldBenchArgs is the `herald bench` command line for one row. Counts
// are the measured events, and the row's warm-up goes before the clock as
// it does for the peers (--warmup).
func heraldBenchArgs(r row, url string, partitions int) []string {
	n := strconv.Itoa
	args := []string{"bench"}
	switch r.Workload {
	case 1, 2, 5:
		args = append(args, "publish")
	case 3:
		args = append(args, "consume")
	case 4:
		args = append(args, "e2e")
	}
	args = append(args, "--url", url, "--topic", "bench", "--partitions", n(partitions),
		"--size", n(r.Size), "--events", n(r.Events), "--warmup", n(r.Warmup))
	switch r.Workload {
	case 1:
		args = append(args, "--producers", n(r.Producers), "--batch", n(r.Batch))
	case 2:
		args = append(args, "--producers", "1", "--batch", "1", "--sync")
	case 3:
		args = append(args, "--consumers", "1", "--batch", n(r.Batch))
	case 4:
		args = append(args, "--rate", n(r.Rate))
	case 5:
		args = append(args, "--producers", "1", "--batch", n(r.Batch), "--subscriptions", n(r.Subs))
	}
	return append(args, "--json")
}

// parseHeraldBench reads the result from the last non-empty line of
// `herald bench --json` output.
func parseHeraldBench(out []byte) (result, error) {
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	last := strings.TrimSpace(lines[len(lines)-1])
	if last == "" {
		return result{}, errors.New("printed nothing; expected a JSON result line")
	}
	var raw map[string]any
	if err := json.Unmarshal([]byte(last), &raw); err != nil {
		return result{}, fmt.Errorf("last line is not a JSON object: %w: %q", err, last)
	}
	num := func(key string, required bool) (float64, error) {
		v, ok := raw[key]
		if !ok {
			if required {
				return 0, fmt.Errorf("result has no %q: %s", key, last)
			}
			return 0, nil
		}
		f, ok := v.(float64)
		if !ok {
			return 0, fmt.Errorf("result %q is %v, not a number", key, v)
		}
		return f, nil
	}
	var res result
	var errs []error
	for _, f := range []struct {
		key      string
		dst      *float64
		required bool
	}{
		{"events_per_sec", &res.EventsPerSec, true}, {"mib_per_sec", &res.MiBPerSec, true},
		{"p50_us", &res.P50us, true}, {"p90_us", &res.P90us, true},
		{"p99_us", &res.P99us, true}, {"p999_us", &res.P999us, true},
		{"publish_events_per_sec", &res.PublishEventsPerSec, false}, {"seconds", &res.Seconds, false},
	} {
		v, err := num(f.key, f.required)
		errs = append(errs, err)
		*f.dst = v
	}
	events, err := num("events", false)
	errs = append(errs, err)
	res.Events = int64(events)
	return res, errors.Join(errs...)
}

// heraldServer is a `herald serve` child process.
type heraldServer struct {
	cmd    *exec.Cmd
	addr   string
	exited chan struct{} // closed when its stderr ends
}

// startHerald runs `herald serve` with its data in dir on a free loopback
// port and waits for its ready line, which names the address.
func startHerald(ctx context.Context, bin, dir string) (*heraldServer, error) {
	cmd := exec.Command(bin, "serve", "--data", filepath.Join(dir, "data"),
		"--listen", "127.0.0.1:0", "--sync", "always")
	errPipe, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start herald serve: %w", err)
	}
	s := &heraldServer{cmd: cmd, exited: make(chan struct{})}
	var addr string // written before ready is closed
	ready, tail := watchChild(errPipe, s.exited, func(line string) bool {
		m := heraldReady.FindStringSubmatch(line)
		if m != nil {
			addr = strings.Trim(m[1], `"`)
		}
		return m != nil
	})
	if err := awaitReady(ctx, "herald serve", ready, s.exited, 30*time.Second, tail, s.close); err != nil {
		return nil, err
	}
	s.addr = addr
	return s, nil
}

// close stops the server gracefully (SIGTERM), killing it after 30 s.
func (s *heraldServer) close() {
	stopProcess(s.cmd, s.exited, syscall.SIGTERM, 30*time.Second)
}

// tailWriter keeps the last lines written to it.
type tailWriter struct{ t *lineTail }

func (w tailWriter) Write(p []byte) (int, error) {
	for _, line := range strings.Split(strings.TrimRight(string(p), "\n"), "\n") {
		w.t.add(line)
	}
	return len(p), nil
}
