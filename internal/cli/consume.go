package cli

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"time"
)

var cmdConsume = &command{
	name: "consume", args: "TOPIC SUB", summary: "pull deliveries from a subscription and settle them",
	help: `Pull deliveries from a subscription, print them, then settle them. It runs
until interrupted (Ctrl-C), until --count deliveries, or with --drain until a
pull has waited --wait and got nothing.

--ack says how deliveries are settled once they are printed:
  ack     acknowledge them (the default; "auto" means the same)
  nack    nack them: retried under the subscription's retry policy
  reject  reject them: straight to the dead letters
  none    leave them leased: delivered again after the ack timeout (a peek)
Only printed deliveries are settled, and what was printed is still settled
when interrupted. Delivery is at least once: a delivery printed just before
a crash comes again.

Each delivery is one line like tail's, with the attempt number after the
first. With --json each is one JSON line as the server sent it:
{"token", "attempt", "deadline", "event"}.

Examples:
  herald consume orders billing
  herald consume orders billing --count 1 --ack none --json
  herald consume orders billing --drain --json > backlog.jsonl`,
	run: runConsume,
}

type consumeFlags struct {
	consumer string
	max      int
	count    int
	wait     time.Duration
	ack      string
	drain    bool
}

// maxPullWait is the longest long poll the server allows.
const maxPullWait = 60 * time.Second

func runConsume(e *env, args []string) error {
	f := consumeFlags{}
	p, err := e.parse(args, func(fs *flag.FlagSet) {
		fs.StringVar(&f.consumer, "consumer", defaultConsumer(), "the consumer `name` the server leases deliveries to")
		fs.IntVar(&f.max, "max", 10, "pull at most `N` deliveries at a time")
		fs.IntVar(&f.count, "count", 0, "stop after `N` deliveries (0: no limit)")
		fs.DurationVar(&f.wait, "wait", 30*time.Second, "how long one pull waits for a delivery (at most 60s)")
		fs.StringVar(&f.ack, "ack", "ack", "settle printed deliveries with `mode`: ack, nack, reject or none")
		fs.BoolVar(&f.drain, "drain", false, "exit when a pull gets nothing")
	})
	if err != nil {
		return err
	}
	topic, sub := p.args[0], p.args[1]
	if f.ack == "auto" {
		f.ack = "ack"
	}
	switch {
	case f.ack != "ack" && f.ack != "nack" && f.ack != "reject" && f.ack != "none":
		return usagef(e.cmd, "--ack %q: use ack, nack, reject or none", f.ack)
	case f.max < 1:
		return usagef(e.cmd, "--max %d: must be at least 1", f.max)
	case f.count < 0:
		return usagef(e.cmd, "--count %d: must not be negative", f.count)
	case f.wait < 0 || f.wait > maxPullWait:
		return usagef(e.cmd, "--wait %s: use 0s to %s", f.wait, maxPullWait)
	case f.wait == 0 && !f.drain:
		return usagef(e.cmd, "--wait 0s without --drain would poll in a busy loop: add --drain, or wait longer")
	}
	err = e.consume(topic, sub, f)
	if e.ctx.Err() != nil {
		return nil // Ctrl-C is how a consumer ends
	}
	return err
}

func defaultConsumer() string {
	host, err := os.Hostname()
	if err != nil {
		host = "unknown"
	}
	return "herald-cli-" + host + "-" + strconv.Itoa(os.Getpid())
}

func (e *env) consume(topic, sub string, f consumeFlags) error {
	received := 0
	for e.ctx.Err() == nil {
		n := f.max
		if f.count > 0 {
			n = min(n, f.count-received)
		}
		ds, err := e.client.Pull(e.ctx, topic, sub, n, f.wait, f.consumer)
		if err != nil {
			err = withHint(err, http.StatusNotFound, "list subscriptions with 'herald subs ls "+topic+"'")
			return fmt.Errorf("pull from subscription %q of %q: %w", sub, topic, err)
		}
		if len(ds) == 0 {
			if f.drain {
				return nil
			}
			continue
		}
		var printed []string
		var werr error
		for i := range ds {
			if werr = e.printDelivery(&ds[i]); werr != nil {
				break
			}
			printed = append(printed, ds[i].Token)
		}
		if err := e.settle(topic, sub, f.ack, printed); err != nil {
			return err
		}
		if werr != nil {
			return werr
		}
		if received += len(ds); f.count > 0 && received >= f.count {
			return nil
		}
	}
	return nil
}

func (e *env) printDelivery(d *Delivery) error {
	if e.json {
		return e.out.jsonLine(d.Raw)
	}
	extra := ""
	if d.Attempt > 1 {
		extra = e.out.paint(ansiDim, fmt.Sprintf("(attempt %d)", d.Attempt))
	}
	return e.out.printf("%s\n", e.out.eventLine(&d.Event, extra))
}

// settle settles the printed deliveries. It runs even when the command is
// being interrupted, bounded by --timeout, so that what was printed is not
// delivered again; tokens the server did not settle are reported on
// stderr.
func (e *env) settle(topic, sub, mode string, tokens []string) error {
	if mode == "none" || len(tokens) == 0 {
		return nil
	}
	ctx := context.WithoutCancel(e.ctx)
	var (
		results []SettleResult
		err     error
	)
	switch mode {
	case "ack":
		results, err = e.client.Ack(ctx, topic, sub, tokens)
	case "nack":
		results, err = e.client.Nack(ctx, topic, sub, tokens, "", "nacked with herald consume")
	case "reject":
		results, err = e.client.Reject(ctx, topic, sub, tokens, "rejected with herald consume")
	}
	if err != nil {
		return fmt.Errorf("%s %d deliveries (they will be delivered again after the ack timeout): %w", mode, len(tokens), err)
	}
	for _, r := range results {
		if r.Status != "ok" {
			fmt.Fprintf(e.stderr, "herald: warning: %s of delivery %s: %s (it may be delivered again)\n", mode, clean(r.Token), clean(r.Status))
		}
	}
	return nil
}
