"""RateLimiter over redis-py against real Redis 7.0 and Valkey 9, on RESP2 and RESP3."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
import redis

from redis_ratelimit import (
    ArgumentError,
    Decision,
    Inspection,
    Lease,
    Limit,
    MultiDecision,
    RateLimiter,
    ServerError,
)

ALGORITHMS = ["TOKEN_BUCKET", "GCRA", "FIXED_WINDOW", "SLIDING_WINDOW", "SLIDING_LOG"]


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_each_algorithm_admits_its_limit_then_denies(r: redis.Redis, key: str, algorithm: str) -> None:
    rl = RateLimiter(r)
    lim = Limit(algorithm, 3, "1h")
    got = [rl.check(key, lim) for _ in range(4)]
    assert [d.allowed for d in got] == [True, True, True, False]
    assert [d.remaining for d in got[:3]] == [2, 1, 0]
    assert all(d.retry_after_ms == -1 for d in got[:3])
    assert got[3].retry_after_ms > 0
    assert all(isinstance(d, Decision) and d.source == "server" and d.limit == 3 for d in got)
    ins = rl.inspect(key)
    assert isinstance(ins, Inspection)
    assert (ins.algorithm, ins.limit, ins.period_ms, ins.period) == (algorithm, 3, 3_600_000, "1h")
    assert (ins.admitted, ins.denied) == (3, 1)


def test_resp2_and_resp3_give_the_same_dataclasses(server, key: str) -> None:  # type: ignore[no-untyped-def]
    out = {}
    for proto in (2, 3):
        rl = RateLimiter(server.client(protocol=proto))
        k = f"{key}:{proto}"
        lim = Limit("GCRA", 5, "1h", burst=2)
        ds = [rl.check(k, lim), rl.check(k, lim, 5, at_most=True), rl.check(k, lim), rl.peek(k, lim, 0)]
        md = rl.mcheck([(f"{k}:a", Limit("TOKEN_BUCKET", 2, "1h")), (f"{k}:b", lim)])
        lease = rl.acquire(f"{k}:l", 2, 60_000)
        ins = rl.inspect(k)
        assert ins is not None
        out[proto] = (
            [(d.allowed, d.limit, d.remaining, d.retry_after_ms > 0, d.granted) for d in ds],
            (md.allowed, md.retry_after_ms, [(d.allowed, d.remaining) for d in md.results]),
            (lease.acquired, lease.remaining, len(lease.lease_id or "")),
            (ins.algorithm, ins.limit, ins.burst, ins.admitted, ins.denied, sorted(ins.extra)),
        )
        assert isinstance(md, MultiDecision) and isinstance(lease, Lease)
    assert out[2] == out[3]
    assert out[2][0] == [(True, 5, 1, False, None), (True, 5, 0, False, 1),
                         (False, 5, 0, True, None), (True, 5, 0, False, None)]


def test_at_most_grants_what_is_available(r: redis.Redis, key: str) -> None:
    rl = RateLimiter(r)
    lim = Limit("TOKEN_BUCKET", 10, "1h")
    d = rl.check(key, lim, 4, at_most=True)
    assert (d.allowed, d.granted, d.remaining) == (True, 4, 6)
    d = rl.check(key, lim, 8, at_most=True)
    assert (d.allowed, d.granted, d.remaining) == (True, 6, 0)
    d = rl.check(key, lim, 8, at_most=True)
    assert (d.allowed, d.granted) == (False, 0) and d.retry_after_ms > 0
    with pytest.raises(ArgumentError):
        rl.check(key, Limit("FIXED_WINDOW", 10, "1h"), 2, at_most=True)


def test_peek_changes_nothing_and_cost_zero_gives_what_is_left(r: redis.Redis, key: str) -> None:
    rl = RateLimiter(r)
    lim = Limit("SLIDING_LOG", 5, "1h")
    assert rl.peek(key, lim).remaining == 4
    assert rl.inspect(key) is None
    rl.check(key, lim, 2)
    assert rl.peek(key, lim, 0).remaining == 3
    assert rl.peek(key, lim, 0).remaining == 3


def test_mcheck_is_all_or_nothing(r: redis.Redis, key: str) -> None:
    rl = RateLimiter(r)
    sec, day = f"{{{key}}}:sec", f"{{{key}}}:day"
    small, big = Limit("GCRA", 1, "1h"), Limit("TOKEN_BUCKET", 100, "1d")
    first = rl.mcheck([(sec, small), (day, big)])
    assert first.allowed and [d.remaining for d in first.results] == [0, 99]
    second = rl.mcheck([(sec, small), (day, big)])
    assert not second.allowed and second.retry_after_ms > 0
    assert [d.allowed for d in second.results] == [False, True]
    assert rl.peek(day, big, 0).remaining == 99  # the denied group charged nothing


def test_refund_reset_and_inspect(r: redis.Redis, key: str) -> None:
    rl = RateLimiter(r)
    lim = Limit("FIXED_WINDOW", 5, "1h")
    rl.check(key, lim, 3)
    assert rl.refund(key, 2) == 2
    assert rl.peek(key, lim, 0).remaining == 4
    assert rl.reset(key, f"{key}:missing") == 1
    assert rl.inspect(key) is None
    assert rl.refund(key, 1) == 0


def test_leases_acquire_renew_release(r: redis.Redis, key: str) -> None:
    rl = RateLimiter(r)
    a = rl.acquire(key, 2, 60_000)
    b = rl.acquire(key, 2, 60_000)
    c = rl.acquire(key, 2, 60_000)
    assert (a.acquired, b.acquired, c.acquired) == (True, True, False)
    assert c.lease_id is None and c.retry_after_ms > 0
    assert a.lease_id is not None and len(a.lease_id) == 16
    assert rl.renew(key, a.lease_id, 120_000) is True
    assert rl.release(key, a.lease_id) == 1
    assert rl.release(key, a.lease_id) == 0
    assert rl.renew(key, a.lease_id, 1000) is False
    assert rl.acquire(key, 2, 60_000).acquired
    ins = rl.inspect(key)
    assert ins is not None and ins.algorithm == "LEASES" and ins.extra["held"] == 2


def test_periods_in_each_spelling(r: redis.Redis, key: str) -> None:
    rl = RateLimiter(r)
    for i, period in enumerate([60_000, "60s", "1m", timedelta(minutes=1)]):
        rl.check(f"{key}:{i}", Limit("GCRA", 10, period))
        ins = rl.inspect(f"{key}:{i}")
        assert ins is not None and ins.period_ms == 60_000


@pytest.mark.parametrize(
    "spec",
    [
        {"algorithm": "LEAKY", "limit": 1, "period": 1000},
        {"algorithm": "GCRA", "limit": 0, "period": 1000},
        {"algorithm": "GCRA", "limit": 1, "period": "1.5s"},
        {"algorithm": "GCRA", "limit": 1, "period": timedelta(microseconds=1500)},
        {"algorithm": "FIXED_WINDOW", "limit": 1, "period": 1000, "burst": 2},
        {"algorithm": "GCRA", "limit": 1, "period": 1000, "cost": 0},
        {"algorithm": "GCRA", "limit": 1},
    ],
)
def test_bad_limits_are_argument_errors_before_the_network(spec: dict[str, object]) -> None:
    # A client pointed at a closed port: an ArgumentError proves nothing was sent.
    rl = RateLimiter(redis.Redis(port=1), on_unavailable="raise")
    with pytest.raises(ArgumentError):
        rl.check("k", spec)
    with pytest.raises(ArgumentError):
        rl.check("", Limit("GCRA", 1, 1000))


def test_server_refusals_are_server_errors(r: redis.Redis, key: str) -> None:
    rl = RateLimiter(r)
    r.set(key, "a string")
    with pytest.raises(ServerError, match="WRONGTYPE"):
        rl.check(key, Limit("GCRA", 1, 1000))
    rl.check(f"{key}:g", Limit("GCRA", 1, 1000))
    with pytest.raises(ServerError, match="another algorithm"):
        rl.check(f"{key}:g", Limit("SLIDING_LOG", 1, 1000))
    assert rl.breaker_state == "closed"


def test_a_denied_request_waits_retry_after(r: redis.Redis, key: str) -> None:
    rl = RateLimiter(r)
    lim = Limit("GCRA", 20, "1s", burst=1)
    assert rl.check(key, lim).allowed
    d = rl.check(key, lim)
    assert not d.allowed and 0 < d.retry_after_ms <= 50
    time.sleep(d.retry_after_ms / 1000 + 0.005)
    assert rl.check(key, lim).allowed


def test_prefix_and_bytes_keys(r: redis.Redis, key: str) -> None:
    rl = RateLimiter(r, prefix="app:")
    rl.check(key, Limit("GCRA", 1, 1000))
    rl.check(key.encode(), Limit("GCRA", 1, 1000))
    assert r.exists(f"app:{key}") == 1
    ins = RateLimiter(r).inspect(f"app:{key}")
    assert ins is not None and ins.admitted == 1 and ins.denied == 1


def test_calendar_quotas(r: redis.Redis, key: str) -> None:
    rl = RateLimiter(r)
    cal = Limit("CALENDAR", 2, "day", utc_offset=540)
    assert [rl.check(key, cal).allowed for _ in range(3)] == [True, True, False]
    ins = rl.inspect(key)
    assert ins is not None and ins.algorithm == "CALENDAR" and ins.period_ms == 86_400_000
    assert (ins.extra["unit"], ins.extra["utc_offset"], ins.extra["count"]) == ("DAY", 540, 2)
    d = rl.peek(key, cal, 0)
    assert d.remaining == 0 and 0 < d.reset_after_ms <= 86_400_000
    for bad in ({"period": "YEAR"}, {"period": "1d"}, {"burst": 3}):
        with pytest.raises(ArgumentError):
            Limit.of({"algorithm": "CALENDAR", "limit": 2, "period": "DAY", **bad})
    with pytest.raises(ArgumentError):
        Limit("GCRA", 1, "1s", utc_offset=60)


def test_penalty_blocks(r: redis.Redis, key: str) -> None:
    rl = RateLimiter(r)
    lim = Limit("GCRA", 1, "1h", block="1m")
    assert rl.check(key, lim).allowed
    denied = rl.check(key, lim)
    assert not denied.allowed and denied.retry_after_ms >= 60_000
    # Blocked: every check of the key is denied, whatever its limit, until the block ends.
    other = rl.check(key, Limit("GCRA", 1000, "1s"))
    assert (other.allowed, other.remaining) == (False, 0) and 0 < other.retry_after_ms <= 60_000
    ins = rl.inspect(key)
    assert ins is not None and isinstance(ins.extra.get("blocked_ms"), int)
    assert rl.reset(key) == 1
    assert rl.check(key, lim).allowed


def test_block_command_bans_a_key(r: redis.Redis, key: str) -> None:
    rl = RateLimiter(r)
    rl.block(key, timedelta(minutes=2))
    ins = rl.inspect(key)
    assert ins is not None and ins.algorithm == "NONE" and ins.extra["blocked_ms"] > 60_000
    d = rl.check(key, Limit("SLIDING_LOG", 10, "1s"))
    assert not d.allowed and 60_000 < d.retry_after_ms <= 120_000
    rl.block(key, "1s")  # a ban can be shortened
    assert rl.check(key, Limit("SLIDING_LOG", 10, "1s")).retry_after_ms <= 1000
    with pytest.raises(ArgumentError):
        rl.block(key, "forever")
