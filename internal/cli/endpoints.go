package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"github.com/heraldhq/herald/cloudevent"
)

// One method per endpoint of docs/http-api.md that the CLI uses, in the
// order of that document. Errors are *APIError for error answers, or say
// why no answer came (see Client.transportError).

func topicPath(topic string, rest ...string) []string {
	return append([]string{"v1", "topics", topic}, rest...)
}

func subPath(topic, sub string, rest ...string) []string {
	return append(topicPath(topic, "subscriptions", sub), rest...)
}

// decode reads a JSON answer into v; what names the request in errors.
func decode(r *response, v any, what string) error {
	if err := json.Unmarshal(r.body, v); err != nil {
		return fmt.Errorf("cannot read the server's answer to %s: %v", what, err)
	}
	return nil
}

// doJSON sends v as a JSON body.
func (c *Client) doJSON(ctx context.Context, method string, path []string, v any) (*response, error) {
	body, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("cannot encode the request: %v", err)
	}
	return c.do(ctx, request{method: method, path: path, contentType: "application/json", body: body})
}

// CreateTopic is PUT /v1/topics/{topic}; created is false when the topic
// already existed with the same configuration.
func (c *Client) CreateTopic(ctx context.Context, name string, cfg TopicConfig) (t *Topic, created bool, err error) {
	r, err := c.doJSON(ctx, http.MethodPut, topicPath(name), cfg)
	if err != nil {
		return nil, false, err
	}
	t, err = decodeTopic(r, "create topic")
	return t, r.status == http.StatusCreated, err
}

// UpdateTopic is PATCH /v1/topics/{topic}.
func (c *Client) UpdateTopic(ctx context.Context, name string, cfg TopicConfig) (*Topic, error) {
	r, err := c.doJSON(ctx, http.MethodPatch, topicPath(name), cfg)
	if err != nil {
		return nil, err
	}
	return decodeTopic(r, "update topic")
}

// Topic is GET /v1/topics/{topic}.
func (c *Client) Topic(ctx context.Context, name string) (*Topic, error) {
	r, err := c.do(ctx, request{method: http.MethodGet, path: topicPath(name)})
	if err != nil {
		return nil, err
	}
	return decodeTopic(r, "describe topic")
}

func decodeTopic(r *response, what string) (*Topic, error) {
	var t Topic
	if err := decode(r, &t, what); err != nil {
		return nil, err
	}
	t.Raw = r.body
	return &t, nil
}

// Topics is GET /v1/topics; raw is the whole answer.
func (c *Client) Topics(ctx context.Context) (topics []Topic, raw []byte, err error) {
	r, err := c.do(ctx, request{method: http.MethodGet, path: []string{"v1", "topics"}})
	if err != nil {
		return nil, nil, err
	}
	var list struct {
		Topics []Topic `json:"topics"`
	}
	if err := decode(r, &list, "list topics"); err != nil {
		return nil, nil, err
	}
	return list.Topics, r.body, nil
}

// DeleteTopic is DELETE /v1/topics/{topic}.
func (c *Client) DeleteTopic(ctx context.Context, name string) error {
	_, err := c.do(ctx, request{method: http.MethodDelete, path: topicPath(name)})
	return err
}

// Publish is POST /v1/topics/{topic}/events: structured mode for one
// event, batch mode (all or nothing) for several.
func (c *Client) Publish(ctx context.Context, topic string, events []cloudevent.Event) ([]PublishResult, error) {
	var (
		body  []byte
		ctype string
		err   error
	)
	if len(events) == 1 {
		body, err = events[0].MarshalJSON()
		ctype = cloudevent.ContentTypeJSON
	} else {
		body, err = cloudevent.MarshalBatchJSON(events)
		ctype = cloudevent.ContentTypeBatchJSON
	}
	if err != nil {
		return nil, err
	}
	r, err := c.do(ctx, request{method: http.MethodPost, path: topicPath(topic, "events"), contentType: ctype, body: body})
	if err != nil {
		return nil, err
	}
	var answer struct {
		Results []json.RawMessage `json:"results"`
	}
	if err := decode(r, &answer, "publish"); err != nil {
		return nil, err
	}
	results := make([]PublishResult, len(answer.Results))
	for i, raw := range answer.Results {
		if err := json.Unmarshal(raw, &results[i]); err != nil {
			return nil, fmt.Errorf("cannot read the server's answer to publish: result %d: %v", i, err)
		}
		results[i].Raw = raw
	}
	return results, nil
}

// CreateSubscription is PUT /v1/topics/{topic}/subscriptions/{sub}.
func (c *Client) CreateSubscription(ctx context.Context, topic, sub string, cfg SubscriptionConfig) (s *Subscription, created bool, err error) {
	r, err := c.doJSON(ctx, http.MethodPut, subPath(topic, sub), cfg)
	if err != nil {
		return nil, false, err
	}
	s, err = decodeSubscription(r, "create subscription")
	return s, r.status == http.StatusCreated, err
}

// UpdateSubscription is PATCH /v1/topics/{topic}/subscriptions/{sub}.
func (c *Client) UpdateSubscription(ctx context.Context, topic, sub string, cfg SubscriptionConfig) (*Subscription, error) {
	r, err := c.doJSON(ctx, http.MethodPatch, subPath(topic, sub), cfg)
	if err != nil {
		return nil, err
	}
	return decodeSubscription(r, "update subscription")
}

// Subscription is GET /v1/topics/{topic}/subscriptions/{sub}.
func (c *Client) Subscription(ctx context.Context, topic, sub string) (*Subscription, error) {
	r, err := c.do(ctx, request{method: http.MethodGet, path: subPath(topic, sub)})
	if err != nil {
		return nil, err
	}
	return decodeSubscription(r, "describe subscription")
}

func decodeSubscription(r *response, what string) (*Subscription, error) {
	var s Subscription
	if err := decode(r, &s, what); err != nil {
		return nil, err
	}
	return &s, nil
}

// Subscriptions is GET /v1/topics/{topic}/subscriptions; raw is the whole
// answer. The contract does not show the list's shape; like the topic
// list, it is read as {"subscriptions": [<description>, ...]}.
func (c *Client) Subscriptions(ctx context.Context, topic string) (subs []Subscription, raw []byte, err error) {
	r, err := c.do(ctx, request{method: http.MethodGet, path: topicPath(topic, "subscriptions")})
	if err != nil {
		return nil, nil, err
	}
	var list struct {
		Subscriptions []Subscription `json:"subscriptions"`
	}
	if err := decode(r, &list, "list subscriptions"); err != nil {
		return nil, nil, err
	}
	return list.Subscriptions, r.body, nil
}

// DeleteSubscription is DELETE /v1/topics/{topic}/subscriptions/{sub}.
func (c *Client) DeleteSubscription(ctx context.Context, topic, sub string) error {
	_, err := c.do(ctx, request{method: http.MethodDelete, path: subPath(topic, sub)})
	return err
}

// Seek is POST .../subscriptions/{sub}/seek. The contract does not say
// what it answers; raw is the body, empty for a 204.
func (c *Client) Seek(ctx context.Context, topic, sub, start string) (raw []byte, err error) {
	body := struct {
		Start string `json:"start"`
	}{start}
	r, err := c.doJSON(ctx, http.MethodPost, subPath(topic, sub, "seek"), body)
	if err != nil {
		return nil, err
	}
	return r.body, nil
}

// DeadLetters is GET .../subscriptions/{sub}/deadletters; raw is the whole
// answer.
func (c *Client) DeadLetters(ctx context.Context, topic, sub string, from int64, limit int) (dls []DeadLetter, raw []byte, err error) {
	q := url.Values{"from": {strconv.FormatInt(from, 10)}}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	r, err := c.do(ctx, request{method: http.MethodGet, path: subPath(topic, sub, "deadletters"), query: q})
	if err != nil {
		return nil, nil, err
	}
	var answer struct {
		DeadLetters []DeadLetter `json:"deadLetters"`
	}
	if err := decode(r, &answer, "list dead letters"); err != nil {
		return nil, nil, err
	}
	return answer.DeadLetters, r.body, nil
}

// DeadLetter is GET .../subscriptions/{sub}/deadletters/{id}.
func (c *Client) DeadLetter(ctx context.Context, topic, sub string, id int64) (*DeadLetter, error) {
	r, err := c.do(ctx, request{method: http.MethodGet, path: subPath(topic, sub, "deadletters", strconv.FormatInt(id, 10))})
	if err != nil {
		return nil, err
	}
	var dl DeadLetter
	if err := decode(r, &dl, "show dead letter"); err != nil {
		return nil, err
	}
	dl.Raw = r.body
	return &dl, nil
}

// Redrive is POST .../subscriptions/{sub}/deadletters/redrive; nil ids
// redrives every dead letter.
func (c *Client) Redrive(ctx context.Context, topic, sub string, ids []int64) (n int64, raw []byte, err error) {
	body := struct {
		IDs []int64 `json:"ids,omitempty"`
	}{ids}
	r, err := c.doJSON(ctx, http.MethodPost, subPath(topic, sub, "deadletters", "redrive"), body)
	if err != nil {
		return 0, nil, err
	}
	var answer struct {
		Redriven int64 `json:"redriven"`
	}
	if err := decode(r, &answer, "redrive"); err != nil {
		return 0, nil, err
	}
	return answer.Redriven, r.body, nil
}
