package cloudevent

import (
	"errors"
	"fmt"
	"strconv"
	"unicode/utf8"
)

var (
	// ErrInvalid: the event breaks a rule of the CloudEvents 1.0 spec or a
	// Herald convention. Every error that matches it is, or joins, one or
	// more *FieldError naming the attribute to fix. The HTTP layer answers
	// 400 Bad Request.
	ErrInvalid = errors.New("invalid event")
	// ErrMalformed: the bytes are not a well-formed encoding at all (broken
	// JSON, a truncated or damaged binary record), so no attribute can be
	// blamed. The message says where the decoder stopped.
	ErrMalformed = errors.New("malformed event encoding")
)

// FieldError names the attribute that made an event invalid, so the HTTP
// layer can point the client at it (errors.As works through errors.Join).
//
// Field is the attribute name as the client wrote it: a core attribute
// ("source"), an extension ("partitionkey"), or "data" / "data_base64".
// Inside a batch the element's index comes first, in brackets: "[3].source"
// is the source of the fourth event, and "[3]" blames the element itself
// (for example, it is not a JSON object). Names longer than 64 bytes are
// shortened, with "...", so hostile input cannot bloat error messages.
type FieldError struct {
	Field  string
	Reason string
}

func (e *FieldError) Error() string {
	return fmt.Sprintf("invalid event: field %q: %s", e.Field, e.Reason)
}

// Is makes every FieldError match ErrInvalid.
func (e *FieldError) Is(target error) bool { return target == ErrInvalid }

// fieldErr builds a *FieldError, shortening absurd field names.
func fieldErr(field, reason string) *FieldError {
	return &FieldError{Field: shortName(field), Reason: reason}
}

const maxFieldNameInError = 64

// shortName cuts name to maxFieldNameInError bytes, keeping it valid UTF-8.
func shortName(name string) string {
	if len(name) <= maxFieldNameInError {
		return name
	}
	cut := name[:maxFieldNameInError]
	for len(cut) > 0 && !utf8.ValidString(cut) {
		cut = cut[:len(cut)-1]
	}
	return cut + "..."
}

// malformed returns an error matching ErrMalformed.
func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
}

// atIndex rewrites err for element i of a batch: every *FieldError (also
// inside errors.Join) gets the "[i]." prefix, other errors are wrapped with
// the index in the message.
func atIndex(err error, i int) error {
	if err == nil {
		return nil
	}
	prefix := indexField(i)
	if joined, ok := err.(interface{ Unwrap() []error }); ok {
		errs := joined.Unwrap()
		out := make([]error, len(errs))
		for j, e := range errs {
			out[j] = atIndex(e, i)
		}
		return errors.Join(out...)
	}
	if fe, ok := err.(*FieldError); ok {
		field := prefix
		if fe.Field != "" {
			field += "." + fe.Field
		}
		return &FieldError{Field: field, Reason: fe.Reason}
	}
	return fmt.Errorf("event %s: %w", prefix, err)
}

// indexField names element i of a batch: "[3]".
func indexField(i int) string { return "[" + strconv.Itoa(i) + "]" }
