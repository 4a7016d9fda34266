"""What happens when the server cannot answer: error classes, the circuit breaker, and the
denial cache (docs/clients/python.md#resilience). The local fallback limiter is in local.py.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import timedelta
from typing import Callable, Literal, Optional, Union

import redis.exceptions as rex

from .errors import ArgumentError, RateLimitError, ServerError, UnavailableError
from .model import Decision

Seconds = Union[float, int, timedelta]
OnUnavailable = Literal["open", "closed", "local", "raise"]
StateListener = Callable[[int], None]
# Replies that mean "the server is there but cannot serve now": treated as unavailable.
_UNAVAILABLE_REPLIES = ("LOADING", "MASTERDOWN", "CLUSTERDOWN", "TRYAGAIN", "BUSY ")
# Server replies about the request itself rather than the server's state.
_ARGUMENT_REPLIES = ("ERR argument", "ERR numkeys", "ERR a key appears", "ERR lease_id", "CROSSSLOT")


def seconds(value: Seconds) -> float:
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def classify(exc: BaseException) -> RateLimitError:
    """One of the three error classes for an exception from redis-py (or the socket layer)."""
    if isinstance(exc, RateLimitError):
        return exc
    if isinstance(exc, rex.ClusterCrossSlotError):
        return ArgumentError(f"CROSSSLOT {exc}: the keys must share a hash slot (use a {{hash tag}})")
    if isinstance(exc, (rex.AuthenticationError, rex.AuthorizationError)):
        return ServerError(str(exc))
    if isinstance(
        exc,
        (
            rex.ConnectionError,
            rex.TimeoutError,
            rex.ClusterDownError,
            rex.TryAgainError,
            rex.SlotNotCoveredError,
            rex.RedisClusterException,
            TimeoutError,
            asyncio.TimeoutError,
            ConnectionError,
            socket.timeout,
            OSError,
        ),
    ):
        return UnavailableError(f"{type(exc).__name__}: {exc}")
    if isinstance(exc, rex.ResponseError):
        msg = str(exc)
        if msg.startswith(_UNAVAILABLE_REPLIES):
            return UnavailableError(msg)
        if msg.startswith(_ARGUMENT_REPLIES):
            return ArgumentError(msg)
        return ServerError(msg)
    if isinstance(exc, rex.RedisError):
        return ServerError(f"{type(exc).__name__}: {exc}")
    return ServerError(f"{type(exc).__name__}: {exc}")


def error_class(err: RateLimitError) -> str:
    if isinstance(err, ArgumentError):
        return "argument"
    if isinstance(err, UnavailableError):
        return "unavailable"
    return "server"


@dataclass(frozen=True)
class BreakerOptions:
    """Closed -> open after ``failures`` unavailable errors within ``window`` seconds; open for
    ``cooldown`` seconds; then half-open lets ``probes`` calls through; a success closes it."""

    failures: int = 5
    window: Seconds = 10.0
    cooldown: Seconds = 5.0
    probes: int = 1


CLOSED, HALF_OPEN, OPEN = 0, 1, 2
STATE_NAMES = {CLOSED: "closed", HALF_OPEN: "half-open", OPEN: "open"}


class CircuitBreaker:
    """Thread-safe; time from ``time.monotonic``."""

    def __init__(self, options: BreakerOptions) -> None:
        self.failures = max(1, options.failures)
        self.window = seconds(options.window)
        self.cooldown = seconds(options.cooldown)
        self.probes = max(1, options.probes)
        self._lock = threading.Lock()
        self._recent: list[float] = []
        self._state = CLOSED
        self._opened_at = 0.0
        self._in_flight = 0
        self.on_change: Optional[StateListener] = None

    @property
    def state(self) -> int:
        with self._lock:
            self._advance(time.monotonic())
            return self._state

    def _set(self, state: int) -> None:
        if state != self._state:
            self._state = state
            if self.on_change is not None:
                self.on_change(state)

    def _advance(self, now: float) -> None:
        if self._state == OPEN and now - self._opened_at >= self.cooldown:
            self._in_flight = 0
            self._set(HALF_OPEN)

    def allow(self) -> bool:
        """Whether a call may go to the server now (a half-open probe counts as in flight)."""
        with self._lock:
            self._advance(time.monotonic())
            if self._state == CLOSED:
                return True
            if self._state == HALF_OPEN and self._in_flight < self.probes:
                self._in_flight += 1
                return True
            return False

    def cooldown_left(self) -> float:
        """Seconds until the breaker lets a probe through (the full cooldown when closed)."""
        with self._lock:
            if self._state == OPEN:
                return max(0.0, self.cooldown - (time.monotonic() - self._opened_at))
            return self.cooldown

    def success(self) -> None:
        with self._lock:
            self._recent.clear()
            self._in_flight = 0
            self._set(CLOSED)

    def failure(self) -> None:
        now = time.monotonic()
        with self._lock:
            if self._state == HALF_OPEN:
                self._opened_at = now
                self._set(OPEN)
                return
            if self._state == OPEN:
                return
            self._recent = [t for t in self._recent if now - t < self.window]
            self._recent.append(now)
            if len(self._recent) >= self.failures:
                self._recent.clear()
                self._opened_at = now
                self._set(OPEN)


class DenialCache:
    """After a denial with ``retry_after_ms`` > 0, answers that key locally until then.
    A bounded LRU; a cached denial answers only requests costing at least as much."""

    def __init__(self, size: int = 10_000) -> None:
        self.size = max(1, size)
        self._lock = threading.Lock()
        self._entries: OrderedDict[object, tuple[float, int, Decision]] = OrderedDict()

    def get(self, key: object, cost: int) -> Optional[Decision]:
        now = time.monotonic()
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            until, denied_cost, d = entry
            if now >= until:
                del self._entries[key]
                return None
            if cost < denied_cost:
                return None
            self._entries.move_to_end(key)
        left = max(1, int((until - now) * 1000 + 0.999))
        return Decision(False, d.limit, d.remaining, left, max(left, d.reset_after_ms), d.granted, "cache")

    def put(self, key: object, cost: int, d: Decision) -> None:
        if d.allowed or d.retry_after_ms <= 0:
            return
        until = time.monotonic() + d.retry_after_ms / 1000
        with self._lock:
            self._entries[key] = (until, cost, d)
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)

    def forget(self, key: object) -> None:
        with self._lock:
            self._entries.pop(key, None)

