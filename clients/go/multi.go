package ratelimit

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Request is one key's part of CheckAll.
type Request struct {
	Key   string
	Limit Limit
	// Cost is the units asked of this key; 0 means 1.
	Cost int
}

// MultiDecision is CheckAll's outcome.
type MultiDecision struct {
	// Allowed: every key admitted its request, and all were charged.
	Allowed bool
	// RetryAfter: -1 when allowed; else the longest wait among the denying keys, or -1 when
	// one of them can never admit its request.
	RetryAfter time.Duration
	// Results: each key's own decision as if checked alone, in request order (nothing is
	// charged when the group is denied).
	Results []Decision
	// DeniedBy: the indexes of the keys that denied.
	DeniedBy []int
	Source   Source
}

// CheckAll checks several keys at one instant, all or nothing (RL.MCHECK). In a cluster
// the keys must share a hash slot: give them one hash tag, as in "{user:42}:sec".
func (r *RateLimiter) CheckAll(ctx context.Context, reqs ...Request) (MultiDecision, error) {
	if len(reqs) == 0 {
		return MultiDecision{}, argErr("CheckAll needs at least one request")
	}
	args := make([]interface{}, 0, 2+len(reqs)*8)
	args = append(args, "RL.MCHECK", strconv.Itoa(len(reqs)))
	seen := make(map[string]bool, len(reqs))
	for _, q := range reqs {
		k := r.cfg.prefix + q.Key
		if seen[k] {
			return MultiDecision{}, argErr("CheckAll: key %d appears more than once", len(seen))
		}
		seen[k] = true
		args = append(args, k)
	}
	for _, q := range reqs {
		spec, err := q.Limit.spec()
		if err == nil && q.Limit.Shadow {
			err = argErr("CheckAll takes no Shadow limit (RL.MCHECK has no SHADOW)")
		}
		if err == nil && q.Cost < 0 {
			err = argErr("the cost must be at least 1, got %d", q.Cost)
		}
		if err != nil {
			r.metrics.Error("argument")
			return MultiDecision{}, err
		}
		args = append(args, spec...)
		if q.Cost > 1 {
			args = append(args, "COST", strconv.Itoa(q.Cost))
		}
	}
	cmd := redis.NewCmd(ctx, args...)
	cmd.SetFirstKeyPos(2)
	if err := r.run(ctx, cmd); err != nil {
		if r.decides(ctx, err) {
			m := r.fallbackAll(reqs)
			r.metrics.Error("unavailable")
			r.metrics.Decision(m.Allowed, m.Source)
			return m, nil
		}
		r.metrics.Error(ErrorClass(err))
		return MultiDecision{}, err
	}
	m, err := parseMulti(cmd.Val())
	if err != nil {
		r.metrics.Error("server")
		return MultiDecision{}, &ServerError{Err: err}
	}
	r.metrics.Decision(m.Allowed, SourceServer)
	return m, nil
}

func parseMulti(v interface{}) (MultiDecision, error) {
	m, err := fields(v, []string{"allowed", "retry_after_ms"})
	if err != nil {
		return MultiDecision{}, err
	}
	var results []interface{}
	switch r := v.(type) {
	case []interface{}:
		results = r[2:]
	default:
		rs, _ := m["results"].([]interface{})
		results = rs
	}
	allowed, _ := intField(m, "allowed")
	retry, ok := intField(m, "retry_after_ms")
	if !ok {
		return MultiDecision{}, fmt.Errorf("ratelimit: unexpected RL.MCHECK reply %v", v)
	}
	out := MultiDecision{Allowed: allowed == 1, RetryAfter: ms(retry), Source: SourceServer}
	for i, x := range results {
		d, err := parseCheck(x)
		if err != nil {
			return MultiDecision{}, err
		}
		d.Granted = -1
		if !d.Allowed {
			out.DeniedBy = append(out.DeniedBy, i)
		}
		out.Results = append(out.Results, d)
	}
	return out, nil
}

// fallbackAll decides a group without the server: each key by the policy, all or nothing.
func (r *RateLimiter) fallbackAll(reqs []Request) MultiDecision {
	out := MultiDecision{Allowed: true, RetryAfter: -1, Source: SourceFallback}
	var longest time.Duration
	never := false
	for i, q := range reqs {
		cost := q.Cost
		if cost == 0 {
			cost = 1
		}
		d := r.fallback(r.cfg.prefix+q.Key, q.Limit, cost, false, true)
		out.Results = append(out.Results, d)
		if !d.Allowed {
			out.Allowed = false
			out.DeniedBy = append(out.DeniedBy, i)
			if d.RetryAfter < 0 {
				never = true
			} else if d.RetryAfter > longest {
				longest = d.RetryAfter
			}
		}
	}
	if !out.Allowed && !never {
		out.RetryAfter = longest
	}
	if out.Allowed && r.cfg.onUnavailable == FailLocal {
		// The local decisions above were peeks: charge them now that all admit.
		for i, q := range reqs {
			cost := q.Cost
			if cost == 0 {
				cost = 1
			}
			if q.Limit.Policy == "" {
				out.Results[i] = r.local.check(r.cfg.prefix+q.Key, q.Limit, cost, false, false)
			}
		}
	}
	return out
}
