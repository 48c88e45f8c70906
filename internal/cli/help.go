package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// helpRequest asks dispatch to print a group's help ("herald topics
// --help").
type helpRequest struct{ group string }

func (h *helpRequest) Error() string { return "help for " + h.group }

// usageLine is "herald topics create NAME [flags]".
func (c *command) usageLine() string {
	s := "herald " + c.name
	if c.args != "" {
		s += " " + c.args
	}
	return s + " [flags]"
}

// helpFor answers "herald help [COMMAND...]".
func (e *env) helpFor(args []string) error {
	if len(args) == 0 {
		writeTopHelp(e.stdout)
		return errHelpShown
	}
	if len(groupCommands(args[0])) > 0 && len(args) == 1 {
		writeGroupHelp(e.stdout, args[0])
		return errHelpShown
	}
	if args[0] == "serve" {
		fmt.Fprintln(e.stdout, "Run 'herald serve --help' for the server's flags.")
		return errHelpShown
	}
	cmd, _, err := lookup(args)
	if err != nil {
		return e.showGroupHelp(err)
	}
	e.cmd = cmd
	return cmd.run(e, []string{"--help"})
}

// showGroupHelp turns a helpRequest from lookup into printed help.
func (e *env) showGroupHelp(err error) error {
	var h *helpRequest
	if errors.As(err, &h) {
		writeGroupHelp(e.stdout, h.group)
		return errHelpShown
	}
	return err
}

func writeTopHelp(w io.Writer) {
	fmt.Fprint(w, `Herald is an event broker and event store with an HTTP API, in one binary.

usage: herald <command> [arguments] [flags]

Commands:
`)
	tw := tabwriter.NewWriter(w, 0, 0, 3, ' ', 0)
	fmt.Fprintf(tw, "  herald serve\trun the server (see 'herald serve --help')\n")
	for _, c := range commands {
		fmt.Fprintf(tw, "  %s\t%s\n", strings.TrimSuffix(c.usageLine(), " [flags]"), c.summary)
	}
	tw.Flush()
	fmt.Fprint(w, `
Global flags (every command, before or after its arguments):
`)
	writeGlobalFlagHelp(w)
	fmt.Fprint(w, `
With --json a command prints one JSON document; publish, tail and consume
print JSON lines (one document per event, result or delivery).

Run 'herald <command> --help' for a command's flags and examples.
Exit status: 0 ok, 1 failed, 2 usage error, 130 interrupted.
`)
}

func writeGroupHelp(w io.Writer, group string) {
	fmt.Fprintf(w, "usage: herald %s <command> [arguments] [flags]\n\nCommands:\n", group)
	tw := tabwriter.NewWriter(w, 0, 0, 3, ' ', 0)
	for _, c := range groupCommands(group) {
		fmt.Fprintf(tw, "  %s\t%s\n", strings.TrimSuffix(c.usageLine(), " [flags]"), c.summary)
	}
	tw.Flush()
	fmt.Fprintf(w, "\nRun 'herald %s <command> --help' for its flags.\n", group)
}

// writeGlobalFlagHelp lists the global flags with their usual defaults.
func writeGlobalFlagHelp(w io.Writer) {
	fs := flag.NewFlagSet("herald", flag.ContinueOnError)
	e := &env{url: defaultURL, timeout: defaultTimeout}
	e.registerGlobals(fs)
	writeFlags(w, fs, true)
}

// writeCommandHelp prints a command's help: usage, description, flags.
func writeCommandHelp(w io.Writer, c *command, fs *flag.FlagSet) {
	fmt.Fprintf(w, "usage: %s\n\n%s\n", c.usageLine(), strings.TrimSpace(c.help))
	if len(c.aliases) > 0 {
		fmt.Fprintf(w, "\nAlso: %s.\n", strings.Join(c.aliases, ", "))
	}
	own := 0
	fs.VisitAll(func(f *flag.Flag) {
		if !globalFlags[f.Name] {
			own++
		}
	})
	if own > 0 {
		fmt.Fprint(w, "\nFlags:\n")
		writeFlags(w, fs, false)
	}
	fmt.Fprint(w, "\nGlobal flags:\n")
	writeFlags(w, fs, true)
}

// writeFlags lists fs's flags, the global ones or the others, as
// "  --name TYPE   usage (default x)". A word in `backquotes` in the usage
// names the value, as in the flag package.
func writeFlags(w io.Writer, fs *flag.FlagSet, global bool) {
	tw := tabwriter.NewWriter(w, 0, 0, 3, ' ', 0)
	fs.VisitAll(func(f *flag.Flag) {
		if globalFlags[f.Name] != global {
			return
		}
		typ, usage := flag.UnquoteUsage(f)
		left := "  --" + f.Name
		if typ != "" {
			left += " " + typ
		}
		switch f.DefValue {
		case "", "0", "false", "0s":
		default:
			usage += " (default " + f.DefValue + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\n", left, usage)
	})
	tw.Flush()
}
