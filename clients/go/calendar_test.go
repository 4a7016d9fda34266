package ratelimit

import (
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// CALENDAR quotas: a day from local midnight in the given offset, reset at the boundary.
func TestCalendarQuota(t *testing.T) {
	eachServer(t, func(t *testing.T, rdb *redis.Client) {
		rl := New(rdb)
		lim := Limit{Algorithm: Calendar, Rate: 2, Unit: Day, UTCOffset: 9 * time.Hour}
		k := key(t)
		before := time.Now()
		for i := 0; i < 2; i++ {
			if d, err := rl.Check(bg, k, lim); err != nil || !d.Allowed || d.Remaining != 1-i {
				t.Fatalf("check %d: %+v %v", i, d, err)
			}
		}
		d, err := rl.Check(bg, k, lim)
		after := time.Now()
		// Until the next midnight in UTC+9.
		zone := time.FixedZone("UTC+9", 9*3600)
		next := func(at time.Time) time.Duration {
			l := at.In(zone)
			return time.Date(l.Year(), l.Month(), l.Day()+1, 0, 0, 0, 0, zone).Sub(at)
		}
		if err != nil || d.Allowed || d.RetryAfter > next(before)+time.Millisecond || d.RetryAfter < next(after)-time.Millisecond {
			t.Fatalf("3rd: %+v %v (next midnight in %s)", d, err, next(after))
		}
		info, _ := rl.Inspect(bg, k)
		if info["unit"] != "DAY" || info["utc_offset"] != int64(540) {
			t.Fatalf("inspect: %v", info)
		}
		for _, bad := range []Limit{{Algorithm: Calendar, Rate: 1}, {Algorithm: Calendar, Rate: 1, Unit: "YEAR"},
			{Algorithm: Calendar, Rate: 1, Unit: Week, Period: time.Hour}, {Algorithm: Calendar, Rate: 1, Unit: Month, UTCOffset: 30 * time.Second},
			{Rate: 1, Period: time.Second, Unit: Day}, {Algorithm: Calendar, Rate: 1, Unit: Day, Burst: 2}} {
			if _, err := rl.Check(bg, key(t), bad); !isArg(err) {
				t.Errorf("%+v: %v", bad, err)
			}
		}
		if s := lim.String(); s != "CALENDAR 2 req/DAY UTC+09:00" {
			t.Errorf("String: %s", s)
		}
	})
}

// Penalty blocks: a denial with Block set blocks the key; RL.BLOCK bans one explicitly.
func TestBlocks(t *testing.T) {
	eachServer(t, func(t *testing.T, rdb *redis.Client) {
		rl := New(rdb)
		lim := Limit{Algorithm: FixedWindow, Rate: 1, Period: time.Hour, Block: 2 * time.Hour}
		k := key(t)
		rl.Check(bg, k, lim)
		d, err := rl.Check(bg, k, lim)
		if err != nil || d.Allowed || d.RetryAfter < 2*time.Hour-time.Second {
			t.Fatalf("the denial that blocks: %+v %v", d, err)
		}
		// Any check of the key is denied now, with the block's time left.
		d, err = rl.Check(bg, k, Limit{Algorithm: FixedWindow, Rate: 1000, Period: time.Hour})
		if err != nil || d.Allowed || d.RetryAfter < time.Hour {
			t.Fatalf("while blocked: %+v %v", d, err)
		}
		k2 := key(t)
		if err := rl.Block(bg, k2, 90*time.Second); err != nil {
			t.Fatal(err)
		}
		d, err = rl.Check(bg, k2, PerSecond(10))
		if err != nil || d.Allowed || d.RetryAfter <= 80*time.Second || d.RetryAfter > 90*time.Second {
			t.Fatalf("after RL.BLOCK: %+v %v", d, err)
		}
		if info, _ := rl.Inspect(bg, k2); info["blocked_ms"].(int64) <= 0 {
			t.Fatalf("inspect: %v", info)
		}
		if err := rl.Block(bg, k2, 0); !isArg(err) {
			t.Fatalf("a zero block: %v", err)
		}
	})
}
