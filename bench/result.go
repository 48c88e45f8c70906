package main

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/heraldhq/herald/internal/latency"
)

// result is what one run of one row on one system measured. Latencies are
// in microseconds; zero means the row does not measure that one.
type result struct {
	Events       int64   `json:"events"`
	Seconds      float64 `json:"seconds"`
	EventsPerSec float64 `json:"events_per_sec"`
	MiBPerSec    float64 `json:"mib_per_sec"`
	P50us        float64 `json:"p50_us"`
	P90us        float64 `json:"p90_us"`
	P99us        float64 `json:"p99_us"`
	P999us       float64 `json:"p999_us"`
	// PublishEventsPerSec is the publisher's own rate in the fan-out row.
	PublishEventsPerSec float64 `json:"publish_events_per_sec,omitempty"`
	Note                string  `json:"note,omitempty"`
}

// throughput fills the rate fields from a count of events of size bytes
// done in elapsed.
func throughput(events int64, size int, elapsed time.Duration) result {
	secs := elapsed.Seconds()
	if secs <= 0 {
		secs = math.SmallestNonzeroFloat64
	}
	eps := float64(events) / secs
	return result{Events: events, Seconds: secs, EventsPerSec: eps, MiBPerSec: eps * float64(size) / (1 << 20)}
}

// withLatency copies the quantiles of h into r.
func (r result) withLatency(h *latency.Histogram) result {
	if h == nil || h.Count() == 0 {
		return r
	}
	r.P50us, r.P90us, r.P99us, r.P999us = h.Micros()
	return r
}

// median combines the repetitions of one row: each number is the median of
// that number over the runs (the lower middle one for an even count), and
// the notes of the runs are merged (mergeNotes).
func median(runs []result) result {
	if len(runs) == 0 {
		return result{}
	}
	pick := func(f func(result) float64) float64 {
		vs := make([]float64, len(runs))
		for i, r := range runs {
			vs[i] = f(r)
		}
		slices.Sort(vs)
		return vs[(len(vs)-1)/2]
	}
	m := result{
		Events:              int64(pick(func(r result) float64 { return float64(r.Events) })),
		Seconds:             pick(func(r result) float64 { return r.Seconds }),
		EventsPerSec:        pick(func(r result) float64 { return r.EventsPerSec }),
		MiBPerSec:           pick(func(r result) float64 { return r.MiBPerSec }),
		P50us:               pick(func(r result) float64 { return r.P50us }),
		P90us:               pick(func(r result) float64 { return r.P90us }),
		P99us:               pick(func(r result) float64 { return r.P99us }),
		P999us:              pick(func(r result) float64 { return r.P999us }),
		PublishEventsPerSec: pick(func(r result) float64 { return r.PublishEventsPerSec }),
	}
	m.Note = mergeNotes(runs)
	return m
}

// mergeNotes keeps one example of each kind of note the runs made (notes
// that differ only in their numbers are one kind) and, with several runs,
// says in how many runs it came up.
func mergeNotes(runs []result) string {
	type kind struct {
		example string
		count   int
	}
	var kinds []*kind
	byKey := map[string]*kind{}
	for _, r := range runs {
		if r.Note == "" {
			continue
		}
		for _, n := range strings.Split(r.Note, "; ") {
			key := strings.Map(func(c rune) rune {
				if c >= '0' && c <= '9' {
					return '#'
				}
				return c
			}, n)
			k := byKey[key]
			if k == nil {
				k = &kind{example: n}
				byKey[key] = k
				kinds = append(kinds, k)
			}
			k.count++
		}
	}
	parts := make([]string, len(kinds))
	for i, k := range kinds {
		parts[i] = k.example
		if len(runs) > 1 {
			parts[i] += fmt.Sprintf(" (%d of %d runs)", k.count, len(runs))
		}
	}
	return strings.Join(parts, "; ")
}
