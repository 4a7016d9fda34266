"""RateLimiter and AsyncRateLimiter over a 3-master Redis Cluster."""

from __future__ import annotations

import asyncio
import time

import pytest
import redis.asyncio.cluster as acluster
from redis.cluster import ClusterNode, RedisCluster
from servers import Cluster

from redis_ratelimit import ArgumentError, AsyncRateLimiter, Limit, RateLimiter


@pytest.mark.parametrize("proto", [2, 3])
def test_cluster_routes_every_command(cluster: Cluster, proto: int) -> None:
    rc = RedisCluster(startup_nodes=[ClusterNode("127.0.0.1", cluster.port)], protocol=proto)
    rl = RateLimiter(rc)
    lim = Limit("GCRA", 2, "1h")
    keys = [f"c{proto}:user:{i}" for i in range(30)]
    slots = {rc.keyslot(k) for k in keys}
    assert len({rc.get_node_from_key(k).name for k in keys}) == 3  # every master is used
    for k in keys:
        assert [rl.check(k, lim).allowed for _ in range(3)] == [True, True, False]
    md = rl.mcheck([(f"{{c{proto}:u1}}:sec", lim), (f"{{c{proto}:u1}}:day", Limit("FIXED_WINDOW", 9, "1d"))])
    assert md.allowed and [d.remaining for d in md.results] == [1, 8]
    with pytest.raises(ArgumentError, match="CROSSSLOT"):
        rl.mcheck([(f"c{proto}:a", lim), (f"c{proto}:b", lim)])
    lease = rl.acquire(f"c{proto}:jobs", 1, 60_000)
    assert lease.lease_id and rl.release(f"c{proto}:jobs", lease.lease_id) == 1
    assert rl.reset(*keys) == len(keys)  # keys of every slot, one RL.RESET per slot
    assert len(slots) > 1
    rc.close()


async def test_async_cluster(cluster: Cluster) -> None:
    rc = acluster.RedisCluster(host="127.0.0.1", port=cluster.port)
    rl = AsyncRateLimiter(rc)
    lim = Limit("SLIDING_WINDOW", 2, "1h")
    keys = [f"ac:user:{i}" for i in range(12)]
    for k in keys:
        got = [await rl.check(k, lim) for _ in range(3)]
        assert [d.allowed for d in got] == [True, True, False]
        assert {d.source for d in got} == {"server"}
    md = await rl.mcheck([("{ac:u}:a", lim), ("{ac:u}:b", lim)])
    assert md.allowed
    assert await rl.reset(*keys) == len(keys)
    await rc.aclose()


async def test_async_cluster_call_is_bounded_by_the_timeout(cluster: Cluster) -> None:
    rc = acluster.RedisCluster(host="127.0.0.1", port=cluster.port)
    rl = AsyncRateLimiter(rc, timeout=0.2, breaker=False, on_unavailable="closed")
    lim = Limit("GCRA", 10, "1s")
    key = "ac:stalled"
    assert (await rl.check(key, lim)).source == "server"
    node = rc.get_node_from_key(key)
    stall = next(n for n in cluster.nodes if n.port == node.port)
    sleeper = asyncio.create_task(asyncio.to_thread(
        lambda: stall.client().execute_command("DEBUG", "SLEEP", "2")))
    await asyncio.sleep(0.3)
    t0 = time.monotonic()
    d = await rl.check(key, lim)
    elapsed = time.monotonic() - t0
    await sleeper
    assert (d.allowed, d.source) == (False, "fallback")
    assert elapsed < 1.5  # the node answered only after 2 s
    deadline = time.monotonic() + 10
    while (await rl.check(key, lim)).source != "server":
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)
    await rc.aclose()
