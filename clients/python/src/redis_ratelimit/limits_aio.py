"""The asyncio ``limits`` storage on the module: ``async+rl+redis://``, ``async+rl+rediss://``,
``async+rl+redis+cluster://`` (for ``limits.aio`` strategies and SlowAPI-style async use).
Same mapping, keys and options as the sync storage (limits_storage.py)."""

from __future__ import annotations

import time
from typing import Any, Optional

import redis.asyncio as aredis
from limits.aio.storage import MovingWindowSupport, SlidingWindowCounterSupport, Storage
from limits.storage.base import TimestampedSlidingWindow
from redis.asyncio.cluster import ClusterNode, RedisCluster

from . import limits_common as lc
from .aio import AsyncRateLimiter
from .errors import RateLimitError
from .model import Limit


class AsyncRateLimitStorage(Storage, MovingWindowSupport, SlidingWindowCounterSupport,
                            TimestampedSlidingWindow):
    """``async+rl+redis://host:port/db`` and ``async+rl+rediss://`` (TLS)."""

    STORAGE_SCHEME = ["async+rl+redis", "async+rl+rediss"]
    DEPENDENCIES: list[str] = []

    def __init__(self, uri: str = "async+rl+redis://localhost:6379", wrap_exceptions: bool = False,
                 **options: Any) -> None:
        super().__init__(uri, wrap_exceptions=wrap_exceptions)
        limiter_opts, redis_opts, prefix = lc.split_options(options)
        self.client = self._connect(uri, redis_opts)
        self.limiter = AsyncRateLimiter(self.client, **limiter_opts)
        self.keys = lc.Keys(prefix)

    def _connect(self, uri: str, options: dict[str, Any]) -> Any:
        return aredis.from_url(lc.redis_url(uri, "async+rl+"), **options)

    @property
    def base_exceptions(self) -> type[Exception] | tuple[type[Exception], ...]:
        return RateLimitError

    async def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        k = self.keys.key(lc.FIXED, key)
        d = await self.limiter.check(k, self.keys.counter(expiry), amount)
        return d.limit - d.remaining

    async def get(self, key: str) -> int:
        return lc.counter_value(await self.limiter.inspect(self.keys.key(lc.FIXED, key)))

    async def get_expiry(self, key: str) -> float:
        return lc.expiry_of(await self.limiter.inspect(self.keys.key(lc.FIXED, key)))

    async def acquire_entry(self, key: str, limit: int, expiry: int, amount: int = 1) -> bool:
        lim = self.keys.limit("SLIDING_LOG", limit, expiry)
        return (await self.limiter.check(self.keys.key(lc.MOVING, key), lim, amount)).allowed

    async def get_moving_window(self, key: str, limit: int, expiry: int) -> tuple[float, int]:
        k = self.keys.key(lc.MOVING, key)
        window = lc.moving_window(await self.limiter.inspect(k), limit)
        if window is not None:
            return window
        return await self._oldest_in_window(k, self.keys.limit("SLIDING_LOG", limit, expiry))

    async def _oldest_in_window(self, k: str, lim: Limit) -> tuple[float, int]:
        free = (await self.limiter.peek(k, lim, 0)).remaining
        count = lim.limit - free
        if count <= 0:
            return (time.time(), 0)
        wait = (await self.limiter.peek(k, lim, free + 1)).retry_after_ms
        return (time.time() + wait / 1000 - lim.period_ms / 1000, count)

    async def acquire_sliding_window_entry(self, key: str, limit: int, expiry: int,
                                           amount: int = 1) -> bool:
        lim = self.keys.limit("SLIDING_WINDOW", limit, expiry)
        return (await self.limiter.check(self.keys.key(lc.SLIDING, key), lim, amount)).allowed

    async def get_sliding_window(self, key: str, expiry: int) -> tuple[int, float, int, float]:
        ins = await self.limiter.inspect(self.keys.key(lc.SLIDING, key))
        return lc.sliding_window(ins, expiry)

    async def clear_sliding_window(self, key: str, expiry: int) -> None:
        await self.limiter.reset(self.keys.key(lc.SLIDING, key))

    async def check(self) -> bool:
        try:
            return bool(await self.client.ping())
        except Exception:
            return False

    async def clear(self, key: str) -> None:
        await self.limiter.reset(*self.keys.all(key))

    async def reset(self) -> Optional[int]:
        removed, batch = 0, []
        for k in await self._scan(self.keys.pattern):
            batch.append(k)
            if len(batch) >= 500:
                removed += await self.limiter.reset(*batch)
                batch = []
        if batch:
            removed += await self.limiter.reset(*batch)
        return removed

    async def _scan(self, pattern: str) -> list[Any]:
        return [k async for k in self.client.scan_iter(match=pattern, count=1000)]


class AsyncRateLimitClusterStorage(AsyncRateLimitStorage):
    """``async+rl+redis+cluster://[user:pass@]host:port[,host:port...]``."""

    STORAGE_SCHEME = ["async+rl+redis+cluster"]

    def _connect(self, uri: str, options: dict[str, Any]) -> Any:
        nodes, auth = lc.cluster_nodes(uri)
        options = {**auth, **options}
        if "startup_nodes" not in options:
            options["startup_nodes"] = [ClusterNode(h, p) for h, p in nodes]
        return RedisCluster(**options)

    async def _scan(self, pattern: str) -> list[Any]:
        found: list[Any] = []
        for node in self.client.get_primaries():
            found.extend([k async for k in self.client.scan_iter(match=pattern, count=1000,
                                                                   target_nodes=node)])
        return found
