"""The ``limits`` storage on the module: ``rl+redis://``, ``rl+rediss://``, ``rl+redis+cluster://``.

``Limiter(storage_uri="rl+redis://localhost:6379")`` in Flask-Limiter (or ``limits``'
``storage_from_string``) picks it once ``redis_ratelimit`` is imported. Storage options are
redis-py's connection options, plus ``key_prefix`` (default ``LIMITS``) and this package's
limiter options (``timeout``, ``breaker``, ``on_unavailable`` (default ``raise``),
``denial_cache``, ``metrics``).
"""

from __future__ import annotations

import time
from typing import Any, Optional

import redis
from limits.storage import MovingWindowSupport, SlidingWindowCounterSupport, Storage
from limits.storage.base import TimestampedSlidingWindow
from redis.cluster import ClusterNode, RedisCluster

from . import limits_common as lc
from .client import RateLimiter
from .errors import RateLimitError
from .model import Limit


class RateLimitStorage(Storage, MovingWindowSupport, SlidingWindowCounterSupport,
                       TimestampedSlidingWindow):
    """``rl+redis://host:port/db`` and ``rl+rediss://`` (TLS): a plain Redis or Valkey."""

    STORAGE_SCHEME = ["rl+redis", "rl+rediss"]
    DEPENDENCIES: list[str] = []

    def __init__(self, uri: str = "rl+redis://localhost:6379", wrap_exceptions: bool = False,
                 **options: Any) -> None:
        super().__init__(uri, wrap_exceptions=wrap_exceptions)
        limiter_opts, redis_opts, prefix = lc.split_options(options)
        self.client = self._connect(uri, redis_opts)
        self.limiter = RateLimiter(self.client, **limiter_opts)
        self.keys = lc.Keys(prefix)

    def _connect(self, uri: str, options: dict[str, Any]) -> Any:
        return redis.from_url(lc.redis_url(uri, "rl+"), **options)

    @property
    def base_exceptions(self) -> type[Exception] | tuple[type[Exception], ...]:
        return RateLimitError

    # -- fixed window: a counter (limits passes no limit to incr) -------------------------------

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        k = self.keys.key(lc.FIXED, key)
        d = self.limiter.check(k, self.keys.counter(expiry), amount)
        return d.limit - d.remaining

    def get(self, key: str) -> int:
        return lc.counter_value(self.limiter.inspect(self.keys.key(lc.FIXED, key)))

    def get_expiry(self, key: str) -> float:
        return lc.expiry_of(self.limiter.inspect(self.keys.key(lc.FIXED, key)))

    # -- moving window: SLIDING_LOG -----------------------------------------------------------

    def acquire_entry(self, key: str, limit: int, expiry: int, amount: int = 1) -> bool:
        lim = self.keys.limit("SLIDING_LOG", limit, expiry)
        return self.limiter.check(self.keys.key(lc.MOVING, key), lim, amount).allowed

    def get_moving_window(self, key: str, limit: int, expiry: int) -> tuple[float, int]:
        k = self.keys.key(lc.MOVING, key)
        window = lc.moving_window(self.limiter.inspect(k), limit)
        if window is not None:
            return window
        return self._oldest_in_window(k, self.keys.limit("SLIDING_LOG", limit, expiry))

    def _oldest_in_window(self, k: str, lim: Limit) -> tuple[float, int]:
        # A request one unit larger than what is free waits exactly until the oldest unit
        # in the window leaves it: that wait gives the window's start, at the server's clock.
        free = self.limiter.peek(k, lim, 0).remaining
        count = lim.limit - free
        if count <= 0:
            return (time.time(), 0)
        wait = self.limiter.peek(k, lim, free + 1).retry_after_ms
        return (time.time() + wait / 1000 - lim.period_ms / 1000, count)

    # -- sliding window counter: SLIDING_WINDOW -----------------------------------------------

    def acquire_sliding_window_entry(self, key: str, limit: int, expiry: int,
                                     amount: int = 1) -> bool:
        lim = self.keys.limit("SLIDING_WINDOW", limit, expiry)
        return self.limiter.check(self.keys.key(lc.SLIDING, key), lim, amount).allowed

    def get_sliding_window(self, key: str, expiry: int) -> tuple[int, float, int, float]:
        return lc.sliding_window(self.limiter.inspect(self.keys.key(lc.SLIDING, key)), expiry)

    def clear_sliding_window(self, key: str, expiry: int) -> None:
        self.limiter.reset(self.keys.key(lc.SLIDING, key))

    # -- housekeeping -------------------------------------------------------------------------

    def check(self) -> bool:
        try:
            return bool(self.client.ping())
        except Exception:
            return False

    def clear(self, key: str) -> None:
        self.limiter.reset(*self.keys.all(key))

    def reset(self) -> Optional[int]:
        """Removes every limiter under the key prefix (SCAN, then RL.RESET in batches)."""
        removed, batch = 0, []
        for k in self._scan(self.keys.pattern):
            batch.append(k)
            if len(batch) >= 500:
                removed += self.limiter.reset(*batch)
                batch = []
        if batch:
            removed += self.limiter.reset(*batch)
        return removed

    def _scan(self, pattern: str) -> list[Any]:
        return list(self.client.scan_iter(match=pattern, count=1000))


class RateLimitClusterStorage(RateLimitStorage):
    """``rl+redis+cluster://[user:pass@]host:port[,host:port...]``: a Redis Cluster."""

    STORAGE_SCHEME = ["rl+redis+cluster"]

    def _connect(self, uri: str, options: dict[str, Any]) -> Any:
        nodes, auth = lc.cluster_nodes(uri)
        options = {**auth, **options}
        if "startup_nodes" not in options:
            options["startup_nodes"] = [ClusterNode(h, p) for h, p in nodes]  # type: ignore[no-untyped-call]
        return RedisCluster(**options)

    def _scan(self, pattern: str) -> list[Any]:
        found: list[Any] = []
        for node in self.client.get_primaries():
            found.extend(self.client.scan_iter(match=pattern, count=1000, target_nodes=node))
        return found
