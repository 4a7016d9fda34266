// Package ratelimit is the Go client of the redis-ratelimit module (the RL.* commands).
//
// It has two faces over one implementation:
//
//   - NewLimiter, Limit, PerSecond/PerMinute/PerHour, Allow, AllowN, AllowAtMost, Reset and
//     Result: the API of github.com/go-redis/redis_rate/v10, so switching is an import change.
//   - New: every algorithm (CALENDAR quotas too), penalty blocks, Peek, all-or-nothing checks
//     over several keys (RL.MCHECK), refunds, leases (RL.ACQUIRE/RELEASE/RENEW), typed errors (ArgumentError, ServerError,
//     UnavailableError) and the resilience model shared with the Node and Python clients:
//     a per-call timeout, a circuit breaker, fail open / closed / to a local limiter, and an
//     optional denial cache; net/http middleware (RateLimiter.Middleware).
//
// Both accept any go-redis v9 client that can process a command: *redis.Client (also from
// redis.NewFailoverClient), *redis.ClusterClient, *redis.Ring and redis.UniversalClient.
package ratelimit
