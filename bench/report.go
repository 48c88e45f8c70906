package main

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// ratio compares Herald with one peer on the same row: each number is
// Herald's value divided by the peer's (0 when either is missing). Above 1
// is better for Herald for events/s, below 1 is better for latency.
type ratio struct {
	EventsPerSec float64 `json:"events_per_sec,omitempty"`
	P50          float64 `json:"p50,omitempty"`
	P99          float64 `json:"p99,omitempty"`
}

// computeRatios fills Ratio on every peer line whose row Herald also ran.
func computeRatios(lines []line) {
	herald := map[string]result{}
	for _, l := range lines {
		if l.Kind == "herald" && l.Err == "" {
			herald[l.Row.ID] = l.Result
		}
	}
	div := func(a, b float64) float64 {
		if a == 0 || b == 0 {
			return 0
		}
		return a / b
	}
	for i := range lines {
		l := &lines[i]
		h, ok := herald[l.Row.ID]
		if l.Kind == "herald" || l.Err != "" || !ok {
			continue
		}
		l.Ratio = ratio{
			EventsPerSec: div(h.EventsPerSec, l.Result.EventsPerSec),
			P50:          div(h.P50us, l.Result.P50us),
			P99:          div(h.P99us, l.Result.P99us),
		}
	}
}

// headline is the ratio the table shows for a row: latency rows compare
// latency (sync publish: p50; end-to-end: p99), the others events/s.
func (l line) headline() string {
	switch {
	case l.Kind == "herald":
		return ""
	case l.Row.Workload == 2 && l.Ratio.P50 > 0:
		return fmt.Sprintf("%.2f× p50", l.Ratio.P50)
	case l.Row.Workload == 4 && l.Ratio.P99 > 0:
		return fmt.Sprintf("%.2f× p99", l.Ratio.P99)
	case l.Row.Workload != 2 && l.Row.Workload != 4 && l.Ratio.EventsPerSec > 0:
		return fmt.Sprintf("%.2f× ev/s", l.Ratio.EventsPerSec)
	}
	return "-"
}

// printTable writes the comparison as one aligned table, with notes
// below it.
func printTable(w io.Writer, rep *report, m machine, command string) {
	fmt.Fprintf(w, "Herald vs NATS JetStream vs Redis Streams, %s\n", rep.Started.Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(w, "machine: %s\n", m)
	fmt.Fprintf(w, "command: %s\n", command)
	fmt.Fprintf(w, "each number is the median of %d run%s; latencies in µs; Herald÷peer: events/s ratio above 1 or latency ratio below 1 favours Herald\n\n",
		rep.Config.Runs, plural(rep.Config.Runs))
	header := []string{"row", "workload", "system", "durability", "events/s", "MiB/s", "p50", "p99", "p99.9", "Herald÷peer", "note"}
	right := map[int]bool{4: true, 5: true, 6: true, 7: true, 8: true, 9: true}
	cells := [][]string{header}
	var notes []string
	for _, l := range rep.Lines {
		note := ""
		text := l.Result.Note
		if l.Err != "" {
			text = "failed: " + firstLine(l.Err)
		}
		if text != "" {
			notes = append(notes, fmt.Sprintf("[%d] %s %s (%s): %s", len(notes)+1, l.Row.ID, l.Label, l.Durability, text))
			note = fmt.Sprintf("[%d]", len(notes))
		}
		r := l.Result
		if l.Err != "" {
			cells = append(cells, []string{l.Row.ID, l.Row.Title, l.Label, l.Durability, "-", "-", "-", "-", "-", "-", note})
			continue
		}
		cells = append(cells, []string{l.Row.ID, l.Row.Title, l.Label, l.Durability,
			formatCount(r.EventsPerSec), fmt.Sprintf("%.1f", r.MiBPerSec),
			formatMicros(r.P50us), formatMicros(r.P99us), formatMicros(r.P999us), l.headline(), note})
	}
	widths := make([]int, len(header))
	for _, row := range cells {
		for i, c := range row {
			widths[i] = max(widths[i], len([]rune(c)))
		}
	}
	for n, row := range cells {
		var b strings.Builder
		for i, c := range row {
			pad := strings.Repeat(" ", widths[i]-len([]rune(c)))
			if right[i] {
				b.WriteString(pad + c)
			} else {
				b.WriteString(c + pad)
			}
			if i < len(row)-1 {
				b.WriteString("  ")
			}
		}
		fmt.Fprintln(w, strings.TrimRight(b.String(), " "))
		if n == 0 {
			total := 0
			for _, wd := range widths {
				total += wd + 2
			}
			fmt.Fprintln(w, strings.Repeat("-", total-2))
		}
	}
	if len(notes) > 0 {
		fmt.Fprintln(w)
		for _, n := range notes {
			fmt.Fprintln(w, n)
		}
	}
	for _, s := range rep.Skipped {
		fmt.Fprintln(w, "left out:", firstLine(s))
	}
	if m.WriteFsyncP50us > 0 {
		var checks []string
		for _, l := range rep.Lines {
			if l.Row.Workload == 2 && l.Err == "" && l.Result.P50us > 0 {
				checks = append(checks, fmt.Sprintf("%s (%s): %.2f×", l.Label, l.Durability, l.Result.P50us/m.WriteFsyncP50us))
			}
		}
		if len(checks) > 0 {
			fmt.Fprintf(w, "\nsync publish p50 (row 2) over one 4 KiB write+fdatasync (%.0f µs):\n", m.WriteFsyncP50us)
			for _, c := range checks {
				fmt.Fprintln(w, "  "+c)
			}
			if m.LoopbackRTTP50us > 0 {
				// The bar is 1.3× the fsync: set what it leaves
				// for everything but the fsync beside the operating
				// system's floor for one request between two processes.
				fmt.Fprintf(w, "  the 1.3× bar leaves %.0f µs over the fsync; a bare loopback round trip between two processes takes %.0f µs here\n",
					0.3*m.WriteFsyncP50us, m.LoopbackRTTP50us)
			}
		}
	}
	if checks := fanOutChecks(rep.Lines); len(checks) > 0 {
		fmt.Fprintln(w, "\nfan-out (row 5) against the same system with no subscriptions (row 5n, or 1a without it) and with one (row 3):")
		for _, c := range checks {
			fmt.Fprintln(w, "  "+c)
		}
	}
}

// fanOutChecks compares, per system, the publisher's rate with 10
// subscriptions attached (row 5) with its rate with none (row 5n, the same
// publisher and events; row 1a, same size, producer count and batch but
// ten times the events, when 5n did not run), and the aggregate delivery
// rate across the 10 with one subscription's consume rate (row 3), the two
// fan-out bars of issue #6.
func fanOutChecks(lines []line) []string {
	type key struct{ label, durability string }
	by := map[key]map[string]result{}
	var order []key
	for _, l := range lines {
		if l.Err != "" {
			continue
		}
		k := key{l.Label, l.Durability}
		if by[k] == nil {
			by[k] = map[string]result{}
			order = append(order, k)
		}
		by[k][l.Row.ID] = l.Result
	}
	var out []string
	for _, k := range order {
		rows := by[k]
		fan, ok := rows["5"]
		if !ok || fan.PublishEventsPerSec == 0 {
			continue
		}
		text := fmt.Sprintf("%s (%s): publish with 10 subscriptions %s/s", k.label, k.durability, formatCount(fan.PublishEventsPerSec))
		for _, id := range []string{"5n", "1a"} {
			if none, ok := rows[id]; ok && none.EventsPerSec > 0 {
				text += fmt.Sprintf(" = %.0f%% of %s/s with none (row %s)", 100*fan.PublishEventsPerSec/none.EventsPerSec, formatCount(none.EventsPerSec), id)
				break
			}
		}
		text += fmt.Sprintf("; aggregate delivery %s/s", formatCount(fan.EventsPerSec))
		if one, ok := rows["3"]; ok && one.EventsPerSec > 0 {
			text += fmt.Sprintf(" = %.2f× one subscription's %s/s", fan.EventsPerSec/one.EventsPerSec, formatCount(one.EventsPerSec))
		}
		out = append(out, text)
	}
	return out
}

// record is one table line as the CSV and JSON files hold it.
type record struct {
	Row        string   `json:"row"`
	Workload   int      `json:"workload"`
	Title      string   `json:"title"`
	System     string   `json:"system"`
	Durability string   `json:"durability"`
	Size       int      `json:"size_bytes"`
	Producers  int      `json:"producers"`
	Batch      int      `json:"batch"`
	Events     int      `json:"events"`
	Rate       int      `json:"rate,omitempty"`
	Subs       int      `json:"subscriptions,omitempty"`
	Runs       int      `json:"runs"`
	Result     result   `json:"median"`
	Ratio      ratio    `json:"herald_over_peer"`
	Error      string   `json:"error,omitempty"`
	AllRuns    []result `json:"runs_detail"`
}

func records(rep *report) []record {
	var out []record
	for _, l := range rep.Lines {
		out = append(out, record{Row: l.Row.ID, Workload: l.Row.Workload, Title: l.Row.Title,
			System: l.Label, Durability: l.Durability, Size: l.Row.Size, Producers: l.Row.Producers,
			Batch: l.Row.Batch, Events: l.Row.Events, Rate: l.Row.Rate, Subs: l.Row.Subs,
			Runs: len(l.Runs), Result: l.Result, Ratio: l.Ratio, Error: l.Err, AllRuns: l.Runs})
	}
	return out
}

// writeResults writes the run's printed text (its log and table) as
// dir/<date>-<hhmm>.txt, and its numbers as .csv and .json beside it,
// with a -quick suffix for a quick run, and returns their paths. Each run
// has its own three files, so that a headline's numbers are not replaced
// by a later run's: a name already taken gets -2, -3, ... (two runs that
// started in the same minute).
func writeResults(dir string, rep *report, m machine, command, printed string) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	base := rep.Started.Format("2006-01-02-1504")
	if rep.Config.Quick {
		base += "-quick"
	}
	taken := func(base string) bool {
		for _, ext := range []string{".txt", ".csv", ".json"} {
			if _, err := os.Stat(filepath.Join(dir, base+ext)); err == nil {
				return true
			}
		}
		return false
	}
	for n, first := 2, base; taken(base); n++ {
		base = fmt.Sprintf("%s-%d", first, n)
	}
	txtPath := filepath.Join(dir, base+".txt")
	csvPath, jsonPath := filepath.Join(dir, base+".csv"), filepath.Join(dir, base+".json")
	if err := os.WriteFile(txtPath, []byte(printed), 0o644); err != nil {
		return nil, err
	}
	recs := records(rep)

	var cb strings.Builder
	cw := csv.NewWriter(&cb)
	_ = cw.Write([]string{"row", "workload", "title", "system", "durability", "size_bytes", "producers", "batch",
		"events", "runs", "events_per_sec", "mib_per_sec", "p50_us", "p90_us", "p99_us", "p999_us",
		"publish_events_per_sec", "herald_over_peer_events_per_sec", "herald_over_peer_p50", "herald_over_peer_p99",
		"note", "error"})
	f := func(v float64) string {
		if v == 0 || math.IsNaN(v) {
			return ""
		}
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	for _, r := range recs {
		_ = cw.Write([]string{r.Row, strconv.Itoa(r.Workload), r.Title, r.System, r.Durability,
			strconv.Itoa(r.Size), strconv.Itoa(r.Producers), strconv.Itoa(r.Batch), strconv.Itoa(r.Events),
			strconv.Itoa(r.Runs), f(round(r.Result.EventsPerSec, 0)), f(round(r.Result.MiBPerSec, 2)),
			f(round(r.Result.P50us, 1)), f(round(r.Result.P90us, 1)), f(round(r.Result.P99us, 1)), f(round(r.Result.P999us, 1)),
			f(round(r.Result.PublishEventsPerSec, 0)), f(round(r.Ratio.EventsPerSec, 3)), f(round(r.Ratio.P50, 3)),
			f(round(r.Ratio.P99, 3)), r.Result.Note, firstLine(r.Error)})
	}
	cw.Flush()
	if err := os.WriteFile(csvPath, []byte(cb.String()), 0o644); err != nil {
		return nil, err
	}

	doc := struct {
		Date     string   `json:"date"`
		Started  string   `json:"started"`
		Finished string   `json:"finished"`
		Command  string   `json:"command"`
		Machine  machine  `json:"machine"`
		Config   Config   `json:"config"`
		Skipped  []string `json:"left_out,omitempty"`
		Rows     []record `json:"rows"`
	}{rep.Started.Format("2006-01-02"), rep.Started.Format(time.RFC3339), rep.Finished.Format(time.RFC3339),
		command, m, rep.Config, rep.Skipped, recs}
	js, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(jsonPath, append(js, '\n'), 0o644); err != nil {
		return nil, err
	}
	return []string{txtPath, csvPath, jsonPath}, nil
}

func round(v float64, digits int) float64 {
	p := math.Pow(10, float64(digits))
	return math.Round(v*p) / p
}

// formatCount writes n with thousands separators: 176,000.
func formatCount(n float64) string {
	if n == 0 {
		return "-"
	}
	s := strconv.FormatInt(int64(math.Round(n)), 10)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// formatMicros writes a latency in µs: one decimal below 10, none above.
func formatMicros(us float64) string {
	switch {
	case us == 0:
		return "-"
	case us < 10:
		return strconv.FormatFloat(us, 'f', 1, 64)
	}
	return formatCount(us)
}

func firstLine(s string) string {
	first, _, _ := strings.Cut(s, "\n")
	return first
}
