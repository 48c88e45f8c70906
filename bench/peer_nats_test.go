package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// buildNATSServer builds nats-server from this module's nats-server/v2
// (the version go.mod pins) into a temporary directory, as
// docs/PERFORMANCE.md tells a user to for --nats-server.
func buildNATSServer(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "nats-server")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/nats-io/nats-server/v2").CombinedOutput()
	if err != nil {
		t.Fatalf("go build nats-server: %v\n%s", err, out)
	}
	return bin
}

// TestNATSRunsAsItsOwnProcess checks --nats-server's server: a child
// process that stores the stream in the run's directory, takes a publish,
// and is gone once closed; and a clear error from an executable that is
// not nats-server.
func TestNATSRunsAsItsOwnProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and starts nats-server")
	}
	bin := buildNATSServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, always := range []bool{false, true} {
		dir := t.TempDir()
		b, err := startNATSProcess(ctx, bin, dir, always)
		if err != nil {
			t.Fatal(err)
		}
		if b.srv != nil || b.cmd == nil || b.cmd.Process.Pid == os.Getpid() {
			t.Fatalf("always=%v: the server is not a child process", always)
		}
		nc, err := b.connect("test")
		if err != nil {
			b.close()
			t.Fatal(err)
		}
		js, err := jetstream.New(nc)
		if err == nil {
			_, err = js.Publish(ctx, natsSubject, []byte("x"))
		}
		nc.Close()
		if err != nil {
			b.close()
			t.Fatalf("always=%v: publish: %v", always, err)
		}
		conf, err := os.ReadFile(filepath.Join(dir, "nats-server.conf"))
		if err != nil {
			b.close()
			t.Fatal(err)
		}
		if got := strings.Contains(string(conf), "sync_interval: always"); got != always {
			t.Errorf("always=%v: configuration file has sync_interval: always %v:\n%s", always, got, conf)
		}
		if _, err := os.Stat(filepath.Join(dir, "jetstream")); err != nil {
			t.Errorf("always=%v: the store is not in the run's directory: %v", always, err)
		}
		b.close()
		select {
		case <-b.exited:
		default:
			t.Errorf("always=%v: close returned before nats-server exited", always)
		}
	}

	for _, tc := range []struct{ name, bin, want string }{
		{"exits at once", "false", "exited before it was ready"},
		{"missing", filepath.Join(t.TempDir(), "nats-server"), "go build -o nats-server github.com/nats-io/nats-server/v2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bin := tc.bin
			if p, err := exec.LookPath(bin); err == nil {
				bin = p
			}
			b, err := startNATSProcess(ctx, bin, t.TempDir(), false)
			if err == nil {
				b.close()
				t.Fatalf("%s started as nats-server", bin)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not say %q", err, tc.want)
			}
		})
	}
}

// TestNATSConsumerHoldsTwoFetchesUnhandled checks the window the harness
// gives a NATS consumer: with its handler stuck on the first message, the
// server hands out natsConsumeWindow(fetch) messages and no more: the
// prefetch of Herald's subscriber in `herald bench` (loadgen.Prefetch, two
// fetches' worth).
func TestNATSConsumerHoldsTwoFetchesUnhandled(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a server")
	}
	const fetch = 10
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := startNATS(ctx, t.TempDir(), false)
	if err != nil {
		t.Fatal(err)
	}
	defer b.close()
	sub, stop := subscribeStuck(ctx, t, b, fetch)
	defer stop()

	cons := sub.(*natsSubscription).cons
	awaitWindow(ctx, t, natsConsumeWindow(fetch), func() (int, error) {
		info, err := cons.Info(ctx)
		if err != nil {
			return 0, fmt.Errorf("consumer info: %w", err)
		}
		return info.NumAckPending, nil
	})
}

// subscribeStuck publishes ten reads' worth of events to b and subscribes
// with reads of fetch and a handler stuck on the first event: what the
// subscription then holds read and not yet handled is its window. stop
// releases the handler and closes the subscription.
func subscribeStuck(ctx context.Context, t *testing.T, b broker, fetch int) (sub subscription, stop func()) {
	t.Helper()
	p, err := b.producer(ctx, 100, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := publishUntil(ctx, p, make([]byte, 16), 10*fetch, time.Now().Add(10*time.Second)); err != nil {
		t.Fatal(err)
	}
	p.close()
	release := make(chan struct{})
	var once sync.Once
	stuck := func([]byte) { once.Do(func() { <-release }) }
	sub, err = b.subscribe(ctx, "window", fetch, stuck)
	if err != nil {
		t.Fatal(err)
	}
	return sub, func() {
		close(release)
		sub.close()
	}
}

// awaitWindow polls held, what the server counts as delivered and not yet
// acknowledged, until it reaches want; it fails the test if it exceeds
// want, or if 10 s pass first. No signal says when a server has handed
// out its last message, so its count is polled.
func awaitWindow(ctx context.Context, t *testing.T, want int, held func() (int, error)) {
	t.Helper()
	wait, done := context.WithTimeout(ctx, 10*time.Second)
	defer done()
	for {
		n, err := held()
		if err != nil {
			t.Fatalf("%v (waiting for %d held)", err, want)
		}
		switch {
		case n > want:
			t.Fatalf("%d held with the handler stuck, want at most %d", n, want)
		case n == want:
			return
		}
		select {
		case <-wait.Done():
			t.Fatalf("%d held with the handler stuck, want %d", n, want)
		case <-time.After(5 * time.Millisecond): // poll the server's count
		}
	}
}
