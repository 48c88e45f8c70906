package herald

import (
	"context"
	"errors"
	"testing"
)

// A PublishError's message says which events failed, so that a log line
// alone finds them, and whether publishing them again is safe.
func TestPublishErrorMessage(t *testing.T) {
	cause := errors.New("connection lost")
	tests := []struct {
		name string
		err  PublishError
		want string
	}{
		{"before the events had ids", PublishError{Topic: "orders", Err: errors.New("invalid type: must not be empty")},
			`herald: publish to "orders" failed (not retryable: fix the event or the topic): invalid type: must not be empty`},
		{"one event", PublishError{Topic: "orders", Err: cause, Retryable: true, IDs: []string{"a1"}},
			`herald: publish of event "a1" to "orders" failed (retryable: publishing the same event again is safe (deduplicated by source and id)): connection lost`},
		{"a batch", PublishError{Topic: "orders", Err: context.DeadlineExceeded, Retryable: true, IDs: []string{"a1", "a2", "a3"}},
			`herald: publish of 3 events (ids "a1" to "a3") to "orders" failed (retryable: publishing the same events again is safe (deduplicated by source and id)): context deadline exceeded`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.err.Error(); got != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}
