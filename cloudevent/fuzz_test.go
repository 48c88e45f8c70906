package cloudevent

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// The fuzz targets check the two promises every decoder makes: it never
// panics and fails only with ErrInvalid or ErrMalformed, and whatever it
// accepts survives re-encoding unchanged (and through the storage codec).
// Seeds come from testdata/spec; crashers found by `go test -fuzz` are kept
// in testdata/fuzz/<target>/ and run with every `go test`.

func FuzzParseJSON(f *testing.F) {
	for _, name := range testdataFiles(f, "spec", ".json") {
		if !strings.HasSuffix(name, "batch.json") {
			f.Add(readTestdata(f, name))
		}
	}
	f.Add([]byte(`{"id":"1","data":null,"data_base64":null,"x":-0,"\u0078y":"\ud800"}`))
	f.Add([]byte(`{"datacontenttype":"text/plain","data":"a\u0000b","time":"2024-05-01T12:00:00.5-23:59"}`))
	f.Add([]byte(`{"data":{"a":[1,2.5e3,{"b":"\"}"}],"c":null},"datacontenttype":"application/x+json","n":123}`))
	f.Add([]byte(`{"data_base64":"AAECAwQ=","datacontenttype":"image/png","ext":false,"id":"\u00e9\ud83d\ude00"}`))
	f.Add([]byte(`{"data":"<x/>","datacontenttype":"application/xml","time":"1985-04-12T23:20:50.52Z","source":"urn:x"}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		e, err := ParseJSON(in)
		if err != nil {
			checkDecodeError(t, err)
			// Our scanner trusts json.Valid; on valid UTF-8 JSON with an
			// object at the top only a FieldError may come out.
			if trimmed := bytes.TrimLeft(in, " \t\r\n"); errors.Is(err, ErrMalformed) &&
				utf8.Valid(in) && json.Valid(in) && len(trimmed) > 0 && trimmed[0] == '{' {
				t.Fatalf("valid JSON object rejected as malformed: %v", err)
			}
			return
		}
		if !json.Valid(in) {
			t.Fatalf("accepted invalid JSON %q", in)
		}
		out := checkJSONRoundTrip(t, e)
		var viaStd Event
		if err := json.Unmarshal(out, &viaStd); err != nil {
			t.Fatalf("encoding/json could not read our output %s: %v", out, err)
		}
		checkBinaryRoundTrip(t, e)
	})
}

func FuzzParseBatchJSON(f *testing.F) {
	f.Add(readTestdata(f, "spec/batch.json"))
	f.Add([]byte(`[]`))
	f.Add([]byte(`[{"id":"1"},{"id":2}]`))
	f.Fuzz(func(t *testing.T, in []byte) {
		events, err := ParseBatchJSON(in)
		if err != nil {
			checkDecodeError(t, err)
			return
		}
		out, err := MarshalBatchJSON(events)
		if err != nil {
			t.Fatalf("MarshalBatchJSON of a parsed batch: %v", err)
		}
		back, err := ParseBatchJSON(out)
		if err != nil {
			t.Fatalf("ParseBatchJSON(MarshalBatchJSON) = %v\noutput: %s", err, out)
		}
		if len(back) != len(events) {
			t.Fatalf("batch of %d came back as %d", len(events), len(back))
		}
		for i := range events {
			assertEqualEvents(t, back[i], events[i])
		}
	})
}

// FuzzFromHTTP takes headers as text, one "Name: value" per line; a line
// starting with '!' sets the name exactly as written, bypassing net/http's
// canonical form, as a hand-built http.Header can.
func FuzzFromHTTP(f *testing.F) {
	f.Add("ce-specversion: 1.0\nce-id: 1\nce-source: /s\nce-type: t\nce-time: 2018-04-05T03:56:24Z\nContent-Type: application/json", []byte(`{"a":1}`))
	f.Add("ce-subject: Euro%20%E2%82%AC%20%F0%9F%98%80\nce-x: \"quoted \\\" value\"\n!ce-lower: x", []byte{})
	f.Add("ce-id: %C0%A0\nce-id: 2", []byte("body"))
	f.Fuzz(func(t *testing.T, headers string, body []byte) {
		h := http.Header{}
		for line := range strings.Lines(headers) {
			line = strings.TrimRight(line, "\r\n")
			name, value, _ := strings.Cut(line, ":")
			value = strings.TrimSpace(value)
			if raw, ok := strings.CutPrefix(name, "!"); ok {
				h[raw] = append(h[raw], value)
			} else {
				h.Add(name, value)
			}
		}
		e, err := FromHTTP(h, body)
		if err != nil {
			checkDecodeError(t, err)
			return
		}
		h2 := http.Header{}
		WriteHTTPHeaders(e, h2)
		for k, vs := range h2 {
			if !hasPrefixFold(k, "ce-") {
				continue
			}
			for _, v := range vs {
				for i := 0; i < len(v); i++ {
					if v[i] < 0x21 || v[i] > 0x7e {
						t.Fatalf("header %s = %q holds byte %#x; values must be printable ASCII", k, v, v[i])
					}
				}
			}
		}
		back, err := FromHTTP(h2, e.Data)
		if err != nil {
			t.Fatalf("FromHTTP(WriteHTTPHeaders) = %v\nheaders: %v", err, h2)
		}
		assertEqualEvents(t, back, e)
		checkBinaryRoundTrip(t, e)
	})
}

func FuzzUnmarshalBinary(f *testing.F) {
	for _, e := range []Event{orderEvent(), minimalEvent(), {}, {Data: []byte{}, Extensions: map[string]string{"a": "", "b": "x"}}} {
		b, err := e.MarshalBinary()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		var e Event
		if err := e.UnmarshalBinary(in); err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not match ErrMalformed", err)
			}
			return
		}
		// The decoder accepts only canonical records, so re-encoding gives
		// back the very same bytes.
		out, err := e.MarshalBinary()
		if err != nil {
			t.Fatalf("MarshalBinary of a decoded event: %v", err)
		}
		if !bytes.Equal(out, in) {
			t.Fatalf("re-encoded record differs\n in: % x\nout: % x", in, out)
		}
		// The sharing decoder accepts the same records and gives the same
		// event.
		var shared Event
		if err := shared.UnmarshalBinaryShared(bytes.Clone(in)); err != nil || !shared.Equal(&e) {
			t.Fatalf("UnmarshalBinaryShared = %+v, %v; UnmarshalBinary gave %+v", shared, err, e)
		}
		var owned Event
		if err := owned.UnmarshalBinaryOwned(bytes.Clone(in)); err != nil || !owned.Equal(&e) {
			t.Fatalf("UnmarshalBinaryOwned = %+v, %v; UnmarshalBinary gave %+v", owned, err, e)
		}
	})
}

// checkDecodeError fails unless err is one a caller can branch on.
func checkDecodeError(t *testing.T, err error) {
	t.Helper()
	if !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrMalformed) {
		t.Fatalf("error %v (%T) matches neither ErrInvalid nor ErrMalformed", err, err)
	}
}

// checkJSONRoundTrip marshals e, parses the result, and requires an Equal
// event and a stable encoding. It returns the encoding.
func checkJSONRoundTrip(t *testing.T, e Event) []byte {
	t.Helper()
	out, err := e.MarshalJSON()
	if err != nil {
		t.Fatalf("MarshalJSON of a parsed event: %v\nevent: %s", err, describe(e))
	}
	back, err := ParseJSON(out)
	if err != nil {
		t.Fatalf("ParseJSON(MarshalJSON) = %v\noutput: %s", err, out)
	}
	assertEqualEvents(t, back, e)
	again, err := back.MarshalJSON()
	if err != nil || !bytes.Equal(again, out) {
		t.Fatalf("second encoding differs (%v)\n first: %s\nsecond: %s", err, out, again)
	}
	return out
}

func checkBinaryRoundTrip(t *testing.T, e Event) {
	t.Helper()
	b, err := e.MarshalBinary()
	if err != nil {
		t.Fatalf("MarshalBinary: %v", err)
	}
	var back Event
	if err := back.UnmarshalBinary(b); err != nil {
		t.Fatalf("UnmarshalBinary(MarshalBinary) = %v", err)
	}
	assertEqualEvents(t, back, e)
}

// FuzzJSONString checks our string escaping against encoding/json both
// ways: our decoder must read any JSON string as encoding/json does, and
// encoding/json must read our encoder's output back to the same text.
func FuzzJSONString(f *testing.F) {
	for _, s := range []string{`"plain"`, `"\b\f\n\r\t\/\\\""`, `"\u00e9\ud83d\ude00\ud800x\udc00"`, `"\ud83d\u0041"`, `"<&>\u2028"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		if tok := bytes.Trim(in, " \t\r\n"); utf8.Valid(tok) && len(tok) > 0 && tok[0] == '"' && json.Valid(tok) {
			var want string
			if err := json.Unmarshal(tok, &want); err != nil {
				t.Fatal(err)
			}
			got, err := appendStringContent(nil, tok)
			if err != nil || string(got) != want {
				t.Fatalf("decoding %s: got %q, %v; encoding/json says %q", tok, got, err, want)
			}
		}
		if utf8.Valid(in) {
			enc := appendJSONString(nil, in)
			var back string
			if err := json.Unmarshal(enc, &back); err != nil || back != string(in) {
				t.Fatalf("encoding %q gave %s, which encoding/json reads as %q, %v", in, enc, back, err)
			}
		}
	})
}

// FuzzEncodings starts from an event instead of bytes: every encoder must
// either refuse it with a *FieldError or produce what its decoder turns
// back into the same event. HTTP binary mode is checked for valid events,
// as WriteHTTPHeaders documents.
func FuzzEncodings(f *testing.F) {
	f.Add("1", "/s", "t", "", "application/json", "partitionkey", "k", []byte(`{"a":1}`), int64(1714564800), uint32(5), int16(120), true)
	f.Add("\xff", "a b", "t\n", "é", "text/plain", "X", "\"%", []byte("\xff"), int64(-1<<40), uint32(1e9), int16(-1), true)
	f.Add("", "", "", "", "", "", "", []byte(nil), int64(0), uint32(0), int16(0), false)
	f.Fuzz(func(t *testing.T, id, source, typ, subject, ct, extName, extValue string, data []byte,
		sec int64, nsec uint32, offMinutes int16, hasTime bool) {
		e := Event{ID: id, Source: source, SpecVersion: SpecVersion10, Type: typ, Subject: subject, DataContentType: ct, Data: data}
		if extName != "" || extValue != "" {
			e.SetExtension(extName, extValue)
		}
		if hasTime {
			e.Time = time.Unix(sec, int64(nsec%1e9)).In(time.FixedZone("", int(offMinutes)*60))
		}
		valid := e.Validate() == nil

		checkBinaryRoundTrip(t, e)

		out, err := e.MarshalJSON()
		switch {
		case err != nil && valid:
			t.Fatalf("MarshalJSON refused a valid event: %v", err)
		case err != nil:
			if _, ok := errors.AsType[*FieldError](err); !ok {
				t.Fatalf("MarshalJSON error %v is not a *FieldError", err)
			}
		default:
			back, err := ParseJSON(out)
			if err != nil {
				t.Fatalf("ParseJSON(MarshalJSON) = %v\noutput: %s", err, out)
			}
			want := e
			if !want.Time.IsZero() && !exactRFC3339(want.Time) {
				want.Time = want.Time.UTC() // documented: odd offsets are written in UTC
			}
			assertEqualEvents(t, back, want)
		}

		if valid {
			h := http.Header{}
			WriteHTTPHeaders(e, h)
			back, err := FromHTTP(h, e.Data)
			if err != nil {
				t.Fatalf("FromHTTP(WriteHTTPHeaders) of a valid event = %v", err)
			}
			want := e
			if len(want.Data) == 0 {
				want.Data = nil // HTTP cannot tell empty data from none
			}
			assertEqualEvents(t, back, want)
		}
	})
}

// FuzzPrintableASCII: the fast path of stringProblem accepts a string only
// if decoding it rune by rune accepts it too, and, on ASCII, exactly then.
func FuzzPrintableASCII(f *testing.F) {
	for _, s := range []string{"", "order-1", " ~", "a\x1f", "a\x7f", "\x00", "é", "\xff", "a\u0085", "\uFFFE",
		"~~~~~~~~~~~~~~~~~", "                 ", "0123456789abcdef0"} {
		f.Add(s)
	}
	// Every position of a word and its tail, with each edge byte.
	for _, c := range []byte{0x00, 0x1f, 0x20, 0x7e, 0x7f, 0x80, 0xff} {
		for i := range 17 {
			b := []byte("abcdefghijklmnopq")
			b[i] = c
			f.Add(string(b))
		}
	}
	f.Fuzz(func(t *testing.T, s string) {
		fast, slow := printableASCII(s), runeProblem(s) == ""
		if fast && !slow {
			t.Fatalf("printableASCII(%q) = true, but decoding finds: %s", s, runeProblem(s))
		}
		ascii := true
		for i := 0; i < len(s); i++ {
			ascii = ascii && s[i] < utf8.RuneSelf
		}
		if ascii && fast != slow {
			t.Fatalf("ASCII %q: printableASCII %v, decoding accepts %v", s, fast, slow)
		}
	})
}
