package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/heraldhq/herald/internal/term"
)

// Exit codes, as the package documentation describes them.
const (
	exitOK          = 0
	exitFailure     = 1
	exitUsage       = 2
	exitInterrupted = 130
)

// Defaults for the global flags.
const (
	defaultURL     = "http://127.0.0.1:7070"
	defaultTimeout = 10 * time.Second
	envURL         = "HERALD_URL"
)

// Run executes one CLI command (args excludes the program name, e.g.
// ["topics", "ls"]) and returns the process exit code.
func Run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return run(ctx, args, stdin, stdout, stderr, osSystem())
}

// system is what the CLI reads from the process around it, so tests can
// pretend to be a terminal or set the environment without touching the
// real process.
type system struct {
	getenv     func(string) string
	isTerminal func(w any) bool // is this reader or writer a terminal?
}

func osSystem() system {
	return system{getenv: os.Getenv, isTerminal: isTerminalFile}
}

// isTerminalFile reports whether v is an *os.File attached to a terminal
// (not merely a character device: /dev/null is one).
func isTerminalFile(v any) bool {
	f, ok := v.(*os.File)
	return ok && term.IsTerminal(f)
}

// colourAllowed reports whether the environment lets us colour w:
// a terminal, NO_COLOR unset or empty (https://no-color.org), TERM not dumb.
func (s system) colourAllowed(w any) bool {
	return s.isTerminal(w) && s.getenv("NO_COLOR") == "" && s.getenv("TERM") != "dumb"
}

// env is everything one command run needs. It is filled in stages:
// run sets the streams and the defaults, parse sets the global flags and
// then the output and the client.
type env struct {
	ctx    context.Context
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	sys    system

	cmd *command // the command being run

	// Global flags.
	url     string
	json    bool
	timeout time.Duration

	out    *output
	client *Client
}

// command is one leaf of the command tree, like "topics create".
type command struct {
	name    string   // words after "herald", e.g. "topics create"
	aliases []string // other last words, e.g. "list" for "ls"
	args    string   // positional arguments, e.g. "TOPIC SUB [ID...]"
	summary string   // one line for the command list
	help    string   // what it does and examples, for --help
	run     func(e *env, args []string) error
}

// group returns the first word of the name for two-word commands, "" for
// one-word commands.
func (c *command) group() string {
	if g, _, ok := strings.Cut(c.name, " "); ok {
		return g
	}
	return ""
}

// commands is the command tree, in the order help lists it.
var commands = []*command{
	cmdTopicsCreate, cmdTopicsLs, cmdTopicsDescribe, cmdTopicsSet, cmdTopicsRm,
	cmdPublish, cmdTail, cmdConsume,
	cmdSubsCreate, cmdSubsLs, cmdSubsDescribe, cmdSubsSet, cmdSubsSeek, cmdSubsRm,
	cmdDLQLs, cmdDLQShow, cmdDLQRedrive,
	cmdVersion,
}

// Errors run maps to exit codes.
var (
	// errHelpShown: --help printed the help; exit 0.
	errHelpShown = errors.New("help shown")
	// errInterrupted: the context ended a command that is not a stream.
	errInterrupted = errors.New("interrupted")
)

// usageError is a mistake in the command line; the server was not asked.
type usageError struct {
	cmd   *command // nil for the top level or a group
	group string   // "topics" for "herald topics" without a subcommand
	msg   string
}

func (e *usageError) Error() string { return e.msg }

func usagef(cmd *command, format string, a ...any) *usageError {
	return &usageError{cmd: cmd, msg: fmt.Sprintf(format, a...)}
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, sys system) int {
	e := &env{ctx: ctx, stdin: stdin, stdout: stdout, stderr: stderr, sys: sys,
		url: defaultURL, timeout: defaultTimeout}
	if u := sys.getenv(envURL); u != "" {
		e.url = u
	}
	err := e.dispatch(args)
	if e.client != nil {
		e.client.close()
	}
	return e.report(err)
}

// dispatch finds the command args name and runs it.
func (e *env) dispatch(args []string) error {
	args, err := e.parseLeadingGlobals(args)
	if err != nil {
		return err
	}
	if len(args) == 0 {
		writeTopHelp(e.stderr)
		return usagef(nil, "no command given")
	}
	switch args[0] {
	case "help", "-h", "-help", "--help":
		return e.helpFor(args[1:])
	}
	cmd, rest, err := lookup(args)
	if err != nil {
		return e.showGroupHelp(err)
	}
	e.cmd = cmd
	err = cmd.run(e, rest)
	if err != nil && e.ctx.Err() != nil && errors.Is(err, e.ctx.Err()) {
		return errInterrupted
	}
	return err
}

// lookup finds the command named by the first one or two words of args
// and returns it with the remaining arguments.
func lookup(args []string) (*command, []string, error) {
	word := args[0]
	isGroup := false
	for _, c := range commands {
		g := c.group()
		if g == "" && c.name == word {
			return c, args[1:], nil
		}
		if g != word {
			continue
		}
		isGroup = true
		if len(args) > 1 && c.matches(args[1]) {
			return c, args[2:], nil
		}
	}
	if !isGroup {
		return nil, nil, usagef(nil, "unknown command %q", word)
	}
	subs := groupCommands(word)
	if len(args) == 1 || strings.HasPrefix(args[1], "-") {
		if len(args) > 1 && isHelpFlag(args[1]) {
			return nil, nil, &helpRequest{group: word}
		}
		return nil, nil, &usageError{group: word, msg: fmt.Sprintf("%s needs a subcommand: %s", word, subNames(subs))}
	}
	return nil, nil, &usageError{group: word, msg: fmt.Sprintf("unknown command %q; %s has: %s", word+" "+args[1], word, subNames(subs))}
}

// matches reports whether sub is the command's last word or an alias.
func (c *command) matches(sub string) bool {
	_, last, _ := strings.Cut(c.name, " ")
	if sub == last {
		return true
	}
	for _, a := range c.aliases {
		if sub == a {
			return true
		}
	}
	return false
}

func groupCommands(group string) []*command {
	var out []*command
	for _, c := range commands {
		if c.group() == group {
			out = append(out, c)
		}
	}
	return out
}

func subNames(cmds []*command) string {
	names := make([]string, len(cmds))
	for i, c := range cmds {
		_, names[i], _ = strings.Cut(c.name, " ")
	}
	return strings.Join(names, ", ")
}

func isHelpFlag(s string) bool {
	return s == "-h" || s == "-help" || s == "--help"
}

// report prints err the way the package documentation promises and
// returns the exit code.
func (e *env) report(err error) int {
	if err == nil {
		return exitOK
	}
	if errors.Is(err, errHelpShown) {
		return exitOK
	}
	var ue *usageError
	if errors.As(err, &ue) {
		fmt.Fprintf(e.stderr, "%s\n", e.paintErr("herald: "+oneLine(ue.msg)))
		switch {
		case ue.cmd != nil:
			fmt.Fprintf(e.stderr, "usage: %s (see 'herald %s --help')\n", ue.cmd.usageLine(), ue.cmd.name)
		case ue.group != "":
			fmt.Fprintf(e.stderr, "usage: herald %s <command> [arguments] [flags] (see 'herald %s --help')\n", ue.group, ue.group)
		default:
			fmt.Fprintln(e.stderr, "usage: herald <command> [arguments] [flags] (see 'herald help')")
		}
		return exitUsage
	}
	if errors.Is(err, errInterrupted) {
		fmt.Fprintln(e.stderr, e.paintErr("herald: interrupted"))
		return exitInterrupted
	}
	fmt.Fprintln(e.stderr, e.paintErr("herald: "+oneLine(err.Error())))
	return exitFailure
}

// paintErr colours an error line red when stderr is a terminal.
func (e *env) paintErr(s string) string {
	if e.sys.colourAllowed(e.stderr) {
		return ansiRed + s + ansiReset
	}
	return s
}

// oneLine keeps an error on the single line scripts and people expect.
func oneLine(s string) string {
	return strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ").Replace(strings.TrimSpace(s))
}
