package cli

import (
	"bytes"
	"strings"
	"testing"

	"github.com/heraldhq/herald/cloudevent"
)

func TestTable(t *testing.T) {
	t.Parallel()
	rows := [][]string{{"orders", "4"}, {"a\tb\nc", "12"}}
	var plain, coloured bytes.Buffer
	(&output{w: &plain}).table([]string{"NAME", "N"}, rows)
	(&output{w: &coloured, color: true}).table([]string{"NAME", "N"}, rows)
	want := "NAME     N\norders   4\na\\tb\\nc  12\n"
	if plain.String() != want {
		t.Errorf("plain:\n%q\nwant\n%q", plain.String(), want)
	}
	// Colour goes on after alignment: stripping it gives the plain table.
	stripped := strings.NewReplacer(ansiBold, "", ansiReset, "").Replace(coloured.String())
	if stripped != want || !strings.HasPrefix(coloured.String(), ansiBold+"NAME") {
		t.Errorf("coloured:\n%q", coloured.String())
	}
}

func TestClean(t *testing.T) {
	t.Parallel()
	tests := map[string]string{
		"plain":          "plain",
		"line\nbreak":    `line\nbreak`,
		"tab\there":      `tab\there`,
		"esc\x1b[31mred": "esc?[31mred",
		"üñí©ødé":        "üñí©ødé",
	}
	for in, want := range tests {
		if got := clean(in); got != want {
			t.Errorf("clean(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestTruncateAndBytes(t *testing.T) {
	t.Parallel()
	if got := truncate("héllo wörld", 6); got != "héllo…" {
		t.Errorf("truncate = %q", got)
	}
	if got := truncate("short", 6); got != "short" {
		t.Errorf("truncate = %q", got)
	}
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 1536: "1.5 KiB", 3 << 30: "3.0 GiB"} {
		if got := humanBytes(n); got != want {
			t.Errorf("humanBytes(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestDataPreview(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		ev   cloudevent.Event
		want string
	}{
		{"no data", cloudevent.Event{}, "-"},
		{"JSON is compacted", cloudevent.Event{DataContentType: "application/json", Data: []byte("{\n  \"a\": 1\n}")}, `{"a":1}`},
		{"+json", cloudevent.Event{DataContentType: "application/vnd.x+json; charset=utf-8", Data: []byte(`[1, 2]`)}, `[1,2]`},
		{"text", cloudevent.Event{DataContentType: "text/plain", Data: []byte("two\nlines")}, `two\nlines`},
		{"binary", cloudevent.Event{DataContentType: "application/octet-stream", Data: []byte{0, 1, 2}}, "[3 bytes application/octet-stream]"},
		{"long", cloudevent.Event{DataContentType: "text/plain", Data: []byte(strings.Repeat("x", 150))}, strings.Repeat("x", 99) + "…"},
	}
	for _, tt := range tests {
		if got := dataPreview(&tt.ev); got != tt.want {
			t.Errorf("%s: %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestJSONLineKeepsBytes(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	o := &output{w: &b}
	o.jsonLine([]byte(`{"data": {"a":  1}}`))
	o.jsonLine([]byte("{\n\"b\": 2\n}"))
	if want := "{\"data\": {\"a\":  1}}\n{\"b\":2}\n"; b.String() != want {
		t.Errorf("got %q, want %q", b.String(), want)
	}
	if err := o.jsonLine([]byte("{oops")); err == nil {
		t.Error("invalid JSON accepted")
	}
}

func TestUUIDv4(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for range 100 {
		id := newUUIDv4()
		if !uuidV4.MatchString(id) || seen[id] {
			t.Fatalf("bad or repeated UUID %q", id)
		}
		seen[id] = true
	}
}
