package main

import (
	"context"
	"os/exec"
	"testing"
	"time"
)

// TestEveryPeerRunsEveryWorkload is the suite every peer passes: each
// workload, tiny, against each peer that can run here: NATS in this
// process and as its own process (--nats-server), Redis only when
// redis-server is installed.
func TestEveryPeerRunsEveryWorkload(t *testing.T) {
	if testing.Short() {
		t.Skip("starts servers")
	}
	lim := limits{maxRun: 5 * time.Second}
	systems := natsSystems(lim, "")[:1]
	systems = append(systems, natsSystems(lim, buildNATSServer(t))[:1]...) // --nats-server
	if _, err := exec.LookPath("redis-server"); err == nil {
		rs, err := redisSystems(lim, "redis-server")
		if err != nil {
			t.Fatal(err)
		}
		systems = append(systems, rs[1])
	} else {
		t.Log("redis-server not installed: testing NATS only")
	}
	rows := []row{
		{ID: "1", Workload: 1, Size: 128, Producers: 3, Batch: 10, Events: 301, Warmup: 31},
		{ID: "2", Workload: 2, Size: 128, Producers: 1, Batch: 1, Events: 50, Warmup: 5},
		{ID: "3", Workload: 3, Size: 128, Producers: 1, Batch: 10, Events: 300, Warmup: 30},
		{ID: "4", Workload: 4, Size: 128, Producers: 1, Batch: 10, Events: 300, Warmup: 30, Rate: 5000},
		{ID: "5n", Workload: 5, Size: 128, Producers: 1, Batch: 10, Events: 100, Warmup: 10},
		{ID: "5", Workload: 5, Size: 128, Producers: 1, Batch: 10, Events: 100, Warmup: 10, Subs: 3},
	}
	wantEvents := map[string]int64{"1": 301, "2": 50, "3": 300, "4": 300, "5n": 100, "5": 300}
	for _, sys := range systems {
		for _, r := range rows {
			t.Run(sys.Label()+"/"+sys.Durability()+"/"+r.ID, func(t *testing.T) {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				res, err := sys.Run(ctx, t.TempDir(), r)
				if err != nil {
					t.Fatal(err)
				}
				if res.Events != wantEvents[r.ID] || res.EventsPerSec <= 0 {
					t.Errorf("events %d at %.0f/s, want %d", res.Events, res.EventsPerSec, wantEvents[r.ID])
				}
				if r.Workload != 3 && (res.P50us <= 0 || res.P99us < res.P50us || res.P999us < res.P99us) {
					t.Errorf("latency p50 %v p99 %v p99.9 %v", res.P50us, res.P99us, res.P999us)
				}
			})
		}
	}
}

func TestGenerateOffersEveryEventAtItsIntendedTime(t *testing.T) {
	start := time.Now()
	interval := 50 * time.Microsecond
	var got []time.Time
	err := generate(context.Background(), start, interval, 1000, func(intended time.Time) bool {
		if now := time.Now(); now.Before(intended) {
			t.Errorf("event offered at %v, before its intended time %v", now, intended)
		}
		got = append(got, intended)
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1000 {
		t.Fatalf("offered %d events, want 1000", len(got))
	}
	for i, g := range got {
		if want := start.Add(time.Duration(i) * interval); !g.Equal(want) {
			t.Fatalf("event %d intended at %v, want %v", i, g, want)
		}
	}
	if elapsed := time.Since(start); elapsed < 999*interval {
		t.Fatalf("1000 events at 20,000/s took %v", elapsed)
	}
}

func TestGenerateStopsWhenCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	n := 0
	err := generate(ctx, time.Now(), time.Millisecond, 1_000_000, func(time.Time) bool {
		n++
		if n == 10 {
			cancel()
		}
		return true
	})
	if err == nil || n > 20 {
		t.Fatalf("err %v after %d events", err, n)
	}
}

func TestMedianTakesEachNumberAcrossRuns(t *testing.T) {
	m := median([]result{
		{EventsPerSec: 300, P99us: 10, Note: "a"},
		{EventsPerSec: 100, P99us: 30},
		{EventsPerSec: 200, P99us: 20, Note: "a"},
	})
	if m.EventsPerSec != 200 || m.P99us != 20 || m.Note != "a (2 of 3 runs)" {
		t.Fatalf("median %+v", m)
	}
}

func TestNotesThatDifferOnlyInNumbersAreMerged(t *testing.T) {
	got := mergeNotes([]result{
		{Note: "stopped at the 15s cap after 8 of 20 events; saturated"},
		{Note: "stopped at the 15s cap after 9 of 20 events"},
		{},
	})
	if want := "stopped at the 15s cap after 8 of 20 events (2 of 3 runs); saturated (1 of 3 runs)"; got != want {
		t.Fatalf("got  %q\nwant %q", got, want)
	}
}

func TestRatiosAreHeraldOverPeerOnTheSameRow(t *testing.T) {
	lines := []line{
		{Row: row{ID: "1a", Workload: 1}, Kind: "herald", Result: result{EventsPerSec: 300, P50us: 100, P99us: 200}},
		{Row: row{ID: "1a", Workload: 1}, Kind: "nats", Result: result{EventsPerSec: 100, P50us: 50, P99us: 400}},
		{Row: row{ID: "4", Workload: 4}, Kind: "nats", Result: result{EventsPerSec: 100, P99us: 400}},
	}
	computeRatios(lines)
	if r := lines[1].Ratio; r.EventsPerSec != 3 || r.P50 != 2 || r.P99 != 0.5 {
		t.Fatalf("ratio %+v", r)
	}
	if got := lines[1].headline(); got != "3.00× ev/s" {
		t.Fatalf("headline %q", got)
	}
	if lines[2].Ratio != (ratio{}) || lines[2].headline() != "-" {
		t.Fatalf("a row Herald did not run has ratio %+v", lines[2].Ratio)
	}
}
