package cli

import (
	"encoding/json"
	"testing"
)

// ordersTopic is the topic description of docs/http-api.md.
const ordersTopic = `{"name": "orders", "partitions": 2,
 "config": {"partitions": 2, "retention": "168h0m0s", "retentionBytes": 0,
            "maxEventBytes": 1048576, "dedupWindow": "2m0s", "maxBytes": 0},
 "bytes": 123456,
 "offsets": [{"partition": 0, "earliest": 0, "next": 120}, {"partition": 1, "earliest": 5, "next": 7}]}`

func TestTopicsCreate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		args     []string
		wantBody string // the JSON body sent, compared as JSON
		status   int
		wantOut  []string
	}{
		{"no flags sends an empty config", []string{"orders"}, `{}`, 201,
			[]string{"created topic orders", "Partitions:", "Retention:        168h0m0s", "Max event bytes:  1.0 MiB", "Stored:           122 events, 120.6 KiB", "PARTITION  EARLIEST  NEXT  EVENTS", "1          5         7     2"}},
		{"every flag", []string{"orders", "--partitions", "4", "--retention", "forever", "--retention-bytes", "0",
			"--max-event-bytes", "2048", "--dedup-window", "off", "--max-bytes", "1000000"},
			`{"partitions":4,"retention":"forever","retentionBytes":0,"maxEventBytes":2048,"dedupWindow":"off","maxBytes":1000000}`, 201,
			[]string{"created topic orders"}},
		{"flags before the name", []string{"--partitions=3", "--retention", "24h", "orders"}, `{"partitions":3,"retention":"24h"}`, 201, nil},
		{"existing topic with the same config", []string{"orders", "--partitions", "2"}, `{"partitions":2}`, 200,
			[]string{"topic orders already exists with this configuration"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFake(t)
			f.reply("PUT /v1/topics/{topic}", tt.status, ordersTopic)
			r := runCLI(t, f.URL(), append([]string{"topics", "create"}, tt.args...)...)
			wantCode(t, r, 0)
			req := f.only(t)
			if req.Method != "PUT" || req.Path != "/v1/topics/orders" || req.ContentType != "application/json" {
				t.Errorf("request %s %s (%s), want PUT /v1/topics/orders (application/json)", req.Method, req.Path, req.ContentType)
			}
			wantSameJSON(t, req.Body, tt.wantBody)
			wantContains(t, "stdout", r.stdout, tt.wantOut...)
		})
	}
}

func TestTopicsCreateJSON(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	f.reply("PUT /v1/topics/{topic}", 201, ordersTopic)
	r := runCLI(t, f.URL(), "topics", "create", "orders", "--json")
	wantCode(t, r, 0)
	wantSameJSON(t, []byte(r.stdout), ordersTopic)
}

func TestTopicsSet(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	f.reply("PATCH /v1/topics/{topic}", 200, ordersTopic)
	r := runCLI(t, f.URL(), "topics", "set", "orders", "--retention", "720h")
	wantCode(t, r, 0)
	req := f.only(t)
	if req.Method != "PATCH" || req.Path != "/v1/topics/orders" {
		t.Errorf("request %s %s", req.Method, req.Path)
	}
	wantSameJSON(t, req.Body, `{"retention":"720h"}`) // omitted fields keep their values
	wantContains(t, "stdout", r.stdout, "updated topic orders")
}

func TestTopicsLs(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	list := `{"topics": [` + ordersTopic + `, {"name":"audit","partitions":1,"config":{"retention":"forever"},"bytes":512,"offsets":[{"partition":0,"earliest":0,"next":3}]}]}`
	f.reply("GET /v1/topics", 200, list)

	r := runCLI(t, f.URL(), "topics", "ls")
	wantCode(t, r, 0)
	want := "NAME    PARTITIONS  EVENTS  BYTES      RETENTION\n" +
		"orders  2           122     120.6 KiB  168h0m0s\n" +
		"audit   1           3       512 B      forever\n"
	if r.stdout != want {
		t.Errorf("table:\n%s\nwant:\n%s", r.stdout, want)
	}

	r = runCLI(t, f.URL(), "topics", "ls", "--json")
	wantCode(t, r, 0)
	wantSameJSON(t, []byte(r.stdout), list)
}

func TestTopicsDescribe(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	f.reply("GET /v1/topics/{topic}", 200, ordersTopic)
	r := runCLI(t, f.URL(), "topics", "describe", "orders")
	wantCode(t, r, 0)
	wantContains(t, "stdout", r.stdout, "Name:             orders\n", "Dedup window:     2m0s\n", "Retention bytes:  no limit\n", "0          0         120   120\n")
	if req := f.only(t); req.Method != "GET" || req.Path != "/v1/topics/orders" {
		t.Errorf("request %s %s", req.Method, req.Path)
	}
}

func TestTopicsRm(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	f.reply("DELETE /v1/topics/{topic}", 204, "")
	r := runCLI(t, f.URL(), "topics", "rm", "orders")
	wantCode(t, r, 0)
	wantContains(t, "stdout", r.stdout, "deleted topic orders")
	if req := f.only(t); req.Method != "DELETE" || req.Path != "/v1/topics/orders" {
		t.Errorf("request %s %s", req.Method, req.Path)
	}
	r = runCLI(t, f.URL(), "topics", "delete", "orders", "--json")
	wantCode(t, r, 0)
	wantSameJSON(t, []byte(r.stdout), `{"topic":"orders","deleted":true}`)
}

func TestTopicsErrors(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	f.problemReply("GET /v1/topics/{topic}", 404, "Topic not found", `topic "nope" does not exist`, "topic")
	f.problemReply("DELETE /v1/topics/{topic}", 404, "Topic not found", `topic "nope" does not exist`, "topic")
	f.problemReply("PUT /v1/topics/{topic}", 400, "Invalid request", "1–200 characters from A-Za-z0-9._-", "topic")
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"topics", "describe", "nope"}, `herald: describe topic "nope": topic not found: topic "nope" does not exist (list topics with 'herald topics ls')`},
		{[]string{"topics", "rm", "nope"}, `herald: delete topic "nope": topic not found`},
		{[]string{"topics", "create", "bad name"}, `herald: create topic "bad name": invalid request: field "topic": 1–200 characters`},
	}
	for _, tt := range tests {
		r := runCLI(t, f.URL(), tt.args...)
		wantCode(t, r, 1)
		wantOneLineError(t, r, tt.want)
	}
	// The name is escaped into one path segment.
	for _, req := range f.requests() {
		if req.Method == "PUT" && req.Path != "/v1/topics/bad%20name" {
			t.Errorf("path %q, want /v1/topics/bad%%20name", req.Path)
		}
	}
}

// wantSameJSON compares two JSON documents by value.
func wantSameJSON(t *testing.T, got []byte, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("got invalid JSON (%v): %s", err, got)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("want invalid JSON (%v): %s", err, want)
	}
	gb, _ := json.Marshal(g)
	wb, _ := json.Marshal(w)
	if string(gb) != string(wb) {
		t.Errorf("JSON differs:\n got %s\nwant %s", gb, wb)
	}
}
