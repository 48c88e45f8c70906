package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"time"
)

// The servers the harness starts as child processes (herald serve,
// redis-server, nats-server with --nats-server) share how they are
// awaited and stopped. Each has a goroutine draining its output, which
// closes exited when the output ends: the process has exited.

// watchChild drains out, a child's output, on a goroutine that closes
// exited when the output ends. ready is closed at the first line isReady
// accepts (which may note what the line says: that happens before ready
// is closed); tail keeps the last lines.
func watchChild(out io.Reader, exited chan struct{}, isReady func(line string) bool) (ready <-chan struct{}, tail *lineTail) {
	r := make(chan struct{})
	tail = &lineTail{}
	go func() {
		defer close(exited)
		watchOutput(out, tail, isReady, r)
	}()
	return r, tail
}

// awaitReady waits until ready is closed. When the process exits first,
// takes longer than timeout, or ctx ends, it calls stop and says why,
// with the last lines the process wrote.
func awaitReady(ctx context.Context, name string, ready, exited <-chan struct{}, timeout time.Duration,
	tail *lineTail, stop func()) error {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-ready:
		return nil
	case <-exited:
		stop()
		return fmt.Errorf("%s exited before it was ready:\n%s", name, tail)
	case <-timer.C:
		stop()
		return fmt.Errorf("%s was not ready within %v:\n%s", name, timeout, tail)
	case <-ctx.Done():
		stop()
		return ctx.Err()
	}
}

// stopProcess asks cmd's process to stop with sig, kills it if its
// output has not ended (exited) after grace, and reaps it.
func stopProcess(cmd *exec.Cmd, exited <-chan struct{}, sig os.Signal, grace time.Duration) {
	_ = cmd.Process.Signal(sig)
	select {
	case <-exited:
	case <-time.After(grace):
		_ = cmd.Process.Kill()
		<-exited
	}
	_ = cmd.Wait()
}
