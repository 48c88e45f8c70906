package cli

import (
	"flag"
	"fmt"
	"net/http"
	"strconv"
)

// herald topics create|ls|describe|set|rm

var cmdTopicsCreate = &command{
	name: "topics create", args: "NAME", summary: "create a topic (idempotent)",
	help: `Create a topic. Flags left out take the server's defaults. Creating a topic
again with the same configuration succeeds; with another configuration it
fails: change a topic with 'herald topics set'.

Examples:
  herald topics create orders --partitions 4 --retention 168h
  herald topics create audit --retention forever --dedup-window off`,
	run: runTopicsCreate,
}

var cmdTopicsLs = &command{
	name: "topics ls", aliases: []string{"list"}, summary: "list topics",
	help: `List the topics with their partitions, stored events and bytes.

Examples:
  herald topics ls
  herald topics ls --json | jq -r '.topics[].name'`,
	run: runTopicsLs,
}

var cmdTopicsDescribe = &command{
	name: "topics describe", aliases: []string{"show"}, args: "NAME", summary: "show a topic's configuration and offsets",
	help: `Show a topic's configuration, its size, and the offsets stored in each
partition (earliest stored, next to be written).

Example:
  herald topics describe orders`,
	run: runTopicsDescribe,
}

var cmdTopicsSet = &command{
	name: "topics set", args: "NAME", summary: "change a topic's configuration",
	help: `Change a topic's configuration (PATCH): only the flags given change.
Partitions may only grow.

Examples:
  herald topics set orders --retention 720h
  herald topics set orders --partitions 8`,
	run: runTopicsSet,
}

var cmdTopicsRm = &command{
	name: "topics rm", aliases: []string{"delete"}, args: "NAME", summary: "delete a topic and its events",
	help: `Delete a topic with all its events and subscriptions. There is no undo.

Example:
  herald topics rm orders`,
	run: runTopicsRm,
}

// topicFlags are the configuration flags of create and set.
type topicFlags struct {
	partitions     int
	retention      string
	retentionBytes int64
	maxEventBytes  int64
	dedupWindow    string
	maxBytes       int64
}

func (f *topicFlags) register(fs *flag.FlagSet) {
	fs.IntVar(&f.partitions, "partitions", 0, "number of partitions, `N` >= 1")
	fs.StringVar(&f.retention, "retention", "", "keep events this long: a `duration` like 168h, or forever")
	fs.Int64Var(&f.retentionBytes, "retention-bytes", 0, "delete the oldest events beyond this many `bytes` per partition (0: no limit)")
	fs.Int64Var(&f.maxEventBytes, "max-event-bytes", 0, "refuse events larger than this many `bytes`")
	fs.StringVar(&f.dedupWindow, "dedup-window", "", "drop re-published (source, id) pairs seen within this `duration`, or off")
	fs.Int64Var(&f.maxBytes, "max-bytes", 0, "refuse publishes once the topic stores this many `bytes` (0: no limit)")
}

// config builds the request from the flags that were given, checking them
// first so typos fail before a request is sent.
func (f *topicFlags) config(cmd *command, p *flagSet) (TopicConfig, error) {
	switch {
	case p.isSet("partitions") && f.partitions < 1:
		return TopicConfig{}, usagef(cmd, "--partitions %d: must be at least 1", f.partitions)
	case p.isSet("retention-bytes") && f.retentionBytes < 0:
		return TopicConfig{}, usagef(cmd, "--retention-bytes %d: must not be negative", f.retentionBytes)
	case p.isSet("max-event-bytes") && f.maxEventBytes < 1:
		return TopicConfig{}, usagef(cmd, "--max-event-bytes %d: must be at least 1", f.maxEventBytes)
	case p.isSet("max-bytes") && f.maxBytes < 0:
		return TopicConfig{}, usagef(cmd, "--max-bytes %d: must not be negative", f.maxBytes)
	}
	if p.isSet("retention") {
		if err := checkDuration(cmd, "retention", f.retention, "forever"); err != nil {
			return TopicConfig{}, err
		}
	}
	if p.isSet("dedup-window") {
		if err := checkDuration(cmd, "dedup-window", f.dedupWindow, "off"); err != nil {
			return TopicConfig{}, err
		}
	}
	return TopicConfig{
		Partitions:     optInt(p, "partitions", f.partitions),
		Retention:      optString(p, "retention", f.retention),
		RetentionBytes: optInt64(p, "retention-bytes", f.retentionBytes),
		MaxEventBytes:  optInt64(p, "max-event-bytes", f.maxEventBytes),
		DedupWindow:    optString(p, "dedup-window", f.dedupWindow),
		MaxBytes:       optInt64(p, "max-bytes", f.maxBytes),
	}, nil
}

func runTopicsCreate(e *env, args []string) error {
	var f topicFlags
	p, err := e.parse(args, f.register)
	if err != nil {
		return err
	}
	name := p.args[0]
	cfg, err := f.config(e.cmd, p)
	if err != nil {
		return err
	}
	t, created, err := e.client.CreateTopic(e.ctx, name, cfg)
	if err != nil {
		err = withHint(err, http.StatusConflict, "change it with 'herald topics set "+name+"'")
		return fmt.Errorf("create topic %q: %w", name, err)
	}
	if e.json {
		return e.out.jsonDoc(t.Raw)
	}
	if created {
		e.out.printf("created topic %s\n", name)
	} else {
		e.out.printf("topic %s already exists with this configuration\n", name)
	}
	return e.printTopic(t)
}

func runTopicsSet(e *env, args []string) error {
	var f topicFlags
	p, err := e.parse(args, f.register)
	if err != nil {
		return err
	}
	name := p.args[0]
	cfg, err := f.config(e.cmd, p)
	if err != nil {
		return err
	}
	if !p.anyOwnSet() {
		return usagef(e.cmd, "nothing to change: give at least one of --partitions, --retention, --retention-bytes, --max-event-bytes, --dedup-window, --max-bytes")
	}
	t, err := e.client.UpdateTopic(e.ctx, name, cfg)
	if err != nil {
		err = withHint(err, http.StatusNotFound, "create it with 'herald topics create "+name+"'")
		return fmt.Errorf("update topic %q: %w", name, err)
	}
	if e.json {
		return e.out.jsonDoc(t.Raw)
	}
	e.out.printf("updated topic %s\n", name)
	return e.printTopic(t)
}

func runTopicsLs(e *env, args []string) error {
	if _, err := e.parse(args, nil); err != nil {
		return err
	}
	topics, raw, err := e.client.Topics(e.ctx)
	if err != nil {
		return fmt.Errorf("list topics: %w", err)
	}
	if e.json {
		return e.out.jsonDoc(raw)
	}
	if len(topics) == 0 {
		return e.out.printf("no topics yet; create one with 'herald topics create NAME'\n")
	}
	rows := make([][]string, len(topics))
	for i, t := range topics {
		rows[i] = []string{t.Name, strconv.Itoa(t.Partitions), strconv.FormatInt(t.Events(), 10),
			humanBytes(t.Bytes), orDash(deref(t.Config.Retention))}
	}
	return e.out.table([]string{"NAME", "PARTITIONS", "EVENTS", "BYTES", "RETENTION"}, rows)
}

func runTopicsDescribe(e *env, args []string) error {
	p, err := e.parse(args, nil)
	if err != nil {
		return err
	}
	name := p.args[0]
	t, err := e.client.Topic(e.ctx, name)
	if err != nil {
		err = withHint(err, http.StatusNotFound, "list topics with 'herald topics ls'")
		return fmt.Errorf("describe topic %q: %w", name, err)
	}
	if e.json {
		return e.out.jsonDoc(t.Raw)
	}
	return e.printTopic(t)
}

func runTopicsRm(e *env, args []string) error {
	p, err := e.parse(args, nil)
	if err != nil {
		return err
	}
	name := p.args[0]
	if err := e.client.DeleteTopic(e.ctx, name); err != nil {
		err = withHint(err, http.StatusNotFound, "list topics with 'herald topics ls'")
		return fmt.Errorf("delete topic %q: %w", name, err)
	}
	if e.json {
		return e.out.jsonValue(map[string]any{"topic": name, "deleted": true})
	}
	return e.out.printf("deleted topic %s\n", name)
}

// printTopic prints a topic description: its configuration, then a table
// of partitions.
func (e *env) printTopic(t *Topic) error {
	c := t.Config
	err := e.out.fields([]field{
		{"Name", t.Name},
		{"Partitions", strconv.Itoa(t.Partitions)},
		{"Retention", orDash(deref(c.Retention))},
		{"Retention bytes", limitBytes(c.RetentionBytes)},
		{"Max event bytes", limitBytes(c.MaxEventBytes)},
		{"Dedup window", orDash(deref(c.DedupWindow))},
		{"Max bytes", limitBytes(c.MaxBytes)},
		{"Stored", fmt.Sprintf("%d events, %s", t.Events(), humanBytes(t.Bytes))},
	})
	if err != nil || len(t.Offsets) == 0 {
		return err
	}
	rows := make([][]string, len(t.Offsets))
	for i, o := range t.Offsets {
		rows[i] = []string{strconv.Itoa(o.Partition), strconv.FormatInt(o.Earliest, 10),
			strconv.FormatInt(o.Next, 10), strconv.FormatInt(o.Next-o.Earliest, 10)}
	}
	e.out.printf("\n")
	return e.out.table([]string{"PARTITION", "EARLIEST", "NEXT", "EVENTS"}, rows)
}

// limitBytes shows a byte limit where 0 means none.
func limitBytes(n *int64) string {
	switch {
	case n == nil:
		return "-"
	case *n == 0:
		return "no limit"
	}
	return humanBytes(*n)
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}
