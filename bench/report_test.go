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
