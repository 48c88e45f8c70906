package wire

import (
	"time"

	"github.com/heraldhq/herald/internal/broker"
)

// The admin and metadata path: low rate, so one generic request carrying
// JSON, in the broker types' own JSON shapes (durations as integer
// nanoseconds, times as RFC 3339 with nanoseconds).
//
// CALL payload:
//
//	method     uvarint length + bytes: one of the Method names below
//	args       the rest of the payload: the method's arguments as a JSON
//	           object (the *Args type named next to the method)
//
// RESULT payload: the rest of the payload is the method's result as JSON
// (named next to the method; "null" when it returns nothing but an error).

// Methods of CALL, with their arguments and result.
const (
	MethodCreateTopic        = "CreateTopic"        // TopicArgs -> broker.TopicInfo
	MethodTopic              = "Topic"              // TopicArgs (name only) -> broker.TopicInfo
	MethodCreateSubscription = "CreateSubscription" // SubscriptionArgs -> broker.SubscriptionInfo
	MethodUpdateSubscription = "UpdateSubscription" // SubscriptionArgs -> broker.SubscriptionInfo
	MethodSubscription       = "Subscription"       // SubscriptionArgs (names only) -> broker.SubscriptionInfo
	MethodSeek               = "Seek"               // SeekArgs -> null
	MethodOffsetForTime      = "OffsetForTime"      // OffsetArgs -> OffsetsResult (Offset)
	MethodOffsets            = "Offsets"            // OffsetArgs (no time) -> OffsetsResult (Earliest, Next)
	MethodDeleteTopic        = "DeleteTopic"        // TopicArgs (name only) -> null
	MethodDeleteSubscription = "DeleteSubscription" // SubscriptionArgs (names only) -> null
	MethodDeadLetters        = "DeadLetters"        // DeadLettersArgs -> []broker.DeadLetter
	MethodRedrive            = "Redrive"            // RedriveArgs -> RedriveResult
	MethodTopics             = "Topics"             // {} -> []broker.TopicInfo
	MethodUpdateTopic        = "UpdateTopic"        // TopicArgs -> broker.TopicInfo
	MethodSubscriptions      = "Subscriptions"      // SubscriptionArgs (topic only) -> []broker.SubscriptionInfo
	MethodStats              = "Stats"              // SubscriptionArgs (names only) -> broker.SubscriptionStats
	// MethodPing asks for any answer: a client's sign that a silent
	// connection is still alive. A server older than it answers with an
	// ERROR, which serves as well.
	MethodPing = "Ping" // {} -> null
)

// TopicArgs names a topic and, for CreateTopic, its configuration.
type TopicArgs struct {
	Name   string             `json:"name"`
	Config broker.TopicConfig `json:"config,omitzero"`
}

// SubscriptionArgs names a subscription and, for create and update, its
// configuration.
type SubscriptionArgs struct {
	Topic  string                    `json:"topic"`
	Name   string                    `json:"name"`
	Config broker.SubscriptionConfig `json:"config,omitzero"`
}

// SeekArgs moves a subscription.
type SeekArgs struct {
	Topic    string               `json:"topic"`
	Sub      string               `json:"sub"`
	Position broker.StartPosition `json:"position"`
}

// OffsetArgs names a partition and, for OffsetForTime, a time.
type OffsetArgs struct {
	Topic     string    `json:"topic"`
	Partition int       `json:"partition"`
	Time      time.Time `json:"time,omitzero"`
}

// OffsetsResult answers Offsets (Earliest, Next) and OffsetForTime
// (Offset).
type OffsetsResult struct {
	Earliest int64 `json:"earliest,omitempty"`
	Next     int64 `json:"next,omitempty"`
	Offset   int64 `json:"offset,omitempty"`
}

// DeadLettersArgs lists a subscription's dead letters from dead-letter id
// From on, at most Limit (the server caps it at 10,000, as its HTTP API
// does). The server may answer fewer, so that the RESULT fits in one
// frame: the caller goes on from the last id + 1.
type DeadLettersArgs struct {
	Topic string `json:"topic"`
	Sub   string `json:"sub"`
	From  int64  `json:"from"`
	Limit int    `json:"limit"`
}

// RedriveArgs gives dead letters back to their subscription: the ones
// named, or with IDs null every one not yet redriven.
type RedriveArgs struct {
	Topic string  `json:"topic"`
	Sub   string  `json:"sub"`
	IDs   []int64 `json:"ids"`
}

// RedriveResult answers Redrive: how many events were given back.
type RedriveResult struct {
	Redriven int `json:"redriven"`
}

// Call is a CALL request.
type Call struct {
	Method string
	Args   []byte // JSON
}

// AppendCall appends c's payload.
func AppendCall(dst []byte, c *Call) []byte {
	dst = appendString(dst, c.Method)
	return append(dst, c.Args...)
}

// Decode replaces c with the request in payload b. Args aliases b.
func (c *Call) Decode(b []byte) error {
	d := decoder{b: b, what: "CALL"}
	c.Method = d.string()
	c.Args = d.rest()
	return d.done()
}
