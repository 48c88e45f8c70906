package cli

import (
	"context"
	"net/http"
	"strings"
	"testing"
)

func TestDispatchAndHelp(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		args       []string
		code       int
		stdout     []string // substrings
		stderr     []string
		emptyStdio bool
	}{
		{"no command is a usage error", nil, 2, nil, []string{"herald: no command given", "usage: herald <command>"}, false},
		{"unknown command", []string{"frobnicate"}, 2, nil, []string{`herald: unknown command "frobnicate"`, "usage:"}, false},
		{"group without subcommand", []string{"topics"}, 2, nil, []string{"topics needs a subcommand: create, ls, describe, set, rm"}, false},
		{"unknown subcommand", []string{"subs", "frob"}, 2, nil, []string{`unknown command "subs frob"`}, false},
		{"help lists every command", []string{"help"}, 0, []string{"Commands:", "herald topics create NAME", "herald dlq redrive TOPIC SUB [ID...]", "herald serve", "--url URL"}, nil, false},
		{"--help", []string{"--help"}, 0, []string{"Commands:"}, nil, false},
		{"-h", []string{"-h"}, 0, []string{"Commands:"}, nil, false},
		{"group help", []string{"topics", "--help"}, 0, []string{"usage: herald topics <command>", "herald topics describe NAME"}, nil, false},
		{"help group", []string{"help", "dlq"}, 0, []string{"herald dlq show TOPIC SUB ID"}, nil, false},
		{"help command", []string{"help", "topics", "create"}, 0, []string{"usage: herald topics create NAME [flags]", "--partitions N", "--retention duration", "Global flags:", "--timeout duration"}, nil, false},
		{"command --help", []string{"publish", "--help"}, 0, []string{"usage: herald publish TOPIC [flags]", "--stdin-lines", "--ext name=value", "Examples:"}, nil, false},
		{"command -h after args", []string{"tail", "orders", "-h"}, 0, []string{"usage: herald tail TOPIC [flags]"}, nil, false},
		{"alias", []string{"topics", "list", "--help"}, 0, []string{"usage: herald topics ls [flags]"}, nil, false},
		{"version", []string{"version"}, 0, []string{"herald ", "go1."}, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := runCLI(t, refusedURL(t), tt.args...)
			wantCode(t, r, tt.code)
			wantContains(t, "stdout", r.stdout, tt.stdout...)
			wantContains(t, "stderr", r.stderr, tt.stderr...)
			if tt.code == 0 && r.stderr != "" {
				t.Errorf("stderr not empty on success: %s", r.stderr)
			}
		})
	}
}

func TestVersionJSON(t *testing.T) {
	t.Parallel()
	r := runCLI(t, "", "version", "--json")
	wantCode(t, r, 0)
	var v map[string]string
	wantJSON(t, r.stdout, &v)
	if v["version"] == "" || !strings.HasPrefix(v["go"], "go") {
		t.Errorf("version JSON = %v", v)
	}
}

// Usage errors exit 2 with the reason and the usage line, and never reach
// the server.
func TestUsageErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"topics", "create"}, "missing NAME"},
		{[]string{"topics", "create", "a", "b"}, `unexpected argument "b"`},
		{[]string{"topics", "create", "a", "--bogus"}, "unknown flag --bogus"},
		{[]string{"topics", "create", "a", "--partitions", "x"}, `invalid value "x" for flag -partitions`},
		{[]string{"topics", "create", "a", "--partitions", "0"}, "--partitions 0: must be at least 1"},
		{[]string{"topics", "create", "a", "--retention", "7d"}, `--retention "7d": use a duration like 30s or 168h or forever`},
		{[]string{"topics", "create", "a", "--dedup-window", "x"}, "or off"},
		{[]string{"topics", "set", "a"}, "nothing to change"},
		{[]string{"topics", "describe"}, "missing NAME"},
		{[]string{"publish"}, "missing TOPIC"},
		{[]string{"publish", "t", "--data", "x", "--file", "f"}, "only one of --data, --file and --stdin-lines"},
		{[]string{"publish", "t", "--stdin-lines", "--id", "x"}, "--id names one event"},
		{[]string{"publish", "t", "--data", "x", "--ext", "novalue"}, `--ext "novalue": use name=value`},
		{[]string{"publish", "t", "--data", "x", "--ext", "heraldoffset=1"}, "reserved for the broker"},
		{[]string{"publish", "t", "--data", "x", "--deliver-at", "tomorrow"}, `--deliver-at "tomorrow"`},
		{[]string{"publish", "t", "--data", "x", "--batch", "0"}, "--batch 0"},
		{[]string{"tail"}, "missing TOPIC"},
		{[]string{"tail", "t", "--from", "yesterday"}, `--from "yesterday": use earliest, latest, an offset`},
		{[]string{"tail", "t", "--from", "-3"}, "must not be negative"},
		{[]string{"tail", "t", "--from", "latest", "--follow=false"}, "--from latest without --follow reads nothing"},
		{[]string{"consume", "t"}, "missing SUB"},
		{[]string{"consume", "t", "s", "--ack", "maybe"}, `--ack "maybe": use ack, nack, reject or none`},
		{[]string{"consume", "t", "s", "--wait", "2m"}, "--wait 2m0s: use 0s to 1m0s"},
		{[]string{"consume", "t", "s", "--wait", "0s"}, "busy loop"},
		{[]string{"subs", "create", "t"}, "missing SUB"},
		{[]string{"subs", "create", "t", "s", "--ordering", "fifo"}, `--ordering "fifo": use none, partition or key`},
		{[]string{"subs", "create", "t", "s", "--retry-delays", "1s,soon"}, `--retry-delays "soon"`},
		{[]string{"subs", "create", "t", "s", "--max-deliveries", "0"}, "-1 for no limit"},
		{[]string{"subs", "create", "t", "s", "--retry-multiplier", "NaN"}, "--retry-multiplier NaN"},
		{[]string{"subs", "set", "t", "s"}, "nothing to change"},
		{[]string{"subs", "seek", "t", "s"}, "missing --to"},
		{[]string{"subs", "seek", "t", "s", "--to", "soon"}, `--to "soon"`},
		{[]string{"dlq", "show", "t", "s", "abc"}, `dead-letter id "abc"`},
		{[]string{"dlq", "redrive", "t", "s"}, "refusing to redrive every dead letter without --all"},
		{[]string{"dlq", "redrive", "t", "s", "1", "--all"}, "ids or --all, not both"},
		{[]string{"dlq", "ls", "t", "s", "--limit", "0"}, "--limit 0"},
		{[]string{"topics", "ls", "--timeout", "0s"}, "--timeout 0s: must be positive"},
		{[]string{"topics", "ls", "--url", "ftp://x"}, `--url "ftp://x": use the server's address`},
		{[]string{"--bogus", "topics", "ls"}, "unknown flag --bogus"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			t.Parallel()
			f := newFake(t)
			r := runCLI(t, f.URL(), tt.args...)
			wantCode(t, r, 2)
			lines := splitLines(r.stderr)
			if len(lines) != 2 || !strings.HasPrefix(lines[1], "usage: herald") {
				t.Fatalf("stderr is not a reason and a usage line:\n%s", r.stderr)
			}
			wantContains(t, "stderr", lines[0], "herald: ", tt.want)
			if r.stdout != "" {
				t.Errorf("stdout not empty: %s", r.stdout)
			}
			if n := len(f.requests()); n != 0 {
				t.Errorf("a usage error sent %d requests", n)
			}
		})
	}
}

func TestServerAddress(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	f.reply("GET /v1/topics", 200, `{"topics":[]}`)
	hostPort := strings.TrimPrefix(f.URL(), "http://")
	tests := []struct {
		name string
		env  string
		args []string
	}{
		{"from HERALD_URL", f.URL(), []string{"topics", "ls"}},
		{"--url after the command", refusedURL(t), []string{"topics", "ls", "--url", f.URL()}},
		{"--url before the command", refusedURL(t), []string{"--url", f.URL(), "topics", "ls"}},
		{"no scheme means http", "", []string{"topics", "ls", "--url", hostPort}},
		{"trailing slash", "", []string{"topics", "ls", "--url", f.URL() + "/"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runCLI(t, tt.env, tt.args...)
			wantCode(t, r, 0)
			wantContains(t, "stdout", r.stdout, "no topics yet")
		})
	}
}

func TestConnectionRefused(t *testing.T) {
	t.Parallel()
	url := refusedURL(t)
	r := runCLI(t, url, "topics", "ls")
	wantCode(t, r, 1)
	wantOneLineError(t, r, "list topics: the server is not reachable at "+url, "herald serve", "HERALD_URL")
}

func TestTimeout(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	f.handle("GET /v1/topics", func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
	r := runCLI(t, f.URL(), "topics", "ls", "--timeout", "50ms")
	wantCode(t, r, 1)
	wantOneLineError(t, r, "no answer from "+f.URL()+" within 50ms", "raise --timeout")
}

// Cancelling the context (Ctrl-C) during a request exits 130.
func TestInterrupted(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	arrived := make(chan struct{})
	f.handle("GET /v1/topics/{topic}", func(w http.ResponseWriter, r *http.Request) {
		close(arrived)
		<-r.Context().Done()
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch := runAsync(t, cliOpts{ctx: ctx, url: f.URL()}, "topics", "describe", "orders")
	waitSignal(t, arrived)
	cancel()
	r := waitResult(t, ch)
	wantCode(t, r, 130)
	wantOneLineError(t, r, "herald: interrupted")
}

// Error answers become one line that names the field, with the server's
// detail, and exit 1.
func TestAPIErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		serve func(w http.ResponseWriter, r *http.Request)
		want  []string
	}{
		{"detail names the field", func(w http.ResponseWriter, r *http.Request) {
			writeProblem(w, 400, "Invalid request", `field "retention": "7d" is not a duration`, "retention")
		}, []string{`herald: create topic "orders": invalid request: field "retention": "7d" is not a duration`}},
		{"field added when the detail omits it", func(w http.ResponseWriter, r *http.Request) {
			writeProblem(w, 400, "Invalid request", "must be positive", "partitions")
		}, []string{`invalid request: field "partitions": must be positive`}},
		{"conflict has a hint", func(w http.ResponseWriter, r *http.Request) {
			writeProblem(w, 409, "Already exists with another configuration", "topic orders has 4 partitions", "")
		}, []string{"already exists with another configuration: topic orders has 4 partitions (change it with 'herald topics set orders')"}},
		{"retry after", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Retry-After", "5")
			writeProblem(w, 503, "Not ready", "recovery is running", "")
		}, []string{"not ready: recovery is running; retry in 5s"}},
		{"a body that is not problem+json", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(502)
			w.Write([]byte("<h1>Bad gateway</h1>\n<p>nginx</p>"))
		}, []string{"HTTP 502 Bad Gateway: <h1>Bad gateway</h1>"}},
		{"a detail that repeats the title stands alone", func(w http.ResponseWriter, r *http.Request) {
			writeProblem(w, 409, "Topic exists with another configuration", "topic orders exists with another configuration", "")
		}, []string{`herald: create topic "orders": topic orders exists with another configuration (change it`}},
		{"multi-line detail stays one line", func(w http.ResponseWriter, r *http.Request) {
			writeProblem(w, 400, "Invalid request", "first\nsecond", "")
		}, []string{"first second"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFake(t)
			f.handle("PUT /v1/topics/{topic}", tt.serve)
			r := runCLI(t, f.URL(), "topics", "create", "orders")
			wantCode(t, r, 1)
			wantOneLineError(t, r, tt.want...)
		})
	}
}

func TestColour(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	f.reply("GET /v1/topics", 200, `{"topics":[{"name":"orders","partitions":1,"config":{},"bytes":0,"offsets":[]}]}`)
	f.problemReply("GET /v1/topics/{topic}", 404, "Topic not found", `topic "nope" does not exist`, "topic")
	tests := []struct {
		name     string
		opts     cliOpts
		args     []string
		wantANSI bool
	}{
		{"terminal", cliOpts{terminal: true}, []string{"topics", "ls"}, true},
		{"not a terminal", cliOpts{}, []string{"topics", "ls"}, false},
		{"NO_COLOR", cliOpts{terminal: true, env: map[string]string{"NO_COLOR": "1"}}, []string{"topics", "ls"}, false},
		{"TERM=dumb", cliOpts{terminal: true, env: map[string]string{"TERM": "dumb"}}, []string{"topics", "ls"}, false},
		{"--json", cliOpts{terminal: true}, []string{"topics", "ls", "--json"}, false},
		{"error on a terminal", cliOpts{terminal: true}, []string{"topics", "describe", "nope"}, true},
		{"error with NO_COLOR", cliOpts{terminal: true, env: map[string]string{"NO_COLOR": "x"}}, []string{"topics", "describe", "nope"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.opts.url = f.URL()
			r := runOpts(t, tt.opts, tt.args...)
			got := strings.Contains(r.stdout+r.stderr, "\x1b[")
			if got != tt.wantANSI {
				t.Errorf("ANSI escapes: %v, want %v\nstdout: %q\nstderr: %q", got, tt.wantANSI, r.stdout, r.stderr)
			}
			if tt.wantANSI && r.code == 0 && !strings.HasPrefix(r.stdout, ansiBold+"NAME") {
				t.Errorf("the table header is not bold: %q", r.stdout)
			}
			if tt.wantANSI && r.code == 1 && !strings.HasPrefix(r.stderr, ansiRed+"herald: ") {
				t.Errorf("the error is not red: %q", r.stderr)
			}
		})
	}
}
