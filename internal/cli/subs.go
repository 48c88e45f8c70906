package cli

import (
	"flag"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
)

// herald subs create|ls|describe|set|seek|rm

var cmdSubsCreate = &command{
	name: "subs create", args: "TOPIC SUB", summary: "create a subscription (idempotent)",
	help: `Create a subscription: a durable cursor over a topic whose deliveries are
leased to consumers and settled (ack, nack, reject). Flags left out take the
server's defaults. Creating it again with the same configuration succeeds;
with another configuration it fails: change it with 'herald subs set'.

Examples:
  herald subs create orders billing --filter-type OrderPlaced --start earliest
  herald subs create orders audit --ordering key --ack-timeout 1m \
      --retry-delays 1s,10s,1m --max-deliveries 5 --dead-letter-topic orders.audit.dlq`,
	run: runSubsCreate,
}

var cmdSubsLs = &command{
	name: "subs ls", aliases: []string{"list"}, args: "TOPIC", summary: "list a topic's subscriptions",
	help: `List a topic's subscriptions with their statistics.

Example:
  herald subs ls orders`,
	run: runSubsLs,
}

var cmdSubsDescribe = &command{
	name: "subs describe", aliases: []string{"show"}, args: "TOPIC SUB", summary: "show a subscription and its statistics",
	help: `Show a subscription's configuration and statistics: lag (stored, not yet
delivered), pending (waiting for a retry or their delivery time), in flight
(leased, not yet settled) and dead-lettered.

Example:
  herald subs describe orders billing`,
	run: runSubsDescribe,
}

var cmdSubsSet = &command{
	name: "subs set", args: "TOPIC SUB", summary: "change a subscription's configuration",
	help: `Change a subscription's configuration (PATCH): only the flags given change.
To move its position, use 'herald subs seek'.

Example:
  herald subs set orders billing --max-in-flight 100 --ack-timeout 2m`,
	run: runSubsSet,
}

var cmdSubsSeek = &command{
	name: "subs seek", args: "TOPIC SUB", summary: "rewind or fast-forward a subscription",
	help: `Move a subscription to another position in every partition: earliest
(everything stored), latest (only new events), an offset, or the first event
published at or after a time.

Examples:
  herald subs seek orders billing --to earliest
  herald subs seek orders billing --to 2026-11-24T12:00:00Z`,
	run: runSubsSeek,
}

var cmdSubsRm = &command{
	name: "subs rm", aliases: []string{"delete"}, args: "TOPIC SUB", summary: "delete a subscription",
	help: `Delete a subscription, its position and its in-flight deliveries. The
topic's events stay.

Example:
  herald subs rm orders billing`,
	run: runSubsRm,
}

// subFlags are the configuration flags of create and set.
type subFlags struct {
	filterTypes               listFlag
	subjectPrefix             string
	ordering, start           string
	ackTimeout                string
	retryInitial, retryMax    string
	retryMultiplier           float64
	retryJitter               float64
	retryDelays               string
	maxDeliveries             int
	maxInFlight, maxPerConsum int
	deadLetterTopic           string
}

func (f *subFlags) register(fs *flag.FlagSet) {
	fs.Var(&f.filterTypes, "filter-type", "deliver only events of this `type` (repeatable)")
	fs.StringVar(&f.subjectPrefix, "subject-prefix", "", "deliver only events whose subject starts with `prefix`")
	fs.StringVar(&f.ordering, "ordering", "", "delivery order, `mode` none (parallel), partition (one at a time per partition) or key (per partition key)")
	fs.StringVar(&f.start, "start", "", "where a new subscription starts: earliest, latest, an offset or an RFC 3339 time (`position`)")
	fs.StringVar(&f.ackTimeout, "ack-timeout", "", "lease `duration`: an unsettled delivery is redelivered after it")
	fs.StringVar(&f.retryInitial, "retry-initial", "", "wait this `duration` after the first failure")
	fs.StringVar(&f.retryMax, "retry-max", "", "wait at most this `duration` between retries")
	fs.Float64Var(&f.retryMultiplier, "retry-multiplier", 0, "grow the delay by this `factor` after each failure")
	fs.Float64Var(&f.retryJitter, "retry-jitter", 0, "randomize each delay by up to ± this `fraction`")
	fs.StringVar(&f.retryDelays, "retry-delays", "", "fixed retry `delays`, comma-separated (1s,10s,1m), instead of the exponential schedule")
	fs.IntVar(&f.maxDeliveries, "max-deliveries", 0, "dead-letter an event after `N` deliveries (-1: never)")
	fs.IntVar(&f.maxInFlight, "max-in-flight", 0, "at most `N` deliveries leased at once")
	fs.IntVar(&f.maxPerConsum, "max-in-flight-per-consumer", 0, "at most `N` deliveries leased to one consumer")
	fs.StringVar(&f.deadLetterTopic, "dead-letter-topic", "", "publish dead letters to this `topic` too")
}

// config builds the request from the flags that were given, checking them
// first.
func (f *subFlags) config(cmd *command, p *flagSet) (SubscriptionConfig, error) {
	var cfg SubscriptionConfig
	if p.isSet("ordering") {
		switch f.ordering {
		case "none", "partition", "key":
		default:
			return cfg, usagef(cmd, "--ordering %q: use none, partition or key", f.ordering)
		}
	}
	if p.isSet("start") {
		if err := checkPosition(cmd, "start", f.start); err != nil {
			return cfg, err
		}
	}
	for _, d := range []struct{ name, v string }{
		{"ack-timeout", f.ackTimeout}, {"retry-initial", f.retryInitial}, {"retry-max", f.retryMax},
	} {
		if p.isSet(d.name) {
			if err := checkDuration(cmd, d.name, d.v); err != nil {
				return cfg, err
			}
		}
	}
	var delays []string
	if p.isSet("retry-delays") {
		for _, d := range strings.Split(f.retryDelays, ",") {
			d = strings.TrimSpace(d)
			if err := checkDuration(cmd, "retry-delays", d); err != nil {
				return cfg, err
			}
			delays = append(delays, d)
		}
	}
	switch {
	case p.isSet("retry-multiplier") && (math.IsNaN(f.retryMultiplier) || math.IsInf(f.retryMultiplier, 0) || f.retryMultiplier <= 0):
		return cfg, usagef(cmd, "--retry-multiplier %v: use a positive number like 2", f.retryMultiplier)
	case p.isSet("retry-jitter") && (math.IsNaN(f.retryJitter) || math.IsInf(f.retryJitter, 0)):
		return cfg, usagef(cmd, "--retry-jitter %v: use a fraction like 0.2", f.retryJitter)
	case p.isSet("max-deliveries") && (f.maxDeliveries == 0 || f.maxDeliveries < -1):
		return cfg, usagef(cmd, "--max-deliveries %d: use 1 or more, or -1 for no limit", f.maxDeliveries)
	case p.isSet("max-in-flight") && f.maxInFlight < 1:
		return cfg, usagef(cmd, "--max-in-flight %d: must be at least 1", f.maxInFlight)
	case p.isSet("max-in-flight-per-consumer") && f.maxPerConsum < 1:
		return cfg, usagef(cmd, "--max-in-flight-per-consumer %d: must be at least 1", f.maxPerConsum)
	}
	if len(f.filterTypes) > 0 || p.isSet("subject-prefix") {
		cfg.Filter = &Filter{Types: f.filterTypes, SubjectPrefix: optString(p, "subject-prefix", f.subjectPrefix)}
	}
	cfg.Ordering = optString(p, "ordering", f.ordering)
	if p.isSet("start") {
		s := anyString(f.start)
		cfg.Start = &s
	}
	cfg.AckTimeout = optString(p, "ack-timeout", f.ackTimeout)
	retry := RetryPolicy{
		Initial:       optString(p, "retry-initial", f.retryInitial),
		Multiplier:    optFloat(p, "retry-multiplier", f.retryMultiplier),
		Max:           optString(p, "retry-max", f.retryMax),
		Jitter:        optFloat(p, "retry-jitter", f.retryJitter),
		Delays:        delays,
		MaxDeliveries: optInt(p, "max-deliveries", f.maxDeliveries),
	}
	if retry.Initial != nil || retry.Multiplier != nil || retry.Max != nil || retry.Jitter != nil ||
		retry.Delays != nil || retry.MaxDeliveries != nil {
		cfg.Retry = &retry
	}
	cfg.MaxInFlight = optInt(p, "max-in-flight", f.maxInFlight)
	cfg.MaxInFlightPerConsumer = optInt(p, "max-in-flight-per-consumer", f.maxPerConsum)
	cfg.DeadLetterTopic = optString(p, "dead-letter-topic", f.deadLetterTopic)
	return cfg, nil
}

func runSubsCreate(e *env, args []string) error {
	var f subFlags
	p, err := e.parse(args, f.register)
	if err != nil {
		return err
	}
	topic, sub := p.args[0], p.args[1]
	cfg, err := f.config(e.cmd, p)
	if err != nil {
		return err
	}
	s, created, err := e.client.CreateSubscription(e.ctx, topic, sub, cfg)
	if err != nil {
		err = withHint(err, http.StatusConflict, "change it with 'herald subs set "+topic+" "+sub+"'")
		return fmt.Errorf("create subscription %q on %q: %w", sub, topic, err)
	}
	if e.json {
		return e.out.jsonDoc(s.Raw)
	}
	if created {
		e.out.printf("created subscription %s on %s\n", sub, topic)
	} else {
		e.out.printf("subscription %s on %s already exists with this configuration\n", sub, topic)
	}
	return e.printSubscription(topic, sub, s)
}

func runSubsSet(e *env, args []string) error {
	var f subFlags
	p, err := e.parse(args, f.register)
	if err != nil {
		return err
	}
	topic, sub := p.args[0], p.args[1]
	cfg, err := f.config(e.cmd, p)
	if err != nil {
		return err
	}
	if !p.anyOwnSet() {
		return usagef(e.cmd, "nothing to change: give at least one flag (see --help)")
	}
	s, err := e.client.UpdateSubscription(e.ctx, topic, sub, cfg)
	if err != nil {
		err = withHint(err, http.StatusNotFound, "list subscriptions with 'herald subs ls "+topic+"'")
		return fmt.Errorf("update subscription %q on %q: %w", sub, topic, err)
	}
	if e.json {
		return e.out.jsonDoc(s.Raw)
	}
	e.out.printf("updated subscription %s on %s\n", sub, topic)
	return e.printSubscription(topic, sub, s)
}

func runSubsLs(e *env, args []string) error {
	p, err := e.parse(args, nil)
	if err != nil {
		return err
	}
	topic := p.args[0]
	subs, raw, err := e.client.Subscriptions(e.ctx, topic)
	if err != nil {
		err = withHint(err, http.StatusNotFound, "list topics with 'herald topics ls'")
		return fmt.Errorf("list subscriptions of %q: %w", topic, err)
	}
	if e.json {
		return e.out.jsonDoc(raw)
	}
	if len(subs) == 0 {
		return e.out.printf("topic %s has no subscriptions; create one with 'herald subs create %s SUB'\n", topic, topic)
	}
	rows := make([][]string, len(subs))
	for i, s := range subs {
		st := s.Stats
		rows[i] = []string{s.Name, orDash(deref(s.Config.Ordering)), filterText(s.Config.Filter),
			strconv.FormatInt(st.Lag, 10), strconv.FormatInt(st.Pending, 10),
			strconv.FormatInt(st.InFlight, 10), strconv.FormatInt(st.DeadLettered, 10)}
	}
	return e.out.table([]string{"NAME", "ORDERING", "FILTER", "LAG", "PENDING", "IN FLIGHT", "DEAD-LETTERED"}, rows)
}

func runSubsDescribe(e *env, args []string) error {
	p, err := e.parse(args, nil)
	if err != nil {
		return err
	}
	topic, sub := p.args[0], p.args[1]
	s, err := e.client.Subscription(e.ctx, topic, sub)
	if err != nil {
		err = withHint(err, http.StatusNotFound, "list subscriptions with 'herald subs ls "+topic+"'")
		return fmt.Errorf("describe subscription %q on %q: %w", sub, topic, err)
	}
	if e.json {
		return e.out.jsonDoc(s.Raw)
	}
	return e.printSubscription(topic, sub, s)
}

func runSubsSeek(e *env, args []string) error {
	var to string
	p, err := e.parse(args, func(fs *flag.FlagSet) {
		fs.StringVar(&to, "to", "", "the new `position`: earliest, latest, an offset or an RFC 3339 time (required)")
	})
	if err != nil {
		return err
	}
	topic, sub := p.args[0], p.args[1]
	if !p.isSet("to") {
		return usagef(e.cmd, "missing --to: earliest, latest, an offset or an RFC 3339 time")
	}
	if err := checkPosition(e.cmd, "to", to); err != nil {
		return err
	}
	raw, err := e.client.Seek(e.ctx, topic, sub, to)
	if err != nil {
		err = withHint(err, http.StatusNotFound, "list subscriptions with 'herald subs ls "+topic+"'")
		return fmt.Errorf("seek subscription %q on %q: %w", sub, topic, err)
	}
	if e.json {
		if len(raw) == 0 {
			return e.out.jsonValue(map[string]any{"topic": topic, "subscription": sub, "start": to})
		}
		return e.out.jsonDoc(raw)
	}
	return e.out.printf("subscription %s on %s now reads from %s\n", sub, topic, to)
}

func runSubsRm(e *env, args []string) error {
	p, err := e.parse(args, nil)
	if err != nil {
		return err
	}
	topic, sub := p.args[0], p.args[1]
	if err := e.client.DeleteSubscription(e.ctx, topic, sub); err != nil {
		err = withHint(err, http.StatusNotFound, "list subscriptions with 'herald subs ls "+topic+"'")
		return fmt.Errorf("delete subscription %q on %q: %w", sub, topic, err)
	}
	if e.json {
		return e.out.jsonValue(map[string]any{"topic": topic, "subscription": sub, "deleted": true})
	}
	return e.out.printf("deleted subscription %s on %s\n", sub, topic)
}

// printSubscription prints a description: configuration, then statistics.
func (e *env) printSubscription(topic, sub string, s *Subscription) error {
	c := s.Config
	name := s.Name
	if name == "" {
		name = sub
	}
	if s.Topic != "" {
		topic = s.Topic
	}
	inFlight := orDash(intText(c.MaxInFlight))
	if c.MaxInFlightPerConsumer != nil {
		inFlight += ", " + intText(c.MaxInFlightPerConsumer) + " per consumer"
	}
	maxDeliveries := "-"
	if c.Retry != nil {
		maxDeliveries = orDash(intText(c.Retry.MaxDeliveries))
		if maxDeliveries == "-1" {
			maxDeliveries = "no limit"
		}
	}
	st := s.Stats
	return e.out.fields([]field{
		{"Subscription", name},
		{"Topic", topic},
		{"Filter", filterText(c.Filter)},
		{"Ordering", orDash(deref(c.Ordering))},
		{"Start", orDash(string(deref(c.Start)))},
		{"Ack timeout", orDash(deref(c.AckTimeout))},
		{"Retry", retryText(c.Retry)},
		{"Max deliveries", maxDeliveries},
		{"Max in flight", inFlight},
		{"Dead-letter topic", orDash(deref(c.DeadLetterTopic))},
		{"Lag", strconv.FormatInt(st.Lag, 10)},
		{"Pending", strconv.FormatInt(st.Pending, 10)},
		{"In flight", strconv.FormatInt(st.InFlight, 10)},
		{"Dead-lettered", strconv.FormatInt(st.DeadLettered, 10)},
	})
}

func intText(p *int) string {
	if p == nil {
		return ""
	}
	return strconv.Itoa(*p)
}

func filterText(f *Filter) string {
	if f == nil || (len(f.Types) == 0 && deref(f.SubjectPrefix) == "") {
		return "all events"
	}
	var parts []string
	if len(f.Types) > 0 {
		parts = append(parts, "type "+strings.Join(f.Types, "|"))
	}
	if pfx := deref(f.SubjectPrefix); pfx != "" {
		parts = append(parts, "subject "+pfx+"*")
	}
	return strings.Join(parts, ", ")
}

func retryText(r *RetryPolicy) string {
	if r == nil {
		return "-"
	}
	if len(r.Delays) > 0 {
		return "delays " + strings.Join(r.Delays, ", ")
	}
	var parts []string
	if r.Initial != nil {
		parts = append(parts, "initial "+*r.Initial)
	}
	if r.Multiplier != nil {
		parts = append(parts, "×"+strconv.FormatFloat(*r.Multiplier, 'g', -1, 64))
	}
	if r.Max != nil {
		parts = append(parts, "max "+*r.Max)
	}
	if r.Jitter != nil {
		parts = append(parts, "jitter "+strconv.FormatFloat(*r.Jitter, 'g', -1, 64))
	}
	return orDash(strings.Join(parts, ", "))
}
