package cloudevent

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestValidateAcceptsValidEvents(t *testing.T) {
	full := orderEvent()
	full.DataSchema = "https://example.com/schemas/order.json"
	full.SetExtension(ExtDeliverAt, "2024-05-01T12:05:00Z")
	full.SetExtension(ExtHeraldOffset, "42") // broker extensions are allowed on read-back events
	full.SetExtension(strings.Repeat("a", MaxExtensionNameLen), "boundary name")
	full.SetExtension("empty", "")
	full.Subject = "order/18231 – ümlaut and emoji 😀" // non-ASCII text is fine
	full.ID = strings.Repeat("x", MaxAttributeLen)

	for name, e := range map[string]Event{
		"minimal":                   minimalEvent(),
		"full":                      full,
		"source absolute URI":       withSource(minimalEvent(), "urn:uuid:6e8bc430-9c3a-11d9-9669-0800200c9a66"),
		"content type with params":  withContentType(minimalEvent(), "text/plain; charset=utf-8"),
		"time far in the past":      withTime(minimalEvent(), time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC)),
		"time with minutes offset":  withTime(minimalEvent(), time.Date(2024, 1, 1, 0, 0, 0, 0, time.FixedZone("", -(9*3600+30*60)))),
		"max extensions":            withExtensions(minimalEvent(), MaxExtensions),
		"data without content type": func() Event { e := minimalEvent(); e.Data = []byte{0, 1}; return e }(),
	} {
		t.Run(name, func(t *testing.T) {
			if err := e.Validate(); err != nil {
				t.Fatalf("Validate() = %v, want nil", err)
			}
		})
	}
}

func withSource(e Event, s string) Event      { e.Source = s; return e }
func withContentType(e Event, s string) Event { e.DataContentType = s; return e }
func withTime(e Event, tm time.Time) Event    { e.Time = tm; return e }
func withExtensions(e Event, n int) Event {
	for i := range n {
		e.SetExtension(fmt.Sprintf("ext%d", i), "v")
	}
	return e
}

func TestValidateRejects(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Event)
		field  string
		reason string // substring of the reason
	}{
		{"missing id", func(e *Event) { e.ID = "" }, "id", "is required"},
		{"missing source", func(e *Event) { e.Source = "" }, "source", "is required"},
		{"missing specversion", func(e *Event) { e.SpecVersion = "" }, "specversion", "is required"},
		{"missing type", func(e *Event) { e.Type = "" }, "type", "is required"},
		{"old specversion", func(e *Event) { e.SpecVersion = "0.3" }, "specversion", `must be "1.0"`},
		{"source not a URI-reference", func(e *Event) { e.Source = "http://[::1" }, "source", "URI-reference"},
		{"source bad escape", func(e *Event) { e.Source = "/a%zz" }, "source", "URI-reference"},
		{"dataschema relative", func(e *Event) { e.DataSchema = "/schemas/order.json" }, "dataschema", "absolute URI"},
		{"dataschema unparsable", func(e *Event) { e.DataSchema = "http://[x" }, "dataschema", "absolute URI"},
		{"datacontenttype not a media type", func(e *Event) { e.DataContentType = "json" }, "datacontenttype", "media type"},
		{"datacontenttype bad parameter", func(e *Event) { e.DataContentType = "text/plain; charset" }, "datacontenttype", "media type"},
		{"id too long", func(e *Event) { e.ID = strings.Repeat("x", MaxAttributeLen+1) }, "id", "the limit is 1024"},
		{"source too long", func(e *Event) { e.Source = "/" + strings.Repeat("x", MaxAttributeLen) }, "source", "the limit"},
		{"type too long", func(e *Event) { e.Type = strings.Repeat("x", MaxAttributeLen+1) }, "type", "the limit"},
		{"subject too long", func(e *Event) { e.Subject = strings.Repeat("x", MaxAttributeLen+1) }, "subject", "the limit"},
		{"type invalid UTF-8", func(e *Event) { e.Type = "a\xffb" }, "type", "valid UTF-8"},
		{"id with newline", func(e *Event) { e.ID = "a\nb" }, "id", "U+000A"},
		{"id with NUL", func(e *Event) { e.ID = "a\x00" }, "id", "U+0000"},
		{"subject with DEL", func(e *Event) { e.Subject = "a\x7f" }, "subject", "U+007F"},
		{"subject with C1 control", func(e *Event) { e.Subject = "a\u0085" }, "subject", "U+0085"},
		{"type with noncharacter", func(e *Event) { e.Type = "a\uFFFE" }, "type", "U+FFFE"},
		{"type with noncharacter block", func(e *Event) { e.Type = "\uFDD0" }, "type", "U+FDD0"},
		{"time year 10000", func(e *Event) { e.Time = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) }, "time", "RFC 3339"},
		{"time offset in seconds", func(e *Event) { e.Time = time.Date(2024, 1, 1, 0, 0, 0, 0, time.FixedZone("LMT", 1172)) }, "time", "whole minutes"},
		{"extension upper case", func(e *Event) { e.SetExtension("Foo", "x") }, "Foo", "lower-case letters or digits"},
		{"extension dash", func(e *Event) { e.SetExtension("foo-bar", "x") }, "foo-bar", "lower-case letters or digits"},
		{"extension empty name", func(e *Event) { e.SetExtension("", "x") }, "", "lower-case letters or digits"},
		{"extension name too long", func(e *Event) { e.SetExtension(strings.Repeat("a", 21), "x") }, strings.Repeat("a", 21), "1 to 20"},
		{"extension named time", func(e *Event) { e.SetExtension("time", "x") }, "time", "core CloudEvents attribute"},
		{"extension named data", func(e *Event) { e.SetExtension("data", "x") }, "data", "core CloudEvents attribute"},
		{"extension named data_base64", func(e *Event) { e.SetExtension("data_base64", "x") }, "data_base64", "core CloudEvents attribute"},
		{"extension value control char", func(e *Event) { e.SetExtension("x", "a\tb") }, "x", "U+0009"},
		{"extension value too long", func(e *Event) { e.SetExtension("x", strings.Repeat("v", MaxAttributeLen+1)) }, "x", "the limit"},
		{"too many extensions", func(e *Event) { *e = withExtensions(*e, MaxExtensions+1) }, "extensions", "the limit is 64"},
		{"deliverat not RFC 3339", func(e *Event) { e.SetExtension(ExtDeliverAt, "tomorrow") }, "deliverat", "RFC 3339"},
		{"deliverat unix seconds", func(e *Event) { e.SetExtension(ExtDeliverAt, "1714564800") }, "deliverat", "RFC 3339"},
		{"huge extension name is shortened", func(e *Event) { e.SetExtension(strings.Repeat("Z", 500), "x") }, strings.Repeat("Z", 64) + "...", "lower-case"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := minimalEvent()
			tt.mutate(&e)
			err := e.Validate()
			if err == nil {
				t.Fatal("Validate() = nil, want an error")
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("errors.Is(%v, ErrInvalid) = false", err)
			}
			fe, ok := errors.AsType[*FieldError](err)
			if !ok {
				t.Fatalf("error %v holds no *FieldError", err)
			}
			if fe.Field != tt.field {
				t.Errorf("Field = %q, want %q (error: %v)", fe.Field, tt.field, err)
			}
			if !strings.Contains(fe.Reason, tt.reason) {
				t.Errorf("Reason = %q, want it to contain %q", fe.Reason, tt.reason)
			}
		})
	}
}

func TestValidateReportsEveryProblemInOrder(t *testing.T) {
	e := Event{
		Source:     "http://[::1",
		Type:       "t",
		Extensions: map[string]string{"zz-z": "1", "Bad": "2", "good": "3"},
	}
	err := e.Validate()
	got := fieldsOf(err)
	want := []string{"id", "source", "specversion", "Bad", "zz-z"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("fields = %q, want %q (error: %v)", got, want, err)
	}
	if !errors.Is(err, ErrInvalid) {
		t.Error("joined error does not match ErrInvalid")
	}
	if fieldOf(t, err) != "id" {
		t.Errorf("errors.As finds %q first, want id", fieldOf(t, err))
	}
}

func TestFieldErrorMessage(t *testing.T) {
	err := fieldErr("source", "must be a URI-reference")
	want := `invalid event: field "source": must be a URI-reference`
	if err.Error() != want {
		t.Errorf("Error() = %q, want %q", err.Error(), want)
	}
}

func TestValidateBatchNamesTheIndex(t *testing.T) {
	bad := minimalEvent()
	bad.Source = ""
	bad.SetExtension("Nope", "x")
	err := ValidateBatch([]Event{minimalEvent(), minimalEvent(), minimalEvent(), bad})
	got := fieldsOf(err)
	want := []string{"[3].source", "[3].Nope"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("fields = %q, want %q (error: %v)", got, want, err)
	}
	if !errors.Is(err, ErrInvalid) {
		t.Error("batch error does not match ErrInvalid")
	}
	if err := ValidateBatch([]Event{minimalEvent()}); err != nil {
		t.Errorf("ValidateBatch(valid) = %v", err)
	}
}
