package ratelimit_test

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/redis/go-redis/v9"

	ratelimit "github.com/redis-ratelimit/redis-ratelimit/clients/go"
)

// redis_rate's API, unchanged.
func ExampleNewLimiter() {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
	limiter := ratelimit.NewLimiter(rdb)
	res, err := limiter.Allow(context.Background(), "project:123", ratelimit.PerSecond(10))
	if err != nil {
		panic(err)
	}
	fmt.Println("allowed", res.Allowed, "remaining", res.Remaining)
}

// Any algorithm, with the resilience options.
func ExampleNew() {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379", ContextTimeoutEnabled: true})
	rl := ratelimit.New(rdb,
		ratelimit.WithOnUnavailable(ratelimit.FailLocal),
		ratelimit.WithDenialCache(0))
	d, err := rl.Check(context.Background(), "api:42",
		ratelimit.Limit{Algorithm: ratelimit.SlidingWindow, Rate: 100, Period: time.Minute})
	if err != nil {
		panic(err) // an ArgumentError or ServerError: unavailability is handled by the policy
	}
	fmt.Println(d.Allowed, d.Remaining, d.Source)
}

// A per-second and a per-day limit, all or nothing, in one round trip.
func ExampleRateLimiter_CheckAll() {
	rl := ratelimit.New(redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"}))
	m, err := rl.CheckAll(context.Background(),
		ratelimit.Request{Key: "{user:42}:sec", Limit: ratelimit.PerSecond(5)},
		ratelimit.Request{Key: "{user:42}:day", Limit: ratelimit.Limit{Algorithm: ratelimit.FixedWindow, Rate: 10000, Period: 24 * time.Hour}})
	if err != nil {
		panic(err)
	}
	fmt.Println(m.Allowed, m.RetryAfter)
}

// 100 requests a minute per client IP, behind a proxy at 10.0.0.1.
func ExampleRateLimiter_Middleware() {
	rl := ratelimit.New(redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"}))
	mw := rl.Middleware(ratelimit.MiddlewareOptions{
		Limit: ratelimit.Limit{Rate: 100, Period: time.Minute},
		Key:   ratelimit.KeyByIP("10.0.0.1"),
	})
	http.Handle("/", mw(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "hello")
	})))
}
