package ratelimit

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// needPolicies skips where the module predates RL.POLICY (issue 16).
func needPolicies(t *testing.T, rdb *redis.Client) {
	t.Helper()
	if err := rdb.Do(bg, "RL.POLICY", "LIST").Err(); err != nil && strings.Contains(err.Error(), "unknown command") {
		t.Skip("this module has no RL.POLICY")
	}
}

func policyName(t *testing.T) string { return strings.ReplaceAll(key(t), "/", ".") }

// Policies: set, read back, check all or nothing in one key, the deciding limit (RESP3),
// shadow mode, peek, a group with a policy key, deletion.
func TestPolicies(t *testing.T) {
	eachServer(t, func(t *testing.T, rdb *redis.Client) {
		needPolicies(t, rdb)
		rl := New(rdb)
		name := policyName(t)
		want := Policy{Limits: []Limit{
			{Algorithm: TokenBucket, Rate: 10, Burst: 20, Period: time.Second},
			{Algorithm: FixedWindow, Rate: 5, Period: 24 * time.Hour, Block: time.Minute},
		}}
		v, err := rl.SetPolicy(bg, name, want)
		if err != nil || v < 1 {
			t.Fatalf("set: %d %v", v, err)
		}
		got, found, err := rl.GetPolicy(bg, name)
		if err != nil || !found || got.Version != v || len(got.Limits) != 2 || got.Limits[0] != want.Limits[0] || got.Limits[1] != want.Limits[1] {
			t.Fatalf("get: %+v %v %v", got, found, err)
		}
		if names, err := rl.ListPolicies(bg); err != nil || !contains(names, name) {
			t.Fatalf("list: %v %v", names, err)
		}
		lim := ByPolicy(name)
		k := key(t)
		for i := 0; i < 5; i++ {
			if d, err := rl.Check(bg, k, lim); err != nil || !d.Allowed {
				t.Fatalf("check %d: %+v %v", i, d, err)
			}
		}
		d, err := rl.Check(bg, k, lim)
		if err != nil || d.Allowed || d.Limit != 5 || d.RetryAfter < 59*time.Second {
			t.Fatalf("6th (the daily limit, blocking): %+v %v", d, err)
		}
		if resp3 := rdb.Options().Protocol != 2; resp3 && d.DecidedBy != 2 || !resp3 && d.DecidedBy != 0 {
			t.Fatalf("DecidedBy %d", d.DecidedBy)
		}
		// Shadow mode admits what enforcement denies, and says so (on RESP3).
		k2 := key(t)
		rl.CheckN(bg, k2, lim, 5)
		s, err := rl.Check(bg, k2, Limit{Policy: name, Shadow: true})
		if err != nil || !s.Allowed || (rdb.Options().Protocol != 2 && !s.ShadowDenied) {
			t.Fatalf("shadow: %+v %v", s, err)
		}
		if p, err := rl.Peek(bg, key(t), lim, 0); err != nil || p.Remaining != 5 {
			t.Fatalf("peek: %+v %v", p, err)
		}
		tag := "{" + key(t) + "}"
		m, err := rl.CheckAll(bg, Request{Key: tag + ":p", Limit: lim, Cost: 5}, Request{Key: tag + ":x", Limit: PerMinute(1)})
		if err != nil || !m.Allowed {
			t.Fatalf("group: %+v %v", m, err)
		}
		for _, bad := range []func() error{
			func() error { _, err := rl.Check(bg, k, Limit{Policy: name, Rate: 3}); return err },
			func() error { _, err := rl.CheckAtMost(bg, k, lim, 2); return err },
			func() error {
				_, err := rl.CheckAll(bg, Request{Key: "a", Limit: Limit{Policy: name, Shadow: true}})
				return err
			},
			func() error { _, err := rl.SetPolicy(bg, name, Policy{}); return err },
		} {
			if err := bad(); !isArg(err) {
				t.Errorf("argument error expected: %v", err)
			}
		}
		if ok, err := rl.DeletePolicy(bg, name); err != nil || !ok {
			t.Fatalf("delete: %v %v", ok, err)
		}
		if _, err := rl.Check(bg, key(t), lim); !isServer(err) || !strings.Contains(err.Error(), "no such policy") {
			t.Fatalf("an unknown policy: %v", err)
		}
		if _, found, err := rl.GetPolicy(bg, name); found || err != nil {
			t.Fatalf("get after delete: %v %v", found, err)
		}
	})
}

// A CALENDAR limit in a policy round-trips too.
func TestPolicyCalendarLimit(t *testing.T) {
	rdb := newClient(t, servers[0])
	needPolicies(t, rdb)
	rl := New(rdb)
	name := policyName(t)
	cal := Limit{Algorithm: Calendar, Rate: 100, Unit: Month, UTCOffset: -5 * time.Hour}
	if _, err := rl.SetPolicy(bg, name, Policy{Limits: []Limit{cal}, Shadow: true}); err != nil {
		t.Fatal(err)
	}
	got, _, err := rl.GetPolicy(bg, name)
	if err != nil || len(got.Limits) != 1 || got.Limits[0] != cal || !got.Shadow {
		t.Fatalf("%+v %v", got, err)
	}
	rl.DeletePolicy(bg, name)
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// The middleware with a policy: the deciding limit's numbers, named after the policy.
func TestMiddlewareWithAPolicy(t *testing.T) {
	rdb := newClient(t, servers[0])
	needPolicies(t, rdb)
	rl := New(rdb)
	name := policyName(t)
	if _, err := rl.SetPolicy(bg, name, Policy{Limits: []Limit{PerMinute(2), {Algorithm: FixedWindow, Rate: 100, Period: time.Hour}}}); err != nil {
		t.Fatal(err)
	}
	defer rl.DeletePolicy(bg, name)
	srv := httptest.NewServer(rl.Middleware(MiddlewareOptions{Limit: ByPolicy(name), KeyPrefix: key(t) + ":"})(
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})))
	defer srv.Close()
	res := get(t, srv.URL, nil)
	if res.StatusCode != 200 || res.Header.Get("RateLimit-Policy") != `"`+name+`";q=2` ||
		!strings.HasPrefix(res.Header.Get("RateLimit"), `"`+name+`";r=1;`) {
		t.Fatalf("%d %v", res.StatusCode, res.Header)
	}
	get(t, srv.URL, nil)
	if res := get(t, srv.URL, nil); res.StatusCode != 429 || res.Header.Get("Retry-After") == "" {
		t.Fatalf("3rd: %d %v", res.StatusCode, res.Header)
	}
}
