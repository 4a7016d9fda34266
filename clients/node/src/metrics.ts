import type { BreakerState } from './breaker.js';
import type { Source } from './reply.js';

/** What a limiter reports; `PrometheusMetrics` implements it over prom-client. */
export interface MetricsSink {
  decision(result: 'allowed' | 'denied', source: Source): void;
  error(kind: 'argument' | 'server' | 'unavailable'): void;
  callDuration(seconds: number): void;
  breakerState(state: BreakerState): void;
}

// The few prom-client shapes used here, so the package needs no prom-client types or import.
interface Labelled {
  inc(labels: Record<string, string>, value?: number): void;
}
interface Histogram {
  observe(value: number): void;
}
interface Gauge {
  set(value: number): void;
}
interface Registry {
  getSingleMetric(name: string): unknown;
}
interface PromClient {
  Counter: new (cfg: { name: string; help: string; labelNames: string[]; registers?: Registry[] }) => Labelled;
  Histogram: new (cfg: { name: string; help: string; buckets: number[]; registers?: Registry[] }) => Histogram;
  Gauge: new (cfg: { name: string; help: string; registers?: Registry[] }) => Gauge;
  register: Registry;
}

const BREAKER_VALUE: Record<BreakerState, number> = { closed: 0, 'half-open': 1, open: 2 };

/**
 * The metric names every redis-ratelimit client uses. Pass the prom-client module (it stays an
 * optional peer dependency) and optionally a registry; one instance can serve many limiters.
 * Metrics already in the registry (a second instance) are reused, not registered twice.
 */
export class PrometheusMetrics implements MetricsSink {
  private readonly decisions: Labelled;
  private readonly errors: Labelled;
  private readonly duration: Histogram;
  private readonly breaker: Gauge;

  constructor(prom: PromClient, opts: { registry?: Registry } = {}) {
    const registry = opts.registry ?? prom.register;
    const registers = [registry];
    const reuse = <T>(name: string, make: () => T): T => (registry.getSingleMetric(name) as T | undefined) ?? make();
    this.decisions = reuse(
      'ratelimit_client_decisions_total',
      () =>
        new prom.Counter({
          name: 'ratelimit_client_decisions_total',
          help: 'Rate-limit decisions by result and by who decided (server, fallback policy, denial cache)',
          labelNames: ['result', 'source'],
          registers,
        }),
    );
    this.errors = reuse(
      'ratelimit_client_errors_total',
      () =>
        new prom.Counter({
          name: 'ratelimit_client_errors_total',
          help: 'Errors by class: argument, server, unavailable',
          labelNames: ['class'],
          registers,
        }),
    );
    this.duration = reuse(
      'ratelimit_client_call_duration_seconds',
      () =>
        new prom.Histogram({
          name: 'ratelimit_client_call_duration_seconds',
          help: 'Server round trips of rate-limit calls',
          buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25],
          registers,
        }),
    );
    this.breaker = reuse(
      'ratelimit_client_breaker_state',
      () =>
        new prom.Gauge({
          name: 'ratelimit_client_breaker_state',
          help: 'Circuit breaker state: 0 closed, 1 half-open, 2 open',
          registers,
        }),
    );
    this.breaker.set(0);
  }

  decision(result: 'allowed' | 'denied', source: Source): void {
    this.decisions.inc({ result, source });
  }
  error(kind: 'argument' | 'server' | 'unavailable'): void {
    this.errors.inc({ class: kind });
  }
  callDuration(seconds: number): void {
    this.duration.observe(seconds);
  }
  breakerState(state: BreakerState): void {
    this.breaker.set(BREAKER_VALUE[state]);
  }
}
