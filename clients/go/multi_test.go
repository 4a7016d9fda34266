package ratelimit

import (
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

func TestCheckAllIsAllOrNothing(t *testing.T) {
	eachServer(t, func(t *testing.T, rdb *redis.Client) {
		rl := New(rdb)
		tag := "{" + key(t) + "}"
		sec := Request{Key: tag + ":sec", Limit: Limit{Rate: 2, Period: time.Hour}}
		day := Request{Key: tag + ":day", Limit: Limit{Algorithm: FixedWindow, Rate: 3, Period: 24 * time.Hour}, Cost: 1}
		for i := 0; i < 2; i++ {
			m, err := rl.CheckAll(bg, sec, day)
			if err != nil || !m.Allowed || len(m.Results) != 2 || m.RetryAfter != -1 || m.Source != SourceServer {
				t.Fatalf("check %d: %+v %v", i, m, err)
			}
		}
		m, err := rl.CheckAll(bg, sec, day)
		if err != nil || m.Allowed || len(m.DeniedBy) != 1 || m.DeniedBy[0] != 0 || m.RetryAfter <= 0 {
			t.Fatalf("third: %+v %v", m, err)
		}
		// The denied group charged nothing: the day key still has 1 left.
		d, _ := rl.Peek(bg, day.Key, day.Limit, 0)
		if d.Remaining != 1 {
			t.Fatalf("day remaining %d, want 1", d.Remaining)
		}
		if _, err := rl.CheckAll(bg, sec, sec); !isArg(err) {
			t.Fatalf("a repeated key: %v", err)
		}
	})
}

func TestLeasesBoundConcurrency(t *testing.T) {
	eachServer(t, func(t *testing.T, rdb *redis.Client) {
		rl := New(rdb)
		k := key(t)
		a, err := rl.Acquire(bg, k, 2, time.Minute, 0)
		if err != nil || !a.Acquired || len(a.ID) != 16 || a.Remaining != 1 {
			t.Fatalf("first: %+v %v", a, err)
		}
		b, _ := rl.Acquire(bg, k, 2, time.Minute, 1)
		c, _ := rl.Acquire(bg, k, 2, time.Minute, 1)
		if !b.Acquired || c.Acquired || c.ID != "" || c.RetryAfter <= 0 {
			t.Fatalf("second %+v third %+v", b, c)
		}
		if ok, err := rl.Renew(bg, k, a.ID, 2*time.Minute); err != nil || !ok {
			t.Fatalf("renew: %v %v", ok, err)
		}
		if n, err := rl.Release(bg, k, a.ID); err != nil || n != 1 {
			t.Fatalf("release: %d %v", n, err)
		}
		if n, _ := rl.Release(bg, k, a.ID); n != 0 {
			t.Fatalf("second release freed %d", n)
		}
		if ok, _ := rl.Renew(bg, k, a.ID, time.Minute); ok {
			t.Fatal("renewed a released lease")
		}
		if d, _ := rl.Acquire(bg, k, 2, time.Minute, 1); !d.Acquired {
			t.Fatal("the released slot was not free")
		}
		if _, err := rl.Release(bg, k, "not-an-id"); !isArg(err) {
			t.Fatalf("bad id: %v", err)
		}
		if d, _ := rl.Acquire(bg, key(t), 2, time.Minute, 3); d.Acquired || d.RetryAfter != -1 {
			t.Fatalf("cost above the limit: %+v", d)
		}
	})
}
