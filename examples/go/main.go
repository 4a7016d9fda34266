// Rate limiting with the Go client (clients/go), which keeps go-redis/redis_rate's API.
//
// Run, from examples/go: go run .
//
// REDIS_URL says where and as whom; the default is the app user of the repo's redis.conf on
// 127.0.0.1:6379 (`make run` prints the URL for the port it uses).
package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/redis/go-redis/v9"

	ratelimit "github.com/redis-ratelimit/redis-ratelimit/clients/go"
)

const defaultURL = "redis://app:change-me-app-password@127.0.0.1:6379"

func main() {
	url := os.Getenv("REDIS_URL")
	if url == "" {
		url = defaultURL
	}
	opts, err := redis.ParseURL(url)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	rdb := redis.NewClient(opts)
	defer rdb.Close()
	ctx := context.Background()

	// redis_rate's API: 5 requests per 10 seconds for user 42, spread evenly (GCRA).
	limiter := ratelimit.NewLimiter(rdb)
	limit := ratelimit.Limit{Rate: 5, Period: 10 * time.Second, Burst: 5}
	for i := 1; i <= 6; i++ {
		res, err := limiter.Allow(ctx, "example:go:user:42", limit)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		if res.Allowed > 0 {
			fmt.Printf("request %d: allowed, %d left\n", i, res.Remaining)
		} else {
			fmt.Printf("request %d: denied, retry in %d ms\n", i, res.RetryAfter.Milliseconds())
		}
	}

	// The typed API: a sliding window, and what is left without spending it.
	rl := ratelimit.New(rdb, ratelimit.WithOnUnavailable(ratelimit.FailClosed))
	window := ratelimit.Limit{Algorithm: ratelimit.SlidingWindow, Rate: 100, Period: time.Minute}
	if _, err := rl.CheckN(ctx, "example:go:api:42", window, 30); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	d, err := rl.Peek(ctx, "example:go:api:42", window, 0)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("sliding window: %d of %d left (source %s)\n", d.Remaining, d.Limit, d.Source)
}
