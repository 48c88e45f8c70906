package main

import (
	"testing"
	"time"
)

// gapsIn finds the gaps longer than the threshold between the readings
// spin keeps in pairs, and says when each began.
func TestGapsIn(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(ms float64) time.Time { return t0.Add(time.Duration(ms * float64(time.Millisecond))) }
	for _, tc := range []struct {
		name     string
		readings []time.Time
		want     []gap
	}{
		{"none", nil, nil},
		{"short gaps only", []time.Time{at(1), at(1.2), at(5), at(5.9)}, nil},
		{"one long gap", []time.Time{at(1), at(1.2), at(100), at(105)},
			[]gap{{at: 100 * time.Millisecond, length: 5 * time.Millisecond}}},
		{"gaps every 100 ms", []time.Time{at(100), at(104), at(200), at(206), at(300), at(300.5)},
			[]gap{{100 * time.Millisecond, 4 * time.Millisecond}, {200 * time.Millisecond, 6 * time.Millisecond}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := gapsIn(tc.readings, t0, time.Millisecond)
			if len(got) != len(tc.want) {
				t.Fatalf("gapsIn = %v, want %v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("gapsIn = %v, want %v", got, tc.want)
				}
			}
		})
	}
}

// A flush-free probe runs end to end on a temporary file and reports no
// flushes; with a pace it reports some.
func TestProbeFlushes(t *testing.T) {
	f, err := preallocated(t.TempDir(), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := probe(f, 0, true, 50*time.Millisecond)
	if err != nil || r.flushesPerSec != 0 {
		t.Fatalf("off: %+v, %v; want no flushes", r, err)
	}
	r, err = probe(f, time.Millisecond, false, 100*time.Millisecond)
	if err != nil || r.flushesPerSec == 0 {
		t.Fatalf("every 1 ms: %+v, %v; want flushes", r, err)
	}
}

// The summary gives the gaps' range and their median spacing.
func TestGapList(t *testing.T) {
	g := func(at, l float64) gap {
		return gap{time.Duration(at * float64(time.Millisecond)), time.Duration(l * float64(time.Millisecond))}
	}
	for _, tc := range []struct {
		gaps []gap
		want string
	}{
		{nil, "-"},
		{[]gap{g(10, 2)}, "2.0-2.0 ms"},
		{[]gap{g(100, 4), g(200, 9), g(300, 3), g(450, 5)}, "3.0-9.0 ms, one every 100 ms (median)"},
	} {
		if got := (result{gaps: tc.gaps}).gapList(); got != tc.want {
			t.Errorf("gapList(%v) = %q, want %q", tc.gaps, got, tc.want)
		}
	}
}
