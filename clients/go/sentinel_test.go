package ratelimit

import (
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redis-ratelimit/redis-ratelimit/clients/go/internal/testserver"
)

// A Sentinel failover client: the master is SIGKILLed, Sentinel promotes the replica, and
// the same limiter goes on deciding on the new master, which kept the replicated state.
func TestSentinelFailover(t *testing.T) {
	if testserver.SentinelPath() == "" {
		t.Skip("redis-sentinel not installed (make deps-apt-test)")
	}
	master, err := testserver.Start(testserver.Redis())
	if err != nil {
		t.Fatal(err)
	}
	defer master.Stop()
	replica, err := testserver.Start(testserver.Redis(), "--replicaof", "127.0.0.1", master.Addr()[len("127.0.0.1:"):])
	if err != nil {
		t.Fatal(err)
	}
	defer replica.Stop()
	if err := testserver.WaitReplica(replica); err != nil {
		t.Fatal(err)
	}
	sentinel, err := testserver.StartSentinel(master)
	if err != nil {
		t.Fatal(err)
	}
	defer sentinel.Stop()
	rdb := redis.NewFailoverClient(&redis.FailoverOptions{MasterName: "mymaster", SentinelAddrs: []string{sentinel.Addr()}})
	defer rdb.Close()
	rl := New(rdb, WithOnUnavailable(FailClosed), WithTimeout(200*time.Millisecond),
		WithBreaker(BreakerOptions{Failures: 3, Cooldown: 200 * time.Millisecond}))
	lim := Limit{Rate: 3, Period: time.Hour}
	k := key(t)
	for i := 0; i < 3; i++ {
		if d, err := rl.Check(bg, k, lim); err != nil || !d.Allowed || d.Source != SourceServer {
			t.Fatalf("check %d: %+v %v", i, d, err)
		}
	}
	if n, err := rdb.Do(bg, "WAIT", 1, 2000).Int(); err != nil || n != 1 {
		t.Fatalf("WAIT: %d %v", n, err)
	}
	master.Kill()
	var d Decision
	if !waitFor(40*time.Second, func() bool {
		d, err = rl.Check(bg, k, lim)
		return err == nil && d.Source == SourceServer
	}) {
		t.Fatalf("no decision from the new master: %+v %v", d, err)
	}
	// The promoted replica has the three units: the key is still exhausted.
	if d.Allowed || d.RetryAfter <= 0 {
		t.Fatalf("after failover: %+v", d)
	}
	if d, err := rl.Check(bg, key(t), lim); err != nil || !d.Allowed || d.Source != SourceServer {
		t.Fatalf("a new key after failover: %+v %v", d, err)
	}
}
