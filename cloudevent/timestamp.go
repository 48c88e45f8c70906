package cloudevent

import "time"

// CloudEvents timestamps are RFC 3339 strings in every text encoding (JSON
// members, HTTP headers, the deliverat extension). The helpers here are the
// one place that reads and writes them, so all encodings agree.

const timeReason = "must be an RFC 3339 timestamp, like 2024-05-01T12:00:00Z or 2024-05-01T14:00:00.5+02:00"

// parseTime reads an RFC 3339 timestamp. The result's location is UTC for
// a zero offset and an unnamed fixed zone otherwise, whatever the machine's
// local zone is, so decoding never depends on where it runs.
func parseTime(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, err
	}
	return withFixedZone(t), nil
}

// withFixedZone moves t to UTC or to an unnamed zone with t's offset.
// time.FixedZone caches unnamed whole-hour zones, so the common cases do
// not allocate.
func withFixedZone(t time.Time) time.Time {
	_, off := t.Zone()
	if off == 0 {
		return t.UTC()
	}
	return t.In(time.FixedZone("", off))
}

// rfc3339Representable reports whether t's year fits the four digits
// RFC 3339 allows.
func rfc3339Representable(t time.Time) bool {
	y := t.Year()
	return y >= 0 && y <= 9999
}

// exactRFC3339 reports whether RFC 3339 can carry t without loss: a
// four-digit year, and a UTC offset in whole minutes under 24 hours.
func exactRFC3339(t time.Time) bool {
	_, off := t.Zone()
	return rfc3339Representable(t) && off%60 == 0 && off > -24*3600 && off < 24*3600
}

// appendTime appends t in RFC 3339 with as many fractional digits as
// needed. An offset RFC 3339 cannot write (seconds, or a day or more, which
// only hand-made zones have) is written as the same instant in UTC. The
// caller checks rfc3339Representable first.
func appendTime(dst []byte, t time.Time) []byte {
	if _, off := t.Zone(); off%60 != 0 || off <= -24*3600 || off >= 24*3600 {
		t = t.UTC()
	}
	return t.AppendFormat(dst, time.RFC3339Nano)
}
