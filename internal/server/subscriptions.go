package server

import (
	"errors"
	"net/http"
	"reflect"
	"time"

	"github.com/heraldhq/herald/internal/broker"
)

type retryJSON struct {
	Initial       *string   `json:"initial,omitempty"`
	Multiplier    *float64  `json:"multiplier,omitempty"`
	Max           *string   `json:"max,omitempty"`
	Jitter        *float64  `json:"jitter,omitempty"`
	Delays        *[]string `json:"delays,omitempty"`
	MaxDeliveries *int      `json:"maxDeliveries,omitempty"`
}

type subscriptionJSON struct {
	Filter                 *broker.Filter `json:"filter,omitempty"`
	Ordering               *string        `json:"ordering,omitempty"`
	Start                  *string        `json:"start,omitempty"`
	AckTimeout             *string        `json:"ackTimeout,omitempty"`
	Retry                  *retryJSON     `json:"retry,omitempty"`
	MaxInFlight            *int           `json:"maxInFlight,omitempty"`
	MaxInFlightPerConsumer *int           `json:"maxInFlightPerConsumer,omitempty"`
	DeadLetterTopic        *string        `json:"deadLetterTopic,omitempty"`
}

// applyTo overwrites the fields the request set; errors name the field.
func (j subscriptionJSON) applyTo(c *broker.SubscriptionConfig) error {
	if j.Filter != nil {
		c.Filter = *j.Filter
	}
	if j.Ordering != nil {
		c.Ordering = broker.Ordering(*j.Ordering)
	}
	if j.Start != nil {
		p, err := parsePosition("start", *j.Start)
		if err != nil {
			return err
		}
		c.Start = p.start()
	}
	if err := setDuration(&c.AckTimeout, j.AckTimeout, "ackTimeout"); err != nil {
		return err
	}
	if j.MaxInFlight != nil {
		c.MaxInFlight = *j.MaxInFlight
	}
	if j.MaxInFlightPerConsumer != nil {
		c.MaxInFlightPerConsumer = *j.MaxInFlightPerConsumer
	}
	if j.DeadLetterTopic != nil {
		c.DeadLetterTopic = *j.DeadLetterTopic
	}
	if r := j.Retry; r != nil {
		if err := setDuration(&c.Retry.Initial, r.Initial, "retry.initial"); err != nil {
			return err
		}
		if err := setDuration(&c.Retry.Max, r.Max, "retry.max"); err != nil {
			return err
		}
		if r.Multiplier != nil {
			c.Retry.Multiplier = *r.Multiplier
		}
		if r.Jitter != nil {
			c.Retry.Jitter = *r.Jitter
		}
		if r.MaxDeliveries != nil {
			c.Retry.MaxDeliveries = *r.MaxDeliveries
		}
		if r.Delays != nil {
			c.Retry.Delays = make([]time.Duration, len(*r.Delays))
			for i, d := range *r.Delays {
				field := "retry.delays[" + itoa(i) + "]"
				if err := setDuration(&c.Retry.Delays[i], &d, field); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func subscriptionView(info broker.SubscriptionInfo, stats *broker.SubscriptionStats) map[string]any {
	c := info.Config
	delays := make([]string, len(c.Retry.Delays))
	for i, d := range c.Retry.Delays {
		delays[i] = d.String()
	}
	start := string(c.Start.Kind)
	switch c.Start.Kind {
	case broker.StartOffset:
		start = itoa(int(c.Start.Offset))
	case broker.StartTime:
		start = c.Start.Time.Format(time.RFC3339Nano)
	}
	v := map[string]any{
		"topic": info.Topic, "name": info.Name, "created": info.Created,
		"config": map[string]any{
			"filter": c.Filter, "ordering": c.Ordering, "start": start, "ackTimeout": c.AckTimeout.String(),
			"retry": map[string]any{
				"initial": c.Retry.Initial.String(), "multiplier": c.Retry.Multiplier, "max": c.Retry.Max.String(),
				"jitter": c.Retry.Jitter, "delays": delays, "maxDeliveries": c.Retry.MaxDeliveries,
			},
			"maxInFlight": c.MaxInFlight, "maxInFlightPerConsumer": c.MaxInFlightPerConsumer,
			"deadLetterTopic": c.DeadLetterTopic,
		},
	}
	if stats != nil {
		v["stats"] = stats
	}
	return v
}

func (s *Server) createSubscription(w http.ResponseWriter, r *http.Request, b *broker.Broker) {
	topic, name := r.PathValue("topic"), r.PathValue("sub")
	var req subscriptionJSON
	if err := decodeJSON(r.Body, &req); err != nil {
		s.writeProblem(w, r, err)
		return
	}
	var cfg broker.SubscriptionConfig
	if err := req.applyTo(&cfg); err != nil {
		s.writeProblem(w, r, err)
		return
	}
	info, err := b.CreateSubscription(r.Context(), topic, name, cfg)
	if errors.Is(err, broker.ErrSubscriptionExists) {
		existing, serr := b.Subscription(topic, name)
		if serr == nil {
			want := existing.Config
			if req.applyTo(&want) == nil && reflect.DeepEqual(want, existing.Config) {
				writeJSON(w, http.StatusOK, subscriptionView(existing, nil))
				return
			}
		}
		s.writeProblem(w, r, &problem{Type: problemBase + "conflict", Title: "Subscription exists with another configuration",
			Status: http.StatusConflict, Field: "subscription",
			Detail: "subscription " + name + " exists with another configuration; change it with PATCH, move it with seek"})
		return
	}
	if err != nil {
		s.writeProblem(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, subscriptionView(info, nil))
}

func (s *Server) updateSubscription(w http.ResponseWriter, r *http.Request, b *broker.Broker) {
	topic, name := r.PathValue("topic"), r.PathValue("sub")
	var req subscriptionJSON
	if err := decodeJSON(r.Body, &req); err != nil {
		s.writeProblem(w, r, err)
		return
	}
	if req.Start != nil {
		s.writeProblem(w, r, badRequest("start", "start applies to a new subscription; move an existing one with POST .../seek"))
		return
	}
	info, err := b.Subscription(topic, name)
	if err != nil {
		s.writeProblem(w, r, err)
		return
	}
	cfg := info.Config
	if err := req.applyTo(&cfg); err != nil {
		s.writeProblem(w, r, err)
		return
	}
	if info, err = b.UpdateSubscription(r.Context(), topic, name, cfg); err != nil {
		s.writeProblem(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, subscriptionView(info, nil))
}

func (s *Server) getSubscription(w http.ResponseWriter, r *http.Request, b *broker.Broker) {
	topic, name := r.PathValue("topic"), r.PathValue("sub")
	info, err := b.Subscription(topic, name)
	if err != nil {
		s.writeProblem(w, r, err)
		return
	}
	stats, err := b.Stats(topic, name)
	if err != nil {
		s.writeProblem(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, subscriptionView(info, &stats))
}

func (s *Server) listSubscriptions(w http.ResponseWriter, r *http.Request, b *broker.Broker) {
	subs, err := b.Subscriptions(r.PathValue("topic"))
	if err != nil {
		s.writeProblem(w, r, err)
		return
	}
	out := make([]map[string]any, len(subs))
	for i, info := range subs {
		out[i] = subscriptionView(info, nil)
	}
	writeJSON(w, http.StatusOK, map[string]any{"subscriptions": out})
}

func (s *Server) deleteSubscription(w http.ResponseWriter, r *http.Request, b *broker.Broker) {
	if err := b.DeleteSubscription(r.Context(), r.PathValue("topic"), r.PathValue("sub")); err != nil {
		s.writeProblem(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) seek(w http.ResponseWriter, r *http.Request, b *broker.Broker) {
	var req struct {
		Start string `json:"start"`
	}
	if err := decodeJSON(r.Body, &req); err != nil {
		s.writeProblem(w, r, err)
		return
	}
	if req.Start == "" {
		s.writeProblem(w, r, badRequest("start", "start is required: earliest, latest, an offset or an RFC 3339 time"))
		return
	}
	p, err := parsePosition("start", req.Start)
	if err != nil {
		s.writeProblem(w, r, err)
		return
	}
	if err := b.Seek(r.Context(), r.PathValue("topic"), r.PathValue("sub"), p.start()); err != nil {
		s.writeProblem(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"start": req.Start})
}
