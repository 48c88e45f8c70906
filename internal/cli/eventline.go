package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"mime"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/heraldhq/herald/cloudevent"
)

// previewRunes is how much of an event's data one line shows.
const previewRunes = 100

// lineTimeLayout is RFC 3339 with milliseconds, fixed width for one zone.
const lineTimeLayout = "2006-01-02T15:04:05.000Z07:00"

// eventLine renders an event for people, on one line:
//
//	2026-11-24T12:00:00.120Z  2/41  OrderPlaced  eu/42  {"total":12.5}
//
// The time is when Herald stored the event (heraldtime), else the event's
// own time; the position is partition/offset; the data is a preview.
// Missing values show as "-". extra, when not empty, is appended.
func (o *output) eventLine(ev *cloudevent.Event, extra string) string {
	parts := []string{
		o.paint(ansiDim, eventTime(ev)),
		o.paint(ansiDim, eventPosition(ev)),
		o.paint(ansiCyan, clean(orDash(ev.Type))),
		clean(orDash(ev.Subject)),
		dataPreview(ev),
	}
	if extra != "" {
		parts = append(parts, extra)
	}
	return strings.Join(parts, "  ")
}

func eventTime(ev *cloudevent.Event) string {
	if s := ev.Extension(cloudevent.ExtHeraldTime); s != "" {
		if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
			return t.Format(lineTimeLayout)
		}
		return clean(s)
	}
	if !ev.Time.IsZero() {
		return ev.Time.Format(lineTimeLayout)
	}
	return "-"
}

// eventPosition is "partition/offset" from the broker's extensions.
func eventPosition(ev *cloudevent.Event) string {
	p, off := ev.Extension(cloudevent.ExtHeraldPartition), ev.Extension(cloudevent.ExtHeraldOffset)
	if p == "" || off == "" {
		return "-"
	}
	return clean(p + "/" + off)
}

// dataPreview shows the start of an event's data: compacted JSON, text,
// or the size and media type of anything else.
func dataPreview(ev *cloudevent.Event) string {
	if ev.Data == nil {
		return "-"
	}
	mt := mediaType(ev.DataContentType)
	switch {
	case isJSONType(mt) && json.Valid(ev.Data):
		var b bytes.Buffer
		if json.Compact(&b, ev.Data) == nil {
			return truncate(clean(b.String()), previewRunes)
		}
	case (mt == "" || isTextType(mt)) && utf8.Valid(ev.Data):
		return truncate(clean(string(ev.Data)), previewRunes)
	}
	return fmt.Sprintf("[%d bytes %s]", len(ev.Data), orDash(clean(mt)))
}

// mediaType is the lower-case type/subtype of a Content-Type.
func mediaType(ct string) string {
	if mt, _, err := mime.ParseMediaType(ct); err == nil {
		return mt
	}
	return strings.ToLower(strings.TrimSpace(ct))
}

func isJSONType(mt string) bool {
	return strings.HasSuffix(mt, "/json") || strings.HasSuffix(mt, "+json")
}

func isTextType(mt string) bool {
	return strings.HasPrefix(mt, "text/") || isJSONType(mt) ||
		mt == "application/xml" || strings.HasSuffix(mt, "+xml")
}
