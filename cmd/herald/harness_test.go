package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// End-to-end tests run the real herald binary, built once by TestMain, on
// a loopback port, and talk to it over HTTP like a user would.

var heraldBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "herald-e2e-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	heraldBin = filepath.Join(dir, "herald")
	args := []string{"build", "-o", heraldBin}
	if raceEnabled {
		args = append(args, "-race")
	}
	build := exec.Command("go", append(args, ".")...)
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building herald for the end-to-end tests:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// proc is a running herald server.
type proc struct {
	t      *testing.T
	cmd    *exec.Cmd
	url    string
	dir    string
	done   chan struct{}
	mu     sync.Mutex
	stderr bytes.Buffer
}

var readyLine = regexp.MustCompile(`herald is ready.* listen=(\S+)`)

// startServer runs `herald serve` on a free loopback port with data in dir
// and waits until it is ready (it says so on stderr with its address).
func startServer(t *testing.T, dir string, args ...string) *proc {
	t.Helper()
	return startServerAt(t, dir, "127.0.0.1:0", args...)
}

// startServerAt is startServer on a given address, for a restart that
// clients must find where they left it.
func startServerAt(t *testing.T, dir, listen string, args ...string) *proc {
	t.Helper()
	p := &proc{t: t, dir: dir, done: make(chan struct{})}
	p.cmd = exec.Command(heraldBin, append([]string{"serve", "--data", dir, "--listen", listen}, args...)...)
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			p.mu.Lock()
			p.stderr.WriteString(line + "\n")
			p.mu.Unlock()
			if m := readyLine.FindStringSubmatch(line); m != nil {
				ready <- m[1]
			}
		}
		p.cmd.Wait()
		close(p.done)
	}()
	select {
	case addr := <-ready:
		p.url = "http://" + addr
	case <-p.done:
		t.Fatalf("herald exited before it was ready:\n%s", p.logs())
	case <-time.After(60 * time.Second):
		p.cmd.Process.Kill()
		t.Fatalf("herald was not ready within 60s:\n%s", p.logs())
	}
	t.Cleanup(func() { p.kill() })
	return p
}

func (p *proc) logs() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stderr.String()
}

// kill9 ends the server with SIGKILL, as a crash would.
func (p *proc) kill() {
	p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// stop sends SIGTERM and waits for a graceful exit, failing the test if it
// does not exit cleanly.
func (p *proc) stop() {
	p.t.Helper()
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		p.t.Fatalf("herald did not stop within 30s of SIGTERM:\n%s", p.logs())
	}
	if code := p.cmd.ProcessState.ExitCode(); code != 0 {
		p.t.Fatalf("herald exited with %d after SIGTERM:\n%s", code, p.logs())
	}
}

// response is an HTTP answer read whole.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t *testing.T) map[string]any {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal(r.body, &v); err != nil {
		t.Fatalf("response is not a JSON object: %v\n%s", err, r.body)
	}
	return v
}

var client = &http.Client{Timeout: 90 * time.Second}

// do sends one request. Header pairs are "Name: value" strings.
func (p *proc) do(method, path string, body any, headers ...string) response {
	p.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			p.t.Fatal(err)
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(context.Background(), method, p.url+path, rd)
	if err != nil {
		p.t.Fatal(err)
	}
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ":")
		req.Header.Set(strings.TrimSpace(k), strings.TrimSpace(v))
	}
	res, err := client.Do(req)
	if err != nil {
		p.t.Fatalf("%s %s: %v\nserver log:\n%s", method, path, err, p.logs())
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	return response{status: res.StatusCode, header: res.Header, body: data}
}

// must sends a request and fails the test unless the status is want.
func (p *proc) must(want int, method, path string, body any, headers ...string) response {
	p.t.Helper()
	r := p.do(method, path, body, headers...)
	if r.status != want {
		p.t.Fatalf("%s %s: status %d, want %d\n%s", method, path, r.status, want, r.body)
	}
	return r
}
