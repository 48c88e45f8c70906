package herald_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/heraldhq/herald"
)

// Publish events asynchronously, then wait for their acknowledgements.
// Events of one partition key stay in order.
func ExampleClient_Publish() {
	dir, _ := os.MkdirTemp("", "herald-example")
	defer os.RemoveAll(dir)
	client, err := herald.Open(dir, herald.WithSource("/shop/checkout"))
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
	ctx := context.Background()

	var futures []*herald.PublishFuture
	for i := 1; i <= 3; i++ {
		e := herald.Event{Type: "OrderPlaced", DataContentType: "application/json", Data: fmt.Appendf(nil, `{"order":%d}`, i)}
		e.SetExtension("partitionkey", "customer-7")
		futures = append(futures, client.Publish(ctx, "orders", e))
	}
	for _, f := range futures {
		res, err := f.Wait(ctx)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println("stored at partition", res.Partition, "offset", res.Offset)
	}
	// Output:
	// stored at partition 0 offset 0
	// stored at partition 0 offset 1
	// stored at partition 0 offset 2
}

// Publish events you already hold as one batch: they are stored in order,
// with one fsync per partition, and PublishBatch returns once all of them
// are.
func ExampleClient_PublishBatch() {
	dir, _ := os.MkdirTemp("", "herald-example")
	defer os.RemoveAll(dir)
	client, err := herald.Open(dir, herald.WithSource("/shop/checkout"))
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
	ctx := context.Background()

	var events []herald.Event
	for _, item := range []string{"book", "lamp", "mug"} {
		e := herald.Event{Type: "ItemReserved", DataContentType: "application/json", Data: fmt.Appendf(nil, `{"item":%q}`, item)}
		e.SetExtension("partitionkey", "order-42")
		events = append(events, e)
	}
	results, err := client.PublishBatch(ctx, "reservations", events)
	if err != nil {
		// A *herald.PublishError: its IDs are the ids the events were given;
		// sending them again with those ids is safe (deduplicated).
		log.Fatal(err)
	}
	for _, res := range results {
		fmt.Println("stored at partition", res.Partition, "offset", res.Offset)
	}
	// Output:
	// stored at partition 0 offset 0
	// stored at partition 0 offset 1
	// stored at partition 0 offset 2
}

// A consumer with retries and dead letters: nil acknowledges, an error is
// retried under the policy, Permanent dead-letters at once.
func ExampleClient_Subscribe() {
	dir, _ := os.MkdirTemp("", "herald-example")
	defer os.RemoveAll(dir)
	client, err := herald.Open(dir)
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
	ctx, stop := context.WithTimeout(context.Background(), 10*time.Second)
	defer stop()

	for _, typ := range []string{"EmailRequested", "Garbage"} {
		if _, err := client.PublishSync(ctx, "email", herald.Event{Type: typ}); err != nil {
			log.Fatal(err)
		}
	}
	handled := 0
	err = client.Subscribe(ctx, "email", "sender", func(ctx context.Context, m *herald.Message) error {
		handled++
		defer func() {
			if handled == 3 {
				stop() // graceful: Subscribe returns once this handler has settled
			}
		}()
		switch {
		case m.Type == "Garbage":
			return herald.Permanent(errors.New("cannot parse"))
		case m.Attempt == 1:
			return errors.New("smtp timeout") // retried after the backoff
		}
		fmt.Println(m.Type, "sent on attempt", m.Attempt)
		return nil
	},
		herald.WithStart(herald.FromEarliest),
		herald.WithRetry(herald.RetryPolicy{Delays: []time.Duration{10 * time.Millisecond}, MaxDeliveries: 5}),
	)
	if err != nil {
		log.Fatal(err)
	}
	// The dead-letter topic is an ordinary topic: replay it.
	client.Replay(context.Background(), "email.sender.dlq", time.Time{}, func(m *herald.Message) error {
		fmt.Println("dead letter:", m.Type, "reason:", m.Extension("heralddlqreason"))
		return nil
	})
	// Output:
	// EmailRequested sent on attempt 2
	// dead letter: Garbage reason: rejected: cannot parse
}

// Replay a topic from a point in time without a subscription.
func ExampleClient_Replay() {
	dir, _ := os.MkdirTemp("", "herald-example")
	defer os.RemoveAll(dir)
	client, err := herald.Open(dir)
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
	ctx := context.Background()

	client.PublishSync(ctx, "audit", herald.Event{Type: "LoggedIn", Subject: "alice"})
	since := time.Now()
	client.PublishSync(ctx, "audit", herald.Event{Type: "PasswordChanged", Subject: "alice"})
	client.PublishSync(ctx, "audit", herald.Event{Type: "LoggedOut", Subject: "alice"})

	client.Replay(ctx, "audit", since, func(m *herald.Message) error {
		fmt.Println(m.Offset, m.Type, m.Subject)
		return nil
	})
	// Output:
	// 1 PasswordChanged alice
	// 2 LoggedOut alice
}

// Print what a topic holds, then follow it: a tail keeps no state and
// affects no subscription.
func ExampleClient_Tail() {
	dir, _ := os.MkdirTemp("", "herald-example")
	defer os.RemoveAll(dir)
	client, err := herald.Open(dir)
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
	ctx := context.Background()

	client.PublishSync(ctx, "orders", herald.Event{Type: "OrderPlaced", Subject: "eu/1"})
	client.PublishSync(ctx, "orders", herald.Event{Type: "OrderPaid", Subject: "eu/1"})

	// What is stored now, then return.
	client.Tail(ctx, "orders", func(m *herald.Message) error {
		fmt.Println("stored:", m.Partition, m.Offset, m.Type)
		return nil
	})
	// New events as they come, until the context ends (here: after one).
	follow, stop := context.WithTimeout(ctx, 10*time.Second)
	defer stop()
	go client.PublishSync(ctx, "orders", herald.Event{Type: "OrderShipped", Subject: "eu/1"})
	client.Tail(follow, "orders", func(m *herald.Message) error {
		fmt.Println("live:", m.Partition, m.Offset, m.Type)
		stop()
		return nil
	}, herald.Follow(), herald.TailFrom(herald.FromOffset(2)))
	// Output:
	// stored: 0 0 OrderPlaced
	// stored: 0 1 OrderPaid
	// live: 0 2 OrderShipped
}

// Run your own consuming loop: create the subscription once, then fetch
// events and settle each by hand before its lease ends.
func ExampleClient_Fetch() {
	dir, _ := os.MkdirTemp("", "herald-example")
	defer os.RemoveAll(dir)
	client, err := herald.Open(dir)
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
	ctx := context.Background()

	if err := client.CreateTopic(ctx, "jobs", herald.TopicConfig{Partitions: 1}); err != nil {
		log.Fatal(err)
	}
	err = client.CreateSubscription(ctx, "jobs", "workers", herald.SubscriptionConfig{Start: herald.FromEarliest})
	if err != nil && !errors.Is(err, herald.ErrSubscriptionExists) {
		log.Fatal(err)
	}
	client.PublishSync(ctx, "jobs", herald.Event{Type: "ResizeImage", Subject: "cat.png"})
	client.PublishSync(ctx, "jobs", herald.Event{Type: "ResizeImage", Subject: "dog.png"})

	msgs, err := client.Fetch(ctx, "jobs", "workers", "worker-1", 10)
	if err != nil {
		log.Fatal(err)
	}
	for _, m := range msgs {
		fmt.Println(m.Offset, m.Subject, "attempt", m.Attempt)
		m.Ack(ctx) // or m.Nack(ctx, reason) to retry, m.Reject(ctx, reason) to dead-letter
	}
	// Output:
	// 0 cat.png attempt 1
	// 1 dog.png attempt 1
}

// Browse a subscription's dead letters, fix what made them fail, and give
// them back to the subscription alone.
func ExampleClient_DeadLetters() {
	dir, _ := os.MkdirTemp("", "herald-example")
	defer os.RemoveAll(dir)
	client, err := herald.Open(dir)
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
	ctx := context.Background()

	client.CreateTopic(ctx, "jobs", herald.TopicConfig{Partitions: 1})
	client.CreateSubscription(ctx, "jobs", "workers", herald.SubscriptionConfig{Start: herald.FromEarliest})
	client.PublishSync(ctx, "jobs", herald.Event{Type: "ResizeImage", Subject: "cat.gif"})
	msgs, _ := client.Fetch(ctx, "jobs", "workers", "worker-1", 1)
	msgs[0].Reject(ctx, "gif is not supported")

	// Page through them: from the last ID + 1 until the list is empty.
	for from := int64(0); ; {
		dls, err := client.DeadLetters(ctx, "jobs", "workers", from, 100)
		if err != nil {
			log.Fatal(err)
		}
		if len(dls) == 0 {
			break
		}
		for _, d := range dls {
			fmt.Println(d.ID, d.Event.Subject, d.Reason, "after", d.Attempts, "attempt(s)")
		}
		from = dls[len(dls)-1].ID + 1
	}

	n, err := client.RedriveAll(ctx, "jobs", "workers") // or client.Redrive(ctx, "jobs", "workers", id...)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("redriven:", n)
	msgs, _ = client.Fetch(ctx, "jobs", "workers", "worker-1", 1)
	fmt.Println(msgs[0].Subject, "attempt", msgs[0].Attempt)
	// Output:
	// 0 cat.gif rejected: gif is not supported after 1 attempt(s)
	// redriven: 1
	// cat.gif attempt 1
}
