package server

import (
	"errors"
	"net/http"
	"reflect"

	"github.com/heraldhq/herald/internal/broker"
)

// topicView is the JSON description of a topic (docs/http-api.md).
func topicView(t broker.TopicInfo) map[string]any {
	offsets := make([]map[string]any, len(t.Partitions))
	for i, p := range t.Partitions {
		offsets[i] = map[string]any{"partition": p.Partition, "earliest": p.Earliest, "next": p.Next, "bytes": p.Bytes}
	}
	return map[string]any{
		"name": t.Name, "created": t.Created, "partitions": t.Config.Partitions,
		"config": topicConfigView(t.Config), "bytes": t.Bytes,
		"subscriptions": t.Subscriptions, "offsets": offsets,
	}
}

func (s *Server) createTopic(w http.ResponseWriter, r *http.Request, b *broker.Broker) {
	name := r.PathValue("topic")
	var req topicConfigJSON
	if err := decodeJSON(r.Body, &req); err != nil {
		s.writeProblem(w, r, err)
		return
	}
	var cfg broker.TopicConfig
	if err := req.applyTo(&cfg); err != nil {
		s.writeProblem(w, r, err)
		return
	}
	info, err := b.CreateTopic(r.Context(), name, cfg)
	if errors.Is(err, broker.ErrTopicExists) {
		// PUT is idempotent: the same request again is not a conflict.
		existing, terr := b.Topic(name)
		if terr == nil && sameRequested(req, existing.Config) {
			writeJSON(w, http.StatusOK, topicView(existing))
			return
		}
		s.writeProblem(w, r, &problem{Type: problemBase + "conflict", Title: "Topic exists with another configuration",
			Status: http.StatusConflict, Field: "topic",
			Detail: "topic " + name + " exists with another configuration; change it with PATCH"})
		return
	}
	if err != nil {
		s.writeProblem(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, topicView(info))
}

// sameRequested reports whether every field the request set matches the
// existing configuration.
func sameRequested(req topicConfigJSON, have broker.TopicConfig) bool {
	want := have
	if err := req.applyTo(&want); err != nil {
		return false
	}
	return reflect.DeepEqual(want, have)
}

func (s *Server) updateTopic(w http.ResponseWriter, r *http.Request, b *broker.Broker) {
	name := r.PathValue("topic")
	var req topicConfigJSON
	if err := decodeJSON(r.Body, &req); err != nil {
		s.writeProblem(w, r, err)
		return
	}
	info, err := b.Topic(name)
	if err != nil {
		s.writeProblem(w, r, err)
		return
	}
	cfg := info.Config
	if err := req.applyTo(&cfg); err != nil {
		s.writeProblem(w, r, err)
		return
	}
	if info, err = b.UpdateTopic(r.Context(), name, cfg); err != nil {
		s.writeProblem(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, topicView(info))
}

func (s *Server) getTopic(w http.ResponseWriter, r *http.Request, b *broker.Broker) {
	info, err := b.Topic(r.PathValue("topic"))
	if err != nil {
		s.writeProblem(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, topicView(info))
}

func (s *Server) listTopics(w http.ResponseWriter, r *http.Request, b *broker.Broker) {
	topics, err := b.Topics()
	if err != nil {
		s.writeProblem(w, r, err)
		return
	}
	out := make([]map[string]any, len(topics))
	for i, t := range topics {
		out[i] = topicView(t)
	}
	writeJSON(w, http.StatusOK, map[string]any{"topics": out})
}

func (s *Server) deleteTopic(w http.ResponseWriter, r *http.Request, b *broker.Broker) {
	if err := b.DeleteTopic(r.Context(), r.PathValue("topic")); err != nil {
		s.writeProblem(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
