package cloudevent

import (
	"errors"
	"testing"
	"time"
)

func TestClone(t *testing.T) {
	e := orderEvent()
	c := e.Clone()
	assertEqualEvents(t, c, e)
	c.Data[0] = 'X'
	c.Extensions[ExtPartitionKey] = "changed"
	if e.Data[0] == 'X' || e.Extensions[ExtPartitionKey] == "changed" {
		t.Fatal("changing the clone changed the original")
	}

	var empty Event
	if c := empty.Clone(); c.Data != nil || c.Extensions != nil {
		t.Errorf("Clone of the zero event made non-nil fields: %s", describe(c))
	}
	e.Data = []byte{}
	if c := e.Clone(); c.Data == nil {
		t.Error("Clone turned empty Data into nil")
	}
}

func TestEqual(t *testing.T) {
	base := orderEvent()
	tests := []struct {
		name   string
		mutate func(*Event)
		equal  bool
	}{
		{"identical", func(e *Event) {}, true},
		{"same instant and offset, other location value", func(e *Event) {
			e.Time = e.Time.In(time.FixedZone("CEST", 2*3600))
		}, true},
		{"same instant, other offset", func(e *Event) { e.Time = e.Time.UTC() }, false},
		{"other instant", func(e *Event) { e.Time = e.Time.Add(time.Nanosecond) }, false},
		{"zero time", func(e *Event) { e.Time = time.Time{} }, false},
		{"nil data vs empty", func(e *Event) { e.Data = nil }, false},
		{"other data", func(e *Event) { e.Data = []byte("{}") }, false},
		{"extension removed", func(e *Event) { delete(e.Extensions, ExtTraceParent) }, false},
		{"extension value", func(e *Event) { e.Extensions[ExtTraceParent] = "x" }, false},
		{"id", func(e *Event) { e.ID = "other" }, false},
		{"dataschema", func(e *Event) { e.DataSchema = "https://x" }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := base.Clone()
			tt.mutate(&o)
			if got := base.Equal(&o); got != tt.equal {
				t.Errorf("Equal = %v, want %v", got, tt.equal)
			}
			if got := o.Equal(&base); got != tt.equal {
				t.Errorf("Equal is not symmetric")
			}
		})
	}

	a, b := minimalEvent(), minimalEvent()
	b.Extensions = map[string]string{}
	if !a.Equal(&b) {
		t.Error("nil and empty Extensions differ")
	}
	a.Data, b.Data = nil, []byte{}
	if a.Equal(&b) {
		t.Error("nil and empty Data are equal")
	}
}

func TestExtensionAccessors(t *testing.T) {
	var e Event
	if e.Extension("x") != "" {
		t.Error("missing extension is not empty")
	}
	e.SetExtension("x", "1")
	if e.Extension("x") != "1" {
		t.Errorf("Extension(x) = %q, want 1", e.Extension("x"))
	}
}

func TestDeliverAt(t *testing.T) {
	var e Event
	if _, ok, err := e.DeliverAt(); ok || err != nil {
		t.Fatalf("DeliverAt on an event without it = %v, %v; want false, nil", ok, err)
	}
	at := time.Date(2030, 1, 2, 3, 4, 5, 600, time.FixedZone("", -3*3600))
	e.SetDeliverAt(at)
	if got := e.Extension(ExtDeliverAt); got != "2030-01-02T03:04:05.0000006-03:00" {
		t.Errorf("deliverat = %q", got)
	}
	got, ok, err := e.DeliverAt()
	if !ok || err != nil || !sameTime(got, at) {
		t.Errorf("DeliverAt = %v, %v, %v; want %v", got, ok, err, at)
	}
	e.SetDeliverAt(time.Time{})
	if _, ok := e.Extensions[ExtDeliverAt]; ok {
		t.Error("SetDeliverAt(zero) did not remove the extension")
	}

	e.SetExtension(ExtDeliverAt, "soon")
	_, ok, err = e.DeliverAt()
	if !ok || !errors.Is(err, ErrInvalid) || fieldOf(t, err) != ExtDeliverAt {
		t.Errorf("DeliverAt with a bad value = %v, %v; want true and a deliverat FieldError", ok, err)
	}
}

func TestIsBrokerExtension(t *testing.T) {
	for _, name := range []string{ExtHeraldTopic, ExtHeraldPartition, ExtHeraldOffset, ExtHeraldTime, ExtHeraldAttempt, "heraldfuture"} {
		if !IsBrokerExtension(name) {
			t.Errorf("IsBrokerExtension(%q) = false", name)
		}
	}
	for _, name := range []string{ExtPartitionKey, ExtDeliverAt, ExtTraceParent, ExtCorrelationID, ExtCausationID, "herald"[:5]} {
		if IsBrokerExtension(name) {
			t.Errorf("IsBrokerExtension(%q) = true", name)
		}
	}
}

func TestModeString(t *testing.T) {
	for m, want := range map[Mode]string{ModeBinary: "binary", ModeStructured: "structured", ModeBatch: "batch", ModeUnsupported: "unsupported"} {
		if m.String() != want {
			t.Errorf("%d.String() = %q, want %q", int(m), m.String(), want)
		}
	}
}
