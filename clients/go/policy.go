package ratelimit

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Policy is a named set of one to eight limits stored in the server (RL.POLICY), checked
// all or nothing in one key with ByPolicy(name). Shadow admits everything and counts what
// enforcement would deny.
type Policy struct {
	Limits []Limit
	Shadow bool
	// Version is the server's version of the policy (GetPolicy); ignored by SetPolicy.
	Version int64
}

type policyJSON struct {
	Limits  []map[string]interface{} `json:"limits"`
	Shadow  bool                     `json:"shadow"`
	Version int64                    `json:"version,omitempty"`
}

// policyLimit is one limit as RL.POLICY's JSON.
func policyLimit(l Limit) (map[string]interface{}, error) {
	if l.Policy != "" || l.Shadow {
		return nil, argErr("a policy's limits are explicit limits, not Policy ones")
	}
	spec, err := l.makeSpec()
	if err != nil {
		return nil, err
	}
	// spec is `algorithm limit period [BURST n] [UTC_OFFSET m] [BLOCK ms]`, already scaled
	// and checked: name its fields.
	m := map[string]interface{}{"algorithm": spec[0], "limit": json.Number(spec[1].(string))}
	if l.algorithm() == Calendar {
		m["period"] = spec[2]
	} else {
		m["period_ms"] = json.Number(spec[2].(string))
	}
	for i := 3; i+1 < len(spec); i += 2 {
		v := json.Number(spec[i+1].(string))
		switch spec[i] {
		case "BURST":
			m["burst"] = v
		case "UTC_OFFSET":
			m["utc_offset"] = v
		case "BLOCK":
			m["block_ms"] = v
		}
	}
	return m, nil
}

// SetPolicy creates or replaces the policy name (RL.POLICY SET, an operator's command) and
// returns its new version. On a cluster (or a Ring) it is set on every primary (shard), as
// each needs the same set; the version returned is the highest of theirs.
func (r *RateLimiter) SetPolicy(ctx context.Context, name string, p Policy) (int64, error) {
	pj := policyJSON{Shadow: p.Shadow}
	if len(p.Limits) == 0 || len(p.Limits) > 8 {
		return 0, argErr("a policy has 1 to 8 limits, got %d", len(p.Limits))
	}
	for _, l := range p.Limits {
		m, err := policyLimit(l)
		if err != nil {
			return 0, err
		}
		pj.Limits = append(pj.Limits, m)
	}
	body, err := json.Marshal(pj)
	if err != nil {
		return 0, err
	}
	var version int64
	var mu sync.Mutex // a cluster's primaries are set concurrently
	err = r.eachPrimary(ctx, func(ctx context.Context, c Processor) error {
		cmd := redis.NewIntCmd(ctx, "RL.POLICY", "SET", name, string(body))
		if err := r.runOn(ctx, c, cmd); err != nil {
			return err
		}
		mu.Lock()
		version = max(version, cmd.Val())
		mu.Unlock()
		return nil
	})
	return version, err
}

// GetPolicy returns the policy name as the server has it; found is false when there is none.
func (r *RateLimiter) GetPolicy(ctx context.Context, name string) (p Policy, found bool, err error) {
	cmd := redis.NewStringCmd(ctx, "RL.POLICY", "GET", name)
	if err := r.run(ctx, cmd); err != nil {
		if errors.Is(err, redis.Nil) {
			return Policy{}, false, nil
		}
		return Policy{}, false, err
	}
	var pj struct {
		Limits  []map[string]json.RawMessage `json:"limits"`
		Shadow  bool                         `json:"shadow"`
		Version int64                        `json:"version"`
	}
	if err := json.Unmarshal([]byte(cmd.Val()), &pj); err != nil {
		return Policy{}, false, &ServerError{Err: err}
	}
	p = Policy{Shadow: pj.Shadow, Version: pj.Version}
	for _, m := range pj.Limits {
		p.Limits = append(p.Limits, limitFromJSON(m))
	}
	return p, true, nil
}

func limitFromJSON(m map[string]json.RawMessage) Limit {
	num := func(k string) int64 {
		var n int64
		json.Unmarshal(m[k], &n)
		return n
	}
	var alg, period string
	json.Unmarshal(m["algorithm"], &alg)
	json.Unmarshal(m["period"], &period)
	l := Limit{Algorithm: Algorithm(alg), Rate: int(num("limit")), Block: time.Duration(num("block_ms")) * time.Millisecond}
	if l.Algorithm == Calendar {
		l.Unit = CalendarUnit(period)
		if l.Unit == "" {
			switch time.Duration(num("period_ms")) * time.Millisecond {
			case 7 * 24 * time.Hour:
				l.Unit = Week
			case 31 * 24 * time.Hour:
				l.Unit = Month
			default:
				l.Unit = Day
			}
		}
		l.UTCOffset = time.Duration(num("utc_offset")) * time.Minute
		return l
	}
	l.Period = time.Duration(num("period_ms")) * time.Millisecond
	if l.bursty() {
		l.Burst = int(num("burst"))
	}
	return l
}

// DeletePolicy removes the policy name (on every primary of a cluster); true if it existed.
func (r *RateLimiter) DeletePolicy(ctx context.Context, name string) (bool, error) {
	existed := false
	var mu sync.Mutex
	err := r.eachPrimary(ctx, func(ctx context.Context, c Processor) error {
		cmd := redis.NewIntCmd(ctx, "RL.POLICY", "DEL", name)
		if err := r.runOn(ctx, c, cmd); err != nil {
			return err
		}
		mu.Lock()
		existed = existed || cmd.Val() == 1
		mu.Unlock()
		return nil
	})
	return existed, err
}

// ListPolicies returns the policies' names, sorted.
func (r *RateLimiter) ListPolicies(ctx context.Context) ([]string, error) {
	cmd := redis.NewStringSliceCmd(ctx, "RL.POLICY", "LIST")
	if err := r.run(ctx, cmd); err != nil {
		return nil, err
	}
	return cmd.Val(), nil
}

// PolicyDigests returns RL.POLICY DIGEST of every primary (one entry on a single server),
// by address: equal digests mean equal policy sets, so a difference is drift.
func (r *RateLimiter) PolicyDigests(ctx context.Context) (map[string]string, error) {
	out := map[string]string{}
	var mu sync.Mutex
	err := r.eachPrimary(ctx, func(ctx context.Context, c Processor) error {
		cmd := redis.NewStringCmd(ctx, "RL.POLICY", "DIGEST")
		if err := r.runOn(ctx, c, cmd); err != nil {
			return err
		}
		addr := ""
		if cl, ok := c.(*redis.Client); ok {
			addr = cl.Options().Addr
		}
		mu.Lock()
		out[addr] = cmd.Val()
		mu.Unlock()
		return nil
	})
	return out, err
}

// eachPrimary runs f on every primary of a cluster, every shard of a Ring, or the client.
func (r *RateLimiter) eachPrimary(ctx context.Context, f func(context.Context, Processor) error) error {
	var err error
	switch c := r.rdb.(type) {
	case *redis.ClusterClient:
		err = c.ForEachMaster(ctx, func(ctx context.Context, n *redis.Client) error { return f(ctx, n) })
	case *redis.Ring:
		err = c.ForEachShard(ctx, func(ctx context.Context, n *redis.Client) error { return f(ctx, n) })
	default:
		err = f(ctx, r.rdb)
	}
	if err != nil {
		r.metrics.Error(ErrorClass(err))
	}
	return err
}

// runOn is run on one node of the client (an operator's command: no breaker, the timeout).
func (r *RateLimiter) runOn(ctx context.Context, c Processor, cmd redis.Cmder) error {
	if r.cfg.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, r.cfg.timeout)
		defer cancel()
	}
	return classify(c.Process(ctx, cmd))
}
