package server

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/heraldhq/herald/cloudevent"
)

// The HTTP event parsers take whatever a client sends. For every input they
// must not panic, must return either valid events or an error that maps to
// a 4xx, and never both events and an error.

func checkParsed(t *testing.T, events []cloudevent.Event, err error) {
	t.Helper()
	if err != nil {
		if st := problemFor(err).Status; st < 400 || st >= 500 {
			t.Fatalf("parse error maps to status %d, want 4xx: %v", st, err)
		}
		return
	}
	if len(events) == 0 {
		t.Fatal("no error and no events")
	}
	for i := range events {
		if verr := events[i].Validate(); verr != nil {
			t.Fatalf("parser returned an invalid event %d: %v", i, verr)
		}
	}
}

func FuzzParseStructured(f *testing.F) {
	f.Add([]byte(`{"specversion":"1.0","id":"a","source":"/s","type":"T","data":{"x":1}}`))
	f.Add([]byte(`{"specversion":"1.0","id":"a","source":"/s","type":"T","datacontenttype":"text/plain","data":"hi"}`))
	f.Add([]byte(`{"specversion":"1.0","id":"a","source":"/s","type":"T","data_base64":"AAEC"}`))
	f.Add([]byte(`{`))
	f.Fuzz(func(t *testing.T, body []byte) {
		h := http.Header{"Content-Type": {cloudevent.ContentTypeJSON}}
		events, err := parseEvents(h, body)
		checkParsed(t, events, err)
	})
}

func FuzzParseBatch(f *testing.F) {
	f.Add([]byte(`[{"specversion":"1.0","id":"a","source":"/s","type":"T"},{"specversion":"1.0","id":"b","source":"/s","type":"T"}]`))
	f.Add([]byte(`[]`))
	f.Add([]byte(`[{"specversion":"1.0"}]`))
	f.Fuzz(func(t *testing.T, body []byte) {
		h := http.Header{"Content-Type": {cloudevent.ContentTypeBatchJSON + "; charset=utf-8"}}
		events, err := parseEvents(h, body)
		checkParsed(t, events, err)
	})
}

// FuzzParseBinary fuzzes headers too: the input is "name: value" lines,
// a blank line, then the body.
func FuzzParseBinary(f *testing.F) {
	f.Add("ce-id: 1\nce-source: /s\nce-specversion: 1.0\nce-type: T\nContent-Type: application/json\n\n{\"a\":1}")
	f.Add("ce-id: 1\nce-source: /s\nce-specversion: 1.0\nce-type: T\nce-time: 2026-01-01T00:00:00Z\nce-subject: %E2%82%AC\n\nbody")
	f.Add("ce-id: 1\nce-specversion: 1.0\n\n")
	f.Fuzz(func(t *testing.T, raw string) {
		head, body, _ := strings.Cut(raw, "\n\n")
		h := http.Header{}
		for _, line := range strings.Split(head, "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && k != "" {
				h.Add(strings.TrimSpace(k), strings.TrimSpace(v))
			}
		}
		events, err := parseEvents(h, []byte(body))
		checkParsed(t, events, err)
		var fe *cloudevent.FieldError
		if err != nil && errors.As(err, &fe) && problemFor(err).Field == "" {
			t.Fatalf("a field error in binary mode lost its field: %v", err)
		}
	})
}
