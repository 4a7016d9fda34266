package ratelimit

import (
	"sync"
	"time"
)

// breaker is the circuit breaker: closed -> open after opts.Failures unavailable errors
// within opts.Window; open for opts.Cooldown; then half-open, letting opts.Probes calls
// through at once; a probe's success closes it, its failure opens it again.
type breaker struct {
	opts     BreakerOptions
	onChange func(BreakerState)

	mu       sync.Mutex
	state    BreakerState
	failures []time.Time // within the window, oldest first (closed state only)
	openedAt time.Time
	probing  int // probes in flight (half-open)
	now      func() time.Time
}

func newBreaker(opts BreakerOptions, onChange func(BreakerState)) *breaker {
	return &breaker{opts: opts, onChange: onChange, now: time.Now}
}

// allow says whether a call may go to the server; probe is true for a half-open probe,
// which must be settled by done.
func (b *breaker) allow() (ok, probe bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch b.state {
	case BreakerClosed:
		return true, false
	case BreakerOpen:
		if b.now().Sub(b.openedAt) < b.opts.Cooldown {
			return false, false
		}
		b.setState(BreakerHalfOpen)
	}
	if b.probing >= b.opts.Probes {
		return false, false
	}
	b.probing++
	return true, true
}

// done records a call's outcome: unavailable or not.
func (b *breaker) done(probe, unavailable bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	if probe {
		b.probing--
		if b.state != BreakerHalfOpen {
			return
		}
		if unavailable {
			b.openedAt = now
			b.setState(BreakerOpen)
		} else {
			b.failures = b.failures[:0]
			b.setState(BreakerClosed)
		}
		return
	}
	if b.state != BreakerClosed || !unavailable {
		return
	}
	cut := 0
	for cut < len(b.failures) && now.Sub(b.failures[cut]) > b.opts.Window {
		cut++
	}
	b.failures = append(b.failures[cut:], now)
	if len(b.failures) >= b.opts.Failures {
		b.failures = b.failures[:0]
		b.openedAt = now
		b.setState(BreakerOpen)
	}
}

// abandon settles a call whose outcome says nothing (the caller cancelled it).
func (b *breaker) abandon(probe bool) {
	if probe {
		b.mu.Lock()
		b.probing--
		b.mu.Unlock()
	}
}

// cooldownLeft is how long the breaker stays open (0 unless open).
func (b *breaker) cooldownLeft() time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.state != BreakerOpen {
		return 0
	}
	if left := b.opts.Cooldown - b.now().Sub(b.openedAt); left > 0 {
		return left
	}
	return 0
}

// State is the breaker's state now.
func (b *breaker) State() BreakerState {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.state
}

func (b *breaker) setState(s BreakerState) {
	if b.state != s {
		b.state = s
		if b.onChange != nil {
			b.onChange(s)
		}
	}
}
