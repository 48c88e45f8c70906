package cli

import (
	"errors"
	"flag"
	"fmt"
	"strconv"
	"time"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/internal/remote"
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
	opts := []herald.TailOption{herald.TailFrom(startPosition(f.from))}
	if f.partition >= 0 {
		opts = append(opts, herald.TailPartition(f.partition))
	}
	if f.follow {
		opts = append(opts, herald.Follow())
	}
	err = e.tail(topic, f.limit, opts)
	if errors.Is(err, errLimitReached) || e.ctx.Err() != nil {
		return nil // Ctrl-C is how a tail ends
	}
	if err != nil {
		return fmt.Errorf("tail %q: %w", topic, err)
	}
	return nil
}

// startPosition reads a position checkPosition accepted.
func startPosition(v string) herald.StartPosition {
	switch v {
	case "earliest":
		return herald.FromEarliest
	case "latest":
		return herald.FromLatest
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		return herald.FromOffset(n)
	}
	t, _ := time.Parse(time.RFC3339Nano, v)
	return herald.FromTime(t)
}

// tail prints the topic's events through the SDK's Tail: without
// --follow what was stored when it started, partition by partition; with
// it, new events until ctx ends, the limit is reached or the connection
// is lost.
func (e *env) tail(topic string, limit int, opts []herald.TailOption) error {
	c, err := e.dial()
	if err != nil {
		return err
	}
	defer c.Close()
	printed := 0
	err = c.Tail(e.ctx, topic, func(m *herald.Message) error {
		if err := e.printEvent(m); err != nil {
			return err
		}
		if printed++; limit > 0 && printed >= limit {
			return errLimitReached
		}
		return nil
	}, opts...)
	err = e.sdkError(err)
	var lost *remote.ConnError
	if errors.As(err, &lost) {
		return fmt.Errorf("lost the connection to the server (%v); tail again with --from to resume", lost.Err)
	}
	return hintIf(err, herald.ErrTopicNotFound, "list topics with 'herald topics ls'")
}

// printEvent prints one event: a line for people, or a JSON line with the
// herald extensions, as the HTTP API serves stored events.
func (e *env) printEvent(m *herald.Message) error {
	ev := storedEvent(m)
	if !e.json {
		return e.out.printf("%s\n", e.out.eventLine(&ev, ""))
	}
	raw, err := ev.MarshalJSON()
	if err != nil {
		return err
	}
	return e.out.jsonLine(raw)
}
