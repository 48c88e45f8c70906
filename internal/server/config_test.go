package server

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestLoadConfigPrecedence(t *testing.T) {
	file := filepath.Join(t.TempDir(), "herald.json")
	os.WriteFile(file, []byte(`{"data": "/from-file", "listen": "127.0.0.1:1", "writeTimeout": "7s", "sync": "none"}`), 0o644)
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want func(Config) bool
	}{
		{"defaults", nil, nil, func(c Config) bool { return c == DefaultConfig() }},
		{"file over defaults", []string{"--config", file}, nil, func(c Config) bool {
			return c.DataDir == "/from-file" && c.WriteTimeout == 7*time.Second && c.Sync == "none"
		}},
		{"env over file", []string{"--config", file}, map[string]string{"HERALD_DATA": "/from-env"}, func(c Config) bool {
			return c.DataDir == "/from-env" && c.Listen == "127.0.0.1:1"
		}},
		{"flag over env", []string{"--config", file, "--data", "/from-flag"}, map[string]string{"HERALD_DATA": "/from-env"}, func(c Config) bool {
			return c.DataDir == "/from-flag"
		}},
		{"config file from env", nil, map[string]string{"HERALD_CONFIG": file}, func(c Config) bool {
			return c.DataDir == "/from-file"
		}},
		{"bool and size flags", []string{"--auto-create-topics=false", "--max-body-bytes", "9000", "--max-event-bytes", "4096", "--listen", "0.0.0.0:80"}, nil, func(c Config) bool {
			return !c.AutoCreateTopics && c.MaxBodyBytes == 9000 && c.Listen == "0.0.0.0:80"
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := LoadConfig(tt.args, envOf(tt.env))
			if err != nil {
				t.Fatal(err)
			}
			if !tt.want(c) {
				t.Fatalf("config %+v", c)
			}
		})
	}
}

func TestLoadConfigErrorsNameTheSetting(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.json")
	os.WriteFile(bad, []byte(`{"dta": "/x"}`), 0o644)
	tests := []struct {
		args []string
		env  map[string]string
		want string
	}{
		{[]string{"--listen", "nowhere"}, nil, "--listen"},
		{[]string{"--sync", "sometimes"}, nil, "--sync"},
		{[]string{"--max-body-bytes", "lots"}, nil, "--max-body-bytes"},
		{[]string{"--write-timeout", "5"}, nil, "--write-timeout"},
		{nil, map[string]string{"HERALD_IDLE_TIMEOUT": "soon"}, "HERALD_IDLE_TIMEOUT"},
		{[]string{"--config", bad}, nil, `unknown field "dta"`},
		{[]string{"--no-such-flag"}, nil, "no-such-flag"},
		{[]string{"extra"}, nil, `unexpected argument "extra"`},
		{[]string{"--max-event-bytes", "99999999"}, nil, "--max-event-bytes"},
	}
	for _, tt := range tests {
		_, err := LoadConfig(tt.args, envOf(tt.env))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("LoadConfig(%v, %v) error = %v, want it to mention %q", tt.args, tt.env, err, tt.want)
		}
	}
}

func TestLoadConfigAnswersHelpWithTheUsage(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"-h"}, {"--data", "/x", "-help"}} {
		_, err := LoadConfig(args, envOf(nil))
		var help *HelpError
		if !errors.As(err, &help) || !errors.Is(err, flag.ErrHelp) {
			t.Fatalf("LoadConfig(%v) = %v, want a *HelpError", args, err)
		}
		if !strings.HasPrefix(help.Usage, "usage: herald serve [flags]") || !strings.Contains(help.Usage, "-data") {
			t.Errorf("usage %q", help.Usage)
		}
	}
	var help *HelpError
	if _, err := LoadConfig([]string{"--no-such-flag"}, envOf(nil)); errors.As(err, &help) {
		t.Errorf("a bad flag answered as help: %v", err)
	}
}
