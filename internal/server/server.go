package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heraldhq/herald/internal/broker"
	"github.com/heraldhq/herald/internal/commitlog"
)

// Server serves one broker over HTTP.
//
// Goroutines: Run starts the HTTP server's accept loop and owns it; every
// request and stream runs on net/http's goroutines, whose contexts end when
// Run begins shutting down (long polls and streams return then). Run returns
// only after they have all finished and the broker is closed.
type Server struct {
	cfg    Config
	log    *slog.Logger
	broker atomic.Pointer[broker.Broker]
	ready  atomic.Bool
	// publishing counts PUBLISH frames being stored, on every connection
	// (publishNow).
	publishing atomic.Int32

	// streams ends long polls and push streams at shutdown, since
	// http.Server.Shutdown waits for them but does not cancel them.
	streamsCtx    context.Context
	cancelStreams context.CancelFunc
	streams       sync.WaitGroup
}

// New validates cfg. The broker is opened by Run, after the listener is up,
// so that /healthz can answer 503 while recovery runs.
func New(cfg Config, log *slog.Logger) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: cfg, log: log}
	s.streamsCtx, s.cancelStreams = context.WithCancel(context.Background())
	return s, nil
}

// Run listens on cfg.Listen and serves until ctx ends, then shuts down
// gracefully. ready, if not nil, receives the bound address once /healthz
// answers 200.
func (s *Server) Run(ctx context.Context, ready func(addr net.Addr)) error {
	ln, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w (is another herald running? choose another --listen)", s.cfg.Listen, err)
	}
	srv := &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: s.cfg.ReadHeaderTimeout,
		ReadTimeout:       s.cfg.ReadTimeout,
		WriteTimeout:      s.cfg.WriteTimeout,
		IdleTimeout:       s.cfg.IdleTimeout,
		MaxHeaderBytes:    s.cfg.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()

	started := time.Now()
	b, err := s.openBroker()
	if err != nil {
		srv.Close()
		return err
	}
	s.broker.Store(b)
	s.ready.Store(true)
	s.log.Info("herald is ready", "listen", ln.Addr().String(), "data", s.cfg.DataDir,
		"sync", s.cfg.Sync, "recovery", time.Since(started).Round(time.Millisecond))
	if ready != nil {
		ready(ln.Addr())
	}

	select {
	case <-ctx.Done():
	case err := <-serveErr:
		s.ready.Store(false)
		b.Close()
		return fmt.Errorf("http server stopped: %w", err)
	}
	s.log.Info("shutting down: finishing in-flight requests")
	s.ready.Store(false)
	shutdownCtx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	s.cancelStreams()
	err = srv.Shutdown(shutdownCtx)
	s.streams.Wait()
	if cerr := b.Close(); cerr != nil && err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	s.log.Info("stopped")
	return nil
}

func (s *Server) openBroker() (*broker.Broker, error) {
	policy, _ := commitlog.ParseSyncPolicy(s.cfg.Sync) // checked by Validate
	b, err := broker.Open(broker.Config{
		DataDir:          s.cfg.DataDir,
		Sync:             policy,
		AutoCreateTopics: s.cfg.AutoCreateTopics,
		DefaultTopic:     broker.TopicConfig{MaxEventBytes: s.cfg.MaxEventBytes},
		Logger:           s.log,
	})
	if err != nil {
		return nil, fmt.Errorf("open data directory %s: %w", s.cfg.DataDir, err)
	}
	return b, nil
}

// Handler is the HTTP API. Requests before the broker is open get 503.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.HandleFunc("GET /openapi.json", s.openAPI)
	mux.HandleFunc("GET /v1/stream", s.stream)
	s.routes(mux)
	return s.recoverPanics(problemForUnrouted(mux, s))
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	if !s.ready.Load() {
		s.writeProblem(w, r, &problem{Type: problemBase + "unavailable", Title: "Not ready", Status: http.StatusServiceUnavailable,
			Detail: "recovering or shutting down", retryAfter: time.Second})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// withBroker runs h with the broker, or answers 503 before it is open.
func (s *Server) withBroker(h func(w http.ResponseWriter, r *http.Request, b *broker.Broker)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		b := s.broker.Load()
		if b == nil || !s.ready.Load() {
			s.writeProblem(w, r, &problem{Type: problemBase + "unavailable", Title: "Not ready", Status: http.StatusServiceUnavailable,
				Detail: "the server is recovering its data or shutting down; retry shortly", retryAfter: time.Second})
			return
		}
		// Names in the path are checked here, once, so the error names the
		// path segment the client has to fix.
		for _, seg := range [...]struct{ param, field string }{{"topic", "topic"}, {"sub", "subscription"}} {
			if v := r.PathValue(seg.param); v != "" || strings.Contains(r.Pattern, "{"+seg.param+"}") {
				if err := broker.ValidateName(seg.field, v); err != nil {
					s.writeProblem(w, r, err)
					return
				}
			}
		}
		r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes)
		h(w, r, b)
	}
}

// recoverPanics turns a handler panic into a 500 for that request: one bad
// request must never take the server, and its stored events, down.
func (s *Server) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.Error("handler panic", "method", r.Method, "path", r.URL.Path, "panic", v, "stack", string(debug.Stack()))
				s.writeProblem(w, r, errors.New("panic"))
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// streamContext is the context for a long poll or a push stream: it ends
// when the client goes away or the server shuts down. done must be called
// when the stream ends.
func (s *Server) streamContext(r *http.Request) (ctx context.Context, done func()) {
	s.streams.Add(1)
	ctx, cancel := context.WithCancel(r.Context())
	stop := context.AfterFunc(s.streamsCtx, cancel)
	return ctx, func() {
		stop()
		cancel()
		s.streams.Done()
	}
}

// problemForUnrouted answers requests no route takes with problem+json:
// 404 for an unknown path, 405 (with Allow) for a known path and another
// method. The mux decides which; this only changes the body.
func problemForUnrouted(mux *http.ServeMux, s *Server) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, pattern := mux.Handler(r); pattern != "" {
			mux.ServeHTTP(w, r)
			return
		}
		probe := &statusProbe{header: http.Header{}}
		h, _ := mux.Handler(r)
		h.ServeHTTP(probe, r)
		if probe.status == http.StatusMethodNotAllowed {
			w.Header().Set("Allow", probe.header.Get("Allow"))
			s.writeProblem(w, r, &problem{Type: problemBase + "method-not-allowed", Title: "Method not allowed",
				Status: http.StatusMethodNotAllowed, Detail: r.Method + " is not allowed on " + r.URL.Path + "; allowed: " + probe.header.Get("Allow")})
			return
		}
		s.writeProblem(w, r, &problem{Type: problemBase + "not-found", Title: "Not found", Status: http.StatusNotFound,
			Detail: "no route for " + r.Method + " " + r.URL.Path + "; see /openapi.json"})
	})
}

// statusProbe records what the mux's own 404/405 handler would answer.
type statusProbe struct {
	header http.Header
	status int
}

func (p *statusProbe) Header() http.Header         { return p.header }
func (p *statusProbe) Write(b []byte) (int, error) { return len(b), nil }
func (p *statusProbe) WriteHeader(status int)      { p.status = status }
