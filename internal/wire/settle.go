package wire

import "time"

// ACK, NACK, EXTEND and REJECT share one payload: a batch of items, so
// many settles travel in one frame and are answered by one SETTLED.
//
//	items      repeated until the end of the payload, at least 1:
//	  topic    uvarint length + bytes
//	  sub      uvarint length + bytes
//	  token    uvarint length + bytes
//	  delay    varint nanoseconds (NACK: 0 = the retry policy; else 0)
//	  text     uvarint length + bytes (NACK: the last error;
//	           REJECT: the reason; else empty)
//
// SETTLED payload, one status per item of the request, in order, until the
// end of the payload:
//
//	code       1 byte: 0 = done; any other value is an error Code, and the
//	           rest of an error body (errors.go) follows it

// SettleItem is one settle of a batch.
type SettleItem struct {
	Topic, Sub, Token string
	Delay             time.Duration
	Text              string
}

// AppendSettle appends a settle payload for items.
func AppendSettle(dst []byte, items []SettleItem) []byte {
	for i := range items {
		it := &items[i]
		dst = appendString(dst, it.Topic)
		dst = appendString(dst, it.Sub)
		dst = appendString(dst, it.Token)
		dst = appendVarint(dst, int64(it.Delay))
		dst = appendString(dst, it.Text)
	}
	return dst
}

// DecodeSettle decodes a settle payload; it has at least one item.
func DecodeSettle(b []byte) ([]SettleItem, error) {
	d := decoder{b: b, what: "settle"}
	if len(b) == 0 {
		d.fail("no items: settle at least one token")
	}
	var out []SettleItem
	var prev SettleItem
	// The tokens are slices of one copy of the payload: one allocation per
	// frame instead of one per item (the items are short-lived).
	var all string
	for d.more() {
		start := d.pos
		// The items of a batch nearly always share topic and subscription:
		// they reuse the previous item's strings instead of allocating.
		it := SettleItem{Topic: d.stringAs(prev.Topic), Sub: d.stringAs(prev.Sub)}
		if tok := d.bytes(); len(tok) > 0 {
			if all == "" {
				all = string(b)
			}
			at := d.pos - len(tok)
			it.Token = all[at:d.pos]
		}
		it.Delay, it.Text = d.duration(), d.string()
		if out == nil { // sized by the first item, as a batch's items look alike
			out = make([]SettleItem, 0, len(b)/max(d.pos-start, 1)+1)
		}
		out = append(out, it)
		prev = it
	}
	return out, d.done()
}

// AppendSettled appends a SETTLED payload: one status per item, nil for
// done.
func AppendSettled(dst []byte, statuses []*Error) []byte {
	for _, e := range statuses {
		if e == nil {
			dst = append(dst, byte(CodeOK))
			continue
		}
		dst = e.appendBody(dst)
	}
	return dst
}

// DecodeSettled decodes a SETTLED payload.
func DecodeSettled(b []byte) ([]*Error, error) {
	d := decoder{b: b, what: "SETTLED"}
	out := make([]*Error, 0, len(b))
	for d.more() {
		out = append(out, d.status())
	}
	return out, d.done()
}
