package ratelimit

import (
	"fmt"
	"strconv"
	"time"
)

// Algorithm names one of the module's algorithms (docs/algorithms.md).
type Algorithm string

// The module's algorithms. The zero Algorithm means GCRA, redis_rate's algorithm.
const (
	GCRA          Algorithm = "GCRA"
	TokenBucket   Algorithm = "TOKEN_BUCKET"
	FixedWindow   Algorithm = "FIXED_WINDOW"
	SlidingWindow Algorithm = "SLIDING_WINDOW"
	SlidingLog    Algorithm = "SLIDING_LOG"
)

// Limit is redis_rate's Limit (Rate events per Period, Burst at once) with an Algorithm.
// CLIENTS.md's `limit` field is Rate here, as in redis_rate.
type Limit struct {
	Rate   int
	Burst  int
	Period time.Duration
	// Algorithm is GCRA when empty. Burst applies to GCRA and TOKEN_BUCKET only.
	Algorithm Algorithm
}

// String formats the limit as redis_rate does ("10 req/s (burst 10)"), prefixed by the
// algorithm when it is not GCRA.
func (l Limit) String() string {
	s := fmt.Sprintf("%d req/%s (burst %d)", l.Rate, fmtDur(l.Period), l.Burst)
	if l.Algorithm != "" && l.Algorithm != GCRA {
		s = string(l.Algorithm) + " " + s
	}
	return s
}

// IsZero reports whether l is the zero Limit.
func (l Limit) IsZero() bool { return l == Limit{} }

func fmtDur(d time.Duration) string {
	switch d {
	case time.Second:
		return "s"
	case time.Minute:
		return "m"
	case time.Hour:
		return "h"
	}
	return d.String()
}

// PerSecond is rate events per second with a burst of rate (GCRA).
func PerSecond(rate int) Limit { return Limit{Rate: rate, Period: time.Second, Burst: rate} }

// PerMinute is rate events per minute with a burst of rate (GCRA).
func PerMinute(rate int) Limit { return Limit{Rate: rate, Period: time.Minute, Burst: rate} }

// PerHour is rate events per hour with a burst of rate (GCRA).
func PerHour(rate int) Limit { return Limit{Rate: rate, Period: time.Hour, Burst: rate} }

func (l Limit) algorithm() Algorithm {
	if l.Algorithm == "" {
		return GCRA
	}
	return l.Algorithm
}

func (l Limit) bursty() bool { a := l.algorithm(); return a == GCRA || a == TokenBucket }

// burst is the burst the server applies: Burst, or Rate when Burst is 0 (and always Rate
// for the window algorithms).
func (l Limit) burst() int {
	if l.Burst == 0 || !l.bursty() {
		return l.Rate
	}
	return l.Burst
}

// emission is the time one unit takes to come back: Period / Rate.
func (l Limit) emission() time.Duration { return l.Period / time.Duration(l.Rate) }

// spec is the limit as RL.CHECK's `algorithm limit period [BURST n]` arguments. The server
// takes whole milliseconds; a GCRA or TOKEN_BUCKET period that is not one is scaled (Rate
// and Period multiplied by the same factor), which keeps the rate and the burst exact.
func (l Limit) spec() ([]interface{}, error) {
	switch l.algorithm() {
	case GCRA, TokenBucket, FixedWindow, SlidingWindow, SlidingLog:
	default:
		return nil, argErr("unknown algorithm %q", string(l.Algorithm))
	}
	if l.Rate <= 0 {
		return nil, argErr("Rate must be at least 1, got %d", l.Rate)
	}
	if l.Burst < 0 {
		return nil, argErr("Burst must not be negative, got %d", l.Burst)
	}
	if l.Burst != 0 && !l.bursty() && l.Burst != l.Rate {
		return nil, argErr("Burst applies only to GCRA and TOKEN_BUCKET")
	}
	if l.Period <= 0 {
		return nil, argErr("Period must be positive, got %s", l.Period)
	}
	rate, period := int64(l.Rate), int64(l.Period)
	if rem := period % int64(time.Millisecond); rem != 0 {
		if !l.bursty() {
			return nil, argErr("a %s period must be a whole number of milliseconds, got %s", l.algorithm(), l.Period)
		}
		k := int64(time.Millisecond) / gcd(period, int64(time.Millisecond))
		if rate > (1<<62)/k {
			return nil, argErr("Rate %d is too large for a period of %s", l.Rate, l.Period)
		}
		rate, period = rate*k, period*k
	}
	args := []interface{}{string(l.algorithm()), strconv.FormatInt(rate, 10),
		strconv.FormatInt(period/int64(time.Millisecond), 10)}
	if l.bursty() {
		args = append(args, "BURST", strconv.Itoa(l.burst()))
	}
	return args, nil
}

func gcd(a, b int64) int64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}
