package broker

import (
	"context"
	"sync"
)

// queuedKey is the context key of a queuedHook.
type queuedKey struct{}

// queuedHook is the callback OnQueued attaches, called at most once.
type queuedHook struct {
	once sync.Once
	f    func()
}

// OnQueued returns a context under which a publish calls f once its events
// hold their place in their partitions: a publish started after f was
// called gets later offsets than these events in every partition they
// share. f is also called when the publish fails or returns first, so a
// caller waiting for it never waits longer than the publish.
//
// It lets one producer keep several batches in flight without reordering
// them, the way httptrace hooks ride on a request's context: the SDK's
// publisher starts its next batch when f is called, and the stream server
// reads a connection's next PUBLISH then.
//
// The remote client calls f for every request once it is sent. The SDK's
// subscriber uses that to keep two FETCH requests of one subscription in
// flight: the stream server takes a subscription consumer's FETCH frames
// in the order they arrive. The broker's own Fetch never calls f.
func OnQueued(ctx context.Context, f func()) context.Context {
	return context.WithValue(ctx, queuedKey{}, &queuedHook{f: f})
}

// Queued calls the callback OnQueued attached to ctx, if it has not been
// called yet; without one it does nothing. Backends other than the broker
// (the remote client) call it once a publish's order is fixed.
func Queued(ctx context.Context) {
	if h, ok := ctx.Value(queuedKey{}).(*queuedHook); ok {
		h.once.Do(h.f)
	}
}

// HasOnQueued reports whether ctx carries an OnQueued callback: the publish
// path skips its bookkeeping when nobody listens, and the remote client
// sends a FETCH under one only once (see remote.Conn.Fetch), since a
// request sent again would lose its place in line.
func HasOnQueued(ctx context.Context) bool {
	_, ok := ctx.Value(queuedKey{}).(*queuedHook)
	return ok
}
