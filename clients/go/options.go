package ratelimit

import "time"

// FailMode is what a check does when the server cannot be asked (CLIENTS.md's onUnavailable).
type FailMode int

const (
	// FailOpen admits the request (Source "fallback"). The default of New.
	FailOpen FailMode = iota
	// FailClosed denies it, with RetryAfter the breaker's cooldown left (Source "fallback").
	FailClosed
	// FailLocal decides with an in-process limiter of the same limit (Source "fallback").
	FailLocal
	// FailError returns the UnavailableError. The default of NewLimiter, as redis_rate
	// returns go-redis's error.
	FailError
)

func (m FailMode) String() string {
	switch m {
	case FailOpen:
		return "open"
	case FailClosed:
		return "closed"
	case FailLocal:
		return "local"
	case FailError:
		return "error"
	}
	return "unknown"
}

// BreakerOptions configures the circuit breaker: it opens after Failures unavailable errors
// within Window, stays open for Cooldown, then lets Probes calls through (half-open); a
// successful probe closes it, a failed one opens it again.
type BreakerOptions struct {
	Failures int
	Window   time.Duration
	Cooldown time.Duration
	Probes   int
}

// DefaultBreaker is CLIENTS.md's default: 5 failures in 10 s, open 5 s, 1 probe.
var DefaultBreaker = BreakerOptions{Failures: 5, Window: 10 * time.Second, Cooldown: 5 * time.Second, Probes: 1}

// DefaultTimeout is New's per-call timeout.
const DefaultTimeout = 50 * time.Millisecond

// DefaultDenialCacheSize is the denial cache's size when WithDenialCache is given 0.
const DefaultDenialCacheSize = 10000

type config struct {
	prefix        string
	timeout       time.Duration
	breaker       *BreakerOptions
	onUnavailable FailMode
	cacheSize     int
	localSize     int
	metrics       Metrics
}

// Option configures New and NewLimiter.
type Option func(*config)

// WithPrefix puts prefix before every key (New: none; NewLimiter: "rl:rate:").
func WithPrefix(prefix string) Option { return func(c *config) { c.prefix = prefix } }

// WithTimeout bounds each call (New: 50 ms; NewLimiter: none). The context's own deadline
// applies too, whichever comes first; 0 leaves only the context's.
func WithTimeout(d time.Duration) Option { return func(c *config) { c.timeout = d } }

// WithBreaker sets the circuit breaker's thresholds (New: DefaultBreaker; NewLimiter: none).
func WithBreaker(b BreakerOptions) Option {
	return func(c *config) {
		if b.Failures <= 0 {
			b.Failures = DefaultBreaker.Failures
		}
		if b.Window <= 0 {
			b.Window = DefaultBreaker.Window
		}
		if b.Cooldown <= 0 {
			b.Cooldown = DefaultBreaker.Cooldown
		}
		if b.Probes <= 0 {
			b.Probes = DefaultBreaker.Probes
		}
		c.breaker = &b
	}
}

// WithoutBreaker turns the circuit breaker off: every call goes to the server.
func WithoutBreaker() Option { return func(c *config) { c.breaker = nil } }

// WithOnUnavailable sets what a check does when the server cannot be asked.
func WithOnUnavailable(m FailMode) Option { return func(c *config) { c.onUnavailable = m } }

// WithDenialCache turns the denial cache on: after a denial with RetryAfter > 0 the key is
// denied locally (Source "cache") until then, without a round trip. size bounds the keys
// remembered (least recently used go first); 0 means DefaultDenialCacheSize.
func WithDenialCache(size int) Option {
	return func(c *config) {
		if size <= 0 {
			size = DefaultDenialCacheSize
		}
		c.cacheSize = size
	}
}

// WithLocalSize bounds the keys the FailLocal limiter remembers (default 10,000).
func WithLocalSize(n int) Option { return func(c *config) { c.localSize = n } }

// WithMetrics reports decisions, errors, round-trip times and breaker states to m (see the
// rlprom subpackage for Prometheus).
func WithMetrics(m Metrics) Option { return func(c *config) { c.metrics = m } }
