"""The in-process limiter behind ``on_unavailable="local"``: the same limit, enforced per
process while the server is unreachable (so N processes admit up to N times the limit).

TOKEN_BUCKET and GCRA are both kept as GCRA (the same admissions for cost-1 traffic),
FIXED_WINDOW and SLIDING_WINDOW as epoch-aligned windows like the server's (CALENDAR as a
fixed window of its nominal length, UTC), SLIDING_LOG as an exact log; penalty blocks are
not applied. Keys are a bounded LRU; time is ``time.monotonic`` in milliseconds.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict, deque
from typing import Optional, Union

from .model import Decision, Lease, Limit

_State = Union[list[float], "deque[float]", dict[str, tuple[float, int]]]


def _now_ms() -> float:
    return time.monotonic() * 1000


class LocalLimiter:
    def __init__(self, max_keys: int = 10_000) -> None:
        self.max_keys = max_keys
        self._lock = threading.Lock()
        self._keys: OrderedDict[object, tuple[str, _State]] = OrderedDict()
        self._lease_seq = 0

    def _state(self, key: object, kind: str, fresh: _State) -> _State:
        entry = self._keys.get(key)
        if entry is None or entry[0] != kind:
            entry = (kind, fresh)
            self._keys[key] = entry
            while len(self._keys) > self.max_keys:
                self._keys.popitem(last=False)
        else:
            self._keys.move_to_end(key)
        return entry[1]

    def check(self, key: object, lim: Limit, cost: int, *, charge: bool = True,
              at_most: bool = False) -> Decision:
        with self._lock:
            now = _now_ms()
            if lim.algorithm in ("TOKEN_BUCKET", "GCRA"):
                return self._gcra(key, lim, cost, now, charge, at_most)
            if lim.algorithm == "SLIDING_LOG":
                return self._log(key, lim, cost, now, charge)
            return self._window(key, lim, cost, now, charge)

    def _gcra(self, key: object, lim: Limit, cost: int, now: float, charge: bool,
              at_most: bool) -> Decision:
        st = self._state(key, "gcra", [0.0])
        assert isinstance(st, list)
        t = lim.period_ms / lim.limit
        tau = t * lim.capacity
        tat = max(st[0], now)
        available = int((tau - (tat - now)) / t + 1e-9)
        want = min(cost, max(available, 0)) if at_most else cost
        granted: Optional[int] = None
        if at_most:
            granted = want
        if want > lim.capacity or (not at_most and want > available) or want == 0:
            never = cost > lim.capacity and not at_most
            retry = -1 if never else max(1, math.ceil(tat + t * (1 if at_most else cost) - tau - now))
            return Decision(False, lim.limit, max(available, 0), retry,
                            math.ceil(tat - now), 0 if at_most else None, "fallback")
        new_tat = tat + t * want
        if charge:
            st[0] = new_tat
        return Decision(True, lim.limit, available - want, -1, math.ceil(new_tat - now), granted,
                        "fallback")

    def _window(self, key: object, lim: Limit, cost: int, now: float, charge: bool) -> Decision:
        st = self._state(key, "window", [0.0, 0.0, 0.0])  # window start, previous, current
        assert isinstance(st, list)
        p = lim.period_ms
        start = now - (now % p)
        if st[0] != start:
            st[1] = st[2] if st[0] == start - p else 0.0
            st[2], st[0] = 0.0, start
        weight = 0.0
        if lim.algorithm == "SLIDING_WINDOW":
            weight = 1 - (now - start) / p
        used = math.ceil(st[1] * weight + st[2] - 1e-9)
        end = start + p
        if cost > lim.limit:
            return Decision(False, lim.limit, max(lim.limit - used, 0), -1, math.ceil(end - now), None,
                            "fallback")
        if used + cost > lim.limit:
            return Decision(False, lim.limit, max(lim.limit - used, 0), max(1, math.ceil(end - now)),
                            math.ceil(end - now), None, "fallback")
        if charge:
            st[2] += cost
        return Decision(True, lim.limit, lim.limit - used - cost, -1, math.ceil(end - now), None,
                        "fallback")

    def _log(self, key: object, lim: Limit, cost: int, now: float, charge: bool) -> Decision:
        st = self._state(key, "log", deque())
        assert isinstance(st, deque)
        while st and st[0] <= now - lim.period_ms:
            st.popleft()
        used = len(st)
        if cost > lim.limit:
            return Decision(False, lim.limit, lim.limit - used, -1, 0, None, "fallback")
        if used + cost > lim.limit:
            oldest_needed = st[used + cost - lim.limit - 1]
            retry = max(1, math.ceil(oldest_needed + lim.period_ms - now))
            return Decision(False, lim.limit, lim.limit - used, retry,
                            math.ceil(st[-1] + lim.period_ms - now), None, "fallback")
        if charge:
            st.extend([now] * cost)
        return Decision(True, lim.limit, lim.limit - used - cost, -1, lim.period_ms, None, "fallback")

    def acquire(self, key: object, limit: int, lease_ms: int, cost: int) -> Lease:
        with self._lock:
            now = _now_ms()
            st = self._state(key, "leases", {})
            assert isinstance(st, dict)
            for lid in [k for k, (exp, _) in st.items() if exp <= now]:
                del st[lid]
            held = sum(u for _, u in st.values())
            if held + cost > limit:
                retry = -1 if cost > limit else max(1, math.ceil(min(e for e, _ in st.values()) - now))
                return Lease(False, limit, limit - held, retry, None, "fallback")
            self._lease_seq += 1
            lid = f"local-{self._lease_seq:010x}"
            st[lid] = (now + lease_ms, cost)
            return Lease(True, limit, limit - held - cost, -1, lid, "fallback")

    def release(self, key: object, lease_id: str) -> int:
        with self._lock:
            entry = self._keys.get(key)
            if entry is None or entry[0] != "leases":
                return 0
            st = entry[1]
            assert isinstance(st, dict)
            got = st.pop(lease_id, None)
            return 0 if got is None else got[1]
