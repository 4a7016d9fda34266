package ratelimit

import (
	"testing"

	"github.com/go-redis/redis_rate/v10"
)

// Allocations and time per call from one goroutine, this package against redis_rate
// (`go test -run - -bench Allow -benchmem`); make bench's figures come from internal/bench.
func BenchmarkAllow(b *testing.B) {
	rdb := newClient(b, servers[0])
	l := NewLimiter(rdb)
	lim := PerSecond(1000000)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := l.Allow(bg, "bench:ours", lim); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRedisRateAllow(b *testing.B) {
	rdb := newClient(b, servers[0])
	l := redis_rate.NewLimiter(rdb)
	lim := redis_rate.PerSecond(1000000)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := l.Allow(bg, "bench:theirs", lim); err != nil {
			b.Fatal(err)
		}
	}
}
