"""AsyncRateLimiter over redis.asyncio against real Redis 7.0 and Valkey 9, RESP2 and RESP3."""

from __future__ import annotations

import asyncio

import pytest
import redis.asyncio as aredis
from servers import Server

from redis_ratelimit import ArgumentError, AsyncRateLimiter, Limit, ServerError


@pytest.mark.parametrize("proto", [2, 3])
async def test_async_client_runs_every_command(server: Server, key: str, proto: int) -> None:
    r = aredis.Redis(port=server.port, protocol=proto)
    rl = AsyncRateLimiter(r)
    lim = Limit("TOKEN_BUCKET", 3, "1h")
    got = [await rl.check(key, lim) for _ in range(4)]
    assert [d.allowed for d in got] == [True, True, True, False]
    partial = await rl.check(f"{key}:p", lim, 5, at_most=True)
    assert (partial.granted, partial.remaining) == (3, 0)
    assert (await rl.peek(key, lim, 0)).remaining == 0
    md = await rl.mcheck([(f"{{{key}}}:a", lim), (f"{{{key}}}:b", Limit("SLIDING_LOG", 1, "1h"))])
    assert md.allowed and len(md.results) == 2
    assert await rl.refund(key, 1) == 1
    ins = await rl.inspect(key)
    assert ins is not None and ins.admitted == 2 and ins.denied == 1
    lease = await rl.acquire(f"{key}:l", 1, 60_000)
    assert lease.acquired and lease.lease_id
    assert not (await rl.acquire(f"{key}:l", 1, 60_000)).acquired
    assert await rl.renew(f"{key}:l", lease.lease_id, 30_000)
    assert await rl.release(f"{key}:l", lease.lease_id) == 1
    assert await rl.reset(key, f"{key}:p") == 2
    with pytest.raises(ArgumentError):
        await rl.check(key, {"algorithm": "GCRA", "limit": -1, "period": 1})
    await r.set(f"{key}:s", "x")
    with pytest.raises(ServerError):
        await rl.check(f"{key}:s", lim)
    await r.aclose()


async def test_concurrent_async_checks_admit_exactly_the_limit(redis_server: Server, key: str) -> None:
    r = aredis.Redis(port=redis_server.port)
    rl = AsyncRateLimiter(r, timeout=2.0)
    lim = Limit("SLIDING_LOG", 25, "1h")
    got = await asyncio.gather(*[rl.check(key, lim) for _ in range(60)])
    assert sum(d.allowed for d in got) == 25
    await r.aclose()
