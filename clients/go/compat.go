package ratelimit

import (
	"context"
	"time"
)

// DefaultCompatPrefix is NewLimiter's key prefix. redis_rate's is "rate:", whose keys hold
// a string: a different prefix lets both run side by side during a migration (each sees
// its own keys; redis_rate's expire by themselves) instead of failing with WRONGTYPE.
const DefaultCompatPrefix = "rl:rate:"

// Limiter is redis_rate's Limiter, on the module's GCRA (or any algorithm in Limit).
type Limiter struct {
	rl *RateLimiter
}

// NewLimiter returns redis_rate's Limiter over rdb. As redis_rate, it returns the client's
// errors (now typed: ArgumentError, ServerError, UnavailableError) and sets no timeout of
// its own; opts add any of New's options (WithOnUnavailable, WithBreaker, ...).
func NewLimiter(rdb Processor, opts ...Option) *Limiter {
	cfg := config{prefix: DefaultCompatPrefix, onUnavailable: FailError}
	return &Limiter{rl: newRateLimiter(rdb, cfg, opts)}
}

// RateLimiter is the typed limiter under l (for Peek, CheckAll, leases ...), with l's options.
func (l *Limiter) RateLimiter() *RateLimiter { return l.rl }

// Result is redis_rate's Result.
type Result struct {
	// Limit is the limit that was used to obtain this result.
	Limit Limit
	// Allowed is the number of events admitted now (0 when denied).
	Allowed int
	// Remaining is the number of events the key would admit right now; 0 when denied.
	Remaining int
	// RetryAfter is -1 when allowed; when denied, the time until the request would be
	// admitted (for a cost above the burst, redis_rate's figure: see docs/clients/go.md).
	RetryAfter time.Duration
	// ResetAfter is the time until the key is back to its initial state.
	ResetAfter time.Duration
	// Source is who decided (server, fallback, cache); not in redis_rate.
	Source Source
}

// Allow is a shortcut for AllowN(ctx, key, limit, 1).
func (l *Limiter) Allow(ctx context.Context, key string, limit Limit) (*Result, error) {
	return l.AllowN(ctx, key, limit, 1)
}

// AllowN reports whether n events may happen now, and charges them if so; n = 0 only reports.
func (l *Limiter) AllowN(ctx context.Context, key string, limit Limit, n int) (*Result, error) {
	if n == 0 {
		return l.peek(ctx, key, limit)
	}
	d, err := l.rl.CheckN(ctx, key, limit, n)
	if err != nil {
		return nil, err
	}
	res := compatResult(limit, d)
	if d.Allowed {
		res.Allowed = n
	} else if d.RetryAfter < 0 && d.Source == SourceServer && limit.Policy == "" {
		// The server says "never" (n is above the burst). redis_rate replies the time until
		// the key is rested plus the emission of the units beyond the burst.
		res.RetryAfter = d.ResetAfter + time.Duration(n-limit.burst())*limit.emission()
	}
	return res, nil
}

// AllowAtMost admits as many events as are available now, up to n: Result.Allowed says
// how many (RL.CHECK ... AT_MOST).
func (l *Limiter) AllowAtMost(ctx context.Context, key string, limit Limit, n int) (*Result, error) {
	if n == 0 {
		return l.peek(ctx, key, limit)
	}
	d, err := l.rl.CheckAtMost(ctx, key, limit, n)
	if err != nil {
		return nil, err
	}
	res := compatResult(limit, d)
	if d.Allowed {
		res.Allowed = d.Granted
	}
	return res, nil
}

// Reset removes key's limiter (RL.RESET).
func (l *Limiter) Reset(ctx context.Context, key string) error {
	_, err := l.rl.Reset(ctx, key)
	return err
}

func (l *Limiter) peek(ctx context.Context, key string, limit Limit) (*Result, error) {
	d, err := l.rl.Peek(ctx, key, limit, 0)
	if err != nil {
		return nil, err
	}
	res := compatResult(limit, d)
	res.Allowed = 0
	return res, nil
}

func compatResult(limit Limit, d Decision) *Result {
	res := &Result{Limit: limit, Remaining: d.Remaining, RetryAfter: d.RetryAfter, ResetAfter: d.ResetAfter, Source: d.Source}
	if !d.Allowed {
		res.Remaining = 0 // redis_rate's denials always say 0
	} else {
		res.RetryAfter = -1
	}
	return res
}
