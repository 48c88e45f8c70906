package cli

import (
	"encoding/json"
	"time"

	"github.com/heraldhq/herald/cloudevent"
)

// The JSON shapes of docs/http-api.md that the CLI sends and reads.
// Configuration fields are pointers so that a request carries only what
// the user gave (PATCH keeps what is omitted) and a description tells
// "not reported" from zero. Types that the CLI prints with --json keep the
// server's bytes in Raw, so scripts see every field the server sent, not
// only the ones this version of the CLI knows.

// TopicConfig is the body of PUT and PATCH /v1/topics/{topic}, and the
// "config" of a topic description.
type TopicConfig struct {
	Partitions     *int    `json:"partitions,omitempty"`
	Retention      *string `json:"retention,omitempty"` // duration or "forever"
	RetentionBytes *int64  `json:"retentionBytes,omitempty"`
	MaxEventBytes  *int64  `json:"maxEventBytes,omitempty"`
	DedupWindow    *string `json:"dedupWindow,omitempty"` // duration or "off"
	MaxBytes       *int64  `json:"maxBytes,omitempty"`
}

// Topic is a topic description (GET /v1/topics/{topic}).
type Topic struct {
	Name       string             `json:"name"`
	Partitions int                `json:"partitions"`
	Config     TopicConfig        `json:"config"`
	Bytes      int64              `json:"bytes"`
	Offsets    []PartitionOffsets `json:"offsets"`

	Raw json.RawMessage `json:"-"`
}

// PartitionOffsets is the stored range of one partition: earliest is the
// first offset still stored, next the offset the next event will get.
type PartitionOffsets struct {
	Partition int   `json:"partition"`
	Earliest  int64 `json:"earliest"`
	Next      int64 `json:"next"`
}

// Events is how many events the topic stores now.
func (t *Topic) Events() int64 {
	var n int64
	for _, o := range t.Offsets {
		n += o.Next - o.Earliest
	}
	return n
}

// PublishResult is where one published event landed.
type PublishResult struct {
	ID        string `json:"id"`
	Partition int    `json:"partition"`
	Offset    int64  `json:"offset"`
	Duplicate bool   `json:"duplicate"`

	Raw json.RawMessage `json:"-"`
}

// SubscriptionConfig is the body of PUT and PATCH
// /v1/topics/{topic}/subscriptions/{sub}, and the configuration part of a
// description.
type SubscriptionConfig struct {
	Filter                 *Filter      `json:"filter,omitempty"`
	Ordering               *string      `json:"ordering,omitempty"` // none, partition or key
	Start                  *anyString   `json:"start,omitempty"`    // earliest, latest, offset or time
	AckTimeout             *string      `json:"ackTimeout,omitempty"`
	Retry                  *RetryPolicy `json:"retry,omitempty"`
	MaxInFlight            *int         `json:"maxInFlight,omitempty"`
	MaxInFlightPerConsumer *int         `json:"maxInFlightPerConsumer,omitempty"`
	DeadLetterTopic        *string      `json:"deadLetterTopic,omitempty"`
}

// Filter selects the events a subscription receives.
type Filter struct {
	Types         []string `json:"types,omitempty"`
	SubjectPrefix *string  `json:"subjectPrefix,omitempty"`
}

// RetryPolicy says when a failed delivery is retried and when it is
// dead-lettered.
type RetryPolicy struct {
	Initial       *string  `json:"initial,omitempty"`
	Multiplier    *float64 `json:"multiplier,omitempty"`
	Max           *string  `json:"max,omitempty"`
	Jitter        *float64 `json:"jitter,omitempty"`
	Delays        []string `json:"delays,omitempty"`
	MaxDeliveries *int     `json:"maxDeliveries,omitempty"`
}

// anyString is sent as a JSON string and read from any JSON value: the
// contract gives "start" as a string, but a description that reports it
// as an object should still print rather than fail.
type anyString string

func (s *anyString) UnmarshalJSON(b []byte) error {
	var v string
	if err := json.Unmarshal(b, &v); err == nil {
		*s = anyString(v)
		return nil
	}
	*s = anyString(b)
	return nil
}

// SubscriptionStats are a subscription's statistics.
type SubscriptionStats struct {
	Lag          int64 `json:"lag"`
	Pending      int64 `json:"pending"`
	InFlight     int64 `json:"inFlight"`
	DeadLettered int64 `json:"deadLettered"`
}

// Subscription is a subscription description with its statistics.
//
// The contract shows the configuration and the statistics but not the
// shape around them. UnmarshalJSON reads the name from "name" (or
// "subscription"), the configuration from "config" or else the top level,
// and the statistics from "stats", "statistics" or else the top level.
type Subscription struct {
	Name   string
	Topic  string
	Config SubscriptionConfig
	Stats  SubscriptionStats

	Raw json.RawMessage
}

func (s *Subscription) UnmarshalJSON(b []byte) error {
	var top struct {
		Name         string              `json:"name"`
		Subscription string              `json:"subscription"`
		Topic        string              `json:"topic"`
		Config       *SubscriptionConfig `json:"config"`
		Stats        *SubscriptionStats  `json:"stats"`
		Statistics   *SubscriptionStats  `json:"statistics"`
	}
	if err := json.Unmarshal(b, &top); err != nil {
		return err
	}
	*s = Subscription{Name: top.Name, Topic: top.Topic, Raw: append(json.RawMessage(nil), b...)}
	if s.Name == "" {
		s.Name = top.Subscription
	}
	switch {
	case top.Config != nil:
		s.Config = *top.Config
	default:
		if err := json.Unmarshal(b, &s.Config); err != nil {
			return err
		}
	}
	switch {
	case top.Stats != nil:
		s.Stats = *top.Stats
	case top.Statistics != nil:
		s.Stats = *top.Statistics
	default:
		if err := json.Unmarshal(b, &s.Stats); err != nil {
			return err
		}
	}
	return nil
}

// DeadLetter is an event a subscription gave up on.
type DeadLetter struct {
	ID           int64            `json:"id"`
	Reason       string           `json:"reason"`
	Error        string           `json:"error"`
	Attempts     int              `json:"attempts"`
	Topic        string           `json:"topic"`
	Partition    int              `json:"partition"`
	Offset       int64            `json:"offset"`
	Subscription string           `json:"subscription"`
	Time         time.Time        `json:"time"`
	Redriven     bool             `json:"redriven"`
	Event        cloudevent.Event `json:"event"`

	Raw json.RawMessage `json:"-"`
}
