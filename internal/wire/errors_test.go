package wire

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/cloudevent"
	"github.com/heraldhq/herald/internal/broker"
	"github.com/heraldhq/herald/internal/commitlog"
)

// overTheWire is what a client gets for err: encoded by the server,
// decoded by the client.
func overTheWire(t *testing.T, err error) error {
	t.Helper()
	e, derr := DecodeError(AppendError(nil, ErrorFor(err)))
	if derr != nil {
		t.Fatalf("decoding the error of %v: %v", err, derr)
	}
	return e
}

func TestErrorsKeepTheirIdentityOverTheWire(t *testing.T) {
	invalidEvent := cloudevent.Event{ID: "1", SpecVersion: "1.0", Type: "t"} // no source
	ceErr := invalidEvent.Validate()
	if ceErr == nil {
		t.Fatal("test event unexpectedly valid")
	}
	var ceField *cloudevent.FieldError
	errors.As(ceErr, &ceField)
	_, malformed := cloudevent.ParseJSON([]byte("{"))
	tests := []struct {
		name      string
		err       error
		code      Code
		is        []error
		field     string // the *broker.FieldError errors.As must find, if any
		ceField   string // the *cloudevent.FieldError errors.As must find, if any
		sameText  bool
		checkText func(t *testing.T, got error)
	}{
		{name: "topic not found", err: fmt.Errorf("%w: %q (create it first)", broker.ErrTopicNotFound, "x"),
			code: CodeTopicNotFound, is: []error{broker.ErrTopicNotFound}, sameText: true},
		{name: "topic exists", err: fmt.Errorf("%w: %q", broker.ErrTopicExists, "x"), code: CodeTopicExists,
			is: []error{broker.ErrTopicExists}, sameText: true},
		{name: "subscription not found", err: fmt.Errorf("%w: s", broker.ErrSubscriptionNotFound), code: CodeSubscriptionNotFound,
			is: []error{broker.ErrSubscriptionNotFound}, sameText: true},
		{name: "subscription exists", err: fmt.Errorf("wrap: %w", broker.ErrSubscriptionExists), code: CodeSubscriptionExists,
			is: []error{broker.ErrSubscriptionExists}, sameText: true},
		{name: "field error", err: &broker.FieldError{Field: "max", Reason: "0: must be positive"}, code: CodeInvalid,
			is: []error{broker.ErrInvalid}, field: "max", sameText: true},
		{name: "joined field errors keep the first field", err: errors.Join(&broker.FieldError{Field: "retry.max", Reason: "r"},
			&broker.FieldError{Field: "ackTimeout", Reason: "r"}), code: CodeInvalid, is: []error{broker.ErrInvalid}, field: "retry.max", sameText: true},
		{name: "invalid event inside a publish", err: &broker.FieldError{Field: "events[2]." + ceField.Field, Reason: ceField.Reason, Err: ceErr},
			code: CodeInvalid, is: []error{broker.ErrInvalid, cloudevent.ErrInvalid}, field: "events[2].source", ceField: "source", sameText: true},
		{name: "bare cloudevent field error", err: ceErr, code: CodeEventInvalid, is: []error{cloudevent.ErrInvalid}, ceField: "source", sameText: true},
		{name: "malformed event", err: malformed, code: CodeEventMalformed, is: []error{cloudevent.ErrMalformed}, sameText: true},
		{name: "quota", err: &broker.QuotaError{Topic: "t", MaxBytes: 4096, Used: 4000, Requested: 500, RetryAfter: time.Minute},
			code: CodeQuotaExceeded, is: []error{broker.ErrQuotaExceeded}, sameText: true,
			checkText: func(t *testing.T, got error) {
				var q *broker.QuotaError
				if !errors.As(got, &q) || q.RetryAfter != time.Minute || q.Topic != "t" || q.MaxBytes != 4096 {
					t.Fatalf("QuotaError lost its details: %+v", q)
				}
			}},
		{name: "backpressure", err: fmt.Errorf("%w: consumer holds 5", broker.ErrBackpressure), code: CodeBackpressure,
			is: []error{broker.ErrBackpressure}, sameText: true},
		{name: "unknown token", err: fmt.Errorf("%w: x", broker.ErrUnknownToken), code: CodeUnknownToken, is: []error{broker.ErrUnknownToken}, sameText: true},
		{name: "lease expired", err: fmt.Errorf("%w: x", broker.ErrLeaseExpired), code: CodeLeaseExpired, is: []error{broker.ErrLeaseExpired}, sameText: true},
		{name: "event too large", err: fmt.Errorf("%w: events[0] is 9 bytes", broker.ErrEventTooLarge), code: CodeEventTooLarge,
			is: []error{broker.ErrEventTooLarge}, sameText: true},
		{name: "closed", err: broker.ErrClosed, code: CodeClosed, is: []error{broker.ErrClosed}, sameText: true},
		{name: "offset out of range", err: fmt.Errorf("read: %w", &commitlog.OutOfRangeError{Offset: 1, Earliest: 4, Next: 9}),
			code: CodeOffsetOutOfRange, is: []error{commitlog.ErrOffsetOutOfRange, broker.ErrOffsetOutOfRange}, sameText: true,
			checkText: func(t *testing.T, got error) {
				var r *commitlog.OutOfRangeError
				if !errors.As(got, &r) || r.Earliest != 4 || r.Next != 9 {
					t.Fatalf("OutOfRangeError lost its range: %+v", r)
				}
			}},
		{name: "canceled", err: fmt.Errorf("x: %w", context.Canceled), code: CodeCanceled, is: []error{context.Canceled}, sameText: true},
		{name: "deadline", err: context.DeadlineExceeded, code: CodeDeadlineExceeded, is: []error{context.DeadlineExceeded}, sameText: true},
		{name: "internal errors are not shown to clients", err: fmt.Errorf("%w: /data/x.log at 4", commitlog.ErrCorrupt), code: CodeInternal,
			checkText: func(t *testing.T, got error) {
				if got.Error() != InternalMessage {
					t.Fatalf("internal error text %q leaked, want %q", got, InternalMessage)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if c := ErrorFor(tt.err).Code; c != tt.code {
				t.Fatalf("code %v, want %v", c, tt.code)
			}
			got := overTheWire(t, tt.err)
			for _, s := range tt.is {
				if !errors.Is(got, s) {
					t.Errorf("errors.Is(%v, %v) = false", got, s)
				}
			}
			var fe *broker.FieldError
			if ok := errors.As(got, &fe); ok != (tt.field != "") || (ok && fe.Field != tt.field) {
				t.Errorf("errors.As *broker.FieldError = %v %+v, want field %q", ok, fe, tt.field)
			}
			var ce *cloudevent.FieldError
			if ok := errors.As(got, &ce); ok != (tt.ceField != "") || (ok && ce.Field != tt.ceField) {
				t.Errorf("errors.As *cloudevent.FieldError = %v %+v, want field %q", ok, ce, tt.ceField)
			}
			if tt.sameText && got.Error() != tt.err.Error() {
				t.Errorf("text %q, want the server's %q", got, tt.err)
			}
			if tt.checkText != nil {
				tt.checkText(t, got)
			}
		})
	}
}

func TestUnknownCodeKeepsTheMessage(t *testing.T) {
	got := overTheWire(t, &Error{Code: 99, Message: "something new"})
	if got.Error() != "something new" || !strings.Contains(Code(99).String(), "99") {
		t.Fatalf("got %q", got)
	}
}
