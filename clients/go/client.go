package ratelimit

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Processor is what the limiters need of a go-redis client: *redis.Client (also a
// Sentinel failover client), *redis.ClusterClient, *redis.Ring and redis.UniversalClient
// all have it.
type Processor interface {
	Process(ctx context.Context, cmd redis.Cmder) error
}

// stateReloader is a cluster client's ReloadState (go-redis's *redis.ClusterClient).
type stateReloader interface{ ReloadState(ctx context.Context) }

// Decision is one check's outcome (CLIENTS.md's result).
type Decision struct {
	// Allowed: the request was admitted (and charged, unless it was a Peek).
	Allowed bool
	// Limit is the limit's rate.
	Limit int
	// Remaining: units that would be admitted right now, after this request.
	Remaining int
	// RetryAfter is -1 when allowed; when denied, the wait until this same request would be
	// admitted, or -1 when it never can be (its cost is above the burst).
	RetryAfter time.Duration
	// ResetAfter: the time until the key is fully rested.
	ResetAfter time.Duration
	// Granted: the units admitted by CheckAtMost (0 when denied); -1 for the other calls.
	Granted int
	// Source: who decided (server, fallback, cache).
	Source Source
	// DecidedBy: for a Policy limit on RESP3, the position (from 1) of the policy's limit
	// that decided (the longest wait when denied, the fewest left when admitted); else 0.
	DecidedBy int
	// ShadowDenied: a shadow-mode policy check admitted what enforcement would deny.
	ShadowDenied bool
}

// RateLimiter checks limits on the module with every algorithm and the resilience options.
type RateLimiter struct {
	rdb          Processor
	cfg          config
	ctxDeadlines bool // the go-redis client honours context deadlines itself
	breaker      *breaker
	cache        *denialCache
	local        *localLimiter
	leases       *localLeases
	metrics      Metrics
}

// New returns a RateLimiter over rdb. Defaults (CLIENTS.md): 50 ms timeout, the default
// breaker, FailOpen, no denial cache, no key prefix.
func New(rdb Processor, opts ...Option) *RateLimiter {
	b := DefaultBreaker
	cfg := config{timeout: DefaultTimeout, breaker: &b, onUnavailable: FailOpen}
	return newRateLimiter(rdb, cfg, opts)
}

func newRateLimiter(rdb Processor, cfg config, opts []Option) *RateLimiter {
	for _, o := range opts {
		o(&cfg)
	}
	r := &RateLimiter{rdb: rdb, cfg: cfg, metrics: cfg.metrics, ctxDeadlines: honoursDeadlines(rdb)}
	if r.metrics == nil {
		r.metrics = noMetrics{}
	}
	if cfg.breaker != nil {
		r.breaker = newBreaker(*cfg.breaker, r.metrics.BreakerState)
	}
	if cfg.cacheSize > 0 {
		r.cache = newDenialCache(cfg.cacheSize)
	}
	if cfg.onUnavailable == FailLocal {
		n := cfg.localSize
		if n <= 0 {
			n = 10000
		}
		r.local = newLocalLimiter(n)
		r.leases = newLocalLeases(n)
	}
	return r
}

// honoursDeadlines reports whether the client applies context deadlines to its socket
// reads (go-redis's ContextTimeoutEnabled); if not, the limiter enforces them itself.
func honoursDeadlines(rdb Processor) bool {
	switch c := rdb.(type) {
	case *redis.Client:
		return c.Options().ContextTimeoutEnabled
	case *redis.ClusterClient:
		return c.Options().ContextTimeoutEnabled
	case *redis.Ring:
		return c.Options().ContextTimeoutEnabled
	}
	return false
}

// Breaker is the circuit breaker's state (BreakerClosed when there is none).
func (r *RateLimiter) Breaker() BreakerState {
	if r.breaker == nil {
		return BreakerClosed
	}
	return r.breaker.State()
}

// run sends cmd through the breaker with the timeout, and classifies its error.
func (r *RateLimiter) run(ctx context.Context, cmd redis.Cmder) error {
	probe := false
	if r.breaker != nil {
		var ok bool
		if ok, probe = r.breaker.allow(); !ok {
			return &UnavailableError{Err: ErrBreakerOpen, BreakerOpen: true}
		}
	}
	cctx, cancel := ctx, context.CancelFunc(func() {})
	if r.cfg.timeout > 0 {
		cctx, cancel = context.WithTimeout(ctx, r.cfg.timeout)
	}
	start := time.Now()
	err := r.process(cctx, cmd)
	cancel()
	r.metrics.CallDuration(time.Since(start))
	err = classify(err)
	var u *UnavailableError
	unavailable := errors.As(err, &u)
	if unavailable && !cancelled(ctx) {
		if c, ok := r.rdb.(stateReloader); ok {
			// go-redis's cluster client reloads its slot map on MOVED, but not when a master
			// refuses connections (a SIGKILLed master): without this, a failover would be
			// seen only at its ClusterStateReloadInterval (60 s by default).
			c.ReloadState(ctx)
		}
	}
	if r.breaker != nil {
		if cancelled(ctx) {
			// A call the caller cancelled says nothing about the server.
			r.breaker.abandon(probe)
		} else {
			r.breaker.done(probe, unavailable)
		}
	}
	return err
}

// cancelled: the caller gave up on the call (its own deadline passing is, on the contrary,
// the server being too slow: unavailable, handled by the policy).
func cancelled(ctx context.Context) bool { return errors.Is(ctx.Err(), context.Canceled) }

// decides: err is one the OnUnavailable policy answers instead of returning it.
func (r *RateLimiter) decides(ctx context.Context, err error) bool {
	var u *UnavailableError
	return errors.As(err, &u) && !cancelled(ctx) && r.cfg.onUnavailable != FailError
}

func (r *RateLimiter) process(ctx context.Context, cmd redis.Cmder) error {
	_, deadline := ctx.Deadline()
	if ctx.Done() == nil || (deadline && r.ctxDeadlines) {
		return r.rdb.Process(ctx, cmd)
	}
	// The client would wait for its ReadTimeout (3 s by default): stop waiting at the
	// deadline or the cancellation. The call finishes in the background and its connection
	// goes back to the pool.
	done := make(chan error, 1)
	go func() { done <- r.rdb.Process(ctx, cmd) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Check charges one unit of key against lim.
func (r *RateLimiter) Check(ctx context.Context, key string, lim Limit) (Decision, error) {
	return r.check(ctx, key, lim, 1, false, false)
}

// CheckN charges n units (n >= 1), all or nothing.
func (r *RateLimiter) CheckN(ctx context.Context, key string, lim Limit, n int) (Decision, error) {
	return r.check(ctx, key, lim, n, false, false)
}

// CheckAtMost charges as many units as are available now, up to n (GCRA and TOKEN_BUCKET):
// Decision.Granted says how many.
func (r *RateLimiter) CheckAtMost(ctx context.Context, key string, lim Limit, n int) (Decision, error) {
	return r.check(ctx, key, lim, n, true, false)
}

// Peek says what CheckN with n would decide now, and charges nothing. n = 0 asks for the
// remaining quota (Remaining: the units the key admits now).
func (r *RateLimiter) Peek(ctx context.Context, key string, lim Limit, n int) (Decision, error) {
	return r.check(ctx, key, lim, n, false, true)
}

func (r *RateLimiter) check(ctx context.Context, key string, lim Limit, n int, atMost, peek bool) (Decision, error) {
	spec, err := lim.spec()
	if err == nil && (n < 0 || (n == 0 && !peek)) {
		err = argErr("the cost must be at least 1 (Peek also takes 0), got %d", n)
	}
	if err == nil && atMost && !lim.bursty() {
		err = argErr("CheckAtMost applies only to GCRA and TOKEN_BUCKET")
	}
	if err != nil {
		r.metrics.Error("argument")
		return Decision{}, err
	}
	fullKey := r.cfg.prefix + key
	if r.cache != nil && !peek {
		if left := r.cache.check(fullKey, time.Now()); left > 0 {
			d := Decision{Limit: lim.Rate, RetryAfter: left, ResetAfter: left, Granted: -1, Source: SourceCache}
			if atMost {
				d.Granted = 0
			}
			r.metrics.Decision(false, SourceCache)
			return d, nil
		}
	}
	name := "RL.CHECK"
	if peek {
		name = "RL.PEEK"
	}
	args := make([]interface{}, 0, 10)
	args = append(args, name, fullKey)
	args = append(args, spec...)
	if n != 1 {
		args = append(args, "COST", strconv.Itoa(n))
	}
	if lim.Shadow && !peek {
		args = append(args, "SHADOW")
	}
	if atMost {
		args = append(args, "AT_MOST")
	}
	cmd := redis.NewCmd(ctx, args...)
	cmd.SetFirstKeyPos(1)
	if err := r.run(ctx, cmd); err != nil {
		if r.decides(ctx, err) {
			d := r.fallback(fullKey, lim, n, atMost, peek)
			r.metrics.Error("unavailable")
			r.metrics.Decision(d.Allowed, d.Source)
			return d, nil
		}
		r.metrics.Error(ErrorClass(err))
		return Decision{}, err
	}
	d, err := parseCheck(cmd.Val())
	if err != nil {
		r.metrics.Error("server")
		return Decision{}, &ServerError{Err: err}
	}
	if !atMost {
		d.Granted = -1
	} else if d.Granted < 0 {
		d.Granted = 0
	}
	if r.cache != nil && !peek && !d.Allowed && d.RetryAfter > 0 {
		r.cache.deny(fullKey, time.Now().Add(d.RetryAfter))
	}
	r.metrics.Decision(d.Allowed, SourceServer)
	return d, nil
}

// fallback decides without the server, by the OnUnavailable policy.
func (r *RateLimiter) fallback(key string, lim Limit, n int, atMost, peek bool) Decision {
	mode := r.cfg.onUnavailable
	if mode == FailLocal && lim.Policy != "" {
		mode = FailOpen // the policy's limits are in the server: nothing to limit with locally
	}
	switch mode {
	case FailLocal:
		return r.local.check(key, lim, n, atMost, peek)
	case FailClosed:
		retry := r.cfg.timeout
		if r.breaker != nil {
			if left := r.breaker.cooldownLeft(); left > 0 {
				retry = left
			}
		}
		if retry <= 0 {
			retry = time.Second
		}
		d := Decision{Limit: lim.Rate, RetryAfter: retry, Granted: -1, Source: SourceFallback}
		if atMost {
			d.Granted = 0
		}
		return d
	default:
		d := Decision{Allowed: true, Limit: lim.Rate, Remaining: max(lim.burst(), 0), RetryAfter: -1, Granted: -1, Source: SourceFallback}
		if atMost {
			d.Granted = n
		}
		return d
	}
}

// Refund gives back up to n units key was charged (RL.REFUND) and returns how many it gave.
func (r *RateLimiter) Refund(ctx context.Context, key string, n int) (int, error) {
	if n < 1 {
		return 0, argErr("the refund must be at least 1, got %d", n)
	}
	if r.cache != nil {
		r.cache.forget(r.cfg.prefix + key)
	}
	cmd := redis.NewIntCmd(ctx, "RL.REFUND", r.cfg.prefix+key, "COST", strconv.Itoa(n))
	cmd.SetFirstKeyPos(1)
	if err := r.run(ctx, cmd); err != nil {
		r.metrics.Error(ErrorClass(err))
		return 0, err
	}
	return int(cmd.Val()), nil
}

// Reset removes the limiters at keys (RL.RESET, one call per key so that keys of different
// cluster slots work) and returns how many existed.
func (r *RateLimiter) Reset(ctx context.Context, keys ...string) (int, error) {
	total := 0
	for _, k := range keys {
		if r.cache != nil {
			r.cache.forget(r.cfg.prefix + k)
		}
		cmd := redis.NewIntCmd(ctx, "RL.RESET", r.cfg.prefix+k)
		cmd.SetFirstKeyPos(1)
		if err := r.run(ctx, cmd); err != nil {
			r.metrics.Error(ErrorClass(err))
			return total, err
		}
		total += int(cmd.Val())
	}
	return total, nil
}

// Block denies every check of key for d (RL.BLOCK, rounded up to whole milliseconds),
// replacing any block it had: a ban. RL.RESET lifts it.
func (r *RateLimiter) Block(ctx context.Context, key string, d time.Duration) error {
	if d <= 0 {
		return argErr("a block must last at least 1ms, got %s", d)
	}
	ms := (d + time.Millisecond - 1) / time.Millisecond
	cmd := redis.NewStatusCmd(ctx, "RL.BLOCK", r.cfg.prefix+key, strconv.FormatInt(int64(ms), 10))
	cmd.SetFirstKeyPos(1)
	if err := r.run(ctx, cmd); err != nil {
		r.metrics.Error(ErrorClass(err))
		return err
	}
	if r.cache != nil {
		r.cache.deny(r.cfg.prefix+key, time.Now().Add(d))
	}
	return nil
}

// Inspect returns RL.INSPECT's fields of key (nil for a missing key): an operator's view.
func (r *RateLimiter) Inspect(ctx context.Context, key string) (map[string]interface{}, error) {
	cmd := redis.NewCmd(ctx, "RL.INSPECT", r.cfg.prefix+key)
	cmd.SetFirstKeyPos(1)
	if err := r.run(ctx, cmd); err != nil {
		if errors.Is(err, redis.Nil) {
			return nil, nil
		}
		r.metrics.Error(ErrorClass(err))
		return nil, err
	}
	switch v := cmd.Val().(type) {
	case []interface{}:
		m := make(map[string]interface{}, len(v)/2)
		for i := 0; i+1 < len(v); i += 2 {
			if k, ok := v[i].(string); ok {
				m[k] = v[i+1]
			}
		}
		return m, nil
	case map[interface{}]interface{}:
		m := make(map[string]interface{}, len(v))
		for k, x := range v {
			if ks, ok := k.(string); ok {
				m[ks] = x
			}
		}
		return m, nil
	}
	return nil, nil
}
