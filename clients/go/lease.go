package ratelimit

import (
	"context"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Lease is RL.ACQUIRE's outcome: a concurrency limit's slot.
type Lease struct {
	// Acquired: the lease was taken; release it with Release(key, ID).
	Acquired bool
	Limit    int
	// Remaining: units free after this request.
	Remaining int
	// RetryAfter: -1 when acquired; else the wait until enough leases expire, or -1 when
	// the cost is above the limit.
	RetryAfter time.Duration
	// ID is the lease's opaque id ("" when not acquired, or when the fallback admitted it).
	ID     string
	Source Source
}

var leaseFields = []string{"acquired", "limit", "remaining", "retry_after_ms", "lease_id"}

// Acquire takes a lease of cost units (0 means 1) on key, of at most limit units held at
// once, that lasts ttl unless released or renewed (RL.ACQUIRE). When the server cannot be
// asked, FailOpen admits with an empty ID, FailClosed denies, and FailLocal leases from an
// in-process limit of the same size (an ID starting "local:", which Release and Renew
// handle in this process).
func (r *RateLimiter) Acquire(ctx context.Context, key string, limit int, ttl time.Duration, cost int) (Lease, error) {
	if cost == 0 {
		cost = 1
	}
	leaseMs := ttl.Milliseconds()
	var err error
	switch {
	case limit < 1:
		err = argErr("the limit must be at least 1, got %d", limit)
	case leaseMs < 1:
		err = argErr("the lease must last at least 1ms, got %s", ttl)
	case cost < 1:
		err = argErr("the cost must be at least 1, got %d", cost)
	}
	if err != nil {
		r.metrics.Error("argument")
		return Lease{}, err
	}
	args := []interface{}{"RL.ACQUIRE", r.cfg.prefix + key, strconv.Itoa(limit), strconv.FormatInt(leaseMs, 10)}
	if cost != 1 {
		args = append(args, "COST", strconv.Itoa(cost))
	}
	cmd := redis.NewCmd(ctx, args...)
	cmd.SetFirstKeyPos(1)
	if err := r.run(ctx, cmd); err != nil {
		if r.decides(ctx, err) {
			l := Lease{Acquired: r.cfg.onUnavailable != FailClosed, Limit: limit, RetryAfter: -1, Source: SourceFallback}
			if r.cfg.onUnavailable == FailLocal {
				l = r.leases.acquire(r.cfg.prefix+key, limit, ttl, cost)
			} else if !l.Acquired {
				l.RetryAfter = r.fallback("", Limit{Rate: limit, Period: ttl}, 1, false, true).RetryAfter
			}
			r.metrics.Error("unavailable")
			r.metrics.Decision(l.Acquired, l.Source)
			return l, nil
		}
		r.metrics.Error(ErrorClass(err))
		return Lease{}, err
	}
	m, err := fields(cmd.Val(), leaseFields)
	if err != nil {
		return Lease{}, &ServerError{Err: err}
	}
	acq, _ := intField(m, "acquired")
	lim, _ := intField(m, "limit")
	rem, _ := intField(m, "remaining")
	retry, _ := intField(m, "retry_after_ms")
	l := Lease{Acquired: acq == 1, Limit: int(lim), Remaining: int(rem), RetryAfter: ms(retry), Source: SourceServer}
	l.ID, _ = m["lease_id"].(string)
	r.metrics.Decision(l.Acquired, SourceServer)
	return l, nil
}

// Release frees a lease early (RL.RELEASE) and returns the units freed (0 when it was not
// held). An empty id (a lease FailOpen admitted) frees nothing and asks nothing; a "local:"
// id is FailLocal's, freed in this process.
func (r *RateLimiter) Release(ctx context.Context, key, id string) (int, error) {
	if id == "" {
		return 0, nil
	}
	if r.leases != nil && isLocalLease(id) {
		return r.leases.release(r.cfg.prefix+key, id), nil
	}
	cmd := redis.NewIntCmd(ctx, "RL.RELEASE", r.cfg.prefix+key, id)
	cmd.SetFirstKeyPos(1)
	if err := r.run(ctx, cmd); err != nil {
		r.metrics.Error(ErrorClass(err))
		return 0, err
	}
	return int(cmd.Val()), nil
}

// Renew makes a held lease expire ttl from now (RL.RENEW); false when it is no longer held.
func (r *RateLimiter) Renew(ctx context.Context, key, id string, ttl time.Duration) (bool, error) {
	if ttl.Milliseconds() < 1 {
		return false, argErr("the lease must last at least 1ms, got %s", ttl)
	}
	if id == "" {
		return false, nil
	}
	if r.leases != nil && isLocalLease(id) {
		return r.leases.renew(r.cfg.prefix+key, id, ttl), nil
	}
	cmd := redis.NewIntCmd(ctx, "RL.RENEW", r.cfg.prefix+key, id, strconv.FormatInt(ttl.Milliseconds(), 10))
	cmd.SetFirstKeyPos(1)
	if err := r.run(ctx, cmd); err != nil {
		r.metrics.Error(ErrorClass(err))
		return false, err
	}
	return cmd.Val() == 1, nil
}
