package loadgen

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"time"
)

// Config is one `herald bench` run.
type Config struct {
	Mode    string // publish, consume, e2e
	URL     string
	DataDir string // in-process instead of URL
	Topic   string
	Size    int
	Events  int
	// Warmup is how many events go before the clock starts, not measured
	// (neither counted nor in a latency), as bench/ does for the peers.
	Warmup        int
	Duration      time.Duration
	Producers     int
	Consumers     int
	Batch         int
	Rate          int // events/s, 0 = as fast as possible
	Sync          bool
	Subscriptions int
	Partitions    int
	JSON          bool
}

// ParseArgs reads `herald bench MODE [flags]`. For -h or --help it
// prints the usage on stdout and returns flag.ErrHelp; for a bad flag it
// prints the usage on stderr and returns the error.
func ParseArgs(args []string, stdout, stderr io.Writer) (Config, error) {
	c := Config{}
	const modes = "usage: herald bench publish|consume|e2e [flags] (herald bench publish --help for flags)"
	if len(args) == 0 {
		return c, errors.New(modes)
	}
	if args[0] == "-h" || args[0] == "--help" || args[0] == "-help" || args[0] == "help" {
		fmt.Fprintln(stdout, modes)
		return c, flag.ErrHelp
	}
	c.Mode = args[0]
	fs := flag.NewFlagSet("herald bench "+c.Mode, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // the usage is printed below, where it belongs
	fs.StringVar(&c.URL, "url", "http://127.0.0.1:7070", "server to load")
	fs.StringVar(&c.DataDir, "data", "", "run Herald in this process on this data directory instead of --url")
	fs.StringVar(&c.Topic, "topic", "", "topic (default: a fresh one per run)")
	fs.IntVar(&c.Size, "size", 128, "event data size in bytes")
	fs.IntVar(&c.Events, "events", 100000, "events to send (ignored with --duration)")
	fs.IntVar(&c.Warmup, "warmup", 0, "events before the clock starts, not measured (publish: sent and acknowledged first; consume: delivered first; e2e: the first ones at the rate)")
	fs.DurationVar(&c.Duration, "duration", 0, "send for this long instead of --events")
	fs.IntVar(&c.Producers, "producers", 1, "concurrent publishers")
	fs.IntVar(&c.Consumers, "consumers", 1, "concurrent consumers (handlers) per subscription")
	fs.IntVar(&c.Batch, "batch", 1000, "publish batch size; consumers fetch about as many at a time")
	fs.IntVar(&c.Rate, "rate", 0, "fixed publish rate in events/s (latency mode); 0 = as fast as possible")
	fs.BoolVar(&c.Sync, "sync", false, "publish one event at a time and wait for each acknowledgement")
	fs.IntVar(&c.Subscriptions, "subscriptions", 0, "publish: also run this many subscriptions that each receive everything")
	fs.IntVar(&c.Partitions, "partitions", 4, "partitions of the topic created for the run")
	fs.BoolVar(&c.JSON, "json", false, "print the summary as one JSON object on the last line")
	if err := fs.Parse(args[1:]); err != nil {
		// Asked for, the usage is the answer (stdout); after a mistake it
		// goes with the error (stderr), which the caller prints.
		out := stderr
		if errors.Is(err, flag.ErrHelp) {
			out = stdout
		}
		fmt.Fprintf(out, "usage: herald bench %s [flags]\n", c.Mode)
		fs.SetOutput(out)
		fs.PrintDefaults()
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	return c, c.Validate()
}

// Validate names the first flag that cannot work.
func (c Config) Validate() error {
	switch c.Mode {
	case "publish", "consume", "e2e":
	default:
		return fmt.Errorf("unknown mode %q: use publish, consume or e2e", c.Mode)
	}
	switch {
	case c.Size < 0 || c.Size > 1<<20:
		return fmt.Errorf("--size %d: must be from 0 to 1048576", c.Size)
	case c.Events < 1 && c.Duration == 0:
		return fmt.Errorf("--events %d: must be at least 1", c.Events)
	case c.Warmup < 0:
		return fmt.Errorf("--warmup %d: must not be negative", c.Warmup)
	case c.Producers < 1 || c.Consumers < 1 || c.Batch < 1:
		return errors.New("--producers, --consumers and --batch must be at least 1")
	case c.Rate < 0:
		return errors.New("--rate must not be negative")
	case c.Mode == "e2e" && c.Rate == 0:
		return errors.New("e2e measures latency at a fixed rate: give --rate (for example 50000)")
	case c.Subscriptions < 0 || c.Subscriptions > 1000:
		return errors.New("--subscriptions must be from 0 to 1000")
	case c.Partitions < 1:
		return errors.New("--partitions must be at least 1")
	}
	return nil
}
