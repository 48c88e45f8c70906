package cloudevent

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestParseJSONSpecExamples(t *testing.T) {
	at := time.Date(2018, 4, 5, 17, 31, 0, 0, time.UTC)
	base := func(id string) Event {
		return Event{
			SpecVersion: "1.0", Type: "com.example.someevent", Source: "/mycontext", ID: id, Time: at,
			Extensions: map[string]string{"comexampleextension1": "value", "comexampleothervalue": "5"},
		}
	}
	tests := []struct {
		file string
		want func() Event
	}{
		{"spec/binary-data.json", func() Event {
			e := base("A234-1234-1234")
			e.DataContentType = "application/vnd.apache.thrift.binary"
			e.Data = []byte{0, 1, 2, 3, 0xfe, 0xff}
			return e
		}},
		{"spec/xml-data.json", func() Event {
			e := base("B234-1234-1234")
			e.DataContentType = "application/xml"
			e.Data = []byte(`<much wow="xml"/>`)
			return e
		}},
		{"spec/json-data.json", func() Event {
			e := base("C234-1234-1234")
			e.DataContentType = "application/json"
			e.Data = []byte("{\n        \"appinfoA\" : \"abc\",\n        \"appinfoB\" : 123,\n        \"appinfoC\" : true\n    }")
			return e
		}},
		{"spec/string-data-no-contenttype.json", func() Event {
			e := base("D234-1234-1234")
			e.DataContentType = "application/json" // implied, made explicit
			e.Data = []byte(`"I'm just a string"`)
			return e
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			got, err := ParseJSON(readTestdata(t, tt.file))
			if err != nil {
				t.Fatal(err)
			}
			assertEqualEvents(t, got, tt.want())
			if err := got.Validate(); err != nil {
				t.Errorf("spec example does not validate: %v", err)
			}
		})
	}
}

func TestParseJSONDecisions(t *testing.T) {
	const head = `"specversion":"1.0","id":"1","source":"/s","type":"t"`
	ev := func(mutate func(*Event)) Event {
		e := minimalEvent()
		mutate(&e)
		return e
	}
	tests := []struct {
		name string
		in   string
		want Event
	}{
		{"extension string", `{` + head + `,"x":"v"}`, ev(func(e *Event) { e.SetExtension("x", "v") })},
		{"extension integer keeps its text", `{` + head + `,"x":5,"y":-12,"z":12345678901234567890}`, ev(func(e *Event) {
			e.SetExtension("x", "5")
			e.SetExtension("y", "-12")
			e.SetExtension("z", "12345678901234567890")
		})},
		{"extension booleans", `{` + head + `,"x":true,"y":false}`, ev(func(e *Event) { e.SetExtension("x", "true"); e.SetExtension("y", "false") })},
		{"extension null is absent", `{` + head + `,"x":null}`, minimalEvent()},
		{"core null is absent", `{` + head + `,"subject":null,"time":null,"dataschema":null,"datacontenttype":null}`, minimalEvent()},
		{"escaped member names and values", `{` + head + `,"\u0078":"a\"b\\c\u00e9\ud83d\ude00\n"}`, ev(func(e *Event) { e.SetExtension("x", "a\"b\\cé😀\n") })},
		{"lone surrogate becomes U+FFFD", `{` + head + `,"x":"\ud800"}`, ev(func(e *Event) { e.SetExtension("x", "\uFFFD") })},
		{"time offset and nanoseconds kept", `{` + head + `,"time":"2024-05-01T12:00:00.000000001-07:30"}`, ev(func(e *Event) {
			e.Time = time.Date(2024, 5, 1, 12, 0, 0, 1, time.FixedZone("", -(7*3600+30*60)))
		})},
		{"data JSON kept verbatim", `{` + head + `,"datacontenttype":"application/json","data": [1, {"a" : "b"}] }`, ev(func(e *Event) {
			e.DataContentType = "application/json"
			e.Data = []byte(`[1, {"a" : "b"}]`)
		})},
		{"data before datacontenttype", `{` + head + `,"data":"x","datacontenttype":"text/plain"}`, ev(func(e *Event) {
			e.DataContentType = "text/plain"
			e.Data = []byte("x")
		})},
		{"data +json suffix", `{` + head + `,"datacontenttype":"application/cloudevents+json; charset=utf-8","data":"s"}`, ev(func(e *Event) {
			e.DataContentType = "application/cloudevents+json; charset=utf-8"
			e.Data = []byte(`"s"`)
		})},
		{"data text/json", `{` + head + `,"datacontenttype":"Text/JSON","data":1}`, ev(func(e *Event) {
			e.DataContentType = "Text/JSON"
			e.Data = []byte(`1`)
		})},
		{"data without content type is JSON", `{` + head + `,"data":{"a":1}}`, ev(func(e *Event) {
			e.DataContentType = "application/json"
			e.Data = []byte(`{"a":1}`)
		})},
		{"data null is a JSON payload", `{` + head + `,"data":null}`, ev(func(e *Event) {
			e.DataContentType = "application/json"
			e.Data = []byte(`null`)
		})},
		{"data null with text type is no data", `{` + head + `,"datacontenttype":"text/plain","data":null}`, ev(func(e *Event) {
			e.DataContentType = "text/plain"
		})},
		{"empty text data is not nil", `{` + head + `,"datacontenttype":"text/plain","data":""}`, ev(func(e *Event) {
			e.DataContentType = "text/plain"
			e.Data = []byte{}
		})},
		{"data_base64", `{` + head + `,"data_base64":"AP8="}`, ev(func(e *Event) { e.Data = []byte{0, 0xff} })},
		{"empty data_base64 is not nil", `{` + head + `,"data_base64":""}`, ev(func(e *Event) { e.Data = []byte{} })},
		{"data_base64 null with data", `{` + head + `,"data_base64":null,"data":1}`, ev(func(e *Event) {
			e.DataContentType = "application/json"
			e.Data = []byte(`1`)
		})},
		{"data null with text type and data_base64", `{` + head + `,"datacontenttype":"text/plain","data":null,"data_base64":"YQ=="}`, ev(func(e *Event) {
			e.DataContentType = "text/plain"
			e.Data = []byte("a")
		})},
		{"white space around", " \n\t{" + head + "}\r\n ", minimalEvent()},
		{"empty object", `{}`, Event{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseJSON([]byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			assertEqualEvents(t, got, tt.want)
		})
	}
}

func TestParseJSONErrors(t *testing.T) {
	const head = `"specversion":"1.0","id":"1","source":"/s","type":"t"`
	tests := []struct {
		name  string
		in    string
		field string // "" means the error must match ErrMalformed
	}{
		{"not JSON", `{"id":`, ""},
		{"empty input", ``, ""},
		{"invalid UTF-8", "{\"id\":\"\xff\"}", ""},
		{"array instead of object", `[]`, ""},
		{"string instead of object", `"x"`, ""},
		{"two objects", `{} {}`, ""},
		{"id is a number", `{"id":5}`, "id"},
		{"source is an object", `{"source":{}}`, "source"},
		{"time is a number", `{"time":5}`, "time"},
		{"time not RFC 3339", `{"time":"2024-05-01 12:00:00"}`, "time"},
		{"time without zone", `{"time":"2024-05-01T12:00:00"}`, "time"},
		{"duplicate id", `{"id":"1","id":"2"}`, "id"},
		{"duplicate id, once escaped", `{"id":"1","\u0069d":"2"}`, "id"},
		{"duplicate null core", `{"subject":null,"subject":"x"}`, "subject"},
		{"duplicate extension", `{"x":"1","x":2}`, "x"},
		{"duplicate null extension", `{"x":null,"x":2}`, "x"},
		{"extension object", `{` + head + `,"x":{"a":1}}`, "x"},
		{"extension array", `{` + head + `,"x":[]}`, "x"},
		{"extension fraction", `{` + head + `,"x":1.5}`, "x"},
		{"extension exponent", `{` + head + `,"x":1e3}`, "x"},
		{"data and data_base64", `{` + head + `,"data":1,"data_base64":"AA=="}`, "data_base64"},
		{"data null and data_base64", `{` + head + `,"data":null,"data_base64":"AA=="}`, "data_base64"},
		{"data_base64 not base64", `{` + head + `,"data_base64":"!!"}`, "data_base64"},
		{"data_base64 not a string", `{` + head + `,"data_base64":1}`, "data_base64"},
		{"text data not a string", `{` + head + `,"datacontenttype":"text/plain","data":{"a":1}}`, "data"},
		{"binary data not a string", `{` + head + `,"datacontenttype":"application/octet-stream","data":1}`, "data"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseJSON([]byte(tt.in))
			if err == nil {
				t.Fatal("ParseJSON succeeded, want an error")
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
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error %v does not match ErrInvalid", err)
			}
		})
	}
}

func TestMarshalJSONDataForms(t *testing.T) {
	tests := []struct {
		name string
		ct   string
		data []byte
		want string // the data member as written
	}{
		{"JSON object verbatim", "application/json", []byte(`{"a" : [1, 2]}`), `"data":{"a" : [1, 2]}`},
		{"JSON string", "application/json", []byte(`"s"`), `"data":"s"`},
		{"JSON null", "application/json", []byte(`null`), `"data":null`},
		{"+json suffix", "application/vnd.x+json", []byte(`1`), `"data":1`},
		{"JSON with trailing newline stays exact", "application/json", []byte("{}\n"), `"data_base64":"e30K"`},
		{"not JSON after all", "application/json", []byte(`{a}`), `"data_base64":"e2F9"`},
		{"two JSON values", "application/json", []byte(`1 2`), `"data_base64":"MSAy"`},
		{"empty JSON data", "application/json", []byte{}, `"data_base64":""`},
		{"JSON with invalid UTF-8", "application/json", []byte("\"\xff\""), `"data_base64":"Iv8i"`},
		{"no content type", "", []byte(`{"a":1}`), `"data_base64":"eyJhIjoxfQ=="`},
		{"text as a string", "text/plain; charset=utf-8", []byte("a \"b\"\n<c>"), `"data":"a \"b\"\n<c>"`},
		{"empty text", "text/plain", []byte{}, `"data":""`},
		{"xml as a string", "application/atom+xml", []byte("<feed/>"), `"data":"<feed/>"`},
		{"text with invalid UTF-8", "text/plain", []byte{0xff}, `"data_base64":"/w=="`},
		{"binary", "application/octet-stream", []byte{0, 1, 2}, `"data_base64":"AAEC"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := minimalEvent()
			e.DataContentType = tt.ct
			e.Data = tt.data
			out, err := e.MarshalJSON()
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasSuffix(string(out), ","+tt.want+"}") {
				t.Fatalf("MarshalJSON = %s\nwant it to end with %s}", out, tt.want)
			}
			back, err := ParseJSON(out)
			if err != nil {
				t.Fatalf("ParseJSON(MarshalJSON) = %v", err)
			}
			assertEqualEvents(t, back, e)
		})
	}
}

func TestMarshalJSONGolden(t *testing.T) {
	e := orderEvent()
	e.SetExtension("html", "<a&b>")
	out, err := e.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	want := `{"specversion":"1.0","id":"01J9ZQ8X7K3M5N2P4R6T8V0W2Y","source":"https://shop.example.com/orders",` +
		`"type":"com.example.order.created","subject":"order/18231","time":"2024-05-01T12:00:00.123456789+02:00",` +
		`"datacontenttype":"application/json","html":"<a&b>","partitionkey":"customer-4711",` +
		`"traceparent":"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",` +
		`"data":{"order":18231,"total":"49.90"}}`
	if string(out) != want {
		t.Fatalf("MarshalJSON =\n%s\nwant\n%s", out, want)
	}
	if !json.Valid(out) {
		t.Fatal("output is not valid JSON")
	}
}

func TestMarshalJSONOmitsAbsentAttributes(t *testing.T) {
	out, err := Event{}.MarshalJSON()
	if err != nil || string(out) != "{}" {
		t.Fatalf("MarshalJSON(zero) = %s, %v; want {}", out, err)
	}
}

func TestMarshalJSONErrors(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Event)
		field  string
	}{
		{"invalid UTF-8 id", func(e *Event) { e.ID = "\xff" }, "id"},
		{"invalid UTF-8 extension value", func(e *Event) { e.SetExtension("x", "\xff") }, "x"},
		{"invalid UTF-8 extension name", func(e *Event) { e.SetExtension("\xff", "x") }, "\xff"},
		{"extension named like a core attribute", func(e *Event) { e.SetExtension("id", "x") }, "id"},
		{"time year 10000", func(e *Event) { e.Time = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) }, "time"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := minimalEvent()
			tt.mutate(&e)
			_, err := e.MarshalJSON()
			if err == nil {
				t.Fatal("MarshalJSON succeeded, want an error")
			}
			if got := fieldOf(t, err); got != tt.field {
				t.Errorf("field = %q, want %q", got, tt.field)
			}
		})
	}
}

func TestJSONRoundTrip(t *testing.T) {
	tests := map[string]func(*Event){
		"minimal":            func(e *Event) {},
		"order":              func(e *Event) { *e = orderEvent() },
		"text data":          func(e *Event) { e.DataContentType = "text/csv"; e.Data = []byte("a,b\n1,2\n") },
		"binary data":        func(e *Event) { e.DataContentType = "image/png"; e.Data = []byte{0x89, 'P', 'N', 'G', 0} },
		"nil data":           func(e *Event) { e.DataContentType = "application/json" },
		"empty binary data":  func(e *Event) { e.DataContentType = "application/octet-stream"; e.Data = []byte{} },
		"time UTC":           func(e *Event) { e.Time = time.Date(2024, 2, 29, 23, 59, 59, 0, time.UTC) },
		"time negative":      func(e *Event) { e.Time = time.Date(1999, 12, 31, 23, 0, 0, 500, time.FixedZone("", -5*3600)) },
		"time in a location": func(e *Event) { e.Time = time.Date(2024, 7, 1, 9, 0, 0, 0, mustLocation(t, "Asia/Kolkata")) },
		"all attributes": func(e *Event) {
			*e = orderEvent()
			e.DataSchema = "https://example.com/s.json"
			e.Subject = "ünïcödé \"quoted\" \\ back"
		},
	}
	for name, mutate := range tests {
		t.Run(name, func(t *testing.T) {
			e := minimalEvent()
			mutate(&e)
			out, err := e.MarshalJSON()
			if err != nil {
				t.Fatal(err)
			}
			back, err := ParseJSON(out)
			if err != nil {
				t.Fatalf("ParseJSON(%s) = %v", out, err)
			}
			assertEqualEvents(t, back, e)
		})
	}
}

func mustLocation(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Skipf("time zone data unavailable: %v", err)
	}
	return loc
}

func TestEventWorksWithEncodingJSON(t *testing.T) {
	type envelope struct {
		Event  Event  `json:"event"`
		Ignore *Event `json:"ignore"`
	}
	in := envelope{Event: orderEvent()}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	var out envelope
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	assertEqualEvents(t, out.Event, in.Event)
	if out.Ignore != nil {
		t.Error("null did not stay nil")
	}
}

func TestParseJSONDoesNotAliasInput(t *testing.T) {
	in := readTestdata(t, "spec/json-data.json")
	e, err := ParseJSON(in)
	if err != nil {
		t.Fatal(err)
	}
	want := e.Clone()
	for i := range in {
		in[i] = 'X'
	}
	assertEqualEvents(t, e, want)
}
