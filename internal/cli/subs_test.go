package cli

import (
	"testing"
)

// billingSub is a subscription description: the configuration of
// docs/http-api.md under "config" and its statistics under "stats".
const billingSub = `{"name": "billing", "topic": "orders",
 "config": {"filter": {"types": ["OrderPlaced", "OrderPaid"], "subjectPrefix": "eu/"},
            "ordering": "partition", "start": "earliest", "ackTimeout": "30s",
            "retry": {"initial": "1s", "multiplier": 2, "max": "1m", "jitter": 0.2, "maxDeliveries": 5},
            "maxInFlight": 1000, "maxInFlightPerConsumer": 100, "deadLetterTopic": "orders.billing.dlq"},
 "stats": {"lag": 12, "pending": 3, "inFlight": 2, "deadLettered": 1}}`

func TestSubsCreate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		args     []string
		status   int
		wantBody string
		wantOut  []string
	}{
		{"no flags", nil, 201, `{}`, []string{"created subscription billing on orders", "Lag:                12"}},
		{"every flag", []string{"--filter-type", "OrderPlaced", "--filter-type", "OrderPaid", "--subject-prefix", "eu/",
			"--ordering", "key", "--start", "2026-11-24T12:00:00Z", "--ack-timeout", "30s",
			"--retry-initial", "1s", "--retry-max", "1m", "--retry-multiplier", "2", "--retry-jitter", "0.2",
			"--retry-delays", "1s, 10s", "--max-deliveries", "-1", "--max-in-flight", "1000",
			"--max-in-flight-per-consumer", "100", "--dead-letter-topic", "orders.billing.dlq"}, 201,
			`{"filter":{"types":["OrderPlaced","OrderPaid"],"subjectPrefix":"eu/"},"ordering":"key","start":"2026-11-24T12:00:00Z",
			  "ackTimeout":"30s","retry":{"initial":"1s","multiplier":2,"max":"1m","jitter":0.2,"delays":["1s","10s"],"maxDeliveries":-1},
			  "maxInFlight":1000,"maxInFlightPerConsumer":100,"deadLetterTopic":"orders.billing.dlq"}`, nil},
		{"start at an offset", []string{"--start", "42"}, 201, `{"start":"42"}`, nil},
		{"existing", []string{"--ordering", "partition"}, 200, `{"ordering":"partition"}`,
			[]string{"subscription billing on orders already exists with this configuration"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFake(t)
			f.reply("PUT /v1/topics/{topic}/subscriptions/{sub}", tt.status, billingSub)
			r := runCLI(t, f.URL(), append([]string{"subs", "create", "orders", "billing"}, tt.args...)...)
			wantCode(t, r, 0)
			req := f.only(t)
			if req.Method != "PUT" || req.Path != "/v1/topics/orders/subscriptions/billing" || req.ContentType != "application/json" {
				t.Errorf("request %s %s (%s)", req.Method, req.Path, req.ContentType)
			}
			wantSameJSON(t, req.Body, tt.wantBody)
			wantContains(t, "stdout", r.stdout, tt.wantOut...)
		})
	}
}

func TestSubsDescribe(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	f.reply("GET /v1/topics/orders/subscriptions/billing", 200, billingSub)
	r := runCLI(t, f.URL(), "subs", "describe", "orders", "billing")
	wantCode(t, r, 0)
	want := `Subscription:       billing
Topic:              orders
Filter:             type OrderPlaced|OrderPaid, subject eu/*
Ordering:           partition
Start:              earliest
Ack timeout:        30s
Retry:              initial 1s, ×2, max 1m, jitter 0.2
Max deliveries:     5
Max in flight:      1000, 100 per consumer
Dead-letter topic:  orders.billing.dlq
Lag:                12
Pending:            3
In flight:          2
Dead-lettered:      1
`
	if r.stdout != want {
		t.Errorf("got:\n%s\nwant:\n%s", r.stdout, want)
	}
	r = runCLI(t, f.URL(), "subs", "show", "orders", "billing", "--json")
	wantCode(t, r, 0)
	wantSameJSON(t, []byte(r.stdout), billingSub)
}

// The contract does not fix where a description puts its statistics; the
// client also reads them (and the configuration) from the top level.
func TestSubsDescribeFlatShape(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	f.reply("GET /v1/topics/orders/subscriptions/billing", 200,
		`{"subscription":"billing","ordering":"key","start":{"kind":"offset","offset":4},"lag":7,"pending":0,"inFlight":1,"deadLettered":0}`)
	r := runCLI(t, f.URL(), "subs", "describe", "orders", "billing")
	wantCode(t, r, 0)
	wantContains(t, "stdout", r.stdout, "Subscription:       billing\n", "Ordering:           key\n",
		`Start:              {"kind":"offset","offset":4}`, "Lag:                7\n", "In flight:          1\n")
}

func TestSubsLs(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	list := `{"subscriptions":[` + billingSub + `,{"name":"audit","config":{},"stats":{"lag":0,"pending":0,"inFlight":0,"deadLettered":0}}]}`
	f.reply("GET /v1/topics/orders/subscriptions", 200, list)
	r := runCLI(t, f.URL(), "subs", "ls", "orders")
	wantCode(t, r, 0)
	want := "NAME     ORDERING   FILTER                                    LAG  PENDING  IN FLIGHT  DEAD-LETTERED\n" +
		"billing  partition  type OrderPlaced|OrderPaid, subject eu/*  12   3        2          1\n" +
		"audit    -          all events                                0    0        0          0\n"
	if r.stdout != want {
		t.Errorf("got:\n%s\nwant:\n%s", r.stdout, want)
	}
	r = runCLI(t, f.URL(), "subs", "ls", "orders", "--json")
	wantCode(t, r, 0)
	wantSameJSON(t, []byte(r.stdout), list)
}

func TestSubsSetSeekRm(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		args     []string
		route    string
		status   int
		answer   string
		wantBody string
		wantOut  string
	}{
		{"set sends only what changes", []string{"set", "orders", "billing", "--max-in-flight", "50", "--retry-max", "5m"},
			"PATCH /v1/topics/orders/subscriptions/billing", 200, billingSub,
			`{"maxInFlight":50,"retry":{"max":"5m"}}`, "updated subscription billing on orders"},
		{"seek", []string{"seek", "orders", "billing", "--to", "earliest"},
			"POST /v1/topics/orders/subscriptions/billing/seek", 204, "",
			`{"start":"earliest"}`, "subscription billing on orders now reads from earliest"},
		{"seek to a time, JSON", []string{"seek", "orders", "billing", "--to", "2026-11-24T12:00:00Z", "--json"},
			"POST /v1/topics/orders/subscriptions/billing/seek", 204, "",
			`{"start":"2026-11-24T12:00:00Z"}`, `"start": "2026-11-24T12:00:00Z"`},
		{"rm", []string{"rm", "orders", "billing"},
			"DELETE /v1/topics/orders/subscriptions/billing", 204, "",
			"", "deleted subscription billing on orders"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFake(t)
			f.reply(tt.route, tt.status, tt.answer)
			r := runCLI(t, f.URL(), append([]string{"subs"}, tt.args...)...)
			wantCode(t, r, 0)
			req := f.only(t)
			if req.Method+" "+req.Path != tt.route {
				t.Errorf("request %s %s, want %s", req.Method, req.Path, tt.route)
			}
			if tt.wantBody != "" {
				wantSameJSON(t, req.Body, tt.wantBody)
			}
			wantContains(t, "stdout", r.stdout, tt.wantOut)
		})
	}
}

func TestSubsErrors(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	f.problemReply("PUT /v1/topics/orders/subscriptions/billing", 409, "Already exists with another configuration", "subscription billing has ordering partition", "")
	f.problemReply("GET /v1/topics/orders/subscriptions/nope", 404, "Subscription not found", `subscription "nope" does not exist`, "subscription")
	f.problemReply("PUT /v1/topics/orders/subscriptions/bad", 400, "Invalid request", `field "retry.max": "1y" is not a duration`, "retry.max")
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"subs", "create", "orders", "billing", "--ordering", "key"}, "(change it with 'herald subs set orders billing')"},
		{[]string{"subs", "describe", "orders", "nope"}, `describe subscription "nope" on "orders": subscription not found: subscription "nope" does not exist (list subscriptions with 'herald subs ls orders')`},
		{[]string{"subs", "create", "orders", "bad"}, `invalid request: field "retry.max": "1y" is not a duration`},
	}
	for _, tt := range tests {
		r := runCLI(t, f.URL(), tt.args...)
		wantCode(t, r, 1)
		wantOneLineError(t, r, tt.want)
	}
}
