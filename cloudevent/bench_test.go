package cloudevent

import (
	"net/http"
	"testing"
)

// The benchmarks use orderEvent: about 200 bytes of attributes and data,
// a partition key and a trace, the shape of a typical publish.

func BenchmarkMarshalBinary(b *testing.B) {
	e := orderEvent()
	enc, _ := e.MarshalBinary()
	b.SetBytes(int64(len(enc)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.MarshalBinary(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAppendBinary(b *testing.B) {
	e := orderEvent()
	buf := make([]byte, 0, 1024)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.AppendBinary(buf[:0]); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkUnmarshalBinary(b *testing.B) {
	e := orderEvent()
	enc, _ := e.MarshalBinary()
	b.SetBytes(int64(len(enc)))
	b.ReportAllocs()
	var out Event
	for b.Loop() {
		if err := out.UnmarshalBinary(enc); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseJSON(b *testing.B) {
	e := orderEvent()
	in, _ := e.MarshalJSON()
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseJSON(in); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMarshalJSON(b *testing.B) {
	e := orderEvent()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.MarshalJSON(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkFromHTTP(b *testing.B) {
	e := orderEvent()
	h := http.Header{}
	WriteHTTPHeaders(e, h)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := FromHTTP(h, e.Data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkValidate(b *testing.B) {
	e := orderEvent()
	b.ReportAllocs()
	for b.Loop() {
		if err := e.Validate(); err != nil {
			b.Fatal(err)
		}
	}
}
