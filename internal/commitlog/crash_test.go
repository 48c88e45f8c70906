package commitlog

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The crash test proves the SyncAlways promise with a real process: a child
// (this test binary, re-executed) appends from several goroutines and
// prints each acknowledged batch; the parent kills it with SIGKILL at a
// random moment, reopens the log and checks every acknowledged record byte
// for byte. Rounds repeat on the same directory, so recovery of one crash
// is followed by appends and another crash.

const crashChildEnv = "HERALD_COMMITLOG_CRASH_CHILD"

// crashRecord is the deterministic content of record i of the batch that
// appender g sent as its seq-th: the parent rebuilds it from the ack line.
func crashRecord(round, g, seq, i int) Record {
	id := fmt.Sprintf("r%d-g%d-s%d-i%d", round, g, seq, i)
	size := (round*7919 + g*104729 + seq*31 + i*17) % 2000
	return Record{
		Timestamp: int64(round)<<40 | int64(seq),
		Key:       []byte(id),
		Headers:   []Header{{Key: "id", Value: []byte(id)}},
		Value:     bytes.Repeat([]byte(id[:1+size%len(id)]), 1+size/8),
	}
}

func crashBatch(round, g, seq int) []Record {
	n := 1 + (g*13+seq*7)%20
	recs := make([]Record, n)
	for i := range recs {
		recs[i] = crashRecord(round, g, seq, i)
	}
	return recs
}

// TestCrashChild is the child's body; it does nothing in a normal run.
func TestCrashChild(t *testing.T) {
	spec := os.Getenv(crashChildEnv)
	if spec == "" {
		t.Skip("runs only as the child of TestKillNineKeepsAcknowledgedRecords")
	}
	parts := strings.SplitN(spec, ",", 2)
	round, _ := strconv.Atoi(parts[0])
	l, err := Open(parts[1], Options{Sync: SyncAlways, SegmentBytes: 256 << 10})
	if err != nil {
		fmt.Println("open-error", err)
		os.Exit(3)
	}
	var mu sync.Mutex
	out := bufio.NewWriter(os.Stdout)
	fmt.Fprintln(out, "ready")
	out.Flush()
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for seq := 0; ; seq++ {
				batch := crashBatch(round, g, seq)
				base, err := l.Append(context.Background(), batch)
				if err != nil {
					fmt.Println("append-error", err)
					os.Exit(4)
				}
				mu.Lock()
				fmt.Fprintf(out, "ack %d %d %d %d\n", base, g, seq, len(batch))
				out.Flush()
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
}

type ackLine struct{ base, round, g, seq, n int }

func TestKillNineKeepsAcknowledgedRecords(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	dir := t.TempDir()
	if d := os.Getenv("CRASHDIR"); d != "" {
		dir = d
	}
	rounds := 6
	var acked []ackLine
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	for round := 0; round < rounds; round++ {
		killAfter := 1 + rng.IntN(400)
		lines := runAndKill(t, round, dir, killAfter)
		acked = append(acked, lines...)

		l, err := Open(dir, Options{SegmentBytes: 256 << 10})
		if err != nil {
			t.Fatalf("round %d: reopen after SIGKILL: %v", round, err)
		}
		for _, a := range acked {
			want := crashBatch(a.round, a.g, a.seq)
			got, err := l.Read(int64(a.base), 1)
			if err != nil {
				t.Fatalf("round %d: acknowledged batch at %d: %v", round, a.base, err)
			}
			if len(got) < len(want) {
				ents, _ := os.ReadDir(dir)
				var names []string
				for _, e := range ents {
					fi, _ := e.Info()
					names = append(names, fmt.Sprintf("%s:%d", e.Name(), fi.Size()))
				}
				t.Fatalf("round %d: acknowledged batch at %d has %d records, want %d (next %d, files %v, recovery %+v)", round, a.base, len(got), len(want), l.Next(), names, l.Recovery())
			}
			for i := range want {
				if got[i].Offset != int64(a.base+i) || !sameRecord(got[i], want[i]) {
					t.Fatalf("round %d: record %d of the batch acknowledged at %d differs", round, i, a.base)
				}
			}
		}
		if r := l.Recovery(); r.ValidAfterCorruption {
			t.Fatalf("round %d: a kill -9 produced mid-log corruption: %+v", round, r)
		}
		t.Logf("round %d: killed after %d acks; %d acknowledged batches verified, next offset %d, recovery %s, truncated %d bytes",
			round, killAfter, len(acked), l.Next(), l.Recovery().Duration, l.Recovery().TruncatedBytes)
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// runAndKill starts a child appending to dir, waits for killAfter acks,
// sends SIGKILL, and returns every ack the child printed before dying.
func runAndKill(t *testing.T, round int, dir string, killAfter int) []ackLine {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%d,%s", crashChildEnv, round, dir))
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	killed := make(chan struct{})
	timer := time.AfterFunc(60*time.Second, func() { cmd.Process.Kill() }) // a hung child fails the test below
	defer timer.Stop()
	var lines []ackLine
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 || f[0] == "ready" {
			continue
		}
		if f[0] != "ack" || len(f) != 5 {
			t.Fatalf("child: %s", sc.Text())
		}
		a := ackLine{round: round}
		a.base, _ = strconv.Atoi(f[1])
		a.g, _ = strconv.Atoi(f[2])
		a.seq, _ = strconv.Atoi(f[3])
		a.n, _ = strconv.Atoi(f[4])
		lines = append(lines, a)
		if len(lines) == killAfter {
			cmd.Process.Signal(syscall.SIGKILL)
			close(killed)
		}
	}
	err = cmd.Wait()
	select {
	case <-killed:
	default:
		t.Fatalf("round %d: child ended before it was killed (%d acks): %v", round, len(lines), err)
	}
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("round %d: child was not killed by SIGKILL: %v", round, err)
	}
	return lines
}
