package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/heraldhq/herald/internal/loadgen"
	"github.com/redis/go-redis/v9"
)

// Redis Streams runs as a redis-server child process on a free loopback
// port, with the append-only file on in the run's data directory and RDB
// snapshots off. Events are stream entries with one field, "d", holding
// the payload.
const (
	redisStream = "bench"
	redisField  = "d"
	// redisBlock is how long one XREADGROUP waits for new entries, so the
	// reading loop notices close() promptly.
	redisBlock = 100 * time.Millisecond
)

// errRedisMissing: redis-server is not installed; its rows are skipped.
var errRedisMissing = errors.New("redis-server not found: install it with `apt-get install -y redis-server` to include Redis Streams")

// redisSystems returns Redis Streams with appendfsync always and
// everysec, or errRedisMissing if bin cannot be found.
func redisSystems(lim limits, bin string) ([]system, error) {
	path, err := exec.LookPath(bin)
	if err != nil {
		return nil, errRedisMissing
	}
	mk := func(fsync, durability string) system {
		return &brokerSystem{kind: "redis", label: "Redis Streams", limits: lim, durability: durability,
			start: func(ctx context.Context, dir string) (broker, error) {
				return startRedis(ctx, path, dir, fsync)
			}}
	}
	return []system{
		mk("always", "AOF appendfsync always"),
		mk("everysec", "AOF everysec (fsync once a second)"),
	}, nil
}

type redisBroker struct {
	cmd    *exec.Cmd
	addr   string
	exited chan struct{} // closed when the server's output ends
}

// startRedis starts redis-server and waits for it to say it is ready.
func startRedis(ctx context.Context, bin, dir, fsync string) (*redisBroker, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin,
		"--bind", "127.0.0.1", "--port", strconv.Itoa(port), "--protected-mode", "yes",
		"--dir", dir, "--appendonly", "yes", "--appendfsync", fsync, "--save", "",
		"--daemonize", "no", "--logfile", "", "--loglevel", "notice")
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start redis-server: %w", err)
	}
	b := &redisBroker{cmd: cmd, addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), exited: make(chan struct{})}
	ready, tail := watchChild(out, b.exited, func(line string) bool {
		return strings.Contains(line, "Ready to accept connections")
	})
	if err := awaitReady(ctx, "redis-server", ready, b.exited, 10*time.Second, tail, b.close); err != nil {
		return nil, err
	}
	return b, nil
}

// close stops the server: SIGTERM, then SIGKILL if it is still there
// after 10 s.
func (b *redisBroker) close() {
	stopProcess(b.cmd, b.exited, syscall.SIGTERM, 10*time.Second)
}

func (b *redisBroker) client() *redis.Client {
	return redis.NewClient(&redis.Options{
		Addr: b.addr, PoolSize: 1, DisableIdentity: true,
		ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second, ContextTimeoutEnabled: true,
	})
}

// redisProducer publishes with XADD: asynchronously as pipelines of up to
// window XADDs (one round trip each), synchronously one XADD per round trip.
type redisProducer struct {
	rdb    *redis.Client
	window int
	onAck  func(time.Time)
	pipe   redis.Pipeliner
	sent   []time.Time
}

func (b *redisBroker) producer(ctx context.Context, window int, onAck func(time.Time)) (producer, error) {
	rdb := b.client()
	if err := rdb.Ping(ctx).Err(); err != nil {
		rdb.Close()
		return nil, err
	}
	return &redisProducer{rdb: rdb, window: window, onAck: onAck, sent: make([]time.Time, 0, window)}, nil
}

func (p *redisProducer) publishAsync(ctx context.Context, payload []byte, sentAt time.Time) error {
	if p.pipe == nil {
		p.pipe = p.rdb.Pipeline()
	}
	p.pipe.XAdd(ctx, &redis.XAddArgs{Stream: redisStream, ID: "*", Values: []any{redisField, payload}})
	p.sent = append(p.sent, sentAt)
	if len(p.sent) >= p.window {
		return p.sendQueued(ctx)
	}
	return nil
}

// sendQueued sends the pipeline and waits for its replies (go-redis has
// no way to send without waiting).
func (p *redisProducer) sendQueued(ctx context.Context) error {
	if p.pipe == nil || len(p.sent) == 0 {
		return nil
	}
	cmds, err := p.pipe.Exec(ctx)
	p.pipe = nil
	if err != nil {
		return fmt.Errorf("XADD pipeline: %w", err)
	}
	for i, c := range cmds {
		if c.Err() != nil {
			return fmt.Errorf("XADD: %w", c.Err())
		}
		if p.onAck != nil {
			p.onAck(p.sent[i])
		}
	}
	p.sent = p.sent[:0]
	return nil
}

func (p *redisProducer) flush(ctx context.Context) error { return p.sendQueued(ctx) }

func (p *redisProducer) publishSync(ctx context.Context, payload []byte) error {
	return p.rdb.XAdd(ctx, &redis.XAddArgs{Stream: redisStream, ID: "*", Values: []any{redisField, payload}}).Err()
}

func (p *redisProducer) close() { p.rdb.Close() }

// redisSubscription is a consumer group read by one consumer with
// XREADGROUP COUNT fetch BLOCK 100ms. A reader keeps the next XREADGROUP
// in flight while the handler handles the entries of the previous one and
// acknowledges each with its own XACK, the XACKs of one read sent as one
// pipeline whose replies are awaited: at most two reads' worth of entries
// are read and not yet handled (redisConsumeWindow), the window Herald's
// and NATS's consumers have. A RESP connection answers in order, so the
// read ahead has its own connection and the XACKs theirs. Until
// 2026-11-30 (after the 21:30 runs) one connection read, handled and
// acked in turn: one XREADGROUP in flight, half the others' window.
type redisSubscription struct {
	reads  *redis.Client // the XREADGROUPs
	acks   *redis.Client // the XACK pipelines
	count  atomic.Int64
	notify chan struct{}
	cancel context.CancelFunc
	done   chan struct{}

	mu   sync.Mutex
	last error
}

// redisConsumeWindow is how many entries a Redis consumer may hold read
// and not yet handled for reads of fetch: two reads' worth, as
// loadgen.Prefetch gives `herald bench`'s subscriptions.
func redisConsumeWindow(fetch int) int { return loadgen.Prefetch(fetch, 1) }

func (b *redisBroker) subscribe(ctx context.Context, name string, fetch int, onEvent func([]byte)) (subscription, error) {
	reads, acks := b.client(), b.client()
	if err := reads.XGroupCreateMkStream(ctx, redisStream, name, "0").Err(); err != nil {
		reads.Close()
		acks.Close()
		return nil, fmt.Errorf("XGROUP CREATE %s: %w", name, err)
	}
	loopCtx, cancel := context.WithCancel(context.Background())
	s := &redisSubscription{reads: reads, acks: acks, notify: make(chan struct{}, 1), cancel: cancel, done: make(chan struct{})}
	// Unbuffered: the reader holds one read's entries until the handler
	// takes them, and only then sends the next XREADGROUP (the window).
	batches := make(chan []redis.XMessage)
	go s.read(loopCtx, name, fetch, batches) // owned by s; close stops it
	go s.handle(loopCtx, name, onEvent, batches)
	return s, nil
}

// read sends one XREADGROUP after another, handing each read's entries to
// handle. It closes batches when ctx ends.
func (s *redisSubscription) read(ctx context.Context, group string, fetch int, batches chan<- []redis.XMessage) {
	defer close(batches)
	args := &redis.XReadGroupArgs{Group: group, Consumer: "c1", Streams: []string{redisStream, ">"},
		Count: int64(fetch), Block: redisBlock}
	for ctx.Err() == nil {
		streams, err := s.reads.XReadGroup(ctx, args).Result()
		if errors.Is(err, redis.Nil) {
			continue
		}
		if err != nil {
			s.report(fmt.Errorf("XREADGROUP: %w", err))
			pause(ctx, 10*time.Millisecond)
			continue
		}
		for _, st := range streams {
			if len(st.Messages) == 0 {
				continue
			}
			select {
			case batches <- st.Messages:
			case <-ctx.Done():
				return
			}
		}
	}
}

// handle hands each entry to onEvent and acknowledges the entries of one
// read with one pipeline of XACKs, awaited before the count moves.
func (s *redisSubscription) handle(ctx context.Context, group string, onEvent func([]byte), batches <-chan []redis.XMessage) {
	defer close(s.done)
	for msgs := range batches {
		pipe := s.acks.Pipeline()
		for _, m := range msgs {
			if onEvent != nil {
				v, _ := m.Values[redisField].(string)
				onEvent(unsafe.Slice(unsafe.StringData(v), len(v))) // read-only view, no copy
			}
			pipe.XAck(ctx, redisStream, group, m.ID)
		}
		if _, err := pipe.Exec(ctx); err != nil {
			s.report(fmt.Errorf("XACK: %w", err))
			continue
		}
		s.count.Add(int64(len(msgs)))
		select {
		case s.notify <- struct{}{}:
		default:
		}
	}
}

func (s *redisSubscription) report(err error) {
	s.mu.Lock()
	s.last = err
	s.mu.Unlock()
}

// waitFor returns when total events have been read and their XACKs
// answered.
func (s *redisSubscription) waitFor(ctx context.Context, total int) error {
	for s.count.Load() < int64(total) {
		select {
		case <-s.notify:
		case <-s.done:
			return fmt.Errorf("subscription closed after %d of %d events", s.count.Load(), total)
		case <-ctx.Done():
			s.mu.Lock()
			last := s.last
			s.mu.Unlock()
			return fmt.Errorf("%d of %d events delivered (last error: %v): %w", s.count.Load(), total, last, ctx.Err())
		}
	}
	return nil
}

func (s *redisSubscription) close() {
	s.cancel()
	<-s.done
	s.reads.Close()
	s.acks.Close()
}

// pause waits d or until ctx ends.
func pause(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// freePort asks the kernel for a free loopback TCP port.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// lineTail keeps the last lines a child process printed, for error
// messages. It is safe for concurrent use.
type lineTail struct {
	mu    sync.Mutex
	lines []string
}

func (t *lineTail) add(line string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.lines = append(t.lines, line)
	if len(t.lines) > 20 {
		t.lines = t.lines[1:]
	}
}

func (t *lineTail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.Join(t.lines, "\n")
}

// watchOutput reads r line by line to its end, keeping the tail; the first
// line for which isReady is true closes ready.
func watchOutput(r io.Reader, tail *lineTail, isReady func(line string) bool, ready chan<- struct{}) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	found := false
	for sc.Scan() {
		line := sc.Text()
		tail.add(line)
		if !found && isReady(line) {
			found = true
			close(ready)
		}
	}
	_, _ = io.Copy(io.Discard, r) // a line too long for the scanner: keep draining
}
