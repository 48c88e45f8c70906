package server

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/heraldhq/herald/internal/broker"
)

type deadLetterJSON struct {
	ID           int64           `json:"id"`
	Reason       string          `json:"reason"`
	Error        string          `json:"error,omitempty"`
	Attempts     int             `json:"attempts"`
	Topic        string          `json:"topic"`
	Partition    int             `json:"partition"`
	Offset       int64           `json:"offset"`
	Subscription string          `json:"subscription"`
	PublishTime  time.Time       `json:"publishTime"`
	Time         time.Time       `json:"time"`
	Redriven     bool            `json:"redriven"`
	Event        json.RawMessage `json:"event"`
}

func deadLetterView(d broker.DeadLetter) (deadLetterJSON, error) {
	ev, err := d.Event.MarshalJSON()
	return deadLetterJSON{
		ID: d.ID, Reason: d.Reason, Error: d.LastError, Attempts: d.Attempts, Topic: d.Topic,
		Partition: d.Partition, Offset: d.Offset, Subscription: d.Subscription,
		PublishTime: d.PublishTime, Time: d.Time, Redriven: d.Redriven, Event: ev,
	}, err
}

func (s *Server) listDeadLetters(w http.ResponseWriter, r *http.Request, b *broker.Broker) {
	q := r.URL.Query()
	from, limit := int64(0), defaultReadLimit
	var err error
	if v := q.Get("from"); v != "" {
		if from, err = strconv.ParseInt(v, 10, 64); err != nil || from < 0 {
			s.writeProblem(w, r, badRequest("from", "from: must be a dead-letter id (a whole number)"))
			return
		}
	}
	if v := q.Get("limit"); v != "" {
		if limit, err = strconv.Atoi(v); err != nil || limit < 1 || limit > maxReadLimit {
			s.writeProblem(w, r, badRequest("limit", "limit: must be a whole number from 1 to "+itoa(maxReadLimit)))
			return
		}
	}
	dls, err := b.DeadLetters(r.Context(), r.PathValue("topic"), r.PathValue("sub"), from, limit)
	if err != nil {
		s.writeProblem(w, r, err)
		return
	}
	out := make([]deadLetterJSON, len(dls))
	for i, d := range dls {
		if out[i], err = deadLetterView(d); err != nil {
			s.writeProblem(w, r, err)
			return
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"deadLetters": out})
}

func (s *Server) getDeadLetter(w http.ResponseWriter, r *http.Request, b *broker.Broker) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id < 0 {
		s.writeProblem(w, r, badRequest("id", "id: must be a dead-letter id (a whole number)"))
		return
	}
	dls, err := b.DeadLetters(r.Context(), r.PathValue("topic"), r.PathValue("sub"), id, 1)
	if err != nil {
		s.writeProblem(w, r, err)
		return
	}
	if len(dls) == 0 || dls[0].ID != id {
		s.writeProblem(w, r, &problem{Type: problemBase + "not-found", Title: "Dead letter not found", Status: http.StatusNotFound,
			Field: "id", Detail: "no dead letter with id " + r.PathValue("id") + "; list them with GET .../deadletters"})
		return
	}
	v, err := deadLetterView(dls[0])
	if err != nil {
		s.writeProblem(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

func (s *Server) redrive(w http.ResponseWriter, r *http.Request, b *broker.Broker) {
	var req struct {
		IDs []int64 `json:"ids"`
	}
	if err := decodeJSON(r.Body, &req); err != nil {
		s.writeProblem(w, r, err)
		return
	}
	n, err := b.Redrive(r.Context(), r.PathValue("topic"), r.PathValue("sub"), req.IDs)
	if err != nil {
		s.writeProblem(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"redriven": n})
}
