"""What the sync and asyncio limiters share: options, validation, the resilience policy and
metrics. Only how a command is sent differs between them (client.py, aio.py).
"""

from __future__ import annotations

import math
from typing import Any, Optional, Sequence, Union

from .errors import ArgumentError, RateLimitError, ServerError, UnavailableError
from .local import LocalLimiter
from .metrics import Metrics, default_metrics
from .model import (
    BURST_ALGORITHMS,
    Decision,
    Lease,
    Limit,
    LimitLike,
    MultiDecision,
    PolicyRef,
    validate_key,
)
from .resilience import (
    BreakerOptions,
    CircuitBreaker,
    DenialCache,
    OnUnavailable,
    Seconds,
    classify,
    error_class,
    seconds,
)

Key = Union[str, bytes]
DEFAULT_TIMEOUT = 0.05


class Core:
    def __init__(
        self,
        *,
        timeout: Optional[Seconds] = DEFAULT_TIMEOUT,
        breaker: Union[BreakerOptions, bool, None] = True,
        on_unavailable: OnUnavailable = "open",
        denial_cache: Union[bool, int] = False,
        metrics: Union[Metrics, bool, None] = None,
        prefix: str = "",
    ) -> None:
        if on_unavailable not in ("open", "closed", "local", "raise"):
            raise ArgumentError("on_unavailable: expected 'open', 'closed', 'local' or 'raise'")
        self.timeout = None if timeout is None else seconds(timeout)
        if self.timeout is not None and self.timeout <= 0:
            raise ArgumentError("timeout: expected a positive number of seconds or None")
        self.on_unavailable = on_unavailable
        self.metrics: Optional[Metrics] = default_metrics() if metrics is True else (metrics or None)
        if breaker is True:
            breaker = BreakerOptions()
        self.breaker = CircuitBreaker(breaker) if isinstance(breaker, BreakerOptions) else None
        if self.breaker is not None and self.metrics is not None:
            m = self.metrics
            self.breaker.on_change = m.breaker_state
            m.breaker_state(0)
        size = 10_000 if denial_cache is True else int(denial_cache)
        self.cache = DenialCache(size) if size > 0 else None
        self.local = LocalLimiter() if on_unavailable == "local" else None
        self.prefix = prefix

    # -- inputs -------------------------------------------------------------------------------

    def key(self, key: object) -> Key:
        k = validate_key(key)
        if not self.prefix:
            return k
        return (self.prefix.encode() + k) if isinstance(k, bytes) else self.prefix + k

    def limit(self, spec: Union[LimitLike, PolicyRef], cost: Optional[int],
              at_most: bool = False) -> tuple[Union[Limit, PolicyRef], int]:
        if isinstance(spec, PolicyRef):
            if at_most:
                raise ArgumentError("at_most: applies only to TOKEN_BUCKET and GCRA, not a policy")
            c = cost if cost is not None else (spec.cost if spec.cost is not None else 1)
            if isinstance(c, bool) or not isinstance(c, int) or c < 0:
                raise ArgumentError("cost: expected an integer between 1 and 9223372036854775807")
            return spec, c
        lim = Limit.of(spec)
        c = cost if cost is not None else (lim.cost if lim.cost is not None else 1)
        if isinstance(c, bool) or not isinstance(c, int) or c < 1:
            raise ArgumentError("cost: expected an integer between 1 and 9223372036854775807")
        if at_most and lim.algorithm not in BURST_ALGORITHMS:
            raise ArgumentError("at_most: applies only to TOKEN_BUCKET and GCRA")
        return lim, c

    def check_args(self, cmd: str, k: Key, lim: Union[Limit, PolicyRef], cost: int,
                   at_most: bool = False) -> list[Any]:
        args = [cmd, k, *self.spec(lim, cost, at_most)]
        if isinstance(lim, PolicyRef) and lim.shadow and cmd == "RL.CHECK":
            args.append("SHADOW")
        return args

    @staticmethod
    def spec(lim: Union[Limit, PolicyRef], cost: int, at_most: bool = False) -> list[Any]:
        if isinstance(lim, PolicyRef):
            return ["POLICY", lim.name] + (["COST", str(cost)] if cost != 1 else [])
        """``algorithm limit period [BURST n] [COST n] [BLOCK ms] [UTC_OFFSET m] [AT_MOST]``;
        COST only when not 1."""
        args: list[Any] = [lim.algorithm, str(lim.limit), lim.period_arg]
        if lim.burst is not None:
            args += ["BURST", str(lim.burst)]
        if cost != 1 or at_most:
            args += ["COST", str(cost)]
        if lim.block_ms is not None:
            args += ["BLOCK", str(lim.block_ms)]
        if lim.utc_offset is not None:
            args += ["UTC_OFFSET", str(lim.utc_offset)]
        if at_most:
            args.append("AT_MOST")
        return args

    def argument_error(self, err: ArgumentError) -> ArgumentError:
        if self.metrics is not None:
            self.metrics.error("argument")
        return err

    # -- around a server call -----------------------------------------------------------------

    def allow_call(self) -> None:
        if self.breaker is not None and not self.breaker.allow():
            raise self.failed(UnavailableError("circuit breaker open"), count=False)

    def succeeded(self, elapsed: float) -> None:
        if self.breaker is not None:
            self.breaker.success()
        if self.metrics is not None:
            self.metrics.observe(elapsed)

    def failed(self, exc: BaseException, count: bool = True) -> RateLimitError:
        """Classifies an exception, tells the breaker (only unavailability counts against the
        server; a refusal proves it is up) and the metrics."""
        err = classify(exc)
        if self.breaker is not None and count:
            if isinstance(err, UnavailableError):
                self.breaker.failure()
            else:
                self.breaker.success()
        if self.metrics is not None:
            self.metrics.error(error_class(err))
        return err

    # -- decisions ----------------------------------------------------------------------------

    def cached(self, k: Key, cost: int) -> Optional[Decision]:
        if self.cache is None:
            return None
        d = self.cache.get(k, cost)
        if d is not None and self.metrics is not None:
            self.metrics.decision(False, "cache")
        return d

    def decided(self, k: Key, cost: int, d: Decision) -> Decision:
        if self.cache is not None:
            self.cache.put(k, cost, d)
        if self.metrics is not None:
            self.metrics.decision(d.allowed, d.source)
        return d

    def unavailable_wait_ms(self) -> int:
        left = self.breaker.cooldown_left() if self.breaker is not None else 1.0
        return max(1, math.ceil(left * 1000))

    def fallback(self, k: Key, lim: Union[Limit, PolicyRef], cost: int, err: UnavailableError, *,
                 charge: bool = True, at_most: bool = False) -> Decision:
        if self.on_unavailable == "raise":
            raise err
        if isinstance(lim, PolicyRef):
            # A policy's limits are in the server: "local" cannot enforce them, so it admits
            # as "open" does; "closed" denies.
            admit = self.on_unavailable != "closed"
            wait = -1 if admit else self.unavailable_wait_ms()
            d = Decision(admit, 0, 0, wait, 0 if admit else wait, None, "fallback")
            if self.metrics is not None:
                self.metrics.decision(d.allowed, "fallback")
            return d
        if self.on_unavailable == "local":
            assert self.local is not None
            d = self.local.check(k, lim, cost, charge=charge, at_most=at_most)
        elif self.on_unavailable == "open":
            d = Decision(True, lim.limit, max(lim.capacity - cost, 0), -1, 0,
                         cost if at_most else None, "fallback")
        else:
            wait = self.unavailable_wait_ms()
            d = Decision(False, lim.limit, 0, wait, wait, 0 if at_most else None, "fallback")
        if self.metrics is not None:
            self.metrics.decision(d.allowed, "fallback")
        return d

    def fallback_multi(self, keys: Sequence[Key], limits: Sequence[tuple[Union[Limit, PolicyRef], int]],
                       err: UnavailableError) -> MultiDecision:
        if self.on_unavailable == "raise":
            raise err
        if self.on_unavailable == "local" and not any(isinstance(lim, PolicyRef) for lim, _ in limits):
            assert self.local is not None
            plain = [(k, lim, c) for k, (lim, c) in zip(keys, limits) if isinstance(lim, Limit)]
            peeks = [self.local.check(k, lim, c, charge=False) for k, lim, c in plain]
            allowed = all(p.allowed for p in peeks)
            if allowed:
                peeks = [self.local.check(k, lim, c) for k, lim, c in plain]
            retries = [p.retry_after_ms for p in peeks if not p.allowed]
            retry = -1 if allowed or -1 in retries else max(retries)
            md = MultiDecision(allowed, retry, tuple(peeks), "fallback")
        else:
            ds = tuple(self.fallback(k, lim, c, err) for k, (lim, c) in zip(keys, limits))
            allowed = self.on_unavailable != "closed"
            return MultiDecision(allowed, -1 if allowed else self.unavailable_wait_ms(), ds, "fallback")
        if self.metrics is not None:
            self.metrics.decision(md.allowed, "fallback")
        return md

    def fallback_lease(self, k: Key, limit: int, lease_ms: int, cost: int,
                       err: UnavailableError) -> Lease:
        if self.on_unavailable == "raise":
            raise err
        if self.on_unavailable == "local":
            assert self.local is not None
            lease = self.local.acquire(k, limit, lease_ms, cost)
        elif self.on_unavailable == "open":
            lease = Lease(True, limit, max(limit - cost, 0), -1, None, "fallback")
        else:
            lease = Lease(False, limit, 0, self.unavailable_wait_ms(), None, "fallback")
        if self.metrics is not None:
            self.metrics.decision(lease.acquired, "fallback")
        return lease


def lease_args(limit: int, lease_ms: int, cost: int) -> list[str]:
    for name, v in (("limit", limit), ("lease_ms", lease_ms), ("cost", cost)):
        if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= 9223372036854775807:
            raise ArgumentError(f"{name}: expected an integer between 1 and 9223372036854775807")
    args = [str(limit), str(lease_ms)]
    if cost != 1:
        args += ["COST", str(cost)]
    return args


def check_lease_id(lease_id: object) -> str:
    if isinstance(lease_id, str) and len(lease_id) == 16:
        try:
            int(lease_id, 16)
            return lease_id
        except ValueError:
            pass
    raise ArgumentError("lease_id: expected the 16 hexadecimal digits acquire() returned")


__all__ = ["Core", "Key", "ServerError", "lease_args", "check_lease_id"]
