"""Server-side policies: administration (RL.POLICY) and checks against them (POLICY name)."""

from __future__ import annotations

import re
import uuid

import pytest
import redis
import redis.asyncio as aredis
from redis.cluster import ClusterNode, RedisCluster
from servers import Cluster, Server

from redis_ratelimit import ArgumentError, AsyncRateLimiter, Limit, PolicyRef, RateLimiter, ServerError


def name() -> str:
    return f"tier:{uuid.uuid4().hex[:10]}"


def test_policy_admin_round_trip(r: redis.Redis) -> None:
    rl = RateLimiter(r)
    n = name()
    v1 = rl.policy_set(n, [Limit("GCRA", 5, "1s", burst=2), Limit("CALENDAR", 100, "DAY", utc_offset=60)])
    got = rl.policy_get(n)
    assert got is not None and got["version"] == v1 and got["shadow"] is False
    assert got["limits"][0]["algorithm"] == "GCRA" and got["limits"][0]["period_ms"] == 1000
    assert got["limits"][1]["utc_offset"] == 60
    assert n in rl.policy_list()
    assert re.fullmatch(r"[0-9a-f]{32}", rl.policy_digest())
    assert rl.policy_set(n, [Limit("TOKEN_BUCKET", 3, "1m")], shadow=True) > v1
    assert rl.policy_del(n) is True and rl.policy_del(n) is False
    assert rl.policy_get(n) is None
    with pytest.raises(ArgumentError):
        rl.policy_set("bad name!", [Limit("GCRA", 1, "1s")])
    with pytest.raises(ServerError):
        rl.policy_set(name(), [])


def test_policy_checks_all_or_nothing(r: redis.Redis, key: str) -> None:
    rl = RateLimiter(r)
    n = name()
    rl.policy_set(n, [Limit("TOKEN_BUCKET", 10, "1h"), Limit("FIXED_WINDOW", 2, "1h")])
    got = [rl.check(key, PolicyRef(n)) for _ in range(3)]
    assert [d.allowed for d in got] == [True, True, False]
    assert got[2].retry_after_ms > 0
    if r.get_connection_kwargs().get("protocol") == 3:
        assert got[2].decided_by == 2  # the window denied
    else:
        assert got[2].decided_by is None  # RESP2 replies carry the five fields only
    # The denial charged nothing: the bucket still has 8 of 10.
    ins = rl.inspect(key)
    assert ins is not None and ins.algorithm == "POLICY"
    assert rl.peek(key, PolicyRef(n), 0).remaining == 0
    md = rl.mcheck([(f"{{{key}}}:p", PolicyRef(n)), (f"{{{key}}}:g", Limit("GCRA", 1, "1h"))])
    assert md.allowed and len(md.results) == 2
    with pytest.raises(ServerError, match="no such policy"):
        rl.check(key, PolicyRef("tier:missing-" + uuid.uuid4().hex[:6]))
    with pytest.raises(ArgumentError):
        rl.check(key, PolicyRef(n), at_most=True)


def test_shadow_mode_admits_and_says_so(r: redis.Redis, key: str) -> None:
    rl = RateLimiter(r)
    n = name()
    rl.policy_set(n, [Limit("SLIDING_LOG", 1, "1h")])
    assert rl.check(key, PolicyRef(n)).allowed
    shadow = rl.check(key, PolicyRef(n, shadow=True))
    assert shadow.allowed and shadow.retry_after_ms == -1
    if r.get_connection_kwargs().get("protocol") == 3:
        assert shadow.shadow_denied is True
    assert not rl.check(key, PolicyRef(n)).allowed


def test_policy_writes_reach_every_primary(cluster: Cluster) -> None:
    rc = RedisCluster(startup_nodes=[ClusterNode("127.0.0.1", cluster.port)])
    rl = RateLimiter(rc)
    n = name()
    rl.policy_set(n, [Limit("GCRA", 3, "1s")])
    digests = {node.client().execute_command("RL.POLICY", "DIGEST") for node in cluster.nodes}
    assert len(digests) == 1
    for i in range(10):  # keys on every shard find the policy
        assert rl.check(f"pc:{i}", PolicyRef(n)).allowed
    assert rl.policy_del(n)
    rc.close()


async def test_async_policy_admin_and_checks(redis_server: Server, key: str) -> None:
    r = aredis.Redis(port=redis_server.port, protocol=3)
    rl = AsyncRateLimiter(r)
    n = name()
    await rl.policy_set(n, [Limit("GCRA", 2, "1h")])
    assert n in await rl.policy_list()
    got = [await rl.check(key, PolicyRef(n)) for _ in range(3)]
    assert [d.allowed for d in got] == [True, True, False] and got[2].decided_by == 1
    assert (await rl.policy_get(n) or {})["limits"][0]["limit"] == 2
    assert await rl.policy_del(n)
    await r.aclose()
