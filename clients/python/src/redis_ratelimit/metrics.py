"""Optional Prometheus metrics (needs ``prometheus_client``), the same names in every client:

- ``ratelimit_client_decisions_total{result="allowed|denied", source="server|fallback|cache"}``
- ``ratelimit_client_errors_total{class="argument|server|unavailable"}``
- ``ratelimit_client_call_duration_seconds`` (histogram of server round trips)
- ``ratelimit_client_breaker_state`` (0 closed, 1 half-open, 2 open)

Create one ``Metrics`` per registry and pass it to every limiter (``metrics=m``);
``metrics=True`` uses one shared instance on prometheus_client's default registry.
"""

from __future__ import annotations

import threading
from typing import Any, Optional

_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)


class Metrics:
    def __init__(self, registry: Optional[Any] = None) -> None:
        try:
            import prometheus_client as prom
        except ImportError as e:  # pragma: no cover - depends on the environment
            raise ImportError("metrics need prometheus_client: pip install prometheus_client") from e
        reg = prom.REGISTRY if registry is None else registry
        self.decisions = prom.Counter(
            "ratelimit_client_decisions_total",
            "Rate-limit decisions, by result and by who decided (server, fallback, cache)",
            ["result", "source"],
            registry=reg,
        )
        self.errors = prom.Counter(
            "ratelimit_client_errors_total",
            "Errors by class (argument, server, unavailable)",
            ["class"],
            registry=reg,
        )
        self.duration = prom.Histogram(
            "ratelimit_client_call_duration_seconds",
            "Round trips to the server",
            buckets=_BUCKETS,
            registry=reg,
        )
        self.breaker = prom.Gauge(
            "ratelimit_client_breaker_state",
            "Circuit breaker state: 0 closed, 1 half-open, 2 open",
            registry=reg,
        )

    def decision(self, allowed: bool, source: str) -> None:
        self.decisions.labels("allowed" if allowed else "denied", source).inc()

    def error(self, cls: str) -> None:
        self.errors.labels(cls).inc()

    def observe(self, seconds: float) -> None:
        self.duration.observe(seconds)

    def breaker_state(self, state: int) -> None:
        self.breaker.set(state)


_default: Optional[Metrics] = None
_default_lock = threading.Lock()


def default_metrics() -> Metrics:
    global _default
    with _default_lock:
        if _default is None:
            _default = Metrics()
        return _default
