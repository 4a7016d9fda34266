"""What the sync and asyncio ``limits`` storages share: URIs, options, key names, and turning
the module's replies into the tuples ``limits``' strategies expect.

How each strategy maps onto the module (docs/clients/python.md#the-limits-storage):

- fixed window: ``incr`` gets no limit from ``limits``, only the key and the period, so it is
  RL.CHECK FIXED_WINDOW with the largest limit, i.e. the module's epoch-aligned window used as
  a counter (every hit counts, as in ``limits``' own Redis storage);
- moving window: RL.CHECK SLIDING_LOG (exact; the denied hit charges nothing);
- sliding window counter: RL.CHECK SLIDING_WINDOW, the same weighted two-window estimate.
"""

from __future__ import annotations

import time
from typing import Any, Optional
from urllib.parse import unquote, urlparse

from .errors import ArgumentError
from .model import I64_MAX, Inspection, Limit

# Options that configure the limiter; every other storage option goes to redis-py.
LIMITER_OPTIONS = ("timeout", "breaker", "on_unavailable", "denial_cache", "metrics")
FIXED, MOVING, SLIDING = "fw", "mw", "sw"


def split_options(options: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any], str]:
    """(limiter options, redis-py options, key prefix). Unless told otherwise the storage
    behaves as limits' own Redis storage: no timeout of its own (redis-py's socket options
    apply) and an unreachable server raises (limits' StorageError with wrap_exceptions), so
    that Flask-Limiter's ``swallow_errors`` and ``in_memory_fallback`` apply."""
    opts = dict(options)
    prefix = str(opts.pop("key_prefix", "LIMITS"))
    limiter = {k: opts.pop(k) for k in LIMITER_OPTIONS if k in opts}
    # The storage's own connections speak RESP2 unless told otherwise (a URI's ?protocol=3
    # wins): a check's reply is then 5 integers rather than a map of 5 names and values,
    # less to read per hit, and the decisions are the same.
    opts.setdefault("protocol", 2)
    limiter.setdefault("on_unavailable", "raise")
    limiter.setdefault("timeout", None)
    return limiter, opts, prefix


def redis_url(uri: str, scheme_prefix: str) -> str:
    """``rl+redis://h:p/0`` -> ``redis://h:p/0`` (``rl+rediss`` -> ``rediss``)."""
    if not uri.startswith(scheme_prefix):
        raise ArgumentError(f"storage URI must start with {scheme_prefix}")
    return uri[len(scheme_prefix):]


def cluster_nodes(uri: str) -> tuple[list[tuple[str, int]], dict[str, Any]]:
    """``rl+redis+cluster://[user:pass@]h1:p1,h2:p2`` -> startup nodes and auth options."""
    parsed = urlparse(uri.replace("rl+redis+cluster://", "redis://", 1)
                      .replace("async+", "", 1))
    netloc = parsed.netloc
    auth: dict[str, Any] = {}
    if "@" in netloc:
        creds, netloc = netloc.rsplit("@", 1)
        user, _, password = creds.partition(":")
        if user:
            auth["username"] = unquote(user)
        if password:
            auth["password"] = unquote(password)
    nodes = []
    for part in netloc.split(","):
        if part:
            host, _, port = part.rpartition(":")
            nodes.append((host or "localhost", int(port or 6379)))
    return nodes, auth


class Keys:
    """Each strategy has its own key (the module refuses one key for two algorithms), and none
    is a key limits' own Redis storage writes (``LIMITS:<key>`` strings and lists), so both
    can share a server while switching."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self._limits: dict[tuple[str, int, int], Limit] = {}

    def key(self, kind: str, key: str) -> str:
        return f"{self.prefix}:{kind}:{key}"

    def all(self, key: str) -> list[str]:
        return [self.key(kind, key) for kind in (FIXED, MOVING, SLIDING)]

    @property
    def pattern(self) -> str:
        return f"{self.prefix}:*"

    def limit(self, algorithm: str, limit: int, expiry_s: int) -> Limit:
        """Limits are cached: validation costs more than the command's arguments."""
        k = (algorithm, limit, expiry_s)
        lim = self._limits.get(k)
        if lim is None:
            if len(self._limits) > 1024:
                self._limits.clear()
            lim = self._limits[k] = Limit(algorithm, limit, int(expiry_s * 1000))
        return lim

    def counter(self, expiry_s: int) -> Limit:
        return self.limit("FIXED_WINDOW", I64_MAX, expiry_s)


def counter_value(ins: Optional[Inspection]) -> int:
    return 0 if ins is None else ins.limit - ins.remaining


def expiry_of(ins: Optional[Inspection]) -> float:
    now = time.time()
    return now if ins is None else now + ins.reset_after_ms / 1000


def moving_window(ins: Optional[Inspection], limit: int) -> Optional[tuple[float, int]]:
    """(start of window, entries in it) from RL.INSPECT when the oldest stored entry is still in
    the window; None when stale entries are stored (then ask the server for the oldest one)."""
    if ins is None or ins.remaining >= ins.limit:
        return (time.time(), 0)
    count = ins.limit - ins.remaining
    if ins.extra.get("entries") == count:
        oldest = ins.extra.get("oldest_ms")
        if isinstance(oldest, int):
            return (oldest / 1000, count)
    return None


def sliding_window(ins: Optional[Inspection], expiry_s: int) -> tuple[int, float, int, float]:
    """(previous count, its weight's seconds left, current count, seconds until the current
    window stops counting), as limits' Redis storage answers, from RL.INSPECT."""
    if ins is None:
        return 0, 0.0, 0, 0.0
    period = ins.period_ms
    start = ins.extra.get("window_start_ms")
    prev, cur = ins.extra.get("previous_count"), ins.extra.get("current_count")
    if not (isinstance(start, int) and isinstance(prev, int) and isinstance(cur, int)):
        return 0, 0.0, 0, 0.0
    now = time.time() * 1000
    if now >= start + 2 * period:
        return 0, 0.0, 0, 0.0
    if now >= start + period:
        prev, cur, start = cur, 0, start + period
    prev_left = max(0.0, (start + period - now) / 1000)
    cur_left = max(0.0, (start + 2 * period - now) / 1000)
    return prev, prev_left if prev else 0.0, cur, cur_left if cur else 0.0
