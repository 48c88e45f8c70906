package server

import (
	"errors"
	"io"
	"net/http"
	"strings"

	"github.com/heraldhq/herald/cloudevent"
	"github.com/heraldhq/herald/internal/broker"
)

type publishResultJSON struct {
	ID        string `json:"id"`
	Partition int    `json:"partition"`
	Offset    int64  `json:"offset"`
	Duplicate bool   `json:"duplicate"`
}

// publish stores the events of one request: binary, structured or batch
// mode. Every event is validated before any is stored, so a batch is all or
// nothing; the answer comes after the broker has made them durable.
func (s *Server) publish(w http.ResponseWriter, r *http.Request, b *broker.Broker) {
	topic := r.PathValue("topic")
	body, err := io.ReadAll(r.Body)
	if err != nil {
		s.writeProblem(w, r, err)
		return
	}
	events, err := parseEvents(r.Header, body)
	if err != nil {
		s.writeProblem(w, r, err)
		return
	}
	results, err := b.Publish(r.Context(), topic, events)
	if err != nil {
		s.writeProblem(w, r, err)
		return
	}
	out := make([]publishResultJSON, len(results))
	for i, res := range results {
		out[i] = publishResultJSON{ID: res.ID, Partition: res.Partition, Offset: res.Offset, Duplicate: res.Duplicate}
	}
	writeJSON(w, http.StatusOK, map[string]any{"results": out})
}

// parseEvents decodes and validates the events of a publish request.
func parseEvents(h http.Header, body []byte) ([]cloudevent.Event, error) {
	switch cloudevent.ModeOf(h.Get("Content-Type")) {
	case cloudevent.ModeStructured:
		e, err := cloudevent.ParseJSON(body)
		if err == nil {
			err = e.Validate()
		}
		return []cloudevent.Event{e}, err
	case cloudevent.ModeBatch:
		events, err := cloudevent.ParseBatchJSON(body)
		if err != nil {
			return nil, err
		}
		if len(events) == 0 {
			return nil, badRequest("", "the batch is empty: send at least one event")
		}
		return events, cloudevent.ValidateBatch(events)
	case cloudevent.ModeUnsupported:
		return nil, &problem{Type: problemBase + "unsupported-media-type", Title: "Unsupported media type",
			Status: http.StatusUnsupportedMediaType, Field: "Content-Type",
			Detail: "Content-Type " + h.Get("Content-Type") + " is not supported: use application/cloudevents+json, " +
				"application/cloudevents-batch+json, or binary mode (ce-* headers)"}
	}
	if h.Get("ce-specversion") == "" && h.Get("ce-id") == "" {
		return nil, &problem{Type: problemBase + "unsupported-media-type", Title: "Not a CloudEvent", Status: http.StatusUnsupportedMediaType,
			Field:  "Content-Type",
			Detail: "the request has no ce-* headers and its Content-Type is not a CloudEvents format: send ce-id, ce-source, ce-specversion and ce-type headers, or Content-Type application/cloudevents+json"}
	}
	e, err := cloudevent.FromHTTP(h, body)
	if err == nil {
		err = e.Validate()
	}
	return []cloudevent.Event{e}, headerNamed(err)
}

// headerNamed rewrites a binary-mode event error so its field names the
// HTTP header the client has to fix.
func headerNamed(err error) error {
	var fe *cloudevent.FieldError
	if err == nil || !errors.As(err, &fe) {
		return err
	}
	p := problemFor(err)
	switch {
	case fe.Field == "datacontenttype":
		p.Field = "Content-Type"
	case fe.Field == "data":
		p.Field = "body"
	case fe.Field != "" && !strings.HasPrefix(fe.Field, "["):
		p.Field = "ce-" + fe.Field
	}
	return p
}
