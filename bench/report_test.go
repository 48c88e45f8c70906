package main

import (
	"strings"
	"testing"
)

func TestFanOutChecksCompareWithRows1aAnd3(t *testing.T) {
	mk := func(id, label string, r result) line {
		return line{Row: row{ID: id}, Kind: strings.ToLower(label), Label: label, Durability: "d", Result: r}
	}
	lines := []line{
		mk("1a", "Herald", result{EventsPerSec: 200_000}),
		mk("3", "Herald", result{EventsPerSec: 100_000}),
		mk("5", "Herald", result{EventsPerSec: 150_000, PublishEventsPerSec: 190_000}),
		mk("5", "NATS", result{EventsPerSec: 50_000, PublishEventsPerSec: 40_000}),
		{Row: row{ID: "5"}, Label: "Redis", Durability: "d", Err: "boom"},
	}
	got := fanOutChecks(lines)
	want := []string{
		"Herald (d): publish with 10 subscriptions 190,000/s = 95% of 200,000/s with none; aggregate delivery 150,000/s = 1.50× one subscription's 100,000/s",
		"NATS (d): publish with 10 subscriptions 40,000/s; aggregate delivery 50,000/s",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("fanOutChecks:\n got %q\nwant %q", got, want)
	}
}

func TestSyncPublishBarIsSetBesideTheLoopbackFloorWhenBothAreKnown(t *testing.T) {
	const bar = "  the 1.3× bar leaves 58 µs over the fsync; a bare loopback round trip between two processes takes 70 µs here\n"
	rep := &report{Config: Config{Runs: 1}, Lines: []line{
		{Row: row{ID: "2", Workload: 2}, Kind: "herald", Label: "Herald", Durability: "d", Result: result{EventsPerSec: 4000, P50us: 250}},
	}}
	for _, tc := range []struct {
		name               string
		fsync, loopback    float64
		wantBar, wantRatio bool
	}{
		{"both known", 194, 70, true, true},
		{"no loopback probe", 194, 0, false, true},
		{"no fsync probe", 0, 70, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b strings.Builder
			printTable(&b, rep, machine{WriteFsyncP50us: tc.fsync, LoopbackRTTP50us: tc.loopback}, "cmd")
			out := b.String()
			if got := strings.Contains(out, bar); got != tc.wantBar {
				t.Errorf("bar line printed: %v, want %v; table:\n%s", got, tc.wantBar, out)
			}
			if got := strings.Contains(out, "Herald (d): 1.29×"); got != tc.wantRatio {
				t.Errorf("fsync ratio printed: %v, want %v; table:\n%s", got, tc.wantRatio, out)
			}
			if got := strings.Contains(out, "loopback round trip between two processes: p50 70 µs"); got != (tc.loopback > 0) {
				t.Errorf("machine line names the loopback probe: %v, want %v; table:\n%s", got, tc.loopback > 0, out)
			}
		})
	}
}
