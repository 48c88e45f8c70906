package broker

// SubscriptionStats is a point-in-time view of a subscription.
type SubscriptionStats struct {
	// Lag counts events not delivered yet: those the subscription has not
	// read from the log (including any its filter will skip) and those read
	// but never delivered.
	Lag int64 `json:"lag"`
	// Pending counts unsettled events that are not in flight: ready,
	// waiting behind their ordering group, in retry backoff or delayed.
	Pending int64 `json:"pending"`
	// Delayed counts events waiting for their delivery time or a backoff.
	Delayed int64 `json:"delayed"`
	// InFlight counts leases held.
	InFlight int `json:"inFlight"`
	// Consumers counts consumers holding at least one lease.
	Consumers int `json:"consumers"`
	// DeadLettered counts events written to the dead-letter topic since the
	// subscription was created.
	DeadLettered int64 `json:"deadLettered"`
	// AwaitingDeadLetter counts events given up on whose dead letter is not
	// written yet.
	AwaitingDeadLetter int64 `json:"awaitingDeadLetter"`
}

// Stats reports a subscription's lag, pending, in-flight and dead-lettered
// counts.
func (b *Broker) Stats(topic, sub string) (SubscriptionStats, error) {
	if err := b.enter(); err != nil {
		return SubscriptionStats{}, err
	}
	defer b.leave()
	s, err := b.sub(topic, sub)
	if err != nil {
		return SubscriptionStats{}, err
	}
	return s.stats(), nil
}

func (s *subscription) stats() SubscriptionStats {
	s.t.mu.RLock()
	next := make([]int64, len(s.t.parts))
	for p, l := range s.t.parts {
		next[p] = l.Next()
	}
	s.t.mu.RUnlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	s.sweep(now)
	if len(s.deadQ) > 0 {
		s.kickTimekeeper()
	}
	st := SubscriptionStats{InFlight: s.inFlight, Consumers: len(s.consumers), DeadLettered: s.deadLettered}
	for p, sp := range s.parts {
		if p < len(next) && next[p] > sp.readPos {
			st.Lag += next[p] - sp.readPos
		}
		sp.entries.each(func(e *entry) {
			switch {
			case e.lease != nil:
			case e.dead:
				st.AwaitingDeadLetter++
			default:
				st.Pending++
				if e.deliverAt > now || e.notBefore > now {
					st.Delayed++
				}
				if e.attempts == 0 {
					st.Lag++
				}
			}
		})
	}
	return st
}
