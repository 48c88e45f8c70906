package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/heraldhq/herald/internal/broker"
)

// The JSON shapes of docs/http-api.md. Durations travel as Go duration
// strings; the broker's types use time.Duration, so conversions live here.

func parseDuration(s string) (time.Duration, error) {
	switch s {
	case "forever", "off", "-1":
		return -1, nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf(`%q is not a duration such as "30s" or "168h"`, s)
	}
	if v < 0 {
		return 0, fmt.Errorf("%q must not be negative", s)
	}
	return v, nil
}

type topicConfigJSON struct {
	Partitions     *int    `json:"partitions,omitempty"`
	Retention      *string `json:"retention,omitempty"`
	RetentionBytes *int64  `json:"retentionBytes,omitempty"`
	MaxEventBytes  *int    `json:"maxEventBytes,omitempty"`
	DedupWindow    *string `json:"dedupWindow,omitempty"`
	MaxBytes       *int64  `json:"maxBytes,omitempty"`
}

// applyTo overwrites the fields the request set.
func (j topicConfigJSON) applyTo(c *broker.TopicConfig) error {
	if j.Partitions != nil {
		c.Partitions = *j.Partitions
	}
	if err := setDuration(&c.Retention, j.Retention, "retention"); err != nil {
		return err
	}
	if j.RetentionBytes != nil {
		c.RetentionBytes = *j.RetentionBytes
	}
	if j.MaxEventBytes != nil {
		c.MaxEventBytes = *j.MaxEventBytes
	}
	if err := setDuration(&c.DedupWindow, j.DedupWindow, "dedupWindow"); err != nil {
		return err
	}
	if j.MaxBytes != nil {
		c.MaxBytes = *j.MaxBytes
	}
	return nil
}

// setDuration parses an optional duration field into dst, naming the
// field in the error.
func setDuration(dst *time.Duration, v *string, field string) error {
	if v == nil {
		return nil
	}
	d, err := parseDuration(*v)
	if err != nil {
		return badRequest(field, fmt.Sprintf("field %q: %v", field, err))
	}
	*dst = d
	return nil
}

func topicConfigView(c broker.TopicConfig) map[string]any {
	ret := any(c.Retention.String())
	if c.Retention < 0 {
		ret = "forever"
	}
	dedup := any(c.DedupWindow.String())
	if c.DedupWindow < 0 {
		dedup = "off"
	}
	return map[string]any{
		"partitions": c.Partitions, "retention": ret, "retentionBytes": c.RetentionBytes,
		"maxEventBytes": c.MaxEventBytes, "dedupWindow": dedup, "maxBytes": c.MaxBytes,
	}
}

// decodeJSON reads a JSON request body into v, rejecting unknown fields
// and trailing data; an empty body leaves v as it is. Errors name the field.
func decodeJSON(body io.Reader, v any) error {
	data, err := io.ReadAll(body)
	if err != nil {
		return err
	}
	if strings.TrimSpace(string(data)) == "" {
		return nil
	}
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonProblem(err)
	}
	if dec.More() {
		return badRequest("", "the body holds more than one JSON value")
	}
	return nil
}

func jsonProblem(err error) *problem {
	var (
		syntax *json.SyntaxError
		typ    *json.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &syntax):
		return badRequest("", fmt.Sprintf("malformed JSON at byte %d: %v", syntax.Offset, err))
	case errors.As(err, &typ):
		return badRequest(typ.Field, fmt.Sprintf("field %q: expected %s, got JSON %s", typ.Field, typ.Type, typ.Value))
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		field, _ := strconv.Unquote(strings.TrimPrefix(err.Error(), "json: unknown field "))
		return badRequest(field, fmt.Sprintf("unknown field %q", field))
	case errors.Is(err, io.ErrUnexpectedEOF):
		return badRequest("", "the JSON body ends too early")
	}
	// Errors from our own UnmarshalJSON methods carry no field; say what
	// failed.
	return badRequest("", "invalid JSON body: "+err.Error())
}

func itoa(n int) string { return strconv.Itoa(n) }
