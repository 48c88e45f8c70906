package cloudevent

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func TestFromHTTPSpecExample(t *testing.T) {
	h := http.Header{}
	h.Set("ce-specversion", "1.0")
	h.Set("ce-type", "com.example.someevent")
	h.Set("ce-time", "2018-04-05T03:56:24Z")
	h.Set("ce-id", "1234-1234-1234")
	h.Set("ce-source", "/mycontext/subcontext")
	h.Set("ce-comexampleextension1", "value")
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("X-Unrelated", "ignored")
	body := []byte(`{"a":1}`)

	got, err := FromHTTP(h, body)
	if err != nil {
		t.Fatal(err)
	}
	want := Event{
		SpecVersion: "1.0", Type: "com.example.someevent", ID: "1234-1234-1234", Source: "/mycontext/subcontext",
		Time:            time.Date(2018, 4, 5, 3, 56, 24, 0, time.UTC),
		DataContentType: "application/json; charset=utf-8",
		Data:            body,
		Extensions:      map[string]string{"comexampleextension1": "value"},
	}
	assertEqualEvents(t, got, want)
	if err := got.Validate(); err != nil {
		t.Error(err)
	}
}

func TestFromHTTPHeaderValues(t *testing.T) {
	tests := []struct {
		name   string
		header string // raw value of ce-subject
		want   string
	}{
		{"plain", "abc", "abc"},
		{"spec example", "Euro%20%E2%82%AC%20%F0%9F%98%80", "Euro € 😀"},
		{"lower-case hex", "%e2%82%ac", "€"},
		{"unnecessarily encoded", "%41%42", "AB"},
		{"percent itself", "100%25", "100%"},
		{"quoted string", `"a b"`, "a b"},
		{"quoted string with escapes", `"a\"b\\c"`, `a"b\c`},
		{"quoted then percent-decoded", `"x%20y"`, "x y"},
		{"partly quoted", `a"b c"d`, "ab cd"},
		{"raw UTF-8 tolerated", "é", "é"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{"Ce-Subject": {tt.header}}
			e, err := FromHTTP(h, nil)
			if err != nil {
				t.Fatal(err)
			}
			if e.Subject != tt.want {
				t.Errorf("Subject = %q, want %q", e.Subject, tt.want)
			}
		})
	}
}

func TestFromHTTPErrors(t *testing.T) {
	tests := []struct {
		name   string
		header http.Header
		field  string
	}{
		{"overlong UTF-8", http.Header{"Ce-Subject": {"%C0%A0"}}, "subject"},
		{"invalid UTF-8", http.Header{"Ce-Subject": {"%FF"}}, "subject"},
		{"bad percent", http.Header{"Ce-Id": {"100%"}}, "id"},
		{"bad percent hex", http.Header{"Ce-Id": {"%zz"}}, "id"},
		{"unterminated quote", http.Header{"Ce-Id": {`"abc`}}, "id"},
		{"attribute twice", http.Header{"Ce-Id": {"1", "2"}}, "id"},
		{"same name in two cases", http.Header{"ce-id": {"1"}, "CE-ID": {"2"}}, "id"},
		{"extension in two cases", http.Header{"ce-foo bar": {"1"}, "CE-FOO BAR": {"2"}}, "foo bar"},
		{"ce-datacontenttype", http.Header{"Ce-Datacontenttype": {"text/plain"}}, "datacontenttype"},
		{"two content types", http.Header{"Content-Type": {"a/b", "c/d"}}, "datacontenttype"},
		{"bad time", http.Header{"Ce-Time": {"yesterday"}}, "time"},
		{"no name after ce-", http.Header{"Ce-": {"x"}}, "Ce-"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := FromHTTP(tt.header, nil)
			if err == nil {
				t.Fatal("FromHTTP succeeded, want an error")
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error %v does not match ErrInvalid", err)
			}
			if got := fieldOf(t, err); got != tt.field {
				t.Errorf("field = %q, want %q (error: %v)", got, tt.field, err)
			}
		})
	}
}

func TestFromHTTPBody(t *testing.T) {
	h := http.Header{"Ce-Id": {"1"}}
	for _, body := range [][]byte{nil, {}} {
		e, err := FromHTTP(h, body)
		if err != nil || e.Data != nil {
			t.Errorf("FromHTTP(body %#v) Data = %#v, %v; want nil", body, e.Data, err)
		}
	}
	body := []byte("x")
	e, _ := FromHTTP(h, body)
	if &e.Data[0] != &body[0] {
		t.Error("Data is a copy of body; documented to share it")
	}
}

func TestWriteHTTPHeaders(t *testing.T) {
	e := orderEvent()
	e.Subject = "Euro € 😀"
	e.SetExtension("quote", `say "hi" 100%`)
	e.SetExtension("empty", "")
	h := http.Header{
		"Ce-Stale":      {"left over from a previous event"},
		"ce-lowerstale": {"also stale"},
		"X-Keep":        {"not ours"},
	}
	WriteHTTPHeaders(e, h)

	want := map[string]string{
		"Ce-Specversion":  "1.0",
		"Ce-Id":           "01J9ZQ8X7K3M5N2P4R6T8V0W2Y",
		"Ce-Source":       "https://shop.example.com/orders",
		"Ce-Type":         "com.example.order.created",
		"Ce-Subject":      "Euro%20%E2%82%AC%20%F0%9F%98%80",
		"Ce-Time":         "2024-05-01T12:00:00.123456789+02:00",
		"Ce-Partitionkey": "customer-4711",
		"Ce-Traceparent":  "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
		"Ce-Quote":        "say%20%22hi%22%20100%25",
		"Ce-Empty":        "",
		"Content-Type":    "application/json",
		"X-Keep":          "not ours",
	}
	if len(h) != len(want) {
		t.Errorf("header has %d keys, want %d: %v", len(h), len(want), h)
	}
	for k, v := range want {
		if got := h[k]; len(got) != 1 || got[0] != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}

	back, err := FromHTTP(h, e.Data)
	if err != nil {
		t.Fatal(err)
	}
	assertEqualEvents(t, back, e)
}

func TestWriteHTTPHeadersWithoutContentTypeStopsSniffing(t *testing.T) {
	e := minimalEvent()
	e.Data = []byte("<html>looks like HTML</html>")
	rec := httptest.NewRecorder()
	WriteHTTPHeaders(e, rec.Header())
	rec.Write(e.Data)
	if ct := rec.Result().Header.Get("Content-Type"); ct != "" {
		t.Errorf("response Content-Type = %q, want none", ct)
	}
	back, err := FromHTTP(rec.Result().Header, rec.Body.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	assertEqualEvents(t, back, e)
}

// TestHTTPRoundTripOverTheWire sends events through a real HTTP server, so
// net/http's own header handling (trimming, canonical keys) is covered.
func TestHTTPRoundTripOverTheWire(t *testing.T) {
	got := make(chan Event, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		e, err := FromHTTP(r.Header, body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		got <- e
	}))
	defer srv.Close()

	events := []Event{orderEvent(), minimalEvent()}
	tricky := minimalEvent()
	tricky.Subject = "  leading and trailing spaces  "
	tricky.SetExtension("multi", "tab\there, \"quotes\", 100% and ünïcödé")
	tricky.Data = []byte{0, 1, 2}
	tricky.DataContentType = "application/octet-stream"
	events = append(events, tricky)

	for _, e := range events {
		req, err := http.NewRequest(http.MethodPost, srv.URL, bytes.NewReader(e.Data))
		if err != nil {
			t.Fatal(err)
		}
		WriteHTTPHeaders(e, req.Header)
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("server said %s", resp.Status)
		}
		select {
		case back := <-got:
			assertEqualEvents(t, back, e)
		case <-time.After(5 * time.Second):
			t.Fatal("no event reached the server")
		}
	}
}
