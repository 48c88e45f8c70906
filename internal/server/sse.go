package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/heraldhq/herald/internal/broker"
)

const keepaliveEvery = 15 * time.Second

// sseWriter writes Server-Sent Events and flushes each one.
type sseWriter struct {
	w  http.ResponseWriter
	rc *http.ResponseController
}

func startSSE(w http.ResponseWriter) *sseWriter {
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no") // tell proxies not to buffer the stream
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	rc.SetWriteDeadline(time.Time{}) // a stream has no end; keepalives detect dead clients
	rc.Flush()
	return &sseWriter{w: w, rc: rc}
}

// event writes one SSE message; data must hold no newline (JSON does not).
// An empty name sends an unnamed event, which a browser's EventSource
// hands to onmessage.
func (s *sseWriter) event(id, name string, data []byte) error {
	var err error
	if name == "" {
		_, err = fmt.Fprintf(s.w, "id: %s\ndata: %s\n\n", id, data)
	} else {
		_, err = fmt.Fprintf(s.w, "id: %s\nevent: %s\ndata: %s\n\n", id, name, data)
	}
	if err != nil {
		return err
	}
	return s.rc.Flush()
}

func (s *sseWriter) keepalive() error {
	if _, err := fmt.Fprint(s.w, ": keepalive\n\n"); err != nil {
		return err
	}
	return s.rc.Flush()
}

// subscriptionSSE pushes a subscription's deliveries as SSE. The client
// settles them with the HTTP endpoints (SSE is one-way); the broker's
// per-consumer in-flight limit is the flow control.
func (s *Server) subscriptionSSE(w http.ResponseWriter, r *http.Request, b *broker.Broker) {
	topic, sub := r.PathValue("topic"), r.PathValue("sub")
	consumer, batch, err := pushParams(r, b)
	if err != nil {
		s.writeProblem(w, r, err)
		return
	}
	ctx, done := s.streamContext(r)
	defer done()
	out := startSSE(w)
	for ctx.Err() == nil {
		deliveries, err := fetchOrKeepalive(ctx, b, topic, sub, consumer, batch)
		if err != nil {
			if ctx.Err() == nil {
				s.log.Warn("sse stream ended", "topic", topic, "subscription", sub, "err", err)
			}
			return
		}
		if deliveries == nil {
			if out.keepalive() != nil {
				return
			}
			continue
		}
		for _, d := range deliveries {
			v, err := deliveryView(d)
			if err != nil {
				return
			}
			data, _ := json.Marshal(v)
			if out.event(d.Token, "delivery", data) != nil {
				return
			}
		}
	}
}

// fetchOrKeepalive waits up to keepaliveEvery for deliveries. It returns
// nil, nil when the wait ended with none (time for a keepalive), and waits
// out backpressure (the consumer holds its limit of unsettled events).
func fetchOrKeepalive(ctx context.Context, b *broker.Broker, topic, sub, consumer string, max int) ([]broker.Delivery, error) {
	wctx, cancel := context.WithTimeout(ctx, keepaliveEvery)
	defer cancel()
	for {
		ds, err := b.Fetch(wctx, topic, sub, consumer, max)
		switch {
		case err == nil:
			return ds, nil
		case ctx.Err() != nil:
			return nil, ctx.Err()
		case wctx.Err() != nil:
			return nil, nil // the keepalive interval passed
		case !errors.Is(err, broker.ErrBackpressure):
			return nil, err
		}
		// Settles arrive on other requests, which we cannot wait on here:
		// look again shortly.
		t := time.NewTimer(50 * time.Millisecond)
		select {
		case <-t.C:
		case <-wctx.Done():
			t.Stop()
			return nil, ctx.Err()
		}
	}
}

// pushParams reads ?consumer= and ?maxInFlight= of a push stream, and
// checks that the subscription exists, so a stream fails before it starts.
func pushParams(r *http.Request, b *broker.Broker) (consumer string, maxInFlight int, err error) {
	if _, err := b.Subscription(r.PathValue("topic"), r.PathValue("sub")); err != nil {
		return "", 0, err
	}
	q := r.URL.Query()
	consumer = q.Get("consumer")
	if consumer == "" {
		consumer = r.RemoteAddr
	}
	maxInFlight = 100
	if v := q.Get("maxInFlight"); v != "" {
		if maxInFlight, err = strconv.Atoi(v); err != nil || maxInFlight < 1 || maxInFlight > maxPullEvents {
			return "", 0, badRequest("maxInFlight", "maxInFlight: must be from 1 to "+itoa(maxPullEvents))
		}
	}
	return consumer, maxInFlight, nil
}

// tailSSE follows a topic live from any position: an ephemeral reader with
// no stored state.
func (s *Server) tailSSE(w http.ResponseWriter, r *http.Request, b *broker.Broker) {
	topic := r.PathValue("topic")
	q := r.URL.Query()
	from, err := parsePosition("from", q.Get("from"))
	if err != nil {
		s.writeProblem(w, r, err)
		return
	}
	filter := broker.Filter{SubjectPrefix: q.Get("subjectPrefix")}
	if t := q["type"]; len(t) > 0 {
		filter.Types = t
	}
	ctx, done := s.streamContext(r)
	defer done()
	stream, err := b.Tail(ctx, topic, from.start(), filter)
	if err != nil {
		s.writeProblem(w, r, err)
		return
	}
	defer stream.Close()
	out := startSSE(w)
	for ctx.Err() == nil {
		wctx, cancel := context.WithTimeout(ctx, keepaliveEvery)
		se, err := stream.Next(wctx)
		cancel()
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
			if out.keepalive() != nil {
				return
			}
			continue
		}
		if err != nil {
			return
		}
		data, err := se.WithHeraldExtensions(0).MarshalJSON()
		if err != nil {
			return
		}
		if out.event(strconv.Itoa(se.Partition)+"-"+strconv.FormatInt(se.Offset, 10), "", data) != nil {
			return
		}
	}
}
