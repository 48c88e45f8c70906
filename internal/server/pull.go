package server

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/heraldhq/herald/internal/broker"
)

const (
	defaultPullWait = 30 * time.Second
	maxPullWait     = 60 * time.Second
	maxPullEvents   = 1000
)

type deliveryJSON struct {
	Token    string          `json:"token"`
	Attempt  int             `json:"attempt"`
	Deadline time.Time       `json:"deadline"`
	Event    json.RawMessage `json:"event"`
}

func deliveryView(d broker.Delivery) (deliveryJSON, error) {
	e := d.Event.WithHeraldExtensions(d.Attempt)
	data, err := e.MarshalJSON()
	return deliveryJSON{Token: d.Token, Attempt: d.Attempt, Deadline: d.Deadline, Event: data}, err
}

// pull is a long poll: it answers as soon as at least one event is leased
// to the consumer, or with an empty list when the wait ends.
func (s *Server) pull(w http.ResponseWriter, r *http.Request, b *broker.Broker) {
	req := struct {
		Max      int     `json:"max"`
		Wait     *string `json:"wait"`
		Consumer string  `json:"consumer"`
	}{Max: 10}
	if err := decodeJSON(r.Body, &req); err != nil {
		s.writeProblem(w, r, err)
		return
	}
	wait := defaultPullWait
	if err := setDuration(&wait, req.Wait, "wait"); err != nil {
		s.writeProblem(w, r, err)
		return
	}
	if wait < 0 || wait > maxPullWait {
		s.writeProblem(w, r, badRequest("wait", "wait: at most "+maxPullWait.String()))
		return
	}
	if req.Max < 1 || req.Max > maxPullEvents {
		s.writeProblem(w, r, badRequest("max", "max: must be from 1 to "+itoa(maxPullEvents)))
		return
	}
	if req.Consumer == "" {
		req.Consumer = r.RemoteAddr
	}
	ctx, done := s.streamContext(r)
	defer done()
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	http.NewResponseController(w).SetWriteDeadline(time.Now().Add(wait + s.cfg.WriteTimeout))
	deliveries, err := b.Fetch(ctx, r.PathValue("topic"), r.PathValue("sub"), req.Consumer, req.Max)
	if err != nil && !(errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)) {
		s.writeProblem(w, r, err)
		return
	}
	out := make([]deliveryJSON, 0, len(deliveries))
	for _, d := range deliveries {
		v, err := deliveryView(d)
		if err != nil {
			s.writeProblem(w, r, err)
			return
		}
		out = append(out, v)
	}
	writeJSON(w, http.StatusOK, map[string]any{"deliveries": out})
}

type settleRequest struct {
	Tokens []string `json:"tokens"`
	Delay  *string  `json:"delay"`
	Error  string   `json:"error"`
	Reason string   `json:"reason"`
}

type settleResult struct {
	Token  string `json:"token"`
	Status string `json:"status"`
	Detail string `json:"detail,omitempty"`
}

// settleStatus names the per-token outcome of a settle call; errors that
// are not about the token fail the whole request.
func settleStatus(err error) (string, error) {
	switch {
	case err == nil:
		return "ok", nil
	case errors.Is(err, broker.ErrLeaseExpired):
		return "expired", nil
	case errors.Is(err, broker.ErrUnknownToken):
		return "unknown", nil
	}
	return "", err
}

// settle answers ack, nack, extend and reject: one result per token.
func (s *Server) settle(action string) func(http.ResponseWriter, *http.Request, *broker.Broker) {
	return func(w http.ResponseWriter, r *http.Request, b *broker.Broker) {
		topic, sub := r.PathValue("topic"), r.PathValue("sub")
		var req settleRequest
		if err := decodeJSON(r.Body, &req); err != nil {
			s.writeProblem(w, r, err)
			return
		}
		if len(req.Tokens) == 0 {
			s.writeProblem(w, r, badRequest("tokens", "tokens: give at least one delivery token"))
			return
		}
		var delay time.Duration
		if err := setDuration(&delay, req.Delay, "delay"); err != nil {
			s.writeProblem(w, r, err)
			return
		}
		results := make([]settleResult, len(req.Tokens))
		for i, tok := range req.Tokens {
			err := s.settleOne(r.Context(), b, action, topic, sub, tok, delay, req.Error, req.Reason)
			status, fatal := settleStatus(err)
			if fatal != nil {
				s.writeProblem(w, r, fatal)
				return
			}
			results[i] = settleResult{Token: tok, Status: status}
			if err != nil {
				results[i].Detail = err.Error()
			}
		}
		writeJSON(w, http.StatusOK, map[string]any{"results": results})
	}
}

func (s *Server) settleOne(ctx context.Context, b *broker.Broker, action, topic, sub, token string, delay time.Duration, lastErr, reason string) error {
	switch action {
	case "ack":
		return b.Ack(ctx, topic, sub, token)
	case "nack":
		return b.Nack(ctx, topic, sub, token, delay, lastErr)
	case "extend":
		return b.Extend(ctx, topic, sub, token)
	case "reject":
		if reason == "" {
			reason = "rejected by consumer"
		}
		return b.Reject(ctx, topic, sub, token, reason)
	}
	return errors.New("unknown settle action " + action)
}
