package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"syscall"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/internal/broker"
	"github.com/heraldhq/herald/internal/remote"
)

// The streaming commands, tail and consume, use the Go SDK (package
// herald) over the streaming protocol, as herald bench does; the other
// commands use the HTTP API through Client. This file is what they share:
// the connection and the events as they print them.

// dial connects the SDK to the server at --url, giving up after
// --timeout, which also bounds each of the SDK's calls that take no
// context and is the connection's ping interval, so that a server that
// stops answering in the middle of a pull or a follow is given up after
// two to three times --timeout (see sdkError). Its errors read like
// Client's: what is wrong and what to do.
func (e *env) dial() (*herald.Client, error) {
	ctx, cancel := context.WithTimeout(e.ctx, e.timeout)
	defer cancel()
	c, err := herald.Dial(ctx, e.client.base, herald.WithCallTimeout(e.timeout), herald.WithPingInterval(e.timeout))
	if err == nil {
		return c, nil
	}
	var dnsErr *net.DNSError
	switch {
	case e.ctx.Err() != nil:
		return nil, e.ctx.Err()
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, syscall.ECONNREFUSED), errors.As(err, &dnsErr):
		return nil, e.client.transportError(e.ctx, err, e.timeout)
	}
	if inner := errors.Unwrap(err); inner != nil {
		err = inner // drop the SDK's "herald: dial <url>" prefix: the cause names the URL
	}
	return nil, fmt.Errorf("cannot open a stream to %s: %w", e.client.base, err)
}

// sdkError is err from an SDK call that --timeout bounded (the call's own
// timeout, not a context of the command's, or the connection's pings)
// read as the HTTP commands read theirs.
func (e *env) sdkError(err error) error {
	if err != nil && e.ctx.Err() == nil && (errors.Is(err, context.DeadlineExceeded) || errors.Is(err, remote.ErrSilent)) {
		return e.client.timeoutError(e.timeout)
	}
	return err
}

// hintIf adds a hint to err when it matches target.
func hintIf(err, target error, hint string) error {
	if errors.Is(err, target) {
		return fmt.Errorf("%w (%s)", err, hint)
	}
	return err
}

// storedEvent is m's event as the HTTP API serves stored events and
// deliveries: with the heraldtopic, heraldpartition, heraldoffset and
// heraldtime extensions, and heraldattempt for a delivery.
func storedEvent(m *herald.Message) herald.Event {
	st := broker.StoredEvent{Event: m.Event, Topic: m.Topic, Partition: m.Partition, Offset: m.Offset, PublishTime: m.PublishTime}
	return st.WithHeraldExtensions(m.Attempt)
}
