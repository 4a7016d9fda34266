package ratelimit

import (
	"testing"
	"time"

	"github.com/go-redis/redis_rate/v10"
)

// The drop-in against the real go-redis/redis_rate (from the module proxy, pinned in go.mod):
// the same calls on the same server, each pair back to back on keys of the same history,
// give the same Allowed; Remaining within one (redis_rate's float division truncates 0.3/0.1
// to 2); times within the longest time between two calls of a pair plus 1 ms (this
// package's are whole milliseconds). AllowAtMost is compared on a key's first call only: afterwards redis_rate
// has also charged the fraction of a unit it did not grant (docs/clients/go.md).
func TestSameDecisionsAsRedisRate(t *testing.T) {
	rdb := newClient(t, servers[0])
	ours, theirs := NewLimiter(rdb), redis_rate.NewLimiter(rdb)
	type step struct {
		atMost bool
		n      int
	}
	// Slow limits: a stall between the two calls of a pair must not refill a unit.
	for _, lim := range []Limit{PerMinute(10), {Rate: 10, Burst: 4, Period: time.Minute}, PerMinute(5), PerHour(1000)} {
		their := redis_rate.Limit{Rate: lim.Rate, Burst: lim.Burst, Period: lim.Period}
		k := key(t)
		// The two keys' histories are apart by at most the longest time between the two
		// calls of a pair (redis_rate's first call also loads its script).
		var longest time.Duration
		steps := []step{{true, 2}, {false, 1}, {false, 2}, {false, 0}, {false, 1}, {false, 1}, {false, 3}, {false, 1}, {false, 0}, {false, 200000}}
		for i, s := range steps {
			var a *Result
			var b *redis_rate.Result
			var err1, err2 error
			start := time.Now()
			if s.atMost {
				a, err1 = ours.AllowAtMost(bg, k, lim, s.n)
				b, err2 = theirs.AllowAtMost(bg, k, their, s.n)
			} else {
				a, err1 = ours.AllowN(bg, k, lim, s.n)
				b, err2 = theirs.AllowN(bg, k, their, s.n)
			}
			longest = max(longest, time.Since(start))
			slack := longest + time.Millisecond
			if err1 != nil || err2 != nil {
				t.Fatalf("step %d: %v %v", i, err1, err2)
			}
			near := func(x, y time.Duration) bool {
				if (x < 0) != (y < 0) {
					return false
				}
				return x-y <= slack && y-x <= slack
			}
			dr := a.Remaining - b.Remaining
			if a.Allowed != b.Allowed || dr < 0 || dr > 1 || !near(a.RetryAfter, b.RetryAfter) || !near(a.ResetAfter, b.ResetAfter) {
				t.Errorf("%s step %d %+v: ours %+v, redis_rate's %+v", lim, i, s, *a, *b)
			}
		}
	}
}
