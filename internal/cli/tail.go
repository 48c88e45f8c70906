package cli

import (
	"errors"
	"flag"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/heraldhq/herald/cloudevent"
)

var cmdTail = &command{
	name: "tail", args: "TOPIC", summary: "print a topic's events; follow it live",
	help: `Print a topic's events from any position and, with --follow, keep printing
new ones as they are published until interrupted (Ctrl-C). Tailing keeps no
state on the server and does not affect subscriptions.

Without --follow it prints what was stored when it started and exits,
partition by partition in offset order. --follow is on by default when
stdout is a terminal and off when it is piped. --from defaults to latest
when following (only new events) and to earliest otherwise; an offset
applies to every partition unless --partition picks one.

Each event is one line: publish time, partition/offset, type, subject, and
a preview of the data. With --json each event is one line of structured
CloudEvents JSON carrying the heraldpartition, heraldoffset and heraldtime
extensions.

Examples:
  herald tail orders
  herald tail orders --from earliest --limit 10 --follow=false
  herald tail orders --from 2026-11-24T12:00:00Z --partition 2 --follow
  herald tail orders --json --follow=false > orders.jsonl`,
	run: runTail,
}

// tailPageSize is how many events one GET /events asks for.
const tailPageSize = 1000

// errLimitReached stops a stream once --limit events are printed.
var errLimitReached = errors.New("limit reached")

type tailFlags struct {
	from      string
	partition int
	limit     int
	follow    bool
}

func runTail(e *env, args []string) error {
	f := tailFlags{partition: -1, follow: e.sys.isTerminal(e.stdout)}
	p, err := e.parse(args, func(fs *flag.FlagSet) {
		fs.StringVar(&f.from, "from", "", "start at earliest, latest, an `offset`, or an RFC 3339 time")
		fs.IntVar(&f.partition, "partition", -1, "read only partition `P` (default: all)")
		fs.IntVar(&f.limit, "limit", 0, "stop after `N` events (0: no limit)")
		fs.BoolVar(&f.follow, "follow", f.follow, "keep printing new events until interrupted")
	})
	if err != nil {
		return err
	}
	topic := p.args[0]
	switch {
	case f.limit < 0:
		return usagef(e.cmd, "--limit %d: must not be negative", f.limit)
	case f.partition < -1:
		return usagef(e.cmd, "--partition %d: must not be negative", f.partition)
	case f.from == "" && f.follow:
		f.from = "latest"
	case f.from == "":
		f.from = "earliest"
	case f.from == "latest" && !f.follow:
		return usagef(e.cmd, "--from latest without --follow reads nothing: add --follow, or start earlier")
	}
	if err := checkPosition(e.cmd, "from", f.from); err != nil {
		return err
	}
	q := readQuery{from: f.from, partition: f.partition}
	if f.follow {
		err = e.tailFollow(topic, q, f.limit)
	} else {
		err = e.tailStored(topic, q, f.limit)
	}
	if errors.Is(err, errLimitReached) || e.ctx.Err() != nil {
		return nil // Ctrl-C is how a tail ends
	}
	if err != nil {
		err = withHint(err, http.StatusNotFound, "list topics with 'herald topics ls'")
		return fmt.Errorf("tail %q: %w", topic, err)
	}
	return nil
}

// tailStored prints the events stored when it starts, paging through each
// partition with GET /events (a numeric from needs a partition, so every
// page names one).
func (e *env) tailStored(topic string, q readQuery, limit int) error {
	t, err := e.client.Topic(e.ctx, topic)
	if err != nil {
		return err
	}
	ends := map[int]int64{}
	for _, o := range t.Offsets {
		ends[o.Partition] = o.Next
	}
	parts := []int{q.partition}
	if q.partition < 0 {
		parts = parts[:0]
		for i := range t.Partitions {
			parts = append(parts, i)
		}
	} else if q.partition >= t.Partitions {
		return fmt.Errorf("--partition %d: the topic has partitions 0 to %d", q.partition, t.Partitions-1)
	}
	printed := 0
	for _, part := range parts {
		from := q.from
		for {
			page := tailPageSize
			if limit > 0 {
				page = min(page, limit-printed)
			}
			events, err := e.client.ReadEvents(e.ctx, topic, readQuery{from: from, partition: part, limit: page})
			if err != nil {
				return err
			}
			for i := range events {
				if err := e.printEvent(&events[i], nil); err != nil {
					return err
				}
				if printed++; limit > 0 && printed >= limit {
					return errLimitReached
				}
			}
			if len(events) == 0 {
				break
			}
			last, err := strconv.ParseInt(events[len(events)-1].Extension(cloudevent.ExtHeraldOffset), 10, 64)
			if err != nil {
				return fmt.Errorf("the server sent events without a valid %s extension, so the next page is unknown", cloudevent.ExtHeraldOffset)
			}
			if end, ok := ends[part]; ok && last+1 >= end {
				break
			}
			from = strconv.FormatInt(last+1, 10)
		}
	}
	return nil
}

// tailFollow prints events from the live stream until ctx ends, the limit
// is reached, or the server closes the stream.
func (e *env) tailFollow(topic string, q readQuery, limit int) error {
	body, err := e.client.StreamEvents(e.ctx, topic, q)
	if err != nil {
		return err
	}
	defer body.Close()
	printed := 0
	err = readSSE(body, func(m sseEvent) error {
		ev, err := cloudevent.ParseJSON(m.data)
		if err != nil {
			return fmt.Errorf("the stream sent message %q that is not a CloudEvent: %v", m.id, err)
		}
		if ev.Extension(cloudevent.ExtHeraldPartition) == "" {
			// The SSE id is <partition>-<offset>.
			if part, off, ok := strings.Cut(m.id, "-"); ok {
				ev.SetExtension(cloudevent.ExtHeraldPartition, part)
				ev.SetExtension(cloudevent.ExtHeraldOffset, off)
			}
		}
		if err := e.printEvent(&ev, m.data); err != nil {
			return err
		}
		if printed++; limit > 0 && printed >= limit {
			return errLimitReached
		}
		return nil
	})
	if err == nil && e.ctx.Err() == nil {
		return errors.New("the server closed the stream (is it shutting down?); tail again with --from to resume")
	}
	return err
}

// printEvent prints one event: a line for people, or a JSON line (raw, as
// the server sent it, when given).
func (e *env) printEvent(ev *cloudevent.Event, raw []byte) error {
	if !e.json {
		return e.out.printf("%s\n", e.out.eventLine(ev, ""))
	}
	if raw == nil {
		var err error
		if raw, err = ev.MarshalJSON(); err != nil {
			return err
		}
	}
	return e.out.jsonLine(raw)
}
