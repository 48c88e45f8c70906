package server

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/heraldhq/herald/cloudevent"
	"github.com/heraldhq/herald/internal/broker"
	"github.com/heraldhq/herald/internal/commitlog"
)

// problem is an RFC 9457 problem details body. Field names the request
// field, query parameter or header to blame, so a client can point at it.
type problem struct {
	Type       string `json:"type"`
	Title      string `json:"title"`
	Status     int    `json:"status"`
	Detail     string `json:"detail,omitempty"`
	Field      string `json:"field,omitempty"`
	retryAfter time.Duration
}

const problemBase = "https://herald.dev/problems/"

// badRequest is a 400 about one field of the request.
func badRequest(field, detail string) *problem {
	return &problem{Type: problemBase + "invalid-request", Title: "Invalid request", Status: http.StatusBadRequest, Detail: detail, Field: field}
}

func (p *problem) Error() string { return p.Detail }

// problemFor maps any error a handler meets to its problem. This is the one
// place where errors become status codes.
func problemFor(err error) *problem {
	var p *problem
	if errors.As(err, &p) {
		return p
	}
	var (
		ceField     *cloudevent.FieldError
		brokerField *broker.FieldError
		quota       *broker.QuotaError
		tooBig      *http.MaxBytesError
	)
	switch {
	case errors.As(err, &tooBig):
		return &problem{Type: problemBase + "too-large", Title: "Request body too large", Status: http.StatusRequestEntityTooLarge,
			Detail: "the request body is over the server's limit of " + strconv.FormatInt(tooBig.Limit, 10) + " bytes; send smaller batches"}
	case errors.As(err, &ceField):
		return &problem{Type: problemBase + "invalid-event", Title: "Invalid event", Status: http.StatusBadRequest, Detail: err.Error(), Field: ceField.Field}
	case errors.Is(err, cloudevent.ErrMalformed):
		return &problem{Type: problemBase + "malformed-event", Title: "Malformed event", Status: http.StatusBadRequest,
			Detail: err.Error() + "; send a JSON object (structured mode) or a JSON array (batch mode)", Field: "body"}
	case errors.Is(err, cloudevent.ErrInvalid):
		return &problem{Type: problemBase + "invalid-event", Title: "Invalid event", Status: http.StatusBadRequest, Detail: err.Error()}
	case errors.Is(err, broker.ErrEventTooLarge):
		field := ""
		if errors.As(err, &brokerField) {
			field = brokerField.Field
		}
		return &problem{Type: problemBase + "event-too-large", Title: "Event too large", Status: http.StatusRequestEntityTooLarge, Detail: err.Error(), Field: field}
	case errors.As(err, &brokerField):
		return &problem{Type: problemBase + "invalid-request", Title: "Invalid request", Status: http.StatusBadRequest, Detail: err.Error(), Field: brokerField.Field}
	case errors.Is(err, broker.ErrInvalid):
		return &problem{Type: problemBase + "invalid-request", Title: "Invalid request", Status: http.StatusBadRequest, Detail: err.Error()}
	case errors.Is(err, commitlog.ErrOffsetOutOfRange):
		return &problem{Type: problemBase + "offset-out-of-range", Title: "Offset out of range", Status: http.StatusBadRequest,
			Detail: err.Error() + "; read from earliest, or from an offset in that range", Field: "from"}
	case errors.Is(err, broker.ErrTopicNotFound):
		return &problem{Type: problemBase + "topic-not-found", Title: "Topic not found", Status: http.StatusNotFound, Detail: err.Error(), Field: "topic"}
	case errors.Is(err, broker.ErrSubscriptionNotFound):
		return &problem{Type: problemBase + "subscription-not-found", Title: "Subscription not found", Status: http.StatusNotFound, Detail: err.Error(), Field: "subscription"}
	case errors.Is(err, broker.ErrTopicExists), errors.Is(err, broker.ErrSubscriptionExists):
		return &problem{Type: problemBase + "conflict", Title: "Already exists with another configuration", Status: http.StatusConflict, Detail: err.Error()}
	case errors.As(err, &quota):
		return &problem{Type: problemBase + "quota-exceeded", Title: "Topic quota exceeded", Status: http.StatusTooManyRequests, Detail: err.Error(), retryAfter: quota.RetryAfter}
	case errors.Is(err, broker.ErrQuotaExceeded):
		return &problem{Type: problemBase + "quota-exceeded", Title: "Topic quota exceeded", Status: http.StatusTooManyRequests, Detail: err.Error(), retryAfter: 5 * time.Second}
	case errors.Is(err, broker.ErrBackpressure):
		return &problem{Type: problemBase + "backpressure", Title: "Too many events in flight", Status: http.StatusTooManyRequests, Detail: err.Error(), retryAfter: time.Second}
	case errors.Is(err, broker.ErrUnknownToken):
		return &problem{Type: problemBase + "unknown-token", Title: "Unknown delivery token", Status: http.StatusConflict, Detail: err.Error(), Field: "token"}
	case errors.Is(err, broker.ErrLeaseExpired):
		return &problem{Type: problemBase + "lease-expired", Title: "Lease expired", Status: http.StatusGone, Detail: err.Error(), Field: "token"}
	case errors.Is(err, broker.ErrClosed):
		return &problem{Type: problemBase + "unavailable", Title: "Shutting down", Status: http.StatusServiceUnavailable, Detail: err.Error(), retryAfter: time.Second}
	}
	return &problem{Type: problemBase + "internal", Title: "Internal error", Status: http.StatusInternalServerError,
		Detail: "the server failed to complete the request; stored events are safe. See the server log."}
}

// writeProblem answers with the problem for err, and logs server faults.
func (s *Server) writeProblem(w http.ResponseWriter, r *http.Request, err error) {
	p := problemFor(err)
	if p.Status >= 500 && p.Status != http.StatusServiceUnavailable {
		s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	if p.retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(max(1, int(p.retryAfter.Round(time.Second)/time.Second))))
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(p.Status)
	json.NewEncoder(w).Encode(p)
}

// writeJSON answers with v as JSON.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	if err := enc.Encode(v); err != nil {
		slog.Debug("writing response failed", "err", err)
	}
}
