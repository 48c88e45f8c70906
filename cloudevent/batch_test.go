package cloudevent

import (
	"errors"
	"testing"
)

func TestParseBatchJSONSpecExample(t *testing.T) {
	events, err := ParseBatchJSON(readTestdata(t, "spec/batch.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 2 {
		t.Fatalf("got %d events, want 2", len(events))
	}
	if events[0].ID != "B234-1234-1234" || string(events[0].Data) != "\x00\x01\x02\x03\xfe\xff" {
		t.Errorf("event 0 = %s", describe(events[0]))
	}
	if events[1].Type != "com.example.someotherevent" || events[1].DataContentType != "application/json" {
		t.Errorf("event 1 = %s", describe(events[1]))
	}
	if err := ValidateBatch(events); err != nil {
		t.Errorf("spec batch does not validate: %v", err)
	}
}

func TestParseBatchJSONEmpty(t *testing.T) {
	for _, in := range []string{`[]`, ` [ ] `} {
		events, err := ParseBatchJSON([]byte(in))
		if err != nil || events == nil || len(events) != 0 {
			t.Errorf("ParseBatchJSON(%q) = %v, %v; want an empty non-nil slice", in, events, err)
		}
	}
}

func TestParseBatchJSONErrorsNameTheIndex(t *testing.T) {
	const ok = `{"specversion":"1.0","id":"1","source":"/s","type":"t"}`
	tests := []struct {
		name  string
		in    string
		field string // "" means ErrMalformed
	}{
		{"bad attribute in fourth event", `[` + ok + `,` + ok + `,` + ok + `,{"source":7}]`, "[3].source"},
		{"element not an object", `[` + ok + `,` + ok + `,"x"]`, "[2]"},
		{"null element", `[null]`, "[0]"},
		{"extension object in second", `[` + ok + `,{"x":{}}]`, "[1].x"},
		{"duplicate in first", `[{"id":"1","id":"1"}]`, "[0].id"},
		{"object, not array", ok, ""},
		{"truncated", `[` + ok, ""},
		{"trailing garbage", `[]]`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseBatchJSON([]byte(tt.in))
			if err == nil {
				t.Fatal("ParseBatchJSON succeeded, want an error")
			}
			if tt.field == "" {
				if !errors.Is(err, ErrMalformed) {
					t.Fatalf("error %v does not match ErrMalformed", err)
				}
				return
			}
			if got := fieldOf(t, err); got != tt.field {
				t.Errorf("field = %q, want %q (error: %v)", got, tt.field, err)
			}
		})
	}
}

func TestBatchJSONRoundTrip(t *testing.T) {
	text := minimalEvent()
	text.DataContentType = "text/plain"
	text.Data = []byte("hello")
	events := []Event{orderEvent(), minimalEvent(), text}
	out, err := MarshalBatchJSON(events)
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParseBatchJSON(out)
	if err != nil {
		t.Fatalf("ParseBatchJSON(%s) = %v", out, err)
	}
	if len(back) != len(events) {
		t.Fatalf("got %d events, want %d", len(back), len(events))
	}
	for i := range events {
		assertEqualEvents(t, back[i], events[i])
	}
}

func TestMarshalBatchJSON(t *testing.T) {
	out, err := MarshalBatchJSON(nil)
	if err != nil || string(out) != "[]" {
		t.Errorf("MarshalBatchJSON(nil) = %s, %v; want []", out, err)
	}
	bad := minimalEvent()
	bad.Type = "\xff"
	_, err = MarshalBatchJSON([]Event{minimalEvent(), bad})
	if err == nil {
		t.Fatal("MarshalBatchJSON accepted invalid UTF-8")
	}
	if got := fieldOf(t, err); got != "[1].type" {
		t.Errorf("field = %q, want [1].type", got)
	}
}
