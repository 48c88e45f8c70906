package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// fakeHerald copies testdata/fake-herald into a temporary directory as an
// executable and points its argument log there.
func fakeHerald(t *testing.T) (bin, log string) {
	t.Helper()
	src, err := os.ReadFile(filepath.Join("testdata", "fake-herald"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	bin = filepath.Join(dir, "herald")
	if err := os.WriteFile(bin, src, 0o755); err != nil {
		t.Fatal(err)
	}
	log = filepath.Join(dir, "args.log")
	t.Setenv("FAKE_HERALD_LOG", log)
	return bin, log
}

// TestQuickRunComparesHeraldWithNATS is the smoke test: the quick mode,
// every workload, against NATS JetStream in this process and the fake
// herald binary, with one table printed and the CSV and JSON written.
func TestQuickRunComparesHeraldWithNATS(t *testing.T) {
	if testing.Short() {
		t.Skip("starts servers and runs every workload")
	}
	bin, argLog := fakeHerald(t)
	out := t.TempDir()
	var stdout, stderr bytes.Buffer
	code := run([]string{"--quick", "--only", "herald,nats", "--herald-bin", bin, "--out", out,
		"--max-run", "2s", "--dir", t.TempDir()}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit code %d\nstdout:\n%s\nstderr:\n%s", code, &stdout, &stderr)
	}
	table := stdout.String()
	t.Log("\n" + table)
	for _, want := range []string{"1a ", "1b ", "1c ", "1d ", "2 ", "3 ", "4 ", "5n ", "5 ",
		"fsync before ack, group commit", "fsync every 2 min (NATS default", "fsync per message (sync_interval: always)",
		"× ev/s", "× p50", "× p99", "command: cd bench && go run . --quick",
		"a bare loopback round trip between two processes takes"} {
		if !strings.Contains(table, want) {
			t.Errorf("table lacks %q", want)
		}
	}

	// Herald got one `herald bench` per row with the contract's flags.
	logged, err := os.ReadFile(argLog)
	if err != nil {
		t.Fatal(err)
	}
	calls := strings.Split(strings.TrimSpace(string(logged)), "\n")
	if len(calls) != 9 {
		t.Fatalf("herald bench ran %d times, want 9 (one per row):\n%s", len(calls), logged)
	}
	for _, c := range calls {
		if !strings.Contains(c, "--url http://127.0.0.1:7 ") || !strings.HasSuffix(c, "--json") {
			t.Errorf("herald bench call %q lacks the server's URL or --json", c)
		}
	}

	// The .txt holds what was printed; the CSV and the JSON hold the same
	// rows: 9 rows × 3 systems.
	files, _ := filepath.Glob(filepath.Join(out, "*-quick.*"))
	if len(files) != 3 {
		t.Fatalf("result files %v, want one .txt, one CSV and one JSON", files)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		switch filepath.Ext(f) {
		case ".txt":
			printed, _, _ := strings.Cut(strings.TrimSpace(table), "\nwrote ")
			if !strings.Contains(string(data), printed) || !strings.Contains(string(data), "one 4 KiB write+fdatasync here: p50") {
				t.Errorf("%s lacks the table or the runs' log:\n%s", f, data)
			}
		case ".csv":
			recs, err := csv.NewReader(bytes.NewReader(data)).ReadAll()
			if err != nil {
				t.Fatal(err)
			}
			if len(recs) != 1+9*3 {
				t.Errorf("CSV has %d lines, want a header and 27 rows", len(recs))
			}
		case ".json":
			var doc struct {
				Command string `json:"command"`
				Machine struct {
					CPUs       int     `json:"cpus"`
					LoopbackUs float64 `json:"loopback_round_trip_p50_us"`
				} `json:"machine"`
				Rows []record `json:"rows"`
			}
			if err := json.Unmarshal(data, &doc); err != nil {
				t.Fatal(err)
			}
			if len(doc.Rows) != 27 || doc.Machine.CPUs == 0 || doc.Command == "" || doc.Machine.LoopbackUs <= 0 {
				t.Errorf("JSON: %d rows, %d CPUs, command %q, loopback round trip %v µs",
					len(doc.Rows), doc.Machine.CPUs, doc.Command, doc.Machine.LoopbackUs)
			}
			for _, r := range doc.Rows {
				if r.Error != "" || r.Result.EventsPerSec <= 0 {
					t.Errorf("row %s %s (%s): events/s %v, error %q", r.Row, r.System, r.Durability, r.Result.EventsPerSec, r.Error)
				}
				if r.System != "Herald" && r.Ratio.EventsPerSec <= 0 {
					t.Errorf("row %s %s (%s) has no Herald ratio", r.Row, r.System, r.Durability)
				}
			}
		}
	}
}

func TestMissingRedisIsReportedWithTheInstallCommand(t *testing.T) {
	_, err := redisSystems(limits{}, "/nonexistent/redis-server")
	if err == nil || !strings.Contains(err.Error(), "apt-get install -y redis-server") {
		t.Fatalf("err = %v, want the install hint", err)
	}
}

func TestHeraldThatFailsToBuildIsLeftOutAndFailsTheRun(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := run([]string{"--quick", "--only", "herald", "--herald-src", t.TempDir(), "--out", ""}, &stdout, &stderr)
	if code != 1 || !strings.Contains(stdout.String(), "left out: Herald: go build") {
		t.Fatalf("exit %d, stdout:\n%s\nstderr:\n%s", code, &stdout, &stderr)
	}
}

func TestBadFlagsExitWithUsage(t *testing.T) {
	for _, args := range [][]string{
		{"--only", "kafka"}, {"--workloads", "7"}, {"--runs", "0"}, {"--batch", "0"},
		{"--max-run", "1m", "--timeout", "30s"}, {"extra"},
		{"--nats-server", filepath.Join(t.TempDir(), "nats-server")},
	} {
		var stdout, stderr bytes.Buffer
		if code := run(args, &stdout, &stderr); code != 2 {
			t.Errorf("run(%q) = %d, want 2; stderr: %s", args, code, &stderr)
		}
	}
}

// scriptedSystem is a system whose runs return the next of its results
// (an error for a nil entry) and record their order in *order.
type scriptedSystem struct {
	name    string
	results []*result
	order   *[]string
	cancel  func() // if set, called when the results run out
}

func (s *scriptedSystem) Kind() string       { return s.name }
func (s *scriptedSystem) Label() string      { return s.name }
func (s *scriptedSystem) Durability() string { return "d" }
func (s *scriptedSystem) Run(ctx context.Context, dir string, r row) (result, error) {
	*s.order = append(*s.order, s.name)
	next := s.results[0]
	s.results = s.results[1:]
	if len(s.results) == 0 && s.cancel != nil {
		s.cancel()
	}
	if next == nil {
		return result{}, errors.New("boom")
	}
	return *next, nil
}

func TestRunsOfARowAreInterleavedAcrossSystems(t *testing.T) {
	eps := func(v float64) *result { return &result{EventsPerSec: v} }
	var order []string
	a := &scriptedSystem{name: "a", results: []*result{eps(1), eps(5), eps(3)}, order: &order}
	b := &scriptedSystem{name: "b", results: []*result{eps(10), nil, eps(30)}, order: &order}
	c := &scriptedSystem{name: "c", results: []*result{nil, nil, nil}, order: &order}
	cfg := Config{Runs: 3, Timeout: time.Minute}
	var log strings.Builder
	lines := runRow(context.Background(), cfg, t.TempDir(), row{ID: "1a"}, []system{a, b, c}, &log)
	if got := strings.Join(order, ""); got != "abcabcabc" {
		t.Errorf("runs ran in the order %s, want abcabcabc", got)
	}
	if len(lines) != 3 {
		t.Fatalf("%d lines, want 3", len(lines))
	}
	if l := lines[0]; l.Label != "a" || l.Result.EventsPerSec != 3 || len(l.Runs) != 3 || l.Err != "" {
		t.Errorf("a: %+v, want the median 3 of three runs", l)
	}
	if l := lines[1]; l.Result.EventsPerSec != 10 || !strings.Contains(l.Result.Note, "1 of 3 runs failed: boom") {
		t.Errorf("b: %+v, want the median of its two runs (the lower) and a note of the failure", l)
	}
	if l := lines[2]; l.Err != "boom" || len(l.Runs) != 0 {
		t.Errorf("c: %+v, want the error", l)
	}
	if !strings.Contains(log.String(), "1a  b") || strings.Count(log.String(), "\n") != 9 {
		t.Errorf("log, one line per run:\n%s", log.String())
	}
}

func TestAnInterruptedRowKeepsTheSystemsThatRan(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var order []string
	a := &scriptedSystem{name: "a", results: []*result{{EventsPerSec: 7}}, order: &order, cancel: cancel}
	b := &scriptedSystem{name: "b", results: []*result{{EventsPerSec: 9}}, order: &order}
	lines := runRow(ctx, Config{Runs: 3, Timeout: time.Minute}, t.TempDir(), row{ID: "3"}, []system{a, b}, io.Discard)
	if len(order) != 1 || len(lines) != 1 || lines[0].Label != "a" || lines[0].Result.EventsPerSec != 7 {
		t.Fatalf("ran %v, lines %+v; want a's one run only", order, lines)
	}
}
