package cloudevent

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// orderEvent is a realistic event of about 200 bytes of metadata and data,
// the shape Herald sees most: JSON data, a partition key, a trace.
func orderEvent() Event {
	return Event{
		ID:              "01J9ZQ8X7K3M5N2P4R6T8V0W2Y",
		Source:          "https://shop.example.com/orders",
		SpecVersion:     SpecVersion10,
		Type:            "com.example.order.created",
		Subject:         "order/18231",
		Time:            time.Date(2024, 5, 1, 12, 0, 0, 123456789, time.FixedZone("", 2*3600)),
		DataContentType: "application/json",
		Data:            []byte(`{"order":18231,"total":"49.90"}`),
		Extensions: map[string]string{
			ExtPartitionKey: "customer-4711",
			ExtTraceParent:  "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
		},
	}
}

// minimalEvent has only the required attributes.
func minimalEvent() Event {
	return Event{ID: "1", Source: "/s", SpecVersion: SpecVersion10, Type: "t"}
}

// assertEqualEvents fails the test with both events spelled out if they
// differ.
func assertEqualEvents(t *testing.T, got, want Event) {
	t.Helper()
	if !got.Equal(&want) {
		t.Fatalf("events differ\n got: %s\nwant: %s", describe(got), describe(want))
	}
}

// describe spells out an event for failure messages, showing what Equal
// compares (nil data, time offset).
func describe(e Event) string {
	ts := ""
	if !e.Time.IsZero() {
		ts = e.Time.Format(time.RFC3339Nano)
	}
	b, err := json.Marshal(struct {
		ID, Source, SpecVersion, Type, Subject, Time, DataContentType, DataSchema string
		Data                                                                      string
		DataNil                                                                   bool
		Extensions                                                                map[string]string
	}{e.ID, e.Source, e.SpecVersion, e.Type, e.Subject, ts, e.DataContentType, e.DataSchema,
		string(e.Data), e.Data == nil, e.Extensions})
	if err != nil {
		return err.Error()
	}
	return string(b)
}

// fieldOf returns the Field of the first *FieldError in err, failing the
// test if there is none.
func fieldOf(t *testing.T, err error) string {
	t.Helper()
	fe, ok := errors.AsType[*FieldError](err)
	if !ok {
		t.Fatalf("error %v (%T) holds no *FieldError", err, err)
	}
	return fe.Field
}

// fieldsOf returns the Field of every *FieldError joined in err.
func fieldsOf(err error) []string {
	var out []string
	var walk func(error)
	walk = func(err error) {
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				walk(e)
			}
			return
		}
		if fe, ok := errors.AsType[*FieldError](err); ok {
			out = append(out, fe.Field)
		}
	}
	walk(err)
	return out
}

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// testdataFiles lists files in testdata/dir whose names end with suffix.
func testdataFiles(t testing.TB, dir, suffix string) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join("testdata", dir))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), suffix) {
			out = append(out, filepath.Join(dir, e.Name()))
		}
	}
	return out
}
