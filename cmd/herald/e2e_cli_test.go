package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/gcpolicy"
)

// cli runs the herald binary as a CLI against p and returns stdout,
// stderr and the exit code.
func (p *proc) cli(stdin string, args ...string) (string, string, int) {
	p.t.Helper()
	return runHerald(p.t, stdin, append(args, "--url", p.url)...)
}

// runHerald runs the herald binary with args and returns stdout, stderr
// and the exit code.
func runHerald(t *testing.T, stdin string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(heraldBin, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), errb.String(), code
}

// The CLI, end to end against a real server: topics, publish, tail,
// subscriptions, consume with reject, dead letters and redrive, errors.
func TestE2ECLI(t *testing.T) {
	p := startServer(t, t.TempDir())
	run := func(stdin string, args ...string) string {
		t.Helper()
		out, errOut, code := p.cli(stdin, args...)
		if code != 0 {
			t.Fatalf("herald %v: exit %d\nstdout: %s\nstderr: %s", args, code, out, errOut)
		}
		return out
	}
	run("", "topics", "create", "orders", "--partitions", "2")
	if out := run("", "topics", "ls", "--json"); !strings.Contains(out, `"orders"`) {
		t.Fatalf("topics ls: %s", out)
	}
	run("", "subs", "create", "orders", "billing", "--start", "earliest", "--max-deliveries", "1")
	run("", "publish", "orders", "--type", "OrderPlaced", "--key", "c7", "--data", `{"total":12}`)
	run("one\ntwo\n", "publish", "orders", "--type", "Line", "--stdin-lines")

	tail := run("", "tail", "orders", "--from", "earliest", "--follow=false", "--json")
	if n := strings.Count(strings.TrimSpace(tail), "\n") + 1; n != 3 {
		t.Fatalf("tail printed %d events, want 3:\n%s", n, tail)
	}
	// Reject everything: with max 1 delivery they become dead letters.
	run("", "consume", "orders", "billing", "--count", "3", "--ack", "reject")
	var dl struct {
		DeadLetters []struct{ ID int64 }
	}
	for i := 0; i < 50 && len(dl.DeadLetters) < 3; i++ {
		json.Unmarshal([]byte(run("", "dlq", "ls", "orders", "billing", "--json")), &dl)
	}
	if len(dl.DeadLetters) != 3 {
		t.Fatalf("dlq ls shows %d dead letters, want 3", len(dl.DeadLetters))
	}
	run("", "dlq", "redrive", "orders", "billing", "--all")
	if out := run("", "consume", "orders", "billing", "--count", "3", "--json"); strings.Count(out, "\n") < 3 {
		t.Fatalf("after redrive consume printed:\n%s", out)
	}
	// Errors: a one-line reason and a non-zero exit.
	_, errOut, code := p.cli("", "topics", "describe", "nope")
	if code != 1 || strings.Count(strings.TrimSpace(errOut), "\n") != 0 || !strings.Contains(errOut, "nope") {
		t.Fatalf("describe of an unknown topic: exit %d, stderr %q", code, errOut)
	}
	if _, errOut, code := p.cli("", "publish"); code != 2 || errOut == "" {
		t.Fatalf("publish without a topic: exit %d, stderr %q", code, errOut)
	}
}

// herald tail follows only when a person watches: with its output thrown
// away into /dev/null (a character device, not a terminal) it prints what
// is stored and exits, as into a pipe or a file.
func TestE2ETailIntoDevNullEnds(t *testing.T) {
	p := startServer(t, t.TempDir())
	if out, errOut, code := p.cli("", "publish", "t", "--type", "x", "--data", "1"); code != 0 {
		t.Fatalf("publish: exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	devNull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer devNull.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, heraldBin, "tail", "t", "--from", "earliest", "--url", p.url)
	var errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = devNull, &errb
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			t.Fatalf("herald tail into /dev/null was still following after 20 s; stderr: %s", errb.String())
		}
		t.Fatalf("herald tail into /dev/null: %v; stderr: %s", err, errb.String())
	}
}

// herald serve runs its GC policy (internal/gcpolicy) unless the operator
// set GOGC, and with it has touched the policy's headroom by the time it
// is ready: its resident memory holds it (where /proc tells).
func TestServeRunsItsGCPolicyUnlessGOGCIsSet(t *testing.T) {
	const line = "garbage collection: GOGC adapts to the live heap"
	tests := []struct {
		gogc   string
		policy bool
	}{
		{"", true},
		{"50", false},
	}
	for _, tt := range tests {
		t.Run("GOGC="+tt.gogc, func(t *testing.T) {
			t.Setenv("GOGC", tt.gogc) // the server inherits the environment
			p := startServer(t, t.TempDir(), "--log-level", "debug")
			logs := p.logs()
			if got := strings.Contains(logs, line) && strings.Contains(logs, "gogc=400"); got != tt.policy {
				t.Fatalf("policy reported: %v, want %v; logs:\n%s", got, tt.policy, logs)
			}
			if rss, ok := residentBytes(p.cmd.Process.Pid); ok && tt.policy && rss < gcpolicy.MaxHeadroom {
				t.Errorf("the ready server holds %d MiB resident, less than the %d MiB headroom it touches at start",
					rss>>20, gcpolicy.MaxHeadroom>>20)
			}
			p.stop()
		})
	}
}

// residentBytes is process pid's resident memory, from /proc.
func residentBytes(pid int) (int64, bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/statm", pid))
	if err != nil {
		return 0, false
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0, false
	}
	pages, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil {
		return 0, false
	}
	return pages * int64(os.Getpagesize()), true
}

// HERALD_CPUPROFILE, HERALD_MEMPROFILE and HERALD_TRACE each make a
// command write its file, in the format its reader expects; a path that
// cannot be created is an error before the command runs.
func TestProfilingVariablesWriteTheirFiles(t *testing.T) {
	tests := []struct {
		env   string
		magic string // how the file starts
	}{
		{"HERALD_CPUPROFILE", "\x1f\x8b"}, // gzipped protobuf, for go tool pprof
		{"HERALD_MEMPROFILE", "\x1f\x8b"},
		{"HERALD_TRACE", "go 1."}, // for go tool trace
	}
	for _, tt := range tests {
		t.Run(tt.env, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "out")
			cmd := exec.Command(heraldBin, "bench", "publish", "--data", t.TempDir(), "--events", "200", "--batch", "10")
			cmd.Env = append(os.Environ(), tt.env+"="+path)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("herald bench with %s: %v\n%s", tt.env, err, out)
			}
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.HasPrefix(b, []byte(tt.magic)) {
				t.Fatalf("%s wrote %d bytes starting %q, want %q", tt.env, len(b), b[:min(len(b), 8)], tt.magic)
			}

			bad := exec.Command(heraldBin, "version")
			bad.Env = append(os.Environ(), tt.env+"="+filepath.Join(t.TempDir(), "missing", "out"))
			out, err := bad.CombinedOutput()
			if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 || !strings.Contains(string(out), tt.env) {
				t.Fatalf("unwritable %s: err %v, output %q; want exit 2 naming the variable", tt.env, err, out)
			}
		})
	}
}

// Every command answers --help with its usage on stdout and status 0, and
// a bad flag with the usage on stderr and status 2: serve and bench as the
// CLI's commands do.
func TestHelpExitsZeroAndABadFlagTwo(t *testing.T) {
	for _, tt := range []struct {
		args []string
		code int
		want string // in stdout for 0, in stderr for 2
	}{
		{[]string{"serve", "--help"}, 0, "usage: herald serve [flags]"},
		{[]string{"bench", "--help"}, 0, "usage: herald bench publish|consume|e2e"},
		{[]string{"bench", "publish", "--help"}, 0, "usage: herald bench publish [flags]"},
		{[]string{"topics", "--help"}, 0, "usage: herald topics"},
		{[]string{"serve", "--nope"}, 2, "usage: herald serve [flags]"},
		{[]string{"bench", "publish", "--nope"}, 2, "flag provided but not defined: -nope"},
	} {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			stdout, stderr, code := runHerald(t, "", tt.args...)
			got, other, where := stdout, stderr, "stdout"
			if tt.code != 0 {
				got, other, where = stderr, stdout, "stderr"
			}
			if code != tt.code || !strings.Contains(got, tt.want) || other != "" {
				t.Errorf("exit %d (want %d)\nstdout: %s\nstderr: %s\nwant %q on %s only", code, tt.code, stdout, stderr, tt.want, where)
			}
		})
	}
}
