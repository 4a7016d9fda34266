package ratelimit

import "time"

// Source tells who made a decision.
type Source string

// The sources of a decision (CLIENTS.md's `source`).
const (
	SourceServer   Source = "server"
	SourceFallback Source = "fallback"
	SourceCache    Source = "cache"
)

// BreakerState is the circuit breaker's state; its value is the metric's (0, 1, 2).
type BreakerState int

// The breaker's states.
const (
	BreakerClosed   BreakerState = 0
	BreakerHalfOpen BreakerState = 1
	BreakerOpen     BreakerState = 2
)

func (s BreakerState) String() string {
	switch s {
	case BreakerClosed:
		return "closed"
	case BreakerHalfOpen:
		return "half-open"
	}
	return "open"
}

// Metrics receives what CLIENTS.md's metrics count. Implementations must be safe for
// concurrent use; rlprom.New is the Prometheus one.
type Metrics interface {
	// Decision: one check's outcome and who made it.
	Decision(allowed bool, source Source)
	// Error: an error returned or handled, by class ("argument", "server", "unavailable").
	Error(class string)
	// CallDuration: one round trip to the server.
	CallDuration(d time.Duration)
	// BreakerState: the breaker moved to state.
	BreakerState(state BreakerState)
}

type noMetrics struct{}

func (noMetrics) Decision(bool, Source)      {}
func (noMetrics) Error(string)               {}
func (noMetrics) CallDuration(time.Duration) {}
func (noMetrics) BreakerState(BreakerState)  {}
