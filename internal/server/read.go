package server

import (
	"net/http"
	"strconv"
	"time"

	"github.com/heraldhq/herald/cloudevent"
	"github.com/heraldhq/herald/internal/broker"
)

const (
	defaultReadLimit = 100
	maxReadLimit     = 10000
)

// position is a parsed `from` / `start` value.
type position struct {
	kind   broker.StartKind
	offset int64
	time   time.Time
}

// parsePosition reads earliest, latest, an offset or an RFC 3339 time.
func parsePosition(field, v string) (position, error) {
	switch v {
	case "", "latest":
		return position{kind: broker.StartLatest}, nil
	case "earliest":
		return position{kind: broker.StartEarliest}, nil
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n < 0 {
			return position{}, badRequest(field, field+": offsets are not negative")
		}
		return position{kind: broker.StartOffset, offset: n}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return position{kind: broker.StartTime, time: t}, nil
	}
	return position{}, badRequest(field, field+": "+strconv.Quote(v)+" is not earliest, latest, an offset or an RFC 3339 time")
}

func (p position) start() broker.StartPosition {
	return broker.StartPosition{Kind: p.kind, Offset: p.offset, Time: p.time}
}

// readEvents replays stored events as a CloudEvents batch.
func (s *Server) readEvents(w http.ResponseWriter, r *http.Request, b *broker.Broker) {
	topic := r.PathValue("topic")
	q := r.URL.Query()
	fromParam := q.Get("from")
	if fromParam == "" {
		fromParam = "earliest" // a replay without a start reads from the beginning
	}
	from, err := parsePosition("from", fromParam)
	if err != nil {
		s.writeProblem(w, r, err)
		return
	}
	limit := defaultReadLimit
	if v := q.Get("limit"); v != "" {
		if limit, err = strconv.Atoi(v); err != nil || limit < 1 || limit > maxReadLimit {
			s.writeProblem(w, r, badRequest("limit", "limit: must be a whole number from 1 to "+strconv.Itoa(maxReadLimit)))
			return
		}
	}
	info, err := b.Topic(topic)
	if err != nil {
		s.writeProblem(w, r, err)
		return
	}
	partitions := make([]int, 0, info.Config.Partitions)
	if v := q.Get("partition"); v != "" {
		p, err := strconv.Atoi(v)
		if err != nil || p < 0 || p >= info.Config.Partitions {
			s.writeProblem(w, r, badRequest("partition", "partition: must be a whole number from 0 to "+strconv.Itoa(info.Config.Partitions-1)))
			return
		}
		partitions = append(partitions, p)
	} else {
		if from.kind == broker.StartOffset {
			s.writeProblem(w, r, badRequest("partition", "a numeric from needs a partition: offsets are per partition"))
			return
		}
		for p := 0; p < info.Config.Partitions; p++ {
			partitions = append(partitions, p)
		}
	}
	var events []cloudevent.Event
	for _, p := range partitions {
		if len(events) >= limit {
			break
		}
		start, err := startOffset(b, topic, p, from)
		if err != nil {
			s.writeProblem(w, r, err)
			return
		}
		got, err := b.Read(r.Context(), topic, p, start, limit-len(events))
		if err != nil {
			s.writeProblem(w, r, err)
			return
		}
		for _, se := range got {
			events = append(events, se.WithHeraldExtensions(0))
		}
	}
	body, err := cloudevent.MarshalBatchJSON(events)
	if err != nil {
		s.writeProblem(w, r, err)
		return
	}
	w.Header().Set("Content-Type", cloudevent.ContentTypeBatchJSON)
	w.Write(body)
}

// startOffset resolves a position to an offset in one partition.
func startOffset(b *broker.Broker, topic string, p int, from position) (int64, error) {
	earliest, next, err := b.Offsets(topic, p)
	if err != nil {
		return 0, err
	}
	switch from.kind {
	case broker.StartEarliest:
		return earliest, nil
	case broker.StartOffset:
		return from.offset, nil
	case broker.StartTime:
		return b.OffsetForTime(topic, p, from.time)
	}
	return next, nil
}
