package server

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/heraldhq/herald/cloudevent"
	"github.com/heraldhq/herald/internal/broker"
	"github.com/heraldhq/herald/internal/wire"
)

// A DeadLetters RESULT is one frame: the server answers the first dead
// letters that fit, at least one, and the client lists on from there.
func TestDeadLettersFitTheirFrame(t *testing.T) {
	dls := make([]broker.DeadLetter, 3)
	sizes := make([]int, len(dls))
	for i := range dls {
		dls[i] = broker.DeadLetter{ID: int64(10 + i), Reason: "rejected: x", Topic: "t", Subscription: "s",
			Event: cloudevent.Event{ID: fmt.Sprint(i), Source: "urn:s", SpecVersion: "1.0", Type: "t", Data: []byte(strings.Repeat("d", 100*(i+1)))}}
		b, err := json.Marshal(&dls[i])
		if err != nil {
			t.Fatal(err)
		}
		sizes[i] = len(b)
	}
	all := 2 + sizes[0] + sizes[1] + sizes[2] + 2 // brackets and commas
	tests := []struct {
		name   string
		budget int
		want   []int64
	}{
		{"room for all", all, []int64{10, 11, 12}},
		{"one byte short of all", all - 1, []int64{10, 11}},
		{"room for two exactly", 2 + sizes[0] + 1 + sizes[1], []int64{10, 11}},
		{"room for one", 2 + sizes[0] + 1 + sizes[1] - 1, []int64{10}},
		{"less than one still gives one", 10, []int64{10}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw, err := deadLettersFitting(dls, tt.budget)
			if err != nil {
				t.Fatal(err)
			}
			if len(tt.want) > 1 && len(raw) > tt.budget {
				t.Errorf("%d bytes over a budget of %d", len(raw), tt.budget)
			}
			var got []broker.DeadLetter
			if err := json.Unmarshal(raw, &got); err != nil {
				t.Fatalf("not JSON: %v\n%s", err, raw)
			}
			ids := make([]int64, len(got))
			for i := range got {
				ids[i] = got[i].ID
			}
			if fmt.Sprint(ids) != fmt.Sprint(tt.want) {
				t.Errorf("ids %v, want %v", ids, tt.want)
			}
		})
	}
	if raw, err := deadLettersFitting(nil, 100); err != nil || string(raw) != "[]" {
		t.Errorf("no dead letters = %s, %v; want []", raw, err)
	}
}

// Ping answers null without touching the broker: a client's watchdog
// asks it of a connection that has been silent.
func TestPingIsAnsweredWithNull(t *testing.T) {
	sc := &streamConn{} // no broker: Ping must not need one
	result, err := sc.invoke(wire.MethodPing, []byte("{}"))
	if err != nil || result != nil {
		t.Fatalf("Ping = %v, %v; want nil, nil (RESULT null)", result, err)
	}
}

// CALL arguments come from the network: whatever a client sends, the
// server answers a result or an error and never panics. Two kinds of
// input are passed over, to keep the run useful rather than to hide
// anything: a topic configuration of more than 4 partitions (4,096 would
// be valid, and a few thousand such topics would fill the disk with
// partition files), and changes to the fixture t and s that every other
// method reads (deleting them would leave the fuzzer nothing to read).
func FuzzStreamCall(f *testing.F) {
	b := brokerWithDeadLetters(f, 1)
	ctx := f.Context()
	// The fuzzer picks a method by index, so that it tries each of them.
	methods := []string{wire.MethodTopic, wire.MethodTopics, wire.MethodSubscription, wire.MethodSubscriptions,
		wire.MethodStats, wire.MethodDeadLetters, wire.MethodRedrive, wire.MethodSeek, wire.MethodOffsetForTime,
		wire.MethodOffsets, wire.MethodPing, "NoSuchMethod",
		wire.MethodCreateTopic, wire.MethodUpdateTopic, wire.MethodDeleteTopic,
		wire.MethodCreateSubscription, wire.MethodUpdateSubscription, wire.MethodDeleteSubscription}
	index := func(m string) uint8 { return uint8(slices.Index(methods, m)) }
	for _, seed := range []struct{ method, args string }{
		{wire.MethodDeadLetters, `{"topic":"t","sub":"s","from":0,"limit":10}`},
		{wire.MethodDeadLetters, `{"topic":"t","sub":"s","from":-5,"limit":-1}`},
		{wire.MethodRedrive, `{"topic":"t","sub":"s","ids":[0,1,9223372036854775807,-1]}`},
		{wire.MethodRedrive, `{"topic":"t","sub":"s","ids":null}`},
		{wire.MethodStats, `{"topic":"t","name":"s"}`},
		{wire.MethodSubscriptions, `{"topic":"t"}`},
		{wire.MethodTopics, `{}`},
		{wire.MethodTopic, `{"name":"t"}`},
		{wire.MethodOffsets, `{"topic":"t","partition":99}`},
		{wire.MethodOffsetForTime, `{"topic":"t","partition":1,"time":"2026-01-01T00:00:00Z"}`},
		{wire.MethodSeek, `{"topic":"t","sub":"s","position":{"kind":"offset","offset":-3}}`},
		{wire.MethodPing, `{}`},
		{"NoSuchMethod", `{}`},
		{wire.MethodStats, `[1,2`},
		{wire.MethodCreateTopic, `{"name":"u","config":{"partitions":3,"retention":3600000000000,"dedupWindow":-1}}`},
		{wire.MethodCreateTopic, `{"name":"","config":{"partitions":-1}}`},
		{wire.MethodUpdateTopic, `{"name":"u","config":{"partitions":2}}`},
		{wire.MethodDeleteTopic, `{"name":"u"}`},
		{wire.MethodCreateSubscription, `{"topic":"t","name":"v","config":{"start":{"kind":"time","time":"2026-01-01T00:00:00Z"},"maxInFlight":3}}`},
		{wire.MethodUpdateSubscription, `{"topic":"t","name":"v","config":{"ackTimeout":-1}}`},
		{wire.MethodDeleteSubscription, `{"topic":"t","name":"v"}`},
	} {
		f.Add(index(seed.method), []byte(seed.args))
	}
	sc := &streamConn{b: b, work: ctx}
	f.Fuzz(func(t *testing.T, which uint8, args []byte) {
		method := methods[int(which)%len(methods)]
		if passOver(method, args) {
			return
		}
		result, err := sc.invoke(method, args)
		if err != nil {
			return
		}
		if _, err := json.Marshal(result); err != nil {
			t.Fatalf("%s(%s) answered %v, which does not encode: %v", method, args, result, err)
		}
	})
}

// passOver reports the inputs FuzzStreamCall leaves out: a topic of more
// than 4 partitions, and a change to the fixture topic t, its
// subscription s or s's dead-letter topic. It decodes as the server does;
// what does not decode goes through, for the server to refuse.
func passOver(method string, args []byte) bool {
	switch method {
	case wire.MethodCreateTopic, wire.MethodUpdateTopic, wire.MethodDeleteTopic:
		var a wire.TopicArgs
		if json.Unmarshal(args, &a) != nil {
			return false
		}
		fixture := a.Name == "t" || a.Name == broker.DeadLetterTopicName("t", "s")
		return a.Config.Partitions > 4 || (method != wire.MethodCreateTopic && fixture)
	case wire.MethodUpdateSubscription, wire.MethodDeleteSubscription:
		var a wire.SubscriptionArgs
		return json.Unmarshal(args, &a) == nil && a.Topic == "t" && a.Name == "s"
	}
	return false
}

// A DeadLetters CALL's limit is capped as the HTTP API's is, so that a
// client cannot make the broker gather a whole dead-letter topic in
// memory for one page.
func TestDeadLettersCallCapsItsLimit(t *testing.T) {
	b := brokerWithDeadLetters(t, 3)
	ctx := t.Context()
	defer func(old int) { deadLetterPageMax = old }(deadLetterPageMax)
	deadLetterPageMax = 2
	sc := &streamConn{b: b, work: ctx}
	result, err := sc.invoke(wire.MethodDeadLetters, []byte(`{"topic":"t","sub":"s","from":0,"limit":1000000000}`))
	if err != nil {
		t.Fatal(err)
	}
	var page []broker.DeadLetter
	if err := json.Unmarshal(result.(json.RawMessage), &page); err != nil || len(page) != 2 {
		t.Fatalf("a page asked for a billion of 3 dead letters with the cap at 2: %d, %v; want 2", len(page), err)
	}
}

// brokerWithDeadLetters opens a broker with topic t, subscription s
// (from the earliest) and n events of t rejected into s's dead letters.
func brokerWithDeadLetters(tb testing.TB, n int) *broker.Broker {
	tb.Helper()
	b, err := broker.Open(broker.Config{DataDir: tb.TempDir()})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { b.Close() })
	ctx := tb.Context()
	if _, err := b.CreateTopic(ctx, "t", broker.TopicConfig{Partitions: 2}); err != nil {
		tb.Fatal(err)
	}
	if _, err := b.CreateSubscription(ctx, "t", "s", broker.SubscriptionConfig{Start: broker.StartPosition{Kind: broker.StartEarliest}}); err != nil {
		tb.Fatal(err)
	}
	for i := range n {
		ev := cloudevent.Event{ID: fmt.Sprint(i), Source: "urn:s", SpecVersion: "1.0", Type: "x"}
		if _, err := b.Publish(ctx, "t", []cloudevent.Event{ev}); err != nil {
			tb.Fatal(err)
		}
		ds, err := b.Fetch(ctx, "t", "s", "c", 1)
		if err != nil || len(ds) != 1 {
			tb.Fatalf("fetch: %d, %v", len(ds), err)
		}
		if err := b.Reject(ctx, "t", "s", ds[0].Token, "no"); err != nil {
			tb.Fatal(err)
		}
	}
	return b
}
