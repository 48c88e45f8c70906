package cli

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/heraldhq/herald/cloudevent"
)

var cmdPublish = &command{
	name: "publish", args: "TOPIC", summary: "publish events",
	help: `Publish CloudEvents to a topic. The data comes from --data, from --file, or
from stdin: all of stdin is one event, or with --stdin-lines every non-empty
line is one event. With --events the input is structured CloudEvents JSON
(what 'herald tail --json' prints) instead of data; attribute flags that are
given override the event's attributes.

One event is sent in structured mode; several are sent in batches
(application/cloudevents-batch+json, each batch all or nothing). A batch
goes when it holds --batch events or 1 MiB, or when the input pauses for
--linger. Each event's answer is printed: its id, partition, offset, and
whether it was a duplicate (the same source and id inside the topic's dedup
window: not stored again). With --json, one JSON line per event.

The data's content type, unless --content-type says it: application/json
when the data parses as JSON (white space around it is dropped), text/plain
when it is UTF-8 text, application/octet-stream otherwise. A trailing
newline of text read from stdin is dropped.

Examples:
  herald publish orders --type OrderPlaced --subject eu/42 --data '{"total":12.5}'
  herald publish orders --type OrderPlaced --key customer-7 --file order.json
  seq 1000 | herald publish numbers --type Number --stdin-lines
  herald publish reminders --type Remind --data '"call Bob"' --deliver-at 10m
  herald tail orders --json --follow=false | herald publish orders-copy --events --stdin-lines`,
	run: runPublish,
}

// maxBatchBytes sends a batch early once its data reaches this size, to
// stay well under the server's 4 MiB body limit after JSON encoding.
const maxBatchBytes = 1 << 20

type publishFlags struct {
	typ, source, subject, key, id string
	data, file, contentType       string
	deliverAt                     string
	ext                           listFlag
	stdinLines, events            bool
	batch                         int
	linger                        time.Duration
}

func (f *publishFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.typ, "type", "herald.cli.event", "the event `type`")
	fs.StringVar(&f.source, "source", "herald-cli", "the event `source` (a URI-reference)")
	fs.StringVar(&f.subject, "subject", "", "the event `subject`")
	fs.StringVar(&f.key, "key", "", "partition `key` (the partitionkey extension): events with one key keep their order")
	fs.StringVar(&f.id, "id", "", "the event `id` (default: a random UUID per event)")
	fs.StringVar(&f.data, "data", "", "the event `data`; --data '' publishes an event without data")
	fs.StringVar(&f.file, "file", "", "read the data of one event from this `file`")
	fs.StringVar(&f.contentType, "content-type", "", "the data's media `type` (datacontenttype)")
	fs.StringVar(&f.deliverAt, "deliver-at", "", "delay delivery to subscriptions until this `time` (RFC 3339, or a duration from now like 10m)")
	fs.Var(&f.ext, "ext", "set an extension attribute, `name=value` (repeatable)")
	fs.BoolVar(&f.stdinLines, "stdin-lines", false, "read stdin as one event per line")
	fs.BoolVar(&f.events, "events", false, "the input is structured CloudEvents JSON, not data")
	fs.IntVar(&f.batch, "batch", 100, "send at most `N` events per request")
	fs.DurationVar(&f.linger, "linger", 100*time.Millisecond, "send a partial batch when the input pauses this `long`")
}

// eventTemplate is what the flags say about every event.
type eventTemplate struct {
	f         *publishFlags
	p         *flagSet
	deliverAt time.Time
	ext       map[string]string
}

func (f *publishFlags) template(cmd *command, p *flagSet, now time.Time) (*eventTemplate, error) {
	sources := 0
	for _, name := range []string{"data", "file", "stdin-lines"} {
		if p.isSet(name) {
			sources++
		}
	}
	switch {
	case sources > 1:
		return nil, usagef(cmd, "give only one of --data, --file and --stdin-lines")
	case f.batch < 1:
		return nil, usagef(cmd, "--batch %d: must be at least 1", f.batch)
	case p.isSet("id") && f.stdinLines:
		return nil, usagef(cmd, "--id names one event, but --stdin-lines publishes one per line; leave --id out to give each a random id")
	case f.events && p.isSet("content-type"):
		return nil, usagef(cmd, "--content-type does not apply to --events: each event says its own datacontenttype")
	case f.events && p.isSet("data"):
		return nil, usagef(cmd, "--data is the data of one event; with --events give whole events on stdin or with --file")
	}
	t := &eventTemplate{f: f, p: p, ext: map[string]string{}}
	for _, kv := range f.ext {
		name, value, ok := strings.Cut(kv, "=")
		switch {
		case !ok || name == "":
			return nil, usagef(cmd, "--ext %q: use name=value", kv)
		case cloudevent.IsBrokerExtension(name):
			return nil, usagef(cmd, "--ext %s: names starting with %q are reserved for the broker", name, "herald")
		}
		t.ext[name] = value
	}
	if f.deliverAt != "" {
		if d, err := time.ParseDuration(f.deliverAt); err == nil {
			t.deliverAt = now.Add(d)
		} else if at, err := time.Parse(time.RFC3339Nano, f.deliverAt); err == nil {
			t.deliverAt = at
		} else {
			return nil, usagef(cmd, "--deliver-at %q: use an RFC 3339 time like 2026-01-02T15:04:05Z, or a duration like 10m", f.deliverAt)
		}
	}
	return t, nil
}

// build makes the event for one unit of input.
func (t *eventTemplate) build(u inputUnit, fromStdin bool) (cloudevent.Event, error) {
	f, p := t.f, t.p
	var ev cloudevent.Event
	if f.events {
		var err error
		if ev, err = cloudevent.ParseJSON(bytes.TrimSpace(u.data)); err != nil {
			return ev, err
		}
		for name := range ev.Extensions {
			if cloudevent.IsBrokerExtension(name) {
				delete(ev.Extensions, name) // positions in the topic it was read from
			}
		}
	} else if len(u.data) > 0 {
		data := u.data
		ct := f.contentType
		if ct == "" {
			ct = detectContentType(bytes.TrimSpace(data))
		}
		switch {
		case isJSONType(mediaType(ct)):
			data = bytes.TrimSpace(data)
		case fromStdin && u.line == 0:
			data = bytes.TrimSuffix(bytes.TrimSuffix(data, []byte("\n")), []byte("\r"))
		}
		ev.Data, ev.DataContentType = bytes.Clone(data), ct
	}
	set := func(dst *string, name, v string) {
		if p.isSet(name) || *dst == "" {
			*dst = v
		}
	}
	set(&ev.Type, "type", f.typ)
	set(&ev.Source, "source", f.source)
	if p.isSet("subject") {
		ev.Subject = f.subject
	}
	if p.isSet("id") {
		ev.ID = f.id
	} else if ev.ID == "" {
		ev.ID = newUUIDv4()
	}
	if ev.SpecVersion == "" {
		ev.SpecVersion = cloudevent.SpecVersion10
	}
	if f.key != "" {
		ev.SetExtension(cloudevent.ExtPartitionKey, f.key)
	}
	if !t.deliverAt.IsZero() {
		ev.SetDeliverAt(t.deliverAt)
	}
	for name, value := range t.ext {
		ev.SetExtension(name, value)
	}
	return ev, ev.Validate()
}

func runPublish(e *env, args []string) error {
	var f publishFlags
	p, err := e.parse(args, f.register)
	if err != nil {
		return err
	}
	topic := p.args[0]
	tmpl, err := f.template(e.cmd, p, time.Now())
	if err != nil {
		return err
	}
	pub := &publisher{e: e, topic: topic}

	var units <-chan inputUnit
	fromStdin := false
	switch {
	case p.isSet("data"):
		ch := make(chan inputUnit, 1)
		ch <- inputUnit{data: []byte(f.data)}
		close(ch)
		units = ch
	case p.isSet("file"):
		b, err := os.ReadFile(f.file)
		if err != nil {
			return fmt.Errorf("read --file: %w", err)
		}
		ch := make(chan inputUnit, 1)
		ch <- inputUnit{data: b}
		close(ch)
		units = ch
	default:
		if e.sys.isTerminal(e.stdin) {
			what := "the event's data"
			if f.stdinLines {
				what = "one event per line"
			}
			fmt.Fprintf(e.stderr, "herald: reading %s from the terminal; end with Ctrl-D\n", what)
		}
		var stop func()
		units, stop = readInput(e.stdin, f.stdinLines)
		defer stop()
		fromStdin = true
	}

	var (
		batch      []cloudevent.Event
		batchLines []int
		batchBytes int
		linger     <-chan time.Time
		timer      *time.Timer
	)
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		err := pub.send(batch, batchLines)
		batch, batchLines, batchBytes, linger = nil, nil, 0, nil
		return err
	}
	count := 0
	for {
		select {
		case <-e.ctx.Done():
			return e.ctx.Err()
		case <-linger:
			if err := flush(); err != nil {
				return err
			}
		case u, ok := <-units:
			if !ok {
				if count == 0 && f.stdinLines {
					fmt.Fprintln(e.stderr, "herald: stdin had no lines; nothing published")
				}
				return flush()
			}
			if u.err != nil {
				return fmt.Errorf("read stdin: %w", u.err)
			}
			ev, err := tmpl.build(u, fromStdin)
			if err != nil {
				return fmt.Errorf("%s is not a valid event: %w", unitName(u), err)
			}
			count++
			batch = append(batch, ev)
			batchLines = append(batchLines, u.line)
			batchBytes += len(ev.Data)
			if len(batch) >= f.batch || batchBytes >= maxBatchBytes {
				if err := flush(); err != nil {
					return err
				}
			} else if linger == nil {
				if timer == nil {
					timer = time.NewTimer(f.linger)
				} else {
					timer.Reset(f.linger)
				}
				linger = timer.C
			}
		}
	}
}

func unitName(u inputUnit) string {
	if u.line > 0 {
		return fmt.Sprintf("line %d", u.line)
	}
	return "the input"
}

// publisher sends batches and prints their results as one table (a header
// once, rows as batches are answered) or as JSON lines.
type publisher struct {
	e         *env
	topic     string
	published int
	header    bool
}

var batchIndex = regexp.MustCompile(`^\[(\d+)\]`)

func (pub *publisher) send(batch []cloudevent.Event, lines []int) error {
	e := pub.e
	results, err := e.client.Publish(e.ctx, pub.topic, batch)
	if err == nil && len(results) != len(batch) {
		err = fmt.Errorf("the server answered %d results for %d events", len(results), len(batch))
	}
	if err != nil {
		var ae *APIError
		if errors.As(err, &ae) && ae.Hint == "" {
			if m := batchIndex.FindStringSubmatch(ae.Field); m != nil {
				if i, _ := strconv.Atoi(m[1]); i < len(lines) && lines[i] > 0 {
					ae.Hint = fmt.Sprintf("the event from line %d", lines[i])
				}
			}
		}
		if pub.published > 0 {
			return fmt.Errorf("publish to %q, after %d events were published: %w", pub.topic, pub.published, err)
		}
		return fmt.Errorf("publish to %q: %w", pub.topic, err)
	}
	pub.published += len(results)
	if e.json {
		for _, r := range results {
			if err := e.out.jsonLine(r.Raw); err != nil {
				return err
			}
		}
		return nil
	}
	rows := make([][]string, len(results))
	for i, r := range results {
		dup := "no"
		if r.Duplicate {
			dup = "yes"
		}
		rows[i] = []string{r.ID, strconv.Itoa(r.Partition), strconv.FormatInt(r.Offset, 10), dup}
	}
	var header []string
	if !pub.header {
		header, pub.header = []string{"ID", "PARTITION", "OFFSET", "DUPLICATE"}, true
	}
	return e.out.printf("%s", e.out.renderTable(header, rows))
}
