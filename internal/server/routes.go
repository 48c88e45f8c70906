package server

import (
	_ "embed"
	"net/http"

	"github.com/heraldhq/herald/internal/broker"
)

// route is one endpoint of docs/http-api.md. The list is also checked
// against openapi.json by a test, so the two cannot drift apart.
type route struct {
	method, path string
	handle       func(*Server) func(http.ResponseWriter, *http.Request, *broker.Broker)
}

const (
	topicPath = "/v1/topics/{topic}"
	subPath   = topicPath + "/subscriptions/{sub}"
)

var routes = []route{
	{"GET", "/v1/topics", func(s *Server) handler { return s.listTopics }},
	{"PUT", topicPath, func(s *Server) handler { return s.createTopic }},
	{"PATCH", topicPath, func(s *Server) handler { return s.updateTopic }},
	{"GET", topicPath, func(s *Server) handler { return s.getTopic }},
	{"DELETE", topicPath, func(s *Server) handler { return s.deleteTopic }},
	{"POST", topicPath + "/events", func(s *Server) handler { return s.publish }},
	{"GET", topicPath + "/events", func(s *Server) handler { return s.readEvents }},
	{"GET", topicPath + "/events/stream", func(s *Server) handler { return s.tailSSE }},
	{"GET", topicPath + "/subscriptions", func(s *Server) handler { return s.listSubscriptions }},
	{"PUT", subPath, func(s *Server) handler { return s.createSubscription }},
	{"PATCH", subPath, func(s *Server) handler { return s.updateSubscription }},
	{"GET", subPath, func(s *Server) handler { return s.getSubscription }},
	{"DELETE", subPath, func(s *Server) handler { return s.deleteSubscription }},
	{"POST", subPath + "/seek", func(s *Server) handler { return s.seek }},
	{"POST", subPath + "/pull", func(s *Server) handler { return s.pull }},
	{"POST", subPath + "/ack", func(s *Server) handler { return s.settle("ack") }},
	{"POST", subPath + "/nack", func(s *Server) handler { return s.settle("nack") }},
	{"POST", subPath + "/extend", func(s *Server) handler { return s.settle("extend") }},
	{"POST", subPath + "/reject", func(s *Server) handler { return s.settle("reject") }},
	{"GET", subPath + "/sse", func(s *Server) handler { return s.subscriptionSSE }},
	{"GET", subPath + "/ws", func(s *Server) handler { return s.subscriptionWS }},
	{"GET", subPath + "/deadletters", func(s *Server) handler { return s.listDeadLetters }},
	{"GET", subPath + "/deadletters/{id}", func(s *Server) handler { return s.getDeadLetter }},
	{"POST", subPath + "/deadletters/redrive", func(s *Server) handler { return s.redrive }},
}

type handler = func(http.ResponseWriter, *http.Request, *broker.Broker)

func (s *Server) routes(mux *http.ServeMux) {
	for _, rt := range routes {
		mux.Handle(rt.method+" "+rt.path, s.withBroker(rt.handle(s)))
	}
}

//go:embed openapi.json
var openAPIDoc []byte

func (s *Server) openAPI(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Write(openAPIDoc)
}
