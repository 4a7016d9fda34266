// Package rlprom exports a ratelimit limiter's metrics to Prometheus, with CLIENTS.md's names.
// It is a package of its own so that the ratelimit package does not depend on Prometheus.
//
//	m := rlprom.New(prometheus.DefaultRegisterer)
//	rl := ratelimit.New(rdb, ratelimit.WithMetrics(m))
package rlprom

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	ratelimit "github.com/redis-ratelimit/redis-ratelimit/clients/go"
)

// Metrics implements ratelimit.Metrics with Prometheus collectors.
type Metrics struct {
	decisions *prometheus.CounterVec
	errors    *prometheus.CounterVec
	duration  prometheus.Histogram
	breaker   prometheus.Gauge
}

// New makes the collectors and registers them with reg (nil: not registered).
func New(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ratelimit_client_decisions_total",
			Help: "Rate-limit decisions, by result (allowed, denied) and source (server, fallback, cache).",
		}, []string{"result", "source"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ratelimit_client_errors_total",
			Help: "Errors of the rate-limit client, by class (argument, server, unavailable).",
		}, []string{"class"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "ratelimit_client_call_duration_seconds",
			Help:    "Round trips to the rate-limit server.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1},
		}),
		breaker: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "ratelimit_client_breaker_state",
			Help: "The circuit breaker's state: 0 closed, 1 half-open, 2 open.",
		}),
	}
	// Every label value exists from the start, so rate() sees the first increment.
	for _, r := range []string{"allowed", "denied"} {
		for _, s := range []ratelimit.Source{ratelimit.SourceServer, ratelimit.SourceFallback, ratelimit.SourceCache} {
			m.decisions.WithLabelValues(r, string(s))
		}
	}
	for _, c := range []string{"argument", "server", "unavailable"} {
		m.errors.WithLabelValues(c)
	}
	if reg != nil {
		reg.MustRegister(m.decisions, m.errors, m.duration, m.breaker)
	}
	return m
}

// Decision counts one decision.
func (m *Metrics) Decision(allowed bool, source ratelimit.Source) {
	result := "denied"
	if allowed {
		result = "allowed"
	}
	m.decisions.WithLabelValues(result, string(source)).Inc()
}

// Error counts one error of class.
func (m *Metrics) Error(class string) { m.errors.WithLabelValues(class).Inc() }

// CallDuration observes one round trip.
func (m *Metrics) CallDuration(d time.Duration) { m.duration.Observe(d.Seconds()) }

// BreakerState sets the breaker gauge.
func (m *Metrics) BreakerState(s ratelimit.BreakerState) { m.breaker.Set(float64(s)) }

var _ ratelimit.Metrics = (*Metrics)(nil)
