"""AsyncRateLimiter: the same API as RateLimiter over redis-py's asyncio clients
(``redis.asyncio.Redis`` and ``redis.asyncio.RedisCluster``)."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any, Optional, Sequence, Union

import redis.asyncio as aredis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from . import replies
from .core import DEFAULT_TIMEOUT, Core, Key, check_lease_id, lease_args
from .errors import ArgumentError, UnavailableError
from .metrics import Metrics
from .model import (
    Decision,
    Inspection,
    Lease,
    Limit,
    LimitLike,
    MultiDecision,
    Period,
    PolicyRef,
    limit_json,
    period_ms,
)
from .resilience import BreakerOptions, OnUnavailable, Seconds

AnyRedis = Union[aredis.Redis, RedisCluster, Any]


def with_timeout_async(client: Any, timeout: Optional[float]) -> Any:
    """A twin of a plain ``Redis`` client whose sockets time out after ``timeout`` seconds and
    that retries a failed call once at most (a stale pooled connection after a restart), so one
    check never blocks longer than about the timeout. Cluster clients are used as given, with
    each call bounded by ``asyncio.wait_for`` instead (see AsyncRateLimiter._call)."""
    if timeout is None or not isinstance(client, aredis.Redis):
        return client
    pool = client.connection_pool
    kwargs = dict(pool.connection_kwargs)
    for name in ("socket_timeout", "socket_connect_timeout"):
        current = kwargs.get(name)
        kwargs[name] = timeout if current is None else min(current, timeout)
    kwargs["retry"] = Retry(NoBackoff(), 1)
    twin_pool = type(pool)(connection_class=pool.connection_class,
                           max_connections=pool.max_connections, **kwargs)
    return aredis.Redis(connection_pool=twin_pool)


class AsyncRateLimiter:
    """The module's rate limits over a redis-py asyncio client (``Redis`` or ``RedisCluster``).

    ``AsyncRateLimiter(r, timeout=0.05, breaker=True, on_unavailable="open", denial_cache=False,
    metrics=None, prefix="")``; see docs/clients/python.md for each option.
    """

    def __init__(
        self,
        client: AnyRedis,
        *,
        timeout: Optional[Seconds] = DEFAULT_TIMEOUT,
        breaker: Union[BreakerOptions, bool, None] = True,
        on_unavailable: OnUnavailable = "open",
        denial_cache: Union[bool, int] = False,
        metrics: Union[Metrics, bool, None] = None,
        prefix: str = "",
    ) -> None:
        self._core = Core(timeout=timeout, breaker=breaker, on_unavailable=on_unavailable,
                          denial_cache=denial_cache, metrics=metrics, prefix=prefix)
        self.client = client
        self._cluster = isinstance(client, RedisCluster)
        self._r = with_timeout_async(client, self._core.timeout)

    @property
    def breaker_state(self) -> str:
        """``closed``, ``half-open`` or ``open`` (``closed`` when there is no breaker)."""
        from .resilience import STATE_NAMES

        return "closed" if self._core.breaker is None else STATE_NAMES[self._core.breaker.state]

    async def _call(self, *args: Any, **kw: Any) -> Any:
        core = self._core
        core.allow_call()
        t0 = time.perf_counter()
        try:
            if self._cluster and core.timeout is not None:
                if getattr(self._r, "_initialize", False):
                    # The first call discovers the cluster (CLUSTER SLOTS, COMMAND): not
                    # a check, so not held to a check's timeout.
                    await self._r.initialize()
                # A cluster client has no pool to twin: bound the call itself. redis-py drops
                # the connection of a cancelled command, so no reply is read out of turn.
                reply = await asyncio.wait_for(self._r.execute_command(*args, **kw), core.timeout)
            else:
                reply = await self._r.execute_command(*args, **kw)
        except Exception as e:
            raise core.failed(e) from e
        core.succeeded(time.perf_counter() - t0)
        return reply

    def _target(self, keys: Sequence[Key]) -> dict[str, Any]:
        # RL.MCHECK's keys come from the getkeys API, which redis-py would ask the server
        # about (COMMAND GETKEYS) on every call: route by the first key ourselves.
        if not self._cluster:
            return {}
        if len({self._r.keyslot(k) for k in keys}) > 1:
            raise self._core.argument_error(ArgumentError(
                "CROSSSLOT: in a cluster the keys of one mcheck must share a hash slot ({tag})"))
        return {"target_nodes": self._r.get_node_from_key(keys[0])}

    # -- rate limits --------------------------------------------------------------------------

    async def check(self, key: Key, limit: Union[LimitLike, PolicyRef], cost: Optional[int] = None,
                    *,
              at_most: bool = False) -> Decision:
        """RL.CHECK: admit and charge ``cost`` units (default the limit's cost, else 1), or deny
        and charge nothing. ``at_most=True`` (TOKEN_BUCKET, GCRA) grants as many units as
        are available up to ``cost``; ``Decision.granted`` says how many."""
        core = self._core
        try:
            k, (lim, c) = core.key(key), core.limit(limit, cost, at_most)
        except ArgumentError as e:
            raise core.argument_error(e) from None
        hit = core.cached(k, c)
        if hit is not None:
            return hit
        try:
            d = replies.decision(await self._call(*core.check_args("RL.CHECK", k, lim, c, at_most)))
        except UnavailableError as err:
            return core.fallback(k, lim, c, err, at_most=at_most)
        return core.decided(k, c, d)

    async def peek(self, key: Key, limit: Union[LimitLike, PolicyRef],
                   cost: Optional[int] = None) -> Decision:
        """RL.PEEK: what check() would answer now, changing nothing. ``cost=0`` gives the
        units available right now in ``remaining``."""
        core = self._core
        try:
            k = core.key(key)
            lim, c = core.limit(limit, 1 if cost == 0 else cost)
            if cost == 0:
                c = 0
        except ArgumentError as e:
            raise core.argument_error(e) from None
        try:
            reply = await self._call(*core.check_args("RL.PEEK", k, lim, c))
        except UnavailableError as err:
            return core.fallback(k, lim, max(c, 1), err, charge=False)
        return replies.decision(reply)  # a peek decides nothing: not counted in the metrics

    async def mcheck(self, checks: Sequence[tuple[Key, Union[LimitLike, PolicyRef]]]) -> MultiDecision:
        """RL.MCHECK: several keys at one instant, all or nothing. ``checks`` is a sequence of
        ``(key, limit)``; in a cluster the keys must share a hash slot (a ``{tag}``)."""
        core = self._core
        if not checks:
            raise core.argument_error(ArgumentError("mcheck: expected at least one (key, limit)"))
        try:
            keys = [core.key(k) for k, _ in checks]
            limits = [core.limit(lim, None) for _, lim in checks]
        except ArgumentError as e:
            raise core.argument_error(e) from None
        args: list[Any] = ["RL.MCHECK", str(len(keys)), *keys]
        for lim, c in limits:
            args += core.spec(lim, c)
        try:
            md = replies.multi(await self._call(*args, **self._target(keys)))
        except UnavailableError as err:
            return core.fallback_multi(keys, limits, err)
        if core.metrics is not None:
            core.metrics.decision(md.allowed, "server")
        return md

    async def refund(self, key: Key, cost: int = 1) -> int:
        """RL.REFUND: give back up to ``cost`` units the key was charged; returns how many."""
        k = self._core.key(key)
        if isinstance(cost, bool) or not isinstance(cost, int) or cost < 1:
            raise self._core.argument_error(ArgumentError("cost: expected a positive integer"))
        if self._core.cache is not None:
            self._core.cache.forget(k)
        return int(await self._call("RL.REFUND", k, "COST", str(cost)))

    async def reset(self, *keys: Key) -> int:
        """RL.RESET: remove these limiters; returns how many existed."""
        if not keys:
            raise self._core.argument_error(ArgumentError("reset: expected at least one key"))
        ks = [self._core.key(k) for k in keys]
        for k in ks:
            if self._core.cache is not None:
                self._core.cache.forget(k)
        if not self._cluster:
            return int(await self._call("RL.RESET", *ks))
        by_slot: dict[int, list[Key]] = {}
        for k in ks:
            by_slot.setdefault(self._r.keyslot(k), []).append(k)
        return sum([int(await self._call("RL.RESET", *group)) for group in by_slot.values()])

    async def block(self, key: Key, duration: Period) -> None:
        """RL.BLOCK: deny every check of the key for ``duration`` (ms, ``"30s"``, a timedelta)
        from now, replacing any block it had; RL.RESET lifts it."""
        core = self._core
        try:
            k, ms = core.key(key), period_ms(duration)
        except ArgumentError as e:
            raise core.argument_error(e) from None
        if core.cache is not None:
            core.cache.forget(k)
        await self._call("RL.BLOCK", k, str(ms))

    # -- policies (RL.POLICY, an admin command) -----------------------------------------------

    async def _admin(self, *args: Any, write: bool = False) -> Any:
        if not self._cluster:
            return await self._call("RL.POLICY", *args)
        # Every shard needs the same set: writes go to every primary, reads to one.
        target = self._r.get_primaries() if write else [self._r.get_random_node()]
        reply = await self._call("RL.POLICY", *args, target_nodes=target)
        if isinstance(reply, dict) and write:
            return next(iter(reply.values()))
        return reply

    async def policy_set(self, name: str, limits: Sequence[LimitLike], *, shadow: bool = False) -> int:
        """RL.POLICY SET: store ``limits`` (one to eight) under ``name``; returns its version."""
        PolicyRef(name)
        body = {"limits": [limit_json(Limit.of(x)) for x in limits], "shadow": bool(shadow)}
        return int(await self._admin("SET", name, json.dumps(body), write=True))

    async def policy_get(self, name: str) -> Optional[dict[str, Any]]:
        """RL.POLICY GET: the policy as the server keeps it (canonical JSON, with its version)."""
        reply = await self._admin("GET", name)
        return None if reply is None else dict(json.loads(reply))

    async def policy_del(self, name: str) -> bool:
        return int(await self._admin("DEL", name, write=True)) == 1

    async def policy_list(self) -> list[str]:
        return [v.decode() if isinstance(v, bytes) else str(v) for v in await self._admin("LIST")]

    async def policy_digest(self) -> str:
        """RL.POLICY DIGEST: equal on two servers exactly when their policies are equal."""
        reply = await self._admin("DIGEST")
        return reply.decode() if isinstance(reply, bytes) else str(reply)

    async def inspect(self, key: Key) -> Optional[Inspection]:
        """RL.INSPECT: the key's parameters and state, or None for a missing key."""
        return replies.inspection(await self._call("RL.INSPECT", self._core.key(key)))

    # -- concurrency leases -------------------------------------------------------------------

    async def acquire(self, key: Key, limit: int, lease_ms: int, cost: int = 1) -> Lease:
        """RL.ACQUIRE: take a lease of ``cost`` units out of ``limit`` for ``lease_ms``."""
        core = self._core
        try:
            k, args = core.key(key), lease_args(limit, lease_ms, cost)
        except ArgumentError as e:
            raise core.argument_error(e) from None
        try:
            lease = replies.lease(await self._call("RL.ACQUIRE", k, *args))
        except UnavailableError as err:
            return core.fallback_lease(k, limit, lease_ms, cost, err)
        if core.metrics is not None:
            core.metrics.decision(lease.acquired, "server")
        return lease

    async def release(self, key: Key, lease_id: str) -> int:
        """RL.RELEASE: free a lease early; returns the units freed (0 if it was not held)."""
        k = self._core.key(key)
        if isinstance(lease_id, str) and lease_id.startswith("local-") and self._core.local:
            return self._core.local.release(k, lease_id)
        return int(await self._call("RL.RELEASE", k, check_lease_id(lease_id)))

    async def renew(self, key: Key, lease_id: str, lease_ms: int) -> bool:
        """RL.RENEW: make a held lease expire ``lease_ms`` from now; False if no longer held."""
        lease_args(1, lease_ms, 1)
        k = self._core.key(key)
        return int(await self._call("RL.RENEW", k, check_lease_id(lease_id), str(lease_ms))) == 1
