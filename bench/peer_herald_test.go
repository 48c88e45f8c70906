package main

import (
	"strings"
	"testing"
)

func TestHeraldBenchArgsFollowTheContract(t *testing.T) {
	c := defaultConfig()
	want := map[string]string{
		"1a": "bench publish --url U --topic bench --partitions 1 --size 128 --events 200000 --warmup 10000 --producers 1 --batch 100 --json",
		"1d": "bench publish --url U --topic bench --partitions 1 --size 1024 --events 200000 --warmup 10000 --producers 4 --batch 100 --json",
		"2":  "bench publish --url U --topic bench --partitions 1 --size 128 --events 5000 --warmup 500 --producers 1 --batch 1 --sync --json",
		"3":  "bench consume --url U --topic bench --partitions 1 --size 128 --events 100000 --warmup 10000 --consumers 1 --batch 100 --json",
		"4":  "bench e2e --url U --topic bench --partitions 1 --size 128 --events 150000 --warmup 10000 --rate 50000 --json",
		"5n": "bench publish --url U --topic bench --partitions 1 --size 128 --events 20000 --warmup 2000 --producers 1 --batch 100 --subscriptions 0 --json",
		"5":  "bench publish --url U --topic bench --partitions 1 --size 128 --events 20000 --warmup 2000 --producers 1 --batch 100 --subscriptions 10 --json",
	}
	seen := 0
	for _, r := range plan(c) {
		w, ok := want[r.ID]
		if !ok {
			continue
		}
		seen++
		if got := strings.Join(heraldBenchArgs(r, "U", 1), " "); got != w {
			t.Errorf("row %s:\n got %s\nwant %s", r.ID, got, w)
		}
	}
	if seen != len(want) {
		t.Fatalf("plan has %d of the %d rows checked", seen, len(want))
	}
}

func TestParseHeraldBenchReadsTheLastLine(t *testing.T) {
	out := "warming up\npublished 1000 events\n" +
		`{"events_per_sec":123456.5,"mib_per_sec":15,"p50_us":80,"p90_us":90,"p99_us":300,"p999_us":900,"publish_events_per_sec":5000}` + "\n\n"
	r, err := parseHeraldBench([]byte(out))
	if err != nil {
		t.Fatal(err)
	}
	if r.EventsPerSec != 123456.5 || r.MiBPerSec != 15 || r.P50us != 80 || r.P90us != 90 ||
		r.P99us != 300 || r.P999us != 900 || r.PublishEventsPerSec != 5000 {
		t.Fatalf("parsed %+v", r)
	}
}

func TestParseHeraldBenchRejectsWhatBreaksTheContract(t *testing.T) {
	for name, out := range map[string]string{
		"nothing":       "",
		"not JSON":      "done: 1000 events/s\n",
		"missing key":   `{"events_per_sec":1,"mib_per_sec":1,"p50_us":1,"p90_us":1,"p99_us":1}`,
		"string number": `{"events_per_sec":"fast","mib_per_sec":1,"p50_us":1,"p90_us":1,"p99_us":1,"p999_us":1}`,
		"JSON not last": `{"events_per_sec":1,"mib_per_sec":1,"p50_us":1,"p90_us":1,"p99_us":1,"p999_us":1}` + "\nbye\n",
	} {
		if _, err := parseHeraldBench([]byte(out)); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestHeraldReadyLineGivesTheAddress(t *testing.T) {
	line := `time=2026-01-01T00:00:00.000Z level=INFO msg="herald is ready" listen=127.0.0.1:40123 data=/tmp/x sync=always`
	m := heraldReady.FindStringSubmatch(line)
	if m == nil || m[1] != "127.0.0.1:40123" {
		t.Fatalf("match %q", m)
	}
}
