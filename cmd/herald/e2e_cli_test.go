package main

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
)

// cli runs the herald binary as a CLI against p and returns stdout,
// stderr and the exit code.
func (p *proc) cli(stdin string, args ...string) (string, string, int) {
	p.t.Helper()
	cmd := exec.Command(heraldBin, append(args, "--url", p.url)...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		p.t.Fatal(err)
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

// herald serve runs its GC policy (internal/gcpolicy) unless the operator
// set GOGC.
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
			p.stop()
		})
	}
}
