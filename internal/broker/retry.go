package broker

import (
	"fmt"
	"math"
	"time"
)

// backoff is the delay before delivering again an event that failed for
// the n-th time (n >= 1). The caller holds mu (the random source is the
// subscription's).
func (s *subscription) backoff(n int) time.Duration {
	return retryDelay(s.cfg.Retry, n, s.rng.Float64())
}

// retryDelay computes the policy's delay after the n-th failure; r is a
// uniform random number in [0, 1) for the jitter.
//
// Exponential: Initial * Multiplier^(n-1), capped at Max, then spread
// uniformly over ±Jitter of itself (and capped at Max again). Explicit
// Delays: Delays[n-1], the last repeating, never jittered.
func retryDelay(p RetryPolicy, n int, r float64) time.Duration {
	n = max(n, 1)
	if len(p.Delays) > 0 {
		return p.Delays[min(n, len(p.Delays))-1]
	}
	d := float64(p.Initial) * math.Pow(p.Multiplier, float64(n-1))
	if d > float64(p.Max) || math.IsInf(d, 0) || math.IsNaN(d) {
		d = float64(p.Max)
	}
	if p.Jitter > 0 {
		d *= 1 - p.Jitter + 2*p.Jitter*r
	}
	return time.Duration(min(d, float64(p.Max)))
}

func (s *subscription) maxDeliveriesReason() string {
	return fmt.Sprintf("max deliveries reached (%d)", s.cfg.Retry.MaxDeliveries)
}
