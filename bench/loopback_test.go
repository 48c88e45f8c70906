package main

import (
	"bufio"
	"context"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestLoopbackRoundTripRunsAnEchoProcessAndWaitsForIt(t *testing.T) {
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	for _, tc := range []struct {
		name    string
		ctx     context.Context
		n       int
		wantErr bool
	}{
		{"measures a median", context.Background(), 50, false},
		{"rejects zero round trips", context.Background(), 0, true},
		{"stops when cancelled", cancelled, 50, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := measureLoopbackRoundTrip(tc.ctx, tc.n)
			if tc.wantErr {
				if err == nil {
					t.Fatalf("got %v and no error, want an error", d)
				}
				t.Logf("error: %v", err)
			} else {
				if err != nil {
					t.Fatal(err)
				}
				if d <= 0 || d >= time.Second {
					t.Fatalf("median round trip %v, want above 0 and under 1s", d)
				}
				t.Logf("loopback round trip between two processes: p50 %v", d)
			}
			if kids := children(t); len(kids) > 0 {
				t.Fatalf("child processes %v still there (running or unwaited) after measureLoopbackRoundTrip returned", kids)
			}
		})
	}
}

// children lists the processes whose parent is this test process, zombies
// included (a child that exited but was never waited for). It reads /proc,
// so it skips the test where there is none.
func children(t *testing.T) []int {
	t.Helper()
	stats, err := filepath.Glob("/proc/[0-9]*/stat")
	if err != nil || len(stats) == 0 {
		t.Skip("no /proc to list child processes in")
	}
	var kids []int
	for _, p := range stats {
		b, err := os.ReadFile(p)
		if err != nil {
			continue // the process is gone
		}
		// pid (comm) state ppid ...; comm may hold spaces and parentheses.
		_, rest, ok := strings.Cut(string(b), ") ")
		if f := strings.Fields(rest); ok && len(f) > 1 && f[1] == strconv.Itoa(os.Getpid()) {
			pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(p)))
			kids = append(kids, pid)
		}
	}
	return kids
}

func TestEchoAnswersEachRequestAndStopsWhenTheConnectionCloses(t *testing.T) {
	addrR, addrW := io.Pipe()
	done := make(chan error, 1)
	go func() { done <- serveEcho(addrW) }()
	addr, err := bufio.NewReader(addrR).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("tcp", strings.TrimSpace(addr))
	if err != nil {
		t.Fatal(err)
	}
	ans := make([]byte, echoAnswer+1)
	for range 3 {
		if _, err := conn.Write(make([]byte, echoRequest)); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(conn, ans[:echoAnswer]); err != nil {
			t.Fatal(err)
		}
	}
	conn.Close()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serveEcho after the connection closed: %v, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("serveEcho did not return within 5s of the connection closing")
	}
}
