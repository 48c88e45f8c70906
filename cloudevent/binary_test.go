package cloudevent

import (
	"bytes"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
	"unsafe"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

func TestBinaryFormatMinimal(t *testing.T) {
	e := minimalEvent()
	got, err := e.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	want := []byte{
		1,      // version
		0,      // flags: no time, no data
		1, '1', // id
		2, '/', 's', // source
		3, '1', '.', '0', // specversion
		1, 't', // type
		0, 0, 0, // subject, datacontenttype, dataschema
		0, // extension count
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("MarshalBinary =\n% x\nwant\n% x", got, want)
	}
}

func TestBinaryFormatGolden(t *testing.T) {
	e := orderEvent()
	e.DataSchema = "https://example.com/schemas/order.json"
	e.SetExtension(ExtDeliverAt, "2024-05-01T12:05:00Z")
	got, err := e.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("testdata", "binary", "order-v1.hex")
	if *update {
		if err := os.WriteFile(path, []byte(hex.Dump(got)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want := readTestdata(t, filepath.Join("binary", "order-v1.hex"))
	if hex.Dump(got) != string(want) {
		t.Fatalf("encoding changed; a new encoding needs a new format version.\ngot:\n%s\nwant:\n%s", hex.Dump(got), want)
	}
	var back Event
	if err := back.UnmarshalBinary(got); err != nil {
		t.Fatal(err)
	}
	assertEqualEvents(t, back, e)
}

func TestBinaryRoundTrip(t *testing.T) {
	many := minimalEvent()
	for i := range 200 {
		many.SetExtension(fmt.Sprintf("ext%03d", i), strings.Repeat("v", i))
	}
	tests := map[string]func(*Event){
		"minimal":          func(e *Event) {},
		"zero event":       func(e *Event) { *e = Event{} },
		"order":            func(e *Event) { *e = orderEvent() },
		"nil data":         func(e *Event) { e.Data = nil },
		"empty data":       func(e *Event) { e.Data = []byte{} },
		"binary data":      func(e *Event) { e.Data = []byte{0, 0xff, 0x80} },
		"large data":       func(e *Event) { e.Data = bytes.Repeat([]byte("0123456789"), 100_000) },
		"zero time":        func(e *Event) { e.Time = time.Time{} },
		"time before 1970": func(e *Event) { e.Time = time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC) },
		"time year 10000":  func(e *Event) { e.Time = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) },
		"time nanoseconds": func(e *Event) { e.Time = time.Date(2024, 5, 1, 12, 0, 0, 999_999_999, time.UTC) },
		"time odd offset":  func(e *Event) { e.Time = time.Date(1900, 1, 1, 0, 0, 0, 0, time.FixedZone("LMT", 1172)) },
		"time negative":    func(e *Event) { e.Time = time.Date(2024, 1, 1, 0, 0, 0, 0, time.FixedZone("", -12*3600)) },
		"many extensions":  func(e *Event) { *e = many },
		"empty extension":  func(e *Event) { e.SetExtension("", "") },
		"non-UTF-8 text":   func(e *Event) { e.Subject = "\xff\xfe"; e.SetExtension("\x00", "\x80") },
		"long attribute":   func(e *Event) { e.Source = strings.Repeat("s", 300) },
	}
	for name, mutate := range tests {
		t.Run(name, func(t *testing.T) {
			e := minimalEvent()
			mutate(&e)
			b, err := e.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			var back Event
			back.SetExtension("stale", "must be replaced")
			back.Data = []byte("stale")
			if err := back.UnmarshalBinary(b); err != nil {
				t.Fatal(err)
			}
			assertEqualEvents(t, back, e)
			var shared Event
			if err := shared.UnmarshalBinaryShared(slices.Clone(b)); err != nil {
				t.Fatal(err)
			}
			assertEqualEvents(t, shared, e)
			var owned Event
			if err := owned.UnmarshalBinaryOwned(slices.Clone(b)); err != nil {
				t.Fatal(err)
			}
			assertEqualEvents(t, owned, e)
			again, _ := back.MarshalBinary()
			if !bytes.Equal(again, b) {
				t.Error("re-encoding the decoded event gave different bytes")
			}
			exact := make([]byte, 0, len(b))
			if out, _ := e.AppendBinary(exact); &out[:1][0] != &exact[:1][0] {
				t.Error("AppendBinary grew a buffer that had exactly the room needed: size computed wrong")
			}
		})
	}
}

func TestBinaryIsDeterministic(t *testing.T) {
	a, b := minimalEvent(), minimalEvent()
	for i := range 50 {
		a.SetExtension(fmt.Sprintf("k%d", i), "v")
		b.SetExtension(fmt.Sprintf("k%d", 49-i), "v")
	}
	ab, _ := a.MarshalBinary()
	bb, _ := b.MarshalBinary()
	if !bytes.Equal(ab, bb) {
		t.Fatal("equal events encoded differently")
	}
}

func TestAppendBinaryAppends(t *testing.T) {
	e := orderEvent()
	prefix := []byte("prefix")
	out, err := e.AppendBinary(prefix)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(out, []byte("prefix")) {
		t.Fatal("AppendBinary lost dst's content")
	}
	var back Event
	if err := back.UnmarshalBinary(out[len(prefix):]); err != nil {
		t.Fatal(err)
	}
	assertEqualEvents(t, back, e)
}

func TestUnmarshalBinaryRejectsDamage(t *testing.T) {
	order, min := orderEvent(), minimalEvent()
	good, _ := order.MarshalBinary()
	minimal, _ := min.MarshalBinary()
	tests := []struct {
		name string
		in   []byte
		msg  string // substring of the error
	}{
		{"empty", nil, "10"},
		{"one byte", []byte{1}, "10"},
		{"version 0", append([]byte{0}, minimal[1:]...), "version 0"},
		{"version 2", append([]byte{2}, minimal[1:]...), "version 2"},
		{"unknown flag", append([]byte{1, 0x04}, minimal[2:]...), "unknown flags"},
		{"trailing byte", append(bytes.Clone(minimal), 0), "unexpected bytes"},
		{"length beyond end", []byte{1, 0, 0x7f, 'a'}, "exceeds"},
		{"huge length", []byte{1, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}, "exceeds"},
		{"varint overflow", []byte{1, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, "varint"},
		{"non-minimal varint", []byte{1, 0, 0x81, 0x00, 'a', 0, 0, 0, 0, 0, 0, 0}, "non-minimal"},
		{"huge extension count", []byte{1, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f}, "extension count"},
		{"extensions out of order", []byte{1, 0, 0, 0, 0, 0, 0, 0, 0, 2, 1, 'b', 0, 1, 'a', 0}, "out of order"},
		{"extension repeated", []byte{1, 0, 0, 0, 0, 0, 0, 0, 0, 2, 1, 'a', 0, 1, 'a', 0}, "repeated"},
		{"nanoseconds out of range", []byte{1, flagTime, 0, 0, 0, 0, 0, 0, 0, 0, 0x80, 0x94, 0xeb, 0xdc, 0x03, 0, 0}, "nanoseconds"},
		{"zero time flagged", append([]byte{1, flagTime, 0, 0, 0, 0, 0, 0, 0}, append(varint(-62135596800), 0, 0, 0)...), "zero time"},
		{"offset out of range", append([]byte{1, flagTime, 0, 0, 0, 0, 0, 0, 0, 0, 0}, append(varint(1<<40), 0)...), "offset"},
		{"data flag, no data", []byte{1, flagData, 0, 0, 0, 0, 0, 0, 0, 0}, "varint"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var e Event
			err := e.UnmarshalBinary(tt.in)
			if err == nil {
				t.Fatalf("UnmarshalBinary(% x) succeeded: %s", tt.in, describe(e))
			}
			if !errors.Is(err, ErrMalformed) {
				t.Errorf("error %v does not match ErrMalformed", err)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("error %q does not mention %q", err, tt.msg)
			}
		})
	}

	t.Run("every truncation", func(t *testing.T) {
		for n := range len(good) {
			var e Event
			if err := e.UnmarshalBinary(good[:n]); err == nil {
				t.Fatalf("record cut to %d of %d bytes decoded without error", n, len(good))
			}
		}
	})
}

func varint(v int64) []byte {
	u := uint64(v) << 1
	if v < 0 {
		u = ^u
	}
	var out []byte
	for u >= 0x80 {
		out = append(out, byte(u)|0x80)
		u >>= 7
	}
	return append(out, byte(u))
}

func TestBinaryDoesNotAlias(t *testing.T) {
	e := orderEvent()
	b, _ := e.MarshalBinary()
	var back Event
	if err := back.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	for i := range b {
		b[i] = 0
	}
	assertEqualEvents(t, back, e)
}

func TestBinaryAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector changes allocation counts")
	}
	e := orderEvent()
	buf := make([]byte, 0, 1024)
	if n := testing.AllocsPerRun(100, func() { _, _ = e.AppendBinary(buf[:0]) }); n != 0 {
		t.Errorf("AppendBinary into a large enough buffer: %v allocations, want 0", n)
	}
	if n := testing.AllocsPerRun(100, func() { _, _ = e.MarshalBinary() }); n != 1 {
		t.Errorf("MarshalBinary: %v allocations, want 1", n)
	}
	b, _ := e.MarshalBinary()
	var back Event
	// One string for all attribute text, one Data slice, the map.
	if n := testing.AllocsPerRun(100, func() { _ = back.UnmarshalBinary(b) }); n > 4 {
		t.Errorf("UnmarshalBinary: %v allocations, want at most 4", n)
	}
}

func TestMarshalBinaryRejectsHugeOffset(t *testing.T) {
	e := minimalEvent()
	off := int64(1) << 40
	if int64(int(off)) != off {
		t.Skip("int is 32 bits here; no offset can overflow")
	}
	e.Time = time.Unix(0, 0).In(time.FixedZone("", int(off)))
	if _, err := e.MarshalBinary(); fieldOf(t, err) != "time" {
		t.Fatalf("MarshalBinary = %v, want a time FieldError", err)
	}
}

// UnmarshalBinaryShared's Data is the record's own memory; UnmarshalBinary's
// is a copy.
func TestUnmarshalBinarySharedSharesData(t *testing.T) {
	e := minimalEvent()
	e.Data = []byte("payload")
	b, err := e.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var shared, copied Event
	if err := shared.UnmarshalBinaryShared(b); err != nil {
		t.Fatal(err)
	}
	if err := copied.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	i := bytes.Index(b, []byte("payload"))
	b[i] = 'P'
	if string(shared.Data) != "Payload" || string(copied.Data) != "payload" {
		t.Fatalf("after changing the record: shared %q, copied %q; want %q, %q", shared.Data, copied.Data, "Payload", "payload")
	}
	if cap(shared.Data) != len(shared.Data) {
		t.Fatalf("shared Data has capacity %d past its length %d: an append would write into the record", cap(shared.Data), len(shared.Data))
	}
}

// UnmarshalBinaryOwned's attribute strings are the record's own memory as
// well as its Data; UnmarshalBinaryShared's strings are a copy.
func TestUnmarshalBinaryOwnedSharesTheAttributeText(t *testing.T) {
	e := minimalEvent()
	e.Type = "order.placed"
	e.SetExtension("partitionkey", "k-1")
	e.Data = []byte("payload")
	b, err := e.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var owned, shared Event
	if err := owned.UnmarshalBinaryOwned(b); err != nil {
		t.Fatal(err)
	}
	if err := shared.UnmarshalBinaryShared(b); err != nil {
		t.Fatal(err)
	}
	within := func(s string) bool {
		p := uintptr(unsafe.Pointer(unsafe.StringData(s)))
		start := uintptr(unsafe.Pointer(&b[0]))
		return p >= start && p < start+uintptr(len(b))
	}
	for _, c := range []struct {
		name          string
		owned, shared string
	}{
		{"id", owned.ID, shared.ID},
		{"type", owned.Type, shared.Type},
		{"extension", owned.Extensions["partitionkey"], shared.Extensions["partitionkey"]},
	} {
		if !within(c.owned) {
			t.Errorf("owned %s %q is a copy, not the record's memory", c.name, c.owned)
		}
		if within(c.shared) {
			t.Errorf("shared %s %q points into the record; only Data may", c.name, c.shared)
		}
	}
	if i := bytes.Index(b, []byte("payload")); &owned.Data[0] != &b[i] {
		t.Error("owned Data is a copy, not the record's memory")
	}
}
