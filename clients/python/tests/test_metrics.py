"""prometheus_client metrics with the names every client uses."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from servers import Server

from redis_ratelimit import ArgumentError, BreakerOptions, Limit, Metrics, RateLimiter, ServerError


def test_metrics_count_decisions_errors_calls_and_breaker_state() -> None:
    victim = Server("redis")
    try:
        reg = CollectorRegistry()
        rl = RateLimiter(victim.client(), metrics=Metrics(reg), denial_cache=True,
                         breaker=BreakerOptions(failures=2, cooldown=30))

        def value(name: str, **labels: str) -> float:
            v = reg.get_sample_value(name, labels)
            return 0.0 if v is None else v

        lim = Limit("FIXED_WINDOW", 1, "1h")
        rl.check("m", lim)
        rl.check("m", lim)
        rl.check("m", lim)  # answered by the denial cache
        assert value("ratelimit_client_decisions_total", result="allowed", source="server") == 1
        assert value("ratelimit_client_decisions_total", result="denied", source="server") == 1
        assert value("ratelimit_client_decisions_total", result="denied", source="cache") == 1
        assert value("ratelimit_client_call_duration_seconds_count") == 2
        with pytest.raises(ArgumentError):
            rl.check("m", {"algorithm": "GCRA", "limit": 0, "period": 1})
        victim.client().set("s", "x")
        with pytest.raises(ServerError):
            rl.check("s", lim)
        assert value("ratelimit_client_errors_total", **{"class": "argument"}) == 1
        assert value("ratelimit_client_errors_total", **{"class": "server"}) == 1
        assert value("ratelimit_client_breaker_state") == 0
        victim.kill()
        for _ in range(3):
            assert rl.check("n", lim).source == "fallback"
        assert value("ratelimit_client_breaker_state") == 2
        assert value("ratelimit_client_errors_total", **{"class": "unavailable"}) == 3
        assert value("ratelimit_client_decisions_total", result="allowed", source="fallback") == 3
        text = generate_latest(reg).decode()
        for name in ("ratelimit_client_decisions_total", "ratelimit_client_errors_total",
                     "ratelimit_client_call_duration_seconds_bucket", "ratelimit_client_breaker_state"):
            assert name in text
    finally:
        victim.close()
