package herald

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/broker"
	"github.com/heraldhq/herald/internal/remote"
)

// recordedAcks is a backend that records each AckMany's tokens and acks
// them all.
type recordedAcks struct {
	remote.Backend // nil: only AckMany is called
	batches        chan []string
}

func (r *recordedAcks) AckMany(_ context.Context, _, _ string, tokens []string) ([]error, error) {
	r.batches <- slices.Clone(tokens)
	return make([]error, len(tokens)), nil
}

// next waits for the acker's next batch.
func (r *recordedAcks) next(t *testing.T) []string {
	t.Helper()
	return receive(t, r.batches, "ack batch")
}

// ackItems adds n acks; their leases end at deadline (zero: not known).
func ackItems(a *acker, label string, n int, deadline time.Time) {
	for i := range n {
		a.add(&broker.Delivery{Token: fmt.Sprintf("%s-%d", label, i), Deadline: deadline})
	}
}

// A batch of acks waits for a prefetch's worth (here 8), however slowly
// they come, up to ackLinger; then it goes with what it has. A stop sends
// what has gathered at once, and so does a flush (the fetcher's, when the
// broker refuses a fetch for backpressure), and a batch holding a lease
// that ends within leaseMargin does not wait. (Sending whatever had
// queued, as before, sends a first batch of 1 here.)
func TestAckerGathersAPrefetchsWorthUpToItsLinger(t *testing.T) {
	far, near := time.Now().Add(1000*time.Hour), time.Now().Add(time.Second)
	for _, c := range []struct {
		name     string
		linger   time.Duration
		acks     int
		deadline time.Time // of every lease; zero: not known
		close    bool
		flush    bool  // flush until the acks are sent
		want     []int // batch sizes, ascending; nil: any that add up
	}{
		{"a prefetch's worth goes at once", time.Hour, 8, time.Time{}, false, false, []int{8}},
		{"more goes as a prefetch's worth and the rest", time.Hour, 11, time.Time{}, true, false, []int{3, 8}},
		{"fewer go after the linger", time.Millisecond, 3, time.Time{}, false, false, nil},
		{"a stop sends what has gathered", time.Hour, 5, time.Time{}, true, false, []int{5}},
		{"a flush sends what has gathered", time.Hour, 3, time.Time{}, false, true, nil},
		{"leases far from their end wait", time.Hour, 8, far, false, false, []int{8}},
		{"a lease about to end goes at once", time.Hour, 3, near, false, false, []int{1, 1, 1}},
	} {
		t.Run(c.name, func(t *testing.T) {
			defer func(d time.Duration) { ackLinger = d }(ackLinger)
			ackLinger = c.linger
			backend := &recordedAcks{batches: make(chan []string, 64)}
			a := newAcker(newClient(backend, defaultClientOptions()), "t", "s", 8, func() {})
			ackItems(a, "a", c.acks, c.deadline)
			if c.close {
				a.close()
			}
			if c.flush {
				// Until the acks are sent: a flush asked before the acker
				// took them may end a batch of only some of them.
				stop := make(chan struct{})
				defer close(stop)
				go func() {
					tick := time.NewTicker(time.Millisecond)
					defer tick.Stop()
					for {
						a.flush()
						select {
						case <-tick.C:
						case <-stop:
							return
						}
					}
				}()
			}
			var got []int
			for n := 0; n < c.acks; {
				b := backend.next(t)
				got = append(got, len(b))
				n += len(b)
			}
			if !c.close {
				a.close()
			}
			// Two senders answer batches concurrently: the backend may
			// see them in either order.
			slices.Sort(got)
			if c.want != nil && !slices.Equal(got, c.want) {
				t.Fatalf("batches of %v acks, want %v", got, c.want)
			}
		})
	}
}

// A delivery whose lease ended while it waited in the prefetch queue is
// skipped (the broker gives it out again); the others of its fetch, whose
// leases have not ended, are handled.
func TestHandleSkipsADeliveryWhoseLeaseEnded(t *testing.T) {
	past, future := time.Now().Add(-time.Second), time.Now().Add(time.Hour)
	for _, c := range []struct {
		name      string
		deadlines []time.Time
		want      []bool // handled, per delivery
	}{
		{"every lease current", []time.Time{future, future}, []bool{true, true}},
		{"one lease ended", []time.Time{future, past}, []bool{true, false}},
		{"every lease ended", []time.Time{past, past}, []bool{false, false}},
	} {
		t.Run(c.name, func(t *testing.T) {
			ds := make([]broker.Delivery, len(c.deadlines))
			for i, dl := range c.deadlines {
				ds[i] = broker.Delivery{Token: fmt.Sprint(i), Deadline: dl}
			}
			cl := newClient(&recordedAcks{}, defaultClientOptions())
			fb := newFetchBatch(context.Background(), ds)
			for i := range ds {
				called := false
				handled, err := cl.handle(queued{batch: fb, i: i}, "t", "s", func(context.Context, *Message) error {
					called = true
					return nil
				})
				if handled != c.want[i] || called != c.want[i] || err != nil {
					t.Errorf("delivery %d: handled %v, handler called %v, err %v; want %v", i, handled, called, err, c.want[i])
				}
			}
		})
	}
}

// Handling a fetch's deliveries allocates per fetch, not per event: the
// Messages come in one block (an allocation per delivery was 5% of a
// consumer's CPU).
func TestHandlingAFetchAllocatesPerFetchNotPerEvent(t *testing.T) {
	const n = 100
	ds := make([]broker.Delivery, n)
	for i := range ds {
		ds[i] = broker.Delivery{Token: fmt.Sprint(i), Deadline: time.Now().Add(time.Hour)}
	}
	cl := newClient(&recordedAcks{}, defaultClientOptions())
	handler := func(context.Context, *Message) error { return nil }
	allocs := testing.AllocsPerRun(200, func() {
		fb := newFetchBatch(context.Background(), ds)
		for i := range ds {
			if _, err := cl.handle(queued{batch: fb, i: i}, "t", "s", handler); err != nil {
				t.Fatal(err)
			}
		}
	})
	if allocs > n/10 {
		t.Errorf("%.0f allocations to handle a fetch of %d, want at most %d", allocs, n, n/10)
	}
}
