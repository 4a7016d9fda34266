package rlprom

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"

	ratelimit "github.com/redis-ratelimit/redis-ratelimit/clients/go"
	"github.com/redis-ratelimit/redis-ratelimit/clients/go/internal/testserver"
)

type quiet struct{}

func (quiet) Printf(context.Context, string, ...interface{}) {}

// Decisions from the server, then fallbacks and the open breaker after a SIGKILL, as
// Prometheus exposes them.
func TestMetricsAgainstARealServer(t *testing.T) {
	redis.SetLogger(quiet{})
	s, err := testserver.Start(testserver.Redis())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	rdb := redis.NewClient(&redis.Options{Addr: s.Addr()})
	defer rdb.Close()
	reg := prometheus.NewRegistry()
	m := New(reg)
	rl := ratelimit.New(rdb, ratelimit.WithMetrics(m), ratelimit.WithBreaker(ratelimit.BreakerOptions{Failures: 2, Cooldown: time.Minute}))
	ctx := context.Background()
	lim := ratelimit.Limit{Rate: 2, Period: time.Hour}
	for i := 0; i < 3; i++ {
		rl.Check(ctx, "metrics:k", lim)
	}
	if _, err := rl.Check(ctx, "metrics:k", ratelimit.Limit{}); err == nil {
		t.Fatal("no argument error")
	}
	s.Kill()
	for i := 0; i < 3; i++ {
		rl.Check(ctx, "metrics:k", lim)
	}
	want := `
# HELP ratelimit_client_breaker_state The circuit breaker's state: 0 closed, 1 half-open, 2 open.
# TYPE ratelimit_client_breaker_state gauge
ratelimit_client_breaker_state 2
# HELP ratelimit_client_decisions_total Rate-limit decisions, by result (allowed, denied) and source (server, fallback, cache).
# TYPE ratelimit_client_decisions_total counter
ratelimit_client_decisions_total{result="allowed",source="cache"} 0
ratelimit_client_decisions_total{result="allowed",source="fallback"} 3
ratelimit_client_decisions_total{result="allowed",source="server"} 2
ratelimit_client_decisions_total{result="denied",source="cache"} 0
ratelimit_client_decisions_total{result="denied",source="fallback"} 0
ratelimit_client_decisions_total{result="denied",source="server"} 1
# HELP ratelimit_client_errors_total Errors of the rate-limit client, by class (argument, server, unavailable).
# TYPE ratelimit_client_errors_total counter
ratelimit_client_errors_total{class="argument"} 1
ratelimit_client_errors_total{class="server"} 0
ratelimit_client_errors_total{class="unavailable"} 3
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "ratelimit_client_breaker_state",
		"ratelimit_client_decisions_total", "ratelimit_client_errors_total"); err != nil {
		t.Fatal(err)
	}
	// Two round trips failed before the breaker opened; the third was never sent.
	if n := testutil.CollectAndCount(m.duration); n != 1 {
		t.Fatalf("histogram series: %d", n)
	}
}
