package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/internal/broker"
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
first. With --json each is one JSON line, as the HTTP API's pull gives it:
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

// maxPullWait bounds --wait, as the HTTP API bounds a pull's wait.
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

// consume pulls with the SDK's Fetch, which leases deliveries without
// settling them, so every --ack mode (none included) and --count are
// exact; Subscribe would settle each delivery by its handler's result.
func (e *env) consume(topic, sub string, f consumeFlags) error {
	c, err := e.dial()
	if err != nil {
		return fmt.Errorf("pull from subscription %q of %q: %w", sub, topic, err)
	}
	defer c.Close()
	received := 0
	for e.ctx.Err() == nil {
		n := f.max
		if f.count > 0 {
			n = min(n, f.count-received)
		}
		ms, err := e.pull(c, topic, sub, n, f)
		if err != nil {
			if e.ctx.Err() != nil {
				return nil
			}
			err = e.sdkError(err)
			err = hintIf(err, herald.ErrSubscriptionNotFound, "list subscriptions with 'herald subs ls "+topic+"'")
			err = hintIf(err, herald.ErrTopicNotFound, "list topics with 'herald topics ls'")
			return fmt.Errorf("pull from subscription %q of %q: %w", sub, topic, err)
		}
		if len(ms) == 0 {
			if f.drain {
				return nil
			}
			continue
		}
		var printed []*herald.Message
		var werr error
		for _, m := range ms {
			if werr = e.printDelivery(m); werr != nil {
				break
			}
			printed = append(printed, m)
		}
		if err := e.settle(f.ack, printed); err != nil {
			return err
		}
		if werr != nil {
			return werr
		}
		if received += len(ms); f.count > 0 && received >= f.count {
			return nil
		}
	}
	return nil
}

// pull is one long poll of up to --wait: no deliveries and no error when
// the wait ended first.
func (e *env) pull(c *herald.Client, topic, sub string, n int, f consumeFlags) ([]*herald.Message, error) {
	ctx, cancel := context.WithTimeout(e.ctx, f.wait)
	defer cancel()
	ms, err := c.Fetch(ctx, topic, sub, f.consumer, n)
	if err != nil && e.ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
		return nil, nil
	}
	return ms, err
}

// deliveryJSON is a delivery as consume --json prints it: the shape of the
// HTTP API's pull.
type deliveryJSON struct {
	Token    string          `json:"token"`
	Attempt  int             `json:"attempt"`
	Deadline time.Time       `json:"deadline"`
	Event    json.RawMessage `json:"event"`
}

func (e *env) printDelivery(m *herald.Message) error {
	ev := storedEvent(m)
	if e.json {
		data, err := ev.MarshalJSON()
		if err != nil {
			return err
		}
		line, err := json.Marshal(deliveryJSON{Token: m.Token(), Attempt: m.Attempt, Deadline: m.Deadline, Event: data})
		if err != nil {
			return err
		}
		return e.out.jsonLine(line)
	}
	extra := ""
	if m.Attempt > 1 {
		extra = e.out.paint(ansiDim, fmt.Sprintf("(attempt %d)", m.Attempt))
	}
	return e.out.printf("%s\n", e.out.eventLine(&ev, extra))
}

// settle settles the printed deliveries, all at once (concurrent settles
// share a frame and a write on the server). It runs even when the command
// is being interrupted, bounded by --timeout, so that what was printed is
// not delivered again. A delivery whose lease had already ended is a
// warning on stderr; any other failure is the command's error.
func (e *env) settle(mode string, ms []*herald.Message) error {
	if mode == "none" || len(ms) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(e.ctx), e.timeout)
	defer cancel()
	errs := make([]error, len(ms))
	var wg sync.WaitGroup
	for i, m := range ms {
		wg.Go(func() {
			switch mode {
			case "ack":
				errs[i] = m.Ack(ctx)
			case "nack":
				errs[i] = m.Nack(ctx, "nacked with herald consume")
			case "reject":
				errs[i] = m.Reject(ctx, "rejected with herald consume")
			}
		})
	}
	wg.Wait()
	var failed error
	for i, err := range errs {
		switch {
		case err == nil:
		case errors.Is(err, broker.ErrLeaseExpired), errors.Is(err, broker.ErrUnknownToken):
			fmt.Fprintf(e.stderr, "herald: warning: %s of delivery %s: %s (it may be delivered again)\n", mode, clean(ms[i].Token()), clean(err.Error()))
		case failed == nil:
			failed = err
		}
	}
	if failed != nil {
		return fmt.Errorf("%s %d deliveries (they will be delivered again after the ack timeout): %w", mode, len(ms), failed)
	}
	return nil
}
