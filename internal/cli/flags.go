package cli

import (
	"errors"
	"flag"
	"io"
	"strconv"
	"strings"
	"time"
)

// globalFlags are registered on every command's FlagSet.
var globalFlags = map[string]bool{"url": true, "json": true, "timeout": true}

// registerGlobals adds --url, --json and --timeout to fs, writing into e.
// The defaults are e's current values, so global flags given before the
// command ("herald --url X topics ls") carry over.
func (e *env) registerGlobals(fs *flag.FlagSet) {
	fs.StringVar(&e.url, "url", e.url, "the Herald server's `URL` (env "+envURL+")")
	fs.BoolVar(&e.json, "json", e.json, "print JSON for scripts instead of tables")
	fs.DurationVar(&e.timeout, "timeout", e.timeout, "give up on a request after this `duration` (tail and consume: on a silent stream after 2-3 times it)")
}

// parseLeadingGlobals reads global flags written before the command name
// and returns the rest of the arguments.
func (e *env) parseLeadingGlobals(args []string) ([]string, error) {
	if len(args) == 0 || !strings.HasPrefix(args[0], "-") || isHelpFlag(args[0]) {
		return args, nil
	}
	fs := flag.NewFlagSet("herald", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	e.registerGlobals(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			writeTopHelp(e.stdout)
			return nil, errHelpShown
		}
		return nil, usagef(nil, "%s", flagErrorText(err))
	}
	return fs.Args(), nil
}

// flagSet is one command's parsed flags: which were given, and the
// positional arguments.
type flagSet struct {
	fs   *flag.FlagSet
	args []string
	set  map[string]bool
}

// isSet reports whether the flag was given on the command line, which
// tells "not given" from "given its zero value".
func (p *flagSet) isSet(name string) bool { return p.set[name] }

// anyOwnSet reports whether any flag other than the global ones was given.
func (p *flagSet) anyOwnSet() bool {
	for name := range p.set {
		if !globalFlags[name] {
			return true
		}
	}
	return false
}

// parse parses a command's arguments: the global flags, the flags register
// adds, and the positional arguments that e.cmd.args describes. Flags may
// come before, between or after positional arguments; "--" ends the flags.
// It prints the help for --help (returning errHelpShown), and then sets up
// e.out and e.client.
func (e *env) parse(args []string, register func(fs *flag.FlagSet)) (*flagSet, error) {
	fs := flag.NewFlagSet("herald "+e.cmd.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	e.registerGlobals(fs)
	if register != nil {
		register(fs)
	}
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				writeCommandHelp(e.stdout, e.cmd, fs)
				return nil, errHelpShown
			}
			return nil, usagef(e.cmd, "%s", flagErrorText(err))
		}
		rest := fs.Args()
		if len(rest) == 0 {
			break
		}
		if used := len(args) - len(rest); used > 0 && args[used-1] == "--" {
			pos = append(pos, rest...)
			break
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
	if err := checkArgs(e.cmd, pos); err != nil {
		return nil, err
	}
	p := &flagSet{fs: fs, args: pos, set: map[string]bool{}}
	fs.Visit(func(f *flag.Flag) { p.set[f.Name] = true })
	if err := e.setup(); err != nil {
		return nil, err
	}
	return p, nil
}

// setup builds the output and the client from the global flags.
func (e *env) setup() error {
	if e.timeout <= 0 {
		return usagef(e.cmd, "--timeout %s: must be positive, like 10s", e.timeout)
	}
	e.out = &output{w: e.stdout, json: e.json, color: !e.json && e.sys.colourAllowed(e.stdout)}
	c, err := newClient(e.url, e.timeout)
	if err != nil {
		return usagef(e.cmd, "%v", err)
	}
	e.client = c
	return nil
}

// flagErrorText rewords the flag package's errors in our double-dash
// style.
func flagErrorText(err error) string {
	msg := err.Error()
	if name, ok := strings.CutPrefix(msg, "flag provided but not defined: "); ok {
		return "unknown flag --" + strings.TrimLeft(name, "-")
	}
	return msg
}

// argNames reads a command's positional argument spec ("TOPIC SUB
// [ID...]"): the names, how many are required, and how many are allowed
// (-1 for no limit).
func argNames(spec string) (names []string, min, max int) {
	for _, w := range strings.Fields(spec) {
		optional := strings.HasPrefix(w, "[")
		variadic := strings.Contains(w, "...")
		names = append(names, strings.Trim(w, "[]."))
		if !optional {
			min++
		}
		switch {
		case variadic:
			max = -1
		case max >= 0:
			max++
		}
	}
	return names, min, max
}

func checkArgs(cmd *command, pos []string) error {
	names, min, max := argNames(cmd.args)
	if len(pos) < min {
		return usagef(cmd, "missing %s", names[len(pos)])
	}
	if max >= 0 && len(pos) > max {
		return usagef(cmd, "unexpected argument %q", pos[max])
	}
	return nil
}

// listFlag is a repeatable string flag (--ext a=1 --ext b=2).
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(v string) error {
	*l = append(*l, v)
	return nil
}

// checkPosition validates a read position (--from, --start, --to):
// earliest, latest, an offset, or an RFC 3339 time. The server is the
// judge in the end; this catches typos before a request is sent.
func checkPosition(cmd *command, flagName, v string) error {
	switch v {
	case "earliest", "latest":
		return nil
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n < 0 {
			return usagef(cmd, "--%s %s: an offset must not be negative", flagName, v)
		}
		return nil
	}
	if _, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return nil
	}
	return usagef(cmd, "--%s %q: use earliest, latest, an offset like 42, or an RFC 3339 time like 2026-01-02T15:04:05Z", flagName, v)
}

// checkDuration validates a Go duration flag value, allowing the named
// special words (like "forever" or "off").
func checkDuration(cmd *command, flagName, v string, words ...string) error {
	for _, w := range words {
		if v == w {
			return nil
		}
	}
	d, err := time.ParseDuration(v)
	if err == nil && d >= 0 {
		return nil
	}
	alt := ""
	if len(words) > 0 {
		alt = " or " + strings.Join(words, " or ")
	}
	return usagef(cmd, "--%s %q: use a duration like 30s or 168h%s", flagName, v, alt)
}

// optString returns a pointer to the flag's value when it was given.
func optString(p *flagSet, name, v string) *string {
	if !p.isSet(name) {
		return nil
	}
	return &v
}

func optInt(p *flagSet, name string, v int) *int {
	if !p.isSet(name) {
		return nil
	}
	return &v
}

func optInt64(p *flagSet, name string, v int64) *int64 {
	if !p.isSet(name) {
		return nil
	}
	return &v
}

func optFloat(p *flagSet, name string, v float64) *float64 {
	if !p.isSet(name) {
		return nil
	}
	return &v
}
