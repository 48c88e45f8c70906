package wire

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/heraldhq/herald/cloudevent"
	"github.com/heraldhq/herald/internal/broker"
	"github.com/heraldhq/herald/internal/commitlog"
)

// Error body: the payload of ERROR (a whole request failed) and of each
// failed item of SETTLED.
//
//	code         1 byte, not 0: the Code below
//	message      uvarint length + bytes: the server's error text, which
//	             says what happened and what to do
//	field count  uvarint, then per field error:
//	  origin     1 byte: 1 = *broker.FieldError, 2 = *cloudevent.FieldError,
//	             3 = *broker.FieldError wrapping a *cloudevent.FieldError
//	  field      uvarint length + bytes
//	  reason     uvarint length + bytes
//	  if origin 3: the inner field and reason, two more strings
//	details, by code:
//	  QuotaExceeded:    topic (string), max bytes, used, requested,
//	                    retry after (nanoseconds): five varints after the topic
//	  OffsetOutOfRange: offset, earliest, next: three varints
//	  any other:        nothing
//
// The client rebuilds from it an error that matches what the broker
// returned in process: errors.Is finds the same sentinel, errors.As the
// same *broker.FieldError (with its field), *cloudevent.FieldError,
// *broker.QuotaError or *commitlog.OutOfRangeError.

// Code names the broker condition behind an error, stable on the wire.
type Code uint8

// Codes. New codes may be added; a client treats one it does not know as
// CodeInternal, keeping the server's message.
const (
	CodeOK                   Code = 0
	CodeInternal             Code = 1
	CodeInvalid              Code = 2  // broker.ErrInvalid
	CodeTopicNotFound        Code = 3  // broker.ErrTopicNotFound
	CodeTopicExists          Code = 4  // broker.ErrTopicExists
	CodeSubscriptionNotFound Code = 5  // broker.ErrSubscriptionNotFound
	CodeSubscriptionExists   Code = 6  // broker.ErrSubscriptionExists
	CodeQuotaExceeded        Code = 7  // broker.ErrQuotaExceeded, *broker.QuotaError
	CodeBackpressure         Code = 8  // broker.ErrBackpressure
	CodeUnknownToken         Code = 9  // broker.ErrUnknownToken
	CodeLeaseExpired         Code = 10 // broker.ErrLeaseExpired
	CodeEventTooLarge        Code = 11 // broker.ErrEventTooLarge
	CodeClosed               Code = 12 // broker.ErrClosed: the server is shutting down
	CodeOffsetOutOfRange     Code = 13 // commitlog.ErrOffsetOutOfRange, *commitlog.OutOfRangeError
	CodeEventInvalid         Code = 14 // cloudevent.ErrInvalid
	CodeEventMalformed       Code = 15 // cloudevent.ErrMalformed
	CodeCanceled             Code = 16 // context.Canceled
	CodeDeadlineExceeded     Code = 17 // context.DeadlineExceeded
	CodeProtocol             Code = 18 // ErrMalformed: the request frame was not understood
)

var sentinels = map[Code]error{
	CodeInvalid:              broker.ErrInvalid,
	CodeTopicNotFound:        broker.ErrTopicNotFound,
	CodeTopicExists:          broker.ErrTopicExists,
	CodeSubscriptionNotFound: broker.ErrSubscriptionNotFound,
	CodeSubscriptionExists:   broker.ErrSubscriptionExists,
	CodeQuotaExceeded:        broker.ErrQuotaExceeded,
	CodeBackpressure:         broker.ErrBackpressure,
	CodeUnknownToken:         broker.ErrUnknownToken,
	CodeLeaseExpired:         broker.ErrLeaseExpired,
	CodeEventTooLarge:        broker.ErrEventTooLarge,
	CodeClosed:               broker.ErrClosed,
	CodeOffsetOutOfRange:     commitlog.ErrOffsetOutOfRange,
	CodeEventInvalid:         cloudevent.ErrInvalid,
	CodeEventMalformed:       cloudevent.ErrMalformed,
	CodeCanceled:             context.Canceled,
	CodeDeadlineExceeded:     context.DeadlineExceeded,
	CodeProtocol:             ErrMalformed,
}

func (c Code) String() string {
	if c == CodeOK {
		return "ok"
	}
	if err, ok := sentinels[c]; ok {
		return err.Error()
	}
	if c == CodeInternal {
		return "internal error"
	}
	return fmt.Sprintf("error code %d", uint8(c))
}

// Origin says which Go type a FieldError stands for.
type Origin uint8

const (
	OriginBroker     Origin = 1 // *broker.FieldError
	OriginCloudEvent Origin = 2 // *cloudevent.FieldError
	OriginBoth       Origin = 3 // *broker.FieldError wrapping a *cloudevent.FieldError
)

// FieldError is a field error on the wire.
type FieldError struct {
	Origin                  Origin
	Field, Reason           string
	InnerField, InnerReason string // OriginBoth only
}

// Error is a failed request as the wire carries it. The server builds it
// with ErrorFor; on the client it is the error the call returns: Error()
// is the server's message, and it unwraps to rebuilt broker errors.
type Error struct {
	Code    Code
	Message string
	Fields  []FieldError
	Quota   *broker.QuotaError         // CodeQuotaExceeded only
	Range   *commitlog.OutOfRangeError // CodeOffsetOutOfRange only
}

func (e *Error) Error() string {
	if e.Message == "" {
		return e.Code.String()
	}
	return e.Message
}

// Unwrap gives errors.Is and errors.As what the broker's own error held:
// the field errors, the quota or range error, and the code's sentinel.
func (e *Error) Unwrap() []error {
	var out []error
	for _, f := range e.Fields {
		switch f.Origin {
		case OriginCloudEvent:
			out = append(out, &cloudevent.FieldError{Field: f.Field, Reason: f.Reason})
		case OriginBoth:
			out = append(out, &broker.FieldError{Field: f.Field, Reason: f.Reason,
				Err: &cloudevent.FieldError{Field: f.InnerField, Reason: f.InnerReason}})
		default:
			out = append(out, &broker.FieldError{Field: f.Field, Reason: f.Reason})
		}
	}
	if e.Quota != nil {
		q := *e.Quota
		out = append(out, &q)
	}
	if e.Range != nil {
		r := *e.Range
		out = append(out, &r)
	}
	if s := sentinels[e.Code]; s != nil {
		out = append(out, s)
	}
	return out
}

// InternalMessage is what the client is told of a server fault; the
// server logs the real error.
const InternalMessage = "the server failed to complete the request; stored events are safe. See the server log."

// maxFieldErrors bounds the field errors one Error carries.
const maxFieldErrors = 64

// ErrorFor maps any error a broker call returned to its wire form. This
// and Unwrap are the two ends of the error mapping.
func ErrorFor(err error) *Error {
	var we *Error
	if errors.As(err, &we) {
		return we
	}
	e := &Error{Code: codeFor(err), Message: err.Error(), Fields: collectFields(err, nil)}
	switch e.Code {
	case CodeInternal:
		e.Message = InternalMessage
		e.Fields = nil
	case CodeQuotaExceeded:
		e.Quota = &broker.QuotaError{}
		errors.As(err, &e.Quota)
	case CodeOffsetOutOfRange:
		e.Range = &commitlog.OutOfRangeError{}
		errors.As(err, &e.Range)
	}
	return e
}

func codeFor(err error) Code {
	var bf *broker.FieldError
	switch {
	case errors.Is(err, context.Canceled):
		return CodeCanceled
	case errors.Is(err, context.DeadlineExceeded):
		return CodeDeadlineExceeded
	case errors.Is(err, broker.ErrClosed):
		return CodeClosed
	case errors.Is(err, broker.ErrQuotaExceeded):
		return CodeQuotaExceeded
	case errors.Is(err, broker.ErrEventTooLarge):
		return CodeEventTooLarge
	case errors.Is(err, commitlog.ErrOffsetOutOfRange):
		return CodeOffsetOutOfRange
	case errors.As(err, &bf), errors.Is(err, broker.ErrInvalid):
		return CodeInvalid
	case errors.Is(err, cloudevent.ErrInvalid):
		return CodeEventInvalid
	case errors.Is(err, cloudevent.ErrMalformed):
		return CodeEventMalformed
	case errors.Is(err, ErrMalformed):
		return CodeProtocol
	case errors.Is(err, broker.ErrTopicNotFound):
		return CodeTopicNotFound
	case errors.Is(err, broker.ErrTopicExists):
		return CodeTopicExists
	case errors.Is(err, broker.ErrSubscriptionNotFound):
		return CodeSubscriptionNotFound
	case errors.Is(err, broker.ErrSubscriptionExists):
		return CodeSubscriptionExists
	case errors.Is(err, broker.ErrBackpressure):
		return CodeBackpressure
	case errors.Is(err, broker.ErrUnknownToken):
		return CodeUnknownToken
	case errors.Is(err, broker.ErrLeaseExpired):
		return CodeLeaseExpired
	}
	return CodeInternal
}

// collectFields finds the field errors in err's tree, outermost first. A
// broker field error's own cause is kept as its inner field, not listed.
func collectFields(err error, out []FieldError) []FieldError {
	if err == nil || len(out) >= maxFieldErrors {
		return out
	}
	switch e := err.(type) {
	case *broker.FieldError:
		f := FieldError{Origin: OriginBroker, Field: e.Field, Reason: e.Reason}
		var ce *cloudevent.FieldError
		if e.Err != nil && errors.As(e.Err, &ce) {
			f.Origin, f.InnerField, f.InnerReason = OriginBoth, ce.Field, ce.Reason
		}
		return append(out, f)
	case *cloudevent.FieldError:
		return append(out, FieldError{Origin: OriginCloudEvent, Field: e.Field, Reason: e.Reason})
	case interface{ Unwrap() []error }:
		for _, c := range e.Unwrap() {
			out = collectFields(c, out)
		}
		return out
	case interface{ Unwrap() error }:
		return collectFields(e.Unwrap(), out)
	}
	return out
}

// AppendError appends e as an ERROR payload.
func AppendError(dst []byte, e *Error) []byte { return e.appendBody(dst) }

func (e *Error) appendBody(dst []byte) []byte {
	code := e.Code
	if code == CodeOK {
		code = CodeInternal
	}
	dst = append(dst, byte(code))
	dst = appendString(dst, e.Message)
	fields := e.Fields[:min(len(e.Fields), maxFieldErrors)]
	dst = appendUvarint(dst, uint64(len(fields)))
	for _, f := range fields {
		origin := f.Origin
		if origin != OriginCloudEvent && origin != OriginBoth {
			origin = OriginBroker
		}
		dst = append(dst, byte(origin))
		dst = appendString(dst, f.Field)
		dst = appendString(dst, f.Reason)
		if origin == OriginBoth {
			dst = appendString(dst, f.InnerField)
			dst = appendString(dst, f.InnerReason)
		}
	}
	switch code {
	case CodeQuotaExceeded:
		q := e.Quota
		if q == nil {
			q = &broker.QuotaError{}
		}
		dst = appendString(dst, q.Topic)
		for _, v := range [...]int64{q.MaxBytes, q.Used, q.Requested, int64(q.RetryAfter)} {
			dst = appendVarint(dst, v)
		}
	case CodeOffsetOutOfRange:
		r := e.Range
		if r == nil {
			r = &commitlog.OutOfRangeError{}
		}
		for _, v := range [...]int64{r.Offset, r.Earliest, r.Next} {
			dst = appendVarint(dst, v)
		}
	}
	return dst
}

// DecodeError decodes an ERROR payload.
func DecodeError(b []byte) (*Error, error) {
	d := decoder{b: b, what: "ERROR"}
	e := d.status()
	if d.err == nil && e == nil {
		d.fail("code 0 in an ERROR")
	}
	return e, d.done()
}

// status reads one SETTLED status: nil for done, else an error body.
func (d *decoder) status() *Error {
	code := Code(d.byte())
	if code == CodeOK || d.err != nil {
		return nil
	}
	e := &Error{Code: code, Message: d.string()}
	n := d.uvarint()
	if n > maxFieldErrors || n > uint64(d.left()/3) {
		d.fail("%d field errors", n)
		return nil
	}
	if n > 0 {
		e.Fields = make([]FieldError, 0, n)
	}
	for range n {
		f := FieldError{Origin: Origin(d.byte()), Field: d.string(), Reason: d.string()}
		switch f.Origin {
		case OriginBroker, OriginCloudEvent:
		case OriginBoth:
			f.InnerField, f.InnerReason = d.string(), d.string()
		default:
			d.fail("field error origin %d", f.Origin)
		}
		e.Fields = append(e.Fields, f)
	}
	switch code {
	case CodeQuotaExceeded:
		e.Quota = &broker.QuotaError{Topic: d.string(), MaxBytes: d.varint(), Used: d.varint(), Requested: d.varint(),
			RetryAfter: time.Duration(d.varint())}
	case CodeOffsetOutOfRange:
		e.Range = &commitlog.OutOfRangeError{Offset: d.varint(), Earliest: d.varint(), Next: d.varint()}
	}
	return e
}
