"""MEMORY USAGE of a limiter key agrees with what it really costs (the growth of
`used_memory` over many keys) within 10%, on Redis 7.0 (a dictionary keyspace) and
Valkey 9 (keys embedded in their objects); and the fixed-size algorithms' values are
packed small (issue 17: at most 175 bytes per key on Redis)."""

import pytest

from helpers import FW, GCRA, SL, SW, TB, inspect

HOUR = 3_600_000
# The growth from FIRST to the kind's KEYS keys (what the connection's buffers take
# cancels out). Redis: under 32768 keys both keyspace tables (keys, expiries) end at
# 32768 slots, a load factor near 1, what MEMORY USAGE's estimate of the slots
# assumes. Valkey: a range in which its keyspace table does not resize (a resize
# holds two tables for a while, a passing cost of about 40 bytes a key).
FIRST = 10_000
KEYS = {"redis": 30_000, "valkey": 24_000}


def write(r, algorithm, limit, extra, keys):
    pipe = r.pipeline(transaction=False)
    for i in keys:
        spec = ("POLICY", limit) if algorithm == "POLICY" else (algorithm, limit, HOUR)
        pipe.execute_command("RL.CHECK", f"rl:{i:08d}", *spec, *extra)
        if i % 2000 == 1999:
            pipe.execute()
    pipe.execute()


def fill(r, keys, algorithm, limit, extra=()):
    """(used_memory growth per key, mean MEMORY USAGE of a key)."""
    write(r, algorithm, limit, extra, range(FIRST))
    before = r.info("memory")["used_memory"]
    write(r, algorithm, limit, extra, range(FIRST, keys))
    grown = r.info("memory")["used_memory"] - before
    sample = [f"rl:{i:08d}" for i in range(0, keys, 97)]
    usage = sum(r.memory_usage(k, samples=0) for k in sample) / len(sample)
    return grown / (keys - FIRST), usage


BIG = 5_000_000_000  # an admitted total above 32 bits: the value is boxed whole


@pytest.mark.parametrize("algorithm,limit,extra", [
    (TB, 100, ()), (GCRA, 100, ()), (FW, 100, ()), (SW, 100, ()), (SL, 100, ()),
    (SL, 100, ("COST", 10)), (TB, BIG, ("COST", BIG)),
])
def test_memory_usage_is_within_ten_percent_of_the_real_cost(server, r, algorithm, limit,
                                                             extra):
    per_key, usage = fill(r, KEYS[server.kind], algorithm, limit, extra)
    assert abs(usage - per_key) <= 0.10 * per_key, (per_key, usage)
    if server.kind == "redis" and algorithm in (TB, GCRA, FW, SW) and not extra:
        assert per_key <= 175, per_key
    if server.kind == "redis" and algorithm == SL and not extra:
        # Packed like the others, plus a buffer of 12 bytes and 4 per unit.
        assert per_key <= 185, per_key
    server.assert_healthy()


def test_a_policy_key_is_kept_encoded_and_its_usage_is_right(server, r):
    """A two-limit policy key (per second and per day) lives as its compact encoding:
    MEMORY USAGE within 10% of the real cost, and about 200 bytes on Redis (a boxed
    policy key took 480)."""
    r.execute_command("RL.POLICY", "SET", "two", '{"limits": ['
                      '{"algorithm": "GCRA", "limit": 100, "period": "1s"},'
                      '{"algorithm": "FIXED_WINDOW", "limit": 10000000, "period": "1d"}]}')
    per_key, usage = fill(r, KEYS[server.kind], "POLICY", "two")
    assert abs(usage - per_key) <= 0.10 * per_key, (per_key, usage)
    if server.kind == "redis":
        assert per_key <= 230, per_key
    limits = inspect(r, "rl:00000001")["limits"]
    parts = [dict(zip(part[::2], part[1::2])) for part in limits]
    assert [p[b"admitted"] for p in parts] == [1, 1], parts
    server.assert_healthy()


def test_a_quota_change_and_a_wide_value_keep_the_usage_right(server, r):
    """Values that do not fit 32 bytes (totals above 4 billion) are boxed whole, and
    a key whose quota changes moves to the new interned quota."""
    r.execute_command("RL.CHECK", "small", TB, 100, HOUR)
    r.execute_command("RL.CHECK", "wide", TB, BIG, HOUR, "COST", BIG)
    small, wide = r.memory_usage("small", samples=0), r.memory_usage("wide", samples=0)
    assert wide >= small + 80, (small, wide)
    assert inspect(r, "wide")["admitted"] == BIG
    r.execute_command("RL.CHECK", "small", TB, 50, HOUR)
    assert r.memory_usage("small", samples=0) == small
    assert (inspect(r, "small")["limit"], inspect(r, "small")["admitted"]) == (50, 2)
    r.execute_command("RL.REFUND", "wide", "COST", BIG - 10)
    assert r.memory_usage("wide", samples=0) == small, "repacked once it fits"
