package server

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/coder/websocket"
	"github.com/heraldhq/herald/internal/broker"
)

// wsMessage is every message of the WebSocket protocol, both ways
// (docs/http-api.md).
type wsMessage struct {
	Type     string          `json:"type"`
	Token    string          `json:"token,omitempty"`
	Attempt  int             `json:"attempt,omitempty"`
	Deadline *time.Time      `json:"deadline,omitempty"`
	Event    json.RawMessage `json:"event,omitempty"`
	Delay    string          `json:"delay,omitempty"`
	Error    string          `json:"error,omitempty"`
	Reason   string          `json:"reason,omitempty"`
	Status   string          `json:"status,omitempty"`
	Detail   string          `json:"detail,omitempty"`
	Field    string          `json:"field,omitempty"`
}

// maxWSMessage bounds a client message: they are small settle commands.
const maxWSMessage = 64 << 10

// subscriptionWS pushes deliveries over a WebSocket and takes settles on
// the same socket. The socket holds at most maxInFlight unsettled
// deliveries: flow control without polling.
//
// Goroutines: the handler's goroutine sends deliveries; one reader
// goroutine, started here and ended with the socket, applies settles.
func (s *Server) subscriptionWS(w http.ResponseWriter, r *http.Request, b *broker.Broker) {
	topic, sub := r.PathValue("topic"), r.PathValue("sub")
	consumer, maxInFlight, err := pushParams(r, b)
	if err != nil {
		s.writeProblem(w, r, err)
		return
	}
	// Herald has no authentication of its own (see package doc): any
	// origin may connect, as any client may call the HTTP API.
	conn, err := websocket.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: true})
	if err != nil {
		return // Accept has answered the client
	}
	defer conn.CloseNow()
	conn.SetReadLimit(maxWSMessage)
	ctx, done := s.streamContext(r)
	defer done()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	credits := make(chan struct{}, maxInFlight) // one per settled delivery
	for range maxInFlight {
		credits <- struct{}{}
	}
	go func() {
		defer cancel()
		for {
			var m wsMessage
			_, data, err := conn.Read(ctx)
			if err != nil {
				return
			}
			if err := json.Unmarshal(data, &m); err != nil {
				s.wsSend(ctx, conn, wsMessage{Type: "error", Detail: "malformed JSON message: " + err.Error()})
				continue
			}
			reply, settled := s.wsSettle(ctx, b, topic, sub, m)
			if settled {
				select {
				case credits <- struct{}{}:
				default:
				}
			}
			if s.wsSend(ctx, conn, reply) != nil {
				return
			}
		}
	}()

	for {
		// Take every credit available: deliver that many at most.
		n := 0
		select {
		case <-credits:
			n = 1
		case <-ctx.Done():
			conn.Close(websocket.StatusGoingAway, "server shutting down or client gone")
			return
		}
	more:
		for n < maxInFlight {
			select {
			case <-credits:
				n++
			default:
				break more
			}
		}
		deliveries, err := fetchOrKeepalive(ctx, b, topic, sub, consumer, n)
		if err != nil {
			conn.Close(websocket.StatusInternalError, "delivery stopped")
			return
		}
		for i := len(deliveries); i < n; i++ {
			credits <- struct{}{} // unused credits go back
		}
		if deliveries == nil {
			if err := conn.Ping(ctx); err != nil {
				return
			}
			continue
		}
		for _, d := range deliveries {
			v, err := deliveryView(d)
			if err != nil {
				return
			}
			deadline := v.Deadline
			if s.wsSend(ctx, conn, wsMessage{Type: "delivery", Token: v.Token, Attempt: v.Attempt, Deadline: &deadline, Event: v.Event}) != nil {
				return
			}
		}
	}
}

func (s *Server) wsSend(ctx context.Context, conn *websocket.Conn, m wsMessage) error {
	data, err := json.Marshal(m)
	if err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, s.cfg.WriteTimeout)
	defer cancel()
	return conn.Write(wctx, websocket.MessageText, data)
}

// wsSettle applies one client message and says whether it freed a
// delivery slot (ack, nack and reject do; extend does not).
func (s *Server) wsSettle(ctx context.Context, b *broker.Broker, topic, sub string, m wsMessage) (wsMessage, bool) {
	action := m.Type
	switch action {
	case "ack", "nack", "extend", "reject":
	default:
		return wsMessage{Type: "error", Field: "type", Detail: "unknown message type " + m.Type + ": send ack, nack, extend or reject"}, false
	}
	if m.Token == "" {
		return wsMessage{Type: "error", Field: "token", Detail: "token is required"}, false
	}
	var delay time.Duration
	if m.Delay != "" {
		if err := setDuration(&delay, &m.Delay, "delay"); err != nil {
			return wsMessage{Type: "error", Token: m.Token, Field: "delay", Detail: err.Error()}, false
		}
	}
	err := s.settleOne(ctx, b, action, topic, sub, m.Token, delay, m.Error, m.Reason)
	status, fatal := settleStatus(err)
	if fatal != nil {
		p := problemFor(fatal)
		return wsMessage{Type: "error", Token: m.Token, Field: p.Field, Detail: p.Detail}, false
	}
	reply := wsMessage{Type: "settled", Token: m.Token, Status: status}
	if err != nil && !errors.Is(err, context.Canceled) {
		reply.Detail = err.Error()
	}
	return reply, action != "extend" && status != "unknown"
}
