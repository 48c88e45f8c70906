package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"unicode"
	"unicode/utf8"
)

// ANSI styles. Restrained on purpose: bold headers and keys, dim
// positions, red errors.
const (
	ansiBold  = "\x1b[1m"
	ansiDim   = "\x1b[2m"
	ansiRed   = "\x1b[31m"
	ansiCyan  = "\x1b[36m"
	ansiReset = "\x1b[0m"
)

// output writes a command's results to stdout: tables and fields for
// people, JSON for scripts. color is decided once by setup (a terminal,
// NO_COLOR unset, not --json).
type output struct {
	w     io.Writer
	json  bool
	color bool
}

// paint wraps s in an ANSI style when colour is on.
func (o *output) paint(style, s string) string {
	if !o.color || s == "" {
		return s
	}
	return style + s + ansiReset
}

// printf writes text for people.
func (o *output) printf(format string, a ...any) error {
	_, err := fmt.Fprintf(o.w, format, a...)
	return err
}

// table prints rows under a header, aligned with text/tabwriter.
func (o *output) table(header []string, rows [][]string) error {
	_, err := io.WriteString(o.w, o.renderTable(header, rows))
	return err
}

// renderTable aligns the cells. Colour goes on after alignment, because
// tabwriter would count escape codes as width: the header is a whole line,
// so it is bolded line and all. A nil header renders rows alone (for
// tables printed in parts, like publish results).
func (o *output) renderTable(header []string, rows [][]string) string {
	var buf bytes.Buffer
	tw := tabwriter.NewWriter(&buf, 0, 0, 2, ' ', 0)
	if header != nil {
		fmt.Fprintln(tw, strings.Join(header, "\t"))
	}
	for _, r := range rows {
		cells := make([]string, len(r))
		for i, c := range r {
			cells[i] = clean(c)
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	tw.Flush()
	s := buf.String()
	if header != nil && o.color {
		first, rest, _ := strings.Cut(s, "\n")
		s = o.paint(ansiBold, first) + "\n" + rest
	}
	return s
}

// field is one line of a description: "Partitions:  4".
type field struct{ key, value string }

// fields prints key: value lines with the values aligned; keys are bold on
// a terminal (padding is computed on the plain text).
func (o *output) fields(fs []field) error {
	width := 0
	for _, f := range fs {
		width = max(width, len(f.key)+1)
	}
	var b strings.Builder
	for _, f := range fs {
		pad := strings.Repeat(" ", width-len(f.key)-1+2)
		fmt.Fprintf(&b, "%s%s%s\n", o.paint(ansiBold, f.key+":"), pad, clean(f.value))
	}
	_, err := io.WriteString(o.w, b.String())
	return err
}

// jsonDoc prints a JSON document from the server, indented.
func (o *output) jsonDoc(raw []byte) error {
	var buf bytes.Buffer
	if len(bytes.TrimSpace(raw)) == 0 {
		raw = []byte("{}")
	}
	if err := json.Indent(&buf, raw, "", "  "); err != nil {
		return fmt.Errorf("the server answered with invalid JSON: %w", err)
	}
	buf.WriteByte('\n')
	_, err := o.w.Write(buf.Bytes())
	return err
}

// jsonValue prints v as an indented JSON document.
func (o *output) jsonValue(v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = o.w.Write(append(b, '\n'))
	return err
}

// jsonLine prints raw JSON as one record of a JSON lines stream. JSON on
// one line already is printed byte for byte, so event data keeps its exact
// bytes; JSON spread over lines is compacted, which changes only white
// space between tokens.
func (o *output) jsonLine(raw []byte) error {
	raw = bytes.TrimSpace(raw)
	if !json.Valid(raw) {
		return fmt.Errorf("the server answered with invalid JSON: %.80q", raw)
	}
	var buf bytes.Buffer
	if bytes.ContainsAny(raw, "\r\n") {
		json.Compact(&buf, raw) // cannot fail: raw is valid
	} else {
		buf.Write(raw)
	}
	buf.WriteByte('\n')
	_, err := o.w.Write(buf.Bytes())
	return err
}

// clean makes text from the server safe for one terminal cell: line
// breaks and tabs become escapes, other control characters (including
// ESC, which could drive the terminal) become '?'.
func clean(s string) string {
	if strings.IndexFunc(s, unicode.IsControl) < 0 {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case unicode.IsControl(r):
			b.WriteByte('?')
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// truncate cuts s to at most n runes, marking the cut with "…".
func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n-1]) + "…"
}

// humanBytes renders a byte count for people: 512 B, 1.5 KiB, 3.0 GiB.
func humanBytes(n int64) string {
	if n < 1024 {
		return fmt.Sprintf("%d B", n)
	}
	v := float64(n)
	for _, unit := range []string{"KiB", "MiB", "GiB", "TiB"} {
		v /= 1024
		if v < 1024 || unit == "TiB" {
			return fmt.Sprintf("%.1f %s", v, unit)
		}
	}
	return ""
}

// orDash shows an absent value as "-".
func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
