package server

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/heraldhq/herald/cloudevent"
	"github.com/heraldhq/herald/internal/broker"
	"github.com/heraldhq/herald/internal/wire"
)

// A DeadLetters RESULT is one frame: the server answers the first dead
// letters that fit, at least one, and the client lists on from there.
func TestDeadLettersFitTheirFrame(t *testing.T) {
	dls := make([]broker.DeadLetter, 3)
	sizes := make([]int, len(dls))
	for i := range dls {
		dls[i] = broker.DeadLetter{ID: int64(10 + i), Reason: "rejected: x", Topic: "t", Subscription: "s",
			Event: cloudevent.Event{ID: fmt.Sprint(i), Source: "urn:s", SpecVersion: "1.0", Type: "t", Data: []byte(strings.Repeat("d", 100*(i+1)))}}
		b, err := json.Marshal(&dls[i])
		if err != nil {
			t.Fatal(err)
		}
		sizes[i] = len(b)
	}
	all := 2 + sizes[0] + sizes[1] + sizes[2] + 2 // brackets and commas
	tests := []struct {
		name   string
		budget int
		want   []int64
	}{
		{"room for all", all, []int64{10, 11, 12}},
		{"one byte short of all", all - 1, []int64{10, 11}},
		{"room for two exactly", 2 + sizes[0] + 1 + sizes[1], []int64{10, 11}},
		{"room for one", 2 + sizes[0] + 1 + sizes[1] - 1, []int64{10}},
		{"less than one still gives one", 10, []int64{10}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw, err := deadLettersFitting(dls, tt.budget)
			if err != nil {
				t.Fatal(err)
			}
			if len(tt.want) > 1 && len(raw) > tt.budget {
				t.Errorf("%d bytes over a budget of %d", len(raw), tt.budget)
			}
			var got []broker.DeadLetter
			if err := json.Unmarshal(raw, &got); err != nil {
				t.Fatalf("not JSON: %v\n%s", err, raw)
			}
			ids := make([]int64, len(got))
			for i := range got {
				ids[i] = got[i].ID
			}
			if fmt.Sprint(ids) != fmt.Sprint(tt.want) {
				t.Errorf("ids %v, want %v", ids, tt.want)
			}
		})
	}
	if raw, err := deadLettersFitting(nil, 100); err != nil || string(raw) != "[]" {
		t.Errorf("no dead letters = %s, %v; want []", raw, err)
	}
}

// Ping answers null without touching the broker: a client's watchdog
// asks it of a connection that has been silent.
func TestPingIsAnsweredWithNull(t *testing.T) {
	sc := &streamConn{} // no broker: Ping must not need one
	result, err := sc.invoke(wire.MethodPing, []byte("{}"))
	if err != nil || result != nil {
		t.Fatalf("Ping = %v, %v; want nil, nil (RESULT null)", result, err)
	}
}
