package cli

import (
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/heraldhq/herald/cloudevent"
)

// servedEvent is event offset of partition p as the HTTP API serves it.
func servedEvent(p, offset int) cloudevent.Event {
	return cloudevent.Event{ID: fmt.Sprintf("e-%d-%d", p, offset), Source: "/shop", SpecVersion: "1.0",
		Type: "OrderPlaced", Subject: fmt.Sprintf("eu/%d", offset), DataContentType: "application/json",
		Data: []byte(fmt.Sprintf(`{"n": %d}`, offset)),
		Extensions: map[string]string{
			"heraldtopic": "orders", "heraldpartition": strconv.Itoa(p), "heraldoffset": strconv.Itoa(offset),
			"heraldtime": fmt.Sprintf("2026-11-24T12:00:%02dZ", offset),
		}}
}

// deadLetter is one dead letter as docs/http-api.md shows it.
func deadLetter(id int) string {
	ev, _ := servedEvent(0, 40+id).MarshalJSON()
	return fmt.Sprintf(`{"id": %d, "reason": "max deliveries", "error": "db timeout after 30s while writing the invoice row",
		"attempts": 5, "topic": "orders", "partition": 0, "offset": %d, "subscription": "billing",
		"time": "2026-11-24T12:00:0%dZ", "redriven": false, "event": %s}`, id, 40+id, id, ev)
}

func TestDLQLs(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	list := `{"deadLetters":[` + deadLetter(3) + "," + deadLetter(4) + `]}`
	f.reply("GET /v1/topics/orders/subscriptions/billing/deadletters", 200, list)

	r := runCLI(t, f.URL(), "dlq", "ls", "orders", "billing")
	wantCode(t, r, 0)
	want := "ID  TIME                      ATTEMPTS  REASON          POSITION  TYPE         EVENT ID  REDRIVEN  ERROR\n" +
		"3   2026-11-24T12:00:03.000Z  5         max deliveries  0/43      OrderPlaced  e-0-43    no        db timeout after 30s while writing the …\n" +
		"4   2026-11-24T12:00:04.000Z  5         max deliveries  0/44      OrderPlaced  e-0-44    no        db timeout after 30s while writing the …\n"
	if r.stdout != want {
		t.Errorf("got:\n%s\nwant:\n%s", r.stdout, want)
	}
	if q := f.only(t).Query; q != "from=0&limit=100" {
		t.Errorf("query %q", q)
	}
	if r.stderr != "" {
		t.Errorf("stderr: %s", r.stderr)
	}

	// A full page says how to get the next one.
	r = runCLI(t, f.URL(), "dlq", "ls", "orders", "billing", "--from", "3", "--limit", "2")
	wantCode(t, r, 0)
	wantContains(t, "stderr", r.stderr, "more may follow: herald dlq ls orders billing --from 5")

	r = runCLI(t, f.URL(), "dlq", "ls", "orders", "billing", "--json")
	wantCode(t, r, 0)
	wantSameJSON(t, []byte(r.stdout), list)
}

func TestDLQShow(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	f.reply("GET /v1/topics/orders/subscriptions/billing/deadletters/3", 200, deadLetter(3))
	r := runCLI(t, f.URL(), "dlq", "show", "orders", "billing", "3")
	wantCode(t, r, 0)
	wantContains(t, "stdout", r.stdout, "Dead letter:   3\n", "Position:      partition 0, offset 43\n",
		"Attempts:      5\n", "Event:\n{\n  \"specversion\": \"1.0\",\n  \"id\": \"e-0-43\"")
	r = runCLI(t, f.URL(), "dlq", "show", "orders", "billing", "3", "--json")
	wantCode(t, r, 0)
	wantSameJSON(t, []byte(r.stdout), deadLetter(3))

	f.problemReply("GET /v1/topics/orders/subscriptions/billing/deadletters/9", 404, "Dead letter not found", "no dead letter 9", "id")
	r = runCLI(t, f.URL(), "dlq", "show", "orders", "billing", "9")
	wantCode(t, r, 1)
	wantOneLineError(t, r, `show dead letter 9 of "billing" on "orders": dead letter not found: field "id": no dead letter 9 (list them with 'herald dlq ls orders billing')`)
}

func TestDLQRedrive(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		args     []string
		wantBody string
		wantOut  string
	}{
		{"ids", []string{"3", "4"}, `{"ids":[3,4]}`, "redrove 2 dead letters into subscription billing on orders"},
		{"all", []string{"--all"}, `{}`, "redrove 2 dead letters"},
		{"json", []string{"--all", "--json"}, `{}`, `"redriven": 2`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFake(t)
			f.reply("POST /v1/topics/orders/subscriptions/billing/deadletters/redrive", 200, `{"redriven": 2}`)
			r := runCLI(t, f.URL(), append([]string{"dlq", "redrive", "orders", "billing"}, tt.args...)...)
			wantCode(t, r, 0)
			req := f.only(t)
			if req.Method != "POST" || req.ContentType != "application/json" {
				t.Errorf("request %s (%s)", req.Method, req.ContentType)
			}
			wantSameJSON(t, req.Body, tt.wantBody)
			wantContains(t, "stdout", r.stdout, tt.wantOut)
			if strings.Contains(tt.wantBody, "ids") == false && strings.Contains(string(req.Body), "ids") {
				t.Errorf("--all sent ids: %s", req.Body)
			}
		})
	}
}
