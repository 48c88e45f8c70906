package cli

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// herald dlq ls|show|redrive

var cmdDLQLs = &command{
	name: "dlq ls", aliases: []string{"list"}, args: "TOPIC SUB", summary: "list a subscription's dead letters",
	help: `List the events a subscription gave up on (after --max-deliveries, or
rejected), oldest first, with why and how often they were tried. Page with
--from: the next page starts after the last id shown.

Examples:
  herald dlq ls orders billing
  herald dlq ls orders billing --from 200 --limit 50`,
	run: runDLQLs,
}

var cmdDLQShow = &command{
	name: "dlq show", args: "TOPIC SUB ID", summary: "show one dead letter and its event",
	help: `Show one dead letter: why it failed, its attempts, its position in the
topic, and the whole event.

Example:
  herald dlq show orders billing 3`,
	run: runDLQShow,
}

var cmdDLQRedrive = &command{
	name: "dlq redrive", args: "TOPIC SUB [ID...]", summary: "send dead letters back to their subscription",
	help: `Send dead letters back into their subscription, with their attempt count
reset. Name the ids to redrive, or give --all for every dead letter of the
subscription; a bare redrive is refused so that it is never done by
accident.

Examples:
  herald dlq redrive orders billing 3 4
  herald dlq redrive orders billing --all`,
	run: runDLQRedrive,
}

func runDLQLs(e *env, args []string) error {
	var (
		from  int64
		limit int
	)
	p, err := e.parse(args, func(fs *flag.FlagSet) {
		fs.Int64Var(&from, "from", 0, "start at dead letter `ID`")
		fs.IntVar(&limit, "limit", 100, "list at most `N`")
	})
	if err != nil {
		return err
	}
	topic, sub := p.args[0], p.args[1]
	switch {
	case from < 0:
		return usagef(e.cmd, "--from %d: must not be negative", from)
	case limit < 1:
		return usagef(e.cmd, "--limit %d: must be at least 1", limit)
	}
	dls, raw, err := e.client.DeadLetters(e.ctx, topic, sub, from, limit)
	if err != nil {
		err = withHint(err, http.StatusNotFound, "list subscriptions with 'herald subs ls "+topic+"'")
		return fmt.Errorf("list dead letters of %q on %q: %w", sub, topic, err)
	}
	if e.json {
		return e.out.jsonDoc(raw)
	}
	if len(dls) == 0 {
		return e.out.printf("no dead letters\n")
	}
	rows := make([][]string, len(dls))
	for i, d := range dls {
		redriven := "no"
		if d.Redriven {
			redriven = "yes"
		}
		rows[i] = []string{strconv.FormatInt(d.ID, 10), timeText(d.Time), strconv.Itoa(d.Attempts),
			orDash(d.Reason), fmt.Sprintf("%d/%d", d.Partition, d.Offset), orDash(d.Event.Type),
			orDash(d.Event.ID), redriven, truncate(orDash(d.Error), 40)}
	}
	err = e.out.table([]string{"ID", "TIME", "ATTEMPTS", "REASON", "POSITION", "TYPE", "EVENT ID", "REDRIVEN", "ERROR"}, rows)
	if err == nil && len(dls) == limit {
		fmt.Fprintf(e.stderr, "herald: more may follow: herald dlq ls %s %s --from %d\n", topic, sub, dls[len(dls)-1].ID+1)
	}
	return err
}

func runDLQShow(e *env, args []string) error {
	p, err := e.parse(args, nil)
	if err != nil {
		return err
	}
	topic, sub := p.args[0], p.args[1]
	id, err := parseDeadLetterID(e.cmd, p.args[2])
	if err != nil {
		return err
	}
	d, err := e.client.DeadLetter(e.ctx, topic, sub, id)
	if err != nil {
		err = withHint(err, http.StatusNotFound, "list them with 'herald dlq ls "+topic+" "+sub+"'")
		return fmt.Errorf("show dead letter %d of %q on %q: %w", id, sub, topic, err)
	}
	if e.json {
		return e.out.jsonDoc(d.Raw)
	}
	err = e.out.fields([]field{
		{"Dead letter", strconv.FormatInt(d.ID, 10)},
		{"Subscription", orDash(d.Subscription)},
		{"Topic", orDash(d.Topic)},
		{"Position", fmt.Sprintf("partition %d, offset %d", d.Partition, d.Offset)},
		{"Time", timeText(d.Time)},
		{"Reason", orDash(d.Reason)},
		{"Error", orDash(d.Error)},
		{"Attempts", strconv.Itoa(d.Attempts)},
		{"Redriven", strconv.FormatBool(d.Redriven)},
	})
	if err != nil {
		return err
	}
	ev, err := d.Event.MarshalJSON()
	if err != nil {
		return err
	}
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, ev, "", "  "); err != nil {
		return err
	}
	return e.out.printf("\n%s\n%s\n", e.out.paint(ansiBold, "Event:"), pretty.String())
}

func runDLQRedrive(e *env, args []string) error {
	var all bool
	p, err := e.parse(args, func(fs *flag.FlagSet) {
		fs.BoolVar(&all, "all", false, "redrive every dead letter of the subscription")
	})
	if err != nil {
		return err
	}
	topic, sub := p.args[0], p.args[1]
	var ids []int64
	for _, a := range p.args[2:] {
		id, err := parseDeadLetterID(e.cmd, a)
		if err != nil {
			return err
		}
		ids = append(ids, id)
	}
	switch {
	case all && len(ids) > 0:
		return usagef(e.cmd, "give dead-letter ids or --all, not both")
	case !all && len(ids) == 0:
		return usagef(e.cmd, "refusing to redrive every dead letter without --all; name the ids to redrive (see 'herald dlq ls %s %s') or give --all", topic, sub)
	}
	n, raw, err := e.client.Redrive(e.ctx, topic, sub, ids)
	if err != nil {
		err = withHint(err, http.StatusNotFound, "list them with 'herald dlq ls "+topic+" "+sub+"'")
		return fmt.Errorf("redrive dead letters of %q on %q: %w", sub, topic, err)
	}
	if e.json {
		return e.out.jsonDoc(raw)
	}
	return e.out.printf("redrove %d dead letters into subscription %s on %s\n", n, sub, topic)
}

func parseDeadLetterID(cmd *command, s string) (int64, error) {
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id < 0 {
		return 0, usagef(cmd, "dead-letter id %q: use a number from 'herald dlq ls'", s)
	}
	return id, nil
}

func timeText(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Format(lineTimeLayout)
}
