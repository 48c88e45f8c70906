package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestFanOutChecksCompareWithRows5nOr1aAnd3(t *testing.T) {
	mk := func(id, label string, r result) line {
		return line{Row: row{ID: id}, Kind: strings.ToLower(label), Label: label, Durability: "d", Result: r}
	}
	lines := []line{
		mk("1a", "Herald", result{EventsPerSec: 200_000}),
		mk("3", "Herald", result{EventsPerSec: 100_000}),
		mk("5", "Herald", result{EventsPerSec: 150_000, PublishEventsPerSec: 190_000}),
		mk("5", "NATS", result{EventsPerSec: 50_000, PublishEventsPerSec: 40_000}),
		mk("1a", "Redis", result{EventsPerSec: 100_000}),
		mk("5n", "Redis", result{EventsPerSec: 80_000}),
		mk("5", "Redis", result{EventsPerSec: 300_000, PublishEventsPerSec: 40_000}),
		{Row: row{ID: "5"}, Label: "Redis", Durability: "e", Err: "boom"},
	}
	got := fanOutChecks(lines)
	want := []string{
		"Herald (d): publish with 10 subscriptions 190,000/s = 95% of 200,000/s with none (row 1a); aggregate delivery 150,000/s = 1.50× one subscription's 100,000/s",
		"NATS (d): publish with 10 subscriptions 40,000/s; aggregate delivery 50,000/s",
		"Redis (d): publish with 10 subscriptions 40,000/s = 50% of 80,000/s with none (row 5n); aggregate delivery 300,000/s",
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

func TestEveryRunWritesItsOwnResultFiles(t *testing.T) {
	dir := t.TempDir()
	at := func(hhmm string, quick bool) *report {
		t.Helper()
		started, err := time.Parse("2006-01-02 1504", "2026-11-30 "+hhmm)
		if err != nil {
			t.Fatal(err)
		}
		return &report{Started: started, Finished: started.Add(10 * time.Minute), Config: Config{Runs: 3, Quick: quick},
			Lines: []line{{Row: row{ID: "1a", Workload: 1}, Kind: "herald", Label: "Herald", Durability: "d", Result: result{EventsPerSec: 1000}}}}
	}
	for _, tc := range []struct {
		rep      *report
		printed  string
		wantBase string
	}{
		{at("1634", false), "first", "2026-11-30-1634"},
		{at("1644", false), "second", "2026-11-30-1644"},
		{at("1644", false), "same minute", "2026-11-30-1644-2"},
		{at("1644", false), "and again", "2026-11-30-1644-3"},
		{at("1644", true), "quick", "2026-11-30-1644-quick"},
	} {
		paths, err := writeResults(dir, tc.rep, machine{}, "cmd", tc.printed)
		if err != nil {
			t.Fatal(err)
		}
		var want []string
		for _, ext := range []string{".txt", ".csv", ".json"} {
			want = append(want, filepath.Join(dir, tc.wantBase+ext))
		}
		if strings.Join(paths, " ") != strings.Join(want, " ") {
			t.Fatalf("%s: wrote %q, want %q", tc.printed, paths, want)
		}
		if b, err := os.ReadFile(paths[0]); err != nil || string(b) != tc.printed {
			t.Errorf("%s: %s holds %q (%v)", tc.printed, paths[0], b, err)
		}
	}
	// Nothing was replaced: the first run's numbers are still there.
	b, err := os.ReadFile(filepath.Join(dir, "2026-11-30-1634.txt"))
	if err != nil || string(b) != "first" {
		t.Fatalf("the first run's table: %q (%v)", b, err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 15 {
		t.Fatalf("%d files, want 15 (5 runs × 3)", len(entries))
	}
}
