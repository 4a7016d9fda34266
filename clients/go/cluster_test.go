package ratelimit

import (
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redis-ratelimit/redis-ratelimit/clients/go/internal/testserver"
)

// A 3-master cluster with a replica each: keys spread over every master, each check is
// routed to its key's master (no MOVED loop), RL.MCHECK with one hash tag works, and keys
// of different slots in one RL.MCHECK are refused (CROSSSLOT) as a ServerError.
func TestCluster(t *testing.T) {
	c, err := testserver.StartCluster(testserver.Redis(), 3, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop()
	rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs()})
	defer rdb.Close()
	for _, lim := range []*Limiter{NewLimiter(rdb)} {
		for i := 0; i < 60; i++ {
			k := fmt.Sprintf("cluster:user:%d", i)
			for j := 0; j < 3; j++ {
				res, err := lim.Allow(bg, k, PerMinute(2))
				if err != nil {
					t.Fatalf("%s: %v", k, err)
				}
				if (res.Allowed == 1) != (j < 2) {
					t.Fatalf("%s check %d: %+v", k, j, res)
				}
			}
		}
	}
	// Every master holds some of the 60 limiters.
	masters := 0
	for _, n := range c.Nodes {
		cl := redis.NewClient(&redis.Options{Addr: n.Addr()})
		role, _ := cl.Do(bg, "ROLE").Slice()
		if len(role) > 0 && role[0] == "master" {
			masters++
			if size := cl.DBSize(bg).Val(); size == 0 {
				t.Errorf("master %s holds no key", n.Addr())
			}
		}
		cl.Close()
	}
	if masters != 3 {
		t.Fatalf("%d masters", masters)
	}
	rl := New(rdb)
	sec := Request{Key: "{u:7}:sec", Limit: PerSecond(5)}
	day := Request{Key: "{u:7}:day", Limit: Limit{Algorithm: SlidingWindow, Rate: 100, Period: 24 * time.Hour}}
	m, err := rl.CheckAll(bg, sec, day)
	if err != nil || !m.Allowed || len(m.Results) != 2 {
		t.Fatalf("mcheck: %+v %v", m, err)
	}
	if _, err := rl.CheckAll(bg, Request{Key: "a", Limit: PerSecond(1)}, Request{Key: "b", Limit: PerSecond(1)}); !isServer(err) {
		t.Fatalf("cross-slot mcheck: %v", err)
	}
	l, err := rl.Acquire(bg, "cluster:jobs", 1, time.Minute, 1)
	if err != nil || !l.Acquired {
		t.Fatalf("acquire: %+v %v", l, err)
	}
	if n, err := rl.Release(bg, "cluster:jobs", l.ID); err != nil || n != 1 {
		t.Fatalf("release: %d %v", n, err)
	}

	// A policy is set on every master: the digests agree, and a key of any slot uses it.
	if rdb.Do(bg, "RL.POLICY", "LIST").Err() == nil {
		if _, err := rl.SetPolicy(bg, "cluster-tier", Policy{Limits: []Limit{PerMinute(1)}}); err != nil {
			t.Fatal(err)
		}
		digests, err := rl.PolicyDigests(bg)
		if err != nil || len(digests) != 3 {
			t.Fatalf("digests: %v %v", digests, err)
		}
		for _, d := range digests {
			for _, e := range digests {
				if d != e {
					t.Fatalf("digests differ: %v", digests)
				}
			}
		}
		for i := 0; i < 10; i++ {
			if d, err := rl.Check(bg, fmt.Sprintf("cluster:tier:%d", i), ByPolicy("cluster-tier")); err != nil || !d.Allowed {
				t.Fatalf("policy check %d: %+v %v", i, d, err)
			}
		}
	}

	// Failover: SIGKILL the master of an exhausted key; once its replica is promoted the
	// same client decides on it again (the limiter has go-redis reload the slot map when a
	// master is unavailable), and the replicated state still denies the key.
	const k = "cluster:user:0"
	master, err := rdb.MasterForKey(bg, DefaultCompatPrefix+k)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := master.Do(bg, "WAIT", 1, 2000).Int(); err != nil || n != 1 {
		t.Fatalf("WAIT: %d %v", n, err)
	}
	for _, n := range c.Nodes {
		if n.Addr() == master.Options().Addr {
			n.Kill()
		}
	}
	strict := NewLimiter(rdb, WithTimeout(500*time.Millisecond))
	var res *Result
	if !waitFor(40*time.Second, func() bool {
		res, err = strict.Allow(bg, k, PerMinute(2))
		return err == nil
	}) {
		t.Fatalf("no decision after the failover: %v", err)
	}
	if res.Allowed != 0 || res.RetryAfter <= 0 {
		t.Fatalf("after failover: %+v", res)
	}
}

// A Ring of two shards: each key lives on one shard, checks are consistent.
func TestRing(t *testing.T) {
	var addrs = map[string]string{}
	for i := 0; i < 2; i++ {
		s, err := testserver.Start(testserver.Redis())
		if err != nil {
			t.Fatal(err)
		}
		defer s.Stop()
		addrs[fmt.Sprintf("shard%d", i)] = s.Addr()
	}
	ring := redis.NewRing(&redis.RingOptions{Addrs: addrs})
	defer ring.Close()
	lim := NewLimiter(ring)
	for i := 0; i < 20; i++ {
		k := fmt.Sprintf("ring:%d", i)
		for j := 0; j < 2; j++ {
			res, err := lim.Allow(bg, k, PerHour(1))
			if err != nil || (res.Allowed == 1) != (j == 0) {
				t.Fatalf("%s check %d: %+v %v", k, j, res, err)
			}
		}
	}
	for _, a := range addrs {
		cl := redis.NewClient(&redis.Options{Addr: a})
		if cl.DBSize(bg).Val() == 0 {
			t.Errorf("shard %s holds no key", a)
		}
		cl.Close()
	}
}

// redis.NewUniversalClient's single-node client works with both faces.
func TestUniversalClient(t *testing.T) {
	u := redis.NewUniversalClient(&redis.UniversalOptions{Addrs: []string{servers[0].Addr()}})
	defer u.Close()
	k := key(t)
	res, err := NewLimiter(u).AllowN(bg, k, PerMinute(3), 2)
	if err != nil || res.Allowed != 2 || res.Remaining != 1 {
		t.Fatalf("%+v %v", res, err)
	}
	d, err := New(u, WithPrefix(DefaultCompatPrefix)).Peek(bg, k, PerMinute(3), 0)
	if err != nil || d.Remaining != 1 {
		t.Fatalf("%+v %v", d, err)
	}
}
