package cloudevent

// ParseBatchJSON decodes a JSON array of events in the CloudEvents JSON
// batch format (application/cloudevents-batch+json). Each element is read
// as ParseJSON reads an event. It does not call Validate; ValidateBatch
// does, with the same field naming.
//
// A *FieldError's Field starts with the element's index: "[3].source" for
// the source of the fourth event, "[3]" when the element is not an object.
// An empty array gives an empty, non-nil slice.
func ParseBatchJSON(b []byte) ([]Event, error) {
	if err := checkJSON(b); err != nil {
		return nil, err
	}
	r := jsonReader{b: b}
	if err := r.expect('['); err != nil {
		return nil, malformed("a batch must be a JSON array of events")
	}
	events := []Event{}
	r.skipSpace()
	if r.peek() == ']' {
		r.i++
	} else {
		for i := 0; ; i++ {
			r.skipSpace()
			if r.peek() != '{' {
				return nil, fieldErr(indexField(i), "must be a JSON object (one structured event)")
			}
			var e Event
			if err := r.readEvent(&e); err != nil {
				return nil, atIndex(err, i)
			}
			events = append(events, e)
			r.skipSpace()
			if r.peek() == ',' {
				r.i++
				continue
			}
			if err := r.expect(']'); err != nil {
				return nil, err
			}
			break
		}
	}
	if r.skipSpace(); r.i != len(b) {
		return nil, malformed("unexpected data after the batch at byte %d", r.i)
	}
	return events, nil
}

// MarshalBatchJSON encodes events as a JSON batch, each as MarshalJSON
// would. An error names the index of the event, as ParseBatchJSON does.
func MarshalBatchJSON(events []Event) ([]byte, error) {
	n := 2
	for i := range events {
		n += events[i].jsonSizeHint() + 1
	}
	dst := make([]byte, 0, n)
	dst = append(dst, '[')
	for i := range events {
		if i > 0 {
			dst = append(dst, ',')
		}
		var err error
		if dst, err = events[i].appendJSON(dst); err != nil {
			return nil, atIndex(err, i)
		}
	}
	return append(dst, ']'), nil
}
