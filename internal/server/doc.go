// Package server is Herald's HTTP front door: the API of docs/http-api.md,
// push delivery over Server-Sent Events and WebSocket, health, and the
// OpenAPI document, over one *broker.Broker.
//
// What it owns: turning HTTP into broker calls and broker errors into
// problem+json (problem.go is the only place that maps errors to status
// codes), request limits (body, event, header sizes; timeouts against slow
// clients), readiness, and graceful shutdown.
//
// What it guarantees: a publish is answered only after the broker has
// stored the events under the sync policy; bad input gets a 4xx naming the
// field and never reaches storage half-done (batches are all or nothing);
// a panic in a handler becomes a 500 for that request, never a crash.
//
// What it does not do: authentication and TLS (put Herald behind a proxy
// that does), or any broker logic.
package server
