// Package cli is the herald command line: every command of the herald
// binary except `serve` (and `bench`). The streaming commands, tail and
// consume, are clients of the Go SDK (package herald, over the streaming
// protocol); the others of the HTTP API in docs/http-api.md. cmd/herald
// calls Run; nothing else in Herald imports this package.
//
// What it owns:
//
//   - Dispatch and flags (cli.go, flags.go, help.go, version.go): one
//     flag.FlagSet per command, flags accepted before or after the
//     positional arguments, the global flags --url (env HERALD_URL), --json
//     and --timeout on every command, and the help text.
//   - A small typed HTTP client (client.go for transport and errors,
//     wire.go for the JSON shapes, endpoints.go with one method per
//     endpoint). It speaks CloudEvents through package cloudevent and has
//     no codec of its own.
//   - The SDK connection of tail and consume (sdk.go): dialing within
//     --timeout, its errors worded like the HTTP client's, and events
//     printed with the herald extensions, exactly as the HTTP API serves
//     them.
//   - Output (output.go, eventline.go): aligned tables with restrained
//     colour on a terminal, or JSON for scripts.
//   - One file per command group: topics.go, publish.go (and
//     publish_input.go, reading stdin), tail.go, consume.go, subs.go,
//     dlq.go.
//
// What it guarantees:
//
//   - Exit codes: 0 success, 1 the command failed (the server said no, or
//     could not be reached), 2 usage error (bad flags or arguments; the
//     server was not contacted), 130 interrupted (the context was
//     cancelled, as on Ctrl-C) during a command that is not a stream.
//     tail and consume treat cancellation as the normal way to stop and
//     exit 0.
//   - A failure prints exactly one line on stderr, "herald: <what went
//     wrong>: <why>", naming the field the server blamed; a usage error
//     adds a second line with the usage.
//   - Colour only when stdout (for tables) or stderr (for errors) is a
//     terminal, NO_COLOR is unset or empty, TERM is not "dumb", and --json
//     is off.
//   - With --json, commands that answer once print one JSON document (the
//     server's answer, indented); commands that stream — publish, tail and
//     consume — print JSON lines, one compact document per result, event
//     or delivery, so `herald tail --json | jq` and `wc -l` work.
//   - consume settles only deliveries it has written to stdout, and settles
//     what it printed even when interrupted (within --timeout).
//
// What it does not do: it keeps no state between runs, has no
// configuration file, does not retry failed requests (429 and 503 report
// the server's Retry-After instead; a following tail that loses its
// connection says how to resume), and does not use the push endpoints
// (SSE and WebSocket subscriptions); consume pulls.
package cli
