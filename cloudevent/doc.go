// Package cloudevent is Herald's event model: the CloudEvents 1.0 Event
// that the broker stores, the HTTP API accepts and serves, and the Go SDK
// hands to applications, together with every encoding of it.
//
// What it owns:
//
//   - Event, its Herald extensions (partitionkey, deliverat, traceparent,
//     correlationid, causationid) and the names the broker reserves for
//     itself (heraldtopic, heraldpartition, heraldoffset, heraldtime,
//     heraldattempt, and any other name starting with "herald").
//   - Validate: the CloudEvents 1.0 rules plus Herald's limits, reported as
//     *FieldError values that name the attribute to fix.
//   - The JSON format: ParseJSON / MarshalJSON for structured mode
//     (application/cloudevents+json) and ParseBatchJSON / MarshalBatchJSON
//     for batches (application/cloudevents-batch+json).
//   - HTTP binary mode: FromHTTP and WriteHTTPHeaders map attributes to
//     ce-* headers; ModeOf tells the mode from a Content-Type.
//   - The storage codec: MarshalBinary / AppendBinary / UnmarshalBinary, a
//     versioned, compact, deterministic record drawn in binary.go.
//
// What it guarantees:
//
//   - Decoders never panic on any input, and allocate in proportion to
//     their input, not to lengths the input claims.
//   - Every encoding keeps a valid event exactly: decoding what an encoder
//     wrote gives an Equal event, Data byte for byte. (HTTP binary mode
//     alone cannot tell empty data from none.) The storage codec does so
//     for any event, valid or not. The fuzz tests check, for every decoder,
//     that whatever it accepts survives re-encoding.
//   - The storage encoding of an event is unique: equal events give equal
//     bytes, and the decoder accepts nothing else.
//   - Errors match ErrInvalid (a rule is broken; errors.As finds the
//     *FieldError) or ErrMalformed (the bytes are not an encoding at all).
//
// What it does not do:
//
//   - Decoders do not validate; call Validate on what clients send. The
//     HTTP layer does this once per event.
//   - It knows nothing of topics, partitions or offsets beyond the names of
//     the extensions that carry them, and does no I/O: callers read bodies
//     and enforce size limits.
//   - It does not interpret Data, beyond deciding how the JSON format
//     carries it.
//   - Only CloudEvents 1.0 and its JSON format; other formats are reported
//     as ModeUnsupported.
package cloudevent
