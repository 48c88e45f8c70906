package cli

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
)

// sseEvent is one Server-Sent Events message.
type sseEvent struct {
	id    string // "id:"; Herald sends <partition>-<offset> or a delivery token
	event string // "event:"; empty means the default type, "message"
	data  []byte // the "data:" lines joined by "\n"
}

// maxSSELine bounds one line of a stream. An event is at most 1 MiB by
// default and its JSON (base64 for binary data) a third larger; 8 MiB
// leaves room for topics configured with larger events.
const maxSSELine = 8 << 20

// readSSE reads Server-Sent Events (the WHATWG HTML "server-sent events"
// format) from r and calls fn for each message, until r ends, fn returns
// an error, or a line is longer than maxSSELine:
//
//	id: 0-41                       ← fields, one per line, "name: value"
//	event: delivery
//	data: {"specversion":"1.0",…}  ← several data lines are joined by "\n"
//	                               ← a blank line ends the message
//	: keepalive                    ← a comment, skipped
//
// A message the stream ends in the middle of is dropped, as the format
// says. It returns nil when r ends cleanly.
func readSSE(r io.Reader, fn func(sseEvent) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxSSELine)
	var (
		ev      sseEvent
		data    bytes.Buffer
		hasData bool
	)
	for sc.Scan() {
		line := sc.Bytes()
		if len(line) == 0 {
			if hasData {
				ev.data = bytes.Clone(data.Bytes())
				if err := fn(ev); err != nil {
					return err
				}
			}
			ev, hasData = sseEvent{}, false
			data.Reset()
			continue
		}
		if line[0] == ':' {
			continue
		}
		name, value, _ := bytes.Cut(line, []byte(":"))
		value = bytes.TrimPrefix(value, []byte(" "))
		switch string(name) {
		case "data":
			if hasData {
				data.WriteByte('\n')
			}
			data.Write(value)
			hasData = true
		case "id":
			ev.id = string(value)
		case "event":
			ev.event = string(value)
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return fmt.Errorf("the event stream sent a line over %d MiB", maxSSELine>>20)
		}
		return err
	}
	return nil
}
