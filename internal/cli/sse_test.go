package cli

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestReadSSE(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		input string
		want  []string // "id|event|data" per message
	}{
		{"one message", "id: 0-41\ndata: {\"a\":1}\n\n", []string{`0-41||{"a":1}`}},
		{"event name", "id: 0-41-7\nevent: delivery\ndata: x\n\n", []string{"0-41-7|delivery|x"}},
		{"data lines are joined", "data: a\ndata: b\n\n", []string{"||a\nb"}},
		{"comments and keepalives are skipped", ": keepalive\n\n: hi\ndata: x\n\n", []string{"||x"}},
		{"CRLF line ends", "id: 1-2\r\ndata: x\r\n\r\n", []string{"1-2||x"}},
		{"no space after the colon", "data:x\n\n", []string{"||x"}},
		{"fields without data make no message", "id: 3\n\ndata: y\n\n", []string{"||y"}},
		{"a message cut off by the end is dropped", "data: a\n\ndata: b\n", []string{"||a"}},
		{"retry and unknown fields are ignored", "retry: 100\nfoo: bar\ndata: z\n\n", []string{"||z"}},
		{"empty", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var got []string
			err := readSSE(strings.NewReader(tt.input), func(m sseEvent) error {
				got = append(got, fmt.Sprintf("%s|%s|%s", m.id, m.event, m.data))
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(got, ";") != strings.Join(tt.want, ";") {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestReadSSEStops(t *testing.T) {
	t.Parallel()
	stop := errors.New("stop")
	n := 0
	err := readSSE(strings.NewReader("data: 1\n\ndata: 2\n\n"), func(sseEvent) error { n++; return stop })
	if !errors.Is(err, stop) || n != 1 {
		t.Errorf("err %v after %d messages, want stop after 1", err, n)
	}
	long := "data: " + strings.Repeat("x", maxSSELine) + "\n\n"
	err = readSSE(strings.NewReader(long), func(sseEvent) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "line over 8 MiB") {
		t.Errorf("a too-long line: %v", err)
	}
}
