package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"slices"
	"strings"
	"time"
)

// echoEnv, set in the environment, turns this program into the echo peer
// of measureLoopbackRoundTrip (serveEcho) instead of the harness. The probe
// re-executes its own binary with it so that the peer is a separate
// process, as a broker is to its client, without shipping a second binary.
const echoEnv = "HERALD_BENCH_ECHO"

const (
	echoRequest = 200 // bytes per request, as in the ping-pong that first showed this floor
	echoAnswer  = 16  // bytes per answer: about an ack
	echoWarmUp  = 20  // untimed round trips first, so the first timed one finds warm caches and a settled connection

	// echoStart bounds how long the echo process may take to print its
	// address, and echoExit how long it may take to exit once the
	// connection closes; past either it is killed.
	echoStart = 10 * time.Second
	echoExit  = 3 * time.Second
	// echoLifetime bounds the echo process's connection, so that an echo
	// process whose parent died without closing it does not linger.
	echoLifetime = time.Minute
)

// measureLoopbackRoundTrip is the operating system's floor for a request
// answered by another process on this machine, measured in the same run as
// the systems: n round trips over TCP on 127.0.0.1, each a 200-byte
// request and a 16-byte answer, to an echo peer in a separate process (this
// binary again, with echoEnv set). It returns the median. A synchronous
// publish pays at least this on top of the fsync, so it tells whether a bar
// stated relative to the fsync is reachable at all on this machine. The
// median depends on whether the scheduler puts the two processes on one CPU
// or on two, which can change from run to run.
//
// It returns only after the echo process has exited: it closes the
// connection, which ends the echo process, and kills the process if it does
// not exit within echoExit, or at once on an error or when ctx is done.
func measureLoopbackRoundTrip(ctx context.Context, n int) (time.Duration, error) {
	if n < 1 {
		return 0, fmt.Errorf("loopback probe: %d round trips asked for, want at least 1", n)
	}
	self, err := os.Executable()
	if err != nil {
		return 0, fmt.Errorf("loopback probe: finding this program to start it as the echo process: %w", err)
	}
	parent := ctx
	ctx, kill := context.WithCancel(ctx)
	defer kill()
	cmd := exec.CommandContext(ctx, self) // kill() kills the process
	cmd.Env = append(os.Environ(), echoEnv+"=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return 0, fmt.Errorf("loopback probe: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("loopback probe: starting %s as the echo process: %w", self, err)
	}

	p50, err := talkToEcho(ctx, out, kill, n)
	if err != nil {
		kill()
	}
	slow := time.AfterFunc(echoExit, kill)
	waitErr := cmd.Wait()
	killedSlow := !slow.Stop() && err == nil
	said := strings.TrimSpace(stderr.String())
	if said != "" {
		said = " (the echo process said: " + said + ")"
	}
	switch {
	case err != nil && parent.Err() != nil:
		return 0, fmt.Errorf("loopback probe: %w", parent.Err())
	case err != nil:
		return 0, fmt.Errorf("loopback probe: %w%s", err, said)
	case killedSlow:
		return 0, fmt.Errorf("loopback probe: the echo process did not exit within %s of the connection closing and was killed%s", echoExit, said)
	case waitErr != nil:
		return 0, fmt.Errorf("loopback probe: echo process: %w%s", waitErr, said)
	}
	return p50, nil
}

// talkToEcho reads the echo process's address from out (calling kill if it
// does not come within echoStart), connects, and times n round trips after
// echoWarmUp untimed ones. It closes the connection before it returns.
func talkToEcho(ctx context.Context, out io.Reader, kill func(), n int) (time.Duration, error) {
	startup := time.AfterFunc(echoStart, kill)
	addr, err := bufio.NewReader(out).ReadString('\n')
	if !startup.Stop() {
		return 0, fmt.Errorf("the echo process printed no address within %s", echoStart)
	}
	if err != nil {
		return 0, fmt.Errorf("reading the echo process's address: %w", err)
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", strings.TrimSpace(addr))
	if err != nil {
		return 0, fmt.Errorf("connecting to the echo process: %w", err)
	}
	defer conn.Close()
	// Go already sets TCP_NODELAY on every TCP connection, at both ends;
	// set again here so the probe does not rest on that default: with
	// Nagle's algorithm on, the round trip would measure delayed-ACK timers
	// instead of the operating system's path between two processes.
	if err := conn.(*net.TCPConn).SetNoDelay(true); err != nil {
		return 0, fmt.Errorf("setting TCP_NODELAY: %w", err)
	}
	if err := conn.SetDeadline(time.Now().Add(echoLifetime)); err != nil {
		return 0, err
	}
	req, ans := make([]byte, echoRequest), make([]byte, echoAnswer)
	lat := make([]time.Duration, 0, n)
	for i := range echoWarmUp + n {
		start := time.Now()
		if _, err := conn.Write(req); err != nil {
			return 0, fmt.Errorf("round trip %d: sending: %w", i+1, err)
		}
		if _, err := io.ReadFull(conn, ans); err != nil {
			return 0, fmt.Errorf("round trip %d: reading the answer: %w", i+1, err)
		}
		if i >= echoWarmUp {
			lat = append(lat, time.Since(start))
		}
	}
	slices.Sort(lat)
	return lat[len(lat)/2], nil
}

// runEcho is the whole program when echoEnv is set (see main and
// TestMain); it returns the exit code.
func runEcho(stdout, stderr io.Writer) int {
	if err := serveEcho(stdout); err != nil {
		fmt.Fprintln(stderr, "bench echo:", err)
		return 1
	}
	return 0
}

// serveEcho listens on a free port of 127.0.0.1, writes the address as one
// line to stdout, and answers each echoRequest bytes read from the first
// connection with echoAnswer bytes until the peer closes it. It gives up if
// no one connects within echoStart or the connection lasts longer than
// echoLifetime, so that it never outlives its parent for long.
func serveEcho(stdout io.Writer) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer ln.Close()
	if err := ln.(*net.TCPListener).SetDeadline(time.Now().Add(echoStart)); err != nil {
		return err
	}
	if _, err := fmt.Fprintln(stdout, ln.Addr()); err != nil {
		return err
	}
	conn, err := ln.Accept()
	if err != nil {
		return fmt.Errorf("waiting for the harness to connect: %w", err)
	}
	defer conn.Close()
	ln.Close()
	if err := conn.SetDeadline(time.Now().Add(echoLifetime)); err != nil {
		return err
	}
	req, ans := make([]byte, echoRequest), make([]byte, echoAnswer)
	for {
		if _, err := io.ReadFull(conn, req); errors.Is(err, io.EOF) {
			return nil // the harness closed the connection: done
		} else if err != nil {
			return err
		}
		if _, err := conn.Write(ans); err != nil {
			return err
		}
	}
}
