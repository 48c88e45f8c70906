package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heraldhq/herald/internal/loadgen"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// NATS JetStream runs in this process (nats-server as a Go module) with a
// file store in the run's data directory, one stream with one subject, one
// replica. Clients connect over loopback TCP like any other client. With
// --nats-server it runs as its own process instead, from that executable,
// like Herald and redis-server: measured slower here (docs/PERFORMANCE.md),
// so the in-process server, which the issue asks for, is NATS's better case.
const (
	natsStream  = "BENCH"
	natsSubject = "bench"
	// natsStallWait bounds how long PublishAsync may block on a full
	// window before it fails; natsAckTimeout bounds one async publish.
	natsStallWait  = 30 * time.Second
	natsAckTimeout = 60 * time.Second
	// natsPullExpiry is the life of one pull request (the heartbeat is half
	// of it). Consume recovers from a lost pull request only after two
	// missed heartbeats; the default 30 s expiry made that a 30 s stall,
	// seen in this harness's tests under the race detector.
	natsPullExpiry = 2 * time.Second
)

// natsSystems returns NATS JetStream with its default sync interval and
// with sync_interval: always: in this process, or, when bin is not empty,
// as a process of the nats-server executable bin.
func natsSystems(lim limits, bin string) []system {
	label := "NATS JetStream"
	if bin != "" {
		label = "NATS JetStream (own process)"
	}
	start := func(always bool) func(context.Context, string) (broker, error) {
		return func(ctx context.Context, dir string) (broker, error) {
			if bin != "" {
				return startNATSProcess(ctx, bin, dir, always)
			}
			return startNATS(ctx, dir, always)
		}
	}
	return []system{
		&brokerSystem{kind: "nats", label: label, limits: lim,
			durability: "fsync every 2 min (NATS default sync_interval)", start: start(false)},
		&brokerSystem{kind: "nats", label: label, limits: lim,
			durability: "fsync per message (sync_interval: always)", start: start(true)},
	}
}

type natsBroker struct {
	srv    *server.Server // in process, or
	cmd    *exec.Cmd      // a nats-server process
	exited chan struct{}  // closed when cmd has exited
	url    string
}

// startNATS starts a JetStream server on a free loopback port with its
// store in dir and creates the bench stream. always sets what the
// configuration file calls sync_interval: always (an fsync after every
// message written); otherwise the store fsyncs every two minutes.
func startNATS(ctx context.Context, dir string, always bool) (*natsBroker, error) {
	opts := &server.Options{
		ServerName: "herald-bench",
		Host:       "127.0.0.1",
		Port:       server.RANDOM_PORT,
		NoLog:      true,
		NoSigs:     true,
		JetStream:  true,
		StoreDir:   dir,
	}
	if always {
		// What the config parser sets for sync_interval: always.
		opts.SyncAlways = true
		opts.SyncInterval = 2 * time.Minute
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		return nil, err
	}
	go srv.Start() // the server owns its goroutines; Shutdown stops them
	if !srv.ReadyForConnections(10 * time.Second) {
		srv.Shutdown()
		return nil, errors.New("nats-server did not accept connections within 10s")
	}
	b := &natsBroker{srv: srv, url: srv.ClientURL()}
	nc, err := b.connect("setup")
	if err != nil {
		b.close()
		return nil, err
	}
	return b.createStream(ctx, nc)
}

// startNATSProcess runs the nats-server executable bin with the same
// settings as startNATS, given in a configuration file in dir, on a
// loopback port of its choosing, waits for its ready line and creates the
// bench stream. The process gets the harness's environment, GOGC
// included, but not a GOMAXPROCS set for the harness.
func startNATSProcess(ctx context.Context, bin, dir string, always bool) (*natsBroker, error) {
	conf := fmt.Sprintf("listen: \"127.0.0.1:-1\"\nserver_name: herald-bench\njetstream {\n  store_dir: %q\n", dir)
	if always {
		conf += "  sync_interval: always\n"
	}
	conf += "}\n"
	confPath := filepath.Join(dir, "nats-server.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "--config", confPath)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GOMAXPROCS=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	if os.Getenv("GOGC") == "" {
		cmd.Env = append(cmd.Env, fmt.Sprintf("GOGC=%d", loadGOGC))
	}
	errPipe, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w (build it in bench/ with: go build -o nats-server github.com/nats-io/nats-server/v2)", bin, err)
	}
	b := &natsBroker{cmd: cmd, exited: make(chan struct{})}
	var addr string // written before ready is closed
	ready, tail := watchChild(errPipe, b.exited, func(line string) bool {
		if m := natsListening.FindStringSubmatch(line); m != nil {
			addr = m[1]
		}
		return strings.Contains(line, "Server is ready") && addr != ""
	})
	if err := awaitReady(ctx, bin, ready, b.exited, 10*time.Second, tail, b.close); err != nil {
		return nil, err
	}
	b.url = "nats://" + addr
	nc, err := b.connect("setup")
	if err != nil {
		b.close()
		return nil, err
	}
	return b.createStream(ctx, nc)
}

// natsListening matches nats-server's log line that names its client port.
var natsListening = regexp.MustCompile(`Listening for client connections on (\S+)`)

// createStream creates the bench stream over nc, which it closes; it
// closes b when that fails.
func (b *natsBroker) createStream(ctx context.Context, nc *nats.Conn) (*natsBroker, error) {
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		b.close()
		return nil, err
	}
	_, err = js.CreateStream(ctx, jetstream.StreamConfig{
		Name: natsStream, Subjects: []string{natsSubject},
		Storage: jetstream.FileStorage, Replicas: 1,
	})
	if err != nil {
		b.close()
		return nil, fmt.Errorf("create stream: %w", err)
	}
	return b, nil
}

func (b *natsBroker) connect(name string) (*nats.Conn, error) {
	return nats.Connect(b.url, nats.Name(name), nats.NoReconnect())
}

func (b *natsBroker) close() {
	if b.cmd != nil {
		// nats-server shuts down cleanly on SIGINT; a stuck one is killed.
		stopProcess(b.cmd, b.exited, os.Interrupt, 10*time.Second)
		return
	}
	b.srv.Shutdown()
	b.srv.WaitForShutdown()
}

// natsProducer publishes with PublishAsync (async window = window) and
// js.Publish (sync). It counts the async publishes in flight itself and
// flush waits for that count to reach zero: PublishAsyncComplete can report
// completion while the ack handler is still running for the last ack, and
// flush promises that onAck has run for every event.
type natsProducer struct {
	nc      *nats.Conn
	js      jetstream.JetStream
	pubOpts []jetstream.PublishOpt
	onAck   func(time.Time)

	mu       sync.Mutex
	sent     map[*nats.Msg]time.Time // send times, only when onAck is set
	inflight int                     // published, neither acked nor failed
	idle     chan struct{}           // closed when inflight reaches zero, if flush waits
	first    error                   // first async publish error
}

func (b *natsBroker) producer(ctx context.Context, window int, onAck func(time.Time)) (producer, error) {
	nc, err := b.connect("bench-producer")
	if err != nil {
		return nil, err
	}
	p := &natsProducer{nc: nc, onAck: onAck, pubOpts: []jetstream.PublishOpt{jetstream.WithStallWait(natsStallWait)}}
	if onAck != nil {
		p.sent = make(map[*nats.Msg]time.Time, window)
	}
	js, err := jetstream.New(nc,
		jetstream.WithPublishAsyncMaxPending(window),
		jetstream.WithPublishAsyncTimeout(natsAckTimeout),
		jetstream.WithPublishAsyncAckHandler(p.acked),
		jetstream.WithPublishAsyncErrHandler(p.failed))
	if err != nil {
		nc.Close()
		return nil, err
	}
	p.js = js
	return p, nil
}

// acked runs on the connection's reply goroutine, one ack at a time.
func (p *natsProducer) acked(_ jetstream.JetStream, m *nats.Msg, _ *jetstream.PubAck) {
	if p.onAck != nil {
		p.mu.Lock()
		sent := p.sent[m]
		delete(p.sent, m)
		p.mu.Unlock()
		p.onAck(sent)
	}
	p.settle(m, nil)
}

func (p *natsProducer) failed(_ jetstream.JetStream, m *nats.Msg, err error) {
	p.settle(m, fmt.Errorf("async publish: %w", err))
}

// settle counts one async publish as done, after its onAck if any.
func (p *natsProducer) settle(m *nats.Msg, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.sent, m)
	if err != nil && p.first == nil {
		p.first = err
	}
	p.inflight--
	if p.inflight == 0 && p.idle != nil {
		close(p.idle)
		p.idle = nil
	}
}

func (p *natsProducer) publishAsync(ctx context.Context, payload []byte, sentAt time.Time) error {
	m := &nats.Msg{Subject: natsSubject, Data: payload}
	p.mu.Lock()
	p.inflight++
	if p.onAck != nil {
		p.sent[m] = sentAt
	}
	p.mu.Unlock()
	if _, err := p.js.PublishMsgAsync(m, p.pubOpts...); err != nil {
		p.settle(m, nil) // not in flight after all; the error is returned here
		return err
	}
	return nil
}

// sendQueued has nothing to do: PublishAsync has already written the
// message, and the connection's flusher sends it at once.
func (p *natsProducer) sendQueued(context.Context) error { return nil }

func (p *natsProducer) flush(ctx context.Context) error {
	p.mu.Lock()
	if p.inflight == 0 {
		defer p.mu.Unlock()
		return p.first
	}
	if p.idle == nil {
		p.idle = make(chan struct{})
	}
	idle, n := p.idle, p.inflight
	p.mu.Unlock()
	select {
	case <-idle:
	case <-ctx.Done():
		return fmt.Errorf("waiting for %d async publish acks: %w", n, ctx.Err())
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.first
}

func (p *natsProducer) publishSync(ctx context.Context, payload []byte) error {
	_, err := p.js.Publish(ctx, natsSubject, payload)
	return err
}

func (p *natsProducer) close() { p.nc.Close() }

// natsSubscription is a durable pull consumer with explicit acks, read
// with Consume (PullMaxMessages = natsConsumeWindow(fetch), PullExpiry
// 2 s). Each message is acked with msg.Ack(), the normal ack: sent
// without waiting for the server's confirmation (not AckSync/DoubleAck).
// waitFor ends with a round trip to the server (Flush), so every ack sent
// before it has reached the server.
type natsSubscription struct {
	nc     *nats.Conn
	cons   jetstream.Consumer
	cc     jetstream.ConsumeContext
	count  atomic.Int64
	notify chan struct{}

	mu   sync.Mutex
	last error // last error the consumer or an ack reported
}

// natsConsumeWindow is the PullMaxMessages that gives a NATS consumer the
// window `herald bench` gives Herald's one handler (loadgen.Prefetch: two
// fetches' worth): pulls of about fetch messages, and up to two fetches'
// worth requested but not yet handled. Consume counts a message pending
// until its handler returns and pulls again, for the difference, once
// fewer than half the maximum are pending; Herald's subscriber fetches
// half its credits at a time, with up to two fetches in flight. Until
// 2026-11-30 NATS had PullMaxMessages(fetch): half Herald's window, in
// pulls of about half a fetch (bench/README.md, "Known differences").
func natsConsumeWindow(fetch int) int { return loadgen.Prefetch(fetch, 1) }

func (b *natsBroker) subscribe(ctx context.Context, name string, fetch int, onEvent func([]byte)) (subscription, error) {
	nc, err := b.connect("bench-" + name)
	if err != nil {
		return nil, err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, err
	}
	cons, err := js.CreateOrUpdateConsumer(ctx, natsStream, jetstream.ConsumerConfig{
		Durable:       name,
		AckPolicy:     jetstream.AckExplicitPolicy,
		DeliverPolicy: jetstream.DeliverAllPolicy,
	})
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("create consumer %s: %w", name, err)
	}
	s := &natsSubscription{nc: nc, cons: cons, notify: make(chan struct{}, 1)}
	s.cc, err = cons.Consume(func(m jetstream.Msg) {
		if onEvent != nil {
			onEvent(m.Data())
		}
		if err := m.Ack(); err != nil {
			s.report(fmt.Errorf("ack: %w", err))
		}
		s.count.Add(1)
		select {
		case s.notify <- struct{}{}:
		default:
		}
	}, jetstream.PullMaxMessages(natsConsumeWindow(fetch)), jetstream.PullExpiry(natsPullExpiry), jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
		s.report(err)
	}))
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("consume %s: %w", name, err)
	}
	return s, nil
}

func (s *natsSubscription) report(err error) {
	s.mu.Lock()
	s.last = err
	s.mu.Unlock()
}

func (s *natsSubscription) waitFor(ctx context.Context, total int) error {
	for s.count.Load() < int64(total) {
		select {
		case <-s.notify:
		case <-ctx.Done():
			s.mu.Lock()
			last := s.last
			s.mu.Unlock()
			return fmt.Errorf("%d of %d events delivered (%s; last consumer error: %v): %w",
				s.count.Load(), total, s.state(), last, ctx.Err())
		}
	}
	return flushNATS(ctx, s.nc)
}

// flushNATS is a round trip to the server: everything sent before it has
// been received.
func flushNATS(ctx context.Context, nc *nats.Conn) error {
	if _, ok := ctx.Deadline(); ok {
		return nc.FlushWithContext(ctx)
	}
	return nc.FlushTimeout(10 * time.Second)
}

// state describes the consumer as the server sees it, for error messages.
func (s *natsSubscription) state() string {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	info, err := s.cons.Info(ctx)
	if err != nil {
		return "consumer info: " + err.Error()
	}
	return fmt.Sprintf("server: %d pending, %d awaiting ack, %d redelivered, %d pull requests waiting",
		info.NumPending, info.NumAckPending, info.NumRedelivered, info.NumWaiting)
}

func (s *natsSubscription) close() {
	s.cc.Stop()
	select {
	case <-s.cc.Closed():
	case <-time.After(5 * time.Second):
	}
	s.nc.Close()
}
