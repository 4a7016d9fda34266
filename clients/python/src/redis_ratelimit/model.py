"""What a caller passes (Limit) and gets back (Decision, MultiDecision, Inspection, Lease).

Limits are validated here, before any network call, with the server's own ranges, so a bad
limit is an ArgumentError that never reaches the breaker.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Literal, Mapping, Optional, Union

from .errors import ArgumentError

I64_MAX = 9223372036854775807
ALGORITHMS = ("TOKEN_BUCKET", "GCRA", "FIXED_WINDOW", "SLIDING_WINDOW", "SLIDING_LOG", "CALENDAR")
# CALENDAR's periods, and their nominal lengths (RL.INSPECT's period_ms; the local fallback).
CALENDAR_UNITS = {"DAY": 86_400_000, "WEEK": 7 * 86_400_000, "MONTH": 31 * 86_400_000}
BURST_ALGORITHMS = ("TOKEN_BUCKET", "GCRA")
_PERIOD = re.compile(r"^([0-9]+)(ms|s|m|h|d)?$", re.IGNORECASE)
_UNIT_MS = {"": 1, "ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}

Period = Union[int, str, timedelta]
Source = Literal["server", "fallback", "cache"]


def period_ms(period: Period) -> int:
    """A period in milliseconds: an int (ms), a duration string as the server takes it
    (``"250ms"``, ``"1m"``; a bare number is ms) or a ``timedelta`` of whole milliseconds."""
    if isinstance(period, bool):
        raise ArgumentError("period: expected milliseconds, a duration string or a timedelta")
    if isinstance(period, timedelta):
        us = period // timedelta(microseconds=1)
        if us % 1000:
            raise ArgumentError("period: a timedelta must be a whole number of milliseconds")
        ms = us // 1000
    elif isinstance(period, int):
        ms = period
    elif isinstance(period, str):
        m = _PERIOD.match(period)
        if not m:
            raise ArgumentError(
                "period: expected a duration such as 250ms, 1s, 1m, 1h, 1d (a bare number is ms)"
            )
        ms = int(m.group(1)) * _UNIT_MS[(m.group(2) or "").lower()]
    else:
        raise ArgumentError("period: expected milliseconds, a duration string or a timedelta")
    if not 1 <= ms <= I64_MAX:
        raise ArgumentError("period: expected a duration from 1ms to 9223372036854775807ms")
    return ms


def _units(name: str, value: object, low: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= I64_MAX:
        raise ArgumentError(f"{name}: expected an integer between {low} and {I64_MAX}")
    return value


@dataclass(frozen=True)
class Limit:
    """One rate limit: ``Limit("GCRA", 10, "1s", burst=20)``, or a calendar quota
    ``Limit("CALENDAR", 1000, "MONTH", utc_offset=-300)``. ``cost`` is the default cost of a
    check against it (1 when None); ``block`` a penalty: a denial blocks the key that long."""

    algorithm: str
    limit: int
    period: Period
    burst: Optional[int] = None
    cost: Optional[int] = None
    block: Optional[Period] = None
    utc_offset: Optional[int] = None
    period_ms: int = field(init=False, repr=False, compare=False)
    block_ms: Optional[int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        algorithm = str(self.algorithm).upper()
        if algorithm not in ALGORITHMS:
            raise ArgumentError("algorithm: expected " + ", ".join(ALGORITHMS))
        object.__setattr__(self, "algorithm", algorithm)
        _units("limit", self.limit)
        if algorithm == "CALENDAR":
            unit = str(self.period).upper()
            if unit not in CALENDAR_UNITS:
                raise ArgumentError("period: a CALENDAR period is DAY, WEEK or MONTH")
            object.__setattr__(self, "period", unit)
            object.__setattr__(self, "period_ms", CALENDAR_UNITS[unit])
        else:
            object.__setattr__(self, "period_ms", period_ms(self.period))
        if self.utc_offset is not None:
            if algorithm != "CALENDAR":
                raise ArgumentError("utc_offset: applies only to CALENDAR")
            if isinstance(self.utc_offset, bool) or not isinstance(self.utc_offset, int) \
                    or not -1080 <= self.utc_offset <= 1080:
                raise ArgumentError("utc_offset: expected minutes between -1080 and 1080")
        object.__setattr__(self, "block_ms", None if self.block is None else period_ms(self.block))
        if self.burst is not None:
            if algorithm not in BURST_ALGORITHMS:
                raise ArgumentError("burst: applies only to TOKEN_BUCKET and GCRA")
            _units("burst", self.burst)
        if self.cost is not None:
            _units("cost", self.cost)

    @classmethod
    def of(cls, spec: LimitLike) -> Limit:
        """A Limit from a Limit or a mapping with the same fields."""
        if isinstance(spec, Limit):
            return spec
        try:
            return cls(**spec)  # type: ignore[arg-type]
        except TypeError as e:
            raise ArgumentError(f"limit: {e}") from None

    @property
    def period_arg(self) -> str:
        """The period as the command takes it: milliseconds, or CALENDAR's unit."""
        return str(self.period) if self.algorithm == "CALENDAR" else str(self.period_ms)

    @property
    def capacity(self) -> int:
        """Units a rested key admits at once (``burst``, else ``limit``)."""
        return self.burst if self.burst is not None else self.limit


@dataclass(frozen=True)
class PolicyRef:
    """A named server-side policy (RL.POLICY) in place of a limit: ``PolicyRef("tier:free")``
    checks every limit of that policy in the one key, all or nothing. ``shadow`` asks for
    shadow mode on this check (RL.CHECK ... SHADOW)."""

    name: str
    cost: Optional[int] = None
    shadow: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _POLICY_NAME.match(self.name):
            raise ArgumentError("policy: a name is 1 to 128 bytes of letters, digits, _, -, . or :")
        if self.cost is not None:
            _units("cost", self.cost)


_POLICY_NAME = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")
LimitLike = Union[Limit, Mapping[str, object]]


def limit_json(lim: Limit) -> dict[str, object]:
    """A Limit as a policy's JSON limit (RL.POLICY SET)."""
    out: dict[str, object] = {"algorithm": lim.algorithm, "limit": lim.limit}
    if lim.algorithm == "CALENDAR":
        out["period"] = lim.period_arg
    else:
        out["period_ms"] = lim.period_ms
    if lim.burst is not None:
        out["burst"] = lim.burst
    if lim.utc_offset is not None:
        out["utc_offset"] = lim.utc_offset
    if lim.block_ms is not None:
        out["block_ms"] = lim.block_ms
    return out


@dataclass(frozen=True)
class Decision:
    """One check's answer, the same on RESP2 and RESP3. ``retry_after_ms`` is -1 when allowed
    (and when a denied request can never be admitted); ``granted`` is set only for AT_MOST
    checks; ``source`` tells whether the server decided or the fallback or denial cache did.
    A policy check on RESP3 also says which of its limits decided (``decided_by``, from 1) and
    whether shadow mode admitted what enforcement would deny (``shadow_denied``); RESP2
    replies do not carry them (None)."""

    allowed: bool
    limit: int
    remaining: int
    retry_after_ms: int
    reset_after_ms: int
    granted: Optional[int] = None
    source: Source = "server"
    decided_by: Optional[int] = None
    shadow_denied: Optional[bool] = None


@dataclass(frozen=True)
class MultiDecision:
    """RL.MCHECK's all-or-nothing answer: ``results`` has one Decision per key, in order."""

    allowed: bool
    retry_after_ms: int
    results: tuple[Decision, ...]
    source: Source = "server"


@dataclass(frozen=True)
class Inspection:
    """RL.INSPECT of one key: the common fields, and the algorithm's own in ``extra``
    (``tokens``, ``tat_ms``, ``window_start_ms``, ``entries``, ``held``, ...)."""

    algorithm: str
    limit: int
    period_ms: int
    period: str
    burst: int
    remaining: int
    reset_after_ms: int
    ttl_ms: int
    admitted: int
    denied: int
    extra: Mapping[str, Union[int, str, None]] = field(default_factory=dict)


@dataclass(frozen=True)
class Lease:
    """RL.ACQUIRE's answer. ``lease_id`` is None when not acquired."""

    acquired: bool
    limit: int
    remaining: int
    retry_after_ms: int
    lease_id: Optional[str]
    source: Source = "server"


def validate_key(key: object) -> Union[str, bytes]:
    if isinstance(key, (str, bytes)) and len(key) > 0:
        return key
    raise ArgumentError("key: expected a non-empty str or bytes")
